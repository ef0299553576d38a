//! RFC 6750 answers: every `WWW-Authenticate: Bearer ...` Portcullis sends is rendered here,
//! with the JSON error body (`{code, message}`, the API's `Error` schema) that goes with it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The realm of the cloud service API, forward auth and the reverse proxy.
pub const REALM: &str = "portcullis";

/// An RFC 6750 answer: status, body code and message, and the challenge's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: &'static str,
    status: StatusCode,
    code: &'static str,
    message: String,
    error: Option<&'static str>,
    description: Option<String>,
    scope: Option<String>,
}

impl Challenge {
    /// A challenge without an error code (RFC 6750 §3: no credentials were sent, or they name
    /// nothing live): `Bearer realm="<realm>"`.
    pub fn new(
        realm: &'static str,
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            realm,
            status,
            code,
            message: message.into(),
            error: None,
            description: None,
            scope: None,
        }
    }

    /// 400 `invalid_request` (RFC 6750 §3.1), the description in the body and the header.
    pub fn invalid_request(realm: &'static str, description: &str) -> Self {
        Self::new(
            realm,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            description,
        )
        .error("invalid_request")
        .description(description)
    }

    /// 401 `invalid_token` (RFC 6750 §3.1), the description in the body and the header.
    pub fn invalid_token(realm: &'static str, description: &str) -> Self {
        Self::new(
            realm,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            description,
        )
        .error("invalid_token")
        .description(description)
    }

    /// 403 `insufficient_scope` (RFC 6750 §3.1) with `message` in the body.
    pub fn insufficient_scope(realm: &'static str, message: impl Into<String>) -> Self {
        Self::new(realm, StatusCode::FORBIDDEN, "insufficient_scope", message)
            .error("insufficient_scope")
    }

    /// Sets the challenge's `error` attribute.
    pub fn error(mut self, error: &'static str) -> Self {
        self.error = Some(error);
        self
    }

    /// Sets the challenge's `error_description` attribute.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the challenge's `scope` attribute (the scope that would have been enough).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The `WWW-Authenticate` value.
    pub fn www_authenticate(&self) -> String {
        let mut value = format!("Bearer realm=\"{}\"", self.realm);
        if let Some(error) = self.error {
            value.push_str(&format!(", error=\"{error}\""));
        }
        if let Some(description) = &self.description {
            value.push_str(&format!(", error_description=\"{description}\""));
        }
        if let Some(scope) = &self.scope {
            value.push_str(&format!(", scope=\"{scope}\""));
        }
        value
    }
}

impl From<Challenge> for ApiError {
    fn from(challenge: Challenge) -> Self {
        let header = challenge.www_authenticate();
        let mut err = ApiError::new(challenge.status, challenge.code, challenge.message);
        err.www_authenticate = Some(header);
        err
    }
}

impl IntoResponse for Challenge {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_render_in_rfc_6750_order() {
        let cases = [
            (
                Challenge::new(REALM, StatusCode::UNAUTHORIZED, "unauthenticated", "x"),
                "Bearer realm=\"portcullis\"",
            ),
            (
                Challenge::invalid_token(REALM, "expired"),
                "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"expired\"",
            ),
            (
                Challenge::insufficient_scope(REALM, "x").scope("a b"),
                "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"a b\"",
            ),
            (
                Challenge::invalid_request("portcullis-sandbox", "twice"),
                "Bearer realm=\"portcullis-sandbox\", error=\"invalid_request\", error_description=\"twice\"",
            ),
        ];
        for (challenge, expected) in cases {
            assert_eq!(challenge.www_authenticate(), expected);
        }
    }
}

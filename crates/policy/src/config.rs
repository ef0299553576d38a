//! An authorization server's validation settings (DESIGN.md §1.1) and their field-level checks.

use std::collections::BTreeMap;

use portcullis_jose::Algorithm;
use serde::{Deserialize, Serialize};

use crate::issuer::IssuerPattern;
use crate::preset::Preset;

pub use crate::limits::{DEFAULT_MAX_TOKEN_LIFETIME_S, MAX_MAX_TOKEN_LIFETIME_S, MAX_VALUE_LEN};

/// Largest clock skew an admin may allow, in seconds.
pub const MAX_CLOCK_SKEW_S: u32 = 300;
/// Default clock skew, in seconds.
pub const DEFAULT_CLOCK_SKEW_S: u32 = 60;
/// Most entries in the audience or client-id list.
pub const MAX_LIST_ENTRIES: usize = 64;

/// Serde default for `maxTokenLifetimeS` (stored definitions written before the setting existed).
pub(crate) fn default_max_token_lifetime_s() -> u32 {
    DEFAULT_MAX_TOKEN_LIFETIME_S
}

/// What the validator needs to know about one authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerConfig {
    /// Unique name in the org.
    pub name: String,
    /// Vendor preset.
    #[serde(default)]
    pub preset: Preset,
    /// Expected `iss`, exact; may contain `{tenantid}` (Entra multi-tenant).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted audiences (any one must be in `aud`); empty = not checked.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accepted client ids; empty = not checked.
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// Claims read for the client id, first present wins.
    pub client_id_claims: Vec<String>,
    /// Accepted signature algorithms.
    pub allowed_algs: Vec<Algorithm>,
    /// Tolerance for `exp`, `nbf`, `iat`, in seconds.
    pub clock_skew_s: u32,
    /// Require `typ` = `at+jwt` (RFC 9068 strict).
    #[serde(default)]
    pub require_typ_at_jwt: bool,
    /// Claims that carry scopes.
    pub scope_claims: Vec<String>,
    /// Longest accepted token lifetime in seconds (`exp` − `iat`, or `exp` − now when `iat` is
    /// absent); `0` = not checked.
    #[serde(default = "default_max_token_lifetime_s")]
    pub max_token_lifetime_s: u32,
}

impl ServerConfig {
    /// A configuration with the preset's defaults and no issuer, audience or client-id checks.
    pub fn new(name: &str, preset: Preset) -> Self {
        let defaults = preset.defaults();
        Self {
            name: name.to_owned(),
            preset,
            issuer: None,
            audiences: Vec::new(),
            client_ids: Vec::new(),
            client_id_claims: defaults.client_id_claims,
            allowed_algs: defaults.allowed_algs,
            clock_skew_s: DEFAULT_CLOCK_SKEW_S,
            require_typ_at_jwt: false,
            scope_claims: defaults.scope_claims,
            max_token_lifetime_s: defaults.max_token_lifetime_s,
        }
    }

    /// Builder: set the issuer.
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// Builder: set the audiences.
    pub fn with_audiences(mut self, audiences: &[&str]) -> Self {
        self.audiences = audiences.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// Builder: set the client ids.
    pub fn with_client_ids(mut self, client_ids: &[&str]) -> Self {
        self.client_ids = client_ids.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// True when neither audience nor client id is checked: any token the issuer mints for any
    /// resource is accepted (token substitution, RFC 8725 §3.9). Allowed, but warned about.
    pub fn accepts_any_audience(&self) -> bool {
        self.audiences.is_empty() && self.client_ids.is_empty()
    }

    /// Field-level problems, keyed by the camelCase field name. Empty means valid.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| errors.push(FieldError::new(field, message));
        if let Err(message) = check_name(&self.name) {
            fail("name", message);
        }
        if let Some(issuer) = &self.issuer {
            if let Err(message) = IssuerPattern::parse(issuer) {
                fail("issuer", message);
            } else if let Some(problem) = self.preset.issuer_problem(issuer) {
                fail("issuer", problem);
            }
        }
        for (field, list) in [
            ("audiences", &self.audiences),
            ("clientIds", &self.client_ids),
        ] {
            if list.len() > MAX_LIST_ENTRIES {
                fail(field, format!("at most {MAX_LIST_ENTRIES} entries"));
            } else if list
                .iter()
                .any(|v| v.trim().is_empty() || v.len() > MAX_VALUE_LEN)
            {
                fail(
                    field,
                    format!("entries must be non-blank and at most {MAX_VALUE_LEN} characters"),
                );
            }
        }
        if self.allowed_algs.is_empty() {
            fail("allowedAlgs", "choose at least one algorithm".into());
        }
        if self.clock_skew_s > MAX_CLOCK_SKEW_S {
            fail("clockSkewS", format!("at most {MAX_CLOCK_SKEW_S} seconds"));
        }
        if self.max_token_lifetime_s > MAX_MAX_TOKEN_LIFETIME_S {
            fail(
                "maxTokenLifetimeS",
                format!(
                    "between 1 and {MAX_MAX_TOKEN_LIFETIME_S} seconds, or 0 to turn the check off"
                ),
            );
        }
        if self.scope_claims.is_empty() || self.scope_claims.iter().any(|c| c.trim().is_empty()) {
            fail(
                "scopeClaims",
                "name at least one claim; names must be non-blank".into(),
            );
        }
        if self.client_id_claims.is_empty()
            || self.client_id_claims.iter().any(|c| c.trim().is_empty())
        {
            fail(
                "clientIdClaims",
                "name at least one claim; names must be non-blank".into(),
            );
        }
        errors
    }
}

/// The name rule of DESIGN.md §1.1: 1–64 of letters, digits, `-`, `_`, `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("only letters, digits, '-', '_' and '.' are allowed (no spaces)".into());
    }
    Ok(())
}

/// One invalid field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The camelCase field name.
    pub field: String,
    /// What to fix.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: &str, message: String) -> Self {
        Self {
            field: field.to_owned(),
            message,
        }
    }
}

/// Groups field errors the way the API's `fields` object reports them.
pub fn fields_map(errors: &[FieldError]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for e in errors {
        map.entry(e.field.clone())
            .or_insert_with(|| e.message.clone());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_config() -> ServerConfig {
        ServerConfig::new("okta-prod", Preset::Okta)
            .with_issuer("https://acme.okta.com/oauth2/default")
    }

    #[test]
    fn field_rules() {
        let ok = ok_config();
        assert!(ok.field_errors().is_empty());
        assert_eq!(ok.max_token_lifetime_s, DEFAULT_MAX_TOKEN_LIFETIME_S);
        let mut bad =
            ServerConfig::new("has space", Preset::Okta).with_issuer("https://acme.okta.com");
        bad.clock_skew_s = 301;
        bad.allowed_algs.clear();
        bad.max_token_lifetime_s = MAX_MAX_TOKEN_LIFETIME_S + 1;
        let fields: Vec<_> = bad.field_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "name",
                "issuer",
                "allowedAlgs",
                "clockSkewS",
                "maxTokenLifetimeS"
            ]
        );
        for (lifetime, ok) in [
            (0, true),
            (1, true),
            (DEFAULT_MAX_TOKEN_LIFETIME_S, true),
            (MAX_MAX_TOKEN_LIFETIME_S, true),
            (MAX_MAX_TOKEN_LIFETIME_S + 1, false),
            (u32::MAX, false),
        ] {
            let mut config = ok_config();
            config.max_token_lifetime_s = lifetime;
            let errors = config.field_errors();
            assert_eq!(errors.is_empty(), ok, "{lifetime}: {errors:?}");
            if !ok {
                assert_eq!(errors[0].field, "maxTokenLifetimeS");
            }
        }
        assert!(check_name(&"a".repeat(64)).is_ok());
        assert!(check_name(&"a".repeat(65)).is_err());
        assert!(check_name("").is_err());
    }
}

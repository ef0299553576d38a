//! Why a token was refused: one typed reason per failure, with a stable metrics label
//! ([`Rejection::code`]), a precise internal message (`Display`, for logs, metrics and the trace)
//! and a short client-safe description that leaks no key material or configuration.

use portcullis_jose::{JsonError, JwsError};
use serde::Serialize;

use crate::preset::VendorHint;

/// The precise reason a token is rejected. Every string field holding token data has already
/// been passed through [`crate::sanitize::untrusted`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The compact JWS shape is wrong (see [`JwsError`]).
    #[error("malformed token: {0}")]
    Shape(JwsError),
    /// The payload is not a strict JSON object.
    #[error("payload is not a valid JSON object: {0}")]
    PayloadJson(JsonError),
    /// `alg` is `none` (any letter case).
    #[error("algorithm `none` is never accepted")]
    AlgNone,
    /// `alg` is HMAC: a third party holds no shared secret, and a public key is not one.
    #[error("HMAC algorithm `{0}` is never accepted")]
    AlgHmac(String),
    /// `alg` is unknown or unsupported.
    #[error("unsupported algorithm `{0}`")]
    AlgUnsupported(String),
    /// `alg` is supported but not in this server's allowlist.
    #[error("algorithm {0} is not allowed for this server")]
    AlgNotAllowed(String),
    /// A claim used for routing or checks has the wrong JSON type.
    #[error("claim `{claim}` is malformed: expected {expected}")]
    MalformedClaim {
        /// The claim name.
        claim: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// A NumericDate (`exp`, `nbf`, `iat`) is a number but outside `0..=253402300799`
    /// (year 9999): negative, beyond any plausible date, or not representable (`1e400`).
    #[error(
        "claim `{claim}` is out of the NumericDate range 0..=253402300799 (year 9999): {value}"
    )]
    NumericDateOutOfRange {
        /// The claim name.
        claim: &'static str,
        /// The number as the token spelled it, sanitized.
        value: String,
    },
    /// No enabled server is configured for this issuer (or, for servers without an issuer,
    /// none publishes the token's `kid`).
    #[error("no trusted authorization server for issuer {}", .issuer.as_deref().unwrap_or("(none)"))]
    UnknownIssuer {
        /// The token's `iss`, sanitized.
        issuer: Option<String>,
    },
    /// The only servers for this issuer are disabled.
    #[error("authorization server {server} for this issuer is disabled")]
    ServerDisabled {
        /// Server name.
        server: String,
    },
    /// The server has no usable key with this `kid` (a refetch may find it).
    #[error("no key with kid {kid} in the server's key set")]
    UnknownKid {
        /// The token's `kid`, sanitized.
        kid: String,
    },
    /// The server holds no usable keys at all (never fetched, or all expired).
    #[error("the server has no usable keys")]
    NoKeys,
    /// The key with this `kid` cannot be used with the header `alg` (type, curve or pinned alg).
    #[error("key {kid} cannot verify {alg} signatures")]
    AlgKeyMismatch {
        /// Header `alg`.
        alg: String,
        /// The key's `kid`, sanitized.
        kid: String,
    },
    /// No key of the server (token without `kid`) can verify this algorithm.
    #[error("no key of the server can verify {0} signatures")]
    NoCompatibleKey(String),
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// `exp` is missing.
    #[error("token has no `exp` claim")]
    MissingExpiry,
    /// `exp` (plus skew) is in the past.
    #[error("token expired at {exp} (now {now}, skew {skew}s)")]
    Expired {
        /// The `exp` value.
        exp: f64,
        /// The validation time.
        now: f64,
        /// Allowed skew.
        skew: u32,
    },
    /// `nbf` (minus skew) is in the future.
    #[error("token not valid before {nbf} (now {now}, skew {skew}s)")]
    NotYetValid {
        /// The `nbf` value.
        nbf: f64,
        /// The validation time.
        now: f64,
        /// Allowed skew.
        skew: u32,
    },
    /// `iat` (minus skew) is in the future.
    #[error("token issued in the future at {iat} (now {now}, skew {skew}s)")]
    IssuedInFuture {
        /// The `iat` value.
        iat: f64,
        /// The validation time.
        now: f64,
        /// Allowed skew.
        skew: u32,
    },
    /// The token lives longer than the server's `max_token_lifetime_s`.
    #[error(
        "token lifetime {lifetime}s ({}) exceeds the server's maximum of {max}s{}",
        if *.from_iat { "exp - iat" } else { "exp - now, no iat" },
        if *.from_iat { "" } else { " plus clock skew" }
    )]
    TokenLifetimeExceeded {
        /// The measured lifetime in seconds.
        lifetime: f64,
        /// The server's `max_token_lifetime_s`.
        max: u32,
        /// True when measured as `exp` − `iat`; false when `iat` was absent (`exp` − now).
        from_iat: bool,
    },
    /// `iss` is missing or does not equal the configured issuer (after `{tenantid}` substitution).
    #[error("issuer {actual} does not match the configured issuer {expected}")]
    IssuerMismatch {
        /// Configured issuer.
        expected: String,
        /// Token's `iss`, sanitized.
        actual: String,
    },
    /// The verifying key carries its own `issuer` (Entra v2 JWKS) and the token's `iss` is not it.
    #[error("the verifying key is bound to issuer {key_issuer}, not the token's")]
    KeyIssuerMismatch {
        /// The key's `issuer` member, sanitized.
        key_issuer: String,
    },
    /// `aud` is missing while audiences are configured.
    #[error("token has no `aud` claim but the server requires one of its audiences")]
    MissingAudience,
    /// None of the token's audiences is configured.
    #[error("audience {actual} is not among the server's audiences")]
    AudienceMismatch {
        /// Token's `aud`, sanitized.
        actual: String,
    },
    /// No client-id claim while client ids are configured.
    #[error("token has no client id claim (looked for {looked_for})")]
    MissingClientId {
        /// The claim names tried.
        looked_for: String,
    },
    /// The client id is not configured.
    #[error("client id {actual} (from `{claim}`) is not among the server's client ids")]
    ClientIdMismatch {
        /// Claim it came from.
        claim: String,
        /// Token's client id, sanitized.
        actual: String,
    },
    /// `typ` is not `at+jwt` while the server requires RFC 9068 explicit typing.
    #[error("header typ {} is not at+jwt", .0.as_deref().unwrap_or("(absent)"))]
    NotAtJwt(Option<String>),
    /// The token is explicitly typed as something other than an access token.
    #[error("header typ {0} marks a token that is not an access token for this API")]
    WrongTokenType(String),
    /// The token has ID-token-only claims (`nonce`, `at_hash`, `c_hash`): RFC 8725 §3.12.
    #[error("token carries ID-token claim `{0}`: an ID token is not an access token")]
    IdToken(&'static str),
}

/// How a rejection is answered to the client (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientError {
    /// 401 `invalid_token`.
    InvalidToken,
}

impl Rejection {
    /// A stable, low-cardinality label for metrics (`rejections_total{reason=...}`) and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Shape(e) => match e {
                JwsError::Empty => "token_empty",
                JwsError::TooLarge(_) => "token_too_large",
                JwsError::Encrypted => "token_encrypted",
                JwsError::WrongPartCount(_) => "token_malformed",
                JwsError::Base64(..) => "token_bad_base64",
                JwsError::HeaderJson(_) => "header_bad_json",
                JwsError::MissingAlg => "header_missing_alg",
                JwsError::Critical => "header_crit",
                JwsError::UnencodedPayload => "header_b64",
                JwsError::HeaderNonce => "header_nonce",
                JwsError::BadKid => "header_bad_kid",
                JwsError::BadTyp => "header_bad_typ",
                JwsError::EmptySignature => "signature_missing",
            },
            Rejection::PayloadJson(_) => "payload_bad_json",
            Rejection::AlgNone => "alg_none",
            Rejection::AlgHmac(_) => "alg_hmac",
            Rejection::AlgUnsupported(_) => "alg_unsupported",
            Rejection::AlgNotAllowed(_) => "alg_not_allowed",
            Rejection::MalformedClaim { .. } => "claim_malformed",
            Rejection::NumericDateOutOfRange { .. } => "numeric_date_out_of_range",
            Rejection::UnknownIssuer { .. } => "issuer_unknown",
            Rejection::ServerDisabled { .. } => "server_disabled",
            Rejection::UnknownKid { .. } => "kid_unknown",
            Rejection::NoKeys => "no_keys",
            Rejection::AlgKeyMismatch { .. } => "alg_key_mismatch",
            Rejection::NoCompatibleKey(_) => "no_compatible_key",
            Rejection::BadSignature => "signature_invalid",
            Rejection::MissingExpiry => "exp_missing",
            Rejection::Expired { .. } => "expired",
            Rejection::NotYetValid { .. } => "not_yet_valid",
            Rejection::IssuedInFuture { .. } => "iat_in_future",
            Rejection::TokenLifetimeExceeded { .. } => "token_lifetime_exceeded",
            Rejection::IssuerMismatch { .. } => "issuer_mismatch",
            Rejection::KeyIssuerMismatch { .. } => "key_issuer_mismatch",
            Rejection::MissingAudience => "aud_missing",
            Rejection::AudienceMismatch { .. } => "aud_mismatch",
            Rejection::MissingClientId { .. } => "client_id_missing",
            Rejection::ClientIdMismatch { .. } => "client_id_mismatch",
            Rejection::NotAtJwt(_) => "typ_not_at_jwt",
            Rejection::WrongTokenType(_) => "typ_wrong",
            Rejection::IdToken(_) => "id_token",
        }
    }

    /// The short `error_description` sent to the client: classes, never configuration values.
    pub fn client_description(&self) -> &'static str {
        match self {
            Rejection::Expired { .. } => "The access token expired",
            Rejection::NotYetValid { .. } | Rejection::IssuedInFuture { .. } => {
                "The access token is not valid yet"
            }
            Rejection::NumericDateOutOfRange { .. } => {
                "The access token has a date outside the valid range"
            }
            Rejection::TokenLifetimeExceeded { .. } => {
                "The access token's lifetime is longer than this API accepts"
            }
            Rejection::Shape(_)
            | Rejection::PayloadJson(_)
            | Rejection::MalformedClaim { .. }
            | Rejection::MissingExpiry => "The access token is malformed",
            Rejection::AlgNone
            | Rejection::AlgHmac(_)
            | Rejection::AlgUnsupported(_)
            | Rejection::AlgNotAllowed(_) => "The token's signing algorithm is not accepted",
            Rejection::MissingAudience
            | Rejection::AudienceMismatch { .. }
            | Rejection::MissingClientId { .. }
            | Rejection::ClientIdMismatch { .. }
            | Rejection::NotAtJwt(_)
            | Rejection::WrongTokenType(_)
            | Rejection::IdToken(_) => "The access token was not issued for this API",
            Rejection::UnknownIssuer { .. }
            | Rejection::ServerDisabled { .. }
            | Rejection::IssuerMismatch { .. }
            | Rejection::KeyIssuerMismatch { .. } => "The token issuer is not trusted",
            Rejection::UnknownKid { .. }
            | Rejection::NoKeys
            | Rejection::AlgKeyMismatch { .. }
            | Rejection::NoCompatibleKey(_)
            | Rejection::BadSignature => "The token signature could not be verified",
        }
    }

    /// How far the pipeline got; when several servers are candidates, the rejection from the
    /// server that got furthest is the most useful one to report.
    pub(crate) fn stage(&self) -> u8 {
        match self {
            Rejection::Shape(_)
            | Rejection::PayloadJson(_)
            | Rejection::AlgNone
            | Rejection::AlgHmac(_)
            | Rejection::AlgUnsupported(_)
            | Rejection::MalformedClaim { .. }
            | Rejection::UnknownIssuer { .. }
            | Rejection::ServerDisabled { .. } => 0,
            Rejection::AlgNotAllowed(_)
            | Rejection::UnknownKid { .. }
            | Rejection::NoKeys
            | Rejection::AlgKeyMismatch { .. }
            | Rejection::NoCompatibleKey(_) => 1,
            Rejection::BadSignature => 2,
            _ => 3,
        }
    }
}

/// A rejection with its context: the server it was evaluated against and any vendor advice.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{rejection}{}{}", server_suffix(.server), hint_suffix(.hint))]
pub struct Rejected {
    /// The reason.
    pub rejection: Rejection,
    /// Name of the server that rejected it, once one was selected.
    pub server: Option<String>,
    /// Vendor advice, when the token's shape suggests one.
    pub hint: Option<VendorHint>,
}

fn server_suffix(server: &Option<String>) -> String {
    server
        .as_ref()
        .map(|s| format!(" (server {s})"))
        .unwrap_or_default()
}

fn hint_suffix(hint: &Option<VendorHint>) -> String {
    hint.map(|h| format!("; hint: {}", h.text()))
        .unwrap_or_default()
}

impl Rejected {
    /// The RFC 6750 error code: every token problem is `invalid_token`.
    pub fn client_error(&self) -> ClientError {
        ClientError::InvalidToken
    }
}

impl From<Rejection> for Rejected {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            server: None,
            hint: None,
        }
    }
}

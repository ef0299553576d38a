//! Bounds on server settings that several modules check ([`crate::config`], [`crate::issuer`],
//! [`crate::preset`]); kept here so those modules need not import each other for a number.

/// Longest audience, client id or issuer.
pub const MAX_VALUE_LEN: usize = 512;
/// Default longest token lifetime (`exp` − `iat`, or `exp` − now without `iat`), in seconds:
/// 24 hours, Okta's maximum access-token lifetime and Entra's configurable maximum.
pub const DEFAULT_MAX_TOKEN_LIFETIME_S: u32 = 86_400;
/// Largest `max_token_lifetime_s` an admin may set: one year. A longer-lived bearer token is
/// indistinguishable from a leaked credential that never expires; `0` turns the check off.
pub const MAX_MAX_TOKEN_LIFETIME_S: u32 = 31_536_000;

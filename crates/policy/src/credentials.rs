//! The credentials other than OAuth (DESIGN.md §1.4): the rules of the Cloud Service API Key, the
//! legacy `authenticatedSession` login (timestamp window, key obfuscation) and sandbox API tokens.
//!
//! Pure like the rest of this crate: callers generate random values, read the clock and compare
//! secrets in constant time; this module only says what is well-formed and how the obfuscated key
//! is derived, so the API, the portal and the tests share one definition.

use serde::Deserialize;

use crate::config::{FieldError, check_name};

/// Length of the Cloud Service API Key.
pub const API_KEY_LEN: usize = 12;

/// How far the legacy login's `timestamp` may be from the server clock (2 hours).
pub const TIMESTAMP_WINDOW_MS: i64 = 2 * 3600 * 1000;

/// Most sandbox API tokens per org.
pub const MAX_SANDBOX_TOKENS: i64 = 5;

/// The prefix of every sandbox API token: recognisable in logs, secret scanners and support
/// tickets, and never a valid JWT or API key, so a token pasted into the wrong place is obvious.
pub const SANDBOX_TOKEN_PREFIX: &str = "pcs_";

/// Random bytes in a sandbox token (encoded as 43 base64url characters after the prefix).
pub const SANDBOX_TOKEN_BYTES: usize = 32;

/// Total length of a sandbox token.
pub const SANDBOX_TOKEN_LEN: usize = SANDBOX_TOKEN_PREFIX.len() + 43;

/// Characters of a sandbox token shown in lists (its last ones).
pub const SANDBOX_HINT_CHARS: usize = 4;

/// Characters of the API key left visible when it is shown masked. Two, not four: a 12-character
/// key has only ~71 bits, and every visible character gives away ~6 of them.
pub const API_KEY_VISIBLE_CHARS: usize = 2;

/// Checks a Cloud Service API Key: exactly 12 characters `[A-Za-z0-9]`.
pub fn check_api_key(key: &str) -> Result<(), String> {
    if key.len() != API_KEY_LEN || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "must be exactly {API_KEY_LEN} characters, letters A-Z, a-z and digits 0-9 only"
        ));
    }
    Ok(())
}

/// The API key as shown before a reveal: all but the last [`API_KEY_VISIBLE_CHARS`] characters
/// replaced by `*`.
pub fn mask_api_key(key: &str) -> String {
    let visible = key.len().saturating_sub(API_KEY_VISIBLE_CHARS);
    let tail = key.get(visible..).unwrap_or_default();
    format!("{}{tail}", "*".repeat(visible))
}

/// The obfuscated form of `key` for the legacy login at `timestamp` (DESIGN.md §1.4): with `n` the
/// last six digits of the timestamp and `r` = `n >> 1` zero-padded to six digits, the result is
/// `key[d]` for each digit `d` of `n`, then `key[d + 2]` for each digit `d` of `r` — always 12
/// characters. `n` keeps its leading zeros (it is the six-character tail of the text), as legacy
/// clients compute it. `None` when the key is not a valid API key or the timestamp is not at least
/// six ASCII digits.
pub fn obfuscate_api_key(key: &str, timestamp: &str) -> Option<String> {
    check_api_key(key).ok()?;
    if timestamp.len() < 6 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n_text = &timestamp[timestamp.len() - 6..];
    let n: u32 = n_text.parse().ok()?;
    let r_text = format!("{:06}", n >> 1);
    let key = key.as_bytes();
    let pick = |digit: u8, offset: usize| key.get(usize::from(digit - b'0') + offset).copied();
    let mut out = Vec::with_capacity(API_KEY_LEN);
    for digit in n_text.bytes() {
        out.push(pick(digit, 0)?);
    }
    for digit in r_text.bytes() {
        out.push(pick(digit, 2)?);
    }
    String::from_utf8(out).ok()
}

/// Checks the legacy login's `timestamp`: milliseconds since the epoch written as ASCII digits,
/// within [`TIMESTAMP_WINDOW_MS`] of `now_ms` (either side; the edges are accepted).
pub fn check_timestamp(timestamp: &str, now_ms: i64) -> Result<i64, String> {
    if timestamp.is_empty()
        || timestamp.len() > 19
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("must be the time in milliseconds since the Unix epoch, as a string of digits (e.g. \"1700000000000\")".into());
    }
    let ms: i64 = timestamp
        .parse()
        .map_err(|_| "is not a number of milliseconds".to_owned())?;
    if ms.abs_diff(now_ms) > TIMESTAMP_WINDOW_MS.unsigned_abs() {
        return Err(format!(
            "must be within 2 hours of the server clock (server time is {now_ms} ms since the epoch); check the client's clock"
        ));
    }
    Ok(ms)
}

/// Whether `token` has the shape of a sandbox token (prefix, then 43 base64url characters).
/// Checked before hashing and looking it up, so garbage never reaches the store.
pub fn is_sandbox_token_shape(token: &str) -> bool {
    token.len() == SANDBOX_TOKEN_LEN
        && token.starts_with(SANDBOX_TOKEN_PREFIX)
        && token[SANDBOX_TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The hint a list shows for a sandbox token: its last [`SANDBOX_HINT_CHARS`] characters.
pub fn sandbox_token_hint(token: &str) -> String {
    let start = token.len().saturating_sub(SANDBOX_HINT_CHARS);
    token.get(start..).unwrap_or_default().to_owned()
}

/// A sandbox token as an admin names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxTokenInput {
    /// Unique in the org; the same rule as every other name (DESIGN.md §1.1).
    pub name: String,
    /// The version the change is based on (optional compare-and-swap on update).
    #[serde(default)]
    pub version: Option<i64>,
}

impl SandboxTokenInput {
    /// Field-level problems.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(message) = check_name(&self.name) {
            errors.push(FieldError::new("name", message));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_rules() {
        assert!(check_api_key("AbCdEfGhIj12").is_ok());
        for bad in [
            "",
            "AbCdEfGhIj1",
            "AbCdEfGhIj123",
            "AbCdEfGhIj-1",
            "AbCdEfGhIj 1",
            "AbCdEfGhIjé",
        ] {
            assert!(check_api_key(bad).is_err(), "{bad:?}");
        }
        assert_eq!(mask_api_key("AbCdEfGhIj12"), "**********12");
    }

    /// Worked by hand from DESIGN.md §1.4 with key indices A0 b1 C2 d3 E4 f5 G6 h7 I8 j9 K10 l11.
    #[test]
    fn obfuscation_matches_hand_computed_examples() {
        let key = "AbCdEfGhIjKl";
        // n = 123456 → b C d E f G; r = 61728 → "061728" → +2 → 2 8 3 9 4 10 → C I d j E K.
        assert_eq!(
            obfuscate_api_key(key, "1700000123456").as_deref(),
            Some("bCdEfGCIdjEK")
        );
        // n = "012345" keeps its leading zero → A b C d E f; r = 6172 → "006172" → C C I d j E.
        assert_eq!(
            obfuscate_api_key(key, "1700000012345").as_deref(),
            Some("AbCdEfCCIdjE")
        );
        // n = 999999 → j ×6; r = 499999 → 4+2 = 6 → G, then 9+2 = 11 → l ×5 (the highest index).
        assert_eq!(
            obfuscate_api_key(key, "1700000999999").as_deref(),
            Some("jjjjjjGlllll")
        );
        assert_eq!(obfuscate_api_key(key, "12345"), None);
        assert_eq!(obfuscate_api_key(key, "12345x"), None);
        assert_eq!(obfuscate_api_key("short", "1700000123456"), None);
    }

    #[test]
    fn timestamp_window_edges() {
        let now = 1_700_000_000_000;
        let at = |ms: i64| check_timestamp(&ms.to_string(), now);
        assert_eq!(at(now), Ok(now));
        assert!(at(now + TIMESTAMP_WINDOW_MS).is_ok());
        assert!(at(now - TIMESTAMP_WINDOW_MS).is_ok());
        assert!(at(now + TIMESTAMP_WINDOW_MS + 1).is_err());
        assert!(at(now - TIMESTAMP_WINDOW_MS - 1).is_err());
        for bad in [
            "",
            "-1",
            "+1700000000000",
            "1.7e12",
            " 1700000000000",
            "99999999999999999999",
        ] {
            assert!(check_timestamp(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sandbox_token_shapes() {
        let good = format!("{SANDBOX_TOKEN_PREFIX}{}", "a".repeat(43));
        assert!(is_sandbox_token_shape(&good));
        assert!(!is_sandbox_token_shape(&good[..good.len() - 1]));
        assert!(!is_sandbox_token_shape(&format!("pcx_{}", "a".repeat(43))));
        assert!(!is_sandbox_token_shape(&format!("pcs_{}=", "a".repeat(42))));
        assert_eq!(sandbox_token_hint(&good), "aaaa");
        let named = SandboxTokenInput {
            name: "has space".into(),
            version: None,
        };
        assert_eq!(named.field_errors()[0].field, "name");
    }
}

//! Bearer tokens as both planes check them: the token read from `Authorization: Bearer`
//! ([`bearer_token`]) and validated against the snapshot through the verified-token cache, with
//! one key refetch on an unknown `kid` ([`validate`]). What a valid token may do (API roles,
//! route policies) is the caller's business.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, header};
use portcullis_policy::cache::CacheOutcome;
use portcullis_policy::{Rejected, Rejection, Validator, VerifiedToken};

use crate::Runtime;
use crate::rebuild::adopt_refetched_keys;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Why the `Authorization` header holds no usable bearer token (RFC 6750 `invalid_request`);
/// the text is the client-facing description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedCredentials(pub &'static str);

impl std::fmt::Display for MalformedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for MalformedCredentials {}

/// Whether every byte is an RFC 7235 `token68` character (RFC 6750 §2.1 `b64token`). It runs
/// over every byte of every token (about a kilobyte): written without branches or early exit so
/// the compiler turns it into vector compares.
fn is_token68(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &c| {
        let digit = c.wrapping_sub(b'0') < 10;
        let letter = (c | 0x20).wrapping_sub(b'a') < 26;
        let mark = (c == b'-') | (c == b'.') | (c == b'_') | (c == b'~');
        let b64 = (c == b'+') | (c == b'/') | (c == b'=');
        ok & (digit | letter | mark | b64)
    })
}

/// The token of `Authorization: Bearer <token>`: exactly one header, the Bearer scheme, a
/// token68 value; a token also sent as `access_token` in `query` is a token in two places.
pub fn bearer_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<&'a str, MalformedCredentials> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(MalformedCredentials(
            "send exactly one Authorization header",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| MalformedCredentials("the Authorization header is not ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(MalformedCredentials("use Authorization: Bearer <token>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(MalformedCredentials("use Authorization: Bearer <token>"));
    }
    let token = token.trim();
    if token.is_empty() || !is_token68(token.as_bytes()) {
        return Err(MalformedCredentials("the bearer token is malformed"));
    }
    if query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("access_token="))) {
        return Err(MalformedCredentials("send the token in one place only"));
    }
    Ok(token)
}

/// Validates through the cache (counting hits); on an unknown `kid`, asks the key manager for one
/// rate-limited refetch (waiting up to 2 s), swaps in the server's new keys from memory and
/// validates once more. No store query runs here.
pub async fn validate(runtime: &Runtime, token: &str) -> Result<Arc<VerifiedToken>, Rejected> {
    let snapshot = runtime.snapshot.load_full();
    match cached_validate(runtime, token, &snapshot.validator) {
        Ok((verified, outcome)) => {
            if outcome == CacheOutcome::Hit {
                runtime
                    .counters
                    .token_cache_hits
                    .fetch_add(1, Ordering::Relaxed);
            }
            Ok(verified)
        }
        Err(rejected) => {
            let Rejection::UnknownKid { .. } = rejected.rejection else {
                return Err(rejected);
            };
            let Some((id, definition)) = rejected
                .server
                .as_deref()
                .and_then(|name| snapshot.servers.iter().find(|(_, d)| d.name == name))
                .cloned()
            else {
                return Err(rejected);
            };
            // No store query in the request: the refetch records in the background and the
            // snapshot is updated from memory (the background rebuild follows the key change).
            let Some(previous_print) = runtime.keys.refetch_unknown_kid(&id, &definition).await
            else {
                return Err(rejected);
            };
            adopt_refetched_keys(runtime, &id, previous_print);
            let snapshot = runtime.snapshot.load_full();
            cached_validate(runtime, token, &snapshot.validator).map(|(verified, _)| verified)
        }
    }
}

/// Through the verified-token cache, unless the deployment turned it off (then every request
/// pays a full verification: the benchmark's cache-miss case, or an operator's choice).
fn cached_validate(
    runtime: &Runtime,
    token: &str,
    validator: &Validator,
) -> Result<(Arc<VerifiedToken>, CacheOutcome), Rejected> {
    if runtime.settings.token_cache {
        runtime.token_cache.validate(token, now(), validator)
    } else {
        validator
            .validate(token, now())
            .map(|verified| (Arc::new(verified), CacheOutcome::Miss))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{bearer_token, is_token68};
    use http::{HeaderMap, HeaderValue, header};

    fn read(values: &[&[u8]], query: Option<&str>) -> Result<String, &'static str> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        bearer_token(&headers, query)
            .map(str::to_owned)
            .map_err(|e| e.0)
    }

    #[test]
    fn the_bearer_token_and_each_refusal() {
        assert_eq!(
            read(&[b"Bearer abc.def-_~+/="], None).unwrap(),
            "abc.def-_~+/="
        );
        assert_eq!(read(&[b"bEaReR  abc \t"], Some("a=1")).unwrap(), "abc");
        let not_ascii = "the Authorization header is not ASCII";
        let usage = "use Authorization: Bearer <token>";
        let malformed = "the bearer token is malformed";
        for (value, want) in [
            (&b"Bearer ab\xc3\xa9"[..], not_ascii),
            (b"B\xc3\xa9arer abc", not_ascii),
            (b"Bearer\tabc", usage),
            (b"Basic abc", usage),
            (b"Bearer", usage),
            (b"Bearer ", malformed),
            (b"Bearer a b", malformed),
            (b"Bearer a,b", malformed),
        ] {
            assert_eq!(read(&[value], None), Err(want), "{value:?}");
        }
        assert_eq!(
            read(&[b"Bearer a", b"Bearer b"], None),
            Err("send exactly one Authorization header")
        );
        assert_eq!(
            read(&[b"Bearer abc"], Some("x=1&access_token=abc")),
            Err("send the token in one place only")
        );
    }

    #[test]
    fn token68_is_exactly_the_rfc_alphabet() {
        for byte in 0..=255u8 {
            let expected = byte.is_ascii_alphanumeric() || b"-._~+/=".contains(&byte);
            assert_eq!(is_token68(&[byte]), expected, "byte {byte:#04x}");
            assert_eq!(
                is_token68(&[b'a', byte, b'z']),
                expected,
                "byte {byte:#04x}"
            );
        }
        assert!(is_token68(b""));
    }
}

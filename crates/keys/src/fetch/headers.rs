//! The HTTP headers of a fetch, in both directions: what the caller accepts ([`Accept`]: the
//! `Accept` header and the content types allowed back), the validators of a conditional request
//! ([`Validators`]), and the reading of an answer's headers — caching ([`CacheInfo`]: `ETag`,
//! `Last-Modified`, `Cache-Control: max-age`), the `Content-Type` media type and a declared
//! `Content-Length`. Pure functions on header maps: no I/O, no policy, no client.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};

/// Longest `ETag` / `Last-Modified` value kept; longer ones are dropped, not truncated.
pub const MAX_VALIDATOR_LEN: usize = 512;

/// What the caller expects to receive; decides `Accept` and the accepted content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// A JWK Set: `application/jwk-set+json` or `application/json`.
    JwkSet,
    /// An RFC 8414 / OIDC metadata document: `application/json`.
    Metadata,
}

impl Accept {
    pub(super) fn header(self) -> &'static str {
        match self {
            Accept::JwkSet => "application/jwk-set+json, application/json",
            Accept::Metadata => "application/json",
        }
    }

    pub(super) fn allows(self, media_type: &str) -> bool {
        match self {
            Accept::JwkSet => {
                media_type == "application/json" || media_type == "application/jwk-set+json"
            }
            Accept::Metadata => media_type == "application/json",
        }
    }

    pub(super) fn expected(self) -> &'static str {
        match self {
            Accept::JwkSet => "application/jwk-set+json or application/json",
            Accept::Metadata => "application/json",
        }
    }
}

/// Validators from an earlier answer, for a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// Sent as `If-None-Match`.
    pub etag: Option<String>,
    /// Sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

impl Validators {
    pub(super) fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// Caching information of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheInfo {
    /// `ETag`, kept for the next conditional request.
    pub etag: Option<String>,
    /// `Last-Modified`, kept for the next conditional request.
    pub last_modified: Option<String>,
    /// `Cache-Control: max-age` (the smallest if repeated); `no-store` / `no-cache` give zero.
    /// The key manager applies DESIGN.md §1.1's bounds; this is the raw value.
    pub max_age: Option<Duration>,
}

pub(super) fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_VALIDATOR_LEN)
        .map(str::to_owned)
}

pub(super) fn cache_info(headers: &HeaderMap) -> CacheInfo {
    CacheInfo {
        etag: header_text(headers, header::ETAG),
        last_modified: header_text(headers, header::LAST_MODIFIED),
        max_age: max_age(headers),
    }
}

/// `Cache-Control: max-age=N` (smallest N if repeated); `no-store` / `no-cache` mean zero.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut result: Option<u64> = None;
    let mut keep = |seconds: u64| result = Some(result.map_or(seconds, |r| r.min(seconds)));
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, argument) = directive
                .split_once('=')
                .map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                keep(0);
            } else if name.eq_ignore_ascii_case("max-age")
                && let Some(argument) = argument
            {
                let digits = argument.trim_matches('"');
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    // Too many digits to parse is "forever"; the key manager bounds it anyway.
                    keep(digits.parse().unwrap_or(u64::MAX));
                }
            }
        }
    }
    result.map(Duration::from_secs)
}

/// The media type of `Content-Type`, lower case, parameters removed.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or("").trim();
    (!media.is_empty()).then(|| media.to_ascii_lowercase())
}

pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_str(name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn cache_control_max_age() {
        let secs = |pairs: &[(&str, &str)]| max_age(&headers(pairs)).map(|d| d.as_secs());
        assert_eq!(secs(&[]), None);
        assert_eq!(
            secs(&[("cache-control", "public, max-age=3600")]),
            Some(3600)
        );
        assert_eq!(secs(&[("cache-control", "MAX-AGE=\"120\"")]), Some(120));
        assert_eq!(
            secs(&[("cache-control", "max-age=600, s-maxage=60")]),
            Some(600)
        );
        assert_eq!(
            secs(&[
                ("cache-control", "max-age=600"),
                ("cache-control", "max-age=300")
            ]),
            Some(300)
        );
        assert_eq!(secs(&[("cache-control", "no-store")]), Some(0));
        assert_eq!(secs(&[("cache-control", "private, max-age=-5")]), None);
        assert_eq!(secs(&[("cache-control", "max-age=abc")]), None);
        assert_eq!(
            secs(&[("cache-control", "max-age=99999999999999999999999")]),
            Some(u64::MAX)
        );
    }

    #[test]
    fn media_types() {
        let media = |value: &str| media_type(&headers(&[("content-type", value)]));
        assert_eq!(
            media("application/json").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            media("Application/JSON; charset=UTF-8").as_deref(),
            Some("application/json")
        );
        assert_eq!(media(" ; charset=utf-8"), None);
        assert!(Accept::JwkSet.allows("application/jwk-set+json"));
        assert!(Accept::JwkSet.allows("application/json"));
        assert!(!Accept::Metadata.allows("application/jwk-set+json"));
        assert!(!Accept::JwkSet.allows("text/json"));
        assert!(!Accept::JwkSet.allows("application/json-seq"));
    }
}

//! Authorization-server metadata discovery (RFC 8414, OpenID Connect Discovery 1.0).
//!
//! Given a metadata URL (or an issuer, whose well-known URLs are tried in turn), fetch the
//! document under the [`Fetcher`]'s rules, parse it strictly (duplicate members refused), and
//! return its `issuer` and `jwks_uri` — but only after the **mix-up defence**: the document's
//! `issuer` must be exactly the issuer it was looked up for (RFC 8414 §3.3, OIDC Discovery §4.3).
//! The expected issuer is the configured one when the caller has it, otherwise the issuer the
//! metadata URL was built from. The one sanctioned exception is Microsoft Entra's multi-tenant
//! metadata (`.../common/...`, `.../organizations/...`), whose `issuer` is a `{tenantid}`
//! template; it is returned as an [`IssuerPattern::TenantTemplate`].

use std::time::Duration;

use portcullis_jose::JsonError;
use portcullis_jose::strict_json;
use portcullis_policy::issuer::IssuerPattern;
use portcullis_policy::sanitize::untrusted;
use serde_json::Value;
use url::Url;

use crate::fetch::{Accept, FetchError, Fetcher};

/// RFC 8414 well-known suffix.
pub const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect Discovery well-known suffix.
pub const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";
/// Entra tenant segments whose metadata carries a `{tenantid}` issuer template.
pub const MULTI_TENANT_SEGMENTS: [&str; 3] = ["common", "organizations", "consumers"];

/// What discovery found: the issuer to expect in tokens and where the keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The document's issuer: exact, or an Entra `{tenantid}` template.
    pub issuer: IssuerPattern,
    /// The document's `jwks_uri` (already checked against the fetch rules' URL checks).
    pub jwks_uri: String,
    /// The metadata URL that answered (before redirects).
    pub metadata_url: String,
    /// How long the metadata fetch took.
    pub duration: Duration,
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The metadata fetch failed or was refused.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The document is not strict JSON (or not an object).
    #[error("the metadata document at `{url}` is not usable JSON: {source}")]
    Json {
        /// The metadata URL.
        url: String,
        /// The parse failure.
        source: JsonError,
    },
    /// `issuer` or `jwks_uri` missing or not a string.
    #[error("the metadata document at `{url}` has no `{member}` string")]
    MissingMember {
        /// The metadata URL.
        url: String,
        /// The member.
        member: &'static str,
    },
    /// The document's `issuer` is not a valid issuer identifier.
    #[error("the metadata document at `{url}` declares an invalid issuer `{issuer}`: {reason}")]
    InvalidIssuer {
        /// The metadata URL.
        url: String,
        /// The declared issuer (sanitized).
        issuer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Mix-up defence: the document's issuer is not the one it was looked up for.
    #[error(
        "issuer mismatch: the metadata at `{url}` declares issuer `{found}` but was looked up for `{expected}`, so it is not used (mix-up defence, RFC 8414 §3.3). If this provider serves its metadata for another issuer on purpose (Microsoft Entra v1 metadata declares https://sts.windows.net/...), set the server's issuer to the exact expected value"
    )]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The issuer it was looked up for.
        expected: String,
        /// The issuer the document declares (sanitized).
        found: String,
    },
    /// The document's `jwks_uri` breaks a fetch rule.
    #[error("the metadata document at `{url}` has an unusable jwks_uri: {reason}")]
    InvalidJwksUri {
        /// The metadata URL.
        url: String,
        /// The rule `jwks_uri` breaks.
        reason: Box<FetchError>,
    },
    /// A metadata URL that is not a well-known URL, and no configured issuer to compare with.
    #[error(
        "`{url}` is not a well-known metadata URL (…/.well-known/openid-configuration or …/.well-known/oauth-authorization-server), so the issuer to expect cannot be derived from it; set the server's issuer"
    )]
    IssuerNotDerivable {
        /// The metadata URL.
        url: String,
    },
    /// The issuer given for a lookup cannot be used to build metadata URLs.
    #[error("issuer `{issuer}` cannot be used for discovery: {reason}")]
    InvalidIssuerInput {
        /// The issuer (sanitized).
        issuer: String,
        /// Why.
        reason: String,
    },
    /// Every well-known URL of an issuer failed.
    #[error("no usable metadata for issuer `{issuer}`: {}", describe_attempts(.attempts))]
    NotFound {
        /// The issuer.
        issuer: String,
        /// Each URL tried, with its failure.
        attempts: Vec<(String, DiscoveryError)>,
    },
}

fn describe_attempts(attempts: &[(String, DiscoveryError)]) -> String {
    attempts
        .iter()
        .map(|(_url, err)| err.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl DiscoveryError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DiscoveryError::Fetch(err) => err.code(),
            DiscoveryError::Json { .. } => "metadata_json",
            DiscoveryError::MissingMember { .. } => "metadata_missing_member",
            DiscoveryError::InvalidIssuer { .. } => "metadata_invalid_issuer",
            DiscoveryError::IssuerMismatch { .. } => "issuer_mismatch",
            DiscoveryError::InvalidJwksUri { .. } => "metadata_invalid_jwks_uri",
            DiscoveryError::IssuerNotDerivable { .. } => "issuer_not_derivable",
            DiscoveryError::InvalidIssuerInput { .. } => "invalid_issuer",
            DiscoveryError::NotFound { .. } => "metadata_not_found",
        }
    }
}

/// The well-known metadata URLs of `issuer`, in the order they are tried: RFC 8414 inserted
/// form, OIDC appended form, then the appended `oauth-authorization-server` form many vendors
/// serve (Okta legacy, PingFederate). Duplicates (an issuer without path) are removed.
pub fn well_known_urls(issuer: &str) -> Result<Vec<String>, DiscoveryError> {
    let invalid = |reason: &str| DiscoveryError::InvalidIssuerInput {
        issuer: untrusted(issuer),
        reason: reason.to_owned(),
    };
    let url = Url::parse(issuer).map_err(|err| invalid(&err.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() || issuer.contains(['?', '#']) {
        return Err(invalid("an issuer has no query or fragment"));
    }
    if url.host_str().is_none() {
        return Err(invalid("no host"));
    }
    let origin = &url[..url::Position::BeforePath];
    let path = url.path().trim_end_matches('/');
    let base = issuer.trim_end_matches('/');
    let mut urls = vec![
        format!("{origin}{OAUTH_WELL_KNOWN}{path}"),
        format!("{base}{OIDC_WELL_KNOWN}"),
        format!("{base}{OAUTH_WELL_KNOWN}"),
    ];
    let mut seen = Vec::new();
    urls.retain(|u| {
        let fresh = !seen.contains(u);
        seen.push(u.clone());
        fresh
    });
    Ok(urls)
}

/// The issuer a well-known metadata URL was built from, or `None` if it is not one. The query
/// (Entra's `?appid=`) is not part of the issuer.
pub fn issuer_from_metadata_url(url: &Url) -> Option<String> {
    let origin = &url[..url::Position::BeforePath];
    let path = url.path();
    let issuer_path = if let Some(rest) = path.strip_prefix(OAUTH_WELL_KNOWN) {
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)?
    } else if let Some(prefix) = path.strip_suffix(OIDC_WELL_KNOWN) {
        prefix
    } else {
        path.strip_suffix(OAUTH_WELL_KNOWN)?
    };
    Some(format!("{origin}{issuer_path}"))
}

/// Fetches a metadata document and checks it was published for `expected_issuer` (the
/// configured issuer); without one, the issuer is derived from the well-known URL.
pub async fn discover_from_metadata_url(
    fetcher: &Fetcher,
    metadata_url: &str,
    expected_issuer: Option<&str>,
) -> Result<Discovered, DiscoveryError> {
    let target = fetcher.policy().check_url(metadata_url)?;
    let expected = match expected_issuer {
        Some(issuer) => issuer.to_owned(),
        None => {
            issuer_from_metadata_url(&target).ok_or_else(|| DiscoveryError::IssuerNotDerivable {
                url: untrusted(metadata_url),
            })?
        }
    };
    fetch_metadata(fetcher, metadata_url, &expected).await
}

/// Looks up an issuer's metadata at its well-known URLs (see [`well_known_urls`]); the first
/// document that passes every check wins. A safety refusal (scheme, address, redirect) stops the
/// search at once.
pub async fn discover_from_issuer(
    fetcher: &Fetcher,
    issuer: &str,
) -> Result<Discovered, DiscoveryError> {
    match IssuerPattern::parse(issuer) {
        Ok(IssuerPattern::Exact(_)) => {}
        Ok(IssuerPattern::TenantTemplate { .. }) => {
            return Err(DiscoveryError::InvalidIssuerInput {
                issuer: untrusted(issuer),
                reason: "a {tenantid} template cannot be looked up; give the metadata URL (e.g. https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration)".into(),
            });
        }
        Err(reason) => {
            return Err(DiscoveryError::InvalidIssuerInput {
                issuer: untrusted(issuer),
                reason,
            });
        }
    }
    fetcher.policy().check_url(issuer)?;
    let mut attempts = Vec::new();
    for url in well_known_urls(issuer)? {
        match fetch_metadata(fetcher, &url, issuer).await {
            Ok(found) => return Ok(found),
            Err(DiscoveryError::Fetch(err)) if err.is_policy_refusal() => {
                return Err(DiscoveryError::Fetch(err));
            }
            Err(err) => attempts.push((url, err)),
        }
    }
    Err(DiscoveryError::NotFound {
        issuer: untrusted(issuer),
        attempts,
    })
}

async fn fetch_metadata(
    fetcher: &Fetcher,
    url: &str,
    expected: &str,
) -> Result<Discovered, DiscoveryError> {
    let fetched = fetcher.get_json(url, Accept::Metadata).await?;
    let shown_url = untrusted(url);
    let document =
        strict_json::parse_object(&fetched.body).map_err(|source| DiscoveryError::Json {
            url: shown_url.clone(),
            source,
        })?;
    let member = |member: &'static str| {
        document
            .get(member)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| DiscoveryError::MissingMember {
                url: shown_url.clone(),
                member,
            })
    };
    let issuer = member("issuer")?;
    let jwks_uri = member("jwks_uri")?;
    let pattern = check_issuer(&shown_url, issuer, expected)?;
    fetcher
        .policy()
        .check_url(jwks_uri)
        .map_err(|reason| DiscoveryError::InvalidJwksUri {
            url: shown_url.clone(),
            reason: Box::new(reason),
        })?;
    Ok(Discovered {
        issuer: pattern,
        jwks_uri: jwks_uri.to_owned(),
        metadata_url: url.to_owned(),
        duration: fetched.duration,
    })
}

/// The mix-up check: exact equality, or an Entra template published at a multi-tenant URL.
fn check_issuer(url: &str, found: &str, expected: &str) -> Result<IssuerPattern, DiscoveryError> {
    let parsed = IssuerPattern::parse(found).map_err(|reason| DiscoveryError::InvalidIssuer {
        url: url.to_owned(),
        issuer: untrusted(found),
        reason,
    });
    if found == expected {
        return parsed;
    }
    if let Ok(IssuerPattern::TenantTemplate { prefix, suffix }) = &parsed
        && let Some(segment) = expected
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_suffix(suffix.as_str()))
        && MULTI_TENANT_SEGMENTS.contains(&segment)
    {
        return parsed;
    }
    Err(DiscoveryError::IssuerMismatch {
        url: url.to_owned(),
        expected: untrusted(expected),
        found: untrusted(found),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_forms() {
        assert_eq!(
            well_known_urls("https://acme.okta.com/oauth2/default").unwrap(),
            vec![
                "https://acme.okta.com/.well-known/oauth-authorization-server/oauth2/default",
                "https://acme.okta.com/oauth2/default/.well-known/openid-configuration",
                "https://acme.okta.com/oauth2/default/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            well_known_urls("https://pf.example.com").unwrap(),
            vec![
                "https://pf.example.com/.well-known/oauth-authorization-server",
                "https://pf.example.com/.well-known/openid-configuration",
            ]
        );
        // A trailing slash is removed before inserting (RFC 8414 §3.1) and appending (OIDC §4).
        assert_eq!(
            well_known_urls("https://sts.windows.net/abc/").unwrap(),
            vec![
                "https://sts.windows.net/.well-known/oauth-authorization-server/abc",
                "https://sts.windows.net/abc/.well-known/openid-configuration",
                "https://sts.windows.net/abc/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            well_known_urls("http://127.0.0.1:8080/realms/x").unwrap()[0],
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server/realms/x"
        );
        assert!(well_known_urls("https://idp.example.com?x=1").is_err());
        assert!(well_known_urls("https://idp.example.com#f").is_err());
        assert!(well_known_urls("not a url").is_err());
    }

    #[test]
    fn issuer_derivation_inverts_each_form() {
        let derive = |u: &str| issuer_from_metadata_url(&Url::parse(u).unwrap());
        for issuer in [
            "https://acme.okta.com/oauth2/default",
            "https://pf.example.com",
            "http://127.0.0.1:8080/realms/x",
        ] {
            for url in well_known_urls(issuer).unwrap() {
                assert_eq!(derive(&url).as_deref(), Some(issuer), "{url}");
            }
        }
        assert_eq!(
            derive("https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration?appid=1")
                .as_deref(),
            Some("https://login.microsoftonline.com/common/v2.0")
        );
        assert_eq!(derive("https://idp.example.com/keys/metadata.json"), None);
        assert_eq!(
            derive("https://idp.example.com/.well-known/oauth-authorization-serverX"),
            None
        );
    }

    #[test]
    fn mix_up_check() {
        let ok = |found: &str, expected: &str| check_issuer("u", found, expected);
        assert_eq!(
            ok("https://a.example/x", "https://a.example/x").unwrap(),
            IssuerPattern::Exact("https://a.example/x".into())
        );
        for (found, expected) in [
            ("https://a.example/x/", "https://a.example/x"),
            ("https://a.example/x", "https://a.example/x/"),
            ("https://evil.example/x", "https://a.example/x"),
            ("HTTPS://a.example/x", "https://a.example/x"),
            // A template is only accepted for the multi-tenant segments, on the same host.
            (
                "https://login.microsoftonline.com/{tenantid}/v2.0",
                "https://login.microsoftonline.com/contoso.com/v2.0",
            ),
            (
                "https://evil.example/{tenantid}/v2.0",
                "https://login.microsoftonline.com/common/v2.0",
            ),
            (
                "https://login.microsoftonline.com/{tenantid}/v2.0",
                "https://login.microsoftonline.com/common/x/v2.0",
            ),
        ] {
            assert!(
                matches!(
                    ok(found, expected),
                    Err(DiscoveryError::IssuerMismatch { .. })
                ),
                "{found} vs {expected}"
            );
        }
        for segment in ["common", "organizations"] {
            let expected = format!("https://login.microsoftonline.com/{segment}/v2.0");
            assert!(matches!(
                ok(
                    "https://login.microsoftonline.com/{tenantid}/v2.0",
                    &expected
                ),
                Ok(IssuerPattern::TenantTemplate { .. })
            ));
        }
        // A configured template matches the document's template exactly.
        assert!(matches!(
            ok(
                "https://sts.windows.net/{tenantid}/",
                "https://sts.windows.net/{tenantid}/"
            ),
            Ok(IssuerPattern::TenantTemplate { .. })
        ));
        // Equal but invalid as an issuer (query) is still refused.
        assert!(matches!(
            ok("https://a.example/?q=1", "https://a.example/?q=1"),
            Err(DiscoveryError::InvalidIssuer { .. })
        ));
    }
}

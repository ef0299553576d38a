//! Metadata discovery (RFC 8414, OIDC Discovery) against real HTTP servers on 127.0.0.1: the
//! well-known forms, strict parsing, and the mix-up defence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_keys::{
    DiscoveryError, FetchError, FetchPolicy, Fetcher, discover_from_issuer,
    discover_from_metadata_url,
};
use portcullis_policy::issuer::IssuerPattern;
use serde_json::json;
use support::{Reply, TestServer};

fn fetcher() -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow_insecure: true,
        ..FetchPolicy::default()
    })
    .unwrap()
}

/// A metadata document for `issuer` with its JWKS at `{base}/keys`.
fn metadata(issuer: &str, base: &str) -> Reply {
    Reply::json(
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{base}/keys"),
            "token_endpoint": format!("{base}/token"),
        })
        .to_string(),
    )
}

#[tokio::test]
async fn oidc_metadata_with_matching_issuer() {
    let server = TestServer::start(|req, base| match req.target.as_str() {
        "/.well-known/openid-configuration" => metadata(base, base),
        _ => Reply::status(404),
    })
    .await;
    let url = server.url("/.well-known/openid-configuration");
    let found = discover_from_metadata_url(&fetcher(), &url, None)
        .await
        .unwrap();
    assert_eq!(found.issuer, IssuerPattern::Exact(server.url("")));
    assert_eq!(found.jwks_uri, server.url("/keys"));
    assert_eq!(found.metadata_url, url);
    assert_eq!(
        server.requests()[0].header("accept"),
        Some("application/json")
    );
}

#[tokio::test]
async fn mismatching_issuer_is_refused_as_mix_up() {
    let server = TestServer::start(|req, base| match req.target.as_str() {
        "/tenant-a/.well-known/openid-configuration" => {
            metadata("https://evil.example.com/tenant-a", base)
        }
        "/tenant-b/.well-known/openid-configuration" => {
            // Same host, other tenant: still a different issuer.
            metadata(&format!("{base}/tenant-c"), base)
        }
        "/tenant-d/.well-known/openid-configuration" => {
            // Trailing slash is a different issuer (no normalisation).
            metadata(&format!("{base}/tenant-d/"), base)
        }
        _ => Reply::status(404),
    })
    .await;
    for tenant in ["tenant-a", "tenant-b", "tenant-d"] {
        let url = server.url(&format!("/{tenant}/.well-known/openid-configuration"));
        match discover_from_metadata_url(&fetcher(), &url, None).await {
            Err(DiscoveryError::IssuerMismatch { expected, .. }) => {
                assert_eq!(expected, server.url(&format!("/{tenant}")));
            }
            other => panic!("{tenant}: {other:?}"),
        }
    }
    // The JWKS of a refused document is never fetched.
    assert!(server.paths().iter().all(|p| !p.ends_with("/keys")));
}

#[tokio::test]
async fn configured_issuer_is_the_one_expected() {
    // Entra v1 style: the document declares an issuer on another host. Accepted only when the
    // admin configured exactly that issuer.
    const V1_ISSUER: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
    let server = TestServer::start(|_, base| metadata(V1_ISSUER, base)).await;
    let url = server.url("/72f988bf-86f1-41af-91ab-2d7cd011db47/.well-known/openid-configuration");
    let found = discover_from_metadata_url(&fetcher(), &url, Some(V1_ISSUER))
        .await
        .unwrap();
    assert_eq!(found.issuer, IssuerPattern::Exact(V1_ISSUER.into()));
    let err = discover_from_metadata_url(&fetcher(), &url, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch");
    assert!(err.to_string().contains("set the server's issuer"), "{err}");
}

#[tokio::test]
async fn rfc8414_inserted_form_is_tried_first() {
    let server = TestServer::start(|req, base| match req.target.as_str() {
        "/.well-known/oauth-authorization-server/tenant1" => {
            metadata(&format!("{base}/tenant1"), base)
        }
        _ => Reply::status(404),
    })
    .await;
    let issuer = server.url("/tenant1");
    let found = discover_from_issuer(&fetcher(), &issuer).await.unwrap();
    assert_eq!(found.issuer, IssuerPattern::Exact(issuer.clone()));
    assert_eq!(
        found.metadata_url,
        server.url("/.well-known/oauth-authorization-server/tenant1")
    );
    assert_eq!(
        server.paths(),
        ["/.well-known/oauth-authorization-server/tenant1"]
    );
    // The inserted form given as a metadata URL yields the same expected issuer.
    let direct = discover_from_metadata_url(&fetcher(), &found.metadata_url, None)
        .await
        .unwrap();
    assert_eq!(direct.issuer, found.issuer);
}

#[tokio::test]
async fn issuer_lookup_falls_back_to_the_appended_forms() {
    let server = TestServer::start(|req, base| match req.target.as_str() {
        "/oauth2/default/.well-known/oauth-authorization-server" => {
            metadata(&format!("{base}/oauth2/default"), base)
        }
        _ => Reply::status(404),
    })
    .await;
    let issuer = server.url("/oauth2/default");
    let found = discover_from_issuer(&fetcher(), &issuer).await.unwrap();
    assert_eq!(found.issuer, IssuerPattern::Exact(issuer));
    assert_eq!(
        server.paths(),
        [
            "/.well-known/oauth-authorization-server/oauth2/default",
            "/oauth2/default/.well-known/openid-configuration",
            "/oauth2/default/.well-known/oauth-authorization-server",
        ]
    );

    // When every form fails, each attempt is reported.
    let missing = server.url("/nothing");
    match discover_from_issuer(&fetcher(), &missing).await {
        Err(DiscoveryError::NotFound { attempts, .. }) => {
            assert_eq!(attempts.len(), 3);
            assert!(attempts.iter().all(|(_, e)| e.code() == "http_status"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn entra_multi_tenant_template_is_returned_as_a_template() {
    let server = TestServer::start(|req, base| match req.target.as_str() {
        "/common/v2.0/.well-known/openid-configuration" => {
            metadata(&format!("{base}/{{tenantid}}/v2.0"), base)
        }
        "/contoso.com/v2.0/.well-known/openid-configuration" => {
            metadata(&format!("{base}/{{tenantid}}/v2.0"), base)
        }
        _ => Reply::status(404),
    })
    .await;
    let url = server.url("/common/v2.0/.well-known/openid-configuration");
    let found = discover_from_metadata_url(&fetcher(), &url, None)
        .await
        .unwrap();
    assert_eq!(
        found.issuer,
        IssuerPattern::TenantTemplate {
            prefix: server.url("/"),
            suffix: "/v2.0".into()
        }
    );
    // A template from a single-tenant URL is a mismatch.
    let single = server.url("/contoso.com/v2.0/.well-known/openid-configuration");
    let err = discover_from_metadata_url(&fetcher(), &single, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch");
}

#[tokio::test]
async fn document_shape_is_checked_strictly() {
    let server = TestServer::start(|req, base| {
        let body = match req.target.as_str() {
            "/dup/.well-known/openid-configuration" => format!(
                r#"{{"issuer":"{base}/dup","issuer":"{base}/dup","jwks_uri":"{base}/keys"}}"#
            ),
            "/no-jwks/.well-known/openid-configuration" => {
                json!({"issuer": format!("{base}/no-jwks")}).to_string()
            }
            "/no-issuer/.well-known/openid-configuration" => {
                json!({"jwks_uri": format!("{base}/keys")}).to_string()
            }
            "/array/.well-known/openid-configuration" => "[]".to_owned(),
            "/ftp-jwks/.well-known/openid-configuration" => {
                json!({"issuer": format!("{base}/ftp-jwks"), "jwks_uri": "ftp://127.0.0.1/keys"})
                    .to_string()
            }
            "/metadata-jwks/.well-known/openid-configuration" => json!({
                "issuer": format!("{base}/metadata-jwks"),
                "jwks_uri": "https://169.254.169.254/latest/meta-data/"
            })
            .to_string(),
            _ => return Reply::status(404),
        };
        Reply::json(body)
    })
    .await;
    for (tenant, code) in [
        ("dup", "metadata_json"),
        ("no-jwks", "metadata_missing_member"),
        ("no-issuer", "metadata_missing_member"),
        ("array", "metadata_json"),
        ("ftp-jwks", "metadata_invalid_jwks_uri"),
        ("metadata-jwks", "metadata_invalid_jwks_uri"),
    ] {
        let url = server.url(&format!("/{tenant}/.well-known/openid-configuration"));
        let err = discover_from_metadata_url(&fetcher(), &url, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{tenant}: {err}");
    }
    assert!(server.paths().iter().all(|p| !p.ends_with("/keys")));
}

#[tokio::test]
async fn safety_refusals_stop_discovery() {
    // Not a well-known URL and no configured issuer: nothing to check the document against.
    let err = discover_from_metadata_url(&fetcher(), "https://idp.example.com/meta.json", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "issuer_not_derivable");

    // Forbidden addresses are refused before connecting, and the lookup stops at once.
    let strict = Fetcher::new(FetchPolicy::default()).unwrap();
    let err = discover_from_issuer(&strict, "https://10.0.0.1/realms/x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DiscoveryError::Fetch(FetchError::ForbiddenAddress { .. })
        ),
        "{err:?}"
    );
    let err = discover_from_issuer(&strict, "http://127.0.0.1:1/realms/x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DiscoveryError::Fetch(FetchError::InsecureScheme { .. })
        ),
        "{err:?}"
    );
    let err = discover_from_issuer(
        &fetcher(),
        "https://login.microsoftonline.com/{tenantid}/v2.0",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "invalid_issuer");
}

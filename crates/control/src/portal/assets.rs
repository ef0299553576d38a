//! The portal's CSS and scripts, embedded in the binary (no build step, nothing fetched from
//! elsewhere). Pages link them as `/portal/assets/<name>?v=<content hash>`: a URL with the current hash
//! is cached for a year as immutable (a new binary means new hashes, so browsers never run a
//! stale script against a new page); any other URL is revalidated through the `ETag`.

use std::sync::LazyLock;

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// First 8 bytes of the SHA-256 of `body`, hex.
    hash: String,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        (
            $name,
            $type,
            include_bytes!(concat!("../../assets/", $name)).as_slice(),
        )
    };
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        asset!("portal.css", "text/css; charset=utf-8"),
        asset!("common.js", "text/javascript; charset=utf-8"),
        asset!("login.js", "text/javascript; charset=utf-8"),
        asset!("servers.js", "text/javascript; charset=utf-8"),
        asset!("roles.js", "text/javascript; charset=utf-8"),
        asset!("admins.js", "text/javascript; charset=utf-8"),
        asset!("routes.js", "text/javascript; charset=utf-8"),
        asset!("audit.js", "text/javascript; charset=utf-8"),
        asset!("credentials.js", "text/javascript; charset=utf-8"),
        asset!("tester.js", "text/javascript; charset=utf-8"),
        asset!("cluster.js", "text/javascript; charset=utf-8"),
        asset!("org_settings.js", "text/javascript; charset=utf-8"),
        asset!("pending.js", "text/javascript; charset=utf-8"),
        asset!("favicon.svg", "image/svg+xml"),
    ]
    .into_iter()
    .map(|(name, content_type, body)| Asset {
        name,
        content_type,
        body,
        hash: portcullis_jose::sha256(body)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    })
    .collect()
});

/// Where the assets are served.
pub const PREFIX: &str = "/portal/assets";

/// The versioned URL of an embedded asset (`/portal/assets/portal.css?v=…`).
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => format!("{PREFIX}/{}?v={}", asset.name, asset.hash),
        None => {
            // A template naming a file that is not embedded is a programming error; the page
            // still renders and the browser reports the 404.
            tracing::error!(name, "portal asset not embedded");
            format!("{PREFIX}/{name}")
        }
    }
}

/// The `?v=` query.
#[derive(Debug, Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// `GET /portal/assets/{name}`.
pub async fn serve(
    Path(name): Path<String>,
    Query(version): Query<Version>,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = format!("\"{}\"", asset.hash);
    let cache = if version.v.as_deref() == Some(asset.hash.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (response_headers, asset.body).into_response()
}

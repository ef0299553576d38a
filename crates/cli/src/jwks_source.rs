//! Where `token verify` gets its keys: a JWKS file, or an `http(s)` URL fetched once.
//!
//! The URL is typed by the operator running the CLI, so the server's SSRF address filtering
//! (DESIGN.md §3) does not apply here; the transport limits do: no proxy from the environment,
//! 5 s connect / 10 s total timeouts, at most 3 redirects, a 1 MiB body cap.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, bail};
use portcullis_jose::JwkSet;

/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// Reads and parses a JWKS file.
pub fn from_file(path: &str) -> anyhow::Result<JwkSet> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open JWKS file {path}"))?;
    let bytes = read_capped(file).with_context(|| format!("cannot read JWKS file {path}"))?;
    JwkSet::parse(&bytes).with_context(|| format!("{path} is not a usable JWK Set"))
}

/// Fetches and parses a JWKS over HTTP(S).
pub fn from_url(url: &str) -> anyhow::Result<JwkSet> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("--jwks-url must be an http or https URL");
    }
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let response = client
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .send()
        .with_context(|| format!("cannot fetch {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("fetching {url} answered HTTP {status}");
    }
    let bytes = read_capped(response).with_context(|| format!("cannot read the body of {url}"))?;
    JwkSet::parse(&bytes).with_context(|| format!("{url} did not return a usable JWK Set"))
}

fn read_capped(reader: impl Read) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_JWKS_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_JWKS_BYTES {
        bail!("the JWKS is larger than {MAX_JWKS_BYTES} bytes");
    }
    Ok(bytes)
}

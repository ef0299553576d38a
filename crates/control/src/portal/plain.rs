//! Key-fetch failures in plain words: one sentence per failure code saying what failed, the
//! likely cause and what to do. The portal shows the sentence and keeps the technical text (the
//! error's own message) behind a "Technical detail" disclosure.
//!
//! The stored status of a server keeps only the error's message, so [`classify`] finds the code
//! back from the wording `portcullis-keys` gives each failure (its unit test holds every
//! `FetchError` variant to its `code()`). The scripts get [`SENTENCES`] as JSON for the codes
//! the Validate report carries.

/// `(code, sentence)` for every key-check failure code, plus `unknown`.
pub const SENTENCES: [(&str, &str); 31] = [
    (
        "invalid_url",
        "The key location is not a usable URL: check it for typing mistakes and give a full https:// address.",
    ),
    (
        "insecure_scheme",
        "The key location uses plain http: give the identity provider's https:// address.",
    ),
    (
        "http_not_loopback",
        "The key location uses plain http: give the identity provider's https:// address.",
    ),
    (
        "unsupported_scheme",
        "The key location must be an https:// address.",
    ),
    (
        "credentials_in_url",
        "The key location contains a user name or password: remove them from the URL.",
    ),
    (
        "forbidden_address",
        "The key location points to a private or internal network address, which Portcullis does not contact: give the identity provider's public address, or ask your operator to allow that network.",
    ),
    (
        "dns_failed",
        "The identity provider's host name was not found: check the host name in the URL for typing mistakes.",
    ),
    (
        "no_addresses",
        "The identity provider's host name was not found: check the host name in the URL for typing mistakes.",
    ),
    (
        "too_many_redirects",
        "The key location redirects too many times: give the final address instead.",
    ),
    (
        "redirect_refused",
        "The key location redirects to an address Portcullis does not contact: give the final https:// address instead.",
    ),
    (
        "connect_failed",
        "The identity provider could not be reached: it may be down, or the host or port in the URL is wrong. Check the URL and that the provider is running.",
    ),
    (
        "tls_certificate",
        "The identity provider's certificate was not accepted: if it comes from your own certificate authority, add that authority's certificate under Advanced (Extra CA certificates).",
    ),
    (
        "tls_handshake",
        "No secure connection could be set up with the identity provider: check that the URL's host and port serve https.",
    ),
    (
        "ca_bundle_invalid",
        "The extra CA certificates cannot be used: paste PEM certificates (BEGIN CERTIFICATE) under Advanced.",
    ),
    (
        "connect_timeout",
        "The identity provider did not answer in time: it may be down or blocked by a firewall. Check the URL, then try again.",
    ),
    (
        "timeout",
        "The identity provider answered too slowly: try again, and check the URL if it keeps happening.",
    ),
    (
        "http_status",
        "The identity provider answered with an error instead of keys: check the path in the URL.",
    ),
    (
        "content_type",
        "The address answered with something other than keys (perhaps a web page): check that the URL is the JWKS or metadata URL.",
    ),
    (
        "body_too_large",
        "The address answered with a document far larger than a key set: check the URL.",
    ),
    (
        "body_read_failed",
        "The connection broke while the keys were being read: try again.",
    ),
    (
        "transport",
        "The keys could not be fetched: check the URL, then try again.",
    ),
    (
        "client_build",
        "Portcullis could not prepare the connection: check the extra CA certificates under Advanced, or ask your operator.",
    ),
    (
        "jwks_invalid",
        "The address did not answer with a key set (JWKS): check that the URL is the JWKS URL.",
    ),
    (
        "no_usable_key",
        "The key set has no key that can verify token signatures: check that this is the provider's signing key set.",
    ),
    (
        "metadata_json",
        "The metadata URL did not answer with a metadata document: check the URL (it usually ends in /.well-known/openid-configuration).",
    ),
    (
        "metadata_missing_member",
        "The metadata document lacks the issuer or the key location: check that the URL is the provider's metadata URL.",
    ),
    (
        "metadata_invalid_issuer",
        "The metadata document declares an issuer that is not valid: ask the identity provider's administrator, or give the JWKS URL instead.",
    ),
    (
        "issuer_mismatch",
        "The metadata belongs to another issuer than the one configured: set the issuer to the exact value the metadata declares, or correct the URL.",
    ),
    (
        "metadata_invalid_jwks_uri",
        "The metadata document names a key location Portcullis does not contact: give a JWKS URL directly.",
    ),
    (
        "issuer_not_derivable",
        "This metadata URL is not a standard well-known address, so the issuer cannot be derived from it: fill in the issuer.",
    ),
    (
        "unknown",
        "The keys could not be fetched: check the key location, then try again.",
    ),
];

/// The sentence for `code` (the `unknown` one for a code not in the table).
pub fn sentence(code: &str) -> &'static str {
    SENTENCES
        .iter()
        .find(|(c, _)| *c == code)
        .or_else(|| SENTENCES.iter().find(|(c, _)| *c == "unknown"))
        .map_or("", |(_, s)| s)
}

/// The phrases `portcullis-keys` writes for each failure, most specific first (a refused
/// redirect quotes the rule it broke, metadata errors quote the fetch's).
const PHRASES: [(&str, &str); 30] = [
    ("has an unusable jwks_uri", "metadata_invalid_jwks_uri"),
    ("redirect to `", "redirect_refused"),
    ("issuer mismatch", "issuer_mismatch"),
    ("is not a well-known metadata URL", "issuer_not_derivable"),
    ("declares an invalid issuer", "metadata_invalid_issuer"),
    ("is not usable JSON", "metadata_json"),
    ("the metadata document at", "metadata_missing_member"),
    ("has no usable signing key", "no_usable_key"),
    ("the JWKS at", "jwks_invalid"),
    ("is not a usable URL", "invalid_url"),
    ("uses plain http to a host", "http_not_loopback"),
    ("uses plain http", "insecure_scheme"),
    ("uses the unsupported scheme", "unsupported_scheme"),
    ("contains a user name or password", "credentials_in_url"),
    ("refused to connect to", "forbidden_address"),
    ("cannot resolve", "dns_failed"),
    ("does not resolve to any address", "no_addresses"),
    (" redirects (the next one", "too_many_redirects"),
    ("TLS certificate of", "tls_certificate"),
    ("TLS handshake with", "tls_handshake"),
    (
        "CA bundle (caBundlePem) cannot be used",
        "ca_bundle_invalid",
    ),
    ("cannot connect to", "connect_failed"),
    ("no connection to", "connect_timeout"),
    ("did not answer completely", "timeout"),
    ("answered HTTP", "http_status"),
    ("answered with content type", "content_type"),
    ("-byte limit", "body_too_large"),
    ("reading the answer from", "body_read_failed"),
    ("cannot build the HTTP client", "client_build"),
    ("request to `", "transport"),
];

/// The failure code of a stored key-fetch error message (`unknown` when not recognised). The
/// phrases are the ones `portcullis-keys` writes; order matters where one message quotes
/// another (a refused redirect names the rule it broke).
pub fn classify(message: &str) -> &'static str {
    PHRASES
        .iter()
        .find(|(phrase, _)| message.contains(phrase))
        .map_or("unknown", |(_, code)| code)
}

/// A stored error message as (plain sentence, technical detail without Markdown backticks).
pub fn fetch_error(message: &str) -> (&'static str, String) {
    (sentence(classify(message)), message.replace('`', ""))
}

/// The phrases and sentences as JSON (`{"phrases": [[phrase, code]], "sentences": {code:
/// sentence}}`), so the scripts explain the errors the API answers exactly as the pages do.
pub fn script_json() -> String {
    let sentences: serde_json::Map<String, serde_json::Value> = SENTENCES
        .iter()
        .map(|(c, s)| ((*c).to_owned(), serde_json::Value::from(*s)))
        .collect();
    serde_json::json!({"phrases": PHRASES, "sentences": sentences}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_keys::ForbiddenRange;
    use portcullis_keys::fetch::FetchError;
    use std::time::Duration;

    #[test]
    fn every_fetch_error_is_recognised_by_its_wording() {
        let url = "https://idp.example.com/keys".to_owned();
        let errors = [
            FetchError::InvalidUrl {
                url: url.clone(),
                reason: "relative URL without a base".into(),
            },
            FetchError::InsecureScheme { url: url.clone() },
            FetchError::HttpNotLoopback { url: url.clone() },
            FetchError::UnsupportedScheme {
                url: url.clone(),
                scheme: "ftp".into(),
            },
            FetchError::CredentialsInUrl { url: url.clone() },
            FetchError::ForbiddenAddress {
                host: "idp.internal".into(),
                address: "10.0.0.1".parse().unwrap(),
                range: ForbiddenRange::Private,
            },
            FetchError::Dns {
                host: "idp.example.com".into(),
                message: "no record".into(),
            },
            FetchError::NoAddresses {
                host: "idp.example.com".into(),
            },
            FetchError::TooManyRedirects {
                max: 3,
                location: url.clone(),
            },
            FetchError::RedirectRefused {
                location: "http://x.example/keys".into(),
                reason: Box::new(FetchError::InsecureScheme {
                    url: "http://x.example/keys".into(),
                }),
            },
            FetchError::Connect {
                url: url.clone(),
                message:
                    "client error (Connect): tcp connect error: Connection refused (os error 111)"
                        .into(),
            },
            FetchError::TlsCertificate {
                url: url.clone(),
                message: "unknown issuer".into(),
            },
            FetchError::TlsHandshake {
                url: url.clone(),
                message: "alert".into(),
            },
            FetchError::CaBundle {
                reason: "holds no certificate".into(),
            },
            FetchError::ConnectTimeout {
                url: url.clone(),
                after: Duration::from_secs(5),
            },
            FetchError::Timeout {
                url: url.clone(),
                after: Duration::from_secs(10),
            },
            FetchError::Status {
                url: url.clone(),
                status: 500,
            },
            FetchError::ContentType {
                url: url.clone(),
                found: "text/html".into(),
                expected: "application/json",
            },
            FetchError::BodyTooLarge {
                url: url.clone(),
                limit: 1_048_576,
            },
            FetchError::BodyRead {
                url: url.clone(),
                message: "reset".into(),
            },
            FetchError::Transport {
                url: url.clone(),
                message: "oops".into(),
            },
            FetchError::ClientBuild("no backend".into()),
        ];
        for error in errors {
            let message = error.to_string();
            assert_eq!(classify(&message), error.code(), "{message}");
            assert_ne!(sentence(error.code()), sentence("unknown"), "{message}");
        }
        let (plain, detail) = fetch_error(
            "cannot connect to `http://127.0.0.1:9/keys`: client error (Connect): tcp connect error (os error 111)",
        );
        assert!(!plain.contains("tcp") && !plain.contains("os error"));
        assert!(!detail.contains('`'));
        assert_eq!(classify("something else"), "unknown");
        assert_eq!(sentence("no-such-code"), sentence("unknown"));
    }
}

//! A registered authorization server as the admin defines it (DESIGN.md §1.1, §6): what the API,
//! the portal and the declarative config file accept, resolved against the preset's defaults, and
//! checked field by field. One definition of the rules, called from every interface.

use portcullis_jose::Algorithm;
use serde::{Deserialize, Serialize};

use crate::ca_bundle::parse_ca_bundle;
use crate::config::{
    DEFAULT_CLOCK_SKEW_S, FieldError, ServerConfig, check_name, default_max_token_lifetime_s,
};
use crate::preset::Preset;

/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Default JWKS refresh interval.
pub const DEFAULT_REFRESH_INTERVAL_S: u32 = 3600;
/// Shortest refresh interval an admin may set (DESIGN.md §1.1: never below 60 s).
pub const MIN_REFRESH_INTERVAL_S: u32 = 60;
/// Longest refresh interval an admin may set.
pub const MAX_REFRESH_INTERVAL_S: u32 = 86_400;
/// Default time last-good keys stay usable while the endpoint fails.
pub const DEFAULT_MAX_STALE_S: u32 = 86_400;
/// Longest time last-good keys may stay usable.
pub const MAX_MAX_STALE_S: u32 = 7 * 86_400;
pub use crate::ca_bundle::MAX_CA_BUNDLE_BYTES;

/// What an admin sends to create or replace a server. Omitted optional fields take the preset's
/// defaults. Unknown fields are refused so a typo is an error, not a silently ignored setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerInput {
    /// Unique name in the org.
    pub name: String,
    /// Free text, shown escaped.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub description: Option<String>,
    /// Whether tokens are checked against this server (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Vendor preset (default `generic`).
    #[serde(default)]
    pub preset: Option<Preset>,
    /// JWKS URL; required unless `metadata_url` is given.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// RFC 8414 / OIDC discovery document URL.
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// Check the JWKS host's certificate (default true).
    #[serde(default)]
    pub verify_tls: Option<bool>,
    /// Extra trusted CA certificates (PEM).
    #[serde(default)]
    pub ca_bundle_pem: Option<String>,
    /// Expected `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted audiences.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub audiences: Option<Vec<String>>,
    /// Accepted client ids.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub client_ids: Option<Vec<String>>,
    /// Client-id claim names in order.
    #[serde(default)]
    pub client_id_claims: Option<Vec<String>>,
    /// Accepted algorithms.
    #[serde(default)]
    pub allowed_algs: Option<Vec<Algorithm>>,
    /// Clock skew in seconds.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 300))]
    pub clock_skew_s: Option<u32>,
    /// Require `typ` = `at+jwt`.
    #[serde(default)]
    pub require_typ_at_jwt: Option<bool>,
    /// Scope claim names.
    #[serde(default)]
    pub scope_claims: Option<Vec<String>>,
    /// JWKS refresh interval in seconds.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 86_400))]
    pub refresh_interval_s: Option<u32>,
    /// How long last-good keys stay usable while the endpoint fails.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 604_800))]
    pub max_stale_s: Option<u32>,
    /// Longest accepted token lifetime in seconds (`exp` − `iat`, or `exp` − now when `iat` is
    /// absent); `0` = not checked. Default: the preset's vendor maximum (86,400 for most).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 31_536_000))]
    pub max_token_lifetime_s: Option<u32>,
}

/// A server definition with every default resolved: what is stored and read back.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerDefinition {
    /// Unique name in the org.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Whether tokens are checked against this server.
    pub enabled: bool,
    /// Vendor preset.
    pub preset: Preset,
    /// JWKS URL (filled from metadata when only `metadata_url` was given and discovery ran).
    pub jwks_uri: Option<String>,
    /// Discovery document URL.
    pub metadata_url: Option<String>,
    /// Check the JWKS host's certificate.
    pub verify_tls: bool,
    /// Extra trusted CA certificates (PEM).
    pub ca_bundle_pem: Option<String>,
    /// Expected `iss`.
    pub issuer: Option<String>,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Accepted client ids.
    pub client_ids: Vec<String>,
    /// Client-id claim names in order.
    pub client_id_claims: Vec<String>,
    /// Accepted algorithms.
    pub allowed_algs: Vec<Algorithm>,
    /// Clock skew in seconds.
    pub clock_skew_s: u32,
    /// Require `typ` = `at+jwt`.
    pub require_typ_at_jwt: bool,
    /// Scope claim names.
    pub scope_claims: Vec<String>,
    /// JWKS refresh interval in seconds.
    pub refresh_interval_s: u32,
    /// How long last-good keys stay usable while the endpoint fails.
    pub max_stale_s: u32,
    /// Longest accepted token lifetime in seconds; `0` = not checked. Definitions stored before
    /// the setting existed read as 86,400 (migration 0005 writes the preset's value explicitly).
    #[serde(default = "default_max_token_lifetime_s")]
    pub max_token_lifetime_s: u32,
}

/// Deployment rules for the URLs an admin may enter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlRules {
    /// `allow_insecure_jwks`: plain `http` to loopback is accepted (tests, demos).
    pub allow_insecure: bool,
}

fn trimmed_list(list: Option<Vec<String>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(|s| s.trim().to_owned())
        .collect()
}

impl ServerInput {
    /// Fills every omitted field from the preset and the product defaults.
    pub fn resolve(self) -> ServerDefinition {
        let preset = self.preset.unwrap_or_default();
        let defaults = preset.defaults();
        let blank_to_none =
            |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        ServerDefinition {
            name: self.name.trim().to_owned(),
            description: self.description.unwrap_or_default(),
            enabled: self.enabled.unwrap_or(true),
            preset,
            jwks_uri: blank_to_none(self.jwks_uri),
            metadata_url: blank_to_none(self.metadata_url),
            verify_tls: self.verify_tls.unwrap_or(true),
            ca_bundle_pem: blank_to_none(self.ca_bundle_pem),
            issuer: blank_to_none(self.issuer),
            audiences: trimmed_list(self.audiences),
            client_ids: trimmed_list(self.client_ids),
            client_id_claims: self.client_id_claims.unwrap_or(defaults.client_id_claims),
            allowed_algs: self.allowed_algs.unwrap_or(defaults.allowed_algs),
            clock_skew_s: self.clock_skew_s.unwrap_or(DEFAULT_CLOCK_SKEW_S),
            require_typ_at_jwt: self.require_typ_at_jwt.unwrap_or(false),
            scope_claims: self.scope_claims.unwrap_or(defaults.scope_claims),
            refresh_interval_s: self
                .refresh_interval_s
                .unwrap_or(DEFAULT_REFRESH_INTERVAL_S),
            max_stale_s: self.max_stale_s.unwrap_or(DEFAULT_MAX_STALE_S),
            max_token_lifetime_s: self
                .max_token_lifetime_s
                .unwrap_or(defaults.max_token_lifetime_s),
        }
    }
}

impl ServerDefinition {
    /// The validation settings the token pipeline uses.
    pub fn validation_config(&self) -> ServerConfig {
        ServerConfig {
            name: self.name.clone(),
            preset: self.preset,
            issuer: self.issuer.clone(),
            audiences: self.audiences.clone(),
            client_ids: self.client_ids.clone(),
            client_id_claims: self.client_id_claims.clone(),
            allowed_algs: self.allowed_algs.clone(),
            clock_skew_s: self.clock_skew_s,
            require_typ_at_jwt: self.require_typ_at_jwt,
            scope_claims: self.scope_claims.clone(),
            max_token_lifetime_s: self.max_token_lifetime_s,
        }
    }

    /// True when neither audience nor client id is checked (RFC 8725 §3.9 warning).
    pub fn accepts_any_audience(&self) -> bool {
        self.audiences.is_empty() && self.client_ids.is_empty()
    }

    /// Every field-level problem; empty means the definition may be saved.
    pub fn field_errors(&self, rules: UrlRules) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = self
            .validation_config()
            .field_errors()
            .into_iter()
            .filter(|e| e.field != "name")
            .collect();
        let mut fail = |field: &str, message: String| errors.push(FieldError::new(field, message));
        if let Err(message) = check_name(&self.name) {
            fail("name", message);
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            fail(
                "description",
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
        match (&self.jwks_uri, &self.metadata_url) {
            (None, None) => fail("jwksUri", "give a JWKS URL or a metadata URL".into()),
            (jwks, metadata) => {
                if let Some(Err(message)) = jwks.as_deref().map(|u| check_fetch_url(u, rules)) {
                    fail("jwksUri", message);
                }
                if let Some(Err(message)) = metadata.as_deref().map(|u| check_fetch_url(u, rules)) {
                    fail("metadataUrl", message);
                }
            }
        }
        if let Some(Err(err)) = self.ca_bundle_pem.as_deref().map(parse_ca_bundle) {
            fail(
                "caBundlePem",
                format!(
                    "must be PEM CA certificates, at most {MAX_CA_BUNDLE_BYTES} bytes: the bundle {err}"
                ),
            );
        }
        if !(MIN_REFRESH_INTERVAL_S..=MAX_REFRESH_INTERVAL_S).contains(&self.refresh_interval_s) {
            fail(
                "refreshIntervalS",
                format!("between {MIN_REFRESH_INTERVAL_S} and {MAX_REFRESH_INTERVAL_S} seconds"),
            );
        }
        if self.max_stale_s < self.refresh_interval_s || self.max_stale_s > MAX_MAX_STALE_S {
            fail(
                "maxStaleS",
                format!("between the refresh interval and {MAX_MAX_STALE_S} seconds"),
            );
        }
        errors
    }
}

/// A JWKS or metadata URL: absolute `https`, or `http` to loopback when the deployment allows
/// insecure JWKS; no credentials, no fragment.
pub fn check_fetch_url(url: &str, rules: UrlRules) -> Result<(), String> {
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be a URL without spaces, at most 2048 characters".into());
    }
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !rules.allow_insecure {
            return Err("must use https (plain http is only allowed when the deployment sets allow_insecure_jwks)".into());
        }
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if !(host == "localhost" || host == "[::1]" || host.starts_with("127.")) {
            return Err("plain http is only allowed to loopback addresses".into());
        }
        rest
    } else {
        return Err("must be an absolute https URL".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("URL has no host".into());
    }
    if authority.contains('@') {
        return Err("URL must not contain credentials".into());
    }
    if url.contains('#') {
        return Err("URL must not have a fragment".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> ServerInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn resolves_preset_defaults() {
        let def = input(serde_json::json!({"name": "okta-prod", "preset": "okta",
            "jwksUri": "https://acme.okta.com/oauth2/default/v1/keys"}))
        .resolve();
        assert_eq!(def.allowed_algs, vec![Algorithm::RS256]);
        assert_eq!(def.scope_claims, vec!["scp".to_owned()]);
        assert!(def.enabled && def.verify_tls);
        assert!(def.field_errors(UrlRules::default()).is_empty());
        assert!(def.accepts_any_audience());
        assert_eq!(def.max_token_lifetime_s, 86_400);
    }

    /// `maxTokenLifetimeS`: omitted → the preset's vendor maximum; given → kept (0 = off);
    /// above one year → a field error; missing from a stored definition → 86,400.
    #[test]
    fn max_token_lifetime() {
        let with = |extra: serde_json::Value| {
            let mut body = serde_json::json!({"name": "s", "jwksUri": "https://idp/keys"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            input(body).resolve()
        };
        for (extra, lifetime, valid) in [
            (serde_json::json!({}), 86_400, true),
            (serde_json::json!({"preset": "okta"}), 86_400, true),
            (serde_json::json!({"preset": "entra_v1"}), 100_800, true),
            (serde_json::json!({"preset": "entra_v2"}), 100_800, true),
            (serde_json::json!({"preset": "pingfederate"}), 86_400, true),
            (serde_json::json!({"preset": "pingone"}), 86_400, true),
            (serde_json::json!({"maxTokenLifetimeS": 0}), 0, true),
            (serde_json::json!({"maxTokenLifetimeS": 3600}), 3600, true),
            (
                serde_json::json!({"preset": "entra_v2", "maxTokenLifetimeS": 600}),
                600,
                true,
            ),
            (
                serde_json::json!({"maxTokenLifetimeS": 31_536_000}),
                31_536_000,
                true,
            ),
            (
                serde_json::json!({"maxTokenLifetimeS": 31_536_001}),
                31_536_001,
                false,
            ),
        ] {
            let def = with(extra.clone());
            assert_eq!(def.max_token_lifetime_s, lifetime, "{extra}");
            assert_eq!(def.validation_config().max_token_lifetime_s, lifetime);
            let errors = def.field_errors(UrlRules::default());
            assert_eq!(errors.is_empty(), valid, "{extra}: {errors:?}");
            if !valid {
                assert_eq!(errors[0].field, "maxTokenLifetimeS");
            }
        }
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!("86400"),
            serde_json::json!(4_294_967_296_u64),
        ] {
            let parsed: Result<ServerInput, _> = serde_json::from_value(
                serde_json::json!({"name": "s", "maxTokenLifetimeS": bad.clone()}),
            );
            assert!(parsed.is_err(), "{bad}");
        }
        // A definition stored before the setting existed reads as the product default.
        let mut stored =
            serde_json::to_value(with(serde_json::json!({"preset": "entra_v2"}))).unwrap();
        stored.as_object_mut().unwrap().remove("maxTokenLifetimeS");
        let read: ServerDefinition = serde_json::from_value(stored).unwrap();
        assert_eq!(read.max_token_lifetime_s, 86_400);
    }

    #[test]
    fn ca_bundle_must_be_certificates() {
        let with_bundle = |pem: &str| {
            input(
                serde_json::json!({"name": "onprem", "jwksUri": "https://idp.corp/keys",
                "caBundlePem": pem}),
            )
            .resolve()
            .field_errors(UrlRules::default())
        };
        assert!(with_bundle(crate::ca_bundle::tests::CA).is_empty());
        assert!(with_bundle("  ").is_empty(), "blank means no bundle");
        for (pem, says) in [
            ("not pem at all", "contains no certificate"),
            (
                "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----",
                "not a usable X.509 certificate",
            ),
            (
                "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----",
                "not valid PEM",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                "private key",
            ),
        ] {
            let errors = with_bundle(pem);
            assert_eq!(errors.len(), 1, "{pem}: {errors:?}");
            assert_eq!(errors[0].field, "caBundlePem");
            assert!(errors[0].message.contains(says), "{pem}: {errors:?}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<ServerInput, _> =
            serde_json::from_value(serde_json::json!({"name": "x", "jwksUrl": "https://x"}));
        assert!(
            parsed
                .unwrap_err()
                .to_string()
                .contains("unknown field `jwksUrl`")
        );
    }

    #[test]
    fn field_errors_name_each_field() {
        let def = input(
            serde_json::json!({"name": "bad name", "description": "d".repeat(257),
            "jwksUri": "http://idp.example.com/keys", "metadataUrl": "https://user:pw@idp/x",
            "refreshIntervalS": 10, "clockSkewS": 900, "maxTokenLifetimeS": 31_536_001}),
        )
        .resolve();
        let fields: Vec<String> = def
            .field_errors(UrlRules::default())
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in [
            "name",
            "description",
            "jwksUri",
            "metadataUrl",
            "refreshIntervalS",
            "clockSkewS",
            "maxTokenLifetimeS",
        ] {
            assert!(
                fields.contains(&f.to_owned()),
                "{f} missing from {fields:?}"
            );
        }
        let none = input(serde_json::json!({"name": "x"})).resolve();
        assert_eq!(none.field_errors(UrlRules::default())[0].field, "jwksUri");
    }

    #[test]
    fn insecure_urls_only_to_loopback_when_allowed() {
        let strict = UrlRules {
            allow_insecure: false,
        };
        let lax = UrlRules {
            allow_insecure: true,
        };
        assert!(check_fetch_url("http://127.0.0.1:8080/keys", strict).is_err());
        assert!(check_fetch_url("http://127.0.0.1:8080/keys", lax).is_ok());
        assert!(check_fetch_url("http://10.0.0.1/keys", lax).is_err());
        assert!(check_fetch_url("https://idp.example.com/keys", strict).is_ok());
        assert!(check_fetch_url("ftp://idp/keys", lax).is_err());
        assert!(check_fetch_url("https:///keys", lax).is_err());
    }
}

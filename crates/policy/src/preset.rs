//! Vendor presets: data that fills an authorization server's defaults and turns a bare
//! rejection into advice ("this is an Entra v1 token", "Okta org server tokens cannot be
//! validated"). Facts come from ../shared/VENDORS.md.

use portcullis_jose::Algorithm;
use serde::{Deserialize, Serialize};

use crate::limits::DEFAULT_MAX_TOKEN_LIFETIME_S;

/// Entra ID's longest access-token lifetime: CAE-capable clients get tokens of 20–28 hours
/// (../shared/VENDORS.md, Entra "Lifetime"); the configurable lifetime policy stops at 1 day.
pub const ENTRA_MAX_TOKEN_LIFETIME_S: u32 = 28 * 3600;

/// The vendor an authorization server is configured for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Any RFC 8414 / OIDC server (RFC 9068 shapes).
    #[default]
    Generic,
    /// Okta custom authorization server.
    Okta,
    /// Microsoft Entra ID, v1.0 access tokens (`https://sts.windows.net/{tid}/`).
    EntraV1,
    /// Microsoft Entra ID, v2.0 access tokens (`https://login.microsoftonline.com/{tid}/v2.0`).
    EntraV2,
    /// PingFederate JWT access token manager.
    Pingfederate,
    /// PingOne.
    Pingone,
}

/// What a preset fills in when the admin leaves a field empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetDefaults {
    /// Accepted algorithms.
    pub allowed_algs: Vec<Algorithm>,
    /// Claims that carry scopes (merged).
    pub scope_claims: Vec<String>,
    /// Claims that carry the client id, first present wins.
    pub client_id_claims: Vec<String>,
    /// Longest accepted token lifetime in seconds (see [`Preset::max_token_lifetime_s`]).
    pub max_token_lifetime_s: u32,
}

/// The product-wide default client-id claim order (DESIGN.md §1.1).
pub const DEFAULT_CLIENT_ID_CLAIMS: [&str; 4] = ["client_id", "cid", "appid", "azp"];
/// The product-wide default scope claims (DESIGN.md §1.1).
pub const DEFAULT_SCOPE_CLAIMS: [&str; 3] = ["scope", "scp", "roles"];

/// Microsoft Graph's audiences: tokens for them are not validatable by anyone but Microsoft.
pub const GRAPH_AUDIENCES: [&str; 3] = [
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
    "https://graph.microsoft.com/",
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Preset {
    /// All presets, for pickers and docs.
    pub const ALL: [Preset; 6] = [
        Preset::Generic,
        Preset::Okta,
        Preset::EntraV1,
        Preset::EntraV2,
        Preset::Pingfederate,
        Preset::Pingone,
    ];

    /// The wire name (`entra_v2`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Generic => "generic",
            Preset::Okta => "okta",
            Preset::EntraV1 => "entra_v1",
            Preset::EntraV2 => "entra_v2",
            Preset::Pingfederate => "pingfederate",
            Preset::Pingone => "pingone",
        }
    }

    /// Defaults for this vendor. Vendor presets narrow scope claims to what the vendor really
    /// sends, so that an unrelated custom claim named like a scope claim is not read as scopes.
    pub fn defaults(self) -> PresetDefaults {
        let rs256 = vec![Algorithm::RS256];
        let (allowed_algs, scope_claims): (Vec<Algorithm>, &[&str]) = match self {
            Preset::Generic => (Algorithm::ALL.to_vec(), &DEFAULT_SCOPE_CLAIMS),
            Preset::Okta => (rs256, &["scp"]),
            Preset::EntraV1 | Preset::EntraV2 => (rs256, &["scp", "roles"]),
            Preset::Pingfederate => (
                Algorithm::ALL
                    .into_iter()
                    .filter(|a| *a != Algorithm::EdDSA)
                    .collect(),
                &["scope", "scp"],
            ),
            Preset::Pingone => (rs256, &["scope"]),
        };
        PresetDefaults {
            allowed_algs,
            scope_claims: strings(scope_claims),
            client_id_claims: strings(&DEFAULT_CLIENT_ID_CLAIMS),
            max_token_lifetime_s: self.max_token_lifetime_s(),
        }
    }

    /// The vendor's longest access-token lifetime, the preset's default `max_token_lifetime_s`
    /// (facts from ../shared/VENDORS.md):
    /// - Okta: access tokens live 5 min to 24 h (default 1 h) → 86,400.
    /// - Entra v1/v2: default 60–90 min, lifetime policy up to 1 day, but CAE-capable clients
    ///   receive 20–28 h tokens → 100,800 (28 h), so CAE tokens are not refused.
    /// - PingFederate: default 120 min, extendable per contract with no documented maximum →
    ///   the product default 86,400.
    /// - PingOne and generic: no vendor maximum documented → the product default 86,400.
    pub fn max_token_lifetime_s(self) -> u32 {
        match self {
            Preset::EntraV1 | Preset::EntraV2 => ENTRA_MAX_TOKEN_LIFETIME_S,
            Preset::Generic | Preset::Okta | Preset::Pingfederate | Preset::Pingone => {
                DEFAULT_MAX_TOKEN_LIFETIME_S
            }
        }
    }

    /// An issuer example for forms and error messages.
    pub fn issuer_example(self) -> &'static str {
        match self {
            Preset::Generic => "https://idp.example.com",
            Preset::Okta => "https://acme.okta.com/oauth2/default",
            Preset::EntraV1 => "https://sts.windows.net/{tenantid}/",
            Preset::EntraV2 => "https://login.microsoftonline.com/{tenantid}/v2.0",
            Preset::Pingfederate => "https://pf.example.com",
            Preset::Pingone => "https://auth.pingone.com/{environmentId}/as",
        }
    }

    /// A preset-specific problem with a configured issuer, if any (used for field errors).
    pub fn issuer_problem(self, issuer: &str) -> Option<String> {
        match self {
            Preset::Okta if !issuer.contains("/oauth2/") => Some(
                "Okta org authorization server tokens cannot be validated by third parties; \
                 use a custom authorization server issuer such as https://{yourOktaDomain}/oauth2/default"
                    .into(),
            ),
            Preset::EntraV1 if !issuer.starts_with("https://sts.windows.net/") || !issuer.ends_with('/') => {
                Some("Entra v1.0 issuers look like https://sts.windows.net/{tenantid}/ (with the trailing slash)".into())
            }
            Preset::EntraV2 if !issuer.starts_with("https://login.") || !issuer.ends_with("/v2.0") => Some(
                "Entra v2.0 issuers look like https://login.microsoftonline.com/{tenantid}/v2.0".into(),
            ),
            Preset::Pingone if !issuer.ends_with("/as") => {
                Some("PingOne issuers look like https://auth.pingone.com/{environmentId}/as".into())
            }
            _ => None,
        }
    }
}

/// Advice attached to a rejection, from what the token and the configuration look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorHint {
    /// Entra token for Microsoft Graph or another Microsoft API (header `nonce` or Graph `aud`).
    EntraTokenForMicrosoftApi,
    /// An Entra v1.0 token (`sts.windows.net`) met a server configured for v2.0 issuers.
    EntraV1TokenOnV2Server,
    /// An Entra v2.0 token met a server configured for v1.0 issuers.
    EntraV2TokenOnV1Server,
    /// An Okta org authorization server token (issuer without `/oauth2/`).
    OktaOrgServerToken,
    /// Okta's internal token type header.
    OktaInternalTokenType,
    /// HS* algorithm from PingFederate: its JWT ATM is using a symmetric key.
    PingFederateSymmetricKey,
    /// Token issuer and configured issuer differ only by a trailing slash.
    IssuerTrailingSlash,
    /// No client-id claim under the configured names; the vendors use different ones.
    ClientIdClaimNames,
    /// An ID token was presented where an access token is needed.
    IdTokenNotAccessToken,
    /// The token lives longer than the server's `max_token_lifetime_s`.
    TokenLifetimeLimit,
}

impl VendorHint {
    /// The advice, for operators and client developers.
    pub fn text(self) -> &'static str {
        match self {
            VendorHint::EntraTokenForMicrosoftApi => {
                "this Entra token was issued for Microsoft Graph or another Microsoft API and cannot be validated by anyone else; request a token for your own API (scope api://<app-id>/.default)"
            }
            VendorHint::EntraV1TokenOnV2Server => {
                "this is an Entra v1.0 token (issuer https://sts.windows.net/{tid}/); use the entra_v1 preset, or set accessTokenAcceptedVersion to 2 in the API's app manifest"
            }
            VendorHint::EntraV2TokenOnV1Server => {
                "this is an Entra v2.0 token (issuer https://login.microsoftonline.com/{tid}/v2.0); use the entra_v2 preset"
            }
            VendorHint::OktaOrgServerToken => {
                "this token comes from an Okta org authorization server (issuer without /oauth2/); only custom authorization server tokens can be validated by third parties"
            }
            VendorHint::OktaInternalTokenType => {
                "typ application/okta-internal-at+jwt marks an Okta-internal token that third parties must not validate"
            }
            VendorHint::PingFederateSymmetricKey => {
                "the PingFederate access token manager signs with a symmetric HS* key; configure it to sign with RS256 and a certificate"
            }
            VendorHint::IssuerTrailingSlash => {
                "the token issuer differs from the configured issuer only by a trailing slash; issuers are compared exactly"
            }
            VendorHint::ClientIdClaimNames => {
                "client id claims differ by vendor: Okta `cid`, Entra v1 `appid`, Entra v2 `azp`, PingFederate and PingOne `client_id`"
            }
            VendorHint::IdTokenNotAccessToken => {
                "this looks like an OpenID Connect ID token; send an access token issued for this API"
            }
            VendorHint::TokenLifetimeLimit => {
                "the issuer mints tokens that live longer than this server's maxTokenLifetimeS (default 86400 s; Okta allows at most 24 h, Entra CAE tokens up to 28 h); shorten the issuer's token lifetime, or raise maxTokenLifetimeS (0 turns the check off)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each preset's `max_token_lifetime_s`, from the vendor facts in ../shared/VENDORS.md.
    #[test]
    fn vendor_token_lifetimes() {
        for (preset, lifetime) in [
            (Preset::Generic, 86_400),
            (Preset::Okta, 86_400),
            (Preset::EntraV1, 100_800),
            (Preset::EntraV2, 100_800),
            (Preset::Pingfederate, 86_400),
            (Preset::Pingone, 86_400),
        ] {
            assert_eq!(preset.max_token_lifetime_s(), lifetime, "{preset:?}");
            assert_eq!(
                preset.defaults().max_token_lifetime_s,
                lifetime,
                "{preset:?}"
            );
        }
    }
}

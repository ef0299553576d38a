//! Vendor-shaped tokens against the presets (facts from `shared/VENDORS.md`).
//!
//! Every test here is one row of the `vendor_cases!` table below: which authorization server is
//! configured, which key signs, the header members and claim set the vendor sends, and what must
//! happen — accepted with a given client id, scopes and subject, or rejected with a precise
//! [`Rejection`] and [`VendorHint`]. To add a case, copy a row; the harness (`run`) needs no
//! changes. The documented vendor claim sets are functions in the "Vendor shapes" section, so
//! rejection rows can reuse them with [`patch`].
//!
//! The harness also keeps the table honest: every configured server must pass
//! [`ServerConfig::field_errors`] (a configuration the API would refuse to save is not a
//! scenario), and a hint must show up in the rejection's text.
//!
//! The `field_rules` test is a second, smaller table: the per-preset issuer rules of
//! `ServerConfig::field_errors`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use aws_lc_rs::hmac;
use portcullis_jose::{JwkSet, JwsError, base64url};
use portcullis_policy::{Preset, Rejection, ServerConfig, TrustedServer, Validator, VendorHint};
use portcullis_testkit::{TestKey, jwks, jwks_of};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Identifiers (invented values in the vendors' formats)
// ---------------------------------------------------------------------------------------------

/// An API-role scope of this deployment (DESIGN.md §1.2).
const ROLE: &str = "portcullis.local::272378::automation";

const OKTA_ORG: &str = "https://acme.okta.com";
const OKTA_ISS: &str = "https://acme.okta.com/oauth2/aus8ahm2k7xyz";
const OKTA_DEFAULT_ISS: &str = "https://acme.okta.com/oauth2/default";
const OKTA_AUD: &str = "api://portcullis";
const OKTA_CID: &str = "0oa8acv8gbBPRCZ7I5d7";
const OKTA_SPA_CID: &str = "0oa9spa1x2y3z4w5v6u7";
const OKTA_KEY: Key = Key {
    kid: "Y3vBOdYT-l-I0j-gRQ26XjutSX00TeWiSguuDhW3ngo",
    alg: "RS256",
};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT: &str = "fa15d692-e9c7-4460-a743-29f29522229a";
const ENTRA_V1_ISS: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
const ENTRA_V1_OTHER_ISS: &str = "https://sts.windows.net/fa15d692-e9c7-4460-a743-29f29522229a/";
const ENTRA_V1_TEMPLATE: &str = "https://sts.windows.net/{tenantid}/";
const ENTRA_V2_ISS: &str =
    "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
const ENTRA_V2_OTHER_ISS: &str =
    "https://login.microsoftonline.com/fa15d692-e9c7-4460-a743-29f29522229a/v2.0";
const ENTRA_V2_TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
/// The protected API's app registration (v2 `aud`).
const API_APP_ID: &str = "fe2f6a75-199e-48a5-b9ef-a7357ab78c53";
/// The same API by App ID URI (v1 client-credentials `aud`).
const API_APP_URI: &str = "api://fe2f6a75-199e-48a5-b9ef-a7357ab78c53";
/// The calling client application (`appid` v1, `azp` v2).
const CLIENT_APP_ID: &str = "75dbe77f-10a3-4e59-85fd-8c127544f17c";
/// The client's service principal object id (`oid` = `sub` for client credentials).
const CLIENT_SP_OID: &str = "3f6b8c1a-5e2d-4f7a-9b0c-1d2e3f4a5b6c";
const USER_OID: &str = "690222be-ff1a-4d56-abd1-7e4f7d38e474";
/// Microsoft Graph's application id, as an `aud`.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const ENTRA_KEY: Key = Key {
    kid: "i6lGk3FZzxRcUb2C3nEQ7syHJlY",
    alg: "RS256",
};

const PF_ISS: &str = "https://pf.example.com";
const PF_CLIENT: &str = "automation_client";
const API_RESOURCE: &str = "https://api.portcullis.local";
const PF_KEY: Key = Key {
    kid: "pf-jwt-1",
    alg: "RS256",
};
const PF_EC_KEY: Key = Key {
    kid: "pf-jwt-ec",
    alg: "ES256",
};
/// An access token manager that signs with a symmetric key (the JWKS still publishes RSA keys).
const PF_HMAC_KEY: Key = Key {
    kid: "pf-hmac-1",
    alg: "HS256",
};

const PINGONE_ISS: &str = "https://auth.pingone.com/2f7d1b7e-0a4c-4e55-9d3b-8a6f2c1d4e5f/as";
const PINGONE_CLIENT: &str = "c4e2b1a0-6d5f-4e3a-8b9c-0a1b2c3d4e5f";
const PINGONE_KEY: Key = Key {
    kid: "b2a1c0d9-e8f7-4a6b-9c5d-3e2f1a0b9c8d",
    alg: "RS256",
};

const GENERIC_ISS: &str = "https://idp.example.com";
const GENERIC_CLIENT: &str = "s6BhdRkqt3";
const GENERIC_KEY: Key = Key {
    kid: "at-2024-1",
    alg: "RS256",
};

// ---------------------------------------------------------------------------------------------
// Vendor shapes: claim sets exactly as VENDORS.md documents them, fresh around `now()`
// ---------------------------------------------------------------------------------------------

mod shape {
    use super::*;

    /// Okta custom authorization server, client credentials (VENDORS.md §2.1): `cid`, `scp` array,
    /// `sub` = client id, no `uid`.
    pub fn okta_client_credentials() -> Value {
        json!({"ver": 1, "jti": "AT.xtjhr8FeMkyMfgLiFzVYOYPbgqWdd6ONULT3ffeK7d4",
               "iss": OKTA_ISS, "aud": OKTA_AUD,
               "iat": now(), "exp": now() + 3600,
               "cid": OKTA_CID, "scp": [ROLE], "sub": OKTA_CID})
    }

    /// Okta `default` custom authorization server, authorization-code user token: `uid`, `sub` = user
    /// login, `auth_time`, audience `api://default`.
    pub fn okta_user_token() -> Value {
        json!({"ver": 1, "jti": "AT.Qm9vZ2xlLWlzLW5vdC1va3RhLWJ1dC10aGlzLWlzLWZha2U",
               "iss": OKTA_DEFAULT_ISS, "aud": "api://default",
               "iat": now(), "exp": now() + 3600, "auth_time": now() - 30,
               "cid": OKTA_SPA_CID, "uid": "00u1a2b3c4d5e6f7g8h9",
               "scp": ["openid", "profile", "portcullis.read"], "sub": "alice@acme.example"})
    }

    /// An Okta org authorization server token: issuer without `/oauth2/`, audience the org itself.
    pub fn okta_org_token() -> Value {
        json!({"ver": 1, "jti": "AT.b3JnLWF1dGhvcml6YXRpb24tc2VydmVyLXRva2Vu",
               "iss": OKTA_ORG, "aud": OKTA_ORG,
               "iat": now(), "exp": now() + 3600,
               "cid": OKTA_CID, "uid": "00u1a2b3c4d5e6f7g8h9",
               "scp": ["okta.users.read"], "sub": "alice@acme.example"})
    }

    /// An Okta OpenID Connect ID token (audience = the client id, `nonce`, `at_hash`).
    pub fn okta_id_token() -> Value {
        json!({"ver": 1, "jti": "ID.4eAWJOCMB3SX8XewDfVR",
               "iss": OKTA_ISS, "aud": OKTA_SPA_CID,
               "iat": now(), "exp": now() + 3600, "auth_time": now() - 30,
               "sub": "00u1a2b3c4d5e6f7g8h9", "idp": "00o1a2b3c4d5e6f7g8h9",
               "amr": ["pwd"], "nonce": "n-0S6_WzA2Mj", "at_hash": "MTIzNDU2Nzg5MDEyMzQ1Ng",
               "preferred_username": "alice@acme.example"})
    }

    /// Entra ID v1.0 client-credentials token (the Zscaler-guide shape, VENDORS.md §2.2): `appid`,
    /// `roles` array, no `scp`, `aud` = App ID URI.
    pub fn entra_v1_client_credentials() -> Value {
        json!({"aud": API_APP_URI, "iss": ENTRA_V1_ISS,
               "iat": now(), "nbf": now(), "exp": now() + 4500,
               "aio": "E2ZgYJi0lXtqb+Lr3v5/AAAA", "appid": CLIENT_APP_ID, "appidacr": "1",
               "idp": ENTRA_V1_ISS, "oid": CLIENT_SP_OID, "rh": "0.AAAAv4j5cvGGr0GRqy180BHbRw.",
               "roles": [ROLE], "sub": CLIENT_SP_OID, "tid": TENANT,
               "uti": "FVsGxYXI30-TuikuuUoFAA", "ver": "1.0"})
    }

    /// Entra ID v1.0 delegated (user) token, Microsoft's documented sample: `scp` space-separated
    /// string, `aud` = the API's client id, `acr`/`amr`/`unique_name`.
    pub fn entra_v1_user_token() -> Value {
        json!({"aud": API_APP_ID, "iss": ENTRA_V1_ISS,
               "iat": now(), "nbf": now(), "exp": now() + 3900,
               "acr": "1", "aio": "AVQAq/8IAAAA", "amr": ["wia"],
               "appid": CLIENT_APP_ID, "appidacr": "0", "idp": ENTRA_V1_ISS,
               "ipaddr": "203.0.113.7", "name": "Abe Lincoln", "oid": USER_OID,
               "rh": "I", "scp": "user_impersonation", "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
               "tid": TENANT, "unique_name": "abeli@microsoft.com",
               "uti": "FVsGxYXI30-TuikuuUoFAA", "ver": "1.0"})
    }

    /// Entra ID v2.0 client-credentials token: `azp`, `roles` array, `aud` = API client id GUID.
    pub fn entra_v2_client_credentials() -> Value {
        json!({"aud": API_APP_ID, "iss": ENTRA_V2_ISS,
               "iat": now(), "nbf": now(), "exp": now() + 4500,
               "aio": "E2ZgYJi0lXtqb+Lr3v5/AAAA", "azp": CLIENT_APP_ID, "azpacr": "1",
               "idtyp": "app", "oid": CLIENT_SP_OID, "rh": "0.AAAAv4j5cvGGr0GRqy180BHbRw.",
               "roles": [ROLE], "sub": CLIENT_SP_OID, "tid": TENANT,
               "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0"})
    }

    /// Entra ID v2.0 delegated (user) token, Microsoft's documented sample: `azp`, `scp` string.
    pub fn entra_v2_user_token() -> Value {
        json!({"aud": API_APP_ID, "iss": ENTRA_V2_ISS,
               "iat": now(), "nbf": now(), "exp": now() + 3900,
               "aio": "AVQAq/8IAAAA", "azp": CLIENT_APP_ID, "azpacr": "0",
               "name": "Abe Lincoln", "oid": USER_OID, "preferred_username": "abeli@microsoft.com",
               "rh": "I", "scp": "access_as_user", "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
               "tid": TENANT, "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0"})
    }

    /// Entra ID v1.0 token for Microsoft Graph (what a client gets for `https://graph.microsoft.com`).
    pub fn entra_graph_token() -> Value {
        json!({"aud": "https://graph.microsoft.com", "iss": ENTRA_V1_ISS,
               "iat": now(), "nbf": now(), "exp": now() + 4500,
               "app_displayname": "automation", "appid": CLIENT_APP_ID, "appidacr": "1",
               "idp": ENTRA_V1_ISS, "idtyp": "app", "oid": CLIENT_SP_OID,
               "roles": ["User.Read.All"], "sub": CLIENT_SP_OID, "tid": TENANT,
               "uti": "FVsGxYXI30-TuikuuUoFAA", "ver": "1.0"})
    }

    /// PingFederate JWT access token manager, Zscaler configuration (VENDORS.md §2.3): `scp` JSON
    /// array ("Space Delimit Scope Values" unchecked), `client_id`, no `sub`.
    pub fn pingfederate_token() -> Value {
        json!({"scp": [ROLE], "client_id": PF_CLIENT, "userPrincipalName": "svc",
               "iss": PF_ISS, "aud": API_RESOURCE, "jti": "Zr1o2xQxKj3c0Ps8dD0aHk",
               "iat": now(), "exp": now() + 7200})
    }

    /// PingOne client-credentials token (VENDORS.md §2.4): `client_id`, `scope` string, `aud` list of
    /// resource names, no `sub`/`sid`.
    pub fn pingone_client_credentials() -> Value {
        json!({"client_id": PINGONE_CLIENT, "iss": PINGONE_ISS,
               "jti": "f1d2c3b4-a596-4877-8899-aabbccddeeff",
               "iat": now(), "exp": now() + 3600,
               "aud": [API_RESOURCE], "scope": format!("{ROLE} portcullis.read"),
               "env": "2f7d1b7e-0a4c-4e55-9d3b-8a6f2c1d4e5f"})
    }

    /// RFC 9068 access token: all required claims (`iss`, `exp`, `aud`, `sub`, `client_id`, `iat`,
    /// `jti`), `scope` as a space-separated string.
    pub fn rfc9068_token() -> Value {
        json!({"iss": GENERIC_ISS, "exp": now() + 600, "aud": API_RESOURCE,
               "sub": "5ba552d67", "client_id": GENERIC_CLIENT, "iat": now(),
               "jti": "dbe39bf3a3ba4238a513f51d6e1691c4", "auth_time": now() - 60,
               "scope": "openid profile reademail"})
    }
}

// ---------------------------------------------------------------------------------------------
// Servers: each preset configured the way its documentation says
// ---------------------------------------------------------------------------------------------

fn okta() -> ServerConfig {
    ServerConfig::new("okta-prod", Preset::Okta)
        .with_issuer(OKTA_ISS)
        .with_audiences(&[OKTA_AUD])
        .with_client_ids(&[OKTA_CID])
}

fn entra_v1() -> ServerConfig {
    ServerConfig::new("entra-v1", Preset::EntraV1)
        .with_issuer(ENTRA_V1_ISS)
        .with_audiences(&[API_APP_URI, API_APP_ID])
        .with_client_ids(&[CLIENT_APP_ID])
}

fn entra_v2() -> ServerConfig {
    ServerConfig::new("entra-v2", Preset::EntraV2)
        .with_issuer(ENTRA_V2_ISS)
        .with_audiences(&[API_APP_ID])
        .with_client_ids(&[CLIENT_APP_ID])
}

/// A multi-tenant API: any tenant's token, the tenant checked by `tid` substitution.
fn entra_v2_multi_tenant() -> ServerConfig {
    ServerConfig::new("entra-multi", Preset::EntraV2)
        .with_issuer(ENTRA_V2_TEMPLATE)
        .with_audiences(&[API_APP_ID])
}

fn pingfederate() -> ServerConfig {
    ServerConfig::new("pingfederate", Preset::Pingfederate)
        .with_issuer(PF_ISS)
        .with_audiences(&[API_RESOURCE])
        .with_client_ids(&[PF_CLIENT])
}

fn pingone() -> ServerConfig {
    ServerConfig::new("pingone", Preset::Pingone)
        .with_issuer(PINGONE_ISS)
        .with_audiences(&[API_RESOURCE])
        .with_client_ids(&[PINGONE_CLIENT])
}

/// RFC 9068 strict: explicit `at+jwt` typing required.
fn generic_strict() -> ServerConfig {
    ServerConfig {
        require_typ_at_jwt: true,
        ..ServerConfig::new("rfc9068", Preset::Generic)
            .with_issuer(GENERIC_ISS)
            .with_audiences(&[API_RESOURCE])
            .with_client_ids(&[GENERIC_CLIENT])
    }
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

vendor_cases! {
    // --- Okta -------------------------------------------------------------------------------

    /// Client credentials from a custom AS: client id from `cid`, scopes from the `scp` array,
    /// header without `typ`.
    okta_custom_as_client_credentials: Case {
        server: okta(),
        key: OKTA_KEY,
        header: json!({}),
        claims: shape::okta_client_credentials(),
        expect: Accept { client_id: Some(OKTA_CID), scopes: &[ROLE], subject: Some(OKTA_CID) },
    };

    /// Okta access tokens live at most 24 h: exactly 24 h is accepted...
    okta_token_24_hours: Case {
        server: okta(),
        key: OKTA_KEY,
        header: json!({}),
        claims: patch(shape::okta_client_credentials(), json!({"exp": now() + 86_400})),
        expect: Accept { client_id: Some(OKTA_CID), scopes: &[ROLE], subject: Some(OKTA_CID) },
    };

    /// ...and a token claiming a longer life did not come from a correctly working Okta.
    okta_token_longer_than_24_hours: Case {
        server: okta(),
        key: OKTA_KEY,
        header: json!({}),
        claims: patch(shape::okta_client_credentials(), json!({"exp": now() + 86_401})),
        expect: Reject {
            rejection: Rejection::TokenLifetimeExceeded { lifetime: 86_401.0, max: 86_400, from_iat: true },
            hint: Some(VendorHint::TokenLifetimeLimit),
        },
    };

    /// User token from the `default` custom AS: `sub` is the user, the client is `cid`.
    okta_default_as_user_token: Case {
        server: ServerConfig::new("okta-default", Preset::Okta)
            .with_issuer(OKTA_DEFAULT_ISS)
            .with_audiences(&["api://default"]),
        key: OKTA_KEY,
        header: json!({}),
        claims: shape::okta_user_token(),
        expect: Accept {
            client_id: Some(OKTA_SPA_CID),
            scopes: &["openid", "profile", "portcullis.read"],
            subject: Some("alice@acme.example"),
        },
    };

    /// Org authorization server token met by a custom-AS configuration: not validatable by
    /// third parties, and the hint says so.
    okta_org_server_token: Case {
        server: okta(),
        key: OKTA_KEY,
        header: json!({"typ": "application/okta-internal-at+jwt"}),
        claims: shape::okta_org_token(),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(OKTA_ORG.into()) },
            hint: Some(VendorHint::OktaOrgServerToken),
        },
    };

    /// The okta preset refuses an org issuer (see `field_rules`), so an admin falls back to the
    /// generic preset: the internal token type is still refused, with the Okta hint.
    okta_org_server_token_on_generic_server: Case {
        server: ServerConfig::new("okta-org", Preset::Generic)
            .with_issuer(OKTA_ORG)
            .with_client_ids(&[OKTA_CID]),
        key: OKTA_KEY,
        header: json!({"typ": "application/okta-internal-at+jwt"}),
        claims: shape::okta_org_token(),
        expect: Reject {
            rejection: Rejection::WrongTokenType("application/okta-internal-at+jwt".into()),
            hint: Some(VendorHint::OktaInternalTokenType),
        },
    };

    /// Okta may change the header of its tokens without notice: an internal `typ` is refused
    /// even on a custom-AS issuer.
    okta_internal_token_type_on_custom_as: Case {
        server: okta(),
        key: OKTA_KEY,
        header: json!({"typ": "application/okta-internal-at+jwt"}),
        claims: shape::okta_client_credentials(),
        expect: Reject {
            rejection: Rejection::WrongTokenType("application/okta-internal-at+jwt".into()),
            hint: Some(VendorHint::OktaInternalTokenType),
        },
    };

    /// Issuer configured with a trailing slash Okta never sends: exact comparison, with a hint.
    okta_issuer_configured_with_trailing_slash: Case {
        server: ServerConfig::new("okta-slash", Preset::Okta)
            .with_issuer("https://acme.okta.com/oauth2/aus8ahm2k7xyz/")
            .with_audiences(&[OKTA_AUD]),
        key: OKTA_KEY,
        header: json!({}),
        claims: shape::okta_client_credentials(),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(OKTA_ISS.into()) },
            hint: Some(VendorHint::IssuerTrailingSlash),
        },
    };

    /// An ID token sent as a bearer token to a server that checks neither audience nor client id.
    okta_id_token_is_not_an_access_token: Case {
        server: ServerConfig::new("okta-open", Preset::Okta).with_issuer(OKTA_ISS),
        key: OKTA_KEY,
        header: json!({}),
        claims: shape::okta_id_token(),
        expect: Reject {
            rejection: Rejection::IdToken("nonce"),
            hint: Some(VendorHint::IdTokenNotAccessToken),
        },
    };

    /// Another application of the same Okta tenant: its `cid` is not configured.
    okta_client_not_configured: Case {
        server: okta(),
        key: OKTA_KEY,
        header: json!({}),
        claims: patch(shape::okta_client_credentials(), json!({"cid": OKTA_SPA_CID, "sub": OKTA_SPA_CID})),
        expect: Reject {
            rejection: Rejection::ClientIdMismatch { claim: "cid".into(), actual: OKTA_SPA_CID.into() },
            hint: None,
        },
    };

    // --- Entra ID v1.0 ----------------------------------------------------------------------

    /// Client credentials: client id from `appid`, scopes from `roles`; header `typ: JWT` and
    /// `x5t` = `kid`.
    entra_v1_client_credentials: Case {
        server: entra_v1(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_v1_client_credentials(),
        expect: Accept { client_id: Some(CLIENT_APP_ID), scopes: &[ROLE], subject: Some(CLIENT_SP_OID) },
    };

    /// Delegated user token: `scp` is a space-separated string; `aud` is the API's client id.
    entra_v1_user_token: Case {
        server: entra_v1(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_v1_user_token(),
        expect: Accept {
            client_id: Some(CLIENT_APP_ID),
            scopes: &["user_impersonation"],
            subject: Some("l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA"),
        },
    };

    /// Multi-tenant v1 API: `https://sts.windows.net/{tenantid}/` with `tid` substitution.
    entra_v1_multi_tenant_template: Case {
        server: ServerConfig::new("entra-v1-multi", Preset::EntraV1)
            .with_issuer(ENTRA_V1_TEMPLATE)
            .with_audiences(&[API_APP_URI]),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: patch(shape::entra_v1_client_credentials(),
                      json!({"iss": ENTRA_V1_OTHER_ISS, "idp": ENTRA_V1_OTHER_ISS, "tid": OTHER_TENANT})),
        expect: Accept { client_id: Some(CLIENT_APP_ID), scopes: &[ROLE], subject: Some(CLIENT_SP_OID) },
    };

    /// A single-tenant server given another tenant's token: unknown issuer, no vendor hint.
    entra_v1_token_from_another_tenant: Case {
        server: entra_v1(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: patch(shape::entra_v1_client_credentials(),
                      json!({"iss": ENTRA_V1_OTHER_ISS, "idp": ENTRA_V1_OTHER_ISS, "tid": OTHER_TENANT})),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(ENTRA_V1_OTHER_ISS.into()) },
            hint: None,
        },
    };

    /// The API's manifest leaves `accessTokenAcceptedVersion` null, so Entra sends v1 tokens to a
    /// server configured for v2.
    entra_v1_token_on_v2_server: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_v1_client_credentials(),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(ENTRA_V1_ISS.into()) },
            hint: Some(VendorHint::EntraV1TokenOnV2Server),
        },
    };

    /// The same with a multi-tenant v2 template.
    entra_v1_token_on_v2_multi_tenant_server: Case {
        server: entra_v2_multi_tenant(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_v1_client_credentials(),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(ENTRA_V1_ISS.into()) },
            hint: Some(VendorHint::EntraV1TokenOnV2Server),
        },
    };

    /// A Graph token carries a header `nonce` and is signed over a transformed value: refused
    /// at the shape step, with the "token for a Microsoft API" hint.
    entra_graph_token_with_header_nonce: Case {
        server: entra_v1(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "nonce": "AQABAAAAAAD--DLA3VO7QrddgJg7WevrVXg", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_graph_token(),
        expect: Reject {
            rejection: Rejection::Shape(JwsError::HeaderNonce),
            hint: Some(VendorHint::EntraTokenForMicrosoftApi),
        },
    };

    /// A Graph-audience token from the configured tenant (no header `nonce`): the audience check
    /// fails, and the hint explains why.
    entra_v1_graph_audience: Case {
        server: entra_v1(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_graph_token(),
        expect: Reject {
            rejection: Rejection::AudienceMismatch { actual: "https://graph.microsoft.com".into() },
            hint: Some(VendorHint::EntraTokenForMicrosoftApi),
        },
    };

    /// A Graph token (app-only, no header `nonce`) for the configured client application, on a
    /// server that checks client ids but no audience. Microsoft: tokens for its own APIs must
    /// not be validated by anyone else; VENDORS.md §2.2: give a clear error for a Graph `aud`.
    entra_graph_audience_on_server_without_audiences: Case {
        server: ServerConfig::new("entra-v1-clients", Preset::EntraV1)
            .with_issuer(ENTRA_V1_ISS)
            .with_client_ids(&[CLIENT_APP_ID]),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_graph_token(),
        expect: Reject {
            rejection: Rejection::AudienceMismatch { actual: "https://graph.microsoft.com".into() },
            hint: Some(VendorHint::EntraTokenForMicrosoftApi),
        },
    };

    /// A v1 Graph token on a v2 server: the Graph hint is the more useful one.
    entra_graph_token_on_v2_server: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT", "x5t": ENTRA_KEY.kid}),
        claims: shape::entra_graph_token(),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(ENTRA_V1_ISS.into()) },
            hint: Some(VendorHint::EntraTokenForMicrosoftApi),
        },
    };

    // --- Entra ID v2.0 ----------------------------------------------------------------------

    /// Client credentials: client id from `azp`, scopes from `roles`.
    entra_v2_client_credentials: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: shape::entra_v2_client_credentials(),
        expect: Accept { client_id: Some(CLIENT_APP_ID), scopes: &[ROLE], subject: Some(CLIENT_SP_OID) },
    };

    /// A CAE-capable client's token lives up to 28 h (VENDORS.md, Entra "Lifetime"): the
    /// Entra presets' `max_token_lifetime_s` is 100,800, so it is accepted.
    entra_v2_cae_token_28_hours: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_client_credentials(), json!({"exp": now() + 28 * 3600})),
        expect: Accept { client_id: Some(CLIENT_APP_ID), scopes: &[ROLE], subject: Some(CLIENT_SP_OID) },
    };

    /// One second past Entra's longest lifetime: refused, with the lifetime hint.
    entra_v2_token_longer_than_28_hours: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_client_credentials(), json!({"exp": now() + 28 * 3600 + 1})),
        expect: Reject {
            rejection: Rejection::TokenLifetimeExceeded { lifetime: 100_801.0, max: 100_800, from_iat: true },
            hint: Some(VendorHint::TokenLifetimeLimit),
        },
    };

    /// Delegated user token: `scp` string.
    entra_v2_user_token: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: shape::entra_v2_user_token(),
        expect: Accept {
            client_id: Some(CLIENT_APP_ID),
            scopes: &["access_as_user"],
            subject: Some("HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ"),
        },
    };

    /// Delegated token with several scopes: split on spaces.
    entra_v2_user_token_several_scopes: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_user_token(), json!({"scp": "access_as_user Files.Read"})),
        expect: Accept {
            client_id: Some(CLIENT_APP_ID),
            scopes: &["access_as_user", "Files.Read"],
            subject: Some("HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ"),
        },
    };

    /// Multi-tenant template, the home tenant.
    entra_v2_multi_tenant_home_tenant: Case {
        server: entra_v2_multi_tenant(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: shape::entra_v2_client_credentials(),
        expect: Accept { client_id: Some(CLIENT_APP_ID), scopes: &[ROLE], subject: Some(CLIENT_SP_OID) },
    };

    /// Multi-tenant template, a customer tenant: `{tenantid}` is replaced by the token's `tid`.
    entra_v2_multi_tenant_other_tenant: Case {
        server: entra_v2_multi_tenant(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_user_token(), json!({"iss": ENTRA_V2_OTHER_ISS, "tid": OTHER_TENANT})),
        expect: Accept {
            client_id: Some(CLIENT_APP_ID),
            scopes: &["access_as_user"],
            subject: Some("HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ"),
        },
    };

    /// `tid` names another tenant than the `iss` path: the template does not match.
    entra_v2_multi_tenant_tid_does_not_match_iss: Case {
        server: entra_v2_multi_tenant(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_client_credentials(), json!({"tid": OTHER_TENANT})),
        expect: Reject {
            rejection: Rejection::IssuerMismatch { expected: ENTRA_V2_TEMPLATE.into(), actual: ENTRA_V2_ISS.into() },
            hint: None,
        },
    };

    /// No `tid` at all: nothing to substitute, so no match.
    entra_v2_multi_tenant_without_tid: Case {
        server: entra_v2_multi_tenant(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_client_credentials(), json!({"tid": null})),
        expect: Reject {
            rejection: Rejection::IssuerMismatch { expected: ENTRA_V2_TEMPLATE.into(), actual: ENTRA_V2_ISS.into() },
            hint: None,
        },
    };

    /// `tid` equal to the `iss` path but not a GUID.
    entra_v2_multi_tenant_tid_not_a_guid: Case {
        server: entra_v2_multi_tenant(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_client_credentials(),
                      json!({"iss": "https://login.microsoftonline.com/contoso.com/v2.0", "tid": "contoso.com"})),
        expect: Reject {
            rejection: Rejection::IssuerMismatch {
                expected: ENTRA_V2_TEMPLATE.into(),
                actual: "https://login.microsoftonline.com/contoso.com/v2.0".into(),
            },
            hint: None,
        },
    };

    /// The API moved to `accessTokenAcceptedVersion: 2`, the server is still the v1 one.
    entra_v2_token_on_v1_server: Case {
        server: entra_v1(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: shape::entra_v2_client_credentials(),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(ENTRA_V2_ISS.into()) },
            hint: Some(VendorHint::EntraV2TokenOnV1Server),
        },
    };

    /// A Graph-audience v2-issuer token on a v2 server.
    entra_v2_graph_audience: Case {
        server: entra_v2(),
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: patch(shape::entra_v2_client_credentials(), json!({"aud": GRAPH_APP_ID})),
        expect: Reject {
            rejection: Rejection::AudienceMismatch { actual: GRAPH_APP_ID.into() },
            hint: Some(VendorHint::EntraTokenForMicrosoftApi),
        },
    };

    /// Client-id claim list copied from a v1 configuration (`appid`): v2 tokens carry `azp`.
    entra_v2_client_id_claim_configured_as_appid: Case {
        server: ServerConfig { client_id_claims: vec!["appid".into()], ..entra_v2() },
        key: ENTRA_KEY,
        header: json!({"typ": "JWT"}),
        claims: shape::entra_v2_client_credentials(),
        expect: Reject {
            rejection: Rejection::MissingClientId { looked_for: "appid".into() },
            hint: Some(VendorHint::ClientIdClaimNames),
        },
    };

    // --- PingFederate -----------------------------------------------------------------------

    /// Zscaler-style ATM: `scp` JSON array, `client_id`, no `sub`.
    pingfederate_scp_array: Case {
        server: pingfederate(),
        key: PF_KEY,
        header: json!({}),
        claims: shape::pingfederate_token(),
        expect: Accept { client_id: Some(PF_CLIENT), scopes: &[ROLE], subject: None },
    };

    /// "Space Delimit Scope Values" checked, Scope Claim Name `scope`: one string.
    pingfederate_scope_string: Case {
        server: pingfederate(),
        key: PF_KEY,
        header: json!({}),
        claims: patch(shape::pingfederate_token(), json!({"scp": null, "scope": format!("openid {ROLE}")})),
        expect: Accept { client_id: Some(PF_CLIENT), scopes: &["openid", ROLE], subject: None },
    };

    /// Issuer and Audience Claim Values left blank in PingFederate: no `iss`, no `aud`; the
    /// server is configured without an issuer and is selected by the token's `kid`.
    pingfederate_without_iss_and_aud: Case {
        server: ServerConfig::new("pingfederate-bare", Preset::Pingfederate).with_client_ids(&[PF_CLIENT]),
        key: PF_KEY,
        header: json!({}),
        claims: patch(shape::pingfederate_token(), json!({"iss": null, "aud": null})),
        expect: Accept { client_id: Some(PF_CLIENT), scopes: &[ROLE], subject: None },
    };

    /// The server expects an issuer, the ATM sends none: unknown issuer `(none)`.
    pingfederate_without_iss_on_server_with_issuer: Case {
        server: pingfederate(),
        key: PF_KEY,
        header: json!({}),
        claims: patch(shape::pingfederate_token(), json!({"iss": null})),
        expect: Reject { rejection: Rejection::UnknownIssuer { issuer: None }, hint: None },
    };

    /// An ATM signing with an ECDSA certificate.
    pingfederate_es256: Case {
        server: pingfederate(),
        key: PF_EC_KEY,
        header: json!({}),
        claims: shape::pingfederate_token(),
        expect: Accept { client_id: Some(PF_CLIENT), scopes: &[ROLE], subject: None },
    };

    /// An ATM signing with a symmetric HS256 key: never accepted, with the PingFederate hint.
    pingfederate_hs256: Case {
        server: pingfederate(),
        key: PF_HMAC_KEY,
        header: json!({}),
        claims: shape::pingfederate_token(),
        expect: Reject {
            rejection: Rejection::AlgHmac("HS256".into()),
            hint: Some(VendorHint::PingFederateSymmetricKey),
        },
    };

    /// Issuer configured with a trailing slash the Issuer Claim Value does not have.
    pingfederate_issuer_configured_with_trailing_slash: Case {
        server: ServerConfig::new("pingfederate-slash", Preset::Pingfederate)
            .with_issuer("https://pf.example.com/")
            .with_client_ids(&[PF_CLIENT]),
        key: PF_KEY,
        header: json!({}),
        claims: shape::pingfederate_token(),
        expect: Reject {
            rejection: Rejection::UnknownIssuer { issuer: Some(PF_ISS.into()) },
            hint: Some(VendorHint::IssuerTrailingSlash),
        },
    };

    /// Client ID Claim Name changed in PingFederate (`clientId`), not in the server's settings.
    pingfederate_custom_client_id_claim_name: Case {
        server: pingfederate(),
        key: PF_KEY,
        header: json!({}),
        claims: patch(shape::pingfederate_token(), json!({"client_id": null, "clientId": PF_CLIENT})),
        expect: Reject {
            rejection: Rejection::MissingClientId { looked_for: "client_id, cid, appid, azp".into() },
            hint: Some(VendorHint::ClientIdClaimNames),
        },
    };

    /// The same, fixed by naming the claim in the server's settings.
    pingfederate_custom_client_id_claim_name_configured: Case {
        server: ServerConfig { client_id_claims: vec!["clientId".into()], ..pingfederate() },
        key: PF_KEY,
        header: json!({}),
        claims: patch(shape::pingfederate_token(), json!({"client_id": null, "clientId": PF_CLIENT})),
        expect: Accept { client_id: Some(PF_CLIENT), scopes: &[ROLE], subject: None },
    };

    // --- PingOne ----------------------------------------------------------------------------

    /// Client credentials: `client_id`, `scope` string, `aud` array, no `sub`.
    pingone_client_credentials: Case {
        server: pingone(),
        key: PINGONE_KEY,
        header: json!({}),
        claims: shape::pingone_client_credentials(),
        expect: Accept { client_id: Some(PINGONE_CLIENT), scopes: &[ROLE, "portcullis.read"], subject: None },
    };

    // --- Generic RFC 9068 -------------------------------------------------------------------

    /// `typ: at+jwt` on a strict server.
    generic_rfc9068_at_jwt: Case {
        server: generic_strict(),
        key: GENERIC_KEY,
        header: json!({"typ": "at+jwt"}),
        claims: shape::rfc9068_token(),
        expect: Accept {
            client_id: Some(GENERIC_CLIENT),
            scopes: &["openid", "profile", "reademail"],
            subject: Some("5ba552d67"),
        },
    };

    /// The full media type `application/at+jwt` is accepted too.
    generic_rfc9068_application_at_jwt: Case {
        server: generic_strict(),
        key: GENERIC_KEY,
        header: json!({"typ": "application/at+jwt"}),
        claims: shape::rfc9068_token(),
        expect: Accept {
            client_id: Some(GENERIC_CLIENT),
            scopes: &["openid", "profile", "reademail"],
            subject: Some("5ba552d67"),
        },
    };

    /// A strict server given a token without `typ` (as Okta and PingFederate send them).
    generic_strict_without_typ: Case {
        server: generic_strict(),
        key: GENERIC_KEY,
        header: json!({}),
        claims: shape::rfc9068_token(),
        expect: Reject { rejection: Rejection::NotAtJwt(None), hint: None },
    };

    /// A strict server given `typ: JWT` (as Entra sends it).
    generic_strict_typ_jwt: Case {
        server: generic_strict(),
        key: GENERIC_KEY,
        header: json!({"typ": "JWT"}),
        claims: shape::rfc9068_token(),
        expect: Reject { rejection: Rejection::NotAtJwt(Some("JWT".into())), hint: None },
    };
}

/// VENDORS.md §2.2: with a multi-tenant template, keys are restricted by the key's own `issuer`
/// property (templated → substitute `tid`; concrete → exact match). A key published for one
/// tenant must not verify another tenant's token. No `Rejection` variant exists for this yet,
/// so only the refusal is asserted.
#[test]
fn entra_multi_tenant_key_bound_to_another_tenant() {
    let key = TestKey::rsa(ENTRA_KEY.kid, 2048, "RS256");
    let jwk = key.jwk_with("issuer", json!(ENTRA_V2_OTHER_ISS));
    let keys = Arc::new(JwkSet::parse(jwks_of(vec![jwk]).to_string().as_bytes()).unwrap());
    let validator = Validator::new(vec![TrustedServer {
        id: "srv-1".into(),
        enabled: true,
        config: entra_v2_multi_tenant(),
        keys,
        generation: 1,
    }]);
    let token = key.sign_with_header(
        &json!({"typ": "JWT"}),
        &shape::entra_v2_client_credentials(),
    );
    let result = validator.validate(&token, now() as f64);
    assert!(
        result.is_err(),
        "a key published for tenant {OTHER_TENANT} verified a token of tenant {TENANT}: {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Field rules per preset
// ---------------------------------------------------------------------------------------------

/// `ServerConfig::field_errors()` issuer rules, per preset: `None` = valid; `Some(text)` = exactly
/// one error, on `issuer`, whose message contains `text`.
#[test]
fn field_rules() {
    let table: &[(Preset, &str, Option<&str>)] = &[
        (Preset::Okta, OKTA_ISS, None),
        (Preset::Okta, OKTA_DEFAULT_ISS, None),
        (
            Preset::Okta,
            "https://login.acme.example/oauth2/default",
            None,
        ),
        (Preset::Okta, OKTA_ORG, Some("custom authorization server")),
        (
            Preset::Okta,
            "https://acme.okta.com/",
            Some("custom authorization server"),
        ),
        (Preset::EntraV1, ENTRA_V1_ISS, None),
        (Preset::EntraV1, ENTRA_V1_TEMPLATE, None),
        (
            Preset::EntraV1,
            "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47",
            Some("trailing slash"),
        ),
        (
            Preset::EntraV1,
            ENTRA_V2_ISS,
            Some("https://sts.windows.net/{tenantid}/"),
        ),
        (Preset::EntraV2, ENTRA_V2_ISS, None),
        (Preset::EntraV2, ENTRA_V2_TEMPLATE, None),
        (
            Preset::EntraV2,
            ENTRA_V1_ISS,
            Some("https://login.microsoftonline.com/{tenantid}/v2.0"),
        ),
        (
            Preset::EntraV2,
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0/",
            Some("v2.0"),
        ),
        (
            Preset::EntraV2,
            "https://login.microsoftonline.com/{tenantid}/{tenantid}/v2.0",
            Some("{tenantid}"),
        ),
        (Preset::Pingfederate, PF_ISS, None),
        (Preset::Pingfederate, "https://pf.example.com:9031", None),
        (Preset::Pingfederate, "http://pf.example.com", Some("https")),
        (Preset::Pingone, PINGONE_ISS, None),
        (
            Preset::Pingone,
            "https://auth.pingone.eu/2f7d1b7e-0a4c-4e55-9d3b-8a6f2c1d4e5f/as",
            None,
        ),
        (
            Preset::Pingone,
            "https://auth.pingone.com/2f7d1b7e-0a4c-4e55-9d3b-8a6f2c1d4e5f",
            Some("/as"),
        ),
        (Preset::Generic, GENERIC_ISS, None),
        (
            Preset::Generic,
            "https://idp.example.com/?tenant=a",
            Some("query"),
        ),
    ];
    for (preset, issuer, expected) in table {
        let config = ServerConfig::new("server", *preset).with_issuer(issuer);
        let errors = config.field_errors();
        match expected {
            None => assert!(
                errors.is_empty(),
                "{} {issuer}: unexpected {errors:?}",
                preset.name()
            ),
            Some(text) => {
                assert_eq!(errors.len(), 1, "{} {issuer}: {errors:?}", preset.name());
                assert_eq!(errors[0].field, "issuer", "{} {issuer}", preset.name());
                assert!(
                    errors[0].message.contains(text),
                    "{} {issuer}: message {:?} should mention {text:?}",
                    preset.name(),
                    errors[0].message
                );
            }
        }
    }
    // Each preset's own issuer example is valid for it.
    for preset in Preset::ALL {
        let config = ServerConfig::new("server", preset).with_issuer(preset.issuer_example());
        assert!(
            config.field_errors().is_empty(),
            "{}: {:?}",
            preset.name(),
            config.field_errors()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// One row: a configured server, a key, and a token the vendor would send.
struct Case {
    /// The only trusted server (it publishes the case's key; an HMAC case's server publishes an
    /// RSA key under the same `kid`).
    server: ServerConfig,
    /// The signing key.
    key: Key,
    /// Header members besides `alg` and `kid` (a `null` member removes that member).
    header: Value,
    /// The payload.
    claims: Value,
    /// What the validator must answer.
    expect: Expect,
}

/// A signing key: `kid` and `alg` (`RS*`/`PS*` RSA 2048, `ES*` ECDSA, `HS256` shared secret).
#[derive(Clone, Copy)]
struct Key {
    kid: &'static str,
    alg: &'static str,
}

enum Expect {
    /// Accepted, and the verified token reads as the vendor's claims mean.
    Accept {
        client_id: Option<&'static str>,
        scopes: &'static [&'static str],
        subject: Option<&'static str>,
    },
    /// Rejected with exactly this reason and hint.
    Reject {
        rejection: Rejection,
        hint: Option<VendorHint>,
    },
}
use Expect::{Accept, Reject};

/// One `#[test]` per row; attributes (doc comments, `#[ignore = "BUG: ..."]`) pass through.
macro_rules! vendor_cases {
    ($($(#[$attr:meta])* $name:ident: $case:expr;)*) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                run($case);
            }
        )*
    };
}
use vendor_cases;

/// The test clock: one instant for the whole run, so claims and validation agree.
fn now() -> i64 {
    static NOW: OnceLock<i64> = OnceLock::new();
    *NOW.get_or_init(portcullis_testkit::now)
}

/// `base` with the members of `changes` set (a `null` member removes that claim).
fn patch(mut base: Value, changes: Value) -> Value {
    let (Some(base_map), Value::Object(changes)) = (base.as_object_mut(), changes) else {
        panic!("patch takes two JSON objects");
    };
    for (name, value) in changes {
        if value.is_null() {
            base_map.remove(&name);
        } else {
            base_map.insert(name, value);
        }
    }
    base
}

/// Signs the case's token, validates it against the case's server, checks the expectation.
fn run(case: Case) {
    let Case {
        server,
        key,
        header,
        claims,
        expect,
    } = case;
    let errors = server.field_errors();
    assert!(
        errors.is_empty(),
        "the case's server configuration would be refused: {errors:?}"
    );

    let (token, published) = match key.alg {
        "HS256" => {
            let published = TestKey::rsa(key.kid, 2048, "RS256");
            (sign_hs256(key.kid, &header, &claims), published)
        }
        alg if alg.starts_with("ES") => {
            let signer = TestKey::ec(key.kid, alg);
            (signer.sign_with_header(&header, &claims), signer)
        }
        alg => {
            let signer = TestKey::rsa(key.kid, 2048, alg);
            (signer.sign_with_header(&header, &claims), signer)
        }
    };
    let keys = Arc::new(
        JwkSet::parse(jwks(&[&published]).to_string().as_bytes()).expect("test JWKS parses"),
    );
    let server_name = server.name.clone();
    let validator = Validator::new(vec![TrustedServer {
        id: "srv-1".into(),
        enabled: true,
        config: server,
        keys,
        generation: 1,
    }]);

    let result = validator.validate(&token, now() as f64);
    match (expect, result) {
        (
            Accept {
                client_id,
                scopes,
                subject,
            },
            Ok(verified),
        ) => {
            assert_eq!(
                (
                    verified.client_id.as_deref(),
                    verified.scopes.as_slice(),
                    verified.subject.as_deref()
                ),
                (
                    client_id,
                    scopes
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect::<Vec<_>>()
                        .as_slice(),
                    subject
                ),
                "(client_id, scopes, subject)"
            );
            assert_eq!(verified.server_name, server_name);
            assert_eq!(verified.alg.name(), key.alg);
            assert_eq!(verified.kid.as_deref(), Some(key.kid));
            assert_eq!(
                verified.issuer.as_deref(),
                claims.get("iss").and_then(Value::as_str)
            );
        }
        (Accept { .. }, Err(rejected)) => panic!("expected acceptance, got rejection: {rejected}"),
        (Reject { rejection, hint }, Err(rejected)) => {
            assert_eq!(
                (&rejected.rejection, rejected.hint),
                (&rejection, hint),
                "(rejection, hint); full rejection: {rejected}"
            );
            if let Some(hint) = hint {
                assert!(
                    rejected.to_string().contains(hint.text()),
                    "the hint text is shown: {rejected}"
                );
            }
        }
        (Reject { rejection, .. }, Ok(verified)) => {
            panic!("expected rejection {rejection:?}, got acceptance: {verified:?}")
        }
    }
}

/// A token signed with a shared secret, as a PingFederate ATM with a symmetric key sends it.
fn sign_hs256(kid: &str, extra_header: &Value, claims: &Value) -> String {
    let header = patch(json!({"alg": "HS256", "kid": kid}), extra_header.clone());
    let signing_input = format!(
        "{}.{}",
        base64url::encode(header.to_string().as_bytes()),
        base64url::encode(claims.to_string().as_bytes())
    );
    let secret = hmac::Key::new(
        hmac::HMAC_SHA256,
        b"pingfederate-atm-shared-secret-0123456789",
    );
    let tag = hmac::sign(&secret, signing_input.as_bytes());
    format!("{signing_input}.{}", base64url::encode(tag.as_ref()))
}

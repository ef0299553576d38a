//! The token pipeline (DESIGN.md §2): shape → algorithm → server selection → key selection →
//! signature → claims → scopes, over an immutable set of trusted servers.
//!
//! A [`Validator`] is built once per configuration/key change and then only read, so the hot path
//! takes no lock. Invariants it keeps:
//! - a key is only ever used for the server whose JWK Set published it (RFC 8725 §3.8);
//! - servers with an issuer are chosen by exact issuer (or `{tenantid}` template) match;
//!   servers without one are candidates only when no issuer matched, and only if they publish
//!   the token's `kid`;
//! - the algorithm must be in the server's allowlist **and** fit the selected key; the header
//!   `alg` alone decides nothing;
//! - the signature is verified before any claim is believed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use portcullis_jose::{AlgName, Algorithm, CompactJws, JwkSet, JwsError};

use crate::claims::{self, Claims};
use crate::config::ServerConfig;
use crate::issuer::IssuerPattern;
use crate::preset::{GRAPH_AUDIENCES, Preset, VendorHint};
use crate::rejection::{Rejected, Rejection};
use crate::sanitize::untrusted;
use crate::scopes;
use crate::trace::{NoTrace, Outcome, Step, TraceSink};

pub use crate::verified::{SharedStr, VerifiedToken};

/// An authorization server as the validator sees it: settings plus its current keys.
#[derive(Debug, Clone)]
pub struct TrustedServer {
    /// Stable id.
    pub id: String,
    /// Whether tokens are checked against it (disabled servers only explain rejections).
    pub enabled: bool,
    /// Validation settings.
    pub config: ServerConfig,
    /// The keys its JWKS published (last good set).
    pub keys: Arc<JwkSet>,
    /// Changes whenever the keys or the settings change; the verified-token cache compares it
    /// to drop entries verified under an older configuration.
    pub generation: u64,
}

/// What the checks established, before the [`VerifiedToken`] is built.
struct Checked {
    exp: f64,
    client_id: Option<String>,
    scopes: Vec<String>,
    kid: Option<String>,
}

impl Checked {
    fn into_verified(
        self,
        prepared: &Prepared,
        alg: Algorithm,
        claims: &Claims<'_>,
        iss: Option<&str>,
    ) -> VerifiedToken {
        let server = &prepared.server;
        VerifiedToken {
            server_id: prepared.id.clone(),
            server_name: prepared.name.clone(),
            generation: server.generation,
            issuer: iss.map(str::to_owned),
            subject: claims.str("sub").map(Cow::into_owned),
            client_id: self.client_id,
            scopes: self.scopes,
            expires_at: self.exp,
            valid_until: self.exp + f64::from(server.config.clock_skew_s),
            alg,
            kid: self.kid,
            claims_json: Arc::from(claims.json()),
            parsed_claims: Default::default(),
        }
    }
}

/// A parsed token on its way through the checks: nothing in it is trusted before the signature
/// is verified by a key of the selected server.
#[derive(Clone, Copy)]
struct Token<'t> {
    jws: &'t CompactJws<'t>,
    /// The header `alg`, already known to be one we support.
    alg: Algorithm,
    claims: &'t Claims<'t>,
    /// `iss`, read once to select the server (a non-string `iss` was already refused).
    iss: Option<&'t str>,
}

/// Candidate servers for a token: usually one issuer's list, borrowed from the index.
enum Candidates<'v> {
    Indexed(&'v [usize]),
    Merged(Vec<usize>),
}

impl std::ops::Deref for Candidates<'_> {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        match self {
            Candidates::Indexed(slice) => slice,
            Candidates::Merged(vec) => vec,
        }
    }
}

struct Prepared {
    server: TrustedServer,
    issuer: Option<IssuerPattern>,
    /// `server.id` and `server.config.name`, shared with every token this server verifies.
    id: SharedStr,
    name: SharedStr,
}

/// An immutable, indexed set of trusted servers that validates tokens.
#[derive(Default)]
pub struct Validator {
    servers: Vec<Prepared>,
    by_id: HashMap<String, usize>,
    by_exact_issuer: HashMap<String, Vec<usize>>,
    templates: Vec<usize>,
    issuerless_by_kid: HashMap<String, Vec<usize>>,
    presets_present: Vec<Preset>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("servers", &self.servers.len())
            .finish()
    }
}

impl Validator {
    /// Indexes `servers`. A server whose configured issuer does not parse can never match any
    /// token (fail closed); configuration checks keep such servers from being saved.
    pub fn new(servers: Vec<TrustedServer>) -> Self {
        let mut v = Validator::default();
        for server in servers {
            let index = v.servers.len();
            let issuer = match server.config.issuer.as_deref().map(IssuerPattern::parse) {
                None => None,
                Some(Ok(pattern)) => Some(pattern),
                Some(Err(_)) => continue,
            };
            match &issuer {
                Some(IssuerPattern::Exact(iss)) => v
                    .by_exact_issuer
                    .entry(iss.clone())
                    .or_default()
                    .push(index),
                Some(IssuerPattern::TenantTemplate { .. }) => v.templates.push(index),
                None => {
                    for kid in server.keys.key_ids() {
                        v.issuerless_by_kid
                            .entry(kid.to_owned())
                            .or_default()
                            .push(index);
                    }
                }
            }
            if server.enabled && !v.presets_present.contains(&server.config.preset) {
                v.presets_present.push(server.config.preset);
            }
            v.by_id.insert(server.id.clone(), index);
            let (id, name) = (
                SharedStr::from(server.id.as_str()),
                SharedStr::from(server.config.name.as_str()),
            );
            v.servers.push(Prepared {
                server,
                issuer,
                id,
                name,
            });
        }
        v
    }

    /// The servers, in the order given.
    pub fn servers(&self) -> impl Iterator<Item = &TrustedServer> {
        self.servers.iter().map(|p| &p.server)
    }

    /// A server by id.
    pub fn server(&self, id: &str) -> Option<&TrustedServer> {
        self.by_id.get(id).map(|i| &self.servers[*i].server)
    }

    /// Whether a token verified by `server_id` at `generation` is still valid under this
    /// configuration (same server, enabled, same keys and settings).
    pub fn is_current(&self, server_id: &str, generation: u64) -> bool {
        self.server(server_id)
            .is_some_and(|s| s.enabled && s.generation == generation)
    }

    /// Validates `token` at time `now` (seconds since the Unix epoch).
    pub fn validate(&self, token: &str, now: f64) -> Result<VerifiedToken, Rejected> {
        self.validate_traced(token, now, &mut NoTrace)
    }

    /// Validates and records each step into `trace`.
    pub fn validate_traced<T: TraceSink>(
        &self,
        token: &str,
        now: f64,
        trace: &mut T,
    ) -> Result<VerifiedToken, Rejected> {
        let jws = CompactJws::parse(token).map_err(|e| {
            trace.step(Step::Shape, Outcome::Fail, || e.to_string());
            let hint =
                (e == JwsError::HeaderNonce).then_some(VendorHint::EntraTokenForMicrosoftApi);
            Rejected {
                rejection: Rejection::Shape(e),
                server: None,
                hint,
            }
        })?;
        let parsed = Claims::parse(jws.payload());
        if trace.is_recording() {
            let payload = parsed.as_ref().ok().map(Claims::to_map);
            trace.decoded(&jws.header_members(), payload.as_ref());
        }
        let claims = parsed.map_err(|e| {
            trace.step(Step::Shape, Outcome::Fail, || format!("payload: {e}"));
            Rejected::from(Rejection::PayloadJson(e))
        })?;
        trace.step(Step::Shape, Outcome::Pass, || {
            let ignored = &jws.header.ignored_key_members;
            if ignored.is_empty() {
                "compact JWS, JSON header and payload".to_owned()
            } else {
                format!("compact JWS; header members {ignored:?} ignored (keys come only from the server's JWKS)")
            }
        });

        let alg = match jws.header.alg_name {
            AlgName::Supported(alg) => alg,
            other => {
                let alg_text = untrusted(&jws.header.alg);
                let rejection = match other {
                    AlgName::None => Rejection::AlgNone,
                    AlgName::Hmac => Rejection::AlgHmac(alg_text),
                    _ => Rejection::AlgUnsupported(alg_text),
                };
                trace.step(Step::Algorithm, Outcome::Fail, || rejection.to_string());
                let hint = self.hmac_hint(&rejection, &claims, jws.header.kid.as_deref());
                return Err(Rejected {
                    rejection,
                    server: None,
                    hint,
                });
            }
        };
        trace.step(Step::Algorithm, Outcome::Pass, || {
            format!("{alg} is a supported signature algorithm")
        });

        let iss = claims::string_claim(&claims, "iss")
            .map_err(|r| self.reject(trace, Step::ServerSelection, r, None))?;
        let iss = iss.as_deref();
        let kid = jws.header.kid.as_deref();
        let candidates = self.candidates(iss, kid);
        let mut enabled = candidates
            .iter()
            .copied()
            .filter(|i| self.servers[*i].server.enabled)
            .peekable();
        if enabled.peek().is_none() {
            let rejection = match candidates.first() {
                Some(i) => Rejection::ServerDisabled {
                    server: self.servers[*i].server.config.name.clone(),
                },
                None => Rejection::UnknownIssuer {
                    issuer: iss.map(untrusted),
                },
            };
            trace.step(Step::ServerSelection, Outcome::Fail, || {
                rejection.to_string()
            });
            let hint = self.unknown_issuer_hint(iss, &claims);
            return Err(Rejected {
                rejection,
                server: None,
                hint,
            });
        }

        let mut best: Option<Rejected> = None;
        for index in enabled {
            let prepared = &self.servers[index];
            trace.step(Step::ServerSelection, Outcome::Pass, || {
                let how = if prepared.issuer.is_some() {
                    "issuer"
                } else {
                    "kid (server has no issuer)"
                };
                format!("server {} matched by {how}", prepared.server.config.name)
            });
            let token = Token {
                jws: &jws,
                alg,
                claims: &claims,
                iss,
            };
            match self.evaluate(prepared, &token, now, trace) {
                Ok(checked) => {
                    return Ok(checked.into_verified(prepared, alg, &claims, iss));
                }
                Err(rejection) => {
                    let hint = hint_for(&rejection, prepared.server.config.preset, &jws, &claims);
                    let rejected = Rejected {
                        rejection,
                        server: Some(prepared.server.config.name.clone()),
                        hint,
                    };
                    if best
                        .as_ref()
                        .is_none_or(|b| rejected.rejection.stage() > b.rejection.stage())
                    {
                        best = Some(rejected);
                    }
                }
            }
        }
        Err(best.unwrap_or_else(|| {
            Rejection::UnknownIssuer {
                issuer: iss.map(untrusted),
            }
            .into()
        }))
    }

    fn reject<T: TraceSink>(
        &self,
        trace: &mut T,
        step: Step,
        rejection: Rejection,
        server: Option<&str>,
    ) -> Rejected {
        trace.step(step, Outcome::Fail, || rejection.to_string());
        Rejected {
            rejection,
            server: server.map(str::to_owned),
            hint: None,
        }
    }

    /// Servers that could have issued a token with this `iss` and `kid`, in configuration order.
    /// The index lists are built in configuration order, so only a mix of exact and template
    /// matches needs a new, sorted list.
    fn candidates(&self, iss: Option<&str>, kid: Option<&str>) -> Candidates<'_> {
        if let Some(iss) = iss {
            let exact = self.by_exact_issuer.get(iss).map_or(&[][..], Vec::as_slice);
            let mut templated = self.templates.iter().copied().filter(|i| {
                self.servers[*i]
                    .issuer
                    .as_ref()
                    .is_some_and(|p| p.could_match(iss))
            });
            if let Some(first) = templated.next() {
                let mut found = exact.to_vec();
                found.push(first);
                found.extend(templated);
                found.sort_unstable();
                return Candidates::Merged(found);
            }
            if !exact.is_empty() {
                return Candidates::Indexed(exact);
            }
        }
        match kid.and_then(|kid| self.issuerless_by_kid.get(kid)) {
            Some(issuerless) => Candidates::Indexed(issuerless),
            None => Candidates::Indexed(&[]),
        }
    }

    fn evaluate<T: TraceSink>(
        &self,
        prepared: &Prepared,
        token: &Token<'_>,
        now: f64,
        trace: &mut T,
    ) -> Result<Checked, Rejection> {
        let Token {
            jws,
            alg,
            claims,
            iss,
        } = *token;
        let server = &prepared.server;
        let config = &server.config;
        let fail = |trace: &mut T, step: Step, rejection: Rejection| {
            trace.step(step, Outcome::Fail, || rejection.to_string());
            rejection
        };

        // Key selection and signature.
        if !config.allowed_algs.contains(&alg) {
            return Err(fail(
                trace,
                Step::KeySelection,
                Rejection::AlgNotAllowed(alg.name().to_owned()),
            ));
        }
        if !server.keys.has_usable_key() {
            return Err(fail(trace, Step::KeySelection, Rejection::NoKeys));
        }
        let message = jws.signing_input.as_bytes();
        let verifying_key = match jws.header.kid.as_deref() {
            Some(kid) => {
                let Some(jwk) = server.keys.by_kid(kid) else {
                    return Err(fail(
                        trace,
                        Step::KeySelection,
                        Rejection::UnknownKid {
                            kid: untrusted(kid),
                        },
                    ));
                };
                if !jwk.key.supports(alg) {
                    return Err(fail(
                        trace,
                        Step::KeySelection,
                        Rejection::AlgKeyMismatch {
                            alg: alg.name().to_owned(),
                            kid: untrusted(kid),
                        },
                    ));
                }
                trace.step(Step::KeySelection, Outcome::Pass, || {
                    format!("key {} ({})", untrusted(kid), jwk.key.params().describe())
                });
                if jwk.key.verify(alg, message, jws.signature()).is_err() {
                    return Err(fail(trace, Step::Signature, Rejection::BadSignature));
                }
                jwk
            }
            None => {
                let mut compatible = server
                    .keys
                    .keys()
                    .iter()
                    .filter(|k| k.key.supports(alg))
                    .peekable();
                if compatible.peek().is_none() {
                    return Err(fail(
                        trace,
                        Step::KeySelection,
                        Rejection::NoCompatibleKey(alg.name().to_owned()),
                    ));
                }
                trace.step(Step::KeySelection, Outcome::Pass, || {
                    "token has no kid: trying every compatible key".to_owned()
                });
                match compatible.find(|k| k.key.verify(alg, message, jws.signature()).is_ok()) {
                    Some(jwk) => jwk,
                    None => return Err(fail(trace, Step::Signature, Rejection::BadSignature)),
                }
            }
        };
        let verified_kid = verifying_key.kid.clone();
        let verifying_key_issuer = &verifying_key.issuer;
        trace.step(Step::Signature, Outcome::Pass, || {
            format!("{alg} signature verified")
        });

        // Claims.
        let skew = config.clock_skew_s;
        let exp =
            claims::check_expiry(claims, now, skew).map_err(|r| fail(trace, Step::Expiry, r))?;
        trace.step(Step::Expiry, Outcome::Pass, || {
            format!("exp {exp} is after now {now} (skew {skew}s)")
        });
        let nbf = claims::check_not_before(claims, now, skew)
            .map_err(|r| fail(trace, Step::NotBefore, r))?;
        trace.step(
            Step::NotBefore,
            if nbf.is_some() {
                Outcome::Pass
            } else {
                Outcome::Skip
            },
            || match nbf {
                Some(nbf) => format!("nbf {nbf} is not after now {now} (skew {skew}s)"),
                None => "no nbf claim".to_owned(),
            },
        );
        let iat = claims::check_issued_at(claims, now, skew)
            .map_err(|r| fail(trace, Step::IssuedAt, r))?;
        trace.step(
            Step::IssuedAt,
            if iat.is_some() {
                Outcome::Pass
            } else {
                Outcome::Skip
            },
            || match iat {
                Some(iat) => format!("iat {iat} is not after now {now} (skew {skew}s)"),
                None => "no iat claim".to_owned(),
            },
        );
        let max_lifetime = config.max_token_lifetime_s;
        let lifetime = claims::check_lifetime(exp, iat, now, max_lifetime, skew)
            .map_err(|r| fail(trace, Step::Lifetime, r))?;
        trace.step(
            Step::Lifetime,
            if lifetime == claims::Lifetime::Unchecked {
                Outcome::Skip
            } else {
                Outcome::Pass
            },
            || match lifetime {
                claims::Lifetime::Unchecked => "maxTokenLifetimeS is 0: not checked".to_owned(),
                claims::Lifetime::Stated(s) => {
                    format!("lifetime {s}s (exp - iat) is at most {max_lifetime}s")
                }
                claims::Lifetime::Remaining(s) => format!(
                    "no iat: remaining lifetime {s}s (exp - now) is at most {max_lifetime}s + skew {skew}s"
                ),
            },
        );

        // `iss` was read (and its type checked) once, to select this server. `tid` is only
        // needed for `{tenantid}` templates.
        let needs_tid = matches!(prepared.issuer, Some(IssuerPattern::TenantTemplate { .. }))
            || verifying_key_issuer.is_some();
        let tid = if needs_tid { claims.str("tid") } else { None };
        let tid = tid.as_deref();
        match &prepared.issuer {
            Some(pattern) => {
                if !iss.is_some_and(|iss| pattern.matches(iss, tid)) {
                    let rejection = Rejection::IssuerMismatch {
                        expected: pattern.display(),
                        actual: iss.map_or_else(|| "(absent)".to_owned(), untrusted),
                    };
                    return Err(fail(trace, Step::Issuer, rejection));
                }
                trace.step(Step::Issuer, Outcome::Pass, || {
                    format!("iss matches {}", pattern.display())
                });
            }
            None => trace.step(Step::Issuer, Outcome::Skip, || {
                "no issuer configured".to_owned()
            }),
        }
        if let Some(key_issuer) = verifying_key_issuer {
            let bound = match IssuerPattern::parse(key_issuer) {
                Ok(pattern) => iss.is_some_and(|iss| pattern.matches(iss, tid)),
                Err(_) => iss == Some(key_issuer.as_str()),
            };
            if !bound {
                let rejection = Rejection::KeyIssuerMismatch {
                    key_issuer: untrusted(key_issuer),
                };
                return Err(fail(trace, Step::Issuer, rejection));
            }
            trace.step(Step::Issuer, Outcome::Pass, || {
                format!("iss matches the key's own issuer {}", untrusted(key_issuer))
            });
        }

        claims::check_audience(claims, &config.audiences)
            .map_err(|r| fail(trace, Step::Audience, r))?;
        if matches!(config.preset, Preset::EntraV1 | Preset::EntraV2) && has_graph_audience(claims)
        {
            // Tokens for Microsoft's own APIs are not ours to validate, whatever else is configured.
            let actual = claims::audiences(claims)
                .map(|a| untrusted(&a.join(" ")))
                .unwrap_or_default();
            return Err(fail(
                trace,
                Step::Audience,
                Rejection::AudienceMismatch { actual },
            ));
        }
        trace.step(
            Step::Audience,
            if config.audiences.is_empty() {
                Outcome::Skip
            } else {
                Outcome::Pass
            },
            || {
                if config.audiences.is_empty() {
                    "no audience configured".to_owned()
                } else {
                    "aud contains a configured audience".to_owned()
                }
            },
        );

        let client_id =
            claims::check_client_id(claims, &config.client_id_claims, &config.client_ids)
                .map_err(|r| fail(trace, Step::ClientId, r))?
                .map(Cow::into_owned);
        trace.step(
            Step::ClientId,
            if config.client_ids.is_empty() {
                Outcome::Skip
            } else {
                Outcome::Pass
            },
            || {
                if config.client_ids.is_empty() {
                    "no client ids configured".to_owned()
                } else {
                    "client id is configured".to_owned()
                }
            },
        );

        claims::check_token_type(jws.header.typ.as_deref(), claims, config.require_typ_at_jwt)
            .map_err(|r| fail(trace, Step::TokenType, r))?;
        trace.step(Step::TokenType, Outcome::Pass, || {
            "token is an access token".to_owned()
        });

        let scopes = scopes::extract(claims, &config.scope_claims);
        trace.step(Step::Scopes, Outcome::Pass, || {
            format!(
                "scopes from {:?}: {}",
                config.scope_claims,
                untrusted(&scopes.join(" "))
            )
        });

        Ok(Checked {
            exp,
            client_id,
            scopes,
            kid: verified_kid,
        })
    }

    fn hmac_hint(
        &self,
        rejection: &Rejection,
        claims: &Claims<'_>,
        kid: Option<&str>,
    ) -> Option<VendorHint> {
        if !matches!(rejection, Rejection::AlgHmac(_)) {
            return None;
        }
        let iss = claims.str("iss");
        let from_pingfederate = self
            .candidates(iss.as_deref(), kid)
            .iter()
            .any(|i| self.servers[*i].server.config.preset == Preset::Pingfederate);
        from_pingfederate.then_some(VendorHint::PingFederateSymmetricKey)
    }

    fn unknown_issuer_hint(&self, iss: Option<&str>, claims: &Claims<'_>) -> Option<VendorHint> {
        let iss = iss?;
        if has_graph_audience(claims) {
            return Some(VendorHint::EntraTokenForMicrosoftApi);
        }
        let alternate = match iss.strip_suffix('/') {
            Some(trimmed) => trimmed.to_owned(),
            None => format!("{iss}/"),
        };
        if self.by_exact_issuer.contains_key(&alternate) {
            return Some(VendorHint::IssuerTrailingSlash);
        }
        if iss.starts_with("https://sts.windows.net/")
            && self.presets_present.contains(&Preset::EntraV2)
        {
            return Some(VendorHint::EntraV1TokenOnV2Server);
        }
        if iss.starts_with("https://login.")
            && iss.ends_with("/v2.0")
            && self.presets_present.contains(&Preset::EntraV1)
        {
            return Some(VendorHint::EntraV2TokenOnV1Server);
        }
        let okta_host = iss.contains(".okta.com")
            || iss.contains(".oktapreview.com")
            || iss.contains(".okta-emea.com");
        if okta_host && !iss.contains("/oauth2/") {
            return Some(VendorHint::OktaOrgServerToken);
        }
        None
    }
}

fn has_graph_audience(claims: &Claims<'_>) -> bool {
    let mut graph = false;
    let shape = claims::for_each_audience(claims, |aud| {
        graph = graph || GRAPH_AUDIENCES.contains(&aud);
    });
    shape.is_ok() && graph
}

/// Vendor advice for a rejection by a selected server.
fn hint_for(
    rejection: &Rejection,
    preset: Preset,
    jws: &CompactJws<'_>,
    claims: &Claims<'_>,
) -> Option<VendorHint> {
    let entra = matches!(preset, Preset::EntraV1 | Preset::EntraV2);
    match rejection {
        _ if entra && has_graph_audience(claims) => Some(VendorHint::EntraTokenForMicrosoftApi),
        Rejection::MissingClientId { .. } => Some(VendorHint::ClientIdClaimNames),
        Rejection::WrongTokenType(_) | Rejection::NotAtJwt(_)
            if jws
                .header
                .typ
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("application/okta-internal-at+jwt")) =>
        {
            Some(VendorHint::OktaInternalTokenType)
        }
        Rejection::IdToken(_) => Some(VendorHint::IdTokenNotAccessToken),
        Rejection::TokenLifetimeExceeded { .. } => Some(VendorHint::TokenLifetimeLimit),
        Rejection::MissingAudience | Rejection::AudienceMismatch { .. }
            if ["nonce", "at_hash", "c_hash"]
                .iter()
                .any(|c| claims.contains(c)) =>
        {
            Some(VendorHint::IdTokenNotAccessToken)
        }
        _ => None,
    }
}

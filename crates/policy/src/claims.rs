//! Claim checks (DESIGN.md §2 "Claims"): times with skew, audience, client id, token type.
//! Each function is one rule, returning the precise [`Rejection`].

use serde_json::{Map, Value};

use crate::rejection::Rejection;
use crate::sanitize::untrusted;

/// Reads a NumericDate claim (RFC 7519 §2): a JSON number, integer or fractional. Any other type
/// is malformed — `"1700000000"` (string) and `true` are type confusion, not dates.
pub fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<f64>, Rejection> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_f64()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or(Rejection::MalformedClaim {
                    claim,
                    expected: "a NumericDate (number)",
                })
        }
        Some(_) => Err(Rejection::MalformedClaim {
            claim,
            expected: "a NumericDate (number)",
        }),
    }
}

/// `exp` is required, a NumericDate, and `now` must be before `exp` + `skew`. Returns `exp`.
pub fn check_expiry(claims: &Map<String, Value>, now: f64, skew: u32) -> Result<f64, Rejection> {
    let exp = numeric_date(claims, "exp")?.ok_or(Rejection::MissingExpiry)?;
    if now >= exp + f64::from(skew) {
        return Err(Rejection::Expired { exp, now, skew });
    }
    Ok(exp)
}

/// `nbf`, when present, must not be later than `now` + `skew`.
pub fn check_not_before(
    claims: &Map<String, Value>,
    now: f64,
    skew: u32,
) -> Result<Option<f64>, Rejection> {
    let nbf = numeric_date(claims, "nbf")?;
    match nbf {
        Some(nbf) if nbf - f64::from(skew) > now => Err(Rejection::NotYetValid { nbf, now, skew }),
        _ => Ok(nbf),
    }
}

/// `iat`, when present, must not be later than `now` + `skew`.
pub fn check_issued_at(
    claims: &Map<String, Value>,
    now: f64,
    skew: u32,
) -> Result<Option<f64>, Rejection> {
    let iat = numeric_date(claims, "iat")?;
    match iat {
        Some(iat) if iat - f64::from(skew) > now => {
            Err(Rejection::IssuedInFuture { iat, now, skew })
        }
        _ => Ok(iat),
    }
}

/// The whole validity window (`exp`, `nbf`, `iat`) with `skew` seconds of tolerance. Returns `exp`.
pub fn check_times(claims: &Map<String, Value>, now: f64, skew: u32) -> Result<f64, Rejection> {
    let exp = check_expiry(claims, now, skew)?;
    check_not_before(claims, now, skew)?;
    check_issued_at(claims, now, skew)?;
    Ok(exp)
}

/// Reads an optional string claim; a non-string value is malformed.
pub fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<Option<&'a str>, Rejection> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::MalformedClaim {
            claim,
            expected: "a string",
        }),
    }
}

/// The token's audiences: `aud` is a string or an array of strings (RFC 7519 §4.1.3).
pub fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, Rejection> {
    const MALFORMED: Rejection = Rejection::MalformedClaim {
        claim: "aud",
        expected: "a string or an array of strings",
    };
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().ok_or(MALFORMED)).collect(),
        Some(_) => Err(MALFORMED),
    }
}

/// If `allowed` is non-empty, one of the token's audiences must be in it.
pub fn check_audience(claims: &Map<String, Value>, allowed: &[String]) -> Result<(), Rejection> {
    let token_audiences = audiences(claims)?;
    if allowed.is_empty() {
        return Ok(());
    }
    if token_audiences.is_empty() {
        return Err(Rejection::MissingAudience);
    }
    if token_audiences
        .iter()
        .any(|a| allowed.iter().any(|want| want == a))
    {
        Ok(())
    } else {
        Err(Rejection::AudienceMismatch {
            actual: untrusted(&token_audiences.join(" ")),
        })
    }
}

/// The client id: the first present claim among `claim_names`, with the claim it came from.
pub fn client_id<'a>(
    claims: &'a Map<String, Value>,
    claim_names: &'a [String],
) -> Result<Option<(&'a str, &'a str)>, Rejection> {
    for name in claim_names {
        match claims.get(name) {
            None => continue,
            Some(Value::String(id)) => return Ok(Some((name.as_str(), id.as_str()))),
            Some(_) => {
                return Err(Rejection::MalformedClaim {
                    claim: "client_id",
                    expected: "a string",
                });
            }
        }
    }
    Ok(None)
}

/// If `allowed` is non-empty, the client id must be in it.
pub fn check_client_id(
    claims: &Map<String, Value>,
    claim_names: &[String],
    allowed: &[String],
) -> Result<(), Rejection> {
    let found = client_id(claims, claim_names)?;
    if allowed.is_empty() {
        return Ok(());
    }
    match found {
        None => Err(Rejection::MissingClientId {
            looked_for: claim_names.join(", "),
        }),
        Some((_, id)) if allowed.iter().any(|want| want == id) => Ok(()),
        Some((claim, id)) => Err(Rejection::ClientIdMismatch {
            claim: claim.to_owned(),
            actual: untrusted(id),
        }),
    }
}

/// RFC 9068 §2.1 media type check, case-insensitive as media types are.
pub fn is_at_jwt(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// Token-kind rules (RFC 8725 §3.11, §3.12): with `require_at_jwt`, `typ` must be `at+jwt`;
/// always, a `typ` naming another kind of JWT and ID-token-only claims are refused.
pub fn check_token_type(
    typ: Option<&str>,
    claims: &Map<String, Value>,
    require_at_jwt: bool,
) -> Result<(), Rejection> {
    if require_at_jwt && !typ.is_some_and(is_at_jwt) {
        return Err(Rejection::NotAtJwt(typ.map(untrusted)));
    }
    if let Some(typ) = typ {
        let lower = typ.to_ascii_lowercase();
        let generic = lower == "jwt" || lower == "application/jwt" || is_at_jwt(&lower);
        if !generic {
            return Err(Rejection::WrongTokenType(untrusted(typ)));
        }
    }
    for claim in ["nonce", "at_hash", "c_hash"] {
        if claims.contains_key(claim) {
            return Err(Rejection::IdToken(claim));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn numeric_dates_must_be_numbers() {
        let c = obj(json!({"exp": "1700000000", "nbf": true, "iat": 1.5}));
        assert!(matches!(
            numeric_date(&c, "exp"),
            Err(Rejection::MalformedClaim { claim: "exp", .. })
        ));
        assert!(matches!(
            numeric_date(&c, "nbf"),
            Err(Rejection::MalformedClaim { claim: "nbf", .. })
        ));
        assert_eq!(numeric_date(&c, "iat"), Ok(Some(1.5)));
    }

    #[test]
    fn time_window_with_skew() {
        let c = obj(json!({"exp": 1000, "nbf": 900, "iat": 900}));
        assert_eq!(check_times(&c, 950.0, 0), Ok(1000.0));
        assert!(matches!(
            check_times(&c, 1000.0, 0),
            Err(Rejection::Expired { .. })
        ));
        assert_eq!(check_times(&c, 1059.0, 60), Ok(1000.0));
        assert!(matches!(
            check_times(&c, 1060.0, 60),
            Err(Rejection::Expired { .. })
        ));
        assert!(matches!(
            check_times(&c, 839.0, 60),
            Err(Rejection::NotYetValid { .. })
        ));
        assert_eq!(
            check_times(&obj(json!({})), 0.0, 60),
            Err(Rejection::MissingExpiry)
        );
        let fractional = obj(json!({"exp": 1000.5}));
        assert!(check_times(&fractional, 1000.4, 0).is_ok());
        assert!(check_times(&fractional, 1000.5, 0).is_err());
    }

    #[test]
    fn audience_rules() {
        let allowed = vec!["api://a".to_owned()];
        assert!(check_audience(&obj(json!({"aud": "api://a"})), &allowed).is_ok());
        assert!(check_audience(&obj(json!({"aud": ["x", "api://a"]})), &allowed).is_ok());
        assert_eq!(
            check_audience(&obj(json!({})), &allowed),
            Err(Rejection::MissingAudience)
        );
        assert!(matches!(
            check_audience(&obj(json!({"aud": ["x"]})), &allowed),
            Err(Rejection::AudienceMismatch { .. })
        ));
        assert!(matches!(
            check_audience(&obj(json!({"aud": ["api://a", 1]})), &allowed),
            Err(Rejection::MalformedClaim { .. })
        ));
        assert!(matches!(
            check_audience(&obj(json!({"aud": {"api://a": 1}})), &[]),
            Err(Rejection::MalformedClaim { .. })
        ));
    }

    #[test]
    fn client_id_order() {
        let names: Vec<String> = ["client_id", "cid", "appid", "azp"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let c = obj(json!({"azp": "z", "cid": "c"}));
        assert_eq!(client_id(&c, &names), Ok(Some(("cid", "c"))));
        assert!(check_client_id(&c, &names, &["c".to_owned()]).is_ok());
        assert!(matches!(
            check_client_id(&c, &names, &["z".to_owned()]),
            Err(Rejection::ClientIdMismatch { .. })
        ));
        assert!(matches!(
            check_client_id(&obj(json!({})), &names, &["z".to_owned()]),
            Err(Rejection::MissingClientId { .. })
        ));
    }

    #[test]
    fn token_type_rules() {
        let none = Map::new();
        assert!(check_token_type(None, &none, false).is_ok());
        assert!(check_token_type(Some("JWT"), &none, false).is_ok());
        assert!(check_token_type(Some("at+JWT"), &none, true).is_ok());
        assert!(check_token_type(Some("application/at+jwt"), &none, true).is_ok());
        assert!(matches!(
            check_token_type(Some("JWT"), &none, true),
            Err(Rejection::NotAtJwt(_))
        ));
        assert!(matches!(
            check_token_type(None, &none, true),
            Err(Rejection::NotAtJwt(None))
        ));
        assert!(matches!(
            check_token_type(Some("application/okta-internal-at+jwt"), &none, false),
            Err(Rejection::WrongTokenType(_))
        ));
        assert!(matches!(
            check_token_type(Some("logout+jwt"), &none, false),
            Err(Rejection::WrongTokenType(_))
        ));
        assert_eq!(
            check_token_type(None, &obj(json!({"at_hash": "x"})), false),
            Err(Rejection::IdToken("at_hash"))
        );
    }
}

//! Claim checks (DESIGN.md §2 "Claims"): times with skew, audience, client id, token type.
//! Each function is one rule, returning the precise [`Rejection`].
//!
//! The claims are read zero-copy: [`Claims`] keeps the payload's top-level members as borrowed
//! names and raw JSON values (checked strictly by `portcullis_jose::strict_json`: duplicates at
//! every depth and the depth bound are refused before anything is read), and each rule decodes
//! only the few values it needs. Nothing here is trusted before the signature is verified; the
//! validator reads `iss` (and `kid` from the header) only to choose the server and key.

use std::borrow::Cow;

use portcullis_jose::JsonError;
use portcullis_jose::strict_json::{JsonKind, RawJson, RawObject};
use serde_json::{Map, Value};

use crate::rejection::Rejection;
use crate::sanitize::untrusted;

/// A JWT claim set, parsed one level deep without copying: member names and raw values borrowed
/// from the decoded payload.
#[derive(Debug, Clone)]
pub struct Claims<'a> {
    object: RawObject<'a>,
}

impl<'a> Claims<'a> {
    /// Parses a decoded payload: a strict JSON object (same rules and errors as
    /// `strict_json::parse_object`).
    pub fn parse(payload: &'a [u8]) -> Result<Self, JsonError> {
        RawObject::parse(payload).map(|object| Self { object })
    }

    /// The payload JSON text, exactly as signed.
    pub fn json(&self) -> &'a str {
        self.object.text()
    }

    /// The raw JSON value of claim `name`, if present (`null` counts as present).
    pub fn raw(&self, name: &str) -> Option<RawJson<'a>> {
        self.object.get(name)
    }

    /// Whether claim `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.object.contains(name)
    }

    /// Claim `name` if it is a string (absent or another type: `None`).
    pub fn str(&self, name: &str) -> Option<Cow<'a, str>> {
        self.raw(name).and_then(|raw| raw.as_str())
    }

    /// All claims as a JSON map (allocates; for display and the evaluation trace).
    pub fn to_map(&self) -> Map<String, Value> {
        self.object.to_map()
    }
}

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z.
///
/// Why this bound: no real token is valid past the last four-digit year, and every value in
/// `0..=MAX_NUMERIC_DATE` is far below 2^53, so integer seconds are exact in an `f64`, the
/// value in milliseconds (≈ 2.5 × 10^14) fits an `i64` with room to spare, and every date can be
/// written as RFC 3339. Beyond it, `exp` = 2^63−1 or 1e300 would mean "never expires", and
/// arithmetic on such values (`exp` + skew, `exp` − `iat`, milliseconds) loses meaning.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// Reads a NumericDate claim (RFC 7519 §2): a JSON number, integer or fractional. Any other type
/// is malformed — `"1700000000"` (string) and `true` are type confusion, not dates. A number that
/// is negative, not finite in an `f64` (`1e400`) or later than [`MAX_NUMERIC_DATE`] is out of
/// range ([`Rejection::NumericDateOutOfRange`]). `-0` reads as `0`.
pub fn numeric_date(claims: &Claims<'_>, claim: &'static str) -> Result<Option<f64>, Rejection> {
    let Some(raw) = claims.raw(claim) else {
        return Ok(None);
    };
    if raw.kind() != JsonKind::Number {
        return Err(Rejection::MalformedClaim {
            claim,
            expected: "a NumericDate (number)",
        });
    }
    match raw.as_f64() {
        Some(value) if value.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&value) => {
            // `-0.0` is in range; normalise it so it prints as `0`.
            Ok(Some(value + 0.0))
        }
        _ => Err(Rejection::NumericDateOutOfRange {
            claim,
            value: untrusted(raw.text()),
        }),
    }
}

/// `exp` is required, a NumericDate, and `now` must be before `exp` + `skew`. Returns `exp`.
pub fn check_expiry(claims: &Claims<'_>, now: f64, skew: u32) -> Result<f64, Rejection> {
    let exp = numeric_date(claims, "exp")?.ok_or(Rejection::MissingExpiry)?;
    if now >= exp + f64::from(skew) {
        return Err(Rejection::Expired { exp, now, skew });
    }
    Ok(exp)
}

/// `nbf`, when present, must not be later than `now` + `skew`.
pub fn check_not_before(
    claims: &Claims<'_>,
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
pub fn check_issued_at(claims: &Claims<'_>, now: f64, skew: u32) -> Result<Option<f64>, Rejection> {
    let iat = numeric_date(claims, "iat")?;
    match iat {
        Some(iat) if iat - f64::from(skew) > now => {
            Err(Rejection::IssuedInFuture { iat, now, skew })
        }
        _ => Ok(iat),
    }
}

/// How a token's lifetime was measured by [`check_lifetime`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lifetime {
    /// `max` is 0: the lifetime is not checked.
    Unchecked,
    /// `exp` − `iat`, as the issuer stated it; compared with `max` exactly (no skew: both
    /// values come from the issuer's clock).
    Stated(f64),
    /// No `iat`: `exp` − `now`, the remaining lifetime; compared with `max` + `skew`, since our
    /// clock may lag the issuer's by up to the skew.
    Remaining(f64),
}

/// The token's lifetime must not exceed `max` seconds (`0` = not checked): `exp` − `iat` when
/// `iat` is present, otherwise `exp` − `now` with `skew` seconds of tolerance. `exp` and `iat`
/// are already range-checked NumericDates, so the differences are exact enough to compare.
pub fn check_lifetime(
    exp: f64,
    iat: Option<f64>,
    now: f64,
    max: u32,
    skew: u32,
) -> Result<Lifetime, Rejection> {
    if max == 0 {
        return Ok(Lifetime::Unchecked);
    }
    let (lifetime, allowed, measured) = match iat {
        Some(iat) => (exp - iat, f64::from(max), Lifetime::Stated(exp - iat)),
        None => (
            exp - now,
            f64::from(max) + f64::from(skew),
            Lifetime::Remaining(exp - now),
        ),
    };
    if lifetime > allowed {
        return Err(Rejection::TokenLifetimeExceeded {
            lifetime,
            max,
            from_iat: iat.is_some(),
        });
    }
    Ok(measured)
}

/// The whole validity window (`exp`, `nbf`, `iat`) with `skew` seconds of tolerance, and the
/// lifetime limit `max_lifetime` (`0` = off). Returns `exp`.
pub fn check_times(
    claims: &Claims<'_>,
    now: f64,
    skew: u32,
    max_lifetime: u32,
) -> Result<f64, Rejection> {
    let exp = check_expiry(claims, now, skew)?;
    check_not_before(claims, now, skew)?;
    let iat = check_issued_at(claims, now, skew)?;
    check_lifetime(exp, iat, now, max_lifetime, skew)?;
    Ok(exp)
}

/// Reads an optional string claim; a non-string value is malformed.
pub fn string_claim<'a>(
    claims: &Claims<'a>,
    claim: &'static str,
) -> Result<Option<Cow<'a, str>>, Rejection> {
    match claims.raw(claim) {
        None => Ok(None),
        Some(raw) => raw.as_str().map(Some).ok_or(Rejection::MalformedClaim {
            claim,
            expected: "a string",
        }),
    }
}

const MALFORMED_AUDIENCE: Rejection = Rejection::MalformedClaim {
    claim: "aud",
    expected: "a string or an array of strings",
};

/// Calls `each` with every audience of the token (`aud` is a string or an array of strings,
/// RFC 7519 §4.1.3) and returns how many there are, without collecting them.
pub fn for_each_audience(
    claims: &Claims<'_>,
    mut each: impl FnMut(&str),
) -> Result<usize, Rejection> {
    let Some(raw) = claims.raw("aud") else {
        return Ok(0);
    };
    if let Some(aud) = raw.as_str() {
        each(&aud);
        return Ok(1);
    }
    let (mut count, mut malformed) = (0, false);
    let is_array = raw.for_each_str_item(|item| match item {
        Some(aud) => {
            count += 1;
            each(&aud);
        }
        None => malformed = true,
    });
    if !is_array || malformed {
        return Err(MALFORMED_AUDIENCE);
    }
    Ok(count)
}

/// The token's audiences: `aud` is a string or an array of strings (RFC 7519 §4.1.3).
pub fn audiences<'a>(claims: &Claims<'a>) -> Result<Vec<Cow<'a, str>>, Rejection> {
    let Some(raw) = claims.raw("aud") else {
        return Ok(Vec::new());
    };
    if let Some(aud) = raw.as_str() {
        return Ok(vec![aud]);
    }
    let mut items = Vec::new();
    let mut malformed = false;
    let is_array = raw.for_each_str_item(|item| match item {
        Some(aud) => items.push(aud),
        None => malformed = true,
    });
    if !is_array || malformed {
        return Err(MALFORMED_AUDIENCE);
    }
    Ok(items)
}

/// If `allowed` is non-empty, one of the token's audiences must be in it.
pub fn check_audience(claims: &Claims<'_>, allowed: &[String]) -> Result<(), Rejection> {
    let mut matched = false;
    let count = for_each_audience(claims, |aud| {
        matched = matched || allowed.iter().any(|want| want == aud);
    })?;
    if allowed.is_empty() {
        return Ok(());
    }
    if count == 0 {
        return Err(Rejection::MissingAudience);
    }
    if matched {
        Ok(())
    } else {
        Err(Rejection::AudienceMismatch {
            actual: untrusted(&audiences(claims)?.join(" ")),
        })
    }
}

/// The client id: the first present claim among `claim_names`, with the claim it came from.
pub fn client_id<'a, 'n>(
    claims: &Claims<'a>,
    claim_names: &'n [String],
) -> Result<Option<(&'n str, Cow<'a, str>)>, Rejection> {
    for name in claim_names {
        let Some(raw) = claims.raw(name) else {
            continue;
        };
        return match raw.as_str() {
            Some(id) => Ok(Some((name.as_str(), id))),
            None => Err(Rejection::MalformedClaim {
                claim: "client_id",
                expected: "a string",
            }),
        };
    }
    Ok(None)
}

/// If `allowed` is non-empty, the client id must be in it. Returns the client id found (see
/// [`client_id`]).
pub fn check_client_id<'a>(
    claims: &Claims<'a>,
    claim_names: &[String],
    allowed: &[String],
) -> Result<Option<Cow<'a, str>>, Rejection> {
    let found = client_id(claims, claim_names)?;
    if allowed.is_empty() {
        return Ok(found.map(|(_, id)| id));
    }
    match found {
        None => Err(Rejection::MissingClientId {
            looked_for: claim_names.join(", "),
        }),
        Some((_, id)) if allowed.iter().any(|want| *want == id) => Ok(Some(id)),
        Some((claim, id)) => Err(Rejection::ClientIdMismatch {
            claim: claim.to_owned(),
            actual: untrusted(&id),
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
    claims: &Claims<'_>,
    require_at_jwt: bool,
) -> Result<(), Rejection> {
    if require_at_jwt && !typ.is_some_and(is_at_jwt) {
        return Err(Rejection::NotAtJwt(typ.map(untrusted)));
    }
    if let Some(typ) = typ {
        let generic = typ.eq_ignore_ascii_case("jwt")
            || typ.eq_ignore_ascii_case("application/jwt")
            || is_at_jwt(typ);
        if !generic {
            return Err(Rejection::WrongTokenType(untrusted(typ)));
        }
    }
    for claim in ["nonce", "at_hash", "c_hash"] {
        if claims.contains(claim) {
            return Err(Rejection::IdToken(claim));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The payload text of a claim set (parse it with [`Claims::parse`]).
    fn text(v: Value) -> String {
        assert!(v.is_object());
        v.to_string()
    }

    fn parse(text: &str) -> Claims<'_> {
        Claims::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn numeric_dates_must_be_numbers() {
        let t = text(json!({"exp": "1700000000", "nbf": true, "iat": 1.5, "auth_time": null}));
        let c = parse(&t);
        assert!(matches!(
            numeric_date(&c, "exp"),
            Err(Rejection::MalformedClaim { claim: "exp", .. })
        ));
        assert!(matches!(
            numeric_date(&c, "nbf"),
            Err(Rejection::MalformedClaim { claim: "nbf", .. })
        ));
        assert!(matches!(
            numeric_date(&c, "auth_time"),
            Err(Rejection::MalformedClaim {
                claim: "auth_time",
                ..
            })
        ));
        assert_eq!(numeric_date(&c, "iat"), Ok(Some(1.5)));
        assert_eq!(numeric_date(&c, "missing"), Ok(None));
    }

    #[test]
    fn time_window_with_skew() {
        let t = text(json!({"exp": 1000, "nbf": 900, "iat": 900}));
        let c = parse(&t);
        assert_eq!(check_times(&c, 950.0, 0, 0), Ok(1000.0));
        assert!(matches!(
            check_times(&c, 1000.0, 0, 0),
            Err(Rejection::Expired { .. })
        ));
        assert_eq!(check_times(&c, 1059.0, 60, 0), Ok(1000.0));
        assert!(matches!(
            check_times(&c, 1060.0, 60, 0),
            Err(Rejection::Expired { .. })
        ));
        assert!(matches!(
            check_times(&c, 839.0, 60, 0),
            Err(Rejection::NotYetValid { .. })
        ));
        assert_eq!(
            check_times(&parse("{}"), 0.0, 60, 0),
            Err(Rejection::MissingExpiry)
        );
        let t = text(json!({"exp": 1000.5}));
        let fractional = parse(&t);
        assert!(check_times(&fractional, 1000.4, 0, 0).is_ok());
        assert!(check_times(&fractional, 1000.5, 0, 0).is_err());
        // The lifetime limit is part of the window: 100 s stated, limit 99 → refused.
        assert!(check_times(&c, 950.0, 0, 100).is_ok());
        assert!(matches!(
            check_times(&c, 950.0, 0, 99),
            Err(Rejection::TokenLifetimeExceeded { .. })
        ));
    }

    /// What [`numeric_date`] makes of one spelling.
    #[derive(Debug)]
    enum Expect {
        /// In range, with this value.
        Date(f64),
        /// A number out of range: `numeric_date_out_of_range`.
        OutOfRange,
        /// Not a number: `claim_malformed`.
        WrongType,
        /// Not even a payload: strict JSON refuses numbers that overflow an `f64` (the token is
        /// rejected as `payload_bad_json` before any claim is read).
        PayloadRefused,
    }

    /// Every NumericDate spelling and what it becomes, for each of `exp`, `nbf`, `iat`.
    #[test]
    fn numeric_date_range_table() {
        use Expect::*;
        let table: &[(&str, Expect)] = &[
            ("0", Date(0.0)),
            ("-0", Date(0.0)),
            ("-0.0", Date(0.0)),
            ("1", Date(1.0)),
            ("1700000000", Date(1_700_000_000.0)),
            ("1700000000.25", Date(1_700_000_000.25)),
            ("1.7e9", Date(1_700_000_000.0)),
            ("253402300799", Date(MAX_NUMERIC_DATE)),
            ("253402300799.0", Date(MAX_NUMERIC_DATE)),
            ("2.53402300799e11", Date(MAX_NUMERIC_DATE)),
            ("253402300798.999", Date(253_402_300_798.999)),
            ("253402300799.001", OutOfRange),
            ("253402300799.5", OutOfRange),
            ("253402300800", OutOfRange),
            ("-1", OutOfRange),
            ("-0.5", OutOfRange),
            ("-1e-300", OutOfRange),
            ("-1700000000", OutOfRange),
            ("1e20", OutOfRange),
            ("1e300", OutOfRange),
            ("1.7976931348623157e308", OutOfRange),
            ("9223372036854775807", OutOfRange),
            ("9223372036854775808", OutOfRange),
            ("18446744073709551615", OutOfRange),
            ("-9223372036854775808", OutOfRange),
            ("99999999999999999999999999999999", OutOfRange),
            ("1E400", PayloadRefused),
            ("-1e400", PayloadRefused),
            ("\"1700000000\"", WrongType),
            ("true", WrongType),
            ("null", WrongType),
            ("[1700000000]", WrongType),
            ("{}", WrongType),
        ];
        for claim in ["exp", "nbf", "iat"] {
            for (spelling, expected) in table {
                let payload = format!("{{\"{claim}\":{spelling}}}");
                let parsed = Claims::parse(payload.as_bytes());
                let Ok(c) = parsed else {
                    assert!(matches!(expected, PayloadRefused), "{payload}: {parsed:?}");
                    continue;
                };
                let got = numeric_date(&c, claim);
                match (expected, &got) {
                    (Date(want), Ok(Some(v))) => assert_eq!(v, want, "{claim} {spelling}"),
                    (
                        OutOfRange,
                        Err(Rejection::NumericDateOutOfRange {
                            claim: named,
                            value,
                        }),
                    ) => {
                        assert_eq!(*named, claim);
                        assert_eq!(value, spelling, "the raw spelling is reported");
                    }
                    (WrongType, Err(Rejection::MalformedClaim { claim: named, .. })) => {
                        assert_eq!(*named, claim)
                    }
                    _ => panic!("{claim} = {spelling}: expected {expected:?}, got {got:?}"),
                }
            }
        }
        // A negative zero never prints as `-0`.
        let c = parse(r#"{"exp":-0}"#);
        assert!(numeric_date(&c, "exp").unwrap().unwrap().is_sign_positive());
    }

    /// `check_lifetime(exp, iat, now, max, skew)` at, just over and around the limit.
    #[test]
    fn lifetime_table() {
        const DAY: u32 = 86_400;
        let now = 1_700_000_000.0;
        let d = f64::from(DAY);
        /// (name, exp, iat, max, skew, accepted)
        type Row = (&'static str, f64, Option<f64>, u32, u32, bool);
        let rows: &[Row] = &[
            (
                "exactly at the limit (iat)",
                now + d,
                Some(now),
                DAY,
                60,
                true,
            ),
            (
                "one second over (iat)",
                now + d + 1.0,
                Some(now),
                DAY,
                60,
                false,
            ),
            (
                "a fraction over (iat)",
                now + d + 0.5,
                Some(now),
                DAY,
                60,
                false,
            ),
            (
                "skew does not widen a stated lifetime",
                now + d + 30.0,
                Some(now),
                DAY,
                60,
                false,
            ),
            (
                "fractional exp under the limit",
                now + d - 0.5,
                Some(now),
                DAY,
                0,
                true,
            ),
            (
                "fractional iat, exactly the limit",
                now + d + 0.25,
                Some(now + 0.25),
                DAY,
                0,
                true,
            ),
            (
                "old iat: issued two days ago for one day",
                now - 60.0,
                Some(now - 2.0 * d),
                DAY,
                60,
                false,
            ),
            (
                "no iat: remaining at the limit",
                now + d,
                None,
                DAY,
                0,
                true,
            ),
            (
                "no iat: one second over, no skew",
                now + d + 1.0,
                None,
                DAY,
                0,
                false,
            ),
            (
                "no iat: within the skew",
                now + d + 60.0,
                None,
                DAY,
                60,
                true,
            ),
            (
                "no iat: one second past the skew",
                now + d + 61.0,
                None,
                DAY,
                60,
                false,
            ),
            (
                "no iat: fractional exp past the skew",
                now + d + 60.5,
                None,
                DAY,
                60,
                false,
            ),
            (
                "off: a year-9999 exp",
                MAX_NUMERIC_DATE,
                Some(now),
                0,
                60,
                true,
            ),
            ("off: no iat", MAX_NUMERIC_DATE, None, 0, 60, true),
            ("limit 1 s", now + 1.0, Some(now), 1, 60, true),
            ("limit 1 s, 2 s token", now + 2.0, Some(now), 1, 60, false),
            (
                "the longest limit",
                now + 31_536_000.0,
                Some(now),
                31_536_000,
                0,
                true,
            ),
            (
                "year 9999 against the longest limit",
                MAX_NUMERIC_DATE,
                Some(now),
                31_536_000,
                300,
                false,
            ),
            (
                "exp before iat (negative lifetime)",
                now,
                Some(now + 10.0),
                DAY,
                0,
                true,
            ),
        ];
        for (name, exp, iat, max, skew, ok) in rows {
            let got = check_lifetime(*exp, *iat, now, *max, *skew);
            assert_eq!(got.is_ok(), *ok, "{name}: {got:?}");
            if let Err(rejection) = got {
                assert_eq!(rejection.code(), "token_lifetime_exceeded", "{name}");
                let Rejection::TokenLifetimeExceeded {
                    max: m, from_iat, ..
                } = rejection
                else {
                    unreachable!()
                };
                assert_eq!((m, from_iat), (*max, iat.is_some()), "{name}");
            }
        }
        assert_eq!(
            check_lifetime(now + 10.0, None, now, 0, 0),
            Ok(Lifetime::Unchecked)
        );
        assert_eq!(
            check_lifetime(now + 10.0, Some(now - 5.0), now, DAY, 0),
            Ok(Lifetime::Stated(15.0))
        );
        assert_eq!(
            check_lifetime(now + 10.0, None, now, DAY, 0),
            Ok(Lifetime::Remaining(10.0))
        );
    }

    #[test]
    fn string_claims() {
        let t = r#"{"iss":"https://a\/b","sub":7,"tid":null}"#;
        let c = parse(t);
        assert_eq!(string_claim(&c, "iss"), Ok(Some("https://a/b".into())));
        assert!(matches!(
            string_claim(&c, "sub"),
            Err(Rejection::MalformedClaim { claim: "sub", .. })
        ));
        assert!(string_claim(&c, "tid").is_err());
        assert_eq!(string_claim(&c, "missing"), Ok(None));
        assert_eq!(c.str("sub"), None);
        assert_eq!(c.json(), t);
        assert_eq!(c.to_map()["iss"], "https://a/b");
    }

    #[test]
    fn audience_rules() {
        let allowed = vec!["api://a".to_owned()];
        let check = |claims: Value, allowed: &[String]| {
            let t = text(claims);
            check_audience(&parse(&t), allowed)
        };
        assert!(check(json!({"aud": "api://a"}), &allowed).is_ok());
        assert!(check(json!({"aud": ["x", "api://a"]}), &allowed).is_ok());
        assert_eq!(check(json!({}), &allowed), Err(Rejection::MissingAudience));
        assert_eq!(
            check(json!({"aud": []}), &allowed),
            Err(Rejection::MissingAudience)
        );
        assert!(check(json!({"aud": []}), &[]).is_ok());
        assert_eq!(
            check(json!({"aud": ["x", "y"]}), &allowed),
            Err(Rejection::AudienceMismatch {
                actual: "x y".into()
            })
        );
        assert!(matches!(
            check(json!({"aud": ["api://a", 1]}), &allowed),
            Err(Rejection::MalformedClaim { .. })
        ));
        assert!(matches!(
            check(json!({"aud": {"api://a": 1}}), &[]),
            Err(Rejection::MalformedClaim { .. })
        ));
        assert!(matches!(
            check(json!({"aud": null}), &[]),
            Err(Rejection::MalformedClaim { .. })
        ));
        let t = r#"{"aud":["a","b\u0063"]}"#;
        assert_eq!(audiences(&parse(t)), Ok(vec!["a".into(), "bc".into()]));
    }

    #[test]
    fn client_id_order() {
        let names: Vec<String> = ["client_id", "cid", "appid", "azp"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let t = text(json!({"azp": "z", "cid": "c"}));
        let c = parse(&t);
        assert_eq!(client_id(&c, &names), Ok(Some(("cid", "c".into()))));
        assert_eq!(
            check_client_id(&c, &names, &["c".to_owned()]),
            Ok(Some("c".into()))
        );
        assert_eq!(check_client_id(&c, &names, &[]), Ok(Some("c".into())));
        assert!(matches!(
            check_client_id(&c, &names, &["z".to_owned()]),
            Err(Rejection::ClientIdMismatch { .. })
        ));
        assert!(matches!(
            check_client_id(&parse("{}"), &names, &["z".to_owned()]),
            Err(Rejection::MissingClientId { .. })
        ));
        assert!(matches!(
            check_client_id(&parse(r#"{"cid":["c"]}"#), &names, &[]),
            Err(Rejection::MalformedClaim {
                claim: "client_id",
                ..
            })
        ));
    }

    #[test]
    fn token_type_rules() {
        let none = parse("{}");
        assert!(check_token_type(None, &none, false).is_ok());
        assert!(check_token_type(Some("JWT"), &none, false).is_ok());
        assert!(check_token_type(Some("Application/JWT"), &none, false).is_ok());
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
        let t = text(json!({"at_hash": "x"}));
        assert_eq!(
            check_token_type(None, &parse(&t), false),
            Err(Rejection::IdToken("at_hash"))
        );
        let t = text(json!({"nonce": null}));
        assert_eq!(
            check_token_type(None, &parse(&t), false),
            Err(Rejection::IdToken("nonce"))
        );
    }
}

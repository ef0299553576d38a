//! Every attack class of DESIGN.md §2 and RFC 8725, as a table: each row is a named attack, how
//! the token is made, and the exact rejection code the validator must give. Positive controls at
//! the bottom prove the fixture accepts honest tokens, so a row cannot pass by accident.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, LazyLock};

use aws_lc_rs::hmac;
use portcullis_jose::{JwkSet, KeyIgnoredReason, base64url};
use portcullis_policy::{Preset, Rejected, ServerConfig, TrustedServer, Validator};
use portcullis_testkit::{TestKey, jwks_of, now};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example.com";
const OTHER_ISSUER: &str = "https://other.example.com";
const AUDIENCE: &str = "api://portcullis";
const CLIENT: &str = "terraform";
/// Issuer of a server with `max_token_lifetime_s` = 0 (lifetime not checked).
const UNLIMITED_ISSUER: &str = "https://unlimited.example.com";

struct Fixture {
    rsa: TestKey,
    ps: TestKey,
    ec: TestKey,
    ed: TestKey,
    /// Published with `use: enc`: must never verify anything.
    enc: TestKey,
    /// Published by the *other* server only.
    other: TestKey,
    /// Never published anywhere: the attacker's own key.
    attacker: TestKey,
    /// Published with a pinned `alg: RS256`.
    pinned: TestKey,
    validator: Validator,
}

fn server(id: &str, enabled: bool, config: ServerConfig, jwks: Value) -> TrustedServer {
    let keys = JwkSet::parse(jwks.to_string().as_bytes()).expect("fixture JWKS parses");
    TrustedServer {
        id: id.into(),
        enabled,
        config,
        keys: Arc::new(keys),
        generation: 1,
    }
}

/// A 1024-bit "modulus" (odd, top bit set): the key must be ignored for its size.
fn small_rsa_jwk() -> Value {
    let mut n = vec![0xC3u8; 128];
    n[127] = 0x01;
    json!({"kty": "RSA", "kid": "small-1", "use": "sig", "n": base64url::encode(&n), "e": "AQAB"})
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rsa = TestKey::rsa("rsa-1", 2048, "RS256");
    let ps = TestKey::rsa("ps-1", 2048, "PS256");
    let ec = TestKey::ec("ec-1", "ES256");
    let ed = TestKey::ed25519("ed-1");
    let enc = TestKey::rsa("enc-1", 2048, "RS256");
    let other = TestKey::rsa("other-1", 2048, "RS256");
    let attacker = TestKey::rsa("rsa-1", 2048, "RS256");
    let pinned = TestKey::rsa("pinned-1", 2048, "RS256");
    let main_jwks = jwks_of(vec![
        rsa.jwk(),
        ps.jwk(),
        ec.jwk(),
        ed.jwk(),
        enc.jwk_with("use", json!("enc")),
        pinned.jwk_with("alg", json!("RS256")),
        small_rsa_jwk(),
    ]);
    let main = ServerConfig::new("idp", Preset::Generic)
        .with_issuer(ISSUER)
        .with_audiences(&[AUDIENCE])
        .with_client_ids(&[CLIENT]);
    let other_cfg = ServerConfig::new("other", Preset::Generic).with_issuer(OTHER_ISSUER);
    let mut rs_only =
        ServerConfig::new("rs-only", Preset::Generic).with_issuer("https://rs-only.example.com");
    rs_only.allowed_algs = vec![portcullis_jose::Algorithm::RS256];
    let disabled =
        ServerConfig::new("disabled", Preset::Generic).with_issuer("https://disabled.example.com");
    let mut unlimited = ServerConfig::new("unlimited", Preset::Generic)
        .with_issuer(UNLIMITED_ISSUER)
        .with_audiences(&[AUDIENCE]);
    unlimited.max_token_lifetime_s = 0;
    let validator = Validator::new(vec![
        server("1", true, main, main_jwks),
        server("2", true, other_cfg, jwks_of(vec![other.jwk()])),
        server("3", true, rs_only, jwks_of(vec![ec.jwk()])),
        server("4", false, disabled, jwks_of(vec![rsa.jwk()])),
        server("5", true, unlimited, jwks_of(vec![rsa.jwk()])),
    ]);
    Fixture {
        rsa,
        ps,
        ec,
        ed,
        enc,
        other,
        attacker,
        pinned,
        validator,
    }
});

fn claims() -> Value {
    let now = now();
    json!({"iss": ISSUER, "sub": "svc-terraform", "aud": AUDIENCE, "client_id": CLIENT,
           "scope": "orders:read orders:write", "iat": now, "exp": now + 600, "jti": "j-1"})
}

fn with(mut base: Value, member: &str, value: Value) -> Value {
    base[member] = value;
    base
}

fn without(mut base: Value, member: &str) -> Value {
    base.as_object_mut().unwrap().remove(member);
    base
}

fn b64(v: &str) -> String {
    base64url::encode(v.as_bytes())
}

/// A token with arbitrary header/payload text and arbitrary signature bytes.
fn forged(header: &str, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header),
        b64(payload),
        base64url::encode(signature)
    )
}

fn hmac_token(alg: &str, secret: &[u8]) -> String {
    let header = json!({"alg": alg, "kid": "rsa-1"}).to_string();
    let input = format!("{}.{}", b64(&header), b64(&claims().to_string()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", base64url::encode(tag.as_ref()))
}

/// Re-signs `token`'s content but replaces its signature with `signature`.
fn replace_signature(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", base64url::encode(signature))
}

fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        vec![0]
    } else {
        vec![]
    };
    body.extend(trimmed);
    let mut out = vec![0x02, body.len() as u8];
    out.extend(body);
    out
}

/// The same ECDSA signature in ASN.1 DER form instead of JWS's fixed r||s.
fn der_ecdsa(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let mut body = der_integer(r);
    body.extend(der_integer(s));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// The order n of P-256, for the "psychic signature" r = s = n.
const P256_ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// One attack: a name, how the token is made, and the rejection code it must get.
struct Attack {
    name: &'static str,
    token: fn(&Fixture) -> String,
    code: &'static str,
}

const ATTACKS: &[Attack] = &[
    // alg none, in any case (RFC 8725 §2.1, §3.1)
    Attack {
        name: "alg none",
        token: |_| forged(r#"{"alg":"none"}"#, &claims().to_string(), b""),
        code: "alg_none",
    },
    Attack {
        name: "alg None",
        token: |_| forged(r#"{"alg":"None"}"#, &claims().to_string(), b""),
        code: "alg_none",
    },
    Attack {
        name: "alg NONE",
        token: |_| forged(r#"{"alg":"NONE"}"#, &claims().to_string(), b""),
        code: "alg_none",
    },
    Attack {
        name: "alg nOnE with a signature",
        token: |_| forged(r#"{"alg":"nOnE"}"#, &claims().to_string(), b"sig"),
        code: "alg_none",
    },
    // HMAC with the public key as the secret (algorithm confusion)
    Attack {
        name: "HS256 keyed with the RSA public JWK",
        token: |f| hmac_token("HS256", f.rsa.jwk().to_string().as_bytes()),
        code: "alg_hmac",
    },
    Attack {
        name: "HS256 keyed with the RSA modulus bytes",
        token: |f| {
            hmac_token(
                "HS256",
                &base64url::decode(f.rsa.jwk()["n"].as_str().unwrap()).unwrap(),
            )
        },
        code: "alg_hmac",
    },
    Attack {
        name: "hs512 lower case",
        token: |_| hmac_token("hs512", b"secret"),
        code: "alg_hmac",
    },
    // Psychic signatures (CVE-2022-21449) and signature encodings
    Attack {
        name: "ECDSA r = s = 0",
        token: |f| replace_signature(&f.ec.sign(&claims()), &[0u8; 64]),
        code: "signature_invalid",
    },
    Attack {
        name: "ECDSA r = s = n",
        token: |f| {
            replace_signature(
                &f.ec.sign(&claims()),
                &[hex(P256_ORDER), hex(P256_ORDER)].concat(),
            )
        },
        code: "signature_invalid",
    },
    Attack {
        name: "ECDSA signature DER-encoded",
        token: |f| {
            let token = f.ec.sign(&claims());
            let fixed = base64url::decode(token.rsplit('.').next().unwrap()).unwrap();
            replace_signature(&token, &der_ecdsa(&fixed))
        },
        code: "signature_invalid",
    },
    Attack {
        name: "ECDSA signature truncated",
        token: |f| {
            let token = f.ec.sign(&claims());
            let fixed = base64url::decode(token.rsplit('.').next().unwrap()).unwrap();
            replace_signature(&token, &fixed[..63])
        },
        code: "signature_invalid",
    },
    Attack {
        name: "RSA signature all zero",
        token: |f| replace_signature(&f.rsa.sign(&claims()), &[0u8; 256]),
        code: "signature_invalid",
    },
    // Wrong key type for the algorithm
    Attack {
        name: "ES256 header naming an RSA key",
        token: |f| f.ec.sign_with_header(&json!({"kid": "rsa-1"}), &claims()),
        code: "alg_key_mismatch",
    },
    Attack {
        name: "RS256 header naming an EC key",
        token: |f| f.rsa.sign_with_header(&json!({"kid": "ec-1"}), &claims()),
        code: "alg_key_mismatch",
    },
    Attack {
        name: "EdDSA header naming an EC key",
        token: |f| f.ed.sign_with_header(&json!({"kid": "ec-1"}), &claims()),
        code: "alg_key_mismatch",
    },
    Attack {
        name: "PS256 against a key pinned to RS256",
        token: |f| {
            f.ps.sign_with_header(&json!({"kid": "pinned-1"}), &claims())
        },
        code: "alg_key_mismatch",
    },
    Attack {
        name: "RS256 signature presented as PS256",
        token: |f| f.rsa.sign_with_header(&json!({"alg": "PS256"}), &claims()),
        code: "signature_invalid",
    },
    Attack {
        name: "algorithm outside the server allowlist",
        token: |f| {
            f.ec.sign(&with(claims(), "iss", json!("https://rs-only.example.com")))
        },
        code: "alg_not_allowed",
    },
    // Keys that must not be used
    Attack {
        name: "key published with use=enc",
        token: |f| f.enc.sign(&claims()),
        code: "kid_unknown",
    },
    Attack {
        name: "RSA key below 2048 bits",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"kid": "small-1"}), &claims())
        },
        code: "kid_unknown",
    },
    // Header members that point at attacker keys (RFC 8725 §3.10)
    Attack {
        name: "embedded jwk header with the attacker's key",
        token: |f| {
            f.attacker
                .sign_with_header(&json!({"jwk": f.attacker.jwk()}), &claims())
        },
        code: "signature_invalid",
    },
    Attack {
        name: "jku header pointing at the attacker's JWKS",
        token: |f| {
            f.attacker
                .sign_with_header(&json!({"jku": "https://evil.example/jwks.json"}), &claims())
        },
        code: "signature_invalid",
    },
    Attack {
        name: "x5u header pointing at the attacker's certificate",
        token: |f| {
            f.attacker
                .sign_with_header(&json!({"x5u": "https://evil.example/cert.pem"}), &claims())
        },
        code: "signature_invalid",
    },
    Attack {
        name: "x5c header with a self-signed certificate",
        token: |f| {
            f.attacker.sign_with_header(
                &json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"], "kid": null}),
                &claims(),
            )
        },
        code: "signature_invalid",
    },
    // Hostile kid values (RFC 8725 §3.10: kid is untrusted input)
    Attack {
        name: "kid path traversal",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"kid": "../../../etc/passwd"}), &claims())
        },
        code: "kid_unknown",
    },
    Attack {
        name: "kid SQL injection",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"kid": "' OR '1'='1"}), &claims())
        },
        code: "kid_unknown",
    },
    Attack {
        name: "kid with log-injection newline",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"kid": "x\nlevel=ERROR forged"}), &claims())
        },
        code: "kid_unknown",
    },
    Attack {
        name: "kid 10 KB long",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"kid": "k".repeat(10_000)}), &claims())
        },
        code: "header_bad_kid",
    },
    Attack {
        name: "kid not a string",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"kid": {"$ne": null}}), &claims())
        },
        code: "header_bad_kid",
    },
    // Duplicate JSON members (parser differentials)
    Attack {
        name: "duplicate alg in header",
        token: |f| {
            f.rsa.sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1","alg":"none"}"#,
                &claims().to_string(),
            )
        },
        code: "header_bad_json",
    },
    Attack {
        name: "duplicate iss in payload",
        token: |f| {
            let payload =
                claims()
                    .to_string()
                    .replacen('{', r#"{"iss":"https://other.example.com","#, 1);
            f.rsa.sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, &payload)
        },
        code: "payload_bad_json",
    },
    // Encoding
    Attack {
        name: "non-canonical base64url in signature",
        token: |f| {
            // RSA-2048 signatures are 256 bytes: the last base64url character carries 4 unused bits.
            let token = f.rsa.sign(&claims());
            let last = token.chars().last().unwrap();
            let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let pos = alphabet.find(last).unwrap();
            let bumped = alphabet
                .chars()
                .nth((pos & !0x0f) | ((pos + 1) & 0x0f))
                .unwrap();
            format!("{}{bumped}", &token[..token.len() - 1])
        },
        code: "token_bad_base64",
    },
    Attack {
        name: "padded base64url",
        token: |f| format!("{}==", f.rsa.sign(&claims())),
        code: "token_bad_base64",
    },
    Attack {
        name: "standard base64 alphabet",
        token: |f| f.rsa.sign(&claims()).replace('-', "+").replace('_', "/"),
        code: "token_bad_base64",
    },
    Attack {
        name: "whitespace inside the token",
        token: |f| f.rsa.sign(&claims()).replacen('.', ". ", 1),
        code: "token_bad_base64",
    },
    // Size and nesting
    Attack {
        name: "oversized token",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "pad", json!("x".repeat(20_000))))
        },
        code: "token_too_large",
    },
    Attack {
        name: "deeply nested payload",
        token: |f| {
            f.rsa.sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!(r#"{{"deep":{}}}"#, nested(40)),
            )
        },
        code: "payload_bad_json",
    },
    Attack {
        name: "deeply nested header",
        token: |f| {
            f.rsa.sign_raw(
                &format!(r#"{{"alg":"RS256","deep":{}}}"#, nested(40)),
                &claims().to_string(),
            )
        },
        code: "header_bad_json",
    },
    Attack {
        name: "payload not JSON",
        token: |f| f.rsa.sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, "foo"),
        code: "payload_bad_json",
    },
    Attack {
        name: "payload a JSON array",
        token: |f| f.rsa.sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, "[1]"),
        code: "payload_bad_json",
    },
    Attack {
        name: "header a JSON string",
        token: |f| f.rsa.sign_raw(r#""RS256""#, &claims().to_string()),
        code: "header_bad_json",
    },
    // Shapes we never process
    Attack {
        name: "JWE (five parts)",
        token: |_| "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".to_owned(),
        code: "token_encrypted",
    },
    Attack {
        name: "two parts",
        token: |f| f.rsa.sign(&claims()).rsplit_once('.').unwrap().0.to_owned(),
        code: "token_malformed",
    },
    Attack {
        name: "crit header",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"crit": ["exp"], "exp": 1}), &claims())
        },
        code: "header_crit",
    },
    Attack {
        name: "b64=false header (RFC 7797)",
        token: |f| f.rsa.sign_with_header(&json!({"b64": false}), &claims()),
        code: "header_b64",
    },
    Attack {
        name: "nonce header (token for Microsoft Graph)",
        token: |f| f.rsa.sign_with_header(&json!({"nonce": "abc"}), &claims()),
        code: "header_nonce",
    },
    Attack {
        name: "unsupported alg ES256K",
        token: |f| f.ec.sign_with_header(&json!({"alg": "ES256K"}), &claims()),
        code: "alg_unsupported",
    },
    // NumericDate type confusion
    Attack {
        name: "exp as a string",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "exp", json!((now() + 600).to_string())))
        },
        code: "claim_malformed",
    },
    Attack {
        name: "exp as a boolean",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(true))),
        code: "claim_malformed",
    },
    Attack {
        name: "nbf as a string",
        token: |f| f.rsa.sign(&with(claims(), "nbf", json!("0"))),
        code: "claim_malformed",
    },
    Attack {
        name: "iat as an array",
        token: |f| f.rsa.sign(&with(claims(), "iat", json!([now()]))),
        code: "claim_malformed",
    },
    Attack {
        name: "exp missing",
        token: |f| f.rsa.sign(&without(claims(), "exp")),
        code: "exp_missing",
    },
    Attack {
        name: "exp null",
        token: |f| f.rsa.sign(&with(claims(), "exp", Value::Null)),
        code: "claim_malformed",
    },
    // Time
    Attack {
        name: "expired beyond skew",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(now() - 61))),
        code: "expired",
    },
    Attack {
        name: "not yet valid beyond skew",
        token: |f| f.rsa.sign(&with(claims(), "nbf", json!(now() + 120))),
        code: "not_yet_valid",
    },
    Attack {
        name: "issued in the future beyond skew",
        token: |f| f.rsa.sign(&with(claims(), "iat", json!(now() + 120))),
        code: "iat_in_future",
    },
    // NumericDate range: "never expires" spelled as a huge, negative or unrepresentable number
    Attack {
        name: "exp = 2^63-1",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(i64::MAX))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = 2^64-1",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(u64::MAX))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = 1e300",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(1e300))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = f64::MAX",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(f64::MAX))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = 1e20",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(1e20))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = 2^53 + 1 (not exact in an f64)",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "exp", json!(9_007_199_254_740_993_u64)))
        },
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = -1",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(-1))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = -2^63",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(i64::MIN))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp just past year 9999 (fractional)",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(253_402_300_799.5))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "exp = 1e400 (overflows an f64; the payload is refused)",
        token: |f| {
            let payload = claims()
                .to_string()
                .replacen("\"exp\":", "\"exp\":1e400,\"x\":", 1);
            f.rsa.sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, &payload)
        },
        code: "payload_bad_json",
    },
    Attack {
        name: "exp in year 9999 exactly: in range, but far beyond the lifetime limit",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "exp", json!(253_402_300_799_i64)))
        },
        code: "token_lifetime_exceeded",
    },
    Attack {
        name: "nbf = -1",
        token: |f| f.rsa.sign(&with(claims(), "nbf", json!(-1))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "nbf = 1e300",
        token: |f| f.rsa.sign(&with(claims(), "nbf", json!(1e300))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "nbf = -1e300 (always valid)",
        token: |f| f.rsa.sign(&with(claims(), "nbf", json!(-1e300))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "iat = -1 (with exp near: a huge stated lifetime)",
        token: |f| f.rsa.sign(&with(claims(), "iat", json!(-1))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "iat = 2^63-1",
        token: |f| f.rsa.sign(&with(claims(), "iat", json!(i64::MAX))),
        code: "numeric_date_out_of_range",
    },
    Attack {
        name: "iat = -1e300 (lifetime arithmetic overflow)",
        token: |f| f.rsa.sign(&with(claims(), "iat", json!(-1e300))),
        code: "numeric_date_out_of_range",
    },
    // Token lifetime (max_token_lifetime_s = 86400 on this server)
    Attack {
        name: "lifetime 24 h + 1 s (exp - iat)",
        token: |f| f.rsa.sign(&with(claims(), "exp", json!(now() + 86_401))),
        code: "token_lifetime_exceeded",
    },
    Attack {
        name: "lifetime one year, exp 1e9 s ahead of iat",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "exp", json!(now() + 1_000_000_000)))
        },
        code: "token_lifetime_exceeded",
    },
    Attack {
        name: "no iat, exp 24 h + skew + 2 min ahead",
        token: |f| {
            f.rsa.sign(&with(
                without(claims(), "iat"),
                "exp",
                json!(now() + 86_400 + 180),
            ))
        },
        code: "token_lifetime_exceeded",
    },
    Attack {
        name: "old iat: issued 2 days ago, expiring in 10 min",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "iat", json!(now() - 2 * 86_400)))
        },
        code: "token_lifetime_exceeded",
    },
    // Issuer, audience, client id
    Attack {
        name: "unknown issuer",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "iss", json!("https://evil.example.com")))
        },
        code: "issuer_unknown",
    },
    Attack {
        name: "issuer with trailing slash",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "iss", json!(format!("{ISSUER}/"))))
        },
        code: "issuer_unknown",
    },
    Attack {
        name: "issuer case changed",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "iss", json!("https://IDP.example.com")))
        },
        code: "issuer_unknown",
    },
    Attack {
        name: "issuer not a string",
        token: |f| f.rsa.sign(&with(claims(), "iss", json!([ISSUER]))),
        code: "claim_malformed",
    },
    Attack {
        name: "issuer of a disabled server",
        token: |f| {
            f.rsa.sign(&with(
                claims(),
                "iss",
                json!("https://disabled.example.com"),
            ))
        },
        code: "server_disabled",
    },
    Attack {
        name: "audience for another resource",
        token: |f| f.rsa.sign(&with(claims(), "aud", json!("api://payroll"))),
        code: "aud_mismatch",
    },
    Attack {
        name: "audience missing",
        token: |f| f.rsa.sign(&without(claims(), "aud")),
        code: "aud_missing",
    },
    Attack {
        name: "audience array with a non-string",
        token: |f| f.rsa.sign(&with(claims(), "aud", json!([AUDIENCE, 7]))),
        code: "claim_malformed",
    },
    Attack {
        name: "client id not allowed",
        token: |f| f.rsa.sign(&with(claims(), "client_id", json!("intruder"))),
        code: "client_id_mismatch",
    },
    Attack {
        name: "client id missing",
        token: |f| f.rsa.sign(&without(claims(), "client_id")),
        code: "client_id_missing",
    },
    // Cross-issuer keys (RFC 8725 §3.8): a key verifies only for the server that published it
    Attack {
        name: "token claiming idp, signed with other server's key",
        token: |f| f.other.sign(&claims()),
        code: "kid_unknown",
    },
    Attack {
        name: "token claiming other, signed with idp's key",
        token: |f| f.rsa.sign(&with(claims(), "iss", json!(OTHER_ISSUER))),
        code: "kid_unknown",
    },
    Attack {
        name: "token claiming other, idp's key, other's kid",
        token: |f| {
            f.rsa.sign_with_header(
                &json!({"kid": "other-1"}),
                &with(claims(), "iss", json!(OTHER_ISSUER)),
            )
        },
        code: "signature_invalid",
    },
    // Token kinds (RFC 8725 §3.11, §3.12)
    Attack {
        name: "ID token (nonce claim)",
        token: |f| f.rsa.sign(&with(claims(), "nonce", json!("n-0S6"))),
        code: "id_token",
    },
    Attack {
        name: "ID token (at_hash claim)",
        token: |f| {
            f.rsa
                .sign(&with(claims(), "at_hash", json!("77QmUPtjPfzWtF2AnpK9RQ")))
        },
        code: "id_token",
    },
    Attack {
        name: "logout token typ",
        token: |f| {
            f.rsa
                .sign_with_header(&json!({"typ": "logout+jwt"}), &claims())
        },
        code: "typ_wrong",
    },
];

fn reject(token: &str) -> Rejected {
    match FIXTURE.validator.validate(token, now() as f64) {
        Ok(verified) => panic!("accepted: {verified:?}"),
        Err(rejected) => rejected,
    }
}

#[test]
fn every_attack_is_rejected_with_its_precise_reason() {
    let mut failures = Vec::new();
    for attack in ATTACKS {
        let token = (attack.token)(&FIXTURE);
        match FIXTURE.validator.validate(&token, now() as f64) {
            Ok(_) => failures.push(format!("{}: ACCEPTED", attack.name)),
            Err(r) if r.rejection.code() != attack.code => failures.push(format!(
                "{}: expected {}, got {} ({r})",
                attack.name,
                attack.code,
                r.rejection.code()
            )),
            Err(_) => {}
        }
    }
    println!("{} attack cases", ATTACKS.len());
    assert!(
        failures.is_empty(),
        "{} of {} attacks misjudged:\n{}",
        failures.len(),
        ATTACKS.len(),
        failures.join("\n")
    );
}

#[test]
fn attack_names_are_unique() {
    let mut names: Vec<_> = ATTACKS.iter().map(|a| a.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ATTACKS.len());
}

#[test]
fn honest_tokens_are_accepted_for_every_algorithm() {
    for key in [&FIXTURE.rsa, &FIXTURE.ps, &FIXTURE.ec, &FIXTURE.ed] {
        let verified = FIXTURE
            .validator
            .validate(&key.sign(&claims()), now() as f64)
            .unwrap_or_else(|e| panic!("{}: {e}", key.alg));
        assert_eq!(verified.server_name, "idp");
        assert_eq!(verified.alg.name(), key.alg);
        assert_eq!(verified.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(verified.client_id.as_deref(), Some(CLIENT));
        assert_eq!(verified.scopes, ["orders:read", "orders:write"]);
    }
    // Within the skew: expired 30 s ago, not before 30 s from now.
    let lenient = with(
        with(claims(), "exp", json!(now() - 30)),
        "nbf",
        json!(now() + 30),
    );
    assert!(
        FIXTURE
            .validator
            .validate(&FIXTURE.rsa.sign(&lenient), now() as f64)
            .is_ok()
    );
    // The pinned key verifies its own algorithm; a token without kid finds its key.
    assert!(
        FIXTURE
            .validator
            .validate(&FIXTURE.pinned.sign(&claims()), now() as f64)
            .is_ok()
    );
    let no_kid = FIXTURE
        .ec
        .sign_with_header(&json!({"kid": null}), &claims());
    assert_eq!(
        FIXTURE
            .validator
            .validate(&no_kid, now() as f64)
            .unwrap()
            .kid
            .as_deref(),
        Some("ec-1")
    );
}

#[test]
fn unusable_keys_are_ignored_with_reasons_not_fatal() {
    let server = FIXTURE.validator.server("1").unwrap();
    let reasons: Vec<_> = server
        .keys
        .ignored()
        .iter()
        .map(|k| (k.kid.clone().unwrap_or_default(), k.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "enc-1".to_owned(),
                KeyIgnoredReason::NotForSignatures("enc".into())
            ),
            (
                "small-1".to_owned(),
                KeyIgnoredReason::RsaTooSmall { bits: 1024 }
            ),
        ]
    );
    assert_eq!(server.keys.keys().len(), 5);
}

#[test]
fn untrusted_values_are_escaped_in_reasons() {
    let rejected = reject(&FIXTURE.rsa.sign_with_header(
        &json!({"kid": "x\nlevel=ERROR \u{1b}[31mforged"}),
        &claims(),
    ));
    let message = rejected.to_string();
    assert!(
        !message.contains('\n') && !message.contains('\u{1b}'),
        "{message}"
    );
    assert!(message.contains("\\u{a}"), "{message}");
    let long_issuer = format!("https://{}.example.com", "a".repeat(5000));
    let message = reject(&FIXTURE.rsa.sign(&with(claims(), "iss", json!(long_issuer)))).to_string();
    assert!(message.len() < 400, "unbounded: {} bytes", message.len());
}

#[test]
fn client_descriptions_leak_no_configuration() {
    for attack in ATTACKS {
        let rejected = reject(&(attack.token)(&FIXTURE));
        let description = rejected.rejection.client_description();
        for secret in [ISSUER, AUDIENCE, CLIENT, "rsa-1", "idp"] {
            assert!(
                !description.contains(secret),
                "{}: {description}",
                attack.name
            );
        }
    }
}

/// The time rules at fixed instants: NumericDate range and `max_token_lifetime_s` at, just over
/// and around the limit, on the main server (limit 86,400 s, skew 60 s) and on a server with the
/// check off (0). `Ok(())` = accepted; `Err(code)` = that rejection.
#[test]
fn token_time_table() {
    const NOW: f64 = 1_700_000_000.0;
    const DAY: f64 = 86_400.0;
    let base = |iss: &str| json!({"iss": iss, "sub": "svc", "aud": AUDIENCE, "client_id": CLIENT, "jti": "j"});
    let dates = |iss: &str, exp: Value, iat: Option<Value>| {
        let mut c = with(base(iss), "exp", exp);
        if let Some(iat) = iat {
            c["iat"] = iat;
        }
        c
    };
    let rows: Vec<(&str, Value, Result<(), &str>)> = vec![
        (
            "at the limit",
            dates(ISSUER, json!(NOW + DAY), Some(json!(NOW))),
            Ok(()),
        ),
        (
            "one second over",
            dates(ISSUER, json!(NOW + DAY + 1.0), Some(json!(NOW))),
            Err("token_lifetime_exceeded"),
        ),
        (
            "a quarter second over (fractional exp)",
            dates(ISSUER, json!(NOW + DAY + 0.25), Some(json!(NOW))),
            Err("token_lifetime_exceeded"),
        ),
        (
            "fractional exp just under",
            dates(ISSUER, json!(NOW + DAY - 0.25), Some(json!(NOW))),
            Ok(()),
        ),
        (
            "fractional iat and exp, exactly the limit",
            dates(ISSUER, json!(NOW + DAY + 0.5), Some(json!(NOW + 0.5))),
            Ok(()),
        ),
        (
            "skew does not widen exp - iat",
            dates(ISSUER, json!(NOW + DAY + 30.0), Some(json!(NOW))),
            Err("token_lifetime_exceeded"),
        ),
        (
            "no iat: at the limit",
            dates(ISSUER, json!(NOW + DAY), None),
            Ok(()),
        ),
        (
            "no iat: within the 60 s skew",
            dates(ISSUER, json!(NOW + DAY + 60.0), None),
            Ok(()),
        ),
        (
            "no iat: one second past the skew",
            dates(ISSUER, json!(NOW + DAY + 61.0), None),
            Err("token_lifetime_exceeded"),
        ),
        (
            "no iat: fractional, just past the skew",
            dates(ISSUER, json!(NOW + DAY + 60.5), None),
            Err("token_lifetime_exceeded"),
        ),
        (
            "year 9999 exp",
            dates(ISSUER, json!(253_402_300_799_i64), Some(json!(NOW))),
            Err("token_lifetime_exceeded"),
        ),
        (
            "exp = 2^63-1",
            dates(ISSUER, json!(i64::MAX), Some(json!(NOW))),
            Err("numeric_date_out_of_range"),
        ),
        (
            "exp = 1e300",
            dates(ISSUER, json!(1e300), None),
            Err("numeric_date_out_of_range"),
        ),
        (
            "exp = -1 (not `expired`: out of range)",
            dates(ISSUER, json!(-1), Some(json!(NOW))),
            Err("numeric_date_out_of_range"),
        ),
        (
            "iat = -0.5",
            dates(ISSUER, json!(NOW + 60.0), Some(json!(-0.5))),
            Err("numeric_date_out_of_range"),
        ),
        (
            "iat = 1e20",
            dates(ISSUER, json!(NOW + 60.0), Some(json!(1e20))),
            Err("numeric_date_out_of_range"),
        ),
        (
            "iat = -0 reads as 0: a 53-year lifetime",
            dates(ISSUER, json!(NOW + 60.0), Some(json!(-0.0))),
            Err("token_lifetime_exceeded"),
        ),
        (
            "off: a year-9999 exp",
            dates(
                UNLIMITED_ISSUER,
                json!(253_402_300_799_i64),
                Some(json!(NOW)),
            ),
            Ok(()),
        ),
        (
            "off: no iat, a year-9999 exp",
            dates(UNLIMITED_ISSUER, json!(253_402_300_799_i64), None),
            Ok(()),
        ),
        (
            "off: fractional year-9999 exp",
            dates(UNLIMITED_ISSUER, json!(253_402_300_798.75), None),
            Ok(()),
        ),
        (
            "off still refuses exp = 2^63-1",
            dates(UNLIMITED_ISSUER, json!(i64::MAX), None),
            Err("numeric_date_out_of_range"),
        ),
        (
            "off still refuses exp past year 9999",
            dates(UNLIMITED_ISSUER, json!(253_402_300_799.5), None),
            Err("numeric_date_out_of_range"),
        ),
        (
            "off still refuses nbf = -1",
            with(
                dates(UNLIMITED_ISSUER, json!(NOW + 60.0), None),
                "nbf",
                json!(-1),
            ),
            Err("numeric_date_out_of_range"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, claims, want) in &rows {
        let token = FIXTURE.rsa.sign(claims);
        let got = FIXTURE.validator.validate(&token, NOW);
        let got_code = got.as_ref().map(|_| ()).map_err(|r| r.rejection.code());
        if got_code != *want {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
        if let Err(rejected) = got
            && rejected.rejection.code() == "token_lifetime_exceeded"
        {
            assert_eq!(
                rejected.hint,
                Some(portcullis_policy::VendorHint::TokenLifetimeLimit),
                "{name}: a lifetime rejection carries the hint"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} time rows misjudged:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

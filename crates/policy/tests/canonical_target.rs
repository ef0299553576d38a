//! The canonical request target (`policy::target`) as data: a table of request targets with the
//! canonical form each must take or the reason it must be refused, then properties over
//! generated targets: idempotence, the output invariants, a differential check against a
//! deliberately simple reference written here (decode everything, then check, then re-encode),
//! and the security property: whatever a lenient upstream reads a canonical path as, a route
//! table with a protected prefix picks the protected route for it. Extend the table to pin a
//! case; the harness needs no change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_policy::routes::{CompiledRoute, RouteTable};
use portcullis_policy::target::{
    MAX_TARGET_LEN, RequestTarget, TargetError, canonical_host, canonicalize_path,
    canonicalize_target,
};
use portcullis_testkit::lenient::{falls_under, lenient_reading};
use proptest::prelude::*;
use serde_json::json;

/// `Ok(canonical path and query)` or `Err(TargetError::code)`.
type Expect = Result<&'static str, &'static str>;

const DOT: Expect = Err("dot_segment");
const PDOT: Expect = Err("parameter_dot_segment");
const PEMPTY: Expect = Err("parameter_empty_segment");
const EMPTY_SEG: Expect = Err("empty_segment");
const SEP: Expect = Err("encoded_separator");
const BSL: Expect = Err("backslash");
const CTL: Expect = Err("control_character");
const PCT: Expect = Err("invalid_percent_encoding");
const UTF8: Expect = Err("invalid_utf8");
const FRAG: Expect = Err("fragment");

#[rustfmt::skip]
const ROWS: &[(&[u8], Expect)] = &[
    // Plain paths keep their spelling.
    (b"/", Ok("/")),
    (b"/orders", Ok("/orders")),
    (b"/orders/", Ok("/orders/")),
    (b"/orders/1", Ok("/orders/1")),
    (b"/a-b_c.d~e", Ok("/a-b_c.d~e")),
    (b"/a.b/c..d/...e/f.", Ok("/a.b/c..d/...e/f.")),
    (b"/.well-known/jwks.json", Ok("/.well-known/jwks.json")),
    (b"/..a", Ok("/..a")),
    (b"/a..", Ok("/a..")),
    // Dot segments, raw: refused, never resolved.
    (b"/docs/../orders/1", DOT),
    (b"/docs/./orders", DOT),
    (b"/..", DOT),
    (b"/.", DOT),
    (b"/../orders", DOT),
    (b"/docs/..", DOT),
    (b"/docs/../", DOT),
    (b"/docs/.", DOT),
    (b"/...", DOT),
    (b"/docs/..../x", DOT),
    // Dot segments, encoded in every case mix.
    (b"/docs/%2e%2e/orders/1", DOT),
    (b"/docs/%2E%2E/orders/1", DOT),
    (b"/docs/%2e%2E/orders", DOT),
    (b"/docs/%2E%2e/orders", DOT),
    (b"/docs/%2E./orders", DOT),
    (b"/docs/%2e./orders", DOT),
    (b"/docs/.%2e/orders", DOT),
    (b"/docs/.%2E/orders", DOT),
    (b"/docs/%2e/orders", DOT),
    (b"/docs/%2E/orders", DOT),
    (b"/%2e%2e", DOT),
    (b"/docs/%2e%2e", DOT),
    (b"/docs/%2e%2e/", DOT),
    (b"/%2e%2e%2e", DOT),
    // Double encoding: `%25` followed by two hex digits is an escape to a second decoder
    // (`%252e%252e` is `..` to a proxy-then-framework stack): refused. `%25` before anything
    // else is the text `%` and keeps its spelling.
    (b"/docs/%252e%252e/orders", Err("double_encoding")),
    (b"/docs/%252E%252E/orders", Err("double_encoding")),
    (b"/docs/%25%32%65/orders", Err("double_encoding")),
    (b"/docs/%252f/orders", Err("double_encoding")),
    (b"/docs/%255c/orders", Err("double_encoding")),
    (b"/docs/%2541", Err("double_encoding")),
    (b"/docs/%25%34%31", Err("double_encoding")),
    (b"/%25", Ok("/%25")),
    (b"/%25zz", Ok("/%25zz")),
    (b"/%25g1", Ok("/%25g1")),
    (b"/100%25", Ok("/100%25")),
    (b"/%25/2e", Ok("/%25/2e")),
    // Found by the canonical_target fuzzer (a differential disagreement): an escaped escape in
    // an absolute-form target.
    (b"HTTP://AP/ccAP/m/%2521/a%32ex", Err("double_encoding")),
    // Overlong UTF-8 for `.` and `/`: invalid UTF-8, refused.
    (b"/docs/%c0%ae%c0%ae/orders", UTF8),
    (b"/docs/%C0%AE/orders", UTF8),
    (b"/docs%c0%afx", UTF8),
    (b"/docs/%e0%80%ae", UTF8),
    (b"/%ff", UTF8),
    (b"/%fe%ff", UTF8),
    (b"/%c3", UTF8),
    (b"/%ed%a0%80", UTF8),
    (b"/a\xff", UTF8),
    (b"/a\xc3", UTF8),
    (b"/\xc0\xae\xc0\xae/x", UTF8),
    (b"/%c3\xa9", Ok("/%C3%A9")),
    // Unicode: one spelling, upper-case escapes.
    (b"/caf\xc3\xa9", Ok("/caf%C3%A9")),
    (b"/caf%c3%a9", Ok("/caf%C3%A9")),
    (b"/caf%C3%A9", Ok("/caf%C3%A9")),
    (b"/\xe2\x80\xae", Ok("/%E2%80%AE")),
    (b"/\xf0\x9f\x94\x92/x", Ok("/%F0%9F%94%92/x")),
    (b"/%e2%80%a8", Ok("/%E2%80%A8")),
    (b"/\xef\xbc\x8f", Ok("/%EF%BC%8F")),
    // Unreserved escapes are decoded.
    (b"/%41", Ok("/A")),
    (b"/%61%62c", Ok("/abc")),
    (b"/%7e", Ok("/~")),
    (b"/%7E", Ok("/~")),
    (b"/%2D%5f%2e%7E", Ok("/-_.~")),
    (b"/ord%65rs/1", Ok("/orders/1")),
    (b"/%6Frders", Ok("/orders")),
    (b"/%30%39", Ok("/09")),
    (b"/a%2eb", Ok("/a.b")),
    (b"/a%2E", Ok("/a.")),
    // Reserved escapes stay encoded, hex upper-cased.
    (b"/%3b", PEMPTY),
    (b"/a%3bb", Ok("/a%3Bb")),
    (b"/%3a%40", Ok("/%3A%40")),
    (b"/%21%24%26", Ok("/%21%24%26")),
    (b"/%3f", Ok("/%3F")),
    (b"/%23", Ok("/%23")),
    (b"/%20", Ok("/%20")),
    (b"/a%20b", Ok("/a%20b")),
    (b"/%2b", Ok("/%2B")),
    (b"/%3d", Ok("/%3D")),
    (b"/%5b%5d", Ok("/%5B%5D")),
    (b"/%7b", Ok("/%7B")),
    // Sub-delims, `:` and `@` keep their raw spelling.
    (b"/a!$&'()*+,=b", Ok("/a!$&'()*+,=b")),
    (b"/a:b@c", Ok("/a:b@c")),
    (b"/user@host", Ok("/user@host")),
    (b"/:", Ok("/:")),
    // Characters outside pchar that nobody reads as a separator are encoded.
    (b"/a\"b", Ok("/a%22b")),
    (b"/<script>", Ok("/%3Cscript%3E")),
    (b"/a^b`c", Ok("/a%5Eb%60c")),
    (b"/{x}|y", Ok("/%7Bx%7D%7Cy")),
    (b"/[::1]", Ok("/%5B::1%5D")),
    // Malformed escapes.
    (b"/%", PCT),
    (b"/%2", PCT),
    (b"/%zz", PCT),
    (b"/%2g", PCT),
    (b"/%%32%65", PCT),
    (b"/a%", PCT),
    (b"/%-1", PCT),
    (b"/%+1", PCT),
    (b"/% 1", CTL),
    (b"/%u002e", PCT),
    // Encoded separators.
    (b"/docs%2f..%2forders", SEP),
    (b"/docs%2F..%2Forders", SEP),
    (b"/docs/%2f", SEP),
    (b"/%2F", SEP),
    (b"/a%2fb", SEP),
    (b"/docs%5c..%5corders", SEP),
    (b"/a%5Cb", SEP),
    (b"/a%5cb", SEP),
    // Raw backslash.
    (b"/docs\\..\\orders", BSL),
    (b"/a\\b", BSL),
    (b"\\orders", Err("not_origin_form")),
    (b"/\\orders", BSL),
    // NUL, controls and space, raw and encoded.
    (b"/a%00", CTL),
    (b"/a%00.json", CTL),
    (b"/a\x00b", CTL),
    (b"/a%0a", CTL),
    (b"/a%0D%0Ax", CTL),
    (b"/a%09", CTL),
    (b"/a%1f", CTL),
    (b"/a%7f", CTL),
    (b"/a%7F", CTL),
    (b"/a\tb", CTL),
    (b"/a\rb", CTL),
    (b"/a\nb", CTL),
    (b"/a\x7fb", CTL),
    (b"/a b", CTL),
    (b"/a\x0bb", CTL),
    (b"/a?b c", CTL),
    (b"/a?b\x00", CTL),
    // Empty segments: refused (never merged), a leading `//` included.
    (b"//", EMPTY_SEG),
    (b"//orders", EMPTY_SEG),
    (b"//evil.example.com/orders", EMPTY_SEG),
    (b"/docs//orders", EMPTY_SEG),
    (b"/docs///", EMPTY_SEG),
    (b"/docs//", EMPTY_SEG),
    (b"///", EMPTY_SEG),
    // `;` parameters: allowed, but never hiding a dot or an empty segment.
    (b"/orders;x/1", Ok("/orders;x/1")),
    (b"/orders;jsessionid=ABC", Ok("/orders;jsessionid=ABC")),
    (b"/a;b;c/d;", Ok("/a;b;c/d;")),
    (b"/a;..", Ok("/a;..")),
    (b"/docs/..;/orders", PDOT),
    (b"/docs/..;x/orders", PDOT),
    (b"/docs/.;/orders", PDOT),
    (b"/docs/%2e%2e;x/orders", PDOT),
    (b"/docs/.%2e;/orders", PDOT),
    (b"/docs/..%3b/orders", PDOT),
    (b"/docs/..%3Bx/orders", PDOT),
    (b"/docs/%2e%2e%3b/orders", PDOT),
    (b"/docs/...;x", PDOT),
    (b"/;x/orders", PEMPTY),
    (b"/docs/;/orders", PEMPTY),
    (b"/docs/%3b/orders", PEMPTY),
    (b"/docs/;jsessionid=1", PEMPTY),
    (b"/;", PEMPTY),
    (b"/a/;..", PEMPTY),
    // Fragments never appear in a target.
    (b"/docs#/../orders", FRAG),
    (b"/a#", FRAG),
    (b"/a?b#c", FRAG),
    (b"#", FRAG),
    (b"/%23", Ok("/%23")),
    // Queries are kept byte for byte and never decide anything.
    (b"/a?a=../..&b=%2f", Ok("/a?a=../..&b=%2f")),
    (b"/a?", Ok("/a?")),
    (b"/a?%2e%2e", Ok("/a?%2e%2e")),
    (b"/a?x=1?y=2", Ok("/a?x=1?y=2")),
    (b"/a?\\", Ok("/a?\\")),
    (b"/a?%zz", Ok("/a?%zz")),
    (b"/?/orders", Ok("/?/orders")),
    (b"/docs?/../orders", Ok("/docs?/../orders")),
    (b"/%7e?%7e", Ok("/~?%7e")),
    (b"/a?caf\xc3\xa9", Ok("/a?caf\u{e9}")),
    (b"/a?\xff", UTF8),
    // Other forms.
    (b"", Err("empty")),
    (b"*", Err("asterisk_form")),
    (b"*/orders", Err("asterisk_form")),
    (b"orders", Err("not_origin_form")),
    (b"./orders", Err("not_origin_form")),
    (b"example.com:443", Err("authority_form")),
    (b"ftp://h/x", Err("not_origin_form")),
    (b"http:/x", Err("not_origin_form")),
    (b"javascript:alert(1)", Err("authority_form")),
    // Absolute-form: the path canonicalised, the authority reported as sent.
    (b"http://api.example.com/orders", Ok("/orders")),
    (b"https://api.example.com/orders?x", Ok("/orders?x")),
    (b"HTTP://API.example.com:8080/a%7e", Ok("/a~")),
    (b"http://h", Ok("/")),
    (b"http://h?x=1", Ok("/?x=1")),
    (b"http://[::1]:8080/x", Ok("/x")),
    (b"http://h/../orders", DOT),
    (b"http://h//orders", EMPTY_SEG),
    (b"http://user@h/orders", Err("userinfo")),
    (b"http://user:pw@h/", Err("userinfo")),
    (b"http:///orders", Err("empty_host")),
    (b"http://h:/x", Err("invalid_port")),
    (b"http://h:99999/x", Err("invalid_port")),
    (b"http://h:80:80/x", Err("invalid_port")),
    (b"http://[::1/x", Err("invalid_host")),
    (b"http://h%2e/x", Err("invalid_character")),
    (b"http://h\\x/", Err("invalid_character")),
    (b"http://a..b/", Err("invalid_host")),
];

fn code(result: &Result<RequestTarget, TargetError>) -> Result<String, &'static str> {
    match result {
        Ok(target) => Ok(target.path_and_query()),
        Err(e) => Err(e.code()),
    }
}

#[test]
fn the_table() {
    assert!(ROWS.len() >= 150, "{} rows", ROWS.len());
    let mut failures = Vec::new();
    for (raw, want) in ROWS {
        let got = canonicalize_target(raw);
        let want = want.map(str::to_owned);
        if code(&got) != want {
            failures.push(format!(
                "{:?}: got {:?}, want {want:?}",
                String::from_utf8_lossy(raw),
                code(&got)
            ));
        }
        check_everything(raw, &got);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn absolute_form_reports_the_authority_as_sent() {
    let t = canonicalize_target(b"HTTP://API.Example.com.:8443/a?b").unwrap();
    assert_eq!(t.authority(), Some("API.Example.com.:8443"));
    assert_eq!(
        canonical_host(t.authority().unwrap()).unwrap().as_str(),
        "api.example.com"
    );
    assert_eq!(t.query(), Some("b"));
    assert_eq!(canonicalize_target(b"/a").unwrap().authority(), None);
    assert_eq!(canonicalize_target(b"/a").unwrap().query(), None);
    assert_eq!(canonicalize_target(b"/a?").unwrap().query(), Some(""));
}

#[rustfmt::skip]
const HOSTS: &[(&str, Result<&str, &str>)] = &[
    ("api.example.com", Ok("api.example.com")),
    ("API.Example.COM", Ok("api.example.com")),
    ("api.example.com.", Ok("api.example.com")),
    ("api.example.com:8443", Ok("api.example.com")),
    ("API.Example.com.:8443", Ok("api.example.com")),
    ("localhost:0", Ok("localhost")),
    ("127.0.0.1:65535", Ok("127.0.0.1")),
    ("my_host", Ok("my_host")),
    ("[::1]", Ok("[::1]")),
    ("[::1]:8080", Ok("[::1]")),
    ("[0:0:0:0:0:0:0:1]", Ok("[::1]")),
    ("[2001:DB8::A]", Ok("[2001:db8::a]")),
    ("[::ffff:1.2.3.4]", Ok("[::ffff:1.2.3.4]")),
    ("", Err("empty_host")),
    (".", Err("empty_host")),
    (":80", Err("empty_host")),
    ("h:", Err("invalid_port")),
    ("h:65536", Err("invalid_port")),
    ("h:123456", Err("invalid_port")),
    ("h:8o", Err("invalid_port")),
    ("h:-1", Err("invalid_port")),
    ("::1", Err("invalid_port")),
    ("user@h", Err("userinfo")),
    ("h h", Err("control_character")),
    ("h\t", Err("control_character")),
    ("h\n", Err("control_character")),
    ("h..", Err("invalid_host")),
    ("a..b", Err("invalid_host")),
    (".a", Err("invalid_host")),
    ("[::1", Err("invalid_host")),
    ("::1]", Err("invalid_host")),
    ("h]", Err("invalid_host")),
    ("[::1]x", Err("invalid_host")),
    ("[::1]:", Err("invalid_port")),
    ("[fe80::1%25eth0]", Err("invalid_host")),
    ("[v1.x]", Err("invalid_host")),
    ("[1.2.3.4]", Err("invalid_host")),
    ("h/x", Err("invalid_character")),
    ("h%2e", Err("invalid_character")),
    ("b\u{fc}cher.de", Err("invalid_character")),
];

#[test]
fn hosts() {
    for (raw, want) in HOSTS {
        let got = canonical_host(raw);
        assert_eq!(
            got.as_ref().map(|h| h.as_str()).map_err(|e| e.code()),
            *want,
            "{raw:?}"
        );
        if let Ok(host) = got {
            assert_eq!(canonical_host(host.as_str()).unwrap(), host, "idempotent");
        }
    }
}

#[test]
fn bare_paths() {
    assert_eq!(canonicalize_path("/a%7e").unwrap(), "/a~");
    assert_eq!(
        canonicalize_path("/a?b").map_err(|e| e.code()),
        Err("unexpected_query")
    );
    assert_eq!(
        canonicalize_path("/a#b").map_err(|e| e.code()),
        Err("fragment")
    );
    assert_eq!(
        canonicalize_path("a").map_err(|e| e.code()),
        Err("not_origin_form")
    );
    assert_eq!(
        canonicalize_path("http://h/a").map_err(|e| e.code()),
        Err("not_origin_form")
    );
    assert_eq!(canonicalize_path("").map_err(|e| e.code()), Err("empty"));
}

#[test]
fn length_bounds_hold_before_and_after_canonicalisation() {
    let mut at_limit = "/".to_owned();
    at_limit.push_str(&"a".repeat(MAX_TARGET_LEN - 1));
    assert_eq!(
        canonicalize_target(at_limit.as_bytes()).unwrap().path(),
        at_limit
    );
    let over = format!("{at_limit}a");
    assert_eq!(
        canonicalize_target(over.as_bytes()).map_err(|e| e.code()),
        Err("too_long")
    );
    // Escaping grows the path: a short raw target whose canonical form is too long is refused,
    // so every canonical output is itself accepted.
    let grows = format!("/{}", "\u{e9}".repeat(MAX_TARGET_LEN / 3));
    assert!(grows.len() <= MAX_TARGET_LEN);
    assert_eq!(
        canonicalize_target(grows.as_bytes()).map_err(|e| e.code()),
        Err("too_long")
    );
    let many = "/a".repeat(MAX_TARGET_LEN / 2);
    assert!(canonicalize_target(many.as_bytes()).is_ok());
    let query = format!("/?{}", "q".repeat(MAX_TARGET_LEN));
    assert_eq!(
        canonicalize_target(query.as_bytes()).map_err(|e| e.code()),
        Err("too_long")
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// The output invariants, idempotence, the differential against the reference, and the
/// protected-prefix property, for one input and its result.
fn check_everything(raw: &[u8], got: &Result<RequestTarget, TargetError>) {
    let reference = reference(raw);
    assert_eq!(
        got.as_ref().map(RequestTarget::path_and_query).ok(),
        reference,
        "differential disagreement on {:?} (real: {got:?})",
        String::from_utf8_lossy(raw)
    );
    let Ok(target) = got else { return };
    invariants(target.path());
    let again = canonicalize_target(target.path_and_query().as_bytes()).unwrap();
    assert_eq!(again.path(), target.path(), "idempotent");
    assert_eq!(again.query(), target.query(), "idempotent");
    assert_eq!(canonicalize_path(target.path()).unwrap(), target.path());
    protected_prefixes_hold(target);
}

/// What a canonical path never holds.
fn invariants(path: &str) {
    assert!(path.starts_with('/'), "{path}");
    assert!(path.is_ascii(), "{path}");
    assert!(!path.contains("//"), "{path}");
    assert!(!path.contains('\\'), "{path}");
    assert!(!path.bytes().any(|b| b < 0x21 || b == 0x7F), "{path}");
    let upper = path.to_ascii_uppercase();
    assert!(!upper.contains("%2F") && !upper.contains("%5C"), "{path}");
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let pair = &bytes[i + 1..i + 3];
        assert!(
            pair.iter()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
            "{path}"
        );
    }
    for segment in lenient_segments(path) {
        assert!(!segment.is_empty() || path == "/", "{path}");
        assert!(
            segment.is_empty() || segment.chars().any(|c| c != '.'),
            "{path}"
        );
    }
}

/// Decoded segments of a canonical path, each cut at its first `;`, the trailing empty one left out.
fn lenient_segments(path: &str) -> Vec<String> {
    let body = path.strip_prefix('/').unwrap_or(path);
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return Vec::new();
    }
    body.split('/')
        .map(|s| {
            let decoded = String::from_utf8(decode_all(s.as_bytes())).unwrap();
            decoded.split(';').next().unwrap().to_owned()
        })
        .collect()
}

fn decode_all(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&s[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Protected prefixes (canonical route paths) the security property is checked against.
const PROTECTED: &[&str] = &[
    "/orders", "/a", "/e", "/E", "/a/e", "/c", "/~", "/a.e", "/%25", "/%C3%A9", "/a!", "/%21",
    "/%20", "/a/", "/2e", "/ae",
];

/// Whenever the lenient reading of the canonical path falls under a protected prefix, a table
/// with that protected prefix and a public `/` picks the protected route (also case-folded
/// for `caseInsensitive` routes).
fn protected_prefixes_hold(target: &RequestTarget) {
    let reading = lenient_reading(target.path());
    for prefix in PROTECTED {
        let protected = lenient_reading(prefix);
        for folded in [false, true] {
            let table = RouteTable::new(vec![
                route("public", json!({"pathPrefix": "/"})),
                route(
                    "protected",
                    json!({"pathPrefix": prefix, "caseInsensitive": folded}),
                ),
            ]);
            let under = if folded {
                falls_under(&reading.to_lowercase(), &protected.to_lowercase())
            } else {
                falls_under(&reading, &protected)
            };
            if under {
                let got = table.route("GET", None, target).unwrap();
                assert_eq!(
                    got.definition.name,
                    "protected",
                    "{} reads as {reading}, under {prefix} (caseInsensitive {folded})",
                    target.path()
                );
            }
        }
    }
}

fn route(name: &str, matcher: serde_json::Value) -> CompiledRoute {
    CompiledRoute::new(
        name,
        serde_json::from_value(json!({"name": name, "match": matcher})).unwrap(),
    )
    .unwrap()
}

/// The reference: a second, deliberately simple canonicaliser. It decodes the whole path into
/// (byte, was-escaped) units first, checks the decoded text, then re-encodes every unit. It
/// answers the canonical path and query, or `None` for a refusal.
fn reference(raw: &[u8]) -> Option<String> {
    if raw.is_empty()
        || raw.len() > MAX_TARGET_LEN
        || raw.iter().any(|&b| b <= b' ' || b == 0x7F || b == b'#')
    {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    let rest: &[u8] = if raw[0] == b'/' {
        raw
    } else {
        let skip = if lower.starts_with(b"http://") {
            7
        } else if lower.starts_with(b"https://") {
            8
        } else {
            return None;
        };
        let after = &raw[skip..];
        let end = after
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(after.len());
        canonical_host(std::str::from_utf8(&after[..end]).ok()?).ok()?;
        if after[..end].contains(&b'@') {
            return None;
        }
        &after[end..]
    };
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => (&rest[..q], Some(std::str::from_utf8(&rest[q + 1..]).ok()?)),
        None => (rest, None),
    };
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    // 1. Decode everything into units.
    let mut units: Vec<(u8, bool)> = Vec::new();
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let hex = std::str::from_utf8(path.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            units.push((u8::from_str_radix(hex, 16).ok()?, true));
            i += 3;
        } else {
            units.push((path[i], false));
            i += 1;
        }
    }
    // 2. Check the decoded text.
    let text: Vec<u8> = units.iter().map(|u| u.0).collect();
    std::str::from_utf8(&text).ok()?;
    // A decoded `%` that starts an escape would be decoded again by a second reader.
    if text
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
    {
        return None;
    }
    for &(b, escaped) in &units {
        if b == b'\\' || (escaped && b == b'/') || b < 0x20 || b == 0x7F {
            return None;
        }
    }
    let segments: Vec<&[(u8, bool)]> = units[1..].split(|u| *u == (b'/', false)).collect();
    for (n, segment) in segments.iter().enumerate() {
        let name: Vec<u8> = segment
            .iter()
            .map(|u| u.0)
            .take_while(|&b| b != b';')
            .collect();
        let has_semicolon = segment.iter().any(|u| u.0 == b';');
        if segment.is_empty() && n + 1 < segments.len() {
            return None;
        }
        if !segment.is_empty() && (name.is_empty() || name.iter().all(|&b| b == b'.')) {
            let _ = has_semicolon;
            return None;
        }
    }
    // 3. Re-encode every unit.
    let mut out = String::new();
    for &(b, escaped) in &units {
        let plain = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        let encode = !plain && (escaped || !b.is_ascii() || b"\"<>[]^`{|}".contains(&b));
        if encode {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    let all = out + &query;
    (all.len() <= MAX_TARGET_LEN).then_some(all)
}

/// Pieces generated targets are made of: rich in what breaks path parsers.
const PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    ".",
    ".",
    "..",
    "%",
    "2",
    "e",
    "E",
    "f",
    "F",
    "5",
    "c",
    "C",
    ";",
    "\\",
    "a",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%3b",
    "%3B",
    "%25",
    "%00",
    "%0a",
    "%20",
    "%c0%ae",
    "%C3%A9",
    "%c3",
    "%ff",
    "\u{e9}",
    "\u{1F512}",
    "?",
    "#",
    " ",
    "~",
    "%7e",
    "%41",
    "//",
    "x",
    "orders",
    "\"",
    "[",
    "!",
    "%21",
    "@",
    ":",
    "*",
    "\t",
    "%7F",
    "http://h",
    "HTTPS://a.b:1",
    "http://u@h",
    "http://",
];

/// Pieces of well-formed segments (still holding dots, `;` and escapes), so that many
/// generated targets are accepted and the properties on accepted targets get exercised.
const SEGMENT_PIECES: &[&str] = &[
    "a", "e", "E", "c", "C", "f", "F", "5", "2", ".", "%2e", "%2E", "%41", "%7e", "~", ";", "%3b",
    "%3B", "%25", "%C3%A9", "\u{e9}", "!", "%21", "orders", "x", "%20", ":", "@", "\"", "[", "..",
    "?", "%2f",
];

fn generated_target() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (
            prop::collection::vec(prop::collection::vec(prop::sample::select(SEGMENT_PIECES), 1..4), 1..5),
            any::<bool>(),
        ).prop_map(|(segments, trailing)| {
            let mut out = String::new();
            for segment in segments {
                out.push('/');
                out.push_str(&segment.concat());
            }
            if trailing {
                out.push('/');
            }
            out.into_bytes()
        }),
        4 => (any::<bool>(), prop::collection::vec(prop::sample::select(PIECES), 0..14)).prop_map(
            |(slash, pieces)| {
                let mut out = if slash { b"/".to_vec() } else { Vec::new() };
                for p in pieces {
                    out.extend_from_slice(p.as_bytes());
                }
                out
            }
        ),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|mut bytes| {
            bytes.insert(0, b'/');
            bytes
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn generated_targets_keep_every_property(raw in generated_target()) {
        let got = canonicalize_target(&raw);
        check_everything(&raw, &got);
    }

    #[test]
    fn generated_route_prefixes_keep_the_security_property(
        prefix in prop::collection::vec(prop::sample::select(PIECES), 1..5),
        request in generated_target(),
    ) {
        let prefix = format!("/{}", prefix.concat());
        let Ok(prefix) = canonicalize_path(&prefix) else { return Ok(()) };
        if prefix.contains(';') || prefix.contains("%3B") {
            return Ok(());
        }
        let Ok(target) = canonicalize_target(&request) else { return Ok(()) };
        let table = RouteTable::new(vec![
            route("public", json!({"pathPrefix": "/"})),
            route("protected", json!({"pathPrefix": prefix})),
        ]);
        if falls_under(&lenient_reading(target.path()), &lenient_reading(&prefix)) {
            prop_assert_eq!(
                &table.route("GET", None, &target).unwrap().definition.name,
                "protected"
            );
        }
    }
}

/// The generator must reach both outcomes often, or the properties above check little.
#[test]
fn the_generator_reaches_accepted_and_refused_targets() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = generated_target();
    let samples = 4000;
    let accepted = (0..samples)
        .filter(|_| {
            let raw = strategy.new_tree(&mut runner).unwrap().current();
            canonicalize_target(&raw).is_ok()
        })
        .count();
    eprintln!("{accepted} of {samples} generated targets accepted");
    assert!(accepted * 10 > samples && accepted * 10 < samples * 9);
}

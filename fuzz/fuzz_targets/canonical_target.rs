//! Fuzzes `canonicalize_target` (and `canonical_host`): never panics; every accepted target is
//! idempotent, holds no dot segment, `//`, encoded separator, backslash, control character or
//! lower-case hex; a small reference canonicaliser (decode everything, check, re-encode) agrees on
//! accept/refuse and on the output; and whenever a lenient upstream would read the canonical path
//! as falling under a protected prefix, the route table picks the protected route.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis_policy::routes::{CompiledRoute, RouteTable};
use portcullis_policy::target::{
    MAX_TARGET_LEN, RequestTarget, canonical_host, canonicalize_path, canonicalize_target,
};
use portcullis_testkit::lenient::{falls_under, lenient_reading};
use serde_json::json;

/// Protected prefixes, each in a table with a public `/`, case-sensitive and case-folding.
const PROTECTED: &[&str] = &[
    "/orders", "/a", "/e", "/E", "/a/e", "/c", "/~", "/a.e", "/%25", "/%C3%A9", "/a!", "/%21",
    "/%20", "/2e", "/.a",
];

static TABLES: LazyLock<Vec<(String, bool, RouteTable)>> = LazyLock::new(|| {
    let route = |name: &str, matcher: serde_json::Value| {
        CompiledRoute::new(
            name,
            serde_json::from_value(json!({"name": name, "match": matcher})).unwrap(),
        )
        .unwrap()
    };
    let mut tables = Vec::new();
    for prefix in PROTECTED {
        for folded in [false, true] {
            let table = RouteTable::new(vec![
                route("public", json!({"pathPrefix": "/"})),
                route(
                    "protected",
                    json!({"pathPrefix": prefix, "caseInsensitive": folded}),
                ),
            ]);
            tables.push((lenient_reading(prefix), folded, table));
        }
    }
    tables
});

fuzz_target!(|data: &[u8]| {
    if let Some((&0, host)) = data.split_first() {
        check_host(host);
        return;
    }
    let got = canonicalize_target(data);
    let reference = reference(data);
    assert_eq!(
        got.as_ref().ok().map(RequestTarget::path_and_query),
        reference,
        "differential: {got:?}"
    );
    let Ok(target) = got else { return };
    invariants(target.path());
    let again = canonicalize_target(target.path_and_query().as_bytes()).unwrap();
    assert_eq!(again.path(), target.path());
    assert_eq!(again.query(), target.query());
    assert_eq!(canonicalize_path(target.path()).unwrap(), target.path());
    let reading = lenient_reading(target.path());
    for (protected, folded, table) in TABLES.iter() {
        let under = if *folded {
            falls_under(
                &reading.to_ascii_lowercase(),
                &protected.to_ascii_lowercase(),
            )
        } else {
            falls_under(&reading, protected)
        };
        if under {
            let chosen = table.route("GET", None, &target).unwrap();
            assert_eq!(
                chosen.definition.name, "protected",
                "{reading} under {protected}"
            );
        }
    }
});

fn check_host(raw: &[u8]) {
    let Ok(text) = std::str::from_utf8(raw) else {
        return;
    };
    let Ok(host) = canonical_host(text) else {
        return;
    };
    let h = host.as_str();
    assert_eq!(canonical_host(h).unwrap().as_str(), h, "idempotent");
    assert!(!h.is_empty() && h.is_ascii());
    assert_eq!(h, h.to_ascii_lowercase());
    assert!(!h.ends_with('.') && !h.contains("..") && !h.contains('@'));
    if !h.starts_with('[') {
        assert!(!h.contains(':'), "no port: {h}");
    }
}

fn invariants(path: &str) {
    assert!(path.starts_with('/') && path.is_ascii());
    assert!(!path.contains("//") && !path.contains('\\'));
    assert!(!path.bytes().any(|b| b <= b' ' || b == 0x7F));
    let upper = path.to_ascii_uppercase();
    assert!(!upper.contains("%2F") && !upper.contains("%5C"));
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        assert!(
            bytes[i + 1..i + 3]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
        );
    }
    for segment in lenient_reading(path).split('/').skip(1) {
        assert!(segment != "." && segment != "..");
    }
}

/// The reference: tokenise into (byte, was-escaped) units, check the decoded text, re-encode
/// every unit. `None` = refused.
fn reference(raw: &[u8]) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_TARGET_LEN {
        return None;
    }
    if raw.iter().any(|&b| b <= b' ' || b == 0x7F || b == b'#') {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    let rest: &[u8] = if raw[0] == b'/' {
        raw
    } else {
        let skip = [&b"http://"[..], b"https://"]
            .iter()
            .find(|s| lower.starts_with(s))?
            .len();
        let after = &raw[skip..];
        let end = after
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(after.len());
        canonical_host(std::str::from_utf8(&after[..end]).ok()?).ok()?;
        &after[end..]
    };
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => (&rest[..q], Some(std::str::from_utf8(&rest[q + 1..]).ok()?)),
        None => (rest, None),
    };
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
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
    let text: Vec<u8> = units.iter().map(|u| u.0).collect();
    std::str::from_utf8(&text).ok()?;
    // A decoded `%` that starts an escape would be decoded again by a second reader.
    if text
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
    {
        return None;
    }
    if units
        .iter()
        .any(|&(b, escaped)| b == b'\\' || (escaped && b == b'/') || b < 0x20 || b == 0x7F)
    {
        return None;
    }
    let segments: Vec<&[(u8, bool)]> = units[1..].split(|u| *u == (b'/', false)).collect();
    for (n, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            if n + 1 < segments.len() {
                return None;
            }
            continue;
        }
        let name: Vec<u8> = segment
            .iter()
            .map(|u| u.0)
            .take_while(|&b| b != b';')
            .collect();
        if name.is_empty() || name.iter().all(|&b| b == b'.') {
            return None;
        }
    }
    let mut out = String::new();
    for &(b, escaped) in &units {
        let plain = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if !plain && (escaped || !b.is_ascii() || b"\"<>[]^`{|}".contains(&b)) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    (out.len() <= MAX_TARGET_LEN).then_some(out)
}

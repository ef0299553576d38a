//! The lenient reading of a request target: what the most forgiving upstream (a framework that
//! decodes everything, treats `\` as `/`, drops `;` parameters, removes dot segments and merges
//! slashes) serves for it. Security tests use it as the adversary: nothing Portcullis lets
//! through without credentials may resolve, under this reading, into a protected prefix.

/// The path a lenient upstream serves for `target` (a path, optionally with `?query` or
/// `#fragment`, which are cut off first): escapes decoded once (malformed escapes kept as text),
/// `\` read as `/`, each segment cut at its first `;`, dot segments removed (RFC 3986 §5.2.4,
/// never above the root), empty segments merged. Always starts with `/`; invalid UTF-8 becomes
/// U+FFFD.
pub fn lenient_reading(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let decoded = decode(path.as_bytes());
    let text = String::from_utf8_lossy(&decoded).replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in text.split('/') {
        let name = segment.split(';').next().unwrap_or_default();
        trailing_slash = false;
        match name {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            _ => segments.push(name),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    if trailing_slash && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Whether a (lenient) reading falls under `prefix` on a segment boundary: equal to it, or
/// continuing with `/` after it. A prefix of `/` holds everything.
pub fn falls_under(reading: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || reading
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Decodes every well-formed `%XX` escape once; anything else is kept as it is.
fn decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or_default());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings() {
        for (target, reading) in [
            ("/docs/../orders/1", "/orders/1"),
            ("/docs/%2e%2e/orders/1", "/orders/1"),
            ("/docs/..;x/orders", "/orders"),
            ("/docs%2f..%2forders", "/orders"),
            ("/docs\\..\\orders", "/orders"),
            ("//orders//1", "/orders/1"),
            ("/orders;jsessionid=1/2", "/orders/2"),
            ("/%252e%252e/x", "/%2e%2e/x"),
            ("/a/./b/", "/a/b/"),
            ("/../../x", "/x"),
            ("/x?/../orders", "/x"),
            ("/", "/"),
        ] {
            assert_eq!(lenient_reading(target), reading, "{target}");
        }
        assert!(falls_under("/orders/1", "/orders"));
        assert!(falls_under("/orders", "/orders/"));
        assert!(!falls_under("/ordersx", "/orders"));
        assert!(falls_under("/x", "/"));
    }
}

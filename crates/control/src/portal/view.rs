//! Small presentation helpers for the templates: times, query strings, audit diffs.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

/// `2025-01-31 14:05:09 UTC`, or empty for an out-of-range time.
pub fn absolute(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// How long ago `at_ms` was, as a person says it ("just now", "5 min ago", "3 h ago", "2 days ago").
pub fn relative(now_ms: i64, at_ms: i64) -> String {
    let seconds = (now_ms - at_ms) / 1000;
    let (future, seconds) = if seconds < 0 {
        (true, -seconds)
    } else {
        (false, seconds)
    };
    let amount = match seconds {
        0..45 => return "just now".to_owned(),
        45..5400 => format!("{} min", (seconds + 30) / 60),
        5400..129_600 => format!("{} h", (seconds + 1800) / 3600),
        _ => format!("{} days", (seconds + 43_200) / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// Percent-encodes `text` for a URL query value (RFC 3986 unreserved characters kept).
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `next` when it is a portal page (`/portal/...`, no backslash, no control characters), so
/// the sign-in page never sends anyone elsewhere (open redirect).
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with("/portal/") && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

/// One changed field of an audited change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// Field name (top-level member).
    pub field: String,
    /// Value before, as JSON text; empty when absent.
    pub before: String,
    /// Value after, as JSON text; empty when absent.
    pub after: String,
}

fn show(value: Option<&Value>) -> String {
    match value {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Nested objects are compared member by member down to this depth (deeper values are shown
/// as JSON text).
const MAX_DEPTH: usize = 6;

/// Adds every leaf of `value` under `path` to `out`: object members as `path.member`, array
/// items that are objects or arrays as `path[i]`; scalars and arrays of scalars are leaves.
fn flatten(path: &str, value: &Value, depth: usize, out: &mut BTreeMap<String, Value>) {
    let nested = |v: &Value| v.is_object() || v.is_array();
    match value {
        Value::Object(members) if depth < MAX_DEPTH && !members.is_empty() => {
            for (name, member) in members {
                let path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                flatten(&path, member, depth + 1, out);
            }
        }
        Value::Array(items) if depth < MAX_DEPTH && items.iter().any(nested) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), item, depth + 1, out);
            }
        }
        leaf => {
            let name = if path.is_empty() { "value" } else { path };
            out.insert(name.to_owned(), leaf.clone());
        }
    }
}

/// The fields that differ between an audit entry's before and after (all fields of a creation
/// or a deletion), in name order. Nested JSON (a route's policy, its claim rules) is compared
/// field by field (`policy.claims[0].value`), so a change shows only what changed.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<DiffRow> {
    if before.is_none() && after.is_none() {
        return Vec::new();
    }
    let mut b = BTreeMap::new();
    let mut a = BTreeMap::new();
    if let Some(value) = before {
        flatten("", value, 0, &mut b);
    }
    if let Some(value) = after {
        flatten("", value, 0, &mut a);
    }
    let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| b.get(*name) != a.get(*name))
        .map(|name| DiffRow {
            field: name.clone(),
            before: show(b.get(name)),
            after: show(a.get(name)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_times() {
        let now = 1_000_000_000_000;
        for (ago_s, text) in [
            (0, "just now"),
            (44, "just now"),
            (60, "1 min ago"),
            (30 * 60, "30 min ago"),
            (3 * 3600, "3 h ago"),
            (3 * 86_400, "3 days ago"),
            (-120, "in 2 min"),
        ] {
            assert_eq!(relative(now, now - ago_s * 1000), text, "{ago_s}");
        }
        assert_eq!(absolute(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn only_local_paths_are_followed() {
        for (next, ok) in [
            ("/portal/routes", true),
            ("/portal/audit-log?actor=admin", true),
            ("/routes", false),
            ("/portal//evil.example", true),
            ("//evil.example", false),
            ("/\\evil.example", false),
            ("https://evil.example", false),
            ("javascript:alert(1)", false),
            ("/a\nb", false),
        ] {
            assert_eq!(local_path(next).is_some(), ok, "{next}");
        }
        assert_eq!(query_escape("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }

    #[test]
    fn diffs_name_changed_fields_only() {
        let before = json!({"name": "a", "description": "x", "audiences": ["1"]});
        let after = json!({"name": "a", "description": "y", "audiences": ["1", "2"]});
        let rows = diff(Some(&before), Some(&after));
        assert_eq!(
            rows,
            vec![
                DiffRow {
                    field: "audiences".into(),
                    before: "[\"1\"]".into(),
                    after: "[\"1\",\"2\"]".into()
                },
                DiffRow {
                    field: "description".into(),
                    before: "x".into(),
                    after: "y".into()
                },
            ]
        );
        assert_eq!(diff(None, Some(&json!({"name": "a"}))).len(), 1);
        assert!(diff(None, None).is_empty());
        // Nested JSON is diffed field by field.
        let before =
            json!({"policy": {"claims": [{"path": "tid", "value": "a"}], "servers": ["x"]}});
        let after =
            json!({"policy": {"claims": [{"path": "tid", "value": "b"}], "servers": ["x"]}});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            vec![DiffRow {
                field: "policy.claims[0].value".into(),
                before: "a".into(),
                after: "b".into()
            }]
        );
        assert_eq!(diff(Some(&json!(1)), Some(&json!(2)))[0].field, "value");
    }
}

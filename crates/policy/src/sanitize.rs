//! Making untrusted strings (a token's `kid`, `iss`, claim values) safe to show.
//!
//! Anything from a token can reach logs, metrics and the portal. We escape control and
//! non-printing characters (no log injection, no terminal escapes) and bound the length.

/// Longest untrusted value shown, in characters, before truncation.
pub const MAX_SHOWN_CHARS: usize = 120;

/// Escapes and truncates an untrusted string for display in logs and messages.
pub fn untrusted(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_SHOWN_CHARS + 8));
    for (count, c) in value.chars().enumerate() {
        if count >= MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_truncates() {
        assert_eq!(untrusted("a\nb\u{1b}[31m"), "a\\u{a}b\\u{1b}[31m");
        assert_eq!(untrusted("\u{202e}evil"), "\\u{202e}evil");
        let long = "x".repeat(500);
        assert_eq!(untrusted(&long).chars().count(), MAX_SHOWN_CHARS + 1);
    }
}

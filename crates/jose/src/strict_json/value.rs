//! [`RawJson`], one value of a document the zero-copy path accepted (its exact text, its
//! [`JsonKind`], whether a string has escapes), and its scalar readers (`text`, `kind`,
//! `as_str`, `as_f64`), which decode only what is asked for. The array reader
//! `for_each_str_item` re-scans the value, so it sits beside the scanner in `scanner.rs`. The
//! object holding these values is `object.rs`.

use std::borrow::Cow;

/// The kind of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// One JSON value inside a document that passed the strict rules
/// ([`RawObject::parse`](super::RawObject::parse)): its exact text, its kind, and (for strings)
/// whether it contains escapes. Readers decode only what they are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawJson<'a> {
    pub(super) text: &'a str,
    pub(super) kind: JsonKind,
    pub(super) escaped: bool,
}

impl<'a> RawJson<'a> {
    /// The value's JSON text, exactly as in the document.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The value's kind.
    pub fn kind(&self) -> JsonKind {
        self.kind
    }

    /// The string's value, unescaped (borrowed unless it contains escapes); `None` if this is
    /// not a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        if self.kind != JsonKind::String {
            return None;
        }
        if self.escaped {
            // Escapes (and surrogates) are decoded by serde_json, as everywhere else.
            serde_json::from_str::<String>(self.text)
                .ok()
                .map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&self.text[1..self.text.len() - 1]))
        }
    }

    /// The number's value as `f64`, exactly as `serde_json::Number::as_f64` gives it; `None`
    /// if this is not a number.
    pub fn as_f64(&self) -> Option<f64> {
        if self.kind != JsonKind::Number {
            return None;
        }
        let (negative, digits) = match self.text.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, self.text),
        };
        // Integers of up to 15 digits are exact in an f64: convert directly (serde_json reads
        // them as u64/i64 and converts the same way, `-0` included). Anything else: serde_json.
        if digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let value = digits
                .bytes()
                .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0')) as f64;
            return Some(if negative { -value } else { value });
        }
        serde_json::from_str::<f64>(self.text).ok()
    }
}

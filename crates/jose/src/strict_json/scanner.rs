//! The strict scanner behind the zero-copy path: [`Scanner`] walks UTF-8 text with the grammar
//! serde_json accepts plus our rules (no duplicate names after unescaping, depth at most
//! [`MAX_JSON_DEPTH`]) and yields [`RawJson`] slices; escaped strings and numbers that could
//! overflow are checked by serde_json itself. Also here: the fast end-of-plain-run search and
//! [`RawJson::for_each_str_item`], which re-scans an array. It decodes nothing and builds no
//! object: keeping the top-level members is `object.rs`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Visitor};

use super::error::MAX_JSON_DEPTH;
use super::names::{Name, SeenNames, fingerprint};
use super::value::{JsonKind, RawJson};

impl<'a> RawJson<'a> {
    /// Calls `item` for each element of this array: `Some(text)` for a string element, `None`
    /// for any other element. Returns `false` (calling nothing) if this is not an array.
    pub fn for_each_str_item(&self, mut item: impl FnMut(Option<Cow<'a, str>>)) -> bool {
        if self.kind != JsonKind::Array {
            return false;
        }
        let mut scanner = Scanner::new(self.text);
        scanner.pos = 1;
        scanner.skip_whitespace();
        if scanner.peek() == Some(b']') {
            return true;
        }
        // The text already passed the strict rules, so scanning it again cannot fail.
        while let Ok(element) = scanner.value(1) {
            item(element.as_str());
            scanner.skip_whitespace();
            if scanner.peek() != Some(b',') {
                break;
            }
            scanner.pos += 1;
            scanner.skip_whitespace();
        }
        true
    }
}

/// Any refusal of the fast path. The precise [`JsonError`](super::JsonError) is then
/// recomputed by [`parse_object`](super::parse_object), so both paths always report the same error.
pub(super) struct Refused;

pub(super) type Scan<T> = Result<T, Refused>;

/// Position of the first `"`, `\` or control character (what ends a plain run inside a string)
/// at or after `pos`, or `bytes.len()`. Eight bytes at a time, with the bit trick serde_json uses:
/// the lowest flagged byte of each test is always a true match.
#[inline(always)]
fn plain_run_end(bytes: &[u8], mut pos: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let chars = u64::from_le_bytes(word);
        let control = chars.wrapping_sub(ONES * 0x20) & !chars;
        let quote = chars ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = chars ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let found = (control | quote | backslash) & HIGH;
        if found != 0 {
            return pos + found.trailing_zeros() as usize / 8;
        }
        pos += 8;
    }
    while let Some(byte) = bytes.get(pos) {
        if *byte == b'"' || *byte == b'\\' || *byte < 0x20 {
            break;
        }
        pos += 1;
    }
    pos
}

/// A strict JSON scanner over UTF-8 text: the grammar serde_json accepts (RFC 8259), plus our
/// rules (no duplicate names after unescaping, depth at most [`MAX_JSON_DEPTH`]). It decodes
/// nothing itself: strings with escapes and numbers that could be out of `f64` range are handed
/// to serde_json, so values are validated exactly as the tree parser validates them.
pub(super) struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline(always)]
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    pub(super) fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Scan<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Refused)
        }
    }

    /// One value at `pos` (no leading whitespace), enclosed by `depth` containers. Scalars are
    /// scanned inline; containers out of line (the only recursion, bounded by the depth rule).
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Scan<RawJson<'a>> {
        let start = self.pos;
        let mut escaped = false;
        let kind = match self.peek().ok_or(Refused)? {
            b'"' => {
                escaped = self.string()?;
                JsonKind::String
            }
            b'{' | b'[' => self.container(depth)?,
            b't' => self.literal(b"true", JsonKind::Bool)?,
            b'f' => self.literal(b"false", JsonKind::Bool)?,
            b'n' => self.literal(b"null", JsonKind::Null)?,
            b'-' | b'0'..=b'9' => {
                self.number()?;
                JsonKind::Number
            }
            _ => return Err(Refused),
        };
        Ok(RawJson {
            text: &self.text[start..self.pos],
            kind,
            escaped,
        })
    }

    #[inline(never)]
    fn container(&mut self, depth: usize) -> Scan<JsonKind> {
        if self.peek() == Some(b'{') {
            self.object(depth)?;
            Ok(JsonKind::Object)
        } else {
            self.array(depth)?;
            Ok(JsonKind::Array)
        }
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8], kind: JsonKind) -> Scan<JsonKind> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(kind)
        } else {
            Err(Refused)
        }
    }

    /// A string at `pos`; returns whether it contains escapes.
    #[inline(always)]
    fn string(&mut self) -> Scan<bool> {
        let start = self.pos;
        self.pos += 1;
        let mut escaped = false;
        loop {
            self.pos = plain_run_end(self.bytes, self.pos);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') if self.pos + 1 < self.bytes.len() => {
                    // Skip the escaped character (a `\"` must not end the string); what the
                    // escape means is checked below by serde_json.
                    escaped = true;
                    self.pos += 2;
                }
                _ => return Err(Refused),
            }
        }
        if escaped {
            let mut deserializer = serde_json::Deserializer::from_str(&self.text[start..self.pos]);
            deserializer
                .deserialize_str(CheckedStr)
                .map_err(|_| Refused)?;
        }
        Ok(escaped)
    }

    /// A member name at `pos`, decoded.
    #[inline(always)]
    fn name(&mut self) -> Scan<Name<'a>> {
        if self.peek() != Some(b'"') {
            return Err(Refused);
        }
        let start = self.pos;
        let escaped = self.string()?;
        let token = &self.text[start..self.pos];
        if escaped {
            let text = serde_json::from_str::<String>(token).map_err(|_| Refused)?;
            return Ok(Name {
                fingerprint: fingerprint(&text),
                text: Cow::Owned(text),
            });
        }
        let text = &token[1..token.len() - 1];
        // The fingerprint from one eight-byte load when the input has the bytes (it always
        // does, except at the very end): the name's first seven bytes and its length.
        let fingerprint = match self.bytes.get(start + 1..start + 9) {
            Some(chunk) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                let kept = text.len().min(7) * 8;
                (u64::from_le_bytes(word) & ((1u64 << kept) - 1)) | ((text.len() as u64) << 56)
            }
            None => fingerprint(text),
        };
        Ok(Name {
            fingerprint,
            text: Cow::Borrowed(text),
        })
    }

    #[inline(always)]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number at `pos`, with serde_json's grammar: no leading zeros, no `+`, digits required
    /// after `.` and in the exponent.
    fn number(&mut self) -> Scan<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let integer_digits = match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(Refused);
                }
                1
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Refused),
        };
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Refused);
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Refused);
            }
        }
        // Without an exponent and with at most 18 integer digits the value is far inside the
        // f64 range; otherwise serde_json decides (it refuses numbers that overflow to infinity).
        if exponent || integer_digits > 18 {
            serde_json::from_str::<f64>(&self.text[start..self.pos]).map_err(|_| Refused)?;
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Scan<()> {
        if depth >= MAX_JSON_DEPTH {
            return Err(Refused);
        }
        self.pos += 1;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Refused),
            }
        }
    }

    /// An object at `pos`, enclosed by `depth` containers; `member` receives each member and
    /// refuses duplicates.
    pub(super) fn members(
        &mut self,
        depth: usize,
        mut member: impl FnMut(Name<'a>, RawJson<'a>) -> Scan<()>,
    ) -> Scan<()> {
        if depth >= MAX_JSON_DEPTH {
            return Err(Refused);
        }
        self.pos += 1;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let name = self.name()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            member(name, value)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Refused),
            }
        }
    }

    /// A nested object: only its names are kept, to refuse duplicates.
    fn object(&mut self, depth: usize) -> Scan<()> {
        let mut names: Vec<Name<'a>> = Vec::new();
        let mut seen = SeenNames::default();
        self.members(depth, |name, _| {
            if !seen.is_new(&name, names.iter()) {
                return Err(Refused);
            }
            if seen.large.is_none() {
                names.push(name);
            }
            Ok(())
        })
    }
}

/// Validates a string token with escapes the way serde_json reads a `str` (escape letters,
/// `\u` hex digits, surrogate pairs), without keeping it.
struct CheckedStr;

impl Visitor<'_> for CheckedStr {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

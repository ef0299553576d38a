//! Strict JSON decoding for JOSE headers, JWT claim sets and JWK Sets.
//!
//! `serde_json` silently keeps the last of duplicate object members; RFC 7515 §5.2 and RFC 8725
//! §3.7/§2.x say a validator must reject them, because two parsers could otherwise disagree about
//! which `alg`, `iss` or `aud` a token carries. We also bound nesting depth far below
//! `serde_json`'s own recursion limit, so hostile input cannot cost more than a tiny, fixed stack.
//! Input must be UTF-8 (serde_json checks it, including lone surrogate escapes).
//!
//! Two ways in, with **the same acceptance rules**:
//! - [`parse_value`] / [`parse_object`] build a `serde_json` tree (JWK Sets, inspection, traces);
//! - [`RawObject::parse`] is the zero-copy path for token headers and payloads: a strict scanner
//!   checks the whole document (duplicates at every depth, depth, grammar) and keeps the
//!   top-level members as borrowed names and [`RawJson`] slices of the input, allocating only
//!   the member list (plus escaped names and nested objects' name lists). Readers
//!   ([`RawJson::as_str`], [`RawJson::as_f64`], [`RawJson::for_each_str_item`]) decode only
//!   what is asked for. Strings with escapes and numbers that could overflow are checked and
//!   decoded by serde_json itself, and when the scanner refuses a document the error is
//!   recomputed with [`parse_object`], so both paths report exactly the same [`JsonError`].

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Deepest nesting of arrays/objects accepted anywhere in a token or key set.
pub const MAX_JSON_DEPTH: usize = 32;

/// Why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not syntactically valid JSON or not UTF-8 (the message comes from the parser).
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// The same member name occurs twice in one object.
    #[error("duplicate member `{0}`")]
    DuplicateMember(String),
    /// Nesting deeper than [`MAX_JSON_DEPTH`].
    #[error("JSON nested deeper than {MAX_JSON_DEPTH} levels")]
    TooDeep,
    /// Valid JSON, but not an object where an object is required.
    #[error("JSON value is not an object")]
    NotAnObject,
}

#[derive(Clone)]
enum Violation {
    Duplicate(String),
    TooDeep,
}

#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    depth: usize,
    violation: &'a Cell<Option<Violation>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested::<A::Error>()?;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                let err = A::Error::custom(format_args!("duplicate member `{name}`"));
                self.violation.set(Some(Violation::Duplicate(name)));
                return Err(err);
            }
            let value = map.next_value_seed(inner)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

impl ValueSeed<'_> {
    fn nested<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_JSON_DEPTH {
            self.violation.set(Some(Violation::TooDeep));
            return Err(E::custom("nesting too deep"));
        }
        Ok(Self {
            depth: self.depth + 1,
            violation: self.violation,
        })
    }
}

/// Parses any JSON value strictly (no duplicate members, bounded depth, UTF-8 only).
pub fn parse_value(bytes: &[u8]) -> Result<Value, JsonError> {
    let violation = Cell::new(None);
    let seed = ValueSeed {
        depth: 0,
        violation: &violation,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|err| match violation.take() {
        Some(Violation::Duplicate(name)) => JsonError::DuplicateMember(name),
        Some(Violation::TooDeep) => JsonError::TooDeep,
        None => JsonError::Syntax(err.to_string()),
    })
}

/// Parses a JSON document that must be an object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

/// Up to this many members, duplicate names are found by a linear scan of fingerprints (no
/// allocation); larger objects switch to a hash set so hostile input stays linear.
const LINEAR_DUPLICATE_SCAN: usize = 16;

/// A cheap, exact pre-filter for name comparison: the length and the first seven bytes. Equal
/// names have equal fingerprints; equal fingerprints are confirmed by comparing the names.
#[inline(always)]
fn fingerprint(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut fp = (bytes.len() as u64) << 56;
    for (i, byte) in bytes.iter().take(7).enumerate() {
        fp |= u64::from(*byte) << (8 * i);
    }
    fp
}

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

/// One JSON value inside a document that passed the strict rules ([`RawObject::parse`]): its
/// exact text, its kind, and (for strings) whether it contains escapes. Readers decode only
/// what they are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawJson<'a> {
    text: &'a str,
    kind: JsonKind,
    escaped: bool,
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

/// A member name, decoded, with its fingerprint.
#[derive(Debug, Clone)]
struct Name<'a> {
    fingerprint: u64,
    text: Cow<'a, str>,
}

impl Name<'_> {
    fn is(&self, fingerprint: u64, name: &str) -> bool {
        self.fingerprint == fingerprint && self.text == name
    }
}

/// Duplicate detection for one object. A 64-bit filter of the fingerprints seen answers "new"
/// for most names without looking at the earlier ones; otherwise the earlier names are scanned
/// (a small object) or looked up in a hash set (a large one, so hostile input stays linear).
#[derive(Default)]
struct SeenNames<'a> {
    filter: u64,
    large: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> SeenNames<'a> {
    /// Whether `name` differs from every name in `earlier` (all names so far, in order).
    fn is_new<'n>(
        &mut self,
        name: &Name<'a>,
        mut earlier: impl ExactSizeIterator<Item = &'n Name<'a>>,
    ) -> bool
    where
        'a: 'n,
    {
        if let Some(set) = &mut self.large {
            return set.insert(name.text.clone());
        }
        let bit = 1u64 << (name.fingerprint.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
        let maybe_seen = self.filter & bit != 0;
        self.filter |= bit;
        if earlier.len() < LINEAR_DUPLICATE_SCAN {
            return !maybe_seen || !earlier.any(|seen| seen.is(name.fingerprint, &name.text));
        }
        let mut set: HashSet<Cow<'a, str>> = earlier.map(|n| n.text.clone()).collect();
        let new = set.insert(name.text.clone());
        self.large = Some(set);
        new
    }
}

/// Any refusal of the fast path. The precise [`JsonError`] is then recomputed by
/// [`parse_object`], so both paths always report the same error.
struct Refused;

type Scan<T> = Result<T, Refused>;

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
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
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
    fn members(
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

/// A member of a [`RawObject`].
#[derive(Debug, Clone)]
struct RawMember<'a> {
    name: Name<'a>,
    value: RawJson<'a>,
}

/// A strictly valid JSON object read one level deep, borrowing from the input: each member's
/// decoded name and its value as [`RawJson`]. Everything [`parse_object`] refuses is refused
/// here too (duplicates at every depth, depth over [`MAX_JSON_DEPTH`], invalid UTF-8 or syntax),
/// with the same error.
#[derive(Debug, Clone)]
pub struct RawObject<'a> {
    text: &'a str,
    members: Vec<RawMember<'a>>,
}

impl<'a> RawObject<'a> {
    /// Parses `bytes`, which must be a JSON object.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, JsonError> {
        Self::parse_fast(bytes).map_err(|Refused| reference_error(bytes))
    }

    fn parse_fast(bytes: &'a [u8]) -> Scan<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| Refused)?;
        let mut scanner = Scanner::new(text);
        scanner.skip_whitespace();
        if scanner.peek() != Some(b'{') {
            return Err(Refused);
        }
        let mut members: Vec<RawMember<'a>> = Vec::with_capacity(16);
        let mut seen = SeenNames::default();
        scanner.members(0, |name, value| {
            if !seen.is_new(&name, members.iter().map(|m| &m.name)) {
                return Err(Refused);
            }
            members.push(RawMember { name, value });
            Ok(())
        })?;
        scanner.skip_whitespace();
        if scanner.pos != bytes.len() {
            return Err(Refused);
        }
        Ok(Self { text, members })
    }

    /// The whole document.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Member `name`, if present (a `null` value is present).
    pub fn get(&self, name: &str) -> Option<RawJson<'a>> {
        let fingerprint = fingerprint(name);
        self.members
            .iter()
            .find(|m| m.name.is(fingerprint, name))
            .map(|m| m.value)
    }

    /// Whether member `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The members in document order.
    pub fn members(&self) -> impl ExactSizeIterator<Item = (&str, RawJson<'a>)> {
        self.members.iter().map(|m| (m.name.text.as_ref(), m.value))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The whole object as a `serde_json` map (allocates; for inspection and traces).
    pub fn to_map(&self) -> Map<String, Value> {
        // Cannot fail: the text was accepted under the same rules.
        parse_object(self.text.as_bytes()).unwrap_or_default()
    }
}

/// The error [`parse_object`] reports for a document the fast path refused. Should both paths
/// ever disagree, the document is still refused (fail closed).
fn reference_error(bytes: &[u8]) -> JsonError {
    match parse_object(bytes) {
        Err(err) => err,
        Ok(_) => {
            debug_assert!(false, "strict JSON paths disagree");
            JsonError::Syntax("document refused by the strict scanner".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_objects() {
        let map = parse_object(br#"{"a":1,"b":[true,null,"x",1.5,-3],"c":{"d":{}}}"#);
        assert_eq!(map.map(|m| m.len()), Ok(3));
    }

    #[test]
    fn rejects_duplicates_even_when_escaped_differently() {
        assert_eq!(
            parse_object(br#"{"alg":"RS256","alg":"none"}"#),
            Err(JsonError::DuplicateMember("alg".into()))
        );
        assert_eq!(
            parse_object(br#"{"alg":"RS256","\u0061lg":"none"}"#),
            Err(JsonError::DuplicateMember("alg".into()))
        );
        assert_eq!(
            parse_object(br#"{"x":{"k":1,"k":2}}"#),
            Err(JsonError::DuplicateMember("k".into()))
        );
    }

    #[test]
    fn bounds_depth() {
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(parse_value(ok.as_bytes()).is_ok());
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        assert_eq!(parse_value(deep.as_bytes()), Err(JsonError::TooDeep));
        let very_deep = "[".repeat(100_000);
        assert_eq!(parse_value(very_deep.as_bytes()), Err(JsonError::TooDeep));
    }

    /// `RawObject::parse` must accept exactly what `parse_object` accepts, with the same
    /// members, and refuse the rest with the same error.
    fn same_as_tree(doc: &[u8]) {
        let fast = RawObject::parse(doc).map(|o| o.to_map());
        assert_eq!(fast, parse_object(doc), "{}", String::from_utf8_lossy(doc));
    }

    #[test]
    fn raw_object_agrees_with_the_tree_parser() {
        let nested_ok = format!(
            r#"{{"a":{}{}}}"#,
            "[".repeat(MAX_JSON_DEPTH - 1),
            "]".repeat(MAX_JSON_DEPTH - 1)
        );
        let nested_deep = format!(
            r#"{{"a":{}{}}}"#,
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        let many_members: String = (0..40).map(|i| format!(r#""m{i}":{i},"#)).collect();
        let many_ok = format!("{{{many_members}\"z\":0}}");
        let many_dup = format!("{{{many_members}\"m7\":0}}");
        let nested_many = format!(r#"{{"o":{{{many_members}"m39":1}}}}"#);
        let docs: Vec<&[u8]> = vec![
            br#"{"a":1,"b":[true,null,"x",1.5,-3],"c":{"d":{}}}"#,
            br#" { "a" : "x" , "b" : [ ] } "#,
            b"{}",
            br#"{"alg":"RS256","alg":"none"}"#,
            br#"{"alg":"RS256","\u0061lg":"none"}"#,
            br#"{"x":{"k":1,"k":2}}"#,
            br#"{"x":[{"k":1},{"k":1,"\u006b":2}]}"#,
            br#"{"x":{"k":1,"k":2},"y":tru}"#,
            br#"{"s":"\ud800"}"#,
            br#"{"s":["\ud800"]}"#,
            br#"{"\ud800":1}"#,
            br#"{"s":"\u00e9\n\"\\"}"#,
            b"{\"s\":\"a\x01b\"}",
            b"{\"s\":\"\xff\"}",
            br#"{"n":1e400}"#,
            br#"{"n":[1e400]}"#,
            br#"{"n":-0.0,"m":1E-7,"k":18446744073709551616}"#,
            br#"{"n":01}"#,
            br#"{"t":true,"f":false,"z":null}"#,
            br#"{"t":tRue}"#,
            b"[]",
            b"[{\"k\":1,\"k\":1}]",
            b"\"str\"",
            b"{} {}",
            b"{",
            b"",
            b"{\"a\":1,}",
            nested_ok.as_bytes(),
            nested_deep.as_bytes(),
            many_ok.as_bytes(),
            many_dup.as_bytes(),
            nested_many.as_bytes(),
        ];
        for doc in docs {
            same_as_tree(doc);
        }
        // Grammar corners, each as the value of a member and inside an array.
        let values = [
            "0",
            "-0",
            "-0.0e-0",
            "0e0",
            "1.",
            "1.e5",
            "-",
            "+1",
            ".5",
            "1e",
            "1e+",
            "1E-7",
            "01",
            "-01",
            "00",
            "1.5.3",
            "1e400",
            "-1e400",
            "1e-400",
            "1.7976931348623157e308",
            "1.8e308",
            "123456789012345678",
            "1234567890123456789012345",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            r#""\u00""#,
            r#""\uD83D\uDE00""#,
            r#""\uDE00""#,
            r#""\uD83Dx""#,
            r#""\uD83D\u0041""#,
            r#""\x""#,
            r#""\u0000""#,
            "\"\u{7f}\"",
            "\"\u{0}\"",
            "\"\t\"",
            r#""\/""#,
            r#""\"""#,
            r#""\\""#,
            r#""a\""#,
            "tru",
            "true1",
            "nul",
            "nulll",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[]",
            "[ ]",
            "{}",
            r#"{"":1,"":2}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{1:1}"#,
            "\u{c}1",
            "\u{a0}1",
            "1\u{c}",
        ];
        for value in values {
            same_as_tree(format!(r#"{{"v":{value}}}"#).as_bytes());
            same_as_tree(format!(r#"{{"v":[{value}]}}"#).as_bytes());
            same_as_tree(format!(r#"{{{value}:1}}"#).as_bytes());
        }
        for doc in ["\u{feff}{}", " \t\n\r{}\r\n\t ", "{}\u{0}"] {
            same_as_tree(doc.as_bytes());
        }
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300..1e300f64).prop_map(Value::from),
            "[ab\\\\\"/\u{e9}\u{1F600}\n]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(8, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[ab]{0,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Fragments that turn valid JSON into interesting invalid (or differently valid) JSON:
    /// duplicate names, escapes, surrogates, control characters, huge numbers, stray tokens.
    const SPLICES: &[&str] = &[
        r#""a""#,
        r#""\u0061""#,
        r#""b":1,"b""#,
        "\\ud800",
        "\\ud83d\\ude00",
        "\u{1}",
        "1e400",
        "-0",
        "01",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "\"",
        "\\",
        "tru",
        "null",
        " ",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Token soup: short documents from JSON's alphabet, mostly invalid in interesting ways.
        #[test]
        fn raw_object_matches_tree_parser_on_token_soup(
            tokens in proptest::collection::vec(proptest::sample::select(&[
                "{", "}", "[", "]", ",", ":", " ", "\"a\"", "\"\\u0061\"", "\"b\"", "\"\\ud800\"",
                "\"\\\"\"", "0", "-1", "1.5", "2e9", "1e999", "true", "null", "\"", "\\",
            ][..]), 0..24),
        ) {
            let doc = format!("{{{}", tokens.concat());
            same_as_tree(doc.as_bytes());
        }

        #[test]
        fn raw_object_matches_tree_parser_on_arbitrary_documents(
            members in proptest::collection::btree_map("[ab]{0,2}", arbitrary_json(), 0..5),
            splice in proptest::sample::select(SPLICES),
            at in any::<proptest::sample::Index>(),
            cut in any::<proptest::sample::Index>(),
            mode in 0..4u8,
        ) {
            let valid = Value::Object(members.into_iter().collect()).to_string();
            let mut doc = valid.clone().into_bytes();
            let at = at.index(doc.len() + 1);
            match mode {
                0 => {}
                1 => { doc.splice(at..at, splice.bytes()); }
                2 => { let end = (at + cut.index(4)).min(doc.len()); doc.splice(at..end, splice.bytes()); }
                _ => { doc.truncate(at); }
            }
            same_as_tree(&doc);
        }
    }

    #[test]
    fn lookups_find_every_name_length_and_position() {
        for len in 0..12 {
            let name: String = "abcdefghijkl"[..len].to_owned();
            for doc in [
                format!(r#"{{"{name}":1,"x":2}}"#),
                format!(r#"{{"x":2,"{name}":1}}"#),
                format!(r#"{{"x":2, "{name}"  :1 }}"#),
            ] {
                let object = RawObject::parse(doc.as_bytes()).unwrap();
                assert_eq!(object.get(&name).map(|v| v.text()), Some("1"), "{doc}");
                assert_eq!(object.get("x").map(|v| v.text()), Some("2"), "{doc}");
                assert!(!object.contains(&format!("{name}z")), "{doc}");
            }
            let escaped = format!(r#"{{"\u0061{}":1}}"#, &name[len.min(1)..]);
            let object = RawObject::parse(escaped.as_bytes()).unwrap();
            let decoded = format!("a{}", &name[len.min(1)..]);
            assert!(object.contains(&decoded), "{escaped}");
        }
    }

    #[test]
    fn raw_readers() {
        let doc = br#"{"s":"plain","e":"a\/b\u00e9","n":17,"f":-1.5e3,"b":true,"z":null,
                       "a":["x","y\n",3,{"k":[1]},["z"]],"o":{"k":"v"}}"#;
        let object = RawObject::parse(doc).unwrap();
        let get = |name| object.get(name).unwrap();
        assert_eq!(get("s").as_str(), Some(Cow::Borrowed("plain")));
        assert!(matches!(get("s").as_str(), Some(Cow::Borrowed(_))));
        assert_eq!(get("e").as_str().as_deref(), Some("a/b\u{e9}"));
        assert_eq!(get("n").as_str(), None);
        assert_eq!(get("z").as_str(), None);
        assert_eq!(get("z").kind(), JsonKind::Null);
        assert_eq!(get("o").text(), r#"{"k":"v"}"#);
        assert_eq!(get("n").as_f64(), Some(17.0));
        assert_eq!(get("f").as_f64(), Some(-1500.0));
        assert_eq!(get("s").as_f64(), None);
        assert_eq!(get("b").as_f64(), None);
        let mut items = Vec::new();
        assert!(get("a").for_each_str_item(|item| items.push(item)));
        assert_eq!(
            items,
            [Some("x".into()), Some("y\n".into()), None, None, None]
        );
        assert!(!get("o").for_each_str_item(|_| panic!("not an array")));
        assert!(!get("s").for_each_str_item(|_| panic!("not an array")));
        assert!(object.contains("z"));
        assert!(!object.contains("missing"));
        assert_eq!(object.len(), 8);
        assert_eq!(object.text().as_bytes(), doc);
        let mut empty = 0;
        let doc = br#"{"e":[ ],"w":[ "a" , 1 ]}"#;
        let object = RawObject::parse(doc).unwrap();
        assert!(object.get("e").unwrap().for_each_str_item(|_| empty += 1));
        assert_eq!(empty, 0);
        let mut items = Vec::new();
        assert!(
            object
                .get("w")
                .unwrap()
                .for_each_str_item(|i| items.push(i))
        );
        assert_eq!(items, [Some("a".into()), None]);
    }

    #[test]
    fn rejects_non_objects_trailing_data_and_bad_utf8() {
        assert_eq!(parse_object(b"[]"), Err(JsonError::NotAnObject));
        assert!(matches!(parse_object(b"{} {}"), Err(JsonError::Syntax(_))));
        assert!(matches!(
            parse_object(b"{\"a\":\"\xff\"}"),
            Err(JsonError::Syntax(_))
        ));
        assert!(matches!(
            parse_object(br#"{"a":"\ud800"}"#),
            Err(JsonError::Syntax(_))
        ));
    }
}

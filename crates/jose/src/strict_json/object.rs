//! [`RawObject`], the zero-copy way in for token headers and payloads: the whole document is
//! checked by the scanner and only the top-level members are kept, as borrowed names and
//! [`RawJson`] values. A refused document gets its error from [`parse_object`], so both ways in
//! report the same [`JsonError`] (and a disagreement still refuses).

use serde_json::{Map, Value};

use super::error::JsonError;
use super::names::{Name, SeenNames, fingerprint};
use super::scanner::{Refused, Scan, Scanner};
use super::tree::parse_object;
use super::value::RawJson;

/// A member of a [`RawObject`].
#[derive(Debug, Clone)]
struct RawMember<'a> {
    name: Name<'a>,
    value: RawJson<'a>,
}

/// A strictly valid JSON object read one level deep, borrowing from the input: each member's
/// decoded name and its value as [`RawJson`]. Everything [`parse_object`] refuses is refused
/// here too (duplicates at every depth, depth over [`MAX_JSON_DEPTH`](super::MAX_JSON_DEPTH),
/// invalid UTF-8 or syntax), with the same error.
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

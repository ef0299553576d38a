//! Strict JSON decoding for JOSE headers, JWT claim sets and JWK Sets.
//!
//! `serde_json` silently keeps the last of duplicate object members; RFC 7515 §5.2 and RFC 8725
//! §3.7/§2.x say a validator must reject them, because two parsers could otherwise disagree about
//! which `alg`, `iss` or `aud` a token carries. We also bound nesting depth far below
//! `serde_json`'s own recursion limit, so hostile input cannot cost more than a tiny, fixed stack.
//! Input must be UTF-8 (serde_json checks it, including lone surrogate escapes).

use std::cell::Cell;
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

#[cfg(test)]
mod tests {
    use super::*;

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

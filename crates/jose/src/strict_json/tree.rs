//! The tree path: [`parse_value`] / [`parse_object`] build a `serde_json` tree with our rules
//! added to serde_json's own parser (duplicate member names refused, depth at most
//! [`MAX_JSON_DEPTH`]). This is the reference: the zero-copy path (`object.rs`) reports its
//! refusals with the error computed here. It knows nothing of the scanner.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::{JsonError, MAX_JSON_DEPTH};

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

//! One TOML entry turned into the API's JSON input, with line tracking: every key's line (top-level
//! keys from the serde spans, nested keys from toml's spanned document), snake_case keys
//! converted to the API's camelCase, and every problem collected with its line. Pure: no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};

use portcullis_policy::FieldError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use toml::Spanned;

use super::{Problem, ResourceKind};

/// One `[[table]]` entry as the TOML deserializer gives it: keys and values with their spans.
pub(super) type RawEntry = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The 1-based line of byte `offset` of `text` (the last line past the end). For one lookup;
/// many lookups in one text go through [`Lines`].
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    Lines::new(text).line_of(offset)
}

/// The newline offsets of one text, found once. Every key of every entry asks for its line, and
/// counting newlines from the start for each made parsing quadratic in the file's size: a file
/// of 10,000 servers and 2,000 routes (≈ 70,000 lookups in 2 MB) took 45 s to parse; a binary
/// search per lookup takes a few milliseconds in all.
pub(super) struct Lines {
    newlines: Vec<usize>,
    len: usize,
}

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        let newlines = text
            .bytes()
            .enumerate()
            .filter_map(|(at, b)| (b == b'\n').then_some(at))
            .collect();
        Self {
            newlines,
            len: text.len(),
        }
    }

    /// The 1-based line of byte `offset` (the last line past the end): one more than the
    /// newlines before it.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.len);
        self.newlines.partition_point(|&at| at < end) + 1
    }
}

/// Turns one TOML entry into the API's JSON input, collecting problems with their lines.
pub(super) struct EntryParser<'a> {
    file: &'a str,
    lines: &'a Lines,
    pub(super) line: usize,
    pub(super) label: String,
    /// camelCase top-level key → line.
    key_lines: HashMap<String, usize>,
    /// Line of every nested key, by snake_case path (`match.methods`, `policy.claims[0].op`).
    pub(super) nested_lines: HashMap<String, usize>,
    /// camelCase field paths already reported (so a field is reported once).
    reported: HashSet<String>,
    pub(super) problems: Vec<Problem>,
}

impl<'a> EntryParser<'a> {
    pub(super) fn new(
        file: &'a str,
        lines: &'a Lines,
        kind: ResourceKind,
        index: usize,
        raw: &Spanned<RawEntry>,
    ) -> Self {
        let name = raw
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == "name")
            .and_then(|(_, v)| v.get_ref().as_str());
        let label = match name {
            Some(name) => format!("{} #{} {name:?}", kind.table(), index + 1),
            None => format!("{} #{}", kind.table(), index + 1),
        };
        Self {
            file,
            lines,
            line: lines.line_of(raw.span().start),
            label,
            key_lines: HashMap::new(),
            nested_lines: HashMap::new(),
            reported: HashSet::new(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, line: usize, field: Option<String>, message: String) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line: Some(line),
            entry: Some(self.label.clone()),
            field,
            message,
        });
    }

    /// The line of a field: that of its key, or of its nearest parent's.
    fn line_for(&self, camel_path: &str) -> usize {
        let mut snake = camel_to_snake(camel_path);
        while snake.contains(['.', '[']) {
            if let Some(line) = self.nested_lines.get(&snake) {
                return *line;
            }
            let cut = snake.rfind(['.', '[']).unwrap_or(0);
            snake.truncate(cut);
        }
        let top = camel_path.split(['.', '[']).next().unwrap_or(camel_path);
        self.key_lines.get(top).copied().unwrap_or(self.line)
    }

    /// Converts keys to camelCase (refusing keys that are not snake_case, so `jwksUri` cannot
    /// sneak past as a synonym) and values to JSON. Tables at the paths in `structs` (see
    /// `parse::ROUTE_STRUCTS`) are struct-shaped and get their keys converted too; other tables are
    /// data and keep theirs.
    pub(super) fn json_object(&mut self, raw: RawEntry, structs: &[&str]) -> Map<String, Value> {
        let mut object = Map::new();
        for (key, value) in raw {
            let line = self.lines.line_of(key.span().start);
            let key = key.into_inner();
            let Some(camel) = self.field_name(&key, None, line) else {
                continue;
            };
            self.key_lines.insert(camel.clone(), line);
            let value = match to_json(value.into_inner()) {
                Ok(value) => value,
                Err(message) => {
                    self.reported.insert(camel);
                    self.problem(line, Some(key), message);
                    continue;
                }
            };
            let value = self.struct_keys(value, &key, &key, structs, line);
            object.insert(camel, value);
        }
        object
    }

    /// Converts the keys of the struct-shaped tables in `value`, found at `shape` (the path with
    /// `[]` for array elements; `shown` is the same path with indexes, as problems name it).
    fn struct_keys(
        &mut self,
        value: Value,
        shape: &str,
        shown: &str,
        structs: &[&str],
        line: usize,
    ) -> Value {
        match value {
            Value::Object(members) if structs.contains(&shape) => {
                let mut renamed = Map::new();
                for (inner, v) in members {
                    let key_line = self
                        .nested_lines
                        .get(&format!("{shown}.{inner}"))
                        .copied()
                        .unwrap_or(line);
                    if let Some(inner_camel) = self.field_name(&inner, Some(shown), key_line) {
                        let v = self.struct_keys(
                            v,
                            &format!("{shape}.{inner}"),
                            &format!("{shown}.{inner}"),
                            structs,
                            line,
                        );
                        renamed.insert(inner_camel, v);
                    }
                }
                Value::Object(renamed)
            }
            Value::Array(items) if structs.contains(&format!("{shape}[]").as_str()) => {
                let element_shape = format!("{shape}[]");
                Value::Array(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| {
                            self.struct_keys(
                                item,
                                &element_shape,
                                &format!("{shown}[{i}]"),
                                structs,
                                line,
                            )
                        })
                        .collect(),
                )
            }
            other => other,
        }
    }

    /// The camelCase name of a snake_case key, or a problem.
    fn field_name(&mut self, key: &str, parent: Option<&str>, line: usize) -> Option<String> {
        if let Some(camel) = snake_to_camel(key) {
            return Some(camel);
        }
        let suggestion = camel_to_snake(&key.replace('-', "_")).to_ascii_lowercase();
        let hint = match snake_to_camel(&suggestion) {
            Some(_) => format!(" (did you mean `{suggestion}`?)"),
            None => String::new(),
        };
        let field = match parent {
            Some(parent) => format!("{parent}.{key}"),
            None => key.to_owned(),
        };
        self.problem(
            line,
            Some(field),
            format!("unknown key `{key}`: keys in the config file are snake_case{hint}"),
        );
        None
    }

    /// Deserializes with the API's strict parser. On a field error, records it, drops the
    /// offending value and tries again, so that every bad field of the entry is reported, not
    /// only the first. The value returned after such a repair only serves to find the
    /// remaining problems: an entry with any problem is never applied.
    pub(super) fn deserialize<T: DeserializeOwned>(
        &mut self,
        mut object: Map<String, Value>,
    ) -> Option<T> {
        for _ in 0..=object.len() + 2 {
            let bytes = match serde_json::to_vec(&Value::Object(object.clone())) {
                Ok(bytes) => bytes,
                Err(err) => {
                    self.problem(self.line, None, err.to_string());
                    return None;
                }
            };
            let err = match crate::json::parse::<T>(&bytes) {
                Ok(value) => return Some(value),
                Err(err) => err,
            };
            let Some((path, message)) = err.fields.into_iter().next() else {
                self.problem(self.line, None, err.message);
                return None;
            };
            if self.reported.insert(path.clone()) {
                let line = self.line_for(&path);
                self.problem(
                    line,
                    Some(camel_to_snake(&path)),
                    snake_case_names(&message).replacen("unknown field", "unknown key", 1),
                );
            }
            if !drop_value(&mut object, &path) {
                return None;
            }
        }
        None
    }

    /// Adds the policy's field errors, except for fields already reported.
    pub(super) fn field_errors(&mut self, errors: Vec<FieldError>) {
        for error in errors {
            if self.reported.contains(&error.field) {
                continue;
            }
            let line = self.line_for(&error.field);
            self.problem(line, Some(camel_to_snake(&error.field)), error.message);
        }
    }
}

/// For each `[[table]]` entry, the line of every key below its top level, by snake_case path
/// (`match.methods`, `policy.claims[0].op`), from toml's spanned document (the serde
/// deserializer gives spans one level deep only). Empty when the text does not parse (the
/// deserializer then reports the syntax error).
pub(super) fn nested_key_lines(
    text: &str,
    text_lines: &Lines,
    table: &str,
) -> Vec<HashMap<String, usize>> {
    fn walk(
        text: &Lines,
        value: &toml::de::DeValue<'_>,
        path: &str,
        lines: &mut HashMap<String, usize>,
    ) {
        match value {
            toml::de::DeValue::Table(members) => {
                for (key, member) in members {
                    let at = format!("{path}.{}", key.get_ref());
                    lines.insert(at.clone(), text.line_of(key.span().start));
                    walk(text, member.get_ref(), &at, lines);
                }
            }
            toml::de::DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    lines.insert(at.clone(), text.line_of(item.span().start));
                    walk(text, item.get_ref(), &at, lines);
                }
            }
            _ => {}
        }
    }
    let Ok(document) = toml::de::DeTable::parse(text) else {
        return Vec::new();
    };
    let entries = document
        .get_ref()
        .iter()
        .find(|(key, _)| key.get_ref() == table)
        .map(|(_, value)| value.get_ref());
    let Some(toml::de::DeValue::Array(entries)) = entries else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|entry| {
            let mut lines = HashMap::new();
            if let toml::de::DeValue::Table(members) = entry.get_ref() {
                for (key, member) in members {
                    walk(text_lines, member.get_ref(), key.get_ref(), &mut lines);
                }
            }
            lines
        })
        .collect()
}

/// Removes the value at a `serde_path_to_error` path (`clockSkewS`, `permissions.routes`,
/// `audiences[1]`: a list is dropped whole) so the rest can be checked. The required `name`
/// becomes empty instead, so it stays present. False when nothing could be removed.
fn drop_value(object: &mut Map<String, Value>, path: &str) -> bool {
    let mut segments = path.split('.');
    let top = segments.next().unwrap_or(path);
    let top = top.split('[').next().unwrap_or(top);
    if top == "name" {
        let was_blank = object.get("name") == Some(&Value::String(String::new()));
        object.insert("name".to_owned(), Value::String(String::new()));
        return !was_blank;
    }
    if let (Some(inner), Some(Value::Object(members))) = (segments.next(), object.get_mut(top)) {
        let inner = inner.split('[').next().unwrap_or(inner);
        if members.remove(inner).is_some() {
            return true;
        }
    }
    object.remove(top).is_some()
}

fn to_json(value: toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("invalid value: {f} is not a finite number"))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => {
            return Err(format!(
                "invalid type: date-time `{d}`; no setting takes a date (quote it if it is text)"
            ));
        }
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| Ok((k, to_json(v)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
    })
}

/// `jwks_uri` → `jwksUri`; `None` unless the key is canonical snake_case (lowercase letters,
/// digits, single inner underscores), so that exactly one spelling of each field is accepted.
pub(super) fn snake_to_camel(key: &str) -> Option<String> {
    if !key.starts_with(|c: char| c.is_ascii_lowercase())
        || !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let mut camel = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    (camel_to_snake(&camel) == key).then_some(camel)
}

/// `jwksUri` → `jwks_uri` (also inside paths: `permissions.apiRoles` → `permissions.api_roles`).
pub(super) fn camel_to_snake(camel: &str) -> String {
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// Rewrites the camelCase field names serde quotes in backticks (`jwksUri`) to the file's
/// snake_case; values such as `RS256` or `entra_v2` are left as they are.
pub(super) fn snake_case_names(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            let is_camel_field = i % 2 == 1
                && part.starts_with(|c: char| c.is_ascii_lowercase())
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && part.chars().any(|c| c.is_ascii_uppercase());
            if is_camel_field {
                camel_to_snake(part)
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

//! [`JsonError`], why a document was refused (the same error from both ways in), and
//! [`MAX_JSON_DEPTH`], the nesting bound it names. Definitions only: the checks are in `tree.rs`
//! and `scanner.rs`.

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

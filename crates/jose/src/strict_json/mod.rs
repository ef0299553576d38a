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
//!
//! Where each part lives (each module uses only the ones listed before it):
//! - `error.rs`: [`JsonError`] and [`MAX_JSON_DEPTH`];
//! - `tree.rs`: [`parse_value`] / [`parse_object`], the serde_json-tree reference path;
//! - `names.rs`: member-name fingerprints and duplicate detection for the zero-copy path;
//! - `value.rs`: [`RawJson`] and [`JsonKind`] with the scalar readers;
//! - `scanner.rs`: the strict scanner (and [`RawJson::for_each_str_item`]);
//! - `object.rs`: [`RawObject`], the zero-copy way in;
//! - `tests.rs`: unit and property tests of both ways in.

mod error;
mod names;
mod object;
mod scanner;
mod tree;
mod value;

#[cfg(test)]
mod tests;

pub use error::{JsonError, MAX_JSON_DEPTH};
pub use object::RawObject;
pub use tree::{parse_object, parse_value};
pub use value::{JsonKind, RawJson};

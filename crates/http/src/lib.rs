//! The HTTP answers both planes of Portcullis share, written once: the JSON error body
//! `{code, message, fields}` ([`error::ApiError`]), the strict JSON body parser ([`json`]), and
//! RFC 6750 challenges ([`challenge::Challenge`]: the `WWW-Authenticate` text and its body).
//!
//! What it does not do: routing, state, authentication decisions, I/O. The gateway and the
//! control plane depend on it; it depends on nothing of theirs.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod challenge;
pub mod error;
pub mod evaluate;
pub mod json;

pub use challenge::Challenge;
pub use error::{ApiError, ErrorBody};

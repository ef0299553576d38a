//! JOSE primitives for Portcullis: strict base64url and JSON decoding, JWK / JWK Set parsing into
//! ready-to-use verification keys, compact JWS parsing with every shape rule of the design, and
//! signature verification.
//!
//! What this crate does **not** do: it knows nothing about JWT claims, authorization servers,
//! time, HTTP or storage. It performs no I/O. All cryptography goes through one module,
//! [`crypto`], which is the only place that names `aws-lc-rs`.
//!
//! Invariants:
//! - Header members that could point at key material (`jku`, `x5u`, `jwk`, `x5c`) are never used
//!   to find or build a key; keys come only from a [`JwkSet`] the caller trusts.
//! - The algorithm used to verify is chosen by the caller from its allowlist and checked against
//!   the key ([`VerifyingKey::supports`]); the header `alg` is only a request.
//! - Every key is parsed once, when its set is loaded, never per token.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod algorithm;
pub mod base64url;
pub mod crypto;
pub mod jwk;
pub mod jws;
pub mod key_reason;
pub mod strict_json;

pub use algorithm::{AlgName, Algorithm};
pub use crypto::{KeyParams, SignatureError, VerifyingKey, sha256};
pub use jwk::{IgnoredKey, JwkSet, JwkSetError, KeyIgnoredReason};
pub use jws::{CompactJws, JwsError, JwsHeader, MAX_TOKEN_BYTES};
pub use strict_json::{JsonError, MAX_JSON_DEPTH};

//! The validation and authorization core of Portcullis: everything that decides, nothing that
//! does I/O.
//!
//! - [`config`] and [`preset`]: an authorization server's settings and the vendor presets that fill
//!   them, with field-level checks shared by the API, the portal and the config file.
//! - [`validator`]: the token pipeline of DESIGN.md §2 (shape → server selection → key selection →
//!   signature → claims) over an immutable set of [`TrustedServer`]s.
//! - [`rejection`]: the typed reason for every refusal, its metrics label and its client-safe text.
//! - [`trace`]: the evaluation trace shown by the sandbox API, the token debugger and the CLI.
//! - [`scopes`]: scope extraction and `<cloud>::<orgId>::<role>` API-role scopes.
//! - [`cache`]: the verified-token cache.
//! - [`credentials`]: the rules of the Cloud Service API Key, the legacy session login and sandbox
//!   tokens; [`sandbox`]: the side-effect-free evaluation behind the sandbox API.
//! - [`target`]: the canonical request target and host that route matching, `/authz`, the
//!   reverse proxy and the sandbox decide on (ambiguous targets are refused, never fixed);
//!   [`routes`] matches on it.
//! - [`ca_bundle`]: the rules for an authorization server's extra CA certificates (PEM), shared
//!   by the field check and the outbound fetcher.
//!
//! This crate does not fetch keys, read clocks or know HTTP: callers pass keys, `now` and tokens.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod ca_bundle;
pub mod cache;
pub mod claims;
pub mod config;
pub mod credentials;
pub mod definition;
pub mod governance;
pub mod issuer;
pub mod limits;
pub mod permissions;
pub mod preset;
pub mod rejection;
pub mod resource_metadata;
pub mod routes;
pub mod sandbox;
pub mod sanitize;
pub mod scopes;
pub mod snapshot;
pub mod target;
pub mod trace;
pub mod validator;
pub mod verified;

pub use cache::VerifiedTokenCache;
pub use config::{FieldError, ServerConfig};
pub use definition::{ServerDefinition, ServerInput, UrlRules};
pub use preset::{Preset, VendorHint};
pub use rejection::{Rejected, Rejection};
pub use trace::{EvaluationTrace, NoTrace, Outcome, Step, TraceSink};
pub use validator::{SharedStr, TrustedServer, Validator, VerifiedToken};

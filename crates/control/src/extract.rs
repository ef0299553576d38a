//! Extractors for the parts of a request that are not the JSON body: the `{id}` of a resource
//! path. Every refusal is an [`ApiError`] with the JSON error body, never axum's plain text.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::ApiError;

/// Longest id the API looks up. Ids are 32 hexadecimal characters (or `super-admin-<org>`).
pub const MAX_ID_LEN: usize = 64;

/// The `{id}` segment of a resource path. An id that cannot name a row — not UTF-8 once
/// percent-decoded, too long, or with a character outside letters, digits, `-` and `_` — is a
/// 404 at once: no such resource exists, and such text never reaches the database (PostgreSQL
/// refuses NUL characters with an error, which would otherwise surface as a 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || ApiError::not_found("resource");
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let plausible = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if plausible {
            Ok(IdPath(id))
        } else {
            Err(not_found())
        }
    }
}

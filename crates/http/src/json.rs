//! A strict JSON body extractor: wrong `Content-Type` is 415, malformed JSON is 400, unknown or
//! mistyped fields are 422 naming the field, and nothing reaches a handler half-parsed.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body accepted by the API.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON request body of type `T`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body refused: {e}"),
            )
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body, mapping type and field errors to a 422 naming the field (by its path).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => {
            deserializer
                .end()
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
            refuse_nul(bytes)?;
            Ok(value)
        }
        Err(err) if err.inner().is_syntax() || err.inner().is_eof() => Err(ApiError::bad_request(
            format!("invalid JSON: {}", err.inner()),
        )),
        Err(err) => {
            let message = strip_position(&err.inner().to_string());
            let path = err.path().to_string();
            // A missing field is reported at its parent's path; name the field itself.
            let field = match (path.as_str(), field_of(&message)) {
                (".", Some(named)) if message.starts_with("missing field") => named,
                (parent, Some(named)) if message.starts_with("missing field") => {
                    format!("{parent}.{named}")
                }
                (".", _) => "body".to_owned(),
                (path, _) => path.to_owned(),
            };
            Err(ApiError::invalid_field(&field, message))
        }
    }
}

/// Refuses a body with a NUL character in any string or member name (422 naming where):
/// PostgreSQL text cannot hold one (storing it fails with a database error), SQLite truncates
/// it in places, and no setting needs one. In JSON a NUL can only be spelled `\u0000`, so bodies
/// without that sequence are not walked at all.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    match nul_path(&value, String::new()) {
        Some(path) => {
            let field = if path.is_empty() {
                "body".to_owned()
            } else {
                path
            };
            Err(ApiError::invalid_field(
                &field,
                "NUL characters are not allowed",
            ))
        }
        None => Ok(()),
    }
}

/// Where the first NUL character is, as a field path (`a.b[2]`), if anywhere.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(members) => members.iter().find_map(|(name, member)| {
            let at = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            if name.contains('\0') {
                Some(at)
            } else {
                nul_path(member, at)
            }
        }),
        _ => None,
    }
}

/// The name between the first pair of backticks in a serde message.
fn field_of(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = message[start..].find('`')? + start;
    Some(message[start..end].to_owned())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Takes the request's `version` (compare-and-swap) out of a body: absent or `null` is none,
/// anything but an integer is a 422 on `version`.
pub fn take_version(
    members: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Option<i64>, ApiError> {
    match members.remove("version") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid_field("version", "must be an integer")),
    }
}

/// Reads a resource body the way every `PUT`/`POST` of the API does: an object, its `version`
/// taken out, the read-only members the API answers with (`id`, `createdAt`, ...) ignored so a
/// client can send back what it read, the rest parsed strictly as `T`.
pub fn parse_versioned<T: DeserializeOwned>(
    body: serde_json::Value,
    read_only: &[&str],
) -> Result<(T, Option<i64>), ApiError> {
    let serde_json::Value::Object(mut members) = body else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let version = take_version(&mut members)?;
    for name in read_only {
        members.remove(*name);
    }
    let bytes = serde_json::to_vec(&serde_json::Value::Object(members))
        .map_err(|e| ApiError::internal(&e))?;
    Ok((parse(&bytes)?, version))
}

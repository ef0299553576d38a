//! `/api/v1/authorizationServers`: register, list, change, delete, validate and refresh
//! trusted authorization servers (DESIGN.md §1.1, §6).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_keys::validate::ValidationReport;
use portcullis_policy::permissions::Category;
use portcullis_policy::{ServerDefinition, ServerInput};
use portcullis_store::{FetchOutcome, PendingKind, ServerRecord, StagedObject, StagedWrite};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::ErrorBody;
use crate::extract::IdPath;
use crate::request_schemas::{ServerRequest, ServerValidateRequest};

use crate::api::activation;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::json::{self, ApiJson};
use crate::keycheck::{self, KeyCheck};
use crate::state::ControlState;
use crate::time::rfc3339;

/// Warning attached to servers that check neither audience nor client id.
pub const ANY_AUDIENCE_WARNING: &str = "this server has no audiences and no client ids: it accepts tokens its issuer mints for any resource (token substitution, RFC 8725 section 3.9)";
/// Shown with servers whose JWKS host certificate is not checked ("JWKS Server Certificate
/// Validation" off): anyone able to intercept that connection can substitute the keys.
pub const TLS_UNVERIFIED_WARNING: &str = "the JWKS and metadata hosts' TLS certificates are not verified (verifyTls is false): whoever can intercept those connections can substitute the keys; prefer a caBundlePem";

/// A server as the API shows it: the definition with every default resolved, plus its id,
/// version, times (RFC 3339, UTC), key status and warnings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuthorizationServer)]
pub struct ServerView {
    /// Stable id.
    pub id: String,
    /// The stored definition.
    #[serde(flatten)]
    pub definition: ServerDefinition,
    /// Incremented by every change (send it back in `version` to detect concurrent changes).
    pub version: i64,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// Key status.
    pub status: StatusView,
    /// Configuration risks worth a look (e.g. no audience and no client id checked).
    #[schema(value_type = Vec<String>)]
    pub warnings: Vec<&'static str>,
}

/// Where a server's keys stand.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = KeyStatus)]
pub struct StatusView {
    /// Last successful JWKS fetch (RFC 3339, UTC).
    pub last_successful_fetch_at: Option<String>,
    /// Last fetch attempt (RFC 3339, UTC).
    pub last_fetch_attempt_at: Option<String>,
    /// Why the last fetch failed, if it did.
    pub last_fetch_error: Option<String>,
    /// The `kid`s of the keys in use.
    pub key_ids: Vec<String>,
    /// How current the keys in use are.
    pub keys_source: KeysSource,
}

/// How current a server's keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeysSource {
    /// No fetch has succeeded yet: no keys.
    None,
    /// Fetched recently without error.
    Fresh,
    /// The last fetches failed or are overdue; the last good keys are still used.
    StaleButUsable,
    /// The last good keys are older than `maxStaleS`: tokens are rejected.
    Expired,
}

fn keys_source(record: &ServerRecord, now_ms: i64) -> KeysSource {
    match record.status.last_successful_fetch_at {
        None => KeysSource::None,
        Some(at) => {
            let age_ms = now_ms - at;
            let refresh_ms = i64::from(record.definition.refresh_interval_s) * 1000;
            let stale_ms = i64::from(record.definition.max_stale_s) * 1000;
            if record.status.last_fetch_error.is_none() && age_ms <= refresh_ms * 2 {
                KeysSource::Fresh
            } else if age_ms <= stale_ms {
                KeysSource::StaleButUsable
            } else {
                KeysSource::Expired
            }
        }
    }
}

/// The answer of `GET /api/v1/authorizationServers`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuthorizationServerList)]
pub struct ServerList {
    /// Every server of the org, by name.
    items: Vec<ServerView>,
}

/// The answer of `POST /api/v1/authorizationServers/{id}/refresh`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefreshResult {
    /// The server after the fetch was recorded.
    server: ServerView,
    /// What the fetch found.
    report: ValidationReport,
}

/// The API view of a stored server.
pub fn view(record: ServerRecord) -> ServerView {
    let now = portcullis_store::now_ms();
    let source = keys_source(&record, now);
    let mut warnings = Vec::new();
    if record.definition.accepts_any_audience() {
        warnings.push(ANY_AUDIENCE_WARNING);
    }
    if !record.definition.verify_tls {
        warnings.push(TLS_UNVERIFIED_WARNING);
    }
    ServerView {
        status: StatusView {
            last_successful_fetch_at: record.status.last_successful_fetch_at.map(rfc3339),
            last_fetch_attempt_at: record.status.last_fetch_attempt_at.map(rfc3339),
            last_fetch_error: record.status.last_fetch_error,
            key_ids: record.status.key_ids,
            keys_source: source,
        },
        id: record.id,
        definition: record.definition,
        version: record.version,
        created_at: rfc3339(record.created_at),
        updated_at: rfc3339(record.updated_at),
        warnings,
    }
}

/// A create/replace body: a [`ServerInput`] plus the request flags `skipValidation` and
/// (for replace) `version`.
struct Submitted {
    input: ServerInput,
    skip_validation: bool,
    version: Option<i64>,
}

fn split_flags(body: Value) -> Result<Submitted, ApiError> {
    let Value::Object(mut members) = body else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let take_bool = |members: &mut Map<String, Value>, name: &str| -> Result<bool, ApiError> {
        match members.remove(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(ApiError::invalid_field(name, "must be true or false")),
        }
    };
    let skip_validation = take_bool(&mut members, "skipValidation")?;
    let version = json::take_version(&mut members)?;
    for read_only in ["id", "createdAt", "updatedAt", "status", "warnings"] {
        members.remove(read_only);
    }
    let bytes = serde_json::to_vec(&Value::Object(members)).map_err(|e| ApiError::internal(&e))?;
    let input: ServerInput = json::parse(&bytes)?;
    Ok(Submitted {
        input,
        skip_validation,
        version,
    })
}

/// Resolves, checks fields, then fetches the keys exactly as the key manager will. Without
/// `skipValidation`, a server whose JWKS has no usable key is refused (422, the reason on
/// `jwksUri`); with it, the server is saved with the fetch error recorded.
async fn prepare(
    state: &ControlState,
    submitted: Submitted,
) -> Result<(ServerDefinition, FetchOutcome), ApiError> {
    let mut definition = submitted.input.resolve();
    let errors = definition.field_errors(state.settings.url_rules());
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    let check: KeyCheck = keycheck::check(state, &definition).await;
    if let (None, Some(discovered)) = (&definition.jwks_uri, &check.discovered_jwks_uri) {
        definition.jwks_uri = Some(discovered.clone());
    }
    if let (None, Some(discovered)) = (&definition.issuer, &check.discovered_issuer) {
        definition.issuer = Some(discovered.clone());
    }
    if let FetchOutcome::Failure { error } = &check.outcome
        && !submitted.skip_validation
    {
        let field = if definition.metadata_url.is_some() && check.discovered_jwks_uri.is_none() {
            "metadataUrl"
        } else {
            "jwksUri"
        };
        let mut err = ApiError::invalid_field(field, error.clone());
        err.message =
            format!("the key check failed: {error} (send \"skipValidation\": true to save anyway)");
        return Err(err);
    }
    Ok((definition, check.outcome))
}

/// `GET /api/v1/authorizationServers`.
#[utoipa::path(
    get,
    path = "/api/v1/authorizationServers",
    tag = "authorizationServers",
    operation_id = "listAuthorizationServers",
    responses((status = 200, description = "Every authorization server of the org, with key status.", body = ServerList))
)]
pub async fn list(
    State(state): State<ControlState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuthorizationServers, false)?;
    let items: Vec<ServerView> = state
        .store
        .list_servers(state.org)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(ServerList { items }))
}

/// `GET /api/v1/authorizationServers/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/authorizationServers/{id}",
    tag = "authorizationServers",
    operation_id = "getAuthorizationServer",
    params(("id" = String, Path, description = "The server's id.")),
    responses((status = 200, description = "The server.", body = ServerView))
)]
pub async fn get(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuthorizationServers, false)?;
    Ok(Json(view(
        state
            .store
            .get_server(state.org, &id)
            .await
            .map_err(not_found)?,
    )))
}

/// `POST /api/v1/authorizationServers`: the keys are fetched and checked before saving.
#[utoipa::path(
    post,
    path = "/api/v1/authorizationServers",
    tag = "authorizationServers",
    operation_id = "createAuthorizationServer",
    request_body = ServerRequest,
    responses(
        (status = 201, description = "Saved, with the outcome of the key check in `status`.", body = ServerView),
        (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
        (status = 409, description = "The name is in use (`conflict`), or the org's server limit is reached (`limit_exceeded`).", body = ErrorBody),
        (status = 422, description = "A field is invalid, or the key check failed without `skipValidation` (the reason on `jwksUri` or `metadataUrl`).", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ControlState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Category::AuthorizationServers, true)?;
    let (definition, outcome) = prepare(&state, split_flags(body)?).await?;
    if activation::is_staged(&state).await? {
        let object = StagedObject::Server {
            definition,
            fetch: Some(outcome),
        };
        return activation::stage(&state, &principal, StagedWrite::Create(object), not_found).await;
    }
    let record = state
        .store
        .create_server(state.org, &definition, Some(&outcome), &principal.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(view(record))).into_response())
}

/// `PUT /api/v1/authorizationServers/{id}`: replaces the definition. With `version`, a
/// concurrent change since that version is a 409.
#[utoipa::path(
    put,
    path = "/api/v1/authorizationServers/{id}",
    tag = "authorizationServers",
    operation_id = "replaceAuthorizationServer",
    params(("id" = String, Path, description = "The server's id.")),
    request_body = ServerRequest,
    responses(
        (status = 200, description = "Replaced.", body = ServerView),
        (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
        (status = 409, description = "The name is in use, the org's enabled-server limit is reached, or `version` is stale (`version_conflict`).", body = ErrorBody),
        (status = 422, description = "A field is invalid, or the key check failed without `skipValidation`.", body = ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Category::AuthorizationServers, true)?;
    let staged = activation::is_staged(&state).await?;
    if !staged {
        state
            .store
            .get_server(state.org, &id)
            .await
            .map_err(not_found)?;
    }
    let submitted = split_flags(body)?;
    let version = submitted.version;
    let (definition, outcome) = prepare(&state, submitted).await?;
    if staged {
        let write = StagedWrite::Replace {
            id,
            expected_version: version,
            object: StagedObject::Server {
                definition,
                fetch: Some(outcome),
            },
        };
        return activation::stage(&state, &principal, write, not_found).await;
    }
    let record = state
        .store
        .update_server(
            state.org,
            &id,
            version,
            &definition,
            Some(&outcome),
            &principal.actor(),
        )
        .await?;
    Ok(Json(view(record)).into_response())
}

/// `DELETE /api/v1/authorizationServers/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/authorizationServers/{id}",
    tag = "authorizationServers",
    operation_id = "deleteAuthorizationServer",
    params(("id" = String, Path, description = "The server's id.")),
    responses(
        (status = 204, description = "Deleted: its tokens are rejected from the next request on."),
        (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
    )
)]
pub async fn delete(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    principal.require(Category::AuthorizationServers, true)?;
    if activation::is_staged(&state).await? {
        let write = StagedWrite::Delete {
            kind: PendingKind::AuthorizationServers,
            id,
            expected_version: None,
        };
        return activation::stage(&state, &principal, write, not_found).await;
    }
    state
        .store
        .delete_server(state.org, &id, &principal.actor())
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/authorizationServers/validate`: fetch and report, save nothing.
#[utoipa::path(
    post,
    path = "/api/v1/authorizationServers/validate",
    tag = "authorizationServers",
    operation_id = "validateAuthorizationServer",
    request_body = ServerValidateRequest,
    responses((status = 200, description = "What the key check found (`ok` false with `error` when the keys are unusable).", body = ValidationReport))
)]
pub async fn validate(
    State(state): State<ControlState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuthorizationServers, false)?;
    let mut members = match body {
        Value::Object(members) => members,
        _ => return Err(ApiError::bad_request("the body must be a JSON object")),
    };
    // Validate needs only the key location and how to reach it (TLS settings); a name is
    // optional here.
    members.entry("name").or_insert_with(|| json!("validate"));
    let submitted = split_flags(Value::Object(members))?;
    let definition = submitted.input.resolve();
    let url_errors: Vec<_> = definition
        .field_errors(state.settings.url_rules())
        .into_iter()
        .filter(|e| matches!(e.field.as_str(), "jwksUri" | "metadataUrl" | "caBundlePem"))
        .collect();
    if !url_errors.is_empty() {
        return Err(ApiError::invalid_fields(&url_errors));
    }
    let check = keycheck::check(&state, &definition).await;
    Ok(Json(check.report))
}

/// `POST /api/v1/authorizationServers/{id}/refresh`: fetch the keys now and record the outcome.
#[utoipa::path(
    post,
    path = "/api/v1/authorizationServers/{id}/refresh",
    tag = "authorizationServers",
    operation_id = "refreshAuthorizationServer",
    params(("id" = String, Path, description = "The server's id.")),
    responses((status = 200, description = "Fetched (successfully or not: see `report`) and recorded.", body = RefreshResult))
)]
pub async fn refresh(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuthorizationServers, true)?;
    let record = state
        .store
        .get_server(state.org, &id)
        .await
        .map_err(not_found)?;
    let check = keycheck::check(&state, &record.definition).await;
    state
        .store
        .record_fetch(state.org, &id, &check.outcome)
        .await?;
    let record = state.store.get_server(state.org, &id).await?;
    Ok(Json(RefreshResult {
        server: view(record),
        report: check.report,
    }))
}

fn not_found(err: portcullis_store::StoreError) -> ApiError {
    match err {
        portcullis_store::StoreError::NotFound => ApiError::not_found("authorization server"),
        other => other.into(),
    }
}

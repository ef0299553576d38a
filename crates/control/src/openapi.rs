//! The OpenAPI 3.1 document of the cloud service API (`GET /api/v1/openapi.json`), generated
//! from the code: each handler carries a `#[utoipa::path]` annotation (its own success and
//! specific error answers), the request and response types derive `ToSchema` (the lower crates
//! behind their `openapi` feature), and [`Conventions`] adds what every operation shares, from
//! facts of the operation itself rather than by hand:
//!
//! - authentication: operations not marked public accept the session cookie (plus `X-CSRF-Token`
//!   when they change something) or a bearer JWT, and answer 400/401/403 on failures of either;
//! - a JSON body: 400 (malformed), 413 (too large), 415 (not `application/json`), 422 (a field is
//!   wrong, named in `fields`);
//! - an `{id}` in the path: 404;
//! - a store behind it: 503 when the database cannot be reached.
//!
//! Every error answer references the one `Error` schema (`{code, message, fields}`).
//! `tests/openapi.rs` holds the document to the router ([`crate::api_routes`]) and the fuzzing
//! script (`scripts/api-fuzz`) holds the server to the document.

use axum::Json;
use axum::response::IntoResponse;
use utoipa::Number;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, SecurityRequirement};
use utoipa::openapi::{KnownFormat, SchemaFormat};
use utoipa::{Modify, OpenApi};

use crate::api::{
    activation, admins, api_key, audit, cluster, legacy_session, ops, org_settings, roles, routes,
    sandbox_tokens, servers, session,
};
use crate::auth::{CSRF_HEADER, SESSION_COOKIE};

/// Security scheme names in the document.
pub const SESSION_SCHEME: &str = "session";
/// The CSRF header scheme (required with the session cookie on changes).
pub const CSRF_SCHEME: &str = "csrf";
/// OAuth 2.0 bearer JWTs mapped to API roles.
pub const BEARER_SCHEME: &str = "bearer";

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis cloud service API",
        description = "Manage the authorization servers whose JWT access tokens Portcullis accepts, API roles, admins, routes and the audit log. Errors are `{code, message, fields}`. Sign in with `POST /api/v1/auth/login` (session cookie plus the `csrfToken` to send as `X-CSRF-Token` on every change) or send an OAuth 2.0 bearer token whose scopes name API roles (`<cloud>::<orgId>::<role>`).",
    ),
    paths(
        ops::status,
        activation::list,
        activation::activate,
        activation::discard,
        openapi_json,
        session::login,
        session::logout,
        servers::list,
        servers::create,
        servers::validate,
        servers::get,
        servers::replace,
        servers::delete,
        servers::refresh,
        roles::api_roles::list,
        roles::api_roles::create,
        roles::api_roles::get,
        roles::api_roles::replace,
        roles::api_roles::delete,
        roles::admin_roles::list,
        roles::admin_roles::create,
        roles::admin_roles::get,
        roles::admin_roles::replace,
        roles::admin_roles::delete,
        admins::list,
        admins::create,
        admins::get,
        admins::replace,
        admins::delete,
        routes::list,
        routes::create,
        routes::get,
        routes::replace,
        routes::delete,
        audit::list,
        audit::csv,
        legacy_session::create,
        legacy_session::get,
        legacy_session::delete,
        api_key::get,
        api_key::create,
        api_key::replace,
        api_key::delete,
        api_key::regenerate,
        api_key::reveal,
        sandbox_tokens::list,
        sandbox_tokens::create,
        sandbox_tokens::rename,
        sandbox_tokens::delete,
        sandbox_tokens::regenerate,
        cluster::nodes,
        org_settings::get,
        org_settings::replace,
    ),
    components(schemas(crate::error::ErrorBody, activation::ActivateRequest)),
    modifiers(&Conventions),
    tags(
        (name = "meta", description = "Status, staged changes and their activation, and this document."),
        (name = "session", description = "Admin sign-in."),
        (name = "authorizationServers", description = "Trusted OAuth 2.0 authorization servers and their keys."),
        (name = "apiRoles", description = "Permission sets granted to OAuth clients through scopes."),
        (name = "adminRoles", description = "Permission sets of admins."),
        (name = "admins", description = "Portal and API users."),
        (name = "routes", description = "Upstream routes and their policies (forward auth)."),
        (name = "auditLogs", description = "Who changed what."),
        (name = "apiCredentials", description = "The Cloud Service API Key and the sandbox API tokens."),
        (name = "cluster", description = "The nodes of a deployment and what each has applied."),
        (name = "orgSettings", description = "The org's governance: activation (immediate or staged), read-only mode and rate limits."),
    )
)]
pub struct ApiDoc;

/// The document, built once (it never changes while the process runs).
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::LazyLock<utoipa::openapi::OpenApi> =
        std::sync::LazyLock::new(ApiDoc::openapi);
    &DOCUMENT
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "getOpenApiDocument",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json", body = std::collections::HashMap<String, serde_json::Value>))
)]
pub async fn openapi_json() -> impl IntoResponse {
    Json(document())
}

/// Adds security schemes and the error answers every operation shares (see the module docs).
pub struct Conventions;

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .into()
}

/// The operations of a path item with their HTTP method.
fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// Adds `status` unless the operation documents it itself (its own text is more precise).
fn add_error(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| error_response(description));
}

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by `POST /api/v1/auth/login` (HttpOnly).",
            ))),
        );
        components.add_security_scheme(
            CSRF_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                CSRF_HEADER,
                "The `csrfToken` of the sign-in answer (also the `portcullis_csrf` cookie): required with the session cookie on every call that changes something.",
            ))),
        );
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An OAuth 2.0 JWT access token from a registered authorization server; its scopes `<cloud>::<orgId>::<role>` name the API roles that apply. No CSRF header is needed.",
                    ))
                    .build(),
            ),
        );
        for schema in components.schemas.values_mut() {
            widen_unsigned_32(schema);
        }

        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_id = path.contains("{id}");
            for (method, op) in operations(item) {
                // `security(())` marks a public operation: it becomes "no security" here.
                let public = op
                    .security
                    .as_ref()
                    .is_some_and(|reqs| reqs.iter().all(|r| *r == SecurityRequirement::default()));
                if public {
                    op.security = None;
                } else {
                    let session = if method == "get" || method == "head" {
                        SecurityRequirement::new(SESSION_SCHEME, Vec::<String>::new())
                    } else {
                        SecurityRequirement::new(SESSION_SCHEME, Vec::<String>::new())
                            .add(CSRF_SCHEME, Vec::<String>::new())
                    };
                    op.security = Some(vec![
                        session,
                        SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new()),
                    ]);
                    add_error(
                        op,
                        "401",
                        "Not signed in, the session expired, or the bearer token is not accepted (with `WWW-Authenticate`).",
                    );
                    add_error(
                        op,
                        "403",
                        "The caller's role does not allow this, or the `X-CSRF-Token` header is missing or wrong.",
                    );
                    add_error(
                        op,
                        "400",
                        "A malformed `Authorization` header (RFC 6750 `invalid_request`).",
                    );
                }
                if op.request_body.is_some() {
                    add_error(op, "400", "The body is not valid JSON.");
                    add_error(op, "413", "The body is larger than 256 KiB.");
                    add_error(op, "415", "The body is not `application/json`.");
                    add_error(
                        op,
                        "422",
                        "A field is missing, unknown, of the wrong type or invalid: `fields` names each.",
                    );
                }
                if has_id {
                    add_error(op, "404", "No such resource in this org.");
                }
                if !public || op.request_body.is_some() {
                    add_error(
                        op,
                        "503",
                        "The configuration database cannot be reached right now.",
                    );
                }
                governance_answers(path, method, op);
            }
        }
    }
}

/// Every operation may answer 429 (rate limits), every write not served in read-only mode 403
/// `STATE_READONLY` (see `crate::governance`).
fn governance_answers(path: &str, method: &str, op: &mut Operation) {
    let seconds = |description: &str| {
        utoipa::openapi::HeaderBuilder::new()
            .schema(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some(0)),
            )
            .description(Some(description))
            .build()
    };
    let limited = ResponseBuilder::new()
        .description("Too many requests (`rate_limited`): retry after `retryAfter` seconds (also the `Retry-After` header). `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` describe the tightest window.")
        .header("Retry-After", seconds("Seconds until the request may be retried."))
        .header("X-RateLimit-Limit", seconds("The window's limit."))
        .header("X-RateLimit-Remaining", seconds("Requests left in the window."))
        .header("X-RateLimit-Reset", seconds("Seconds until the window resets."))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build();
    op.responses
        .responses
        .entry("429".to_owned())
        .or_insert_with(|| limited.into());
    let writable = crate::governance::WRITABLE_WHEN_READ_ONLY
        .iter()
        .any(|(m, p)| m.as_str().eq_ignore_ascii_case(method) && *p == path);
    if matches!(method, "get" | "head" | "options") || writable {
        return;
    }
    const READ_ONLY: &str = " In read-only mode (maintenance) every change answers 403 `STATE_READONLY` with the header `X-Portcullis-Mode: read-only`.";
    match op.responses.responses.get_mut("403") {
        Some(RefOr::T(response)) => response.description.push_str(READ_ONLY),
        _ => add_error(op, "403", READ_ONLY.trim_start()),
    }
}

/// utoipa writes Rust's `u32` as `format: int32, minimum: 0`, which caps it at 2^31 − 1; the
/// parser accepts every `u32`, so the document says `0 ..= 4294967295` instead.
fn widen_unsigned_32(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            let int32 = matches!(
                object.format,
                Some(SchemaFormat::KnownFormat(KnownFormat::Int32))
            );
            let unsigned = match object.minimum {
                Some(Number::UInt(n)) => n == 0,
                Some(Number::Int(n)) => n == 0,
                Some(Number::Float(n)) => n.abs() < f64::EPSILON,
                None => false,
            };
            if int32 && unsigned && object.maximum.is_none() {
                object.maximum = Some(Number::UInt(
                    usize::try_from(u32::MAX).unwrap_or(usize::MAX),
                ));
            }
            if int32 && unsigned {
                object.format = None;
            }
            object.properties.values_mut().for_each(widen_unsigned_32);
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                widen_unsigned_32(items);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(widen_unsigned_32),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(widen_unsigned_32),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(widen_unsigned_32),
        _ => {}
    }
}

//! The OpenAPI document against the real server on 127.0.0.1: it is OpenAPI 3.1, it documents
//! exactly the operations the router serves under `/api/v1` (no more, no fewer), and every
//! error answer it documents carries the one error schema. The fuzzing script
//! (`scripts/api-fuzz`) then holds the server's answers to the document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::TestServer;

const ERROR_SCHEMA: &str = "#/components/schemas/Error";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(server: &TestServer) -> Value {
    // No credentials: the document is public.
    let (status, doc) = server.client().get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

fn served() -> BTreeSet<(String, String)> {
    portcullis_server::api_routes()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_owned(), path))
        .collect()
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_exactly_the_routers_operations() {
    let server = TestServer::start("sqlite").await;
    let doc = document(&server).await;
    let version = doc["openapi"].as_str().expect("openapi member");
    assert!(version.starts_with("3.1."), "OpenAPI version {version}");
    assert_eq!(
        doc["jsonSchemaDialect"].as_str().unwrap_or(""),
        "",
        "default 3.1 dialect (JSON Schema 2020-12)"
    );

    let documented = documented(&doc);
    let served = served();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && phantom.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {phantom:?}"
    );
    assert!(served.len() >= 33, "the table lost operations: {served:?}");
    assert!(served.iter().all(|(_, path)| path.starts_with("/api/v1/")));

    // Operation ids are unique (clients generate method names from them).
    let mut ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.clone()), "operationId {id} used twice");
    }
    server.stop().await;
}

/// The router is probed as a client sees it, so a route registered outside the operation table
/// (or a table row whose path the router does not really answer) is caught too: every
/// documented operation reaches a handler (never the API's 404 fallback, never 405), and every
/// other method on a documented path is a 405 with `Allow` and the JSON error body.
#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method_is() {
    let server = TestServer::start("sqlite").await;
    let doc = document(&server).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let documented = documented(&doc);
    let public_ops: std::collections::BTreeSet<(String, String)> =
        portcullis_server::public_api_routes()
            .into_iter()
            .map(|(method, path)| (method.to_string(), path))
            .collect();
    assert_eq!(public_ops.len(), 4, "{public_ops:?}");
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "probe");
        let url = format!("{}{concrete}", server.base);
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let response = http
                .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let allow = response
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if documented.contains(&(method.to_owned(), path.clone())) {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert_ne!(
                    body["message"], "API endpoint not found",
                    "{method} {path} reached the fallback"
                );
                // Public or not is the router table's word; the document must say the same.
                let public = public_ops.contains(&(method.to_owned(), path.clone()));
                let documented_public = item[method.to_lowercase()].get("security").is_none();
                assert_eq!(
                    public, documented_public,
                    "{method} {path}: the router table and the document disagree on whether it is public"
                );
                // Without credentials, everything that is not public is a 401.
                if !public {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
                }
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
                assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
                let allow = allow.unwrap_or_default();
                for (m, _) in documented.iter().filter(|(_, p)| p == path) {
                    assert!(allow.contains(m.as_str()), "Allow: {allow} lacks {m}");
                }
            }
        }
    }
    server.stop().await;
}

fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling {reference}"))
        }
        None => node,
    }
}

#[tokio::test]
async fn every_documented_error_answer_carries_the_error_schema() {
    let server = TestServer::start("sqlite").await;
    let doc = document(&server).await;
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["code", "message"]));
    for member in ["code", "message", "fields"] {
        assert!(error["properties"].get(member).is_some(), "Error.{member}");
    }
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} documents no success"
            );
            for (status, response) in responses {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let response = resolve(&doc, response);
                let schema = &response["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], ERROR_SCHEMA,
                    "{method} {path} {status}: {response}"
                );
                checked += 1;
            }
            // Operations with an id in the path can miss; those with a body can be refused.
            if path.contains("{id}") {
                assert!(responses.contains_key("404"), "{method} {path} lacks 404");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
            if op.get("security").is_some() {
                for status in ["401", "403"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} error answers documented");
    server.stop().await;
}

/// The request schemas are as strict as the parser: unknown members are refused by both.
#[tokio::test]
async fn request_schemas_refuse_unknown_members_like_the_parser() {
    let server = TestServer::start("sqlite").await;
    let doc = document(&server).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ServerRequest",
        "ServerValidateRequest",
        "RoleRequest",
        "RouteRequest",
        "AdminInput",
        "LoginRequest",
        "Permissions",
        "RouteMatch",
        "RoutePolicy",
        "ScopeRule",
        "ClaimRule",
    ] {
        assert_eq!(
            schemas[name]["additionalProperties"],
            Value::Bool(false),
            "{name} must say additionalProperties: false"
        );
    }
    // Spot checks that the extended schemas track their base types.
    assert!(
        schemas["ServerRequest"]["properties"]
            .get("jwksUri")
            .is_some()
    );
    assert!(
        schemas["ServerRequest"]["properties"]
            .get("skipValidation")
            .is_some()
    );
    assert_eq!(
        schemas["ServerRequest"]["required"],
        serde_json::json!(["name"])
    );
    let validate_required = &schemas["ServerValidateRequest"]["required"];
    assert!(
        validate_required.is_null() || *validate_required == serde_json::json!([]),
        "validate needs no name: {validate_required}"
    );
    // u32 fields: the whole u32 range unless a rule narrows it (utoipa alone says int32).
    let skew = &schemas["ServerDefinition"]["properties"]["clockSkewS"];
    assert_eq!(skew["maximum"], 4_294_967_295_u64, "u32 range: {skew}");
    assert!(skew.get("format").is_none(), "{skew}");
    let skew = &schemas["ServerRequest"]["properties"]["clockSkewS"];
    assert_eq!(skew["maximum"], 300, "clock skew rule: {skew}");

    // And the server agrees: a member the schema does not list is a 422 naming it.
    let admin = server.admin().await;
    let (status, body) = admin
        .post(
            "/api/v1/apiRoles",
            serde_json::json!({"name": "r1", "permisions": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"].get("permisions").is_some(), "{body}");
    server.stop().await;
}

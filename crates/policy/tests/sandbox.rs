//! The sandbox evaluation (`policy::sandbox::evaluate`) as a table: a token and an optional
//! upstream request against one snapshot (a server, an API role, three routes), and the verdict,
//! live status and code the report must carry, plus the step that decided. Extend the table to
//! pin a new case; the harness needs no change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_jose::JwkSet;
use portcullis_policy::permissions::{Access, Permissions};
use portcullis_policy::routes::{CompiledRoute, RouteTable};
use portcullis_policy::sandbox::{RouteRequest, Verdict, evaluate};
use portcullis_policy::snapshot::Snapshot;
use portcullis_policy::target::canonicalize_target;
use portcullis_policy::{Preset, ServerConfig, TrustedServer, Validator};
use portcullis_testkit::{TestKey, jwks};
use serde_json::{Value, json};

const ISS: &str = "https://idp.example.com";
const NOW: f64 = 1_700_000_000.0;
const ROLE: &str = "portcullis.local::272378::automation";

fn snapshot(key: &TestKey) -> Snapshot {
    let keys = JwkSet::parse(jwks(&[key]).to_string().as_bytes()).unwrap();
    let server = TrustedServer {
        id: "srv-1".into(),
        enabled: true,
        config: ServerConfig::new("idp", Preset::Generic)
            .with_issuer(ISS)
            .with_audiences(&["orders-api"]),
        keys: Arc::new(keys),
        generation: 1,
    };
    let route = |id: &str, definition: Value| {
        CompiledRoute::new(id, serde_json::from_value(definition).unwrap()).unwrap()
    };
    Snapshot {
        version: 1,
        validator: Validator::new(vec![server]),
        api_roles: HashMap::from([(
            "automation".to_owned(),
            Permissions {
                routes: Access::Full,
                ..Default::default()
            },
        )]),
        servers: Vec::new(),
        routes: RouteTable::new(vec![
            route(
                "r-orders",
                json!({"name": "orders", "match": {"pathPrefix": "/orders"},
                       "policy": {"scopes": {"allOf": ["orders:read"]}, "forwardClaims": {"X-User": "sub"}}}),
            ),
            route(
                "r-legacy",
                json!({"name": "legacy", "match": {"pathPrefix": "/legacy"}, "policy": {"credentials": ["api_key"]}}),
            ),
            route(
                "r-health",
                json!({"name": "health", "match": {"exactPath": "/health"}, "policy": {"credentials": ["none"]}}),
            ),
        ]),
    }
}

fn claims(scope: &str, exp_in: f64) -> Value {
    json!({"iss": ISS, "aud": "orders-api", "sub": "svc", "scope": scope, "iat": NOW - 10.0, "exp": NOW + exp_in})
}

struct Row {
    name: &'static str,
    claims: Value,
    /// `(method, path)` for a route decision; none = cloud service API.
    request: Option<(&'static str, &'static str)>,
    verdict: Verdict,
    status: u16,
    code: Option<&'static str>,
    /// The step whose outcome decided (`pass` on allow, `fail` on deny).
    deciding: (&'static str, &'static str),
}

fn rows() -> Vec<Row> {
    let both = format!("{ROLE} orders:read");
    vec![
        Row {
            name: "API roles granted",
            claims: claims(&both, 600.0),
            request: None,
            verdict: Verdict::Allow,
            status: 200,
            code: None,
            deciding: ("authorization", "pass"),
        },
        Row {
            name: "no API role in the scopes",
            claims: claims("orders:read", 600.0),
            request: None,
            verdict: Verdict::Deny,
            status: 403,
            code: Some("no_api_role"),
            deciding: ("authorization", "fail"),
        },
        Row {
            name: "expired token",
            claims: claims(&both, -600.0),
            request: None,
            verdict: Verdict::Deny,
            status: 401,
            code: Some("expired"),
            deciding: ("expiry", "fail"),
        },
        Row {
            name: "route allows with the scope",
            claims: claims(&both, 600.0),
            request: Some(("GET", "/orders/1")),
            verdict: Verdict::Allow,
            status: 200,
            code: None,
            deciding: ("authorization", "pass"),
        },
        Row {
            name: "route lacks the scope",
            claims: claims(ROLE, 600.0),
            request: Some(("GET", "/orders/1")),
            verdict: Verdict::Deny,
            status: 403,
            code: Some("insufficient_scope"),
            deciding: ("authorization", "fail"),
        },
        Row {
            name: "no route",
            claims: claims(&both, 600.0),
            request: Some(("GET", "/elsewhere")),
            verdict: Verdict::Deny,
            status: 403,
            code: Some("no_route"),
            deciding: ("authorization", "fail"),
        },
        Row {
            name: "api_key-only route refuses OAuth",
            claims: claims(&both, 600.0),
            request: Some(("GET", "/legacy/x")),
            verdict: Verdict::Deny,
            status: 401,
            code: Some("credential_not_accepted"),
            deciding: ("authorization", "fail"),
        },
        Row {
            name: "public route ignores an expired token",
            claims: claims(&both, -600.0),
            request: Some(("GET", "/health")),
            verdict: Verdict::Allow,
            status: 200,
            code: None,
            deciding: ("authorization", "pass"),
        },
        Row {
            name: "expired token on a protected route",
            claims: claims(&both, -600.0),
            request: Some(("POST", "/orders")),
            verdict: Verdict::Deny,
            status: 401,
            code: Some("expired"),
            deciding: ("authorization", "skip"),
        },
    ]
}

#[test]
fn sandbox_reports() {
    let key = TestKey::ec("ec-1", "ES256");
    let snapshot = snapshot(&key);
    for row in rows() {
        let token = key.sign(&row.claims);
        let request = row.request.map(|(method, path)| RouteRequest {
            method: method.into(),
            host: None,
            target: canonicalize_target(path.as_bytes()).unwrap(),
        });
        let report = evaluate(&snapshot, &token, NOW, "portcullis.local", 272_378, request);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            (report.verdict, report.status, report.code),
            (row.verdict, row.status, row.code),
            "{}: {json}",
            row.name
        );
        let (step, outcome) = row.deciding;
        let found = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s["step"] == step)
            .unwrap_or_else(|| panic!("{}: no {step} step: {json}", row.name));
        assert_eq!(found["outcome"], outcome, "{}: {json}", row.name);
        assert_eq!(
            json["steps"].as_array().unwrap().last().unwrap()["step"],
            "authorization",
            "{}: the authorization step closes the trace",
            row.name
        );
        assert_eq!(json["header"]["kid"], "ec-1", "{}", row.name);
        if row.verdict == Verdict::Allow && row.request == Some(("GET", "/orders/1")) {
            assert_eq!(
                json["authorization"]["identityHeaders"],
                json!({"X-User": "svc"})
            );
        }
        if row.status == 401 && row.code != Some("credential_not_accepted") {
            assert!(report.client_description.is_some(), "{}", row.name);
        }
    }
}

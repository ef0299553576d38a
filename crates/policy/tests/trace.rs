//! The evaluation trace (`Validator::validate_traced` into an `EvaluationTrace`), as the sandbox
//! API, the token debugger and `portcullis token verify --json` show it.
//!
//! `trace_steps` is a table: a token (header members and claims) against two trusted servers, and
//! the exact sequence of `(Step, Outcome)` the trace must record, plus a word each failing step's
//! detail must contain. The harness also checks that tracing does not change the verdict, and the
//! JSON form: an object with exactly `header`, `payload` and `steps`, steps in snake_case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use portcullis_jose::JwkSet;
use portcullis_policy::{
    EvaluationTrace, Outcome, Preset, Rejection, ServerConfig, Step, TrustedServer, Validator,
    VendorHint,
};
use portcullis_testkit::{TestKey, jwks};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ENTRA_V1_ISS: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
const ENTRA_V2_ISS: &str =
    "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
const API_APP_ID: &str = "fe2f6a75-199e-48a5-b9ef-a7357ab78c53";
const CLIENT_APP_ID: &str = "75dbe77f-10a3-4e59-85fd-8c127544f17c";
const CLIENT_SP_OID: &str = "3f6b8c1a-5e2d-4f7a-9b0c-1d2e3f4a5b6c";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const ENTRA_KID: &str = "i6lGk3FZzxRcUb2C3nEQ7syHJlY";
const PF_KID: &str = "pf-jwt-1";
const PF_CLIENT: &str = "automation_client";
const ROLE: &str = "portcullis.local::272378::automation";

use Outcome::{Fail, Pass, Skip};
use Step::*;

/// One row of the trace table.
struct TraceCase {
    name: &'static str,
    /// Which server's key signs (`ENTRA_KID` or `PF_KID`).
    kid: &'static str,
    /// Header members besides `alg` and `kid` (a `null` member removes that member).
    header: Value,
    claims: Value,
    /// `Ok(client id)` or `Err(rejection code)`.
    verdict: Result<&'static str, &'static str>,
    /// The recorded steps, in order.
    steps: &'static [(Step, Outcome)],
    /// A word the detail of the failing step contains (`""` for accepted tokens).
    fail_detail: &'static str,
}

fn cases() -> Vec<TraceCase> {
    vec![
        TraceCase {
            name: "accepted Entra v2 client-credentials token: client ids not configured → skip",
            kid: ENTRA_KID,
            header: json!({"typ": "JWT"}),
            claims: entra_v2_client_credentials(),
            verdict: Ok(CLIENT_APP_ID),
            steps: &[
                (Shape, Pass),
                (Algorithm, Pass),
                (ServerSelection, Pass),
                (KeySelection, Pass),
                (Signature, Pass),
                (Expiry, Pass),
                (NotBefore, Pass),
                (IssuedAt, Pass),
                (Lifetime, Pass),
                (Issuer, Pass),
                (Audience, Pass),
                (ClientId, Skip),
                (TokenType, Pass),
                (Scopes, Pass),
            ],
            fail_detail: "",
        },
        TraceCase {
            name: "accepted PingFederate token without iss/aud: server chosen by kid, issuer and audience skipped",
            kid: PF_KID,
            header: json!({}),
            claims: json!({"scp": [ROLE], "client_id": PF_CLIENT, "jti": "Zr1o2xQxKj3c0Ps8dD0aHk",
                           "iat": now(), "exp": now() + 7200}),
            verdict: Ok(PF_CLIENT),
            steps: &[
                (Shape, Pass),
                (Algorithm, Pass),
                (ServerSelection, Pass),
                (KeySelection, Pass),
                (Signature, Pass),
                (Expiry, Pass),
                (NotBefore, Skip),
                (IssuedAt, Pass),
                (Lifetime, Pass),
                (Issuer, Skip),
                (Audience, Skip),
                (ClientId, Pass),
                (TokenType, Pass),
                (Scopes, Pass),
            ],
            fail_detail: "",
        },
        TraceCase {
            name: "rejected Entra v1 token: no server for its issuer",
            kid: ENTRA_KID,
            header: json!({"typ": "JWT", "x5t": ENTRA_KID}),
            claims: patch(
                entra_v2_client_credentials(),
                json!({"iss": ENTRA_V1_ISS, "ver": "1.0"}),
            ),
            verdict: Err("issuer_unknown"),
            steps: &[(Shape, Pass), (Algorithm, Pass), (ServerSelection, Fail)],
            fail_detail: "sts.windows.net",
        },
        TraceCase {
            name: "rejected Graph-audience token: fails at the audience, after issuer passed",
            kid: ENTRA_KID,
            header: json!({"typ": "JWT"}),
            claims: patch(entra_v2_client_credentials(), json!({"aud": GRAPH_APP_ID})),
            verdict: Err("aud_mismatch"),
            steps: &[
                (Shape, Pass),
                (Algorithm, Pass),
                (ServerSelection, Pass),
                (KeySelection, Pass),
                (Signature, Pass),
                (Expiry, Pass),
                (NotBefore, Pass),
                (IssuedAt, Pass),
                (Lifetime, Pass),
                (Issuer, Pass),
                (Audience, Fail),
            ],
            fail_detail: GRAPH_APP_ID,
        },
        TraceCase {
            name: "rejected expired token: fails at expiry, no claim check after it",
            kid: ENTRA_KID,
            header: json!({"typ": "JWT"}),
            claims: patch(entra_v2_client_credentials(), json!({"exp": now() - 600})),
            verdict: Err("expired"),
            steps: &[
                (Shape, Pass),
                (Algorithm, Pass),
                (ServerSelection, Pass),
                (KeySelection, Pass),
                (Signature, Pass),
                (Expiry, Fail),
            ],
            fail_detail: "expired",
        },
        TraceCase {
            name: "rejected exp = 1e300: out of the NumericDate range, at the expiry step",
            kid: ENTRA_KID,
            header: json!({"typ": "JWT"}),
            claims: patch(entra_v2_client_credentials(), json!({"exp": 1e300})),
            verdict: Err("numeric_date_out_of_range"),
            steps: &[
                (Shape, Pass),
                (Algorithm, Pass),
                (ServerSelection, Pass),
                (KeySelection, Pass),
                (Signature, Pass),
                (Expiry, Fail),
            ],
            fail_detail: "out of the NumericDate range",
        },
        TraceCase {
            name: "rejected iat = -1: out of the NumericDate range, at the issued-at step",
            kid: PF_KID,
            header: json!({}),
            claims: json!({"scp": [ROLE], "client_id": PF_CLIENT, "iat": -1, "exp": now() + 60}),
            verdict: Err("numeric_date_out_of_range"),
            steps: &[
                (Shape, Pass),
                (Algorithm, Pass),
                (ServerSelection, Pass),
                (KeySelection, Pass),
                (Signature, Pass),
                (Expiry, Pass),
                (NotBefore, Skip),
                (IssuedAt, Fail),
            ],
            fail_detail: "`iat`",
        },
        TraceCase {
            name: "rejected PingFederate token living 24 h + 1 s: fails at the lifetime step",
            kid: PF_KID,
            header: json!({}),
            claims: json!({"scp": [ROLE], "client_id": PF_CLIENT,
                           "iat": now(), "exp": now() + 86_401}),
            verdict: Err("token_lifetime_exceeded"),
            steps: &[
                (Shape, Pass),
                (Algorithm, Pass),
                (ServerSelection, Pass),
                (KeySelection, Pass),
                (Signature, Pass),
                (Expiry, Pass),
                (NotBefore, Skip),
                (IssuedAt, Pass),
                (Lifetime, Fail),
            ],
            fail_detail: "86401s (exp - iat) exceeds the server's maximum of 86400s",
        },
        TraceCase {
            name: "rejected Graph token with header nonce: fails at the shape, nothing decoded",
            kid: ENTRA_KID,
            header: json!({"typ": "JWT", "nonce": "AQABAAAAAAD--DLA3VO7QrddgJg7WevrVXg"}),
            claims: patch(entra_v2_client_credentials(), json!({"aud": GRAPH_APP_ID})),
            verdict: Err("header_nonce"),
            steps: &[(Shape, Fail)],
            fail_detail: "nonce",
        },
    ]
}

#[test]
fn trace_steps() {
    let fixture = Fixture::new();
    for case in cases() {
        let name = case.name;
        let token = fixture
            .key(case.kid)
            .sign_with_header(&case.header, &case.claims);

        let mut trace = EvaluationTrace::default();
        let traced = fixture
            .validator
            .validate_traced(&token, now() as f64, &mut trace);
        let untraced = fixture.validator.validate(&token, now() as f64);
        assert_eq!(
            traced, untraced,
            "{name}: tracing must not change the verdict"
        );

        let verdict = traced
            .as_ref()
            .map(|v| v.client_id.as_deref().unwrap_or(""))
            .map_err(|r| r.rejection.code());
        assert_eq!(verdict, case.verdict, "{name}: verdict");

        let steps: Vec<(Step, Outcome)> = trace.steps.iter().map(|e| (e.step, e.outcome)).collect();
        assert_eq!(steps, case.steps, "{name}: steps");
        assert!(
            trace.steps.iter().all(|e| !e.detail.is_empty()),
            "{name}: every step has a detail"
        );
        if let Some(failed) = trace.steps.iter().find(|e| e.outcome == Fail) {
            assert!(
                failed.detail.contains(case.fail_detail),
                "{name}: failing detail {:?} should mention {:?}",
                failed.detail,
                case.fail_detail
            );
            assert_eq!(
                trace.steps.last().map(|e| e.outcome),
                Some(Fail),
                "{name}: nothing after the failure"
            );
        }

        // Header and payload are recorded once the token could be decoded.
        let decoded = case.steps != [(Shape, Fail)];
        assert_eq!(trace.header.is_some(), decoded, "{name}: header recorded");
        assert_eq!(trace.payload.is_some(), decoded, "{name}: payload recorded");
        if decoded {
            let header = trace.header.as_ref().unwrap();
            assert_eq!(
                header.get("kid"),
                Some(&json!(case.kid)),
                "{name}: header kid"
            );
            assert_eq!(
                trace.payload.as_ref().map(|p| Value::Object(p.clone())),
                Some(case.claims.clone())
            );
        }

        // JSON: exactly header, payload, steps; steps as {step, outcome, detail} in snake_case.
        let json = serde_json::to_value(&trace).unwrap();
        let object = json.as_object().expect("trace serializes to an object");
        let mut members: Vec<&str> = object.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(
            members,
            ["header", "payload", "steps"],
            "{name}: JSON members"
        );
        assert_eq!(json["header"].is_null(), !decoded, "{name}: JSON header");
        assert_eq!(json["payload"].is_null(), !decoded, "{name}: JSON payload");
        let json_steps: Vec<(String, String)> = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["step"].as_str().unwrap().to_owned(),
                    s["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = case
            .steps
            .iter()
            .map(|(step, outcome)| (wire(step), wire(outcome)))
            .collect();
        assert_eq!(json_steps, expected, "{name}: JSON steps");
    }
}

/// The JSON form of one accepted and one rejected trace, spelled out.
#[test]
fn trace_json_shape() {
    let fixture = Fixture::new();
    let key = fixture.key(ENTRA_KID);

    let mut trace = EvaluationTrace::default();
    let token = key.sign_with_header(&json!({"typ": "JWT"}), &entra_v2_client_credentials());
    let verified = fixture
        .validator
        .validate_traced(&token, now() as f64, &mut trace)
        .unwrap();
    assert_eq!(verified.scopes, [ROLE]);
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(
        json["header"],
        json!({"alg": "RS256", "kid": ENTRA_KID, "typ": "JWT"})
    );
    assert_eq!(json["payload"]["azp"], json!(CLIENT_APP_ID));
    assert_eq!(json["steps"][0]["step"], json!("shape"));
    assert_eq!(json["steps"][0]["outcome"], json!("pass"));
    assert_eq!(json["steps"][2]["step"], json!("server_selection"));
    assert!(
        json["steps"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("entra-v2"),
        "{}",
        json["steps"][2]
    );
    assert_eq!(
        json["steps"][8],
        json!({"step": "lifetime", "outcome": "pass",
               "detail": "lifetime 4500s (exp - iat) is at most 100800s"})
    );
    assert_eq!(
        json["steps"][11],
        json!({"step": "client_id", "outcome": "skip", "detail": "no client ids configured"})
    );
    assert!(
        json["steps"][13]["detail"].as_str().unwrap().contains(ROLE),
        "{}",
        json["steps"][13]
    );

    let mut trace = EvaluationTrace::default();
    let v1 = patch(
        entra_v2_client_credentials(),
        json!({"iss": ENTRA_V1_ISS, "ver": "1.0"}),
    );
    let token = key.sign_with_header(&json!({"typ": "JWT", "x5t": ENTRA_KID}), &v1);
    let rejected = fixture
        .validator
        .validate_traced(&token, now() as f64, &mut trace)
        .unwrap_err();
    assert_eq!(
        rejected.rejection,
        Rejection::UnknownIssuer {
            issuer: Some(ENTRA_V1_ISS.into())
        }
    );
    assert_eq!(rejected.hint, Some(VendorHint::EntraV1TokenOnV2Server));
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(json["header"]["x5t"], json!(ENTRA_KID));
    assert_eq!(json["payload"]["iss"], json!(ENTRA_V1_ISS));
    let last = json["steps"].as_array().unwrap().last().unwrap();
    assert_eq!(last["step"], json!("server_selection"));
    assert_eq!(last["outcome"], json!("fail"));
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Two trusted servers: Entra v2 (issuer, audience, no client ids) and PingFederate without an
/// issuer (selected by `kid`, client id checked).
struct Fixture {
    entra: TestKey,
    pingfederate: TestKey,
    validator: Validator,
}

impl Fixture {
    fn new() -> Self {
        let entra = TestKey::rsa(ENTRA_KID, 2048, "RS256");
        let pingfederate = TestKey::rsa(PF_KID, 2048, "RS256");
        let server = |id: &str, config: ServerConfig, key: &TestKey| TrustedServer {
            id: id.into(),
            enabled: true,
            config,
            keys: Arc::new(JwkSet::parse(jwks(&[key]).to_string().as_bytes()).unwrap()),
            generation: 1,
        };
        let validator = Validator::new(vec![
            server(
                "srv-entra",
                ServerConfig::new("entra-v2", Preset::EntraV2)
                    .with_issuer(ENTRA_V2_ISS)
                    .with_audiences(&[API_APP_ID]),
                &entra,
            ),
            server(
                "srv-pf",
                ServerConfig::new("pingfederate", Preset::Pingfederate)
                    .with_client_ids(&[PF_CLIENT]),
                &pingfederate,
            ),
        ]);
        Self {
            entra,
            pingfederate,
            validator,
        }
    }

    fn key(&self, kid: &str) -> &TestKey {
        if kid == PF_KID {
            &self.pingfederate
        } else {
            &self.entra
        }
    }
}

/// Entra ID v2.0 client-credentials claims (VENDORS.md §2.2).
fn entra_v2_client_credentials() -> Value {
    json!({"aud": API_APP_ID, "iss": ENTRA_V2_ISS,
           "iat": now(), "nbf": now(), "exp": now() + 4500,
           "azp": CLIENT_APP_ID, "azpacr": "1", "idtyp": "app", "oid": CLIENT_SP_OID,
           "roles": [ROLE], "sub": CLIENT_SP_OID, "tid": TENANT,
           "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0"})
}

/// The test clock: one instant for the whole run.
fn now() -> i64 {
    static NOW: OnceLock<i64> = OnceLock::new();
    *NOW.get_or_init(portcullis_testkit::now)
}

/// `base` with the members of `changes` set (a `null` member removes that claim).
fn patch(mut base: Value, changes: Value) -> Value {
    let (Some(base_map), Value::Object(changes)) = (base.as_object_mut(), changes) else {
        panic!("patch takes two JSON objects");
    };
    for (name, value) in changes {
        if value.is_null() {
            base_map.remove(&name);
        } else {
            base_map.insert(name, value);
        }
    }
    base
}

/// The serde name of a step or outcome.
fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

//! Unit tests of `routes.rs`: route parsing and field errors, most-specific matching, policy
//! evaluation on claims, host and case matching, and prefix matching on the canonical target.

use super::*;
use crate::target::canonicalize_target;
use serde_json::json;

fn route(id: &str, json: Value) -> CompiledRoute {
    CompiledRoute::new(id, serde_json::from_value(json).unwrap()).unwrap()
}

#[test]
fn the_design_example_parses_and_most_specific_match_wins() {
    let orders = route(
        "1",
        json!({"name": "orders", "match": {"host": null, "pathPrefix": "/orders", "methods": ["GET", "POST"]},
        "upstream": "http://127.0.0.1:9000", "policy": {"credentials": ["oauth"], "servers": [],
        "scopes": {"allOf": ["orders:read"], "anyOf": []},
        "claims": [{"path": "tid", "op": "equals", "value": "72f988bf-86f1-41af-91ab-2d7cd011db47"}],
        "forwardClaims": {"X-Auth-Subject": "sub"}}}),
    );
    let admin = route(
        "2",
        json!({"name": "orders-admin", "match": {"pathPrefix": "/orders/admin"}}),
    );
    let exact = route(
        "3",
        json!({"name": "health", "match": {"exactPath": "/orders/health"}, "policy": {"credentials": ["none"]}}),
    );
    let table = RouteTable::new(vec![orders, admin, exact]);
    let name = |m: &str, p: &str| {
        let target = canonicalize_target(p.as_bytes()).unwrap();
        table
            .route(m, None, &target)
            .map(|r| r.definition.name.clone())
    };
    assert_eq!(name("GET", "/orders/1").as_deref(), Some("orders"));
    assert_eq!(name("GET", "/orders").as_deref(), Some("orders"));
    assert_eq!(
        name("GET", "/orders/admin/x").as_deref(),
        Some("orders-admin")
    );
    assert_eq!(name("GET", "/orders/health").as_deref(), Some("health"));
    assert_eq!(
        name("GET", "/ordersx"),
        None,
        "prefixes match on segment boundaries"
    );
    assert_eq!(name("DELETE", "/orders/1"), None, "methods restrict");
    assert_eq!(name("GET", "/other"), None, "no match = deny");
}

#[test]
fn policy_evaluation() {
    let r = route(
        "1",
        json!({"name": "r", "match": {"pathPrefix": "/"}, "policy": {"servers": ["okta"],
        "scopes": {"allOf": ["a"], "anyOf": ["b", "c"]},
        "claims": [{"path": "tid", "op": "equals", "value": "t1"}, {"path": "groups", "op": "contains", "value": "ops"},
                   {"path": "realm.roles", "op": "one_of", "value": [["x"], "admin"]}, {"path": "email", "op": "matches", "value": "[a-z]+@example\\.com"},
                   {"path": "amr", "op": "exists"}]}}),
    );
    let claims = json!({"tid": "t1", "groups": ["dev", "ops"], "realm": {"roles": "admin"}, "email": "ann@example.com", "amr": []});
    let claims = claims.as_object().unwrap();
    let scopes = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(r.authorize("okta", &scopes(&["a", "c"]), claims), Ok(()));
    assert_eq!(
        r.authorize("entra", &scopes(&["a", "c"]), claims),
        Err(RouteDenial::ServerNotAllowed("entra".into()))
    );
    assert_eq!(
        r.authorize("okta", &scopes(&["c"]), claims),
        Err(RouteDenial::MissingScopes("a".into()))
    );
    assert_eq!(
        r.authorize("okta", &scopes(&["a"]), claims),
        Err(RouteDenial::MissingScopes("b c".into()))
    );
    let mut bad = claims.clone();
    bad.insert("email".into(), json!("ann@example.com.evil"));
    assert_eq!(
        r.authorize("okta", &scopes(&["a", "b"]), &bad),
        Err(RouteDenial::ClaimRuleFailed {
            index: 3,
            path: "email".into()
        })
    );
    bad.insert("tid".into(), json!(1));
    assert!(matches!(
        r.authorize("okta", &scopes(&["a", "b"]), &bad),
        Err(RouteDenial::ClaimRuleFailed { index: 0, .. })
    ));
}

#[test]
fn field_errors() {
    let bad: RouteDefinition = serde_json::from_value(json!({"name": "bad name", "match": {"pathPrefix": "orders", "methods": ["get"]},
        "upstream": "ftp://x", "policy": {"credentials": ["none", "oauth"], "claims": [{"path": "a", "op": "matches", "value": "("}],
        "forwardClaims": {"X Bad": "sub"}}})).unwrap();
    let fields: Vec<String> = bad.field_errors().into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "name",
            "match",
            "match.methods",
            "upstream",
            "policy.credentials",
            "policy.claims[0]",
            "policy.forwardClaims"
        ]
    );
    let typo: Result<RouteDefinition, _> =
        serde_json::from_value(json!({"name": "x", "match": {"path_prefix": "/"}}));
    assert!(typo.is_err());
}

/// Builds a table from `(name, match)` rows.
fn table(rows: &[(&str, Value)]) -> RouteTable {
    RouteTable::new(
        rows.iter()
            .enumerate()
            .map(|(i, (name, matcher))| {
                route(&i.to_string(), json!({"name": name, "match": matcher}))
            })
            .collect(),
    )
}

/// `(host header, target, expected route)` through one table.
fn check(table: &RouteTable, rows: &[(Option<&str>, &str, Option<&str>)]) {
    for (host, target, want) in rows {
        let host = host.map(|h| canonical_host(h).unwrap());
        let parsed = canonicalize_target(target.as_bytes()).unwrap();
        let got = table
            .route("GET", host.as_ref(), &parsed)
            .map(|r| r.definition.name.as_str());
        assert_eq!(got, *want, "host {host:?}, target {target}");
    }
}

#[test]
fn host_matching_is_canonical() {
    let t = table(&[
        ("api", json!({"host": "api.example.com", "pathPrefix": "/"})),
        ("v6", json!({"host": "[::1]", "pathPrefix": "/"})),
        (
            "upper",
            json!({"host": "Other.Example.COM.", "pathPrefix": "/"}),
        ),
    ]);
    check(
        &t,
        &[
            (Some("api.example.com"), "/x", Some("api")),
            (Some("API.Example.com"), "/x", Some("api")),
            (Some("api.example.com:8443"), "/x", Some("api")),
            (Some("api.example.com."), "/x", Some("api")),
            (Some("API.Example.com.:8443"), "/x", Some("api")),
            (Some("api.example.co"), "/x", None),
            (Some("xapi.example.com"), "/x", None),
            (Some("api.example.com.evil"), "/x", None),
            (None, "/x", None),
            (Some("[::1]"), "/x", Some("v6")),
            (Some("[0:0:0:0:0:0:0:1]:8080"), "/x", Some("v6")),
            (Some("[::2]"), "/x", None),
            (Some("other.example.com"), "/x", Some("upper")),
        ],
    );
}

#[test]
fn case_insensitive_routes_fold_ascii_case_only_when_asked() {
    let t = table(&[
        ("public", json!({"pathPrefix": "/"})),
        ("orders", json!({"pathPrefix": "/orders"})),
        (
            "admin",
            json!({"pathPrefix": "/admin", "caseInsensitive": true}),
        ),
        (
            "exact",
            json!({"exactPath": "/Health", "caseInsensitive": true}),
        ),
    ]);
    check(
        &t,
        &[
            (None, "/orders/1", Some("orders")),
            (None, "/Orders/1", Some("public")),
            (None, "/admin", Some("admin")),
            (None, "/ADMIN/users", Some("admin")),
            (None, "/aDmIn;x/users", Some("admin")),
            (None, "/%41dmin/users", Some("admin")),
            (None, "/adminx", Some("public")),
            (None, "/health", Some("exact")),
            (None, "/HEALTH", Some("exact")),
            (None, "/health/x", Some("public")),
        ],
    );
}

#[test]
fn parameters_and_escapes_never_hide_a_prefix() {
    let t = table(&[
        ("public", json!({"pathPrefix": "/"})),
        ("orders", json!({"pathPrefix": "/orders"})),
        ("bang", json!({"pathPrefix": "/a!b"})),
        ("space", json!({"pathPrefix": "/my%20docs/"})),
        ("exact", json!({"exactPath": "/orders/health"})),
    ]);
    check(
        &t,
        &[
            (None, "/orders;x/1", Some("orders")),
            (None, "/orders;jsessionid=1", Some("orders")),
            (None, "/orders%3Bx/1", Some("orders")),
            (None, "/orders%3bx/1", Some("orders")),
            (None, "/ord%65rs/1", Some("orders")),
            (None, "/orders/health;x", Some("exact")),
            (None, "/orders/health%3B", Some("exact")),
            (None, "/a%21b/x", Some("bang")),
            (None, "/a!b", Some("bang")),
            (None, "/my%20docs", Some("space")),
            (None, "/my%20docs/x", Some("space")),
            (None, "/my%20docsx", Some("public")),
            (None, "/orders?x=;/../admin", Some("orders")),
            (None, "/docs?/orders", Some("public")),
        ],
    );
}

#[test]
fn prefixes_match_on_segment_boundaries() {
    let t = table(&[
        ("public", json!({"pathPrefix": "/"})),
        ("orders", json!({"pathPrefix": "/orders/"})),
        ("deep", json!({"pathPrefix": "/orders/admin"})),
    ]);
    check(
        &t,
        &[
            (None, "/orders", Some("orders")),
            (None, "/orders/", Some("orders")),
            (None, "/orders/1", Some("orders")),
            (None, "/ordersx", Some("public")),
            (None, "/orders-x/1", Some("public")),
            (None, "/orders/admin", Some("deep")),
            (None, "/orders/admin/", Some("deep")),
            (None, "/orders/administrator", Some("orders")),
            (None, "/", Some("public")),
            (None, "http://h/orders/admin/x", Some("deep")),
        ],
    );
}

#[test]
fn route_paths_must_be_canonical() {
    let message = |matcher: Value| {
        let d: RouteDefinition =
            serde_json::from_value(json!({"name": "r", "match": matcher})).unwrap();
        d.field_errors()
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert_eq!(message(json!({"pathPrefix": "/orders"})), "");
    assert_eq!(
        message(json!({"pathPrefix": "/%7eorders"})),
        "match: use the canonical form: /~orders"
    );
    assert_eq!(
        message(json!({"exactPath": "/a%3bb"})),
        "match: use the canonical form: /a%3Bb"
    );
    assert!(message(json!({"pathPrefix": "/a/../b"})).contains("dot segment"));
    assert!(message(json!({"pathPrefix": "//a"})).contains("empty segment"));
    assert!(message(json!({"pathPrefix": "/a?b"})).contains("query"));
    assert!(message(json!({"pathPrefix": "/a;b"})).contains("cannot hold ';'"));
    assert!(message(json!({"pathPrefix": "/a%3Bb"})).contains("cannot hold ';'"));
    let host = |h: &str| message(json!({"host": h, "pathPrefix": "/"}));
    assert_eq!(host("API.example.com:8443"), "");
    assert!(host("").starts_with("match.host"));
    assert!(host("a b").starts_with("match.host"));
    assert!(host("user@h").starts_with("match.host"));
    assert!(host("h:99999").starts_with("match.host"));
    assert!(host("[::1").starts_with("match.host"));
    // A stored route written before the canonical rules still compiles, canonically.
    let old: RouteDefinition =
        serde_json::from_value(json!({"name": "r", "match": {"pathPrefix": "/%7eorders"}}))
            .unwrap();
    let t = RouteTable::new(vec![CompiledRoute::new("1", old).unwrap()]);
    check(&t, &[(None, "/~orders/1", Some("r"))]);
}

//! The indexed route lookup against the linear scan it replaced (`RouteTable::route_linear`):
//! on generated tables (exact and prefix paths, `caseInsensitive`, host-bound, method-bound,
//! the catch-all `/`) and generated targets (case changes, `;` parameters, escapes), both name
//! the same route. Most generated tables hold more than `SCAN_UP_TO` routes, so the index answers.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::target::{canonical_host, canonicalize_target};

const SEGMENTS: [&str; 8] = ["a", "A", "b", "ab", "Ab", "orders", "%41", "x;p"];

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&SEGMENTS[..]), 0..4)
        .prop_map(|segments| format!("/{}", segments.join("/")))
}

fn route_strategy() -> impl Strategy<Value = (bool, String, bool, Option<&'static str>, bool)> {
    (
        any::<bool>(),
        path(),
        any::<bool>(),
        prop::option::of(prop::sample::select(&["a.example", "b.example"][..])),
        any::<bool>(),
    )
}

fn compile(
    i: usize,
    (exact, path, ci, host, get_only): (bool, String, bool, Option<&str>, bool),
) -> Option<CompiledRoute> {
    let mut matcher = json!({ "caseInsensitive": ci });
    matcher[if exact { "exactPath" } else { "pathPrefix" }] = json!(path.replace(";p", ""));
    if let Some(host) = host {
        matcher["host"] = json!(host);
    }
    if get_only {
        matcher["methods"] = json!(["GET"]);
    }
    let definition =
        serde_json::from_value(json!({"name": format!("r{i}"), "match": matcher})).ok()?;
    CompiledRoute::new(&format!("r{i}"), definition).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_index_finds_what_the_linear_scan_finds(
        routes in prop::collection::vec(route_strategy(), 0..40),
        targets in prop::collection::vec((path(), prop::option::of(prop::sample::select(&["a.example", "b.example"][..])), any::<bool>()), 1..16),
    ) {
        let table = RouteTable::new(
            routes.into_iter().enumerate().filter_map(|(i, r)| compile(i, r)).collect(),
        );
        for (path, host, get) in targets {
            let Ok(target) = canonicalize_target(path.as_bytes()) else { continue };
            let host = host.map(|h| canonical_host(h).unwrap());
            let method = if get { "GET" } else { "POST" };
            let indexed = table.route(method, host.as_ref(), &target).map(|r| &r.id);
            let linear = table.route_linear(method, host.as_ref(), &target).map(|r| &r.id);
            prop_assert_eq!(indexed, linear, "{} {:?}", path, host);
        }
    }
}

#[test]
fn the_catch_all_and_folded_segments_are_found() {
    let table = RouteTable::new(
        [
            (false, "/".to_owned(), false, None, false),
            (false, "/Orders".to_owned(), true, None, false),
            (true, "/orders/x".to_owned(), false, None, false),
        ]
        .into_iter()
        // Fillers, so that the table is past SCAN_UP_TO and the index answers.
        .chain((0..SCAN_UP_TO).map(|i| (false, format!("/filler{i}"), false, None, false)))
        .enumerate()
        .filter_map(|(i, r)| compile(i, r))
        .collect(),
    );
    assert!(table.len() > SCAN_UP_TO);
    let name = |p: &str| {
        let target = canonicalize_target(p.as_bytes()).unwrap();
        table.route("GET", None, &target).map(|r| r.id.clone())
    };
    assert_eq!(name("/ORDERS/1").as_deref(), Some("r1"));
    assert_eq!(name("/orders/x").as_deref(), Some("r2"));
    assert_eq!(name("/other").as_deref(), Some("r0"));
    assert_eq!(name("/").as_deref(), Some("r0"));
}

#[test]
fn routes_deeper_under_one_segment_are_not_scanned_but_still_found() {
    // The scale benchmark's table: 500 POST-only `/orders/NNNN` prefixes, all more specific than
    // `/orders` and all under its first segment.
    let mut routes: Vec<_> = (0..500)
        .map(|i| (false, format!("/orders/{i:04}"), false, None, false))
        .collect();
    routes.push((false, "/orders".to_owned(), false, None, true));
    routes.push((true, "/orders/0042/x".to_owned(), false, None, false));
    let table = RouteTable::new(
        routes
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| compile(i, r))
            .collect(),
    );
    let name = |method: &str, p: &str| {
        let target = canonicalize_target(p.as_bytes()).unwrap();
        let indexed = table.route(method, None, &target).map(|r| r.id.clone());
        assert_eq!(
            indexed,
            table
                .route_linear(method, None, &target)
                .map(|r| r.id.clone())
        );
        indexed
    };
    assert_eq!(name("GET", "/orders/42").as_deref(), Some("r500"));
    assert_eq!(name("POST", "/orders/0042/y").as_deref(), Some("r42"));
    assert_eq!(name("POST", "/orders/0042/x").as_deref(), Some("r501"));
    assert_eq!(name("POST", "/orders/00420"), None);
    assert_eq!(name("GET", "/orders/0042").as_deref(), Some("r42"));
    // The index tries the routes on the request's way down only.
    let orders = table.by_path.children.get(&b"orders"[..]).unwrap();
    assert_eq!(orders.routes.len(), 1);
    assert_eq!(orders.children.len(), 500);
}

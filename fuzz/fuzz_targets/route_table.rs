//! Fuzzes route matching: a table built from fuzzed route paths and hosts (plus a public `/`),
//! matched against fuzzed targets and hosts. Never panics; the chosen route really covers the
//! request under a lenient upstream's reading (soundness); and whenever some host-less prefix
//! route covers it, a route at least as specific is chosen, never the public catch-all
//! (the protected-prefix property).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis_policy::routes::{CompiledRoute, RouteTable};
use portcullis_policy::target::{canonical_host, canonicalize_target};
use portcullis_testkit::lenient::{falls_under, lenient_reading};
use serde_json::json;

#[derive(Debug, Arbitrary)]
struct Route {
    path: String,
    host: Option<String>,
    exact: bool,
    case_insensitive: bool,
}

#[derive(Debug, Arbitrary)]
struct Input {
    routes: Vec<Route>,
    target: Vec<u8>,
    host: Option<String>,
}

/// What the matcher compares, as a lenient reader sees it: the lenient reading, without a
/// trailing `/` for prefixes, ASCII-lower-cased when the route folds case.
fn seen(path: &str, fold: bool) -> String {
    let reading = lenient_reading(path);
    if fold {
        reading.to_ascii_lowercase()
    } else {
        reading
    }
}

fuzz_target!(|input: Input| {
    let mut routes = vec![
        CompiledRoute::new(
            "public",
            serde_json::from_value(json!({"name": "public", "match": {"pathPrefix": "/"}}))
                .unwrap(),
        )
        .unwrap(),
    ];
    for (i, r) in input.routes.iter().take(8).enumerate() {
        let path = if r.exact { "exactPath" } else { "pathPrefix" };
        let definition = json!({"name": format!("r{i}"),
            "match": {path: r.path, "host": r.host, "caseInsensitive": r.case_insensitive}});
        let Ok(definition) = serde_json::from_value(definition) else {
            continue;
        };
        // Invalid definitions are refused with field errors, never half-compiled.
        if let Ok(route) = CompiledRoute::new(&format!("r{i}"), definition) {
            routes.push(route);
        }
    }
    let table = RouteTable::new(routes.clone());
    let Ok(target) = canonicalize_target(&input.target) else {
        return;
    };
    let host = input.host.as_deref().and_then(|h| canonical_host(h).ok());
    let chosen = table
        .route("GET", host.as_ref(), &target)
        .expect("the public / route matches every host-less request");
    let covers = |route: &CompiledRoute| {
        let m = &route.definition.matcher;
        if let Some(want) = &m.host {
            let want = canonical_host(want).unwrap();
            if host.as_ref() != Some(&want) {
                return false;
            }
        }
        let fold = m.case_insensitive;
        let request = seen(target.path(), fold);
        match (&m.exact_path, &m.path_prefix) {
            (Some(exact), _) => request == seen(exact, fold),
            (None, Some(prefix)) => falls_under(&request, &seen(prefix, fold)),
            (None, None) => false,
        }
    };
    assert!(
        covers(chosen),
        "chosen {:?} does not cover {}",
        chosen.definition,
        target.path()
    );
    let length = |route: &CompiledRoute| {
        let m = &route.definition.matcher;
        let path = m.path_prefix.as_deref().unwrap_or_default();
        lenient_reading(path).trim_end_matches('/').len()
    };
    for route in &routes {
        let m = &route.definition.matcher;
        if m.exact_path.is_none() && covers(route) && chosen.definition.matcher.exact_path.is_none()
        {
            assert!(
                length(chosen) >= length(route),
                "{} chosen over the more specific {} for {}",
                chosen.definition.name,
                route.definition.name,
                target.path()
            );
        }
    }
});

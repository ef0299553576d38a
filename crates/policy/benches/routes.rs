//! Route lookup cost against the table size: the route in use alone, and beside 2,000 others
//! (issue 12: cache-hit throughput fell to 0.56x with a linear scan), and beside 500 more specific
//! routes under the same first segment (`/orders/NNNN`, POST only: the scale benchmark's table).
//! With the segment index all three should cost about the same. (The first-segment index it
//! replaced also measured ≈ 80 ns on the third table: its method-restricted routes are cheap to
//! skip. Routes under one segment that differ by path cost that index ≈ 2.3 µs per lookup at 500.)
//!
//! ```sh
//! cargo bench -p portcullis-policy --bench routes
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_policy::routes::{CompiledRoute, RouteTable};
use portcullis_policy::target::canonicalize_target;
use serde_json::json;

fn route(name: &str, prefix: &str) -> CompiledRoute {
    route_for(name, prefix, "GET")
}

fn route_for(name: &str, prefix: &str, method: &str) -> CompiledRoute {
    let definition = json!({"name": name, "match": {"pathPrefix": prefix, "methods": [method]},
                            "policy": {"scopes": {"allOf": ["orders:read"]}}});
    CompiledRoute::new(name, serde_json::from_value(definition).unwrap()).unwrap()
}

fn table(others: usize, same_segment: usize) -> RouteTable {
    let mut routes = vec![route("orders", "/orders")];
    routes.extend(
        (0..others).map(|i| route(&format!("service-{i}"), &format!("/service-{i}/v1/items"))),
    );
    routes.extend((0..same_segment).map(|i| {
        route_for(
            &format!("orders-{i:04}"),
            &format!("/orders/{i:04}"),
            "POST",
        )
    }));
    RouteTable::new(routes)
}

fn lookup(c: &mut Criterion) {
    let target = canonicalize_target(b"/orders/12345/lines?expand=true").unwrap();
    for (others, same_segment) in [(0, 0), (2_000, 0), (1_500, 500)] {
        let table = table(others, same_segment);
        assert_eq!(table.route("GET", None, &target).unwrap().id, "orders");
        let name = if same_segment == 0 {
            format!("routes/lookup/{}", others + 1)
        } else {
            format!(
                "routes/lookup/{}-{same_segment}-under-orders",
                others + same_segment + 1
            )
        };
        c.bench_function(&name, |b| {
            b.iter(|| {
                black_box(&table)
                    .route(black_box("GET"), None, black_box(&target))
                    .is_some()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3)).sample_size(50);
    targets = lookup
}
criterion_main!(benches);

//! Route lookup cost against the table size: the route in use alone, and beside 2,000 others
//! (issue 12: cache-hit throughput fell to 0.56x with a linear scan). With the index the two
//! should cost about the same.
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
    let definition = json!({"name": name, "match": {"pathPrefix": prefix, "methods": ["GET"]},
                            "policy": {"scopes": {"allOf": ["orders:read"]}}});
    CompiledRoute::new(name, serde_json::from_value(definition).unwrap()).unwrap()
}

fn table(others: usize) -> RouteTable {
    let mut routes = vec![route("orders", "/orders")];
    routes.extend(
        (0..others).map(|i| route(&format!("service-{i}"), &format!("/service-{i}/v1/items"))),
    );
    RouteTable::new(routes)
}

fn lookup(c: &mut Criterion) {
    let target = canonicalize_target(b"/orders/12345/lines?expand=true").unwrap();
    for others in [0, 2_000] {
        let table = table(others);
        assert_eq!(table.route("GET", None, &target).unwrap().id, "orders");
        c.bench_function(&format!("routes/lookup/{}", others + 1), |b| {
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

//! The bare baseline: an axum hello-world, nothing else (no middleware, no logging, no state).
//! Every path answers `200 hello`, so it also serves as the reverse-proxy case's upstream.
//! Runtime as in Portcullis: tokio's multi-thread scheduler (one worker per core it may use).
//!
//!     hello 127.0.0.1:PORT            # answers at once
//!     hello 127.0.0.1:PORT 1000       # busy for 1,000 µs of CPU per request first
//!
//! The second form is the `proxied-slow` case's upstream: an upstream whose own work dominates,
//! where the reverse proxy's overhead is judged. The work is a busy loop on the worker, not a
//! sleep, because the proxy's target is about cost on the core: a sleeping upstream would turn
//! the case into a latency bound (connections / delay) that says nothing about that cost.

use std::time::{Duration, Instant};

use axum::Router;

/// Spins on the current thread for `work` (a stand-in for an upstream's own computation).
fn busy(work: Duration) {
    let started = Instant::now();
    let mut x = 0u64;
    while started.elapsed() < work {
        for i in 0..64u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    std::hint::black_box(x);
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let work_us: u64 = match std::env::args().nth(2).map(|s| s.parse()) {
        None => 0,
        Some(Ok(us)) => us,
        Some(Err(e)) => {
            eprintln!("hello: the work time must be microseconds: {e}");
            std::process::exit(2)
        }
    };
    let app = if work_us == 0 {
        Router::new().fallback(|| async { "hello" })
    } else {
        let work = Duration::from_micros(work_us);
        Router::new().fallback(move || async move {
            busy(work);
            "hello"
        })
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("hello: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("hello: {e}");
        std::process::exit(1);
    }
}

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
//!
//! The loop runs a fixed number of rounds, calibrated once at start, and never watches the
//! clock while serving: Portcullis shares the core, and a loop that stopped after 1 ms of wall
//! time would let the proxy's CPU time hide inside the upstream's millisecond (the upstream
//! would simply do less work per request whenever the proxy ran), flattering the proxied case.

use std::time::{Duration, Instant};

use axum::Router;

/// One round of stand-in computation.
fn round(x: u64) -> u64 {
    (0..64u64).fold(x, |x, i| {
        std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i))
    })
}

/// `rounds` rounds of computation (an upstream's own work per request).
fn busy(rounds: u64) {
    let x = (0..rounds).fold(0, |x, _| round(x));
    std::hint::black_box(x);
}

/// How many rounds take `work` on this core: the fastest of ten 20 ms samples, since a sample
/// the scheduler interrupted (a neighbour's build) undercounts and would shorten the work.
fn calibrate(work: Duration) -> u64 {
    let sample = Duration::from_millis(20);
    let best = (0..10)
        .map(|_| {
            let started = Instant::now();
            let mut rounds = 0u64;
            let mut x = 0;
            while started.elapsed() < sample {
                for _ in 0..16 {
                    x = round(x);
                }
                rounds += 16;
            }
            std::hint::black_box(x);
            rounds as f64 / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max);
    (best * work.as_secs_f64()).round() as u64
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
        let rounds = calibrate(Duration::from_micros(work_us));
        eprintln!("hello: {rounds} rounds of work per request ≈ {work_us} µs");
        Router::new().fallback(move || async move {
            busy(rounds);
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

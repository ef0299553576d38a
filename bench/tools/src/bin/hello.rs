//! The bare baseline: an axum hello-world, nothing else (no middleware, no logging, no state).
//! Every path answers `200 hello`, so it also serves as the reverse-proxy case's upstream.
//! Runtime as in Portcullis: tokio's multi-thread scheduler (one worker per core it may use).
//!
//!     hello 127.0.0.1:PORT

use axum::Router;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let app = Router::new().fallback(|| async { "hello" });
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap_or_else(|e| {
        eprintln!("hello: cannot listen on {addr}: {e}");
        std::process::exit(1)
    });
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("hello: {e}");
        std::process::exit(1);
    }
}

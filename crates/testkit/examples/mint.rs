//! Writes a fresh RSA-2048 key's JWKS and an RS256 access token for it, for benchmarks and
//! manual tries: `cargo run -p portcullis-testkit --example mint -- DIR ISSUER AUDIENCE SCOPE`.
//! Creates `DIR/jwks.json` and `DIR/token.txt` (valid for one hour).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_testkit::{TestKey, jwks, now};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, issuer, audience, scope] = args.as_slice() else {
        eprintln!("usage: mint DIR ISSUER AUDIENCE SCOPE");
        std::process::exit(2);
    };
    let key = TestKey::rsa("bench-rsa-1", 2048, "RS256");
    let token = key.sign(&json!({
        "iss": issuer, "aud": audience, "sub": "bench-client", "client_id": "bench",
        "scope": scope, "jti": format!("bench-{}", now()), "iat": now(), "exp": now() + 3600,
    }));
    std::fs::create_dir_all(dir).expect("create the output folder");
    std::fs::write(format!("{dir}/jwks.json"), jwks(&[&key]).to_string()).expect("write jwks");
    std::fs::write(format!("{dir}/token.txt"), token).expect("write token");
}

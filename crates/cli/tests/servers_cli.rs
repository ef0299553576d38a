//! `portcullis servers ...` against a real `portcullis serve` on 127.0.0.1 and a real JWKS server:
//! add, list, get, validate, refresh, delete; refusals exit 1 with the API's field errors; a
//! refused sign-in exits 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use portcullis_testkit::{TestKey, jwks};

const PASSWORD: &str = "correct-horse-battery-staple";

fn serve_jwks(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

fn start_server(data: &Path) -> (std::process::Child, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
        .env("PORTCULLIS_RATE_LIMITS", "false")
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_DATA_DIR", data)
        .env("PORTCULLIS_ADMIN_PASSWORD", PASSWORD)
        .env("PORTCULLIS_ALLOW_INSECURE_JWKS", "true")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env("PORTCULLIS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, base)
}

fn servers(base: &str, password: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["servers", "--url", base, "--login", "admin"])
        .args(args)
        .env("PORTCULLIS_API_PASSWORD", password)
        .env_remove("PORTCULLIS_API_TOKEN")
        .output()
        .unwrap()
}

fn out(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn servers_are_managed_through_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::ec("cli-1", "ES256");
    let jwks_url = serve_jwks(jwks(&[&key]).to_string());
    let (mut server, base) = start_server(&dir.path().join("data"));

    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        format!(r#"{{"name": "okta-ci", "jwksUri": "{jwks_url}", "issuer": "https://login.example.com", "audiences": ["api"]}}"#),
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"name": "has space", "jwksUri": "ftp://x"}"#).unwrap();

    let added = servers(&base, PASSWORD, &["add", good.to_str().unwrap()]);
    assert!(added.status.success(), "{}", out(&added));
    assert!(
        out(&added).contains("\"name\": \"okta-ci\""),
        "{}",
        out(&added)
    );

    let refused = servers(&base, PASSWORD, &["add", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", out(&refused));
    assert!(out(&refused).contains("name:"), "{}", out(&refused));
    assert!(out(&refused).contains("jwksUri:"), "{}", out(&refused));

    let validated = servers(&base, PASSWORD, &["validate", good.to_str().unwrap()]);
    assert!(validated.status.success(), "{}", out(&validated));
    assert!(
        out(&validated).contains("cli-1"),
        "usable key listed: {}",
        out(&validated)
    );

    let listed = servers(&base, PASSWORD, &["list"]);
    assert!(listed.status.success(), "{}", out(&listed));
    assert!(out(&listed).contains("okta-ci"));
    assert!(
        !out(&listed).contains("has space"),
        "the refused server was not saved"
    );

    for command in ["get", "refresh"] {
        let result = servers(&base, PASSWORD, &[command, "okta-ci"]);
        assert!(result.status.success(), "{command}: {}", out(&result));
    }
    let deleted = servers(&base, PASSWORD, &["delete", "okta-ci"]);
    assert!(deleted.status.success(), "{}", out(&deleted));
    let gone = servers(&base, PASSWORD, &["get", "okta-ci"]);
    assert_eq!(gone.status.code(), Some(1), "{}", out(&gone));

    let wrong = servers(&base, "not-the-password", &["list"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", out(&wrong));
    assert!(out(&wrong).contains("sign-in refused"), "{}", out(&wrong));

    server.kill().unwrap();
    server.wait().unwrap();
}

//! `portcullis admin create` (DESIGN.md §6) with the real binary: the admin it writes can sign in
//! to a server started on the same data dir; bad input is refused with a reason and exit 1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::json;

fn admin_create(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["admin", "create"])
        .args(args)
        .env("PORTCULLIS_DATA_DIR", data_dir)
        .env_remove("PORTCULLIS_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Starts `serve` on `data_dir` (no bootstrap password: the store already has admins) and
/// returns the child and its base URL.
fn serve(data_dir: &Path) -> (std::process::Child, String) {
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
        .env("PORTCULLIS_DATA_DIR", data_dir)
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_ADMIN_PASSWORD")
        .env("PORTCULLIS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Client::new().get(format!("{base}/healthz")).send().is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, base)
}

fn login(base: &str, login: &str, password: &str) -> StatusCode {
    Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .unwrap()
        .status()
}

#[test]
fn created_admins_can_sign_in_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    let out = admin_create(
        data,
        &[
            "--login",
            "ops.recovery",
            "--name",
            "Ops",
            "--password-stdin",
        ],
        Some("a-long-enough-password\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("created Super Admin `ops.recovery`"));
    assert!(
        !text(&out).contains("a-long-enough-password"),
        "a given password is never echoed"
    );

    let out = admin_create(data, &["--login", "generated"], None);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("the generated password is printed once")
        .to_owned();

    // Refusals, each with its reason and exit code 1; nothing is written.
    for (args, stdin, reason) in [
        (
            vec!["--login", "ops.recovery", "--password-stdin"],
            Some("another-long-password"),
            "already in use",
        ),
        (
            vec!["--login", "short", "--password-stdin"],
            Some("too-short"),
            "at least 12 characters",
        ),
        (vec!["--login", "has space"], None, "--login"),
    ] {
        let out = admin_create(data, &args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(reason), "{args:?}: {}", text(&out));
    }

    let (mut server, base) = serve(data);
    assert_eq!(
        login(&base, "ops.recovery", "a-long-enough-password"),
        StatusCode::OK
    );
    assert_eq!(login(&base, "generated", &generated), StatusCode::OK);
    assert_eq!(
        login(&base, "ops.recovery", "wrong-password-123"),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&base, "short", "too-short"),
        StatusCode::UNAUTHORIZED,
        "a refused admin was not written"
    );
    // No bootstrap admin either: the store already had admins.
    assert_eq!(
        login(&base, "admin", "anything-at-all"),
        StatusCode::UNAUTHORIZED
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

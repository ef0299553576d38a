//! `portcullis token verify|inspect` as a user runs them: the real binary, a JWKS file or a JWKS
//! served by a real HTTP server on 127.0.0.1, and the documented exit codes 0 / 1 / 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread;

use portcullis_testkit::{TestKey, jwks, now};
use serde_json::{Value, json};

const ISSUER: &str = "https://acme.okta.com/oauth2/default";

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .expect("run portcullis")
}

fn portcullis_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn okta_claims() -> Value {
    json!({"ver": 1, "jti": "AT.x", "iss": ISSUER, "aud": "api://portcullis", "iat": now(), "exp": now() + 3600,
           "cid": "0oa8acv8gbBPRCZ7I5d7", "scp": ["orders:read"], "sub": "0oa8acv8gbBPRCZ7I5d7"})
}

struct Setup {
    _dir: tempfile::TempDir,
    jwks_path: String,
    key: TestKey,
}

fn setup() -> Setup {
    let key = TestKey::rsa("okta-key-1", 2048, "RS256");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[&key]).to_string()).unwrap();
    Setup {
        jwks_path: path.to_string_lossy().into_owned(),
        _dir: dir,
        key,
    }
}

#[test]
fn verify_accepts_a_good_token_with_exit_0_and_prints_claims() {
    let s = setup();
    let token = s.key.sign(&okta_claims());
    let out = portcullis(&[
        "token",
        "verify",
        "--jwks",
        &s.jwks_path,
        "--issuer",
        ISSUER,
        "--audience",
        "api://portcullis",
        "--client-id",
        "0oa8acv8gbBPRCZ7I5d7",
        "--preset",
        "okta",
        &token,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.starts_with("accepted: RS256 signature by key okta-key-1 verified"),
        "{text}"
    );
    assert!(text.contains("client id: 0oa8acv8gbBPRCZ7I5d7"), "{text}");
    assert!(text.contains("scopes: orders:read"), "{text}");
}

#[test]
fn verify_rejects_with_exit_1_and_the_precise_reason() {
    let s = setup();
    let cases: &[(&[&str], Value, &str)] = &[
        (
            &["--audience", "api://other"],
            okta_claims(),
            "rejected [aud_mismatch]",
        ),
        (
            &[],
            json!({"iss": ISSUER, "exp": now() - 3600}),
            "rejected [expired]",
        ),
        (
            &["--issuer", "https://acme.okta.com/oauth2/other"],
            okta_claims(),
            "rejected [issuer_unknown]",
        ),
        (
            &["--client-id", "someone-else"],
            okta_claims(),
            "rejected [client_id_mismatch]",
        ),
        (
            &["--alg", "ES256"],
            okta_claims(),
            "rejected [alg_not_allowed]",
        ),
    ];
    for (flags, claims, expected) in cases {
        let token = s.key.sign(claims);
        let mut args = vec!["token", "verify", "--jwks", &s.jwks_path];
        args.extend_from_slice(flags);
        args.push(&token);
        let out = portcullis(&args);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {}", stdout(&out));
        assert!(
            stdout(&out).starts_with(expected),
            "{flags:?}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn verify_prints_vendor_hints() {
    let s = setup();
    let token = s
        .key
        .sign_with_header(&json!({"nonce": "graph"}), &okta_claims());
    let out = portcullis(&["token", "verify", "--jwks", &s.jwks_path, &token]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("hint: this Entra token was issued for Microsoft Graph"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_json_prints_the_trace() {
    let s = setup();
    let claims = okta_claims();
    let token = s.key.sign(&claims);
    let out = portcullis(&[
        "token",
        "verify",
        "--jwks",
        &s.jwks_path,
        "--issuer",
        ISSUER,
        "--json",
        &token,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "accepted");
    assert_eq!(report["token"]["clientId"], "0oa8acv8gbBPRCZ7I5d7");
    assert_eq!(report["token"]["serverName"], "cli");
    assert_eq!(report["token"]["claims"], claims);
    let steps: Vec<&str> = report["trace"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps[..5],
        [
            "shape",
            "algorithm",
            "server_selection",
            "key_selection",
            "signature"
        ]
    );
    assert_eq!(report["trace"]["header"]["kid"], "okta-key-1");

    let bad = s.key.sign(&json!({"iss": ISSUER, "exp": "tomorrow"}));
    let out = portcullis(&["token", "verify", "--jwks", &s.jwks_path, "--json", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "rejected");
    assert_eq!(report["reason"]["code"], "claim_malformed");
    let last = report["trace"]["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["outcome"], "fail");
}

#[test]
fn verify_reads_the_token_from_stdin() {
    let s = setup();
    let token = s.key.sign(&okta_claims());
    let out = portcullis_stdin(
        &["token", "verify", "--jwks", &s.jwks_path, "-"],
        &format!("Bearer {token}\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_and_input_file_errors_exit_2() {
    let s = setup();
    let token = s.key.sign(&okta_claims());
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let only_enc = dir.path().join("enc.json");
    std::fs::write(
        &only_enc,
        json!({"keys": [s.key.jwk_with("use", json!("enc"))]}).to_string(),
    )
    .unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    let only_enc = only_enc.to_string_lossy().into_owned();
    let cases: &[&[&str]] = &[
        &["token", "verify", &token], // no key source
        &[
            "token",
            "verify",
            "--jwks",
            "/nonexistent/jwks.json",
            &token,
        ], // unreadable file
        &["token", "verify", "--jwks", &garbage, &token], // not JSON
        &["token", "verify", "--jwks", &only_enc, &token], // no usable key
        &[
            "token",
            "verify",
            "--jwks",
            &s.jwks_path,
            "--alg",
            "HS256",
            &token,
        ], // HMAC never allowed
        &[
            "token",
            "verify",
            "--jwks",
            &s.jwks_path,
            "--clock-skew",
            "301",
            &token,
        ], // out of range
        &[
            "token",
            "verify",
            "--jwks",
            &s.jwks_path,
            "--issuer",
            "not a url",
            &token,
        ], // bad issuer
        &[
            "token",
            "verify",
            "--jwks",
            &s.jwks_path,
            "--preset",
            "keycloak",
            &token,
        ], // unknown preset
        &["token", "frobnicate"],     // unknown command
    ];
    for args in cases {
        let out = portcullis(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = portcullis(&["token", "verify", "--jwks", &only_enc, &token]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignored: key is for `use`=enc"));
}

/// Serves `body` to every request on 127.0.0.1, with `status`, until the test ends.
fn serve(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn verify_fetches_a_jwks_url_from_a_real_http_server() {
    let s = setup();
    let url = serve("200 OK", jwks(&[&s.key]).to_string());
    let token = s.key.sign(&okta_claims());
    let out = portcullis(&["token", "verify", "--jwks-url", &url, &token]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let failing = serve("503 Service Unavailable", "{}".into());
    let out = portcullis(&["token", "verify", "--jwks-url", &failing, &token]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("503"));

    let huge = serve(
        "200 OK",
        format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(2 * 1024 * 1024)),
    );
    let out = portcullis(&["token", "verify", "--jwks-url", &huge, &token]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than"));
}

#[test]
fn inspect_explains_each_part() {
    let s = setup();
    let token = s
        .key
        .sign_with_header(&json!({"jku": "https://evil.example/keys"}), &okta_claims());
    let out = portcullis(&["token", "inspect", &token]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for expected in [
        "RS256: supported",
        "kid  okta-key-1",
        "jku  present and ignored",
        "cid       client id (Okta)",
        "scp       scopes",
        "not verified",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        text.contains("(in 59m)") || text.contains("(in 60m)"),
        "expiry not explained:\n{text}"
    );
    let out = portcullis(&["token", "inspect", "not-a-token"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `--max-token-lifetime S` and the NumericDate range: each row is flags, claims, exit code and
/// the start of the output.
#[test]
fn verify_checks_token_time() {
    let s = setup();
    let with = |member: &str, value: Value| {
        let mut claims = okta_claims();
        claims[member] = value;
        claims
    };
    let without_iat = || {
        let mut claims = okta_claims();
        claims.as_object_mut().unwrap().remove("iat");
        claims
    };
    let year_9999 = json!(253_402_300_799_i64);
    let cases: Vec<(&[&str], Value, i32, &str)> = vec![
        (&[], okta_claims(), 0, "accepted"),
        (
            &["--max-token-lifetime", "3600"],
            okta_claims(),
            0,
            "accepted",
        ),
        (
            &["--max-token-lifetime", "3599"],
            okta_claims(),
            1,
            "rejected [token_lifetime_exceeded]",
        ),
        (
            &[],
            with("exp", json!(now() + 86_401)),
            1,
            "rejected [token_lifetime_exceeded]",
        ),
        (
            &["--preset", "entra_v2"],
            with("exp", json!(now() + 86_401)),
            0,
            "accepted",
        ),
        (
            &["--max-token-lifetime", "600", "--clock-skew", "0"],
            {
                let mut c = without_iat();
                c["exp"] = json!(now() + 900);
                c
            },
            1,
            "rejected [token_lifetime_exceeded]",
        ),
        (
            &[],
            with("exp", year_9999.clone()),
            1,
            "rejected [token_lifetime_exceeded]",
        ),
        (
            &["--max-token-lifetime", "0"],
            with("exp", year_9999),
            0,
            "accepted",
        ),
        (
            &["--max-token-lifetime", "0"],
            with("exp", json!(i64::MAX)),
            1,
            "rejected [numeric_date_out_of_range]",
        ),
        (
            &["--max-token-lifetime", "0"],
            with("exp", json!(1e300)),
            1,
            "rejected [numeric_date_out_of_range]",
        ),
        (
            &[],
            with("iat", json!(-1)),
            1,
            "rejected [numeric_date_out_of_range]",
        ),
        (&["--max-token-lifetime", "31536001"], okta_claims(), 2, ""),
        (&["--max-token-lifetime", "-1"], okta_claims(), 2, ""),
    ];
    for (flags, claims, code, expected) in &cases {
        let token = s.key.sign(claims);
        let mut args = vec!["token", "verify", "--jwks", &s.jwks_path];
        args.extend_from_slice(flags);
        args.push(&token);
        let out = portcullis(&args);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{flags:?}: {}",
            stdout(&out)
        );
        assert!(
            stdout(&out).starts_with(expected),
            "{flags:?}: {}",
            stdout(&out)
        );
        if *code == 2 && flags[1] == "31536001" {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("invalid --max-token-lifetime"), "{stderr}");
        }
    }
}

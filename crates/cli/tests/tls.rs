//! TLS termination as an operator runs it (issue 13): the real binary with a certificate from a
//! CA the test makes, HTTP/1.1 and HTTP/2 by ALPN, the certificate replaced mid-run without a
//! failed request, an unusable new certificate that keeps the old one, and start-up errors that
//! name the file and the problem once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portcullis_testkit::tls::{ServerIdentity, TestCa};

fn portcullis() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_LOG")
        .env_remove("PORTCULLIS_ADMIN_LISTEN")
        .env("PORTCULLIS_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0");
    command
}

fn write_identity(dir: &Path, identity: &ServerIdentity) {
    std::fs::write(dir.join("cert.pem"), identity.cert_pem()).unwrap();
    std::fs::write(dir.join("key.pem"), identity.key_pem()).unwrap();
}

/// A running server and the lines of its log, as they come.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    base: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = portcullis()
            .arg("serve")
            // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
            .env("PORTCULLIS_RATE_LIMITS", "false")
            .env("PORTCULLIS_DATA_DIR", dir.join("data"))
            .env("PORTCULLIS_TLS_CERT", dir.join("cert.pem"))
            .env("PORTCULLIS_TLS_KEY", dir.join("key.pem"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let serving = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the server never said it serves");
            if line.contains("portcullis is serving") {
                break line;
            }
        };
        let addr = serving
            .split_whitespace()
            .find_map(|field| field.strip_prefix("listen="))
            .expect("listen= in the start-up line")
            .to_owned();
        assert!(serving.contains("tls=true"), "{serving}");
        Server {
            child,
            lines,
            base: format!("https://{addr}"),
        }
    }

    fn log_until(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(ca: &TestCa, http1: bool) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none());
    if http1 {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

fn presented(response: &reqwest::blocking::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

#[test]
fn https_with_both_http_versions_and_certificate_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("portcullis test CA");
    let first = ca.server_identity();
    write_identity(dir.path(), &first);
    let server = Server::start(dir.path());

    // HTTP/1.1 and HTTP/2, chosen by ALPN; HSTS on every answer; cookies Secure + __Host-.
    let h1 = client(&ca, true)
        .get(format!("{}/healthz", server.base))
        .send()
        .unwrap();
    assert_eq!(h1.status(), 200);
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert!(h1.headers().contains_key("strict-transport-security"));
    let h2 = client(&ca, false)
        .get(format!("{}/api/v1/status", server.base))
        .send()
        .unwrap();
    assert_eq!(h2.status(), 200);
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(presented(&h2), first.cert_der());
    let login = client(&ca, false)
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("content-type", "application/json")
        .body(r#"{"login":"admin","password":"correct-horse-battery-staple"}"#)
        .send()
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-portcullis_session=") && c.contains("Secure")),
        "{cookies:?}"
    );

    // A client keeps its connection and keeps asking while the certificate is replaced.
    let steady = client(&ca, false);
    let second = ca.server_identity();
    write_identity(dir.path(), &second);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut rotated = false;
    while Instant::now() < deadline {
        let response = steady
            .get(format!("{}/healthz", server.base))
            .send()
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "a request failed during the rotation"
        );
        let fresh = client(&ca, false)
            .get(format!("{}/healthz", server.base))
            .send()
            .unwrap();
        assert_eq!(fresh.status(), 200);
        if presented(&fresh) == second.cert_der() {
            rotated = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(rotated, "the new certificate was never served");

    // An unusable replacement is refused and the current certificate stays.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    assert!(
        server.log_until("TLS certificate not reloaded", Duration::from_secs(10)),
        "no log line for the refused certificate"
    );
    let after = client(&ca, false)
        .get(format!("{}/healthz", server.base))
        .send()
        .unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(presented(&after), second.cert_der(), "the old pair is kept");
    // ...and says so in /readyz and /metrics.
    let ready: serde_json::Value = client(&ca, false)
        .get(format!("{}/readyz", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        ready["tls"]["lastRefusedReload"]
            .as_str()
            .is_some_and(|reason| reason.contains("no CERTIFICATE block")),
        "{ready}"
    );
    let metrics = client(&ca, false)
        .get(format!("{}/metrics", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let count = |result: &str| -> u64 {
        let prefix = format!("portcullis_tls_reloads_total{{result=\"{result}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {result} counter in\n{metrics}"))
    };
    // At least the rotation was loaded and the garbage refused (a watcher that saw the new
    // certificate before its key may have refused one more, which is what it should do).
    assert!(count("ok") >= 1, "{metrics}");
    assert!(count("refused") >= 1, "{metrics}");
}

#[test]
fn a_bad_certificate_stops_the_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("portcullis test CA");
    let identity = ca.server_identity();
    let other = ca.server_identity();
    type Prepare<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Prepare, String)> = vec![
        (
            "missing key file",
            Box::new(|dir: &Path| {
                std::fs::write(dir.join("cert.pem"), identity.cert_pem()).unwrap();
                let _ = std::fs::remove_file(dir.join("key.pem"));
            }),
            format!(
                "TLS key {}: cannot read the file",
                dir.path().join("key.pem").display()
            ),
        ),
        (
            "not a certificate",
            Box::new(|dir: &Path| {
                std::fs::write(dir.join("cert.pem"), "hello").unwrap();
                std::fs::write(dir.join("key.pem"), identity.key_pem()).unwrap();
            }),
            format!(
                "TLS certificate {}: no CERTIFICATE block",
                dir.path().join("cert.pem").display()
            ),
        ),
        (
            "key of another certificate",
            Box::new(|dir: &Path| {
                std::fs::write(dir.join("cert.pem"), identity.cert_pem()).unwrap();
                std::fs::write(dir.join("key.pem"), other.key_pem()).unwrap();
            }),
            "does not match the certificate".to_owned(),
        ),
    ];
    for (name, prepare, expected) in cases {
        prepare(dir.path());
        let output = portcullis()
            .arg("serve")
            // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
            .env("PORTCULLIS_RATE_LIMITS", "false")
            .env("PORTCULLIS_DATA_DIR", dir.path().join("data"))
            .env("PORTCULLIS_TLS_CERT", dir.path().join("cert.pem"))
            .env("PORTCULLIS_TLS_KEY", dir.path().join("key.pem"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{name}: {stderr}");
        assert!(
            errors[0].contains(&expected),
            "{name}: {}\nwanted {expected}",
            errors[0]
        );
        assert!(
            errors[0].matches("os error").count() <= 1,
            "{name}: the cause is repeated: {}",
            errors[0]
        );
    }
}

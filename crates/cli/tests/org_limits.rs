//! `PORTCULLIS_MAX_AUTHORIZATION_SERVERS` / `PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS` set
//! the org's server limits at start (issue 12: the scale benchmark registers 10,000 servers);
//! an enabled limit above the total is refused before serving. The real binary, a temp folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn serve(data: &std::path::Path, max: &str, max_enabled: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .arg("serve")
        // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
        .env("PORTCULLIS_RATE_LIMITS", "false")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_LOG")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_DATA_DIR", data)
        .env("PORTCULLIS_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .env("PORTCULLIS_MAX_AUTHORIZATION_SERVERS", max)
        .env("PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS", max_enabled);
    command
}

#[test]
fn the_org_limits_are_set_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(&dir.path().join("data"), "10000", "10000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let serving = line.contains("portcullis is serving");
        log.push(line);
        if serving {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = log.join("\n");
    assert!(
        log.contains("portcullis is serving"),
        "never served:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("organization server limits set"))
        .unwrap_or_else(|| panic!("no limits line:\n{log}"));
    assert!(
        line.contains("max=10000") && line.contains("max_enabled=10000"),
        "{line}"
    );
}

#[test]
fn an_enabled_limit_above_the_total_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve(&dir.path().join("data"), "5", "6").output().unwrap();
    assert!(!output.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS (6)"),
        "{text}"
    );
}

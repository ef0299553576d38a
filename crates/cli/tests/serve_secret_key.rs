//! `portcullis serve` and the secret key for secrets at rest (`PORTCULLIS_SECRET_KEY_FILE`): the
//! real binary, a SQLite data dir in a temp folder, nothing outside 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn serve(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .arg("serve")
        // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
        .env("PORTCULLIS_RATE_LIMITS", "false")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_DATA_DIR", data_dir)
        .env("PORTCULLIS_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .env_remove("PORTCULLIS_SECRET_KEY_FILE")
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_LOG");
    command
}

/// Starts the server, waits until it serves, stops it; returns its log.
fn run_until_serving(mut command: Command) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    let serving = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let done = line.contains("portcullis is serving");
                log.push(line);
                if done {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let log = log.join("\n");
    assert!(serving, "never served ({status}):\n{log}");
    log
}

#[test]
fn without_a_key_file_one_is_generated_privately_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = run_until_serving(serve(&data));
    assert!(log.contains("generated a new secret key"), "{log}");
    let path = data.join("secret.key");
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(first.trim().len(), 44, "base64 of 32 bytes: {first:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let log = run_until_serving(serve(&data));
    assert!(!log.contains("generated a new secret key"), "{log}");
    assert!(
        log.contains("secret key for secrets at rest loaded"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        first,
        "never overwritten"
    );
}

#[test]
fn a_configured_key_file_is_used_and_a_bad_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.raw");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let mut command = serve(&dir.path().join("data"));
    command.env("PORTCULLIS_SECRET_KEY_FILE", &key);
    let log = run_until_serving(command);
    assert!(
        log.contains("secret key for secrets at rest loaded"),
        "{log}"
    );
    assert!(!dir.path().join("data/secret.key").exists());

    for (contents, why) in [
        (b"too short".to_vec(), "not base64 of 32 bytes"),
        (vec![0u8; 32], "all zero"),
    ] {
        std::fs::write(&key, &contents).unwrap();
        let mut command = serve(&dir.path().join("data"));
        command.env("PORTCULLIS_SECRET_KEY_FILE", &key);
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{why}: {stderr}");
        assert!(
            stderr.contains("must hold 32 random bytes, raw or base64-encoded"),
            "{why}: {stderr}"
        );
    }
    let mut command = serve(&dir.path().join("data"));
    command.env("PORTCULLIS_SECRET_KEY_FILE", dir.path().join("missing"));
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the secret key file"),
        "{stderr}"
    );
    // One clear line: the cause is not repeated by the error chain.
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
}

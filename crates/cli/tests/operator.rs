//! What an operator sees on a first start and around it: `--version`, `check-config`, the
//! start-up line (portal and API URLs, no colour codes in a file), and a data directory only its
//! owner can read. The real binary, a temp folder, nothing outside 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn portcullis() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_LOG")
        .env_remove("PORTCULLIS_ALLOW_INSECURE_JWKS");
    command
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn version_names_the_binary_and_its_version() {
    let output = portcullis().arg("--version").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!("portcullis {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_config_validates_a_file_without_a_server() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/portcullis.example.toml");
    let output = portcullis()
        .arg("check-config")
        .arg(&example)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("valid (3 authorization servers"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "forward_auth = \"traefik\"\n\n[[routes]]\nname = \"bad name\"\nmatch = { path_prefix = \"/docs/../x\" }\n",
    )
    .unwrap();
    let output = portcullis().arg("check-config").arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let file = bad.display().to_string();
    for expected in [
        format!("{file}:1: forward_auth: "),
        format!("{file}:4: routes #1 \"bad name\": name: "),
        format!("{file}:5: routes #1 \"bad name\": match"),
        "3 problem(s); nothing would be applied".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "{expected}\nnot in\n{stderr}");
    }

    let output = portcullis()
        .arg("check-config")
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the file"));
    let output = portcullis().arg("check-config").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "no file is a usage error");
}

#[test]
fn a_first_start_creates_a_private_data_dir_and_says_where_the_portal_is() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh").join("data");
    let mut child = portcullis()
        .arg("serve")
        // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
        .env("PORTCULLIS_RATE_LIMITS", "false")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_DATA_DIR", &data)
        .env("PORTCULLIS_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let serving = loop {
        match lines_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let serving = line.contains("portcullis is serving");
                log.push(line);
                if serving {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    // Modes are read while the server runs (its SQLite files are open and in WAL mode).
    let dir_mode = mode(&data);
    let db_mode = mode(&data.join("portcullis.db"));
    let wal = data.join("portcullis.db-wal");
    let wal_mode = wal.exists().then(|| mode(&wal));
    let key_mode = mode(&data.join("secret.key"));
    child.kill().unwrap();
    child.wait().unwrap();
    let log = log.join("\n");
    assert!(serving, "never served:\n{log}");
    assert!(
        log.contains("/portal/"),
        "the start-up line names the portal:\n{log}"
    );
    assert!(log.contains("/api/v1"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log that is not a terminal:\n{log}"
    );
    assert_eq!(dir_mode, 0o700, "data dir");
    assert_eq!(db_mode, 0o600, "database file");
    if let Some(wal_mode) = wal_mode {
        assert_eq!(wal_mode, 0o600, "WAL file");
    }
    assert_eq!(key_mode, 0o600, "secret key");
}

#[test]
fn a_data_dir_readable_by_others_is_named_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = portcullis()
        .arg("serve")
        // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
        .env("PORTCULLIS_RATE_LIMITS", "false")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_DATA_DIR", &data)
        .env("PORTCULLIS_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut warned = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        warned |= line.contains("accessible to other local users");
        if line.contains("portcullis is serving") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(warned, "no warning about the 0755 data directory");
}

/// `PORTCULLIS_ADMIN_LISTEN`: the portal and the API on their own listener; the main listener
/// serves the data plane only and answers 404 for the portal and the API.
#[test]
fn the_admin_listener_keeps_the_portal_and_the_api_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = portcullis()
        .arg("serve")
        // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
        .env("PORTCULLIS_RATE_LIMITS", "false")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_ADMIN_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_DATA_DIR", dir.path().join("data"))
        .env("PORTCULLIS_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut serving = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line.contains("portcullis is serving") {
            serving = Some(line);
            break;
        }
    }
    let line = serving.expect("never served");
    let addr_after = |marker: &str| -> String {
        let rest = &line[line.find(marker).unwrap() + marker.len()..];
        rest.split(|c: char| c == ',' || c == '/' || c.is_whitespace())
            .next()
            .unwrap()
            .to_owned()
    };
    let main = format!("http://{}", addr_after("gateway on http://"));
    let admin = format!("http://{}", addr_after("portal at http://"));
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let status = |url: String| client.get(&url).send().unwrap().status().as_u16();
    let results = [
        (format!("{main}/api/v1/status"), 404),
        (format!("{main}/api/v1/authorizationServers"), 404),
        (format!("{main}/portal/login"), 404),
        (format!("{main}/portal"), 404),
        (format!("{main}/healthz"), 200),
        (format!("{main}/authz"), 400),
        (format!("{main}/"), 404),
        (format!("{admin}/api/v1/status"), 200),
        (format!("{admin}/portal/login"), 200),
        (format!("{admin}/"), 303),
        (format!("{admin}/authz"), 404),
        (format!("{admin}/healthz"), 404),
    ]
    .map(|(url, want)| (status(url.clone()), want, url));
    child.kill().unwrap();
    child.wait().unwrap();
    for (got, want, url) in results {
        assert_eq!(got, want, "{url}");
    }
}

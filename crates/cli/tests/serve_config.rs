//! `portcullis serve --config FILE` as an operator runs it: the real binary, a SQLite data dir in
//! a temp folder, and nothing outside 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use portcullis_store::Store;

fn serve(data_dir: &Path, config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .arg("serve")
        // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
        .env("PORTCULLIS_RATE_LIMITS", "false")
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_DATA_DIR", data_dir)
        .env("PORTCULLIS_CONFIG", config)
        .env("PORTCULLIS_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .env("PORTCULLIS_ALLOW_INSECURE_JWKS", "true")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_LOG");
    command
}

/// A loopback URL nothing listens on.
fn unreachable_url(path: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}

async fn server_names(data_dir: &Path) -> Vec<(String, Option<String>)> {
    let store = Store::open(&format!(
        "sqlite://{}",
        data_dir.join("portcullis.db").display()
    ))
    .await
    .unwrap();
    let org = store.ensure_org(None).await.unwrap();
    let servers = store
        .list_servers(org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.definition.name, s.status.last_fetch_error))
        .collect();
    store.close().await;
    servers
}

#[tokio::test]
async fn an_invalid_config_file_stops_the_start_with_every_problem_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[[authorization_servers]]\nname = \"good\"\njwks_uri = \"{}\"\n\n\
             [[authorization_servers]]\nname = \"bad name\"\njwks_uri = \"http://10.1.2.3/keys\"\n\n\
             [[routes]]\nname = \"orders\"\n",
            unreachable_url("/keys")
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let output = serve(&data, &config).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let file = config.display().to_string();
    for expected in [
        "nothing was applied".to_owned(),
        format!("{file}:6: authorization_servers #2 \"bad name\": name: "),
        format!("{file}:7: authorization_servers #2 \"bad name\": jwks_uri: "),
        format!("{file}:9: routes #1 \"orders\": match: missing field `match`"),
    ] {
        assert!(stderr.contains(&expected), "{expected}\nnot in\n{stderr}");
    }
    assert!(server_names(&data).await.is_empty(), "nothing applied");
}

#[tokio::test]
async fn a_valid_config_file_is_applied_before_serving_even_with_the_idp_down() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[[authorization_servers]]\nname = \"okta-prod\"\npreset = \"okta\"\njwks_uri = \"{}\"\naudiences = [\"api://portcullis\"]\n\n\
             [[api_roles]]\nname = \"automation\"\npermissions = {{ routes = \"full\" }}\n\n\
             [[routes]]\nname = \"health\"\nmatch = {{ exact_path = \"/health\" }}\npolicy = {{ credentials = [\"none\"] }}\n",
            unreachable_url("/keys")
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut child = serve(&data, &config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let log = log.join("\n");
    assert!(serving, "never served ({status}):\n{log}");
    let applied = log
        .find("declarative configuration applied")
        .unwrap_or(usize::MAX);
    let listening = log.find("portcullis is serving").unwrap();
    assert!(applied < listening, "applied before serving:\n{log}");
    assert!(log.contains("3 created"), "{log}");
    assert!(
        log.contains("key check failed"),
        "the warning is logged:\n{log}"
    );

    let servers = server_names(&data).await;
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(servers[0].0, "okta-prod");
    assert!(servers[0].1.is_some(), "saved with the fetch error");
}

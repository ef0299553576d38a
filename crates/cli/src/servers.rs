//! `portcullis servers ...`: the authorization-server registry of a running node, through its
//! cloud service API (DESIGN.md §6). Credentials: an OAuth bearer token in
//! `PORTCULLIS_API_TOKEN`, or an admin login (`--login`, password in `PORTCULLIS_API_PASSWORD` or
//! on standard input with `--password-stdin`), which opens a session and sends its CSRF token.
//! Answers are printed as JSON; API errors print `code`, message and field errors and exit 1.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header;
use serde_json::{Value, json};

/// Exit code when the API refused the request.
const EXIT_REFUSED: u8 = 1;

#[derive(Debug, Args)]
pub struct ServersArgs {
    /// Base URL of a running node.
    #[arg(long, env = "PORTCULLIS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Sign in as this admin (password from PORTCULLIS_API_PASSWORD or --password-stdin);
    /// without it, PORTCULLIS_API_TOKEN must hold a bearer token.
    #[arg(long)]
    login: Option<String>,
    /// Read the admin's password from standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(subcommand)]
    command: ServersCommand,
}

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// List the servers with their key status.
    List,
    /// Show one server (by name or id).
    Get { name: String },
    /// Register a server from a JSON file (the API's camelCase shape; `-` = standard input).
    Add { file: PathBuf },
    /// Fetch and check a key source without saving (JSON file as for `add`).
    Validate { file: PathBuf },
    /// Fetch a server's keys now.
    Refresh { name: String },
    /// Delete a server (by name or id).
    Delete { name: String },
}

/// What a command ended with: printed JSON, or the API's refusal.
enum Outcome {
    Printed,
    Refused,
}

/// Runs the command; exit 0 on success, 1 when the API refused, 2 on usage or connection errors.
pub fn run(args: ServersArgs) -> std::process::ExitCode {
    match execute(args) {
        Ok(Outcome::Printed) => std::process::ExitCode::SUCCESS,
        Ok(Outcome::Refused) => std::process::ExitCode::from(EXIT_REFUSED),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

struct Api {
    client: Client,
    base: String,
    auth: Auth,
}

enum Auth {
    Bearer(String),
    Session { cookie: String, csrf: String },
}

impl Api {
    fn connect(args: &ServersArgs) -> anyhow::Result<Api> {
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        let base = format!("{}/api/v1", args.url.trim_end_matches('/'));
        let auth = match &args.login {
            None => Auth::Bearer(
                std::env::var("PORTCULLIS_API_TOKEN")
                    .ok()
                    .filter(|t| !t.is_empty())
                    .context("give --login, or a bearer token in PORTCULLIS_API_TOKEN")?,
            ),
            Some(login) => {
                let password = if args.password_stdin {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("cannot read the password from standard input")?;
                    text.trim_end_matches(['\r', '\n']).to_owned()
                } else {
                    std::env::var("PORTCULLIS_API_PASSWORD").context(
                        "give the password in PORTCULLIS_API_PASSWORD or with --password-stdin",
                    )?
                };
                let response = client
                    .post(format!("{base}/auth/login"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(json!({"login": login, "password": password}).to_string())
                    .send()
                    .with_context(|| format!("cannot reach {}", args.url))?;
                let cookie = response
                    .headers()
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(|v| v.split(';').next())
                    .collect::<Vec<_>>()
                    .join("; ");
                let status = response.status();
                let body: Value = serde_json::from_str(&response.text().unwrap_or_default())
                    .unwrap_or(Value::Null);
                let Some(csrf) = body["csrfToken"].as_str().filter(|_| status.is_success()) else {
                    bail!(
                        "sign-in refused ({status}): {}",
                        body["message"].as_str().unwrap_or("no message")
                    );
                };
                Auth::Session {
                    cookie,
                    csrf: csrf.to_owned(),
                }
            }
        };
        Ok(Api { client, base, auth })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Session { cookie, csrf } => request
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf),
        }
    }

    /// Sends, prints the JSON answer (or the refusal) and says which it was.
    fn call(&self, request: RequestBuilder) -> anyhow::Result<(Outcome, Value)> {
        let response = request.send().context("cannot reach the node")?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            if !body.is_null() {
                println!("{}", serde_json::to_string_pretty(&body)?);
            }
            return Ok((Outcome::Printed, body));
        }
        eprintln!(
            "refused ({status}) [{}]: {}",
            body["code"].as_str().unwrap_or("?"),
            body["message"].as_str().unwrap_or(text.as_str())
        );
        if let Some(fields) = body["fields"].as_object() {
            for (field, message) in fields {
                eprintln!("  {field}: {}", message.as_str().unwrap_or("?"));
            }
        }
        Ok((Outcome::Refused, body))
    }

    /// The id of the server named (or with id) `name`.
    fn resolve(&self, name: &str) -> anyhow::Result<Option<String>> {
        let response = self
            .request(reqwest::Method::GET, "/authorizationServers")
            .send()
            .context("cannot reach the node")?;
        let status = response.status();
        let body: Value =
            serde_json::from_str(&response.text().unwrap_or_default()).unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "cannot list servers ({status}): {}",
                body["message"].as_str().unwrap_or("no message")
            );
        }
        Ok(body["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|s| s["name"] == name || s["id"] == name)
                .and_then(|s| s["id"].as_str().map(str::to_owned))
        }))
    }
}

fn read_json(file: &PathBuf) -> anyhow::Result<String> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    serde_json::from_str::<Value>(&text)
        .with_context(|| format!("{} is not JSON", file.display()))?;
    Ok(text)
}

fn execute(args: ServersArgs) -> anyhow::Result<Outcome> {
    let api = Api::connect(&args)?;
    let json_body = |request: RequestBuilder, body: String| {
        request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
    };
    let by_name = |name: &str| -> anyhow::Result<Option<String>> { api.resolve(name) };
    let (outcome, _) = match &args.command {
        ServersCommand::List => {
            api.call(api.request(reqwest::Method::GET, "/authorizationServers"))?
        }
        ServersCommand::Add { file } => api.call(json_body(
            api.request(reqwest::Method::POST, "/authorizationServers"),
            read_json(file)?,
        ))?,
        ServersCommand::Validate { file } => api.call(json_body(
            api.request(reqwest::Method::POST, "/authorizationServers/validate"),
            read_json(file)?,
        ))?,
        ServersCommand::Get { name }
        | ServersCommand::Refresh { name }
        | ServersCommand::Delete { name } => {
            let Some(id) = by_name(name)? else {
                eprintln!("refused: no authorization server named `{name}`");
                return Ok(Outcome::Refused);
            };
            let path = format!("/authorizationServers/{id}");
            let request = match &args.command {
                ServersCommand::Get { .. } => api.request(reqwest::Method::GET, &path),
                ServersCommand::Refresh { .. } => {
                    api.request(reqwest::Method::POST, &format!("{path}/refresh"))
                }
                _ => api.request(reqwest::Method::DELETE, &path),
            };
            api.call(request)?
        }
    };
    Ok(outcome)
}

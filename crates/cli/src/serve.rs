//! `portcullis serve`: wires the store, the outbound fetcher and the HTTP server, bootstraps the
//! first admin, applies the declarative configuration file (`--config`), and runs until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use portcullis_keys::fetch::{FetchPolicy, Fetcher};
use portcullis_server::secrets::{KeyOrigin, SecretKey};
use portcullis_server::tls::{CertificateSlot, TlsFiles};
use portcullis_server::{AppState, Settings};
use portcullis_store::Store;

/// Audit entries older than this are deleted (DESIGN.md §1.5: 180 days by default).
const AUDIT_RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PORTCULLIS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A separate listener for the portal and the cloud service API (`/api/v1`); the main
    /// listener then serves only forward auth, the reverse proxy, the sandbox API and the
    /// operations endpoints. Unset: one listener serves everything.
    #[arg(long, env = "PORTCULLIS_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM) for the main listener; with --tls-key, the listener speaks
    /// https (TLS 1.2/1.3, HTTP/2 and HTTP/1.1). Reloaded when the files change or on SIGHUP.
    #[arg(long, env = "PORTCULLIS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for the main listener.
    #[arg(long, env = "PORTCULLIS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// TLS certificate chain for the admin listener (default: the main listener's pair).
    #[arg(long, env = "PORTCULLIS_ADMIN_TLS_CERT", requires = "admin_tls_key")]
    admin_tls_cert: Option<PathBuf>,
    /// TLS private key for the admin listener.
    #[arg(long, env = "PORTCULLIS_ADMIN_TLS_KEY", requires = "admin_tls_cert")]
    admin_tls_key: Option<PathBuf>,
    /// Folder for the embedded database and generated secrets.
    #[arg(long, env = "PORTCULLIS_DATA_DIR", default_value = "./portcullis-data")]
    data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...` (default: SQLite in the data dir).
    #[arg(long, env = "PORTCULLIS_DATABASE_URL")]
    database_url: Option<String>,
    /// Deployment cloud name.
    #[arg(
        long,
        env = "PORTCULLIS_CLOUD_NAME",
        default_value = "portcullis.local"
    )]
    cloud_name: String,
    /// Numeric id of the default org (generated once when unset).
    #[arg(long, env = "PORTCULLIS_ORG_ID")]
    org_id: Option<i64>,
    /// Password of the bootstrap admin `admin` (only used on an empty store).
    #[arg(long, env = "PORTCULLIS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Allow http and loopback JWKS/metadata URLs (development and tests only).
    #[arg(long, env = "PORTCULLIS_ALLOW_INSECURE_JWKS", default_value_t = false)]
    allow_insecure_jwks: bool,
    /// Private networks JWKS may be fetched from (comma-separated CIDRs, for on-premises IdPs).
    #[arg(long, env = "PORTCULLIS_ALLOWED_JWKS_NETWORKS", value_delimiter = ',')]
    allowed_jwks_networks: Vec<ipnet::IpNet>,
    /// Base URL clients use to reach this deployment (default: http://LISTEN).
    #[arg(long, env = "PORTCULLIS_PUBLIC_URL")]
    public_url: Option<String>,
    /// Log as JSON lines.
    #[arg(long, env = "PORTCULLIS_LOG_JSON", default_value_t = false)]
    log_json: bool,
    /// This node's id in a cluster (default: host name and port).
    #[arg(long, env = "PORTCULLIS_NODE_ID")]
    node_id: Option<String>,
    /// Cache verified tokens (`false` verifies every request in full: for benchmarks).
    #[arg(long, env = "PORTCULLIS_TOKEN_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    token_cache: bool,
    /// Refuse every change through the cloud service API on this node (403 `STATE_READONLY`;
    /// sign-in and out still work), whatever the org's `readOnly` says. Token decisions go on.
    #[arg(long, env = "PORTCULLIS_READ_ONLY", default_value_t = false, action = clap::ArgAction::Set)]
    read_only: bool,
    /// Apply the cloud service API's rate limits (the numbers are the org's settings:
    /// `PUT /api/v1/orgSettings` or `[org_settings]` in the config file). `false` switches them
    /// off on this node (load tests, the API fuzzer).
    #[arg(long, env = "PORTCULLIS_RATE_LIMITS", default_value_t = true, action = clap::ArgAction::Set)]
    rate_limits: bool,
    /// Reverse proxy: seconds allowed for an upstream's response headers (then 504).
    #[arg(long, env = "PORTCULLIS_UPSTREAM_TIMEOUT_S", default_value_t = 30)]
    upstream_timeout_s: u64,
    /// Absolute lifetime of every admin session (portal and legacy `JSESSIONID`) from sign-in,
    /// however active: seconds, or a number with `s`, `m` or `h` (e.g. `12h`).
    #[arg(long, env = "PORTCULLIS_SESSION_MAX_LIFETIME", default_value = "12h", value_parser = parse_lifetime)]
    session_max_lifetime: Duration,
    /// Which headers describe the original request at /authz: auto (every family present must
    /// agree), nginx (X-Original-*), forwarded (X-Forwarded-*, from trusted proxies) or envoy
    /// (the path after /authz). Default: the config file's `forward_auth`, else auto.
    #[arg(long, env = "PORTCULLIS_FORWARD_AUTH")]
    forward_auth: Option<portcullis_server::trust::ForwardAuthMode>,
    /// Proxies whose X-Forwarded-* headers are believed (comma-separated CIDRs or addresses).
    /// Default: the config file's `trusted_proxies`, else loopback.
    #[arg(long, env = "PORTCULLIS_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    trusted_proxies: Option<Vec<ipnet::IpNet>>,
    /// Declarative configuration file (TOML).
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// File holding the 32-byte key that encrypts secrets at rest (raw 32 bytes, or base64 of
    /// them). Unset: generated once into the data dir (`secret.key`, mode 0600). Every node of a
    /// cluster needs the same key.
    #[arg(long, env = "PORTCULLIS_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Sets the org's `max_authorization_servers` at start (kept in the store; unset: left as
    /// it is, 16 for a new org).
    #[arg(long, env = "PORTCULLIS_MAX_AUTHORIZATION_SERVERS", value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    max_authorization_servers: Option<i64>,
    /// Sets the org's `max_enabled_authorization_servers` at start (at most the total limit).
    #[arg(long, env = "PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS", value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    max_enabled_authorization_servers: Option<i64>,
}

fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    portcullis_server::declarative::parse_network(text)
        .ok_or_else(|| format!("`{text}` is not an IP address or CIDR (e.g. 10.0.0.0/8)"))
}

/// `43200`, `43200s`, `720m` or `12h`: between one minute and 30 days.
fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1),
        Some((i, 'm')) => (&text[..i], 60),
        Some((i, 'h')) => (&text[..i], 3600),
        _ => (text, 1),
    };
    let seconds = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("`{text}` is not a duration (seconds, or e.g. `90m`, `12h`)"))?;
    if !(60..=30 * 24 * 3600).contains(&seconds) {
        return Err(format!(
            "`{text}` is out of range: between 1 minute and 30 days"
        ));
    }
    Ok(Duration::from_secs(seconds))
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colour only for a person at a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", args.data_dir.join("portcullis.db").display()),
    };
    protect_data(&args.data_dir, sqlite_path(&database_url).as_deref())?;
    // Certificates are checked before anything else starts: a bad pair stops the start with one
    // line naming the file and the problem.
    let file_settings = match &args.config {
        Some(config) => portcullis_server::declarative::read_gateway_settings(
            config,
            portcullis_policy::UrlRules {
                allow_insecure: args.allow_insecure_jwks,
            },
        )
        .map_err(|err| anyhow::anyhow!("{err}"))?,
        None => Default::default(),
    };
    // A flag or variable wins over the config file's `tls_cert`/`tls_key`.
    let (file_cert, file_key) = file_settings.tls.clone().unzip();
    let main_tls = tls_slot(
        args.tls_cert.as_ref().or(file_cert.as_ref()),
        args.tls_key.as_ref().or(file_key.as_ref()),
    )?;
    let admin_tls = match tls_slot(args.admin_tls_cert.as_ref(), args.admin_tls_key.as_ref())? {
        Some(slot) => Some(slot),
        None => main_tls.clone(),
    };
    if args.allow_insecure_jwks {
        tracing::warn!(
            "PORTCULLIS_ALLOW_INSECURE_JWKS is on: http and loopback JWKS URLs are accepted; never use this in production"
        );
    }
    let secret_key = load_secret_key(&args, &database_url)?;
    let store = Store::open(&database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&database_url)))?;
    let mut org = store
        .ensure_org(args.org_id)
        .await
        .context("cannot load the organization")?;
    if args.max_authorization_servers.is_some() || args.max_enabled_authorization_servers.is_some()
    {
        let max = args
            .max_authorization_servers
            .unwrap_or(org.max_authorization_servers);
        let max_enabled = args
            .max_enabled_authorization_servers
            .unwrap_or(org.max_enabled_authorization_servers);
        anyhow::ensure!(
            max_enabled <= max,
            "PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS ({max_enabled}) is above PORTCULLIS_MAX_AUTHORIZATION_SERVERS ({max})"
        );
        store
            .set_org_limits(org.id, max, max_enabled)
            .await
            .context("cannot set the organization's server limits")?;
        org.max_authorization_servers = max;
        org.max_enabled_authorization_servers = max_enabled;
        tracing::info!(
            max,
            max_enabled,
            "organization server limits set from the deployment settings"
        );
    }
    let policy = FetchPolicy {
        allow_insecure: args.allow_insecure_jwks,
        allowed_networks: args.allowed_jwks_networks.clone(),
        ..FetchPolicy::default()
    };
    let fetcher = Fetcher::new(policy).context("cannot build the outbound HTTP client")?;
    let mut settings = Settings::new(&args.public_url.clone().unwrap_or_else(|| {
        let (addr, tls) = match args.admin_listen {
            Some(admin) => (admin, admin_tls.is_some()),
            None => (args.listen, main_tls.is_some()),
        };
        format!("{}://{addr}", if tls { "https" } else { "http" })
    }));
    settings.admin_listener = args.admin_listen.is_some();
    settings.cloud_name = args.cloud_name.clone();
    settings.allow_insecure_jwks = args.allow_insecure_jwks;
    settings.token_cache = args.token_cache;
    settings.read_only = args.read_only;
    settings.rate_limits = args.rate_limits;
    settings.node_id = args
        .node_id
        .clone()
        .unwrap_or_else(|| default_node_id(args.listen));
    settings.node_address = args.listen.to_string();
    settings.upstream_response_timeout = Duration::from_secs(args.upstream_timeout_s.max(1));
    settings.session_max_lifetime = args.session_max_lifetime;
    settings.secret_key = Some(Arc::new(secret_key));
    let from_file = file_settings;
    settings.forward_auth = args
        .forward_auth
        .or(from_file.forward_auth)
        .unwrap_or_default();
    settings.trusted_proxies = match &args.trusted_proxies {
        Some(networks) => portcullis_server::trust::TrustedProxies::new(networks.clone()),
        None => from_file.trusted_proxies.unwrap_or_default(),
    };
    tracing::info!(
        forward_auth = %settings.forward_auth,
        trusted_proxies = ?settings.trusted_proxies.networks(),
        "forward auth: header trust"
    );
    let (state, key_changes) = AppState::new(store.clone(), org.id, settings, fetcher);

    match portcullis_server::api::session::bootstrap_admin(&state, args.admin_password.as_deref())
        .await
    {
        Ok(Some(generated)) => tracing::warn!(
            login = "admin",
            password = %generated,
            "created the first admin with a generated password; it is shown only this once: sign in and change it"
        ),
        Ok(None) => {}
        Err(err) => bail!("cannot create the first admin: {}", err.message),
    }

    // Declarative configuration: applied completely before the snapshot is built and the first
    // request is served, or not served at all (a half-configured gateway would reject or admit
    // tokens the file says otherwise about).
    if let Some(config) = &args.config
        && let Err(err) = portcullis_server::declarative::apply_file(&state, config).await
    {
        store.close().await;
        bail!("{err}");
    }

    check_sealed_secrets(&state).await;
    portcullis_server::runtime::rebuild(&state)
        .await
        .context("cannot load the configuration")?;
    portcullis_server::runtime::spawn(state.clone(), key_changes);
    spawn_housekeeping(store.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let main_addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let scheme = |tls: &Option<Arc<CertificateSlot>>| if tls.is_some() { "https" } else { "http" };
    for slot in main_tls.iter().chain(admin_tls.iter()) {
        slot.report_to(Arc::clone(&state.gateway.tls));
    }
    let main = listener_with(listener, main_tls.as_ref())?;
    match args.admin_listen {
        None => {
            tracing::info!(
                listen = %main_addr,
                tls = main_tls.is_some(),
                org_id = org.id,
                backend = ?store.backend(),
                "portcullis is serving; portal at {base}/portal/, API at {base}/api/v1",
                base = state.settings.public_base_url
            );
            portcullis_server::serve_listeners(main, None, state, shutdown_signal())
                .await
                .context("server failed")?;
        }
        Some(admin_listen) => {
            let admin = tokio::net::TcpListener::bind(admin_listen)
                .await
                .with_context(|| format!("cannot listen on {admin_listen} (the admin listener)"))?;
            let admin_addr = admin
                .local_addr()
                .context("cannot read the listening address")?;
            let admin = listener_with(admin, admin_tls.as_ref())?;
            tracing::info!(
                listen = %main_addr,
                admin_listen = %admin_addr,
                org_id = org.id,
                backend = ?store.backend(),
                "portcullis is serving; gateway on {}://{main_addr}, portal at {}://{admin_addr}/portal/, API at {}://{admin_addr}/api/v1",
                scheme(&main_tls),
                scheme(&admin_tls),
                scheme(&admin_tls)
            );
            portcullis_server::serve_listeners(main, Some(admin), state, shutdown_signal())
                .await
                .context("server failed")?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The certificate slot for a `--tls-cert`/`--tls-key` pair (both or neither: clap enforces it),
/// loaded now.
fn tls_slot(
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
) -> anyhow::Result<Option<Arc<CertificateSlot>>> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let files = TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
    };
    // The message names the file and the problem once; no context chain repeats its cause.
    let slot = CertificateSlot::new(files).map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(Some(slot))
}

/// A bound socket with its TLS configuration, if any (its certificate watcher starts here).
fn listener_with(
    tcp: tokio::net::TcpListener,
    tls: Option<&Arc<CertificateSlot>>,
) -> anyhow::Result<portcullis_server::Listener> {
    let tls = match tls {
        Some(slot) => {
            slot.watch();
            Some(
                portcullis_server::tls::server_config(Arc::clone(slot))
                    .map_err(|err| anyhow::anyhow!("{err}"))?,
            )
        }
        None => None,
    };
    Ok(portcullis_server::Listener { tcp, tls })
}

/// The file of a `sqlite://` database URL (query string dropped), if it is one.
fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The data directory holds password hashes, session hashes and sealed secrets: it is created
/// `0700` and a new SQLite database file `0600` (SQLite gives its `-wal`/`-shm` files the
/// database's mode). An existing directory or database others can read is kept as it is (an
/// operator may have reasons) but named in a warning.
fn protect_data(data_dir: &Path, sqlite: Option<&Path>) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if data_dir.exists() {
        let mode = std::fs::metadata(data_dir)
            .with_context(|| format!("cannot read {}", data_dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %data_dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory is accessible to other local users; it holds password hashes and sealed secrets: chmod 700 it"
            );
        }
    } else {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    }
    let Some(db) = sqlite else {
        return Ok(());
    };
    match std::fs::metadata(db) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => tracing::warn!(
            path = %db.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the database file is readable by other local users: chmod 600 it (and its -wal/-shm files)"
        ),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(db)
                .with_context(|| format!("cannot create the database file {}", db.display()))?;
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot read {}", db.display()));
        }
    }
    Ok(())
}

/// The secret key for secrets at rest: the configured file, or the data dir's generated one.
fn load_secret_key(args: &ServeArgs, database_url: &str) -> anyhow::Result<SecretKey> {
    let (key, origin) =
        SecretKey::load_or_generate(args.secret_key_file.as_deref(), &args.data_dir)
            .context("cannot load the secret key for secrets at rest")?;
    match origin {
        KeyOrigin::Generated(path) => {
            tracing::warn!(
                path = %path.display(),
                key_id = key.id(),
                "generated a new secret key for secrets at rest; back it up: secrets encrypted with it cannot be read without it"
            );
            if !database_url.starts_with("sqlite:") {
                tracing::warn!(
                    "with a shared database, give every node the same key (PORTCULLIS_SECRET_KEY_FILE); a generated key is this node's alone"
                );
            }
        }
        KeyOrigin::DataDir(path) | KeyOrigin::Configured(path) => {
            tracing::info!(path = %path.display(), key_id = key.id(), "secret key for secrets at rest loaded");
        }
    }
    Ok(key)
}

/// Warns at start-up when the stored API key was encrypted with another secret key (a node
/// started without the cluster's key file, or a lost key): legacy logins would fail later.
async fn check_sealed_secrets(state: &AppState) {
    let Some(key) = state.settings.secret_key.as_deref() else {
        return;
    };
    match state.store.get_api_key(state.org).await {
        Ok(Some(record)) => {
            let stored = portcullis_server::secrets::sealed_key_id(&record.sealed);
            if stored != Some(key.id()) {
                tracing::error!(
                    stored_key_id = stored.unwrap_or("unknown"),
                    key_id = key.id(),
                    "the Cloud Service API Key was encrypted with another secret key; API key sessions will fail until this node gets the right PORTCULLIS_SECRET_KEY_FILE"
                );
            }
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(%err, "cannot check the stored API key"),
    }
}

/// Daily: audit retention and idle-session cleanup. Failures are logged and retried next time.
fn spawn_housekeeping(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
        loop {
            tick.tick().await;
            let cutoff = portcullis_store::now_ms()
                - i64::try_from(AUDIT_RETENTION.as_millis()).unwrap_or(i64::MAX);
            match store.purge_audit_before(cutoff).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "audit retention"),
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "audit retention failed"),
            }
            if let Err(err) = store.purge_idle_sessions(24 * 3600 * 1000).await {
                tracing::warn!(%err, "session cleanup failed");
            }
            // Legacy sessions idle for a day are long dead (5-minute idle expiry); this only
            // keeps the table small.
            if let Err(err) = store.purge_idle_legacy_sessions(24 * 3600 * 1000).await {
                tracing::warn!(%err, "legacy session cleanup failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `host:port`: unique per process on one machine, stable across restarts (a restarted node
/// takes its row back instead of leaving a ghost behind).
fn default_node_id(listen: SocketAddr) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}:{}", listen.port())
}

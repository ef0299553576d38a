//! TLS termination (issue 13): rustls with the aws-lc-rs provider (the one cryptography library
//! in the tree), TLS 1.2 and 1.3 only, HTTP/2 and HTTP/1.1 by ALPN, and a certificate that is
//! replaced without a restart when its files change (or on SIGHUP), keeping the old pair when the
//! new one is unusable.
//!
//! Errors name the file and the problem once: a `TlsError` is one message, never a chain that
//! repeats its cause.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use portcullis_gateway::tls_health::TlsHealth;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tower::ServiceExt as _;

/// How often the certificate files are checked for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// A certificate chain and key file pair (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate pair cannot be used: one line naming the file and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| {
        // The OS message alone: `io::Error`'s Display already says "(os error N)".
        TlsError(format!(
            "TLS {what} {}: cannot read the file: {err}",
            path.display()
        ))
    })
}

/// Loads and checks a pair: the chain parses, the key parses and is a key aws-lc-rs can sign
/// with, and the key matches the leaf certificate.
pub fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = read(&files.cert, "certificate")?;
    let key_pem = read(&files.key, "key")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|err| {
            TlsError(format!(
                "TLS certificate {}: not a PEM certificate chain ({err})",
                files.cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "TLS certificate {}: no CERTIFICATE block in the file",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| {
        TlsError(format!(
            "TLS key {}: not a PEM private key ({err})",
            files.key.display()
        ))
    })?;
    let signing_key = aws_lc_rs::sign::any_supported_type(&key).map_err(|err| {
        TlsError(format!(
            "TLS key {}: not a usable private key ({err})",
            files.key.display()
        ))
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|_| {
        TlsError(format!(
            "TLS key {} does not match the certificate {}",
            files.key.display(),
            files.cert.display()
        ))
    })?;
    Ok(Arc::new(certified))
}

/// The certificate the handshakes use now, replaced atomically on reload.
#[derive(Debug)]
pub struct CertificateSlot {
    files: TlsFiles,
    current: ArcSwap<CertifiedKey>,
    stamps: std::sync::Mutex<Option<(SystemTime, SystemTime)>>,
    last_error: ArcSwap<Option<String>>,
    watching: std::sync::atomic::AtomicBool,
    health: std::sync::OnceLock<Arc<TlsHealth>>,
}

impl ResolvesServerCert for CertificateSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn stamps(files: &TlsFiles) -> Option<(SystemTime, SystemTime)> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((modified(&files.cert)?, modified(&files.key)?))
}

impl CertificateSlot {
    /// Loads `files` (the start-up check: an error here stops the start).
    pub fn new(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let key = load(&files)?;
        Ok(Arc::new(Self {
            stamps: std::sync::Mutex::new(stamps(&files)),
            files,
            current: ArcSwap::new(key),
            last_error: ArcSwap::from_pointee(None),
            watching: std::sync::atomic::AtomicBool::new(false),
            health: std::sync::OnceLock::new(),
        }))
    }

    /// Loads the files again. A usable pair replaces the current one; an unusable one is
    /// logged and kept out (the current pair stays), and reported by [`Self::last_error`].
    pub fn reload(&self) -> Result<(), TlsError> {
        match load(&self.files) {
            Ok(key) => {
                self.current.store(key);
                self.last_error.store(Arc::new(None));
                if let Some(health) = self.health.get() {
                    health.reloaded();
                }
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(err) => {
                tracing::error!(%err, "TLS certificate not reloaded; keeping the current one");
                self.last_error.store(Arc::new(Some(err.to_string())));
                if let Some(health) = self.health.get() {
                    health.refused(&err.to_string());
                }
                Err(err)
            }
        }
    }

    /// Reloads when either file's modification time changed since the last look.
    pub fn reload_if_changed(&self) {
        let now = stamps(&self.files);
        let changed = {
            let Ok(mut seen) = self.stamps.lock() else {
                return;
            };
            let changed = now.is_some() && *seen != now;
            if changed {
                *seen = now;
            }
            changed
        };
        if changed {
            let _ = self.reload();
        }
    }

    /// Reports reloads to `health` (shown by `/readyz` and `/metrics`); the first call wins.
    pub fn report_to(&self, health: Arc<TlsHealth>) {
        let _ = self.health.set(health);
    }

    /// Why the last reload failed, while the current pair is the older one.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.load().as_ref().clone()
    }

    /// Watches the files (every [`RELOAD_CHECK`]) and SIGHUP, reloading on either.
    pub fn watch(self: &Arc<Self>) {
        // Two listeners may share one pair: one watcher is enough.
        if self
            .watching
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let slot = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_CHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                slot.reload_if_changed();
            }
        });
        let slot = Arc::clone(self);
        tokio::spawn(async move {
            let Ok(mut hangup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                tracing::warn!("cannot listen for SIGHUP; TLS reloads only on file changes");
                return;
            };
            while hangup.recv().await.is_some() {
                let _ = slot.reload();
            }
        });
    }
}

/// The rustls configuration: aws-lc-rs, TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.
pub fn server_config(slot: Arc<CertificateSlot>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| TlsError(format!("TLS configuration: {err}")))?
        .with_no_client_auth()
        .with_cert_resolver(slot);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over TLS on `listener` until `shutdown` completes, then lets open connections
/// finish (at most 5 s). Each request carries `ConnectInfo<SocketAddr>` like the plain listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: crate::App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    let builder = ConnectionBuilder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(%err, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(
                Duration::from_secs(10),
                acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(%err, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service =
                app.map_request(move |request: axum::http::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    request
                });
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

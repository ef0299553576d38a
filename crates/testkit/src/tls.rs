//! HTTPS for tests (feature `tls`): a certificate authority made on the spot, server
//! certificates it issues for `127.0.0.1` / `[::1]` / `localhost`, and [`TlsFront`], a TLS
//! terminator on 127.0.0.1 that relays every connection to a plain HTTP test server. Any test
//! responder thereby also answers over HTTPS with a certificate only the test's CA vouches for,
//! which is exactly an on-premises IdP with a private CA.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate chain and its private key.
pub struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key_pkcs8: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

impl TestCa {
    /// A new self-signed CA (ECDSA P-256) named `common_name`.
    pub fn new(common_name: &str) -> TestCa {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key generation");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        TestCa { issuer }
    }

    /// The CA certificate, PEM: what an admin pastes as `caBundlePem`.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `127.0.0.1`, `::1` and `localhost`, signed by this CA.
    pub fn server_identity(&self) -> ServerIdentity {
        let mut params = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("server certificate names");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key generation");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        ServerIdentity {
            chain: vec![certificate.der().clone()],
            key_pkcs8: key.serialize_der(),
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl ServerIdentity {
    /// The certificate, PEM (what `PORTCULLIS_TLS_CERT` points at).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM (what `PORTCULLIS_TLS_KEY` points at).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate, DER: to tell which certificate a server presented.
    pub fn cert_der(&self) -> &[u8] {
        self.chain[0].as_ref()
    }

    fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone())),
            )
            .expect("server certificate and key")
    }
}

/// A TLS terminator on 127.0.0.1: every connection is handshaken with a [`ServerIdentity`] and
/// then relayed, byte for byte, to a plain HTTP server. Counts accepted TCP connections (so a
/// test can prove a refusal happened before connecting) and completed handshakes (so it can
/// prove a refusal happened during the handshake). Stops when dropped.
pub struct TlsFront {
    /// Where it listens.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// Starts a front for `backend` (an HTTP server on this machine) presenting `identity`.
    pub async fn start(identity: &ServerIdentity, backend: SocketAddr) -> TlsFront {
        let acceptor = TlsAcceptor::from(Arc::new(identity.server_config()));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let connections = Arc::new(AtomicUsize::new(0));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let (accepted, handshaken) = (Arc::clone(&connections), Arc::clone(&handshakes));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, handshaken) = (acceptor.clone(), Arc::clone(&handshaken));
                tokio::spawn(async move {
                    // A client that refuses our certificate ends the handshake: nothing to relay.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    handshaken.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            addr,
            connections,
            handshakes,
            task,
        }
    }

    /// `https://127.0.0.1:PORT` + path.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// `https://localhost:PORT` + path (resolved by the fetcher's DNS resolver).
    pub fn localhost_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

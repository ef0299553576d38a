//! The outbound-fetch rules of DESIGN.md §3, end to end against real HTTP servers on 127.0.0.1.
//!
//! Network rule of these tests: traffic only ever goes to 127.0.0.1. Every other address that
//! appears here (10.0.0.1, 169.254.169.254, ...) must be refused by our checks before a
//! connection is attempted; each such test first asserts that the pure URL check refuses the
//! address, so a broken check fails the test before any fetch is made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::str::FromStr;
use std::time::{Duration, Instant};

use portcullis_keys::{
    Accept, Conditional, FetchError, FetchPolicy, Fetcher, ForbiddenRange, Validators,
};
use support::{Reply, TestServer, big_body, chunked};

const JWKS: &str = r#"{"keys":[]}"#;
const MIB: usize = 1024 * 1024;

fn insecure() -> FetchPolicy {
    FetchPolicy {
        allow_insecure: true,
        ..FetchPolicy::default()
    }
}

fn fetcher(policy: FetchPolicy) -> Fetcher {
    Fetcher::new(policy).unwrap()
}

async fn fetch_err(policy: FetchPolicy, url: &str) -> FetchError {
    fetcher(policy)
        .get_json(url, Accept::JwkSet)
        .await
        .expect_err(url)
}

#[tokio::test]
async fn success_returns_body_final_url_and_cache_information() {
    let server = TestServer::start(|req, _| match req.target.as_str() {
        "/jwks" => Reply::typed("application/jwk-set+json; charset=utf-8", JWKS)
            .header("ETag", "\"v1\"")
            .header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            .header("Cache-Control", "public, max-age=900"),
        _ => Reply::status(404),
    })
    .await;
    let fetched = fetcher(insecure())
        .get_json(&server.url("/jwks"), Accept::JwkSet)
        .await
        .unwrap();
    assert_eq!(fetched.body, JWKS.as_bytes());
    assert_eq!(fetched.final_url, server.url("/jwks"));
    assert_eq!(fetched.content_type, "application/jwk-set+json");
    assert_eq!(fetched.cache.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        fetched.cache.last_modified.as_deref(),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    assert_eq!(fetched.cache.max_age, Some(Duration::from_secs(900)));
    assert!(fetched.duration > Duration::ZERO && fetched.duration < Duration::from_secs(10));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.header("accept"),
        Some("application/jwk-set+json, application/json")
    );
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("portcullis/")
    );
    assert_eq!(request.header("if-none-match"), None);
    assert_eq!(request.header("if-modified-since"), None);
}

#[tokio::test]
async fn plain_http_is_refused_without_allow_insecure() {
    let server = TestServer::start(|_, _| Reply::json(JWKS)).await;
    let err = fetch_err(FetchPolicy::default(), &server.url("/jwks")).await;
    assert!(matches!(err, FetchError::InsecureScheme { .. }), "{err:?}");
    assert!(err.to_string().contains("must use https"), "{err}");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn loopback_literals_are_refused_without_allow_insecure() {
    let server = TestServer::start(|_, _| Reply::json(JWKS)).await;
    let port = server.addr.port();
    for url in [
        server.https_url("/jwks"),
        format!("https://[::1]:{port}/jwks"),
        format!("https://[::ffff:127.0.0.1]:{port}/jwks"),
        format!("https://2130706433:{port}/jwks"),
        format!("https://127.1:{port}/jwks"),
    ] {
        match fetch_err(FetchPolicy::default(), &url).await {
            FetchError::ForbiddenAddress { range, .. } => {
                assert_eq!(range, ForbiddenRange::Loopback, "{url}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn loopback_host_name_is_refused_by_the_resolver() {
    let server = TestServer::start(|_, _| Reply::json(JWKS)).await;
    let url = format!("https://localhost:{}/jwks", server.addr.port());
    // The URL check passes (a host name), so only our resolver can refuse it.
    FetchPolicy::default().check_url(&url).unwrap();
    match fetch_err(FetchPolicy::default(), &url).await {
        FetchError::ForbiddenAddress {
            host,
            address,
            range,
        } => {
            assert_eq!(host, "localhost");
            assert!(address.is_loopback(), "{address}");
            assert_eq!(range, ForbiddenRange::Loopback);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn allowed_networks_open_a_forbidden_range() {
    // A raw listener that answers a TLS ClientHello with garbage: reaching it at all proves the
    // address check let the connection through.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        use tokio::io::AsyncWriteExt;
        let _ = stream.write_all(b"not TLS\r\n\r\n").await;
        1
    });
    let policy = FetchPolicy {
        allowed_networks: vec![ipnet::IpNet::from_str("127.0.0.0/8").unwrap()],
        ..FetchPolicy::default()
    };
    let err = fetch_err(policy, &format!("https://127.0.0.1:{port}/jwks")).await;
    // The garbage fails the TLS handshake: the connection was made.
    assert!(matches!(err, FetchError::TlsHandshake { .. }), "{err:?}");
    assert_eq!(accepted.await.unwrap(), 1);
}

#[tokio::test]
async fn other_schemes_credentials_and_http_to_other_hosts_are_refused() {
    let server = TestServer::start(|_, _| Reply::json(JWKS)).await;
    let port = server.addr.port();
    let cases = [
        (format!("ftp://127.0.0.1:{port}/jwks"), "unsupported_scheme"),
        ("file:///etc/passwd".to_owned(), "unsupported_scheme"),
        (
            format!("http://admin:secret@127.0.0.1:{port}/jwks"),
            "credentials_in_url",
        ),
        (
            format!("http://admin@127.0.0.1:{port}/jwks"),
            "credentials_in_url",
        ),
        ("http://10.0.0.1/jwks".to_owned(), "http_not_loopback"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "http_not_loopback",
        ),
        (
            "http://idp.example.com/jwks".to_owned(),
            "http_not_loopback",
        ),
        ("https://10.0.0.1/jwks".to_owned(), "forbidden_address"),
        ("https://[fe80::1]/jwks".to_owned(), "forbidden_address"),
    ];
    for (url, code) in &cases {
        // Guard: refused by the pure check, so nothing below can connect anywhere.
        assert_eq!(
            insecure().check_url(url).unwrap_err().code(),
            *code,
            "{url}"
        );
        let err = fetch_err(insecure(), url).await;
        assert_eq!(err.code(), *code, "{url}: {err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    assert_eq!(server.connections(), 0);
}

fn redirect_chain(req: &support::Request, base: &str) -> Reply {
    // /r/N redirects to /r/N+1 while N < limit (given as ?limit=L, default: forever).
    let (path, limit) = req
        .target
        .split_once("?limit=")
        .map_or((req.target.as_str(), usize::MAX), |(p, l)| {
            (p, l.parse().unwrap())
        });
    let n: usize = path.trim_start_matches("/r/").parse().unwrap();
    if n < limit {
        let query = if limit == usize::MAX {
            String::new()
        } else {
            format!("?limit={limit}")
        };
        Reply::redirect(&format!("{base}/r/{}{query}", n + 1))
    } else {
        Reply::json(JWKS)
    }
}

#[tokio::test]
async fn three_redirects_are_followed() {
    let server = TestServer::start(redirect_chain).await;
    let fetched = fetcher(insecure())
        .get_json(&server.url("/r/0?limit=3"), Accept::JwkSet)
        .await
        .unwrap();
    assert_eq!(fetched.final_url, server.url("/r/3?limit=3"));
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn a_fourth_redirect_is_refused() {
    let server = TestServer::start(redirect_chain).await;
    let err = fetch_err(insecure(), &server.url("/r/0")).await;
    match &err {
        FetchError::TooManyRedirects { max, location } => {
            assert_eq!(*max, 3);
            assert_eq!(location, &server.url("/r/4"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.paths(), ["/r/0", "/r/1", "/r/2", "/r/3"]);
}

#[tokio::test]
async fn redirects_to_forbidden_targets_are_refused_before_connecting() {
    let locations = [
        ("https://10.0.0.1/jwks", "forbidden_address"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "forbidden_address",
        ),
        (
            "https://[fd00:ec2::254]/latest/meta-data/",
            "forbidden_address",
        ),
        ("https://[::ffff:a9fe:a9fe]/", "forbidden_address"),
        (
            "https://100.100.100.200/latest/meta-data/",
            "forbidden_address",
        ),
        ("https://192.168.1.1:8443/jwks", "forbidden_address"),
        ("https://[fe80::1]/jwks", "forbidden_address"),
        ("https://224.0.0.1/jwks", "forbidden_address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "http_not_loopback",
        ),
        ("http://10.0.0.1/jwks", "http_not_loopback"),
        ("ftp://127.0.0.1/jwks", "unsupported_scheme"),
        ("https://user:pw@idp.example.com/jwks", "credentials_in_url"),
    ];
    for (location, code) in locations {
        // Guard: the pure check refuses the target, so the redirect hook cannot connect to it.
        assert_eq!(
            insecure().check_url(location).unwrap_err().code(),
            code,
            "{location}"
        );
        let target = location.to_owned();
        let server = TestServer::start(move |_, _| Reply::redirect(&target)).await;
        match fetch_err(insecure(), &server.url("/jwks")).await {
            FetchError::RedirectRefused {
                location: refused,
                reason,
            } => {
                assert_eq!(reason.code(), code, "{location}: {reason}");
                assert!(!refused.contains("pw@"), "{refused}");
            }
            other => panic!("{location}: {other:?}"),
        }
        assert_eq!(server.requests().len(), 1, "{location}");
    }
}

#[tokio::test]
async fn body_over_the_limit_is_refused_in_every_framing() {
    let head = |extra: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Connection: close\r\n\r\n"
        )
        .into_bytes()
    };
    let with_body = |mut head: Vec<u8>, body: Vec<u8>| {
        head.extend_from_slice(&body);
        head
    };
    let cases: Vec<(&str, Reply)> = vec![
        ("honest Content-Length", Reply::json(big_body(2 * MIB))),
        (
            "no Content-Length, close-delimited",
            Reply::Raw(with_body(head(""), big_body(2 * MIB))),
        ),
        (
            "chunked",
            Reply::Raw(with_body(
                head("Transfer-Encoding: chunked\r\n"),
                chunked(2 * MIB, 64 * 1024),
            )),
        ),
        (
            "lying Content-Length with a chunked body",
            Reply::Raw(with_body(
                head("Content-Length: 100\r\nTransfer-Encoding: chunked\r\n"),
                chunked(2 * MIB, 64 * 1024),
            )),
        ),
    ];
    for (name, reply) in cases {
        let reply = std::sync::Mutex::new(Some(reply));
        let server = TestServer::start(move |_, _| reply.lock().unwrap().take().unwrap()).await;
        let err = fetch_err(insecure(), &server.url("/jwks")).await;
        match err {
            FetchError::BodyTooLarge { limit, .. } => assert_eq!(limit, MIB, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn body_limit_is_exact() {
    let policy = FetchPolicy {
        max_body_bytes: 1000,
        ..insecure()
    };
    let server = TestServer::start(|req, _| {
        let n: usize = req.target.trim_start_matches('/').parse().unwrap();
        // Close-delimited, so only counting can enforce the limit.
        let mut raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                .to_vec();
        raw.extend_from_slice(&big_body(n));
        Reply::Raw(raw)
    })
    .await;
    let f = fetcher(policy.clone());
    let ok = f
        .get_json(&server.url("/1000"), Accept::JwkSet)
        .await
        .unwrap();
    assert_eq!(ok.body.len(), 1000);
    let err = f
        .get_json(&server.url("/1001"), Accept::JwkSet)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::BodyTooLarge { limit: 1000, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_understated_content_length_frames_the_body() {
    // Content-Length says 64 and 2 MiB follow: HTTP/1.1 framing stops reading at 64 bytes, so
    // the extra bytes are never read into memory.
    let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\nConnection: close\r\n\r\n".to_vec();
    raw.extend_from_slice(&big_body(2 * MIB));
    let reply = std::sync::Mutex::new(Some(Reply::Raw(raw)));
    let server = TestServer::start(move |_, _| reply.lock().unwrap().take().unwrap()).await;
    let fetched = fetcher(insecure())
        .get_json(&server.url("/jwks"), Accept::JwkSet)
        .await
        .unwrap();
    assert_eq!(fetched.body.len(), 64);
}

#[tokio::test]
async fn content_type_must_be_json() {
    let server = TestServer::start(|req, _| match req.target.as_str() {
        "/html" => Reply::typed("text/html", JWKS),
        "/text-json" => Reply::typed("text/json", JWKS),
        "/none" => Reply::Full {
            status: 200,
            headers: vec![],
            body: JWKS.into(),
        },
        "/jwk-set" => Reply::typed("application/jwk-set+json", JWKS),
        "/charset" => Reply::typed("application/json; charset=UTF-8", JWKS),
        "/upper" => Reply::typed("Application/JSON", JWKS),
        _ => Reply::status(404),
    })
    .await;
    let f = fetcher(insecure());
    for (path, accept, found) in [
        ("/html", Accept::JwkSet, "text/html"),
        ("/text-json", Accept::JwkSet, "text/json"),
        ("/none", Accept::JwkSet, "none"),
        ("/jwk-set", Accept::Metadata, "application/jwk-set+json"),
    ] {
        match f.get_json(&server.url(path), accept).await {
            Err(FetchError::ContentType { found: got, .. }) => assert_eq!(got, found, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
    }
    for (path, accept) in [
        ("/jwk-set", Accept::JwkSet),
        ("/charset", Accept::JwkSet),
        ("/charset", Accept::Metadata),
        ("/upper", Accept::Metadata),
    ] {
        f.get_json(&server.url(path), accept)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[tokio::test]
async fn non_2xx_status_is_refused() {
    let server = TestServer::start(|req, _| match req.target.as_str() {
        "/500" => Reply::status(500),
        "/404" => Reply::status(404),
        "/304" => Reply::status(304),
        _ => Reply::status(200),
    })
    .await;
    for status in [500u16, 404, 304] {
        match fetch_err(insecure(), &server.url(&format!("/{status}"))).await {
            FetchError::Status { status: got, .. } => assert_eq!(got, status),
            other => panic!("{status}: {other:?}"),
        }
    }
}

fn quick(total: Duration) -> FetchPolicy {
    FetchPolicy {
        total_timeout: total,
        ..insecure()
    }
}

#[tokio::test]
async fn slow_headers_hit_the_total_timeout() {
    let server =
        TestServer::start(|_, _| Reply::Delay(Duration::from_secs(5), Box::new(Reply::json(JWKS))))
            .await;
    let started = Instant::now();
    let err = fetch_err(quick(Duration::from_secs(1)), &server.url("/jwks")).await;
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_body_hits_the_total_timeout() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"keys\":[".to_vec();
    let server =
        TestServer::start(move |_, _| Reply::Stall(head.clone(), Duration::from_secs(5))).await;
    let started = Instant::now();
    let err = fetch_err(quick(Duration::from_secs(1)), &server.url("/jwks")).await;
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connect_timeout_applies_when_the_listener_does_not_accept() {
    // A listener with a one-entry backlog that never accepts: once its queue is full, the kernel
    // drops further SYNs and a connect hangs (all on 127.0.0.1).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(stream);
        }
    }
    let policy = FetchPolicy {
        connect_timeout: Duration::from_millis(500),
        total_timeout: Duration::from_secs(5),
        ..insecure()
    };
    let started = Instant::now();
    let err = fetch_err(policy, &format!("http://{addr}/jwks")).await;
    assert!(matches!(err, FetchError::ConnectTimeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

#[tokio::test]
async fn conditional_requests_send_validators_and_map_304() {
    const ETAG: &str = "\"v1\"";
    const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    let server = TestServer::start(|req, _| {
        if req.header("if-none-match") == Some(ETAG) {
            Reply::Full {
                status: 304,
                headers: vec![
                    ("ETag".into(), ETAG.into()),
                    ("Cache-Control".into(), "max-age=60".into()),
                ],
                body: vec![],
            }
        } else {
            Reply::json(JWKS)
                .header("ETag", ETAG)
                .header("Last-Modified", DATE)
        }
    })
    .await;
    let f = fetcher(insecure());
    let url = server.url("/jwks");
    let first = f.get_json(&url, Accept::JwkSet).await.unwrap();
    let validators = Validators {
        etag: first.cache.etag.clone(),
        last_modified: first.cache.last_modified.clone(),
    };
    match f
        .get_json_if_modified(&url, Accept::JwkSet, &validators)
        .await
        .unwrap()
    {
        Conditional::NotModified(nm) => {
            assert_eq!(nm.cache.max_age, Some(Duration::from_secs(60)));
            assert_eq!(nm.cache.etag.as_deref(), Some(ETAG));
            assert_eq!(nm.final_url, url);
        }
        Conditional::Modified(_) => panic!("expected 304"),
    }
    let second = &server.requests()[1];
    assert_eq!(second.header("if-none-match"), Some(ETAG));
    assert_eq!(second.header("if-modified-since"), Some(DATE));

    let stale = Validators {
        etag: Some("\"v0\"".into()),
        last_modified: None,
    };
    match f
        .get_json_if_modified(&url, Accept::JwkSet, &stale)
        .await
        .unwrap()
    {
        Conditional::Modified(fetched) => assert_eq!(fetched.body, JWKS.as_bytes()),
        Conditional::NotModified(_) => panic!("expected a new document"),
    }
}

/// Set by the parent in the child process of `environment_proxy_is_ignored`.
const PROXY_CHILD_ENV: &str = "PORTCULLIS_KEYS_TEST_PROXY_TARGET";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_proxy_is_ignored() {
    let target = TestServer::start(|_, _| Reply::json(JWKS)).await;
    let proxy = TestServer::start(|_, _| Reply::status(502)).await;
    let exe = std::env::current_exe().unwrap();
    let proxy_url = proxy.url("");
    let target_url = target.url("/jwks");
    let output = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(exe);
        child
            .args(["--exact", "proxy_child", "--nocapture", "--test-threads=1"])
            .env(PROXY_CHILD_ENV, &target_url)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            child.env(name, &proxy_url);
        }
        child.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    // Positive control: an ordinary client in the child did go through the proxy ...
    assert!(
        proxy.connections() >= 1,
        "the environment proxy was not set up"
    );
    // ... and our fetcher went straight to the target.
    assert_eq!(target.requests().len(), 1);
}

/// Runs only inside `environment_proxy_is_ignored`'s child process.
#[tokio::test]
async fn proxy_child() {
    let Ok(target) = std::env::var(PROXY_CHILD_ENV) else {
        return;
    };
    let plain = reqwest::Client::new().get(&target).send().await;
    assert!(
        plain.map(|r| r.status().as_u16()).unwrap_or(0) != 200,
        "the ordinary client should have hit the proxy"
    );
    let fetched = fetcher(insecure())
        .get_json(&target, Accept::JwkSet)
        .await
        .unwrap();
    assert_eq!(fetched.body, JWKS.as_bytes());
}

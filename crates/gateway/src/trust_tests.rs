//! The header-trust tables: every mode, spoofing, disagreement and malformed routing headers.

use super::*;
use axum::http::HeaderValue;
use std::net::SocketAddr;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn decide(
    mode: ForwardAuthMode,
    trusted: bool,
    path: &str,
    pairs: &[(&str, &str)],
) -> Result<(String, Option<String>, String), &'static str> {
    let uri: Uri = path.parse().unwrap();
    original_request(mode, trusted, &Method::GET, &uri, &headers(pairs))
        .map(|r| {
            (
                r.method.to_string(),
                r.host.map(|h| h.as_str().to_owned()),
                r.target.path_and_query(),
            )
        })
        .map_err(|e| e.code())
}

const NGINX: [(&str, &str); 3] = [
    ("host", "127.0.0.1:8080"),
    ("x-original-method", "GET"),
    ("x-original-uri", "/orders/1?x=1"),
];

/// (mode, trusted peer, /authz path, headers, expected (method, host, target) or refusal)
#[allow(clippy::type_complexity)]
fn table() -> Vec<(
    ForwardAuthMode,
    bool,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Result<(&'static str, Option<&'static str>, &'static str), &'static str>,
)> {
    use ForwardAuthMode::*;
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = NGINX.to_vec();
        all.extend_from_slice(extra);
        all
    };
    vec![
        (
            Auto,
            true,
            "/authz",
            NGINX.to_vec(),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        (
            Nginx,
            true,
            "/authz",
            NGINX.to_vec(),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        // A client's X-Forwarded-* passed through by nginx: must agree or be refused.
        (
            Auto,
            true,
            "/authz",
            with(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/docs/x"),
            ]),
            Err("routing_headers_disagree"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[
                ("x-forwarded-method", "POST"),
                ("x-forwarded-uri", "/orders/1?x=1"),
            ]),
            Err("routing_headers_disagree"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/orders/1?x=1"),
            ]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/orders/1?x=1"),
                ("x-forwarded-host", "evil.example"),
            ]),
            // Only one of two families names a host: it cannot be cross-checked.
            Err("routing_headers_disagree"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[
                ("x-original-host", "api.example"),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/orders/1?x=1"),
                ("x-forwarded-host", "evil.example"),
            ]),
            Err("routing_headers_disagree"),
        ),
        // The canonical forms agree even when the spellings differ.
        (
            Auto,
            true,
            "/authz",
            with(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/%6Frders/1?x=1"),
            ]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        // Named families read only their own headers.
        (
            Nginx,
            true,
            "/authz",
            with(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/docs/x"),
            ]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        (
            Forwarded,
            true,
            "/authz",
            with(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/docs/x"),
            ]),
            Ok(("GET", Some("127.0.0.1"), "/docs/x")),
        ),
        (
            Forwarded,
            true,
            "/authz",
            NGINX.to_vec(),
            Err("missing_routing_headers"),
        ),
        // X-Forwarded-* from an untrusted peer is not believed.
        (
            Forwarded,
            false,
            "/authz",
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/docs/x"),
            ],
            Err("missing_routing_headers"),
        ),
        (
            Auto,
            false,
            "/authz",
            with(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/docs/x"),
            ]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        (
            Auto,
            false,
            "/authz",
            with(&[("x-forwarded-host", "evil.example")]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        // Envoy: the path after /authz.
        (
            Envoy,
            true,
            "/authz/orders/1?x=1",
            vec![("host", "api.example:443")],
            Ok(("GET", Some("api.example"), "/orders/1?x=1")),
        ),
        (
            Envoy,
            true,
            "/authz",
            vec![("host", "api.example")],
            Err("missing_routing_headers"),
        ),
        (
            Envoy,
            true,
            "/authz/orders/1",
            with(&[]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1")),
        ),
        (
            Auto,
            true,
            "/authz/orders/1?x=1",
            NGINX.to_vec(),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        (
            Auto,
            true,
            "/authz/docs/x",
            NGINX.to_vec(),
            Err("routing_headers_disagree"),
        ),
        (
            Auto,
            true,
            "/authz/docs/../orders/1",
            vec![],
            Err("dot_segment"),
        ),
        // Ambiguous or malformed.
        (
            Auto,
            true,
            "/authz",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "/docs/../orders/1"),
            ],
            Err("dot_segment"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "/docs/%2e%2e/orders/1"),
            ],
            Err("dot_segment"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "/orders/1#frag"),
            ],
            Err("fragment"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![("x-original-method", "GET")],
            Err("incomplete_routing_headers"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![("x-original-uri", "/orders/1")],
            Err("incomplete_routing_headers"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![("x-original-host", "a.example")],
            Err("missing_routing_headers"),
        ),
        // A host header alone is not believed in auto (a client can add one)...
        (
            Auto,
            true,
            "/authz",
            with(&[("x-forwarded-host", "evil.example")]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        // ...but it is in the mode that names its family.
        (
            Forwarded,
            true,
            "/authz",
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a"),
                ("x-forwarded-host", "api.example"),
            ],
            Ok(("GET", Some("api.example"), "/a")),
        ),
        (
            Nginx,
            true,
            "/authz",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
                ("x-original-host", "API.example:80"),
            ],
            Ok(("GET", Some("api.example"), "/a")),
        ),
        (Auto, true, "/authz", vec![], Err("missing_routing_headers")),
        (
            Auto,
            true,
            "/authz",
            with(&[("x-original-uri", "/docs/x")]),
            Err("repeated_routing_header"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[("x_original_uri", "/docs/x")]),
            Err("underscored_routing_header"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[("x_forwarded_uri", "/docs/x")]),
            Err("underscored_routing_header"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[("x-forwarded-prefix", "/docs")]),
            Err("incomplete_routing_headers"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![("x-original-method", "G ET"), ("x-original-uri", "/a")],
            Err("invalid_method"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[("x-http-method-override", "DELETE")]),
            Err("method_override"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[("x-http-method-override", "GET")]),
            Ok(("GET", Some("127.0.0.1"), "/orders/1?x=1")),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[("x-method-override", "PUT")]),
            Err("method_override"),
        ),
        (
            Auto,
            true,
            "/authz",
            with(&[("x-http-method", "PUT")]),
            Err("method_override"),
        ),
        // Methods are case-sensitive tokens: `get` is not `GET` (and matches no route listing GET).
        (
            Auto,
            true,
            "/authz",
            vec![("x-original-method", "get"), ("x-original-uri", "/a")],
            Ok(("get", None, "/a")),
        ),
        // Absolute-form targets only where their host is the Host.
        (
            Auto,
            true,
            "/authz",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "http://api.example/a"),
                ("x-original-host", "API.example."),
            ],
            Ok(("GET", Some("api.example"), "/a")),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "http://evil.example/a"),
                ("x-original-host", "api.example"),
            ],
            Err("authority_mismatch"),
        ),
        // Two Host headers.
        (
            Auto,
            true,
            "/authz",
            vec![
                ("host", "a.example"),
                ("host", "b.example"),
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
            ],
            Err("repeated_routing_header"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![
                ("host", "a.example:99999"),
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
            ],
            Err("invalid_host"),
        ),
        (
            Auto,
            true,
            "/authz",
            vec![
                ("host", "[::1]:8080"),
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
            ],
            Ok(("GET", Some("[::1]"), "/a")),
        ),
    ]
}

#[test]
fn original_request_table() {
    let mut failures = Vec::new();
    for (i, (mode, trusted, path, pairs, want)) in table().into_iter().enumerate() {
        let got = decide(mode, trusted, path, &pairs);
        let want = want.map(|(m, h, t)| (m.to_owned(), h.map(str::to_owned), t.to_owned()));
        if got != want {
            failures.push(format!(
                "#{i} {mode} {path} {pairs:?}: got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn client_ip_believes_forwarded_for_only_from_trusted_proxies() {
    let trusted = TrustedProxies::default();
    let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let outsider: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    let xff = headers(&[("x-forwarded-for", "198.51.100.1, 192.0.2.7")]);
    assert_eq!(client_ip(&xff, proxy, &trusted).to_string(), "192.0.2.7");
    assert_eq!(
        client_ip(&xff, outsider, &trusted).to_string(),
        "203.0.113.9"
    );
    let chain = headers(&[
        ("x-forwarded-for", "192.0.2.7, 127.0.0.5"),
        ("x-forwarded-for", "127.0.0.6"),
    ]);
    assert_eq!(client_ip(&chain, proxy, &trusted).to_string(), "192.0.2.7");
    let garbage = headers(&[("x-forwarded-for", "192.0.2.7, not-an-ip")]);
    assert_eq!(
        client_ip(&garbage, proxy, &trusted).to_string(),
        "127.0.0.1"
    );
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:1".parse().unwrap();
    assert_eq!(client_ip(&xff, mapped, &trusted).to_string(), "192.0.2.7");
    let ported = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
    assert_eq!(
        client_ip(&ported, proxy, &trusted).to_string(),
        "2001:db8::1"
    );
    let none = TrustedProxies::new(Vec::new());
    assert_eq!(client_ip(&xff, proxy, &none).to_string(), "127.0.0.1");
}

#[test]
fn modes_parse() {
    for (text, mode) in [
        ("auto", ForwardAuthMode::Auto),
        ("NGINX", ForwardAuthMode::Nginx),
        ("forwarded", ForwardAuthMode::Forwarded),
        ("envoy", ForwardAuthMode::Envoy),
    ] {
        assert_eq!(text.parse::<ForwardAuthMode>(), Ok(mode));
    }
    assert!("traefik".parse::<ForwardAuthMode>().is_err());
}

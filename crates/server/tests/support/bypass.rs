//! Path-confusion variants and the tools to send them unaltered (issue 10): a public route
//! `/docs` and a protected route `/orders` share one upstream; no variant sent without a valid
//! token may make the upstream serve anything under `/orders` under a lenient reading.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The protected prefix every variant tries to reach.
pub const PROTECTED: &str = "/orders";

/// Raw request targets, exactly as they go on the wire. Each tries to be matched as the public
/// `/docs` (or as no route) while a lenient upstream serves `/orders/...`.
pub const VARIANTS: &[&str] = &[
    "/docs/../orders/1",
    "/docs/./../orders/1",
    "/docs/%2e%2e/orders/1",
    "/docs/%2E%2E/orders/1",
    "/docs/.%2e/orders/1",
    "/docs/%2e./orders/1",
    "/docs/.%2E/orders/1",
    "/docs/..%2forders/1",
    "/docs/..%2Forders/1",
    "/docs/%2e%2e%2forders/1",
    "/docs%2f..%2forders/1",
    "/docs%2F%2E%2E%2Forders%2F1",
    "/docs/..%5corders/1",
    "/docs/..%5Corders/1",
    "/docs/..\\orders/1",
    "/docs\\..\\orders\\1",
    "/docs/..;/orders/1",
    "/docs/..;jsessionid=x/orders/1",
    "/docs;/../orders/1",
    "/docs/%2e%2e;/orders/1",
    "/docs/.%2e;x/orders/1",
    "/docs/..%3b/orders/1",
    "/docs/..%3B/orders/1",
    "/docs//../orders/1",
    "/docs/..//orders/1",
    "//orders/1",
    "///orders/1",
    "/docs/..%00/orders/1",
    "/docs/%00/../orders/1",
    "/docs/..%01/orders/1",
    "/docs/..%09/orders/1",
    "/docs/..%0d%0a/orders/1",
    "/docs/..%7f/orders/1",
    "/docs/%252e%252e/orders/1",
    "/docs/%252e%252e%252forders%252f1",
    "/docs/%25%32%65%25%32%65/orders/1",
    "/docs/%c0%ae%c0%ae/orders/1",
    "/docs/%c0%ae%c0%ae%c0%afordersx",
    "/docs/%e0%80%ae%e0%80%ae/orders/1",
    "/docs/%u002e%u002e/orders/1",
    "/docs/x/../../orders/1",
    "/docs/%2e%2e/%2e%2e/orders/1",
    "/docs/./orders/../../orders/1",
    "/docs/..%2F..%2Forders",
    "/./orders/1",
    "/%2e/orders/1",
    "/docs/../%6frders/1",
    "/docs/%2e%2e/%6Frders/1",
    "/docs/..%2f%2e%2e%2forders/1",
    "/docs/..?/orders/1",
    "/docs/%2e%2e?x=/orders/1",
    "/docs/..#/orders/1",
    "/docs#/../orders/1",
    "/docs/.. /orders/1",
    "/docs/%2e%2e%20/orders/1",
    "/docs/../orders",
    "/docs/..",
    "/docs/.",
    "/docs/%2e",
    "/docs/..;",
    "/orders;x/1",
    "/orders;/1",
    "/orders%3bx/1",
    "/orders/1",
    "/Orders/1",
    "/%6Frders/1",
    "/%6frders/1",
    "/docs/../ORDERS/1",
    "/docs/%2e%2e\\orders/1",
    "/docs/..%c0%af/orders/1",
    "/docs/..%ef%bc%8forders/1",
    "/docs/%ef%bc%8e%ef%bc%8e/orders/1",
    "/docs/...;/orders/1",
    "/docs/.../orders/1",
    "*",
    "http://127.0.0.1/docs/../orders/1",
    "http://evil.example/orders/1",
    "orders/1",
];

/// One raw HTTP/1.1 exchange: `method target` with `headers` (name, value) and `Host`, the
/// connection closed after the answer. Returns the status code (0 when the server closed the
/// connection without an answer, as some servers do for a malformed request line).
pub async fn raw_request(
    addr: &str,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> u16 {
    raw_exchange(addr, method, target, host, headers).await.0
}

/// [`raw_request`], also returning the whole response as text (head and body).
pub async fn raw_exchange(
    addr: &str,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
    else {
        panic!("cannot connect to {addr}");
    };
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response));
    if read.await.is_err() && response.is_empty() {
        return (0, String::new());
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Sends every variant, without a token, to the proxy at `addr` and fails when anything the
/// upstream received resolves under [`PROTECTED`] however leniently it is read, or when no
/// variant reached the upstream at all (then the check would prove nothing).
pub async fn send_every_variant(addr: &str, host: &str, upstream: &super::EchoUpstream) {
    let mut served = 0;
    for variant in VARIANTS {
        let before = upstream.targets().len();
        let status = raw_request(addr, "GET", variant, host, &[]).await;
        let received = upstream.targets()[before..].to_vec();
        served += received.len();
        for target in &received {
            assert!(
                !leniently_under(target, PROTECTED),
                "{variant} reached the upstream as {target} (status {status})"
            );
        }
    }
    assert!(
        served > 0,
        "no variant reached the upstream: the test would prove nothing"
    );
}

/// The path part of a request target as an upstream received it (absolute-form reduced to its
/// path; query and fragment dropped).
pub fn received_path(target: &str) -> &str {
    let without_scheme = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"));
    let path = match without_scheme {
        Some(rest) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Whether a lenient reading of `path` falls under `prefix` on a segment boundary.
pub fn leniently_under(path: &str, prefix: &str) -> bool {
    let read = lenient_reading(received_path(path));
    read == prefix
        || read
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// How the most forgiving upstream could read a path: percent-decoded (repeatedly, as a
/// double-decoding stack would), `\\` taken for `/`, `;` parameters dropped from each segment,
/// empty segments merged, dot segments removed (RFC 3986 §5.2.4).
pub fn lenient_reading(path: &str) -> String {
    let mut text = path.to_owned();
    for _ in 0..3 {
        let decoded = percent_decode(&text);
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let text = text.replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        let segment = segment.split(';').next().unwrap_or(segment);
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

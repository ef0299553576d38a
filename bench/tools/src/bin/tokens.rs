//! Keys and tokens for bench/forward-auth.sh (benchmarks only; never used by Portcullis).
//!
//!     tokens keys DIR ISSUER AUDIENCE SCOPE
//!         Fresh RSA-2048 and Ed25519 keys. Writes DIR/jwks.json (both public keys),
//!         DIR/token.txt (an RS256 access token valid for one hour), DIR/public.pem (the RSA
//!         public key as SubjectPublicKeyInfo PEM, for HAProxy's jwt_verify) and DIR/ed25519.pk8.
//!     tokens flood DIR ISSUER AUDIENCE SCOPE PORT COUNT CONNECTIONS URI
//!         Sends COUNT distinct EdDSA tokens (signed with DIR/ed25519.pk8, one `jti` each), each
//!         once, to http://127.0.0.1:PORT/authz over CONNECTIONS keep-alive connections with
//!         X-Original-Method GET and X-Original-URI URI. Prints `sent N ok N other N seconds S`.
//!         Ed25519 because minting a million RSA tokens would take longer than sending them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn b64(data: &[u8]) -> String {
    b64url(data).replace('-', "+").replace('_', "/") + ["", "===", "==", "="][data.len() * 4 / 3 % 4]
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn payload(issuer: &str, audience: &str, scope: &str, jti: &str) -> String {
    let t = now();
    format!(
        r#"{{"iss":"{issuer}","aud":"{audience}","sub":"bench-client","client_id":"bench","scope":"{scope}","jti":"{jti}","iat":{t},"exp":{}}}"#,
        t + 3600
    )
}

fn signing_input(alg: &str, kid: &str, payload: &str) -> String {
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#);
    format!("{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()))
}

fn die(message: String) -> ! {
    eprintln!("tokens: {message}");
    std::process::exit(1)
}

fn keys(dir: &str, issuer: &str, audience: &str, scope: &str) {
    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|_| die("RSA keygen".into()));
    let pk8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap_or_else(|_| die("Ed25519 keygen".into()));
    let ed = Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap_or_else(|_| die("Ed25519 key".into()));
    let public = rsa.public_key();
    let jwks = format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"bench-rsa","use":"sig","alg":"RS256","n":"{}","e":"{}"}},{{"kty":"OKP","crv":"Ed25519","kid":"bench-ed","use":"sig","alg":"EdDSA","x":"{}"}}]}}"#,
        b64url(public.modulus().big_endian_without_leading_zero()),
        b64url(public.exponent().big_endian_without_leading_zero()),
        b64url(ed.public_key().as_ref()),
    );
    let input = signing_input("RS256", "bench-rsa", &payload(issuer, audience, scope, "bench-rs256"));
    let mut signature = vec![0; rsa.public_modulus_len()];
    rsa.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
        .unwrap_or_else(|_| die("RSA sign".into()));
    let der: PublicKeyX509Der = public.as_der().unwrap_or_else(|_| die("SPKI".into()));
    let body = b64(der.as_ref());
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"));
    std::fs::create_dir_all(dir).unwrap_or_else(|e| die(format!("{dir}: {e}")));
    for (name, content) in [
        ("jwks.json", jwks.into_bytes()),
        ("token.txt", format!("{input}.{}", b64url(&signature)).into_bytes()),
        ("public.pem", pem.into_bytes()),
        ("ed25519.pk8", pk8.as_ref().to_vec()),
    ] {
        std::fs::write(format!("{dir}/{name}"), content).unwrap_or_else(|e| die(format!("{name}: {e}")));
    }
}

/// Reads one HTTP/1.1 response; returns its status, or None when the connection closed.
fn read_response(reader: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(status)
}

#[allow(clippy::too_many_arguments)]
fn flood(dir: &str, issuer: &str, audience: &str, scope: &str, port: &str, count: u64, connections: u64, uri: &str) {
    let pk8 = std::fs::read(format!("{dir}/ed25519.pk8")).unwrap_or_else(|e| die(format!("ed25519.pk8: {e}")));
    let key = Arc::new(Ed25519KeyPair::from_pkcs8(&pk8).unwrap_or_else(|_| die("Ed25519 key".into())));
    let next = Arc::new(AtomicU64::new(0));
    let (ok, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let prefix = format!("flood-{}-", now());
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (key, next, ok, other) = (key.clone(), next.clone(), ok.clone(), other.clone());
            let (issuer, audience, scope, port, uri, prefix) =
                (issuer.to_owned(), audience.to_owned(), scope.to_owned(), port.to_owned(), uri.to_owned(), prefix.clone());
            std::thread::spawn(move || {
                let connect = || {
                    let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap_or_else(|e| die(format!("connect: {e}")));
                    stream.set_nodelay(true).ok();
                    (stream.try_clone().unwrap_or_else(|e| die(format!("clone: {e}"))), BufReader::new(stream))
                };
                let (mut writer, mut reader) = connect();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let input = signing_input("EdDSA", "bench-ed", &payload(&issuer, &audience, &scope, &format!("{prefix}{i}")));
                    let token = format!("{input}.{}", b64url(key.sign(input.as_bytes()).as_ref()));
                    let request = format!(
                        "GET /authz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nX-Original-Method: GET\r\nX-Original-URI: {uri}\r\n\r\n"
                    );
                    let mut status = None;
                    for _ in 0..2 {
                        if writer.write_all(request.as_bytes()).is_ok() {
                            status = read_response(&mut reader);
                        }
                        if status.is_some() {
                            break;
                        }
                        (writer, reader) = connect();
                    }
                    match status {
                        Some(200) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    println!(
        "sent {count} ok {} other {} seconds {:.1}",
        ok.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["keys", dir, issuer, audience, scope] => keys(dir, issuer, audience, scope),
        ["flood", dir, issuer, audience, scope, port, count, connections, uri] => {
            let count = count.parse().unwrap_or_else(|_| die("COUNT must be a number".into()));
            let connections = connections.parse().unwrap_or_else(|_| die("CONNECTIONS must be a number".into()));
            flood(dir, issuer, audience, scope, port, count, connections, uri)
        }
        _ => die("usage: tokens keys DIR ISSUER AUDIENCE SCOPE | tokens flood DIR ISSUER AUDIENCE SCOPE PORT COUNT CONNECTIONS URI".into()),
    }
}

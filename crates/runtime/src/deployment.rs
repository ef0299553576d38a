//! Deployment settings both planes read: which header family describes a request at `/authz`
//! ([`ForwardAuthMode`]) and which proxies' `X-Forwarded-*` headers are believed
//! ([`TrustedProxies`]). The gateway acts on them; the control plane's declarative file sets them.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// The address of the client a request is from: the TCP peer, or, when the peer is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (the left
/// part of the list is whatever the client wrote). An unparsable entry stops the walk at the
/// last address a trusted proxy vouched for.
pub fn client_ip(headers: &http::HeaderMap, peer: SocketAddr, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.ip().to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    // RFC 9110 §5.3: several header lines are one comma-separated list, in order.
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return client;
        };
        hops.extend(text.split(',').map(str::trim));
    }
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, optionally `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

/// The key that stands for a client address in per-client budgets: IPv4 as is, IPv4-mapped
/// IPv6 as IPv4, other IPv6 by its /64 (one subscriber usually holds a whole /64, so
/// per-address keys would hand it 2^64 budgets).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// Which header family describes the original request at `/authz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardAuthMode {
    /// Every family present must agree (default; safe behind any proxy).
    #[default]
    Auto,
    /// `X-Original-*` only (nginx `auth_request`).
    Nginx,
    /// `X-Forwarded-*` only, from trusted proxies (Traefik, Caddy).
    Forwarded,
    /// The `/authz` request itself (Envoy `ext_authz` HTTP service with a path prefix).
    Envoy,
}

impl FromStr for ForwardAuthMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "nginx" => Ok(Self::Nginx),
            "forwarded" => Ok(Self::Forwarded),
            "envoy" => Ok(Self::Envoy),
            other => Err(format!(
                "unknown forward-auth mode `{other}`: use auto, nginx, forwarded or envoy"
            )),
        }
    }
}

impl std::fmt::Display for ForwardAuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Nginx => "nginx",
            Self::Forwarded => "forwarded",
            Self::Envoy => "envoy",
        })
    }
}

/// The proxies whose `X-Forwarded-*` headers are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl Default for TrustedProxies {
    /// Loopback only: a proxy on the same machine.
    fn default() -> Self {
        Self(loopback())
    }
}

fn loopback() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|net| net.parse().ok())
        .collect()
}

impl TrustedProxies {
    /// These networks (an empty list trusts no proxy at all).
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Whether `ip` is a trusted proxy. IPv4-mapped IPv6 peers count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

//! Deployment settings both planes read: which header family describes a request at `/authz`
//! ([`ForwardAuthMode`]) and which proxies' `X-Forwarded-*` headers are believed
//! ([`TrustedProxies`]). The gateway acts on them; the control plane's declarative file sets them.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

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

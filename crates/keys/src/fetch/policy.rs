//! [`FetchPolicy`]: the deployment's outbound-fetch rules and every check that can be made
//! without a connection — the URL (scheme, credentials, length, literal IP hosts), the address
//! rules (forbidden ranges opened by `allow_insecure` / `allowed_networks`) and the whole-answer
//! rule for DNS results — plus the default limits and [`shown`], the one way a URL is put into a
//! message.
//!
//! Nothing here does I/O or builds a client: the resolver (`resolver.rs`) and the redirect policy
//! (`clients.rs`) call these checks; the fetcher (`fetcher.rs`) calls [`FetchPolicy::check_url`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use portcullis_policy::sanitize::untrusted;
use url::{Host, Url};

use super::error::FetchError;
use crate::address::{self, ForbiddenRange};

/// Default connect timeout (DESIGN.md §3).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default total timeout, from connecting to the last body byte (DESIGN.md §3).
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default redirect limit (DESIGN.md §3).
pub const DEFAULT_MAX_REDIRECTS: usize = 3;
/// Default body limit: 1 MiB (DESIGN.md §3).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest URL accepted (the same bound as the configuration check).
pub const MAX_URL_LEN: usize = 2048;

/// The deployment's outbound-fetch rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// `allow_insecure_jwks`: plain `http` to loopback hosts, and loopback addresses, are allowed
    /// (tests and demos only).
    pub allow_insecure: bool,
    /// `allowed_jwks_networks`: forbidden addresses inside these networks may be reached
    /// (on-premises IdPs). Cloud-metadata addresses need an entry naming exactly that address.
    pub allowed_networks: Vec<IpNet>,
    /// Time allowed to establish a connection (DNS included).
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch, redirects and body included.
    pub total_timeout: Duration,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_insecure: false,
            allowed_networks: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl FetchPolicy {
    /// Whether a connection to `ip` is allowed; `Err` names the forbidden range.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), ForbiddenRange> {
        let Some(range) = address::classify(ip) else {
            return Ok(());
        };
        let canonical = address::canonical(ip);
        let listed = |exact_only: bool| {
            self.allowed_networks.iter().any(|net| {
                (!exact_only || net.prefix_len() == net.max_prefix_len())
                    && (net.contains(&ip) || net.contains(&canonical))
            })
        };
        let allowed = match range {
            ForbiddenRange::CloudMetadata => listed(true),
            ForbiddenRange::Loopback => self.allow_insecure || listed(false),
            _ => listed(false),
        };
        if allowed { Ok(()) } else { Err(range) }
    }

    /// Parses `url` and checks every rule that can be checked before connecting.
    pub fn check_url(&self, url: &str) -> Result<Url, FetchError> {
        if url.len() > MAX_URL_LEN {
            return Err(FetchError::InvalidUrl {
                url: untrusted(url),
                reason: format!("longer than {MAX_URL_LEN} characters"),
            });
        }
        let parsed = Url::parse(url).map_err(|err| FetchError::InvalidUrl {
            url: untrusted(url),
            reason: err.to_string(),
        })?;
        self.check_target(&parsed)?;
        Ok(parsed)
    }

    /// The checks applied to the first URL and to every redirect target: scheme, credentials,
    /// and the address when the host is an IP literal (such hosts bypass the resolver).
    pub fn check_target(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if !self.allow_insecure => {
                return Err(FetchError::InsecureScheme { url: shown(url) });
            }
            "http" if !is_loopback_host(url) => {
                return Err(FetchError::HttpNotLoopback { url: shown(url) });
            }
            "http" => {}
            other => {
                return Err(FetchError::UnsupportedScheme {
                    url: shown(url),
                    scheme: untrusted(other),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::CredentialsInUrl { url: shown(url) });
        }
        let ip = match url.host() {
            None => {
                return Err(FetchError::InvalidUrl {
                    url: shown(url),
                    reason: "no host".into(),
                });
            }
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        self.check_address(ip)
            .map_err(|range| FetchError::ForbiddenAddress {
                host: url.host_str().map(untrusted).unwrap_or_default(),
                address: ip,
                range,
            })
    }

    /// Applies the address rules to a DNS answer: every address must be allowed, otherwise the
    /// whole answer is refused (never silently narrowed to the allowed part).
    pub fn check_resolved(
        &self,
        host: &str,
        answers: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, FetchError> {
        if answers.is_empty() {
            return Err(FetchError::NoAddresses {
                host: untrusted(host),
            });
        }
        for answer in &answers {
            self.check_address(answer.ip())
                .map_err(|range| FetchError::ForbiddenAddress {
                    host: untrusted(host),
                    address: answer.ip(),
                    range,
                })?;
        }
        Ok(answers)
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(v4)) => v4.is_loopback(),
        Some(Host::Ipv6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// A URL for messages: credentials removed, control characters escaped, length bounded.
pub(super) fn shown(url: &Url) -> String {
    let mut clean = url.clone();
    if !clean.username().is_empty() || clean.password().is_some() {
        // Setting credentials only fails on URLs that cannot have them, which have none.
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
    }
    untrusted(clean.as_str())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn policy() -> FetchPolicy {
        FetchPolicy::default()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn address_exceptions() {
        let strict = policy();
        assert_eq!(strict.check_address(ip("8.8.8.8")), Ok(()));
        assert_eq!(
            strict.check_address(ip("127.0.0.1")),
            Err(ForbiddenRange::Loopback)
        );

        let insecure = FetchPolicy {
            allow_insecure: true,
            ..policy()
        };
        assert_eq!(insecure.check_address(ip("127.0.0.1")), Ok(()));
        assert_eq!(insecure.check_address(ip("::1")), Ok(()));
        assert_eq!(insecure.check_address(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(
            insecure.check_address(ip("10.0.0.1")),
            Err(ForbiddenRange::Private)
        );
        assert_eq!(
            insecure.check_address(ip("169.254.169.254")),
            Err(ForbiddenRange::CloudMetadata)
        );

        let on_prem = FetchPolicy {
            allowed_networks: vec![
                IpNet::from_str("10.20.0.0/16").unwrap(),
                IpNet::from_str("169.254.0.0/16").unwrap(),
                IpNet::from_str("fd12:3456::/32").unwrap(),
            ],
            ..policy()
        };
        assert_eq!(on_prem.check_address(ip("10.20.1.2")), Ok(()));
        assert_eq!(on_prem.check_address(ip("::ffff:10.20.1.2")), Ok(()));
        assert_eq!(on_prem.check_address(ip("fd12:3456::1")), Ok(()));
        assert_eq!(
            on_prem.check_address(ip("10.21.0.1")),
            Err(ForbiddenRange::Private)
        );
        assert_eq!(on_prem.check_address(ip("169.254.1.1")), Ok(()));
        // A broad range never opens the metadata service ...
        assert_eq!(
            on_prem.check_address(ip("169.254.169.254")),
            Err(ForbiddenRange::CloudMetadata)
        );
        // ... only an entry naming exactly that address does.
        let metadata = FetchPolicy {
            allowed_networks: vec![IpNet::from_str("169.254.169.254/32").unwrap()],
            ..policy()
        };
        assert_eq!(metadata.check_address(ip("169.254.169.254")), Ok(()));
        // Loopback can also be opened by a listed network without allow_insecure.
        let listed_loopback = FetchPolicy {
            allowed_networks: vec![IpNet::from_str("127.0.0.0/8").unwrap()],
            ..policy()
        };
        assert_eq!(listed_loopback.check_address(ip("127.0.0.1")), Ok(()));
    }

    #[test]
    fn dns_answers_with_any_forbidden_address_are_refused_whole() {
        let sock = |text: &str| SocketAddr::new(ip(text), 0);
        let p = policy();
        assert_eq!(
            p.check_resolved("idp.example.com", vec![sock("93.184.216.34")])
                .unwrap()
                .len(),
            1
        );
        let mixed = vec![sock("93.184.216.34"), sock("10.0.0.7")];
        match p.check_resolved("idp.example.com", mixed) {
            Err(FetchError::ForbiddenAddress { address, range, .. }) => {
                assert_eq!(address, ip("10.0.0.7"));
                assert_eq!(range, ForbiddenRange::Private);
            }
            other => panic!("{other:?}"),
        }
        let metadata_first = vec![sock("169.254.169.254"), sock("93.184.216.34")];
        assert!(matches!(
            p.check_resolved("idp.example.com", metadata_first),
            Err(FetchError::ForbiddenAddress {
                range: ForbiddenRange::CloudMetadata,
                ..
            })
        ));
        assert!(matches!(
            p.check_resolved("idp.example.com", vec![]),
            Err(FetchError::NoAddresses { .. })
        ));
    }

    #[test]
    fn url_rules() {
        let strict = policy();
        let insecure = FetchPolicy {
            allow_insecure: true,
            ..policy()
        };
        assert!(strict.check_url("https://idp.example.com/keys").is_ok());
        assert!(strict.check_url("https://8.8.8.8/keys").is_ok());
        let cases: &[(&FetchPolicy, &str, &str)] = &[
            (&strict, "http://127.0.0.1/keys", "insecure_scheme"),
            (&strict, "http://idp.example.com/keys", "insecure_scheme"),
            (
                &insecure,
                "http://idp.example.com/keys",
                "http_not_loopback",
            ),
            (&insecure, "http://10.0.0.1/keys", "http_not_loopback"),
            (&strict, "ftp://idp.example.com/keys", "unsupported_scheme"),
            (&strict, "file:///etc/passwd", "unsupported_scheme"),
            (
                &strict,
                "https://u:p@idp.example.com/",
                "credentials_in_url",
            ),
            (&strict, "https://u@idp.example.com/", "credentials_in_url"),
            (&strict, "https://127.0.0.1/", "forbidden_address"),
            (&strict, "https://0x7f.1/", "forbidden_address"),
            (&strict, "https://2130706433/", "forbidden_address"),
            (&strict, "https://[::1]/", "forbidden_address"),
            (&strict, "https://[::ffff:a9fe:a9fe]/", "forbidden_address"),
            (&strict, "https://10.1.2.3/", "forbidden_address"),
            (&insecure, "https://169.254.169.254/", "forbidden_address"),
            (&insecure, "https://[fd00:ec2::254]/", "forbidden_address"),
            (&strict, "not a url", "invalid_url"),
            (&strict, "/relative", "invalid_url"),
        ];
        for (policy, url, code) in cases {
            let err = policy.check_url(url).unwrap_err();
            assert_eq!(err.code(), *code, "{url}: {err}");
        }
        let long = format!("https://idp.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(strict.check_url(&long).unwrap_err().code(), "invalid_url");
        assert!(insecure.check_url("http://127.0.0.1:8080/keys").is_ok());
        assert!(insecure.check_url("http://localhost:8080/keys").is_ok());
        assert!(insecure.check_url("http://[::1]:8080/keys").is_ok());
    }

    #[test]
    fn credentials_never_appear_in_messages() {
        let err = policy()
            .check_url("https://admin:s3cret@idp.example.com/keys")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("admin"),
            "{text}"
        );
    }
}

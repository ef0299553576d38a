//! Which IP addresses an outbound fetch must never reach (DESIGN.md §3, SSRF defence).
//!
//! [`classify`] is pure and total: it names the special-purpose range an address belongs to, or
//! returns `None` for an ordinary globally routable address. The IANA special-purpose registries
//! (IPv4 and IPv6) are the source; ranges that could carry a private IPv4 address inside an IPv6
//! one (IPv4-mapped, NAT64, 6to4) are judged by the embedded IPv4 address.
//!
//! Whether a forbidden range may be reached anyway (`allowed_jwks_networks`, loopback under
//! `allow_insecure_jwks`) is decided by [`FetchPolicy::check_address`](crate::FetchPolicy::check_address).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of special-purpose range that makes an address unreachable for key fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForbiddenRange {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), IPv6 unique-local `fc00::/7` and the
    /// deprecated site-local `fec0::/10`.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// Shared address space / carrier-grade NAT, `100.64.0.0/10`.
    SharedCgnat,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// TEST-NET-1/2/3, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Cloud instance-metadata services (`169.254.169.254`, `fd00:ec2::254`, ...): only an
    /// explicit single-address entry in `allowed_jwks_networks` opens one.
    CloudMetadata,
    /// Any other special-purpose or unallocated range (`0/8`, `192.0.0/24`, `240/4`, IPv6
    /// outside `2000::/3`, `2001::/23` protocol assignments such as Teredo, ...).
    Reserved,
}

impl ForbiddenRange {
    /// A short admin-facing name for the range.
    pub fn describe(self) -> &'static str {
        match self {
            ForbiddenRange::Loopback => "loopback",
            ForbiddenRange::Private => "private-network",
            ForbiddenRange::LinkLocal => "link-local",
            ForbiddenRange::SharedCgnat => "shared (carrier-grade NAT, 100.64.0.0/10)",
            ForbiddenRange::Multicast => "multicast",
            ForbiddenRange::Unspecified => "unspecified",
            ForbiddenRange::Broadcast => "broadcast",
            ForbiddenRange::Documentation => "documentation",
            ForbiddenRange::Benchmarking => "benchmarking",
            ForbiddenRange::CloudMetadata => "cloud metadata service",
            ForbiddenRange::Reserved => "reserved special-purpose",
        }
    }
}

impl fmt::Display for ForbiddenRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Instance-metadata endpoints of the major clouds (AWS/GCP/Azure/OCI/DigitalOcean, AWS ECS and
/// EKS agents, Alibaba, Oracle classic). Most also fall in a forbidden range; naming them keeps
/// them closed even when an operator allows that range.
const CLOUD_METADATA_V4: [Ipv4Addr; 5] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];
const CLOUD_METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
    Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0023),
];

/// The special-purpose range `ip` belongs to, or `None` for an ordinary public address.
pub fn classify(ip: IpAddr) -> Option<ForbiddenRange> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<ForbiddenRange> {
    use ForbiddenRange::*;
    if CLOUD_METADATA_V4.contains(&ip) {
        return Some(CloudMetadata);
    }
    let range = match ip.octets() {
        [0, 0, 0, 0] => Unspecified,
        [0, ..] => Reserved,
        [10, ..] => Private,
        [100, b, ..] if (64..=127).contains(&b) => SharedCgnat,
        [127, ..] => Loopback,
        [169, 254, ..] => LinkLocal,
        [172, b, ..] if (16..=31).contains(&b) => Private,
        [192, 0, 0, _] => Reserved,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Documentation,
        [192, 88, 99, _] => Reserved,
        [192, 168, ..] => Private,
        [198, 18 | 19, ..] => Benchmarking,
        [255, 255, 255, 255] => Broadcast,
        [224..=239, ..] => Multicast,
        [240..=255, ..] => Reserved,
        _ => return None,
    };
    Some(range)
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn classify_v6(ip: Ipv6Addr) -> Option<ForbiddenRange> {
    use ForbiddenRange::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    if CLOUD_METADATA_V6.contains(&ip) {
        return Some(CloudMetadata);
    }
    let s = ip.segments();
    // ::ffff:a.b.c.d (IPv4-mapped): the connection goes to the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // 64:ff9b::/96 (NAT64 well-known prefix, what DNS64 returns on IPv6-only networks).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded_v4(s[6], s[7]));
    }
    // ::/96 (deprecated IPv4-compatible) and the rest of ::/8.
    if s[0] == 0 {
        return Some(Reserved);
    }
    let range = match s[0] {
        x if x & 0xfe00 == 0xfc00 => Private,
        x if x & 0xffc0 == 0xfe80 => LinkLocal,
        x if x & 0xffc0 == 0xfec0 => Private,
        x if x & 0xff00 == 0xff00 => Multicast,
        0x2001 if s[1] == 0x0db8 => Documentation,
        0x3fff if s[1] & 0xf000 == 0 => Documentation,
        0x2001 if s[1] == 0x0002 && s[2] == 0 => Benchmarking,
        // 2001::/23: IETF protocol assignments (Teredo 2001::/32, ORCHID, AMT, ...).
        0x2001 if s[1] < 0x0200 => Reserved,
        // 2002::/16 (6to4): judged by the embedded IPv4 address.
        0x2002 => return classify_v4(embedded_v4(s[1], s[2])),
        // Only 2000::/3 is allocated global unicast.
        x if x & 0xe000 != 0x2000 => Reserved,
        _ => return None,
    };
    Some(range)
}

/// `ip` with an IPv4-mapped IPv6 address turned into its IPv4 address, so an allowed IPv4
/// network also covers its mapped form.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ForbiddenRange::*;

    /// One row per range boundary: (address, expected class).
    const TABLE: &[(&str, Option<ForbiddenRange>)] = &[
        // IPv4 public controls
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("20.190.128.1", None),
        ("9.255.255.255", None),
        ("11.0.0.0", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("172.15.255.255", None),
        ("172.32.0.0", None),
        ("192.167.255.255", None),
        ("192.169.0.0", None),
        ("198.17.255.255", None),
        ("198.20.0.0", None),
        ("223.255.255.255", None),
        // IPv4 forbidden
        ("0.0.0.0", Some(Unspecified)),
        ("0.1.2.3", Some(Reserved)),
        ("10.0.0.1", Some(Private)),
        ("10.255.255.255", Some(Private)),
        ("100.64.0.1", Some(SharedCgnat)),
        ("100.127.255.255", Some(SharedCgnat)),
        ("100.100.100.200", Some(CloudMetadata)),
        ("127.0.0.1", Some(Loopback)),
        ("127.255.255.254", Some(Loopback)),
        ("169.254.0.1", Some(LinkLocal)),
        ("169.254.169.254", Some(CloudMetadata)),
        ("169.254.170.2", Some(CloudMetadata)),
        ("172.16.0.1", Some(Private)),
        ("172.31.255.255", Some(Private)),
        ("192.0.0.8", Some(Reserved)),
        ("192.0.0.192", Some(CloudMetadata)),
        ("192.0.2.1", Some(Documentation)),
        ("192.88.99.1", Some(Reserved)),
        ("192.168.1.1", Some(Private)),
        ("198.18.0.1", Some(Benchmarking)),
        ("198.19.255.255", Some(Benchmarking)),
        ("198.51.100.7", Some(Documentation)),
        ("203.0.113.9", Some(Documentation)),
        ("224.0.0.1", Some(Multicast)),
        ("239.255.255.250", Some(Multicast)),
        ("240.0.0.1", Some(Reserved)),
        ("255.255.255.255", Some(Broadcast)),
        // IPv6 public controls
        ("2606:4700:4700::1111", None),
        ("2a00:1450:4001:80b::200e", None),
        ("2001:4860:4860::8888", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
        ("::ffff:8.8.8.8", None),
        // IPv6 forbidden
        ("::", Some(Unspecified)),
        ("::1", Some(Loopback)),
        ("::ffff:127.0.0.1", Some(Loopback)),
        ("::ffff:10.0.0.1", Some(Private)),
        ("::ffff:169.254.169.254", Some(CloudMetadata)),
        ("::ffff:0.0.0.0", Some(Unspecified)),
        ("::127.0.0.1", Some(Reserved)),
        ("::10.0.0.1", Some(Reserved)),
        ("64:ff9b::a00:1", Some(Private)),
        ("64:ff9b::7f00:1", Some(Loopback)),
        ("64:ff9b::a9fe:a9fe", Some(CloudMetadata)),
        ("64:ff9b:1::1", Some(Reserved)),
        ("100::1", Some(Reserved)),
        ("fc00::1", Some(Private)),
        ("fdff:ffff::1", Some(Private)),
        ("fd00:ec2::254", Some(CloudMetadata)),
        ("fe80::1", Some(LinkLocal)),
        ("febf::1", Some(LinkLocal)),
        ("fec0::1", Some(Private)),
        ("ff02::1", Some(Multicast)),
        ("2001:db8::1", Some(Documentation)),
        ("3fff::1", Some(Documentation)),
        ("2001:2::1", Some(Benchmarking)),
        ("2001::1", Some(Reserved)),
        ("2001:0:4136:e378::1", Some(Reserved)),
        ("2002:a00:1::1", Some(Private)),
        ("2002:7f00:1::1", Some(Loopback)),
        ("2002:a9fe:a9fe::1", Some(CloudMetadata)),
        ("4000::1", Some(Reserved)),
        ("e000::1", Some(Reserved)),
    ];

    #[test]
    fn classification_table() {
        for (text, expected) in TABLE {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), *expected, "{text}");
        }
    }

    #[test]
    fn canonical_unmaps_ipv4_mapped_only() {
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(canonical(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
        let nat64: IpAddr = "64:ff9b::a01:203".parse().unwrap();
        assert_eq!(canonical(nat64), nat64);
    }
}

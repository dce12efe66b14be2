//! The SSRF guard's table: IPv4 and IPv6 special-purpose address ranges (RFC 6890 and the IANA
//! IPv4/IPv6 Special-Purpose Address Registries, plus multicast, reserved and deprecated space).
//!
//! An x5u host may only be fetched from if **every** address it stands for is outside these
//! ranges, unless the address is inside a network of `FetchPolicy::allow`.
//!
//! IPv6 addresses that embed an IPv4 address the kernel or a translator will actually connect to
//! are judged by the embedded address: IPv4-mapped `::ffff:0:0/96` (a dual-stack socket connects
//! to the IPv4 address) and the NAT64 well-known prefix `64:ff9b::/96` (RFC 6052; DNS64 networks
//! return these for every IPv4-only server, so refusing the whole prefix would break IPv6-only
//! verifiers, while `64:ff9b::7f00:1` — 127.0.0.1 — is refused like 127.0.0.1). The deprecated
//! IPv4-compatible form `::/96`, 6to4 `2002::/16`, Teredo (inside `2001::/23`) and the local-use
//! NAT64 prefix `64:ff9b:1::/48` are refused outright. Everything outside global unicast
//! `2000::/3` is refused as reserved by the IETF.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A special-purpose range an address fell into: why the SSRF guard refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialRange {
    /// The range in CIDR notation, e.g. `127.0.0.0/8`.
    pub cidr: &'static str,
    /// What the range is, with its defining document, e.g. `loopback (RFC 1122)`.
    pub name: &'static str,
}

impl std::fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.cidr, self.name)
    }
}

struct V4 {
    base: u32,
    len: u8,
    range: SpecialRange,
}

struct V6 {
    base: u128,
    len: u8,
    range: SpecialRange,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, cidr: &'static str, name: &'static str) -> V4 {
    V4 { base: u32::from_be_bytes([a, b, c, d]), len, range: SpecialRange { cidr, name } }
}

const fn v6(base: u128, len: u8, cidr: &'static str, name: &'static str) -> V6 {
    V6 { base, len, range: SpecialRange { cidr, name } }
}

/// IPv4 special-purpose ranges. More specific entries first where they overlap, so the reported
/// name is the most precise one (255.255.255.255 is "limited broadcast", not just "reserved").
const V4_TABLE: &[V4] = &[
    v4(0, 0, 0, 0, 8, "0.0.0.0/8", "\"this network\" (RFC 791)"),
    v4(10, 0, 0, 0, 8, "10.0.0.0/8", "private-use (RFC 1918)"),
    v4(100, 64, 0, 0, 10, "100.64.0.0/10", "shared address space / carrier-grade NAT (RFC 6598)"),
    v4(127, 0, 0, 0, 8, "127.0.0.0/8", "loopback (RFC 1122)"),
    v4(169, 254, 0, 0, 16, "169.254.0.0/16", "link-local (RFC 3927)"),
    v4(172, 16, 0, 0, 12, "172.16.0.0/12", "private-use (RFC 1918)"),
    v4(192, 0, 0, 0, 24, "192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    v4(192, 0, 2, 0, 24, "192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    v4(192, 31, 196, 0, 24, "192.31.196.0/24", "AS112-v4 (RFC 7535)"),
    v4(192, 52, 193, 0, 24, "192.52.193.0/24", "AMT (RFC 7450)"),
    v4(192, 88, 99, 0, 24, "192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    v4(192, 168, 0, 0, 16, "192.168.0.0/16", "private-use (RFC 1918)"),
    v4(192, 175, 48, 0, 24, "192.175.48.0/24", "direct delegation AS112 service (RFC 7534)"),
    v4(198, 18, 0, 0, 15, "198.18.0.0/15", "benchmarking (RFC 2544)"),
    v4(198, 51, 100, 0, 24, "198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    v4(203, 0, 113, 0, 24, "203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    v4(224, 0, 0, 0, 4, "224.0.0.0/4", "multicast (RFC 5771)"),
    v4(255, 255, 255, 255, 32, "255.255.255.255/32", "limited broadcast (RFC 919)"),
    v4(240, 0, 0, 0, 4, "240.0.0.0/4", "reserved (RFC 1112)"),
];

/// IPv6 ranges refused outright (the see-through prefixes are handled in [`classify`]).
const V6_TABLE: &[V6] = &[
    v6(0, 128, "::/128", "unspecified (RFC 4291)"),
    v6(1, 128, "::1/128", "loopback (RFC 4291)"),
    v6(0, 96, "::/96", "deprecated IPv4-compatible (RFC 4291)"),
    v6(0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48, "64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"),
    v6(0x0100_0000_0000_0000_0000_0000_0000_0000, 64, "100::/64", "discard-only (RFC 6666)"),
    v6(0x0100_0000_0000_0001_0000_0000_0000_0000, 64, "100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"),
    v6(0x2001_0db8_0000_0000_0000_0000_0000_0000, 32, "2001:db8::/32", "documentation (RFC 3849)"),
    v6(0x2001_0000_0000_0000_0000_0000_0000_0000, 32, "2001::/32", "Teredo (RFC 4380)"),
    v6(0x2001_0000_0000_0000_0000_0000_0000_0000, 23, "2001::/23", "IETF protocol assignments (RFC 2928)"),
    v6(0x2002_0000_0000_0000_0000_0000_0000_0000, 16, "2002::/16", "6to4 (RFC 3056)"),
    v6(
        0x2620_004f_8000_0000_0000_0000_0000_0000,
        48,
        "2620:4f:8000::/48",
        "direct delegation AS112 service (RFC 7534)",
    ),
    v6(0x3fff_0000_0000_0000_0000_0000_0000_0000, 20, "3fff::/20", "documentation (RFC 9637)"),
    v6(0x5f00_0000_0000_0000_0000_0000_0000_0000, 16, "5f00::/16", "segment routing SIDs (RFC 9602)"),
    v6(0xfc00_0000_0000_0000_0000_0000_0000_0000, 7, "fc00::/7", "unique-local (RFC 4193)"),
    v6(0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, "fe80::/10", "link-local (RFC 4291)"),
    v6(0xfec0_0000_0000_0000_0000_0000_0000_0000, 10, "fec0::/10", "deprecated site-local (RFC 3879)"),
    v6(0xff00_0000_0000_0000_0000_0000_0000_0000, 8, "ff00::/8", "multicast (RFC 4291)"),
];

const NOT_GLOBAL_UNICAST: SpecialRange =
    SpecialRange { cidr: "outside 2000::/3", name: "not global unicast: reserved by the IETF (RFC 4291)" };

const MAPPED_PREFIX: u128 = 0xffff_0000_0000;
const NAT64_WKP: u128 = 0x0064_ff9b_0000_0000_0000_0000_0000_0000;

fn in_v4(addr: u32, base: u32, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
    addr & mask == base & mask
}

fn in_v6(addr: u128, base: u128, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
    addr & mask == base & mask
}

/// The IPv4 address an IPv6 address stands for when connecting: IPv4-mapped (`::ffff:a.b.c.d`)
/// and NAT64 well-known-prefix (`64:ff9b::a.b.c.d`) addresses. `None` for every other address.
pub fn embedded_ipv4(addr: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(addr);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if bits >> 32 == MAPPED_PREFIX >> 32 || bits >> 32 == NAT64_WKP >> 32 { Some(low) } else { None }
}

/// Whether `addr` is inside one of `nets`. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) also
/// match IPv4 networks, and IPv4 addresses their mapped form in IPv6 networks: one rule for
/// every allow list (x5u fetches, webhooks, `/metrics`).
pub fn in_networks(nets: &[ipnet::IpNet], addr: IpAddr) -> bool {
    let alternate = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
    };
    nets.iter().any(|net| net.contains(&addr) || alternate.is_some_and(|a| net.contains(&a)))
}

/// The special-purpose range `addr` is in, or `None` when it is an ordinary public unicast address.
///
/// IPv4-mapped and NAT64 well-known-prefix IPv6 addresses are judged by their embedded IPv4
/// address (see the module documentation).
pub fn classify(addr: IpAddr) -> Option<SpecialRange> {
    match addr {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => match embedded_ipv4(a) {
            Some(inner) => classify_v4(inner),
            None => classify_v6(a),
        },
    }
}

fn classify_v4(addr: Ipv4Addr) -> Option<SpecialRange> {
    let bits = u32::from(addr);
    V4_TABLE.iter().find(|e| in_v4(bits, e.base, e.len)).map(|e| e.range)
}

fn classify_v6(addr: Ipv6Addr) -> Option<SpecialRange> {
    let bits = u128::from(addr);
    if let Some(e) = V6_TABLE.iter().find(|e| in_v6(bits, e.base, e.len)) {
        return Some(e.range);
    }
    // IANA allocates global unicast only from 2000::/3; everything else is reserved.
    if !in_v6(bits, 0x2000_0000_0000_0000_0000_0000_0000_0000, 3) {
        return Some(NOT_GLOBAL_UNICAST);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn special(s: &str) -> bool {
        classify(s.parse().expect("test address")).is_some()
    }

    fn cidr(s: &str) -> &'static str {
        classify(s.parse().expect("test address")).expect("special").cidr
    }

    #[test]
    fn ipv4_edges() {
        for (inside, outside) in [
            ("0.0.0.0", "1.0.0.0"),
            ("0.255.255.255", "1.1.1.1"),
            ("10.0.0.0", "9.255.255.255"),
            ("10.255.255.255", "11.0.0.0"),
            ("100.64.0.0", "100.63.255.255"),
            ("100.127.255.255", "100.128.0.0"),
            ("127.0.0.1", "126.255.255.255"),
            ("127.255.255.255", "128.0.0.0"),
            ("169.254.169.254", "169.253.255.255"),
            ("169.254.255.255", "169.255.0.0"),
            ("172.16.0.0", "172.15.255.255"),
            ("172.31.255.255", "172.32.0.0"),
            ("192.0.0.0", "191.255.255.255"),
            ("192.0.0.255", "192.0.1.0"),
            ("192.0.2.255", "192.0.3.0"),
            ("192.168.0.0", "192.167.255.255"),
            ("192.168.255.255", "192.169.0.0"),
            ("198.18.0.0", "198.17.255.255"),
            ("198.19.255.255", "198.20.0.0"),
            ("198.51.100.0", "198.51.99.255"),
            ("203.0.113.255", "203.0.114.0"),
            ("224.0.0.0", "223.255.255.255"),
            ("239.255.255.255", "8.8.8.8"),
            ("240.0.0.0", "192.88.98.255"),
            ("255.255.255.254", "192.88.100.0"),
        ] {
            assert!(special(inside), "{inside} should be special");
            assert!(!special(outside), "{outside} should be ordinary");
        }
        assert_eq!(cidr("255.255.255.255"), "255.255.255.255/32");
        assert_eq!(cidr("255.255.255.254"), "240.0.0.0/4");
        assert_eq!(cidr("127.0.0.1"), "127.0.0.0/8");
        assert_eq!(cidr("169.254.169.254"), "169.254.0.0/16");
        assert_eq!(cidr("100.100.100.100"), "100.64.0.0/10");
    }

    #[test]
    fn ipv6_edges() {
        for s in [
            "::",
            "::1",
            "::2",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b:1::1",
            "100::",
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::5",
            "2001::",
            "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db8::1",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "2002::1",
            "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2620:4f:8000::1",
            "3fff::",
            "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
            "5f00::1",
            "fc00::",
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1",
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fec0::1",
            "ff02::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "4000::",
            "e000::",
            "1::",
        ] {
            assert!(special(s), "{s} should be special");
        }
        for s in [
            "2000::",
            "2001:200::",
            "2001:4860:4860::8888",
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::",
            "2003::",
            "2620:4f:7fff:ffff:ffff:ffff:ffff:ffff",
            "2620:4f:8001::",
            "2606:4700:4700::1111",
            "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "3fff:1000::",
        ] {
            assert!(!special(s), "{s} should be ordinary");
        }
        assert_eq!(cidr("2001:db8::1"), "2001:db8::/32");
        assert_eq!(cidr("2001::1"), "2001::/32");
        assert_eq!(cidr("2001:2::1"), "2001::/23");
        assert_eq!(cidr("::1"), "::1/128");
        assert_eq!(cidr("5f00::1"), "5f00::/16");
        assert_eq!(cidr("5f01::1"), "outside 2000::/3");
    }

    #[test]
    fn embedded_ipv4_is_judged_by_the_ipv4_table() {
        assert_eq!(cidr("::ffff:127.0.0.1"), "127.0.0.0/8");
        assert_eq!(cidr("::ffff:10.1.2.3"), "10.0.0.0/8");
        assert_eq!(cidr("::ffff:169.254.169.254"), "169.254.0.0/16");
        assert_eq!(cidr("::ffff:0.0.0.0"), "0.0.0.0/8");
        assert_eq!(cidr("64:ff9b::7f00:1"), "127.0.0.0/8");
        assert_eq!(cidr("64:ff9b::192.168.1.1"), "192.168.0.0/16");
        assert_eq!(cidr("64:ff9b::100.64.0.1"), "100.64.0.0/10");
        assert!(!special("::ffff:8.8.8.8"));
        assert!(!special("64:ff9b::8.8.8.8"));
        // Neighbours of the see-through prefixes are not see-through.
        assert_eq!(cidr("::fffe:808:808"), "outside 2000::/3");
        assert_eq!(cidr("::808:808"), "::/96");
        assert_eq!(cidr("::1:ffff:808:808"), "outside 2000::/3");
        assert_eq!(cidr("64:ff9b:0:0:0:1:808:808"), "outside 2000::/3");
        assert_eq!(embedded_ipv4("::ffff:1.2.3.4".parse().expect("v6")), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(embedded_ipv4("::1.2.3.4".parse().expect("v6")), None);
    }

    #[test]
    fn tables_are_well_formed() {
        for e in V4_TABLE {
            let net: ipnet::Ipv4Net = e.range.cidr.parse().expect("cidr");
            assert_eq!((u32::from(net.network()), net.prefix_len()), (e.base, e.len), "{}", e.range.cidr);
        }
        for e in V6_TABLE {
            let net: ipnet::Ipv6Net = e.range.cidr.parse().expect("cidr");
            assert_eq!((u128::from(net.network()), net.prefix_len()), (e.base, e.len), "{}", e.range.cidr);
        }
    }
}

//! The safety guard: which addresses the worker may connect to for the URL it
//! scrapes and every redirect hop. Names are resolved by the fetcher and
//! every address is checked here before a connection can be made to it.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Addresses the guard lets through although their range is refused
/// (TRAWL_ALLOW_CIDRS; empty in production, loopback in tests).
#[derive(Clone, Debug, Default)]
pub struct Guard {
    allow: Vec<IpNet>,
}

/// Why an address is refused, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub addr: IpAddr,
    pub range: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to connect to {} ({}); set TRAWL_ALLOW_CIDRS to allow it on purpose",
            self.addr, self.range
        )
    }
}

impl Guard {
    pub fn new(allow: Vec<IpNet>) -> Self {
        Guard { allow }
    }

    /// Parses TRAWL_ALLOW_CIDRS: CIDRs or single addresses separated by
    /// commas or whitespace.
    pub fn parse_allow(spec: &str) -> Result<Vec<IpNet>, String> {
        spec.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "TRAWL_ALLOW_CIDRS: {s:?} is neither a CIDR (127.0.0.0/8) nor an address"
                        )
                    })
            })
            .collect()
    }

    pub fn check(&self, addr: IpAddr) -> Result<(), Refused> {
        match refused_range(addr) {
            Some(range) if !self.allow.iter().any(|net| net.contains(&addr)) => {
                Err(Refused { addr, range })
            }
            _ => Ok(()),
        }
    }
}

/// The refused range an address falls in, if any. IPv6 forms that embed an
/// IPv4 address (mapped, compatible, NAT64) are judged by that address.
pub fn refused_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return refused_v4(v4);
            }
            refused_v6(v6)
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "link-local, cloud metadata service",
        _ if ip == Ipv4Addr::BROADCAST => "broadcast",
        (0, _, _) => "unspecified, 'this network'",
        (10, _, _) => "private",
        (100, 64..=127, _) => "carrier-grade NAT",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (172, 16..=31, _) => "private",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast",
        (192, 168, _) => "private",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    Some(match seg {
        _ if ip == Ipv6Addr::UNSPECIFIED => "unspecified",
        _ if ip == Ipv6Addr::LOCALHOST => "loopback",
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => "link-local, cloud metadata service",
        [s, ..] if s & 0xfe00 == 0xfc00 => "unique local (private)",
        [s, ..] if s & 0xffc0 == 0xfe80 => "link-local",
        [s, ..] if s & 0xffc0 == 0xfec0 => "site-local (deprecated, private)",
        [s, ..] if s & 0xff00 == 0xff00 => "multicast",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x0100, 0, 0, 0, ..] => "discard-only",
        [0x2002, ..] => "6to4 (embeds an IPv4 address)",
        [0x2001, 0, ..] => "Teredo (embeds an IPv4 address)",
        _ => return None,
    })
}

/// IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64
/// (64:ff9b::a.b.c.d) addresses reach the embedded IPv4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let seg = ip.segments();
    let tail = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    match seg {
        // ::1 and :: are IPv6 loopback/unspecified, not compatible addresses.
        [0, 0, 0, 0, 0, 0, 0, 0..=1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> Option<&'static str> {
        refused_range(s.parse().unwrap())
    }

    #[test]
    fn refuses_every_non_public_range() {
        for (addr, range) in [
            ("127.0.0.1", "loopback"),
            ("127.0.0.2", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local, cloud metadata service"),
            ("169.254.170.2", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified, 'this network'"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "link-local, cloud metadata service"),
            ("fd12:3456::1", "unique local (private)"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            (
                "::ffff:169.254.169.254",
                "link-local, cloud metadata service",
            ),
            ("64:ff9b::a00:1", "private"),
            ("::10.0.0.1", "private"),
        ] {
            assert_eq!(refused(addr), Some(range), "{addr}");
        }
    }

    #[test]
    fn lets_public_addresses_through() {
        for addr in [
            "93.184.215.14",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(refused(addr), None, "{addr}");
        }
    }

    #[test]
    fn allow_list_lets_chosen_addresses_through() {
        let guard = Guard::new(Guard::parse_allow("127.0.0.2/32, ::1").unwrap());
        assert!(guard.check("127.0.0.2".parse().unwrap()).is_ok());
        assert!(guard.check("::1".parse().unwrap()).is_ok());
        let err = guard.check("127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to connect to 127.0.0.1 (loopback); set TRAWL_ALLOW_CIDRS to allow it on purpose"
        );
    }

    #[test]
    fn bad_allow_entries_are_named() {
        let err = Guard::parse_allow("127.0.0.0/8,nonsense").unwrap_err();
        assert!(err.contains("\"nonsense\""), "{err}");
        assert!(Guard::parse_allow("").unwrap().is_empty());
    }
}

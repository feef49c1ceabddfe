//! Keeps `http` jobs to public addresses. A tenant chooses the URL, and the
//! worker runs inside the platform: without this, a job could read the
//! metadata server (`169.254.169.254`, the worker's own access token) or any
//! internal service and get the answer back as its result.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use thiserror::Error;
use url::{Host, Url};

/// A destination the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "`{host}` is a private, loopback, link-local or reserved address; http jobs may only reach public hosts"
)]
pub struct BlockedDestination {
    /// The host as the URL named it.
    pub host: String,
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, the metadata server
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || ip.is_documentation()
        || a >= 224; // multicast, reserved, broadcast
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Mapped and compatible forms reach the IPv4 address they carry.
    if let Some(v4) = ip.to_ipv4() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded_v4 = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match segments {
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach an IPv4 address too.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => is_public_v4(embedded_v4(high, low)),
        [0x2002, high, low, ..] => is_public_v4(embedded_v4(high, low)),
        [first, ..] => {
            let reserved = ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
                || (first == 0x2001 && segments[1] == 0x0db8); // documentation
            !reserved
        }
    }
}

/// Refuses a URL whose host is a literal non-public address (names are checked by [`PublicOnlyResolver`]).
pub fn check_literal_host(url: &Url) -> Result<(), BlockedDestination> {
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(Host::Domain(_)) | None => return Ok(()),
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(BlockedDestination {
            host: ip.to_string(),
        })
    }
}

/// A DNS resolver that drops non-public addresses, so a name pointing at
/// one (`metadata.google.internal`, `localhost`, a rebinding trick) cannot be
/// connected to: the connection uses exactly the addresses checked here.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = resolved.filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(BlockedDestination { host }.into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public(ip.parse().expect("an IP address"))
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "142.250.74.78",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip), "{ip} must pass");
        }
    }

    #[test]
    fn literal_hosts_are_checked_and_names_left_to_the_resolver() {
        let url = |s: &str| Url::parse(s).expect("a URL");
        assert!(check_literal_host(&url("http://169.254.169.254/computeMetadata/v1/")).is_err());
        assert!(check_literal_host(&url("http://[::1]:8080/")).is_err());
        assert!(check_literal_host(&url("https://example.com/")).is_ok());
        assert!(check_literal_host(&url("https://8.8.8.8/")).is_ok());
    }
}

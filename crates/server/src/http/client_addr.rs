//! The client's address, as the per-IP rate limit and the sign-in throttle count it.
//!
//! It is the TCP peer, unless the peer is one of the configured trusted proxies:
//! then it is the nearest address in `X-Forwarded-For` that is not a trusted proxy,
//! walking from the right (each proxy appends the address it saw, so only the
//! entries our own proxies added can be believed). Without trusted proxies the
//! header is ignored: any client can write whatever it likes there. So is
//! `X-Forwarded-Proto` (the scheme the client used), which the accept loop removes
//! from every request whose peer is not a trusted proxy.

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Set on every request by the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Whether the TCP peer is one of the trusted proxies.
pub fn is_trusted_proxy(peer: IpAddr, trusted: &[IpNet]) -> bool {
    let peer = peer.to_canonical();
    trusted.iter().any(|net| net.contains(&peer))
}

/// Whether `X-Forwarded-Proto` says https; of a list, the last entry counts (the one
/// the nearest proxy, ours, added). The accept loop removes the header from requests
/// whose peer is not a trusted proxy, so what is left here is our proxy's word.
pub fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get_all(&FORWARDED_PROTO)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

pub static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The client's address. `peer_is_proxy` is `is_trusted_proxy(peer, trusted)`, which
/// the accept loop asks once per connection, not once per request.
pub fn resolve(
    peer: IpAddr,
    peer_is_proxy: bool,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> IpAddr {
    if !peer_is_proxy {
        return peer.to_canonical();
    }
    let is_trusted = |ip: &IpAddr| is_trusted_proxy(*ip, trusted);
    let mut client = peer.to_canonical();
    // Several X-Forwarded-For lines count as one list, in order (RFC 9110, 5.3).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // A garbled entry: the proxy that relayed it is as far as we can see.
            return client;
        };
        client = ip;
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

/// `1.2.3.4`, `2001:db8::1`, and the forms with a port some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// Parses `10.0.0.0/8`, `192.168.1.7` or `::1` (a lone address is a network of one).
pub fn parse_trusted(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("not an IP address or network: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    /// `resolve` as the accept loop calls it.
    fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
        resolve(peer, is_trusted_proxy(peer, trusted), headers, trusted)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let h = headers(&["203.0.113.9"]);
        assert_eq!(client(ip("198.51.100.1"), &h, &[]), ip("198.51.100.1"));
    }

    #[test]
    fn a_trusted_proxy_hands_over_the_nearest_untrusted_hop() {
        let trusted = [
            parse_trusted("10.0.0.0/8").unwrap(),
            parse_trusted("127.0.0.1").unwrap(),
        ];
        // The client forged the first entry; our proxies appended the rest.
        let h = headers(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Not from a trusted peer: the header counts for nothing.
        assert_eq!(client(ip("198.51.100.1"), &h, &trusted), ip("198.51.100.1"));
        // No header: the proxy itself.
        assert_eq!(
            client(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        // All hops trusted: the leftmost.
        let h = headers(&["10.9.9.9, 10.0.0.2"]);
        assert_eq!(client(ip("127.0.0.1"), &h, &trusted), ip("10.9.9.9"));
        // Garbage stops the walk at the hop that relayed it.
        let h = headers(&["203.0.113.9, bogus, 10.0.0.2"]);
        assert_eq!(client(ip("127.0.0.1"), &h, &trusted), ip("10.0.0.2"));
        // Ports and IPv4-mapped IPv6 addresses.
        let h = headers(&["203.0.113.9:4711"]);
        assert_eq!(
            client(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("203.0.113.9")
        );
        let h = headers(&["[2001:db8::7]:443"]);
        assert_eq!(client(ip("127.0.0.1"), &h, &trusted), ip("2001:db8::7"));
    }

    #[test]
    fn trusted_networks_parse() {
        assert!(parse_trusted("10.0.0.0/8").is_ok());
        assert!(parse_trusted(" ::1 ").is_ok());
        assert!(parse_trusted("fd00::/8").is_ok());
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("proxy.local").is_err());
    }
}

//! Who a request came from when reverse proxies stand in front: the
//! `--trusted-proxy` networks, whose `X-Forwarded-For` names the client.
//! Used by the node and the hub for per-address login limits and display
//! connection counts.

use std::net::{IpAddr, SocketAddr};

/// The reverse proxies in front of a node or the hub (`--trusted-proxy`), whose
/// `X-Forwarded-For` names the client. From anyone else the header is
/// ignored: a client cannot choose the address its failed logins and
/// display feeds count against.
#[derive(Debug, Default)]
pub struct TrustedProxies(std::sync::RwLock<Vec<ipnet::IpNet>>);

/// `X-Forwarded-For` entries looked at, from the right: a longer chain is
/// cut there (its left part is the client's own claim anyway).
const MAX_FORWARDED_HOPS: usize = 16;

impl TrustedProxies {
    pub fn set(&self, nets: Vec<ipnet::IpNet>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = nets;
    }

    fn trusts(nets: &[ipnet::IpNet], ip: IpAddr) -> bool {
        let ip = canonical(ip);
        let mapped = match ip {
            IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V6(_) => None,
        };
        nets.iter()
            .any(|n| n.contains(&ip) || mapped.is_some_and(|m| n.contains(&m)))
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy,
    /// the right-most `X-Forwarded-For` entry that is not a trusted proxy
    /// (entries may carry a port; empty ones are skipped).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let nets = self.0.read().unwrap_or_else(|p| p.into_inner());
        let mut client = canonical(peer);
        if nets.is_empty() || !Self::trusts(&nets, client) {
            return client;
        }
        let hops = forwarded_for
            .iter()
            .rev()
            .flat_map(|v| v.rsplit(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .take(MAX_FORWARDED_HOPS);
        for hop in hops {
            match forwarded_ip(hop) {
                Some(ip) => {
                    client = canonical(ip);
                    if !Self::trusts(&nets, client) {
                        break;
                    }
                }
                // Garbage in the chain: the last address we could trust stands.
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]` or `[::1]:80`.
fn forwarded_ip(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            hop.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })
}

/// An IPv4 address seen as `::ffff:a.b.c.d` is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses a `--trusted-proxy` value: a network (`10.0.0.0/8`) or one address.
pub fn parse_trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a network such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_entries_with_ports_brackets_and_gaps_are_read() {
        let p = TrustedProxies::default();
        p.set(vec![parse_trusted_proxy("10.0.0.3").expect("net")]);
        let peer: IpAddr = "::ffff:10.0.0.3".parse().expect("peer");
        let h = ["9.9.9.9", "203.0.113.7:5678, ,"];
        assert_eq!(p.client(peer, &h).to_string(), "203.0.113.7");
        let h = ["[2001:db8::9]:80"];
        assert_eq!(p.client(peer, &h).to_string(), "2001:db8::9");
        // From an untrusted peer the header is ignored.
        let other: IpAddr = "192.168.1.9".parse().expect("peer");
        assert_eq!(p.client(other, &h), other);
        // A network written IPv4-mapped trusts the plain IPv4 peer too.
        p.set(vec![
            parse_trusted_proxy("::ffff:10.0.0.0/104").expect("net")
        ]);
        assert_eq!(p.client(peer, &h).to_string(), "2001:db8::9");
    }
}

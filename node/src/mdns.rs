//! mDNS: the node advertises `_pvm-display._tcp.local.` (TXT: venue, node
//! id, version, path, the node's ed25519 public key) for wall displays and
//! kiosks, and `_http._tcp.local.` for the staff UI. Only on LAN interfaces:
//! never Docker bridges or other virtual links (mdns-sd #295), and loopback
//! only when asked for by name. mdns-sd follows address changes itself and
//! re-announces. mDNS is unauthenticated: kiosks check a challenge signed
//! by the key in the TXT record before they trust an address.

use crate::identity::NodeIdentity;
use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

pub const DISPLAY_SERVICE: &str = "_pvm-display._tcp.local.";
pub const HTTP_SERVICE: &str = "_http._tcp.local.";

/// Where to advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MdnsMode {
    Off,
    /// Every LAN interface (not loopback, not bridges or virtual links).
    Auto,
    /// These interfaces by name (`lo` included if named).
    Only(Vec<String>),
}

impl std::str::FromStr for MdnsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<MdnsMode, String> {
        match s.trim() {
            "off" => Ok(MdnsMode::Off),
            "auto" | "" => Ok(MdnsMode::Auto),
            list => {
                let names: Vec<String> = list.split(',').map(|n| n.trim().to_owned()).collect();
                if names.iter().any(|n| {
                    n.is_empty()
                        || !n
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
                }) {
                    return Err(format!(
                        "{list:?}: give off, auto, or interface names like eth0,wlan0"
                    ));
                }
                Ok(MdnsMode::Only(names))
            }
        }
    }
}

/// Virtual links a venue's screens are never on.
fn virtual_link(name: &str) -> bool {
    [
        "docker", "br-", "veth", "virbr", "lo", "tun", "tap", "wg", "zt", "cni", "flannel",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Starts advertising; the daemon stops when the returned handle is dropped or shut down.
pub fn advertise(
    mode: &MdnsMode,
    identity: &NodeIdentity,
    port: u16,
) -> Result<Option<ServiceDaemon>, mdns_sd::Error> {
    use base64::Engine;
    let names: Vec<String> = match mode {
        MdnsMode::Off => return Ok(None),
        MdnsMode::Only(names) => names.clone(),
        MdnsMode::Auto => if_addrs::get_if_addrs()
            .map(|ifs| {
                ifs.into_iter()
                    .filter(|i| i.ip().is_ipv4() && !i.is_loopback() && !virtual_link(&i.name))
                    .map(|i| i.name)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let daemon = ServiceDaemon::new()?;
    daemon.disable_interface(IfKind::All)?;
    for name in &names {
        if name == "lo" {
            daemon.enable_interface(IfKind::LoopbackV4)?;
        }
        daemon.enable_interface(IfKind::Name(name.clone()))?;
    }
    let node = identity.node_id.to_string();
    let key =
        base64::engine::general_purpose::STANDARD.encode(identity.key.verifying_key().as_bytes());
    let host = format!("pvm-{}.local.", &node[..8]);
    let txt = [
        ("venue", identity.venue_id.to_string()),
        ("node", node.clone()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("path", "/display".to_string()),
        ("key", key),
    ];
    let display = ServiceInfo::new(
        DISPLAY_SERVICE,
        &format!("pvm-{node}"),
        &host,
        (),
        port,
        &txt[..],
    )?
    .enable_addr_auto();
    daemon.register(display)?;
    let http = ServiceInfo::new(
        HTTP_SERVICE,
        &format!("PVM staff {}", &node[..8]),
        &host,
        (),
        port,
        &[("path", "/")][..],
    )?
    .enable_addr_auto();
    daemon.register(http)?;
    tracing::info!(interfaces = ?names, "advertising over mDNS");
    Ok(Some(daemon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_staff_write_them() {
        assert_eq!("off".parse(), Ok(MdnsMode::Off));
        assert_eq!("auto".parse(), Ok(MdnsMode::Auto));
        assert_eq!(
            "eth0, wlan0".parse(),
            Ok(MdnsMode::Only(vec!["eth0".into(), "wlan0".into()]))
        );
        assert!("eth0;rm".parse::<MdnsMode>().is_err());
        assert!(
            virtual_link("docker0")
                && virtual_link("br-1234")
                && virtual_link("veth9")
                && !virtual_link("eth0")
        );
    }
}

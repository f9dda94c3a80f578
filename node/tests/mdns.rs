//! mDNS on loopback multicast (never an outside network): a browser for
//! `_pvm-display._tcp.local.` finds the node with the right TXT records.

mod common;

use common::TestNode;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_browser_on_loopback_finds_the_node_with_its_txt_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = common::admin_create(dir.path(), common::ADMIN, "admin", common::ADMIN_PASSWORD);
    assert!(out.status.success());
    let node = TestNode::start_bare_at(dir.path(), "127.0.0.1:0", &["--mdns", "lo"])
        .unwrap_or_else(|e| panic!("{e}"));
    let info: serde_json::Value = common::client()
        .get(node.api("/api/v1/node"))
        .send()
        .await
        .expect("node")
        .json()
        .await
        .expect("json");
    let node_id = info["node_id"].as_str().expect("node id").to_owned();
    let port: u16 = node
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    let daemon = ServiceDaemon::new().expect("daemon");
    daemon.disable_interface(IfKind::All).expect("off");
    daemon.enable_interface(IfKind::LoopbackV4).expect("lo");
    daemon
        .enable_interface(IfKind::Name("lo".into()))
        .expect("lo by name");
    let events = daemon.browse("_pvm-display._tcp.local.").expect("browse");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        if let Ok(ServiceEvent::ServiceResolved(s)) =
            events.recv_timeout(Duration::from_millis(500))
        {
            if s.get_property_val_str("node") == Some(node_id.as_str()) {
                found = Some(s);
            }
        }
    }
    let s = found.unwrap_or_else(|| {
        panic!(
            "the node was not found over mDNS on lo; logs: {}",
            node.logs()
        )
    });
    assert_eq!(s.get_port(), port);
    assert_eq!(s.get_property_val_str("venue"), info["venue_id"].as_str());
    assert_eq!(s.get_property_val_str("path"), Some("/display"));
    assert_eq!(
        s.get_property_val_str("version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let key = s.get_property_val_str("key").expect("key").to_owned();
    // The key in the TXT record is the one the node signs kiosk challenges with.
    let nonce = "00112233445566778899aabbccddeeff";
    let ch: serde_json::Value = common::client()
        .get(node.api(&format!("/display/challenge?nonce={nonce}")))
        .send()
        .await
        .expect("challenge")
        .json()
        .await
        .expect("json");
    assert_eq!(ch["public_key"], key.as_str());
    assert!(
        s.get_addresses_v4().iter().any(|a| a.is_loopback()),
        "advertised on loopback only"
    );
    let _ = daemon.shutdown();
}

//! Wall screens that never go dark, in a real headless Chromium: a screen
//! on the node's display page follows the hub's copy of the venue when the
//! node dies, opens from its service worker with the last state marked stale
//! when the browser restarts while node and hub are both down, and returns
//! to the node when it is back. Real pvm-node, pvm-cloud, hub and leaf
//! nats-servers on loopback.

#[path = "../../node/tests/common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const DEVICE: &str = "bar-tv";

/// With `PVM_SCREENSHOT_DIR` set, keeps a screenshot of each state there (to look at).
async fn shot(b: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
        b.screenshot(&std::path::Path::new(&dir).join(name)).await;
    }
}

/// Polls `script` (a JS expression) until it is true.
async fn until_js(b: &Browser, script: &str, within: Duration, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        if b.eval(&format!("return !!({script});")).await == Value::Bool(true) {
            return start.elapsed();
        }
        if start.elapsed() > within {
            let state = b
                .eval("return [document.body.getAttribute('data-feed'), document.body.getAttribute('data-connected'), document.body.getAttribute('data-stale'), document.title, document.getElementById('status') && document.getElementById('status').textContent].join(' | ');")
                .await;
            panic!("{what}: not within {within:?} (feed | connected | stale | title | status: {state})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_screen_follows_the_hub_while_the_node_is_down_and_keeps_its_last_state_across_a_restart()
{
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let mut cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Riverside Card Room").await;
    let leaf = Leaf::start(&node_dir);
    // A fixed port: the screen's page lives at the node's address, which a
    // restarted node keeps.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut node = NodeProc::start_at(&node_dir, &leaf, &listen, &[]);
    let token = node.token().await;

    // A name only this venue has, so the screen's title says whose state it shows.
    let http = reqwest::Client::new();
    let mut settings: Value = http
        .get(format!("{}/api/v1/venue", node.url))
        .send()
        .await
        .expect("venue")
        .json()
        .await
        .expect("json");
    settings["name"] = Value::from("Fallback Club");
    let put = http
        .put(format!("{}/api/v1/venue", node.url))
        .bearer_auth(&token)
        .json(&settings)
        .send()
        .await
        .expect("put venue");
    assert!(
        put.status().is_success(),
        "{}",
        put.text().await.unwrap_or_default()
    );
    until(
        Duration::from_secs(20),
        "the venue reaches the hub",
        || async { node.sync(&token).await["pending"] == 0 },
    )
    .await;

    // The page names the hub's copy and the manifest; the worker and
    // manifest are served.
    let page = http
        .get(format!("{}/display/{DEVICE}", node.url))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let fallback = format!("{}/venues/{venue}", cloud.url);
    assert!(
        page.contains(&format!("data-fallback=\"{fallback}\"")),
        "{page}"
    );
    assert!(page.contains("rel=\"manifest\""), "{page}");
    let manifest: Value = http
        .get(format!("{}/display/manifest.webmanifest", node.url))
        .send()
        .await
        .expect("manifest")
        .json()
        .await
        .expect("manifest json");
    assert_eq!(manifest["display"], "fullscreen");
    assert_eq!(manifest["start_url"], "/display");
    let sw = http
        .get(format!("{}/display/sw.js", node.url))
        .send()
        .await
        .expect("sw");
    assert_eq!(
        sw.headers()
            .get("service-worker-allowed")
            .and_then(|v| v.to_str().ok()),
        Some("/display")
    );

    let profile = tmp.path().join("tv-profile");
    std::fs::create_dir_all(&profile).expect("profile");
    let screen = format!("{}/display/{DEVICE}", node.url);
    let b = Browser::start_in(1280, 720, &profile).await;
    b.goto(&screen).await;
    until_js(
        &b,
        "document.body.getAttribute('data-feed') === 'node' && document.body.getAttribute('data-connected') === 'yes' && document.title === 'Fallback Club'",
        Duration::from_secs(15),
        "the screen shows the node's feed",
    )
    .await;
    until_js(
        &b,
        "navigator.serviceWorker.controller !== null",
        Duration::from_secs(15),
        "the service worker controls the screen",
    )
    .await;
    until_js(
        &b,
        &format!("window.localStorage.getItem('pvm-last-{DEVICE}') !== null"),
        Duration::from_secs(10),
        "the screen keeps its last state",
    )
    .await;
    until_js(
        &b,
        "document.getElementById('delayed').className === 'hidden'",
        Duration::from_secs(2),
        "no 'possibly delayed' mark on the node's feed",
    )
    .await;

    // The node dies: the screen follows the hub, marked possibly delayed.
    node.proc.kill();
    let took = until_js(
        &b,
        "document.body.getAttribute('data-feed') === 'hub' && document.body.getAttribute('data-connected') === 'yes' && document.title === 'Fallback Club' && document.getElementById('delayed').className === ''",
        Duration::from_secs(10),
        "the screen shows the hub's feed after the node died",
    )
    .await;
    println!("node killed: the hub's feed on screen after {took:?}");
    shot(&b, "fallback-hub.png").await;
    b.quit().await;

    // The TV reboots while the node is still down, and the internet is gone too.
    cloud.proc.kill();
    let b = Browser::start_in(1280, 720, &profile).await;
    b.goto(&screen).await;
    let took = until_js(
        &b,
        "document.body.getAttribute('data-stale') === 'yes' && document.title === 'Fallback Club' && document.getElementById('status').textContent.indexOf('last known state') >= 0",
        Duration::from_secs(15),
        "after a restart with node and hub down, the last state marked stale",
    )
    .await;
    println!("browser restarted, node and hub down: last state shown after {took:?}");
    shot(&b, "fallback-stale.png").await;

    // The node comes back at its address: the screen returns to it.
    let node = NodeProc::start_at(&node_dir, &leaf, &listen, &[]);
    let took = until_js(
        &b,
        "document.body.getAttribute('data-feed') === 'node' && document.body.getAttribute('data-connected') === 'yes' && document.body.getAttribute('data-stale') === 'no' && document.getElementById('delayed').className === 'hidden'",
        Duration::from_secs(20),
        "the screen returns to the node",
    )
    .await;
    println!("node back: its feed on screen after {took:?}");
    shot(&b, "fallback-node-back.png").await;
    b.quit().await;
    drop(node);
}

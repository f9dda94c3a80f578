//! The display feed under bad input: unknown or malformed ids, garbage on
//! the WebSocket, a screen that never reads, too many unnamed screens. None
//! of it may hurt other screens or the node's memory.

mod common;

use common::TestNode;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(node: &TestNode, device: &str) -> Ws {
    let url = format!(
        "{}/display/ws/{device}",
        node.url.replace("http://", "ws://")
    );
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects")
        .0
}

/// The next JSON frame of `kind`, skipping others.
async fn next_of(ws: &mut Ws, kind: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame within {within:?}"))
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("json frame");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

async fn announce(node: &TestNode, text: &str) {
    let resp = node
        .client()
        .post(node.api("/api/v1/announcements"))
        .json(&json!({"text": text, "minutes": 5}))
        .send()
        .await
        .expect("announce");
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn malformed_ids_are_refused_with_a_clear_error_and_new_ones_are_welcome() {
    let node = TestNode::start();
    let c = common::client();
    for bad in ["has%20space", "semi;colon", &"x".repeat(65)] {
        let resp = c
            .get(node.api(&format!("/display/{bad}")))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status().as_u16(), 404, "{bad}");
        let body: Value = resp.json().await.expect("json error");
        assert_eq!(body["error"]["code"], "not_found");
        let ws = tokio_tungstenite::connect_async(format!(
            "{}/display/ws/{bad}",
            node.url.replace("http://", "ws://")
        ))
        .await;
        assert!(ws.is_err(), "no socket for {bad}");
    }
    let resp = c
        .get(node.api("/display/new-tv_1"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    let page = resp.text().await.expect("page");
    assert!(page.contains("data-device=\"new-tv_1\""));
    let resp = c
        .get(node.api("/display/challenge?nonce=xyz"))
        .send()
        .await
        .expect("challenge");
    assert_eq!(resp.status().as_u16(), 422, "a nonce that is not hex");
}

#[tokio::test]
async fn garbage_is_ignored_then_cut_off_without_touching_other_screens() {
    let node = TestNode::start();
    let mut good = connect(&node, "good-tv").await;
    let snap = next_of(&mut good, "snapshot", Duration::from_secs(2)).await;
    assert_eq!(snap["device"]["id"], "good-tv");
    assert!(snap["parts"]["clocks"].is_object() && snap["parts"]["announcements"].is_array());
    let mut bad = connect(&node, "bad-tv").await;
    next_of(&mut bad, "snapshot", Duration::from_secs(2)).await;
    // A ping is answered with the server's time.
    bad.send(Message::Text(
        json!({"type": "ping", "t": 12345}).to_string().into(),
    ))
    .await
    .expect("ping");
    let pong = next_of(&mut bad, "pong", Duration::from_secs(2)).await;
    assert_eq!(pong["t"], 12345.0);
    assert!(pong["server_ms"].as_u64() > Some(1_700_000_000_000));
    for i in 0..30 {
        let frame = match i % 3 {
            0 => Message::Text("not json".into()),
            1 => Message::Text("{\"type\":\"launch\"}".into()),
            _ => Message::Binary(vec![0u8; 100].into()),
        };
        if bad.send(frame).await.is_err() {
            break;
        }
    }
    // The noisy screen is cut off...
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match bad.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "the noisy screen was cut off");
    // ...and a frame far over the size limit is refused too.
    let mut big = connect(&node, "big-tv").await;
    next_of(&mut big, "snapshot", Duration::from_secs(2)).await;
    let _ = big.send(Message::Text("x".repeat(100_000).into())).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match big.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "an oversized frame ends the connection");
    // The good screen still gets every change.
    announce(&node, "Still here").await;
    let delta = next_of(&mut good, "delta", Duration::from_secs(2)).await;
    assert_eq!(delta["parts"]["announcements"][0]["text"], "Still here");
    assert!(
        delta["parts"].get("venue").is_none(),
        "a delta carries only what changed"
    );
}

#[tokio::test]
async fn a_screen_that_never_reads_does_not_hold_up_others_or_grow_the_node() {
    let node = TestNode::start();
    // A screen that connects and then never reads a byte.
    let mut stuck = Vec::new();
    for i in 0..20 {
        stuck.push(connect(&node, &format!("stuck-{i}")).await);
    }
    let mut good = connect(&node, "good-tv").await;
    next_of(&mut good, "snapshot", Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = node.rss_kb();
    let mut worst = Duration::ZERO;
    for i in 0..200 {
        let t = Instant::now();
        announce(&node, &format!("Change {i} {}", "x".repeat(200))).await;
        // Every change reaches the reading screen quickly.
        loop {
            let d = next_of(&mut good, "delta", Duration::from_secs(2)).await;
            let list = d["parts"]["announcements"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if list.iter().any(|a| {
                a["text"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&format!("Change {i} ")))
            }) {
                break;
            }
        }
        worst = worst.max(t.elapsed());
    }
    let rss_after = node.rss_kb();
    eprintln!("worst delivery {worst:?}; node RSS {rss_before} kB -> {rss_after} kB with 20 screens not reading");
    assert!(
        worst < Duration::from_secs(1),
        "a stuck screen slowed the others: {worst:?}"
    );
    assert!(
        rss_after < rss_before + 32 * 1024,
        "node memory grew from {rss_before} kB to {rss_after} kB"
    );
    drop(stuck);
}

#[tokio::test]
async fn too_many_unnamed_screens_are_refused_and_named_ones_still_connect() {
    // All from this one address: the per-address limit is raised past them.
    let node = TestNode::start_with(&["--display-max-per-address", "1000"]);
    let mut open = Vec::new();
    for i in 0..500 {
        open.push(connect(&node, &format!("flood-{i}")).await);
    }
    let url = format!(
        "{}/display/ws/flood-extra",
        node.url.replace("http://", "ws://")
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 429)
        }
        other => panic!(
            "the 501st unnamed screen was let in: {:?}",
            other.map(|_| ())
        ),
    }
    // A screen staff named gets in regardless.
    let resp = node
        .client()
        .put(node.api("/api/v1/displays/named-tv"))
        .json(&json!({"name": "Named"}))
        .send()
        .await
        .expect("name");
    assert_eq!(resp.status().as_u16(), 204);
    let mut named = connect(&node, "named-tv").await;
    let snap = next_of(&mut named, "snapshot", Duration::from_secs(3)).await;
    assert_eq!(snap["device"]["name"], "Named");
    drop(open);
}

/// Reads SSE `data:` payloads (with their ids) until `n` have arrived.
async fn sse_events(resp: &mut reqwest::Response, n: usize) -> Vec<(Option<String>, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .expect("an event within 5 s")
            .expect("stream")
            .expect("open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id:").map(|v| v.trim().to_owned()));
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                out.push((id, serde_json::from_str(data.trim()).expect("json event")));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_sse_fallback_sends_a_snapshot_then_changes_and_resumes_by_last_event_id() {
    let node = TestNode::start();
    let c = common::client();
    let mut resp = c
        .get(node.api("/display/events/sse-tv"))
        .send()
        .await
        .expect("sse");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let first = sse_events(&mut resp, 1).await;
    let (id, snap) = &first[0];
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["device"]["id"], "sse-tv");
    let id = id.clone().expect("the snapshot has an id");
    announce(&node, "Over SSE").await;
    let later = sse_events(&mut resp, 3).await;
    let change = later
        .iter()
        .find(|(_, v)| v["type"] == "snapshot")
        .expect("the change arrives as a snapshot");
    assert_eq!(change.1["parts"]["announcements"][0]["text"], "Over SSE");
    let latest = change.0.clone().expect("id");
    assert_ne!(latest, id);
    drop(resp);
    // Reconnecting with the latest id: nothing is sent again, only ticks.
    let mut again = c
        .get(node.api("/display/events/sse-tv"))
        .header("Last-Event-ID", latest)
        .send()
        .await
        .expect("sse again");
    let next = sse_events(&mut again, 1).await;
    assert_eq!(
        next[0].1["type"], "tick",
        "no repeat of what the screen has"
    );
    // With an old id it catches up in one snapshot.
    let mut old = c
        .get(node.api("/display/events/sse-tv"))
        .header("Last-Event-ID", id)
        .send()
        .await
        .expect("sse old");
    let next = sse_events(&mut old, 1).await;
    assert_eq!(next[0].1["type"], "snapshot");
}

#[tokio::test]
async fn images_upload_for_slides_and_the_logo_and_nothing_else_gets_in() {
    let node = TestNode::start();
    let c = node.client();
    let up = |body: Vec<u8>| {
        let req = c.post(node.api("/api/v1/media")).body(body);
        async move { req.send().await.expect("upload") }
    };
    let resp = up(common::GREEN_PNG.to_vec()).await;
    assert_eq!(resp.status().as_u16(), 201);
    let uploaded: Value = resp.json().await.expect("json");
    let name = uploaded["name"].as_str().expect("name").to_owned();
    let img = common::client()
        .get(node.api(&format!("/display/media/{name}")))
        .send()
        .await
        .expect("get image");
    assert_eq!(img.headers()["content-type"], "image/png");
    assert_eq!(
        img.bytes().await.expect("bytes").as_ref(),
        common::GREEN_PNG
    );
    let resp = up(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec()).await;
    assert_eq!(resp.status().as_u16(), 415);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["error"]["message"],
        "only PNG, JPEG and WebP images can be shown"
    );
    let mut big = common::GREEN_PNG.to_vec();
    big.resize(3 * 1024 * 1024, 0);
    // Its own connection: the node answers 413 and closes it mid-upload.
    let resp = node
        .client()
        .post(node.api("/api/v1/media"))
        .body(big)
        .send()
        .await;
    assert!(
        resp.map_or(true, |r| r.status().as_u16() == 413),
        "an image over 2 MiB is refused"
    );
    // A slide may only name an image uploaded here.
    let resp = c
        .post(node.api("/api/v1/slides"))
        .json(&json!({"title": "Ghost", "image": format!("{}.png", "a".repeat(32))}))
        .send()
        .await
        .expect("slide");
    assert_eq!(resp.status().as_u16(), 422);
    let resp = c
        .put(node.api("/api/v1/display-logo"))
        .json(&json!({"image": name}))
        .send()
        .await
        .expect("logo");
    assert_eq!(resp.status().as_u16(), 204);
    let mut ws = connect(&node, "logo-tv").await;
    let snap = next_of(&mut ws, "snapshot", Duration::from_secs(2)).await;
    assert_eq!(
        snap["parts"]["venue"]["logo"],
        format!("/display/media/{name}")
    );

    // From the Screens page: a multipart form with its token in the query.
    let (page, csrf) =
        common::browser_login(&node.url, common::ADMIN, common::ADMIN_PASSWORD).await;
    let form = || {
        reqwest::multipart::Form::new()
            .text("title", "Tonight")
            .text("body", "Bounty turbo at 8")
            .part(
                "image",
                reqwest::multipart::Part::bytes(common::GREEN_PNG.to_vec()).file_name("poster.png"),
            )
    };
    let resp = page
        .post(node.api("/screens/slide"))
        .multipart(form())
        .send()
        .await
        .expect("no token");
    assert_eq!(
        resp.status().as_u16(),
        403,
        "an upload without the form token is refused"
    );
    let resp = page
        .post(node.api(&format!("/screens/slide?_csrf={csrf}")))
        .multipart(form())
        .send()
        .await
        .expect("upload slide");
    assert_eq!(resp.status().as_u16(), 303);
    let bad = reqwest::multipart::Form::new().text("title", "Bad").part(
        "image",
        reqwest::multipart::Part::bytes(b"GIF89a....".to_vec()).file_name("x.gif"),
    );
    let resp = page
        .post(node.api(&format!("/screens/slide?_csrf={csrf}")))
        .multipart(bad)
        .send()
        .await
        .expect("upload bad");
    assert_eq!(resp.status().as_u16(), 415);
    assert!(resp
        .text()
        .await
        .expect("page")
        .contains("only PNG, JPEG and WebP"));
    let delta = next_of(&mut ws, "delta", Duration::from_secs(2)).await;
    let slides = delta["parts"]["slides"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(slides.len(), 1);
    assert_eq!(slides[0]["title"], "Tonight");
    assert_eq!(
        slides[0]["image"],
        format!("/display/media/{name}"),
        "the same image, stored once"
    );
}

/// A node with a screen on the WebSocket and one on the SSE fallback stops
/// cleanly on SIGTERM: both feeds end, it exits 0 within 5 s, and its final
/// WAL checkpoint is done (the -wal file is empty).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_screens_do_not_hold_the_node_up_at_sigterm() {
    let mut node = TestNode::start();
    announce(&node, "Closing soon").await;
    let mut ws = connect(&node, "ws-tv").await;
    next_of(&mut ws, "snapshot", Duration::from_secs(5)).await;
    let c = common::client();
    let mut sse = c
        .get(node.api("/display/events/sse-tv"))
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status().as_u16(), 200);
    sse_events(&mut sse, 1).await;

    let t0 = Instant::now();
    let status = tokio::task::block_in_place(|| node.terminate());
    let took = t0.elapsed();
    assert!(status.success(), "exit {status:?}: {}", node.logs());
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    let wal = node.dir.join("pvm.db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        wal_len,
        0,
        "the final checkpoint did not run: {}",
        node.logs()
    );
    // Both screens were told: the WebSocket got a Close frame (not just a
    // dropped connection), the SSE stream ended.
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) => return true,
                None | Some(Err(_)) => return false,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert_eq!(
        closed,
        Ok(true),
        "the screen's WebSocket was not closed by the node"
    );
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match sse.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return true,
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true));
}

/// The status a refused WebSocket connection got.
async fn refused_with(node: &TestNode, device: &str) -> u16 {
    let url = format!(
        "{}/display/ws/{device}",
        node.url.replace("http://", "ws://")
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        other => panic!("{device} was let in: {:?}", other.map(|_| ())),
    }
}

async fn refused_count(node: &TestNode, limit: &str) -> u64 {
    let text = common::client()
        .get(node.api("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let key = format!("pvm_display_feeds_refused_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
}

/// Live feeds are limited per display id and per client address (429 past
/// them, counted in /metrics), on the WebSocket and the SSE fallback alike,
/// and a feed that ends gives its place back.
#[tokio::test]
async fn feeds_are_limited_per_display_id_and_per_address() {
    let node = TestNode::start_with(&["--display-max-per-address", "6"]);
    // One id: four feeds (WebSocket or SSE), not five.
    let mut same = Vec::new();
    for _ in 0..3 {
        same.push(connect(&node, "busy-tv").await);
    }
    let sse = common::client()
        .get(node.api("/display/events/busy-tv"))
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status().as_u16(), 200);
    assert_eq!(refused_with(&node, "busy-tv").await, 429);
    let again = common::client()
        .get(node.api("/display/events/busy-tv"))
        .send()
        .await
        .expect("sse");
    assert_eq!(again.status().as_u16(), 429);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_screens");
    assert_eq!(refused_count(&node, "device").await, 2);

    // One address: six feeds in all (four above, two more), not seven.
    let mut more = vec![connect(&node, "tv-a").await, connect(&node, "tv-b").await];
    assert_eq!(refused_with(&node, "tv-c").await, 429);
    assert_eq!(refused_count(&node, "address").await, 1);

    // A feed that ends gives its place back.
    drop(sse);
    let mut back = None;
    for _ in 0..50 {
        let url = format!("{}/display/ws/tv-c", node.url.replace("http://", "ws://"));
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(url).await {
            back = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut back = back.expect("a place given back when a feed ends");
    next_of(&mut back, "snapshot", Duration::from_secs(3)).await;
    more.clear();
    drop(same);
}

/// Slowloris and idle connections: a client that never finishes its
/// request's header, one that sends nothing, one that sends part of an
/// HTTP/2 preface, and one idle after a kept-alive request are all closed
/// after the header-read timeout (10 s), while a screen's feed on the same
/// node goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = TestNode::start();
    let addr = node.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.expect("slow");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: pvm\r\nX-Slow: ")
        .await
        .expect("part of a header");
    // One that sends nothing at all, and one only part of an HTTP/2 preface.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.expect("silent");
    let mut preface = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("preface");
    preface
        .write_all(b"PRI * HTTP/2.0\r\n")
        .await
        .expect("part of a preface");
    let mut idle = tokio::net::TcpStream::connect(&addr).await.expect("idle");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: pvm\r\n\r\n")
        .await
        .expect("request");
    let mut screen = connect(&node, "steady-tv").await;
    next_of(&mut screen, "snapshot", Duration::from_secs(3)).await;
    let t0 = Instant::now();
    // Reads until the node closes the connection; what it answered on the way.
    async fn until_closed(s: &mut tokio::net::TcpStream) -> String {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&all).into_owned(),
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    }
    let within = Duration::from_secs(20);
    let ((slow_said, idle_said), (_, _)) = tokio::time::timeout(
        within,
        futures_util::future::join(
            futures_util::future::join(until_closed(&mut slow), until_closed(&mut idle)),
            futures_util::future::join(until_closed(&mut silent), until_closed(&mut preface)),
        ),
    )
    .await
    .expect("every such connection closed by the node within 20 s");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(8),
        "closed too soon ({took:?}): the timeout is 10 s"
    );
    assert!(!slow_said.contains("200 OK"), "{slow_said}");
    assert!(idle_said.starts_with("HTTP/1.1 200"), "{idle_said}");
    // The screen's feed was not cut: a tick arrives after all that.
    next_of(&mut screen, "tick", Duration::from_secs(5)).await;
}

/// The total of live display feeds (4,000) holds whatever the mix of ids
/// and addresses, and a feed that ends gives its place back. Through the
/// node's own admission (`DisplayFeeds::admit`, the call every WebSocket and
/// SSE feed makes), on a real node's state, with 1,000 screens from 100
/// addresses holding four feeds each.
#[tokio::test]
async fn live_feeds_are_limited_to_4000_in_all() {
    use pvm_node::displays::{Refusal, MAX_FEEDS, MAX_FEEDS_PER_DEVICE};
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let feeds = node.state.displays.clone();
    let mut held = Vec::new();
    let screens = MAX_FEEDS / MAX_FEEDS_PER_DEVICE;
    for screen in 0..screens {
        for _ in 0..MAX_FEEDS_PER_DEVICE {
            let address = format!("10.0.{}.{}", screen % 100, screen % 7);
            held.push(
                feeds
                    .admit(&format!("tv-{screen}"), true, &address)
                    .unwrap_or_else(|why| panic!("feed {} refused: {why:?}", held.len())),
            );
        }
    }
    assert_eq!(held.len(), MAX_FEEDS as usize);
    // A new screen from a new address: only the total is in the way.
    assert_eq!(
        feeds.admit("one-too-many", true, "10.9.9.9").err(),
        Some(Refusal::Total)
    );
    assert_eq!(feeds.refused(Refusal::Total), 1);
    held.pop();
    assert!(feeds.admit("one-too-many", true, "10.9.9.9").is_ok());
    drop(held);
    node.close().await;
}

/// The node holds at most 6,000 HTTP connections: the next is closed as
/// soon as it is accepted (counted in /metrics), the ones held keep working,
/// and a place given back is taken again. Real node process, real sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connections_are_limited_to_6000_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MAX: usize = 6_000;
    raise_open_files(MAX as u64 + 512);
    let node = TestNode::start();
    let addr = node.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::with_capacity(MAX);
    for i in 0..MAX {
        held.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .unwrap_or_else(|e| panic!("connection {i}: {e}")),
        );
    }
    // One too many: closed at once, not served (well within the 10 s
    // header timeout the held ones are under).
    let mut extra = tokio::net::TcpStream::connect(&addr).await.expect("extra");
    let _ = extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: pvm\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
        .await
        .expect("the extra connection is closed, not left hanging");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the 6,001st connection was served: {:?}",
        read.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    );
    // A held one is served.
    let first = held.first_mut().expect("held");
    first
        .write_all(b"GET /health HTTP/1.1\r\nHost: pvm\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), first.read_to_end(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Places given back are taken again; the refusal was counted.
    held.truncate(MAX - 10);
    let mut text = String::new();
    for _ in 0..50 {
        if let Ok(r) = common::client().get(node.api("/metrics")).send().await {
            text = r.text().await.unwrap_or_default();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("pvm_http_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no refusal count in /metrics:\n{text}"));
    assert!(refused >= 1, "{text}");
    drop(held);
}

/// Raises this process's open-file limit to `want` (within the hard limit).
fn raise_open_files(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= want,
        "this test needs {want} open files; the hard limit is {}",
        lim.rlim_max
    );
}

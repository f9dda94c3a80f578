//! 2,000 WebSocket screens on loopback (wall TVs and players' phones) against
//! a real `pvm-node` process: how long a state change takes to reach all of
//! them (p50/p99 over rounds, from the staff request to each screen's frame),
//! and the node's resident memory with all connected; the same fan-out through
//! a bare tokio broadcast channel in this process is the reference.
//! Then the same rounds again while an attacker makes 20,000 WebSocket
//! connection attempts to one screen's id: refused past the per-id limit,
//! and the legitimate screens must not notice.
//! Goal (both phases): p99 <= 50 ms and node RSS <= 96 MB.

use futures_util::StreamExt;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

#[path = "support/mod.rs"]
mod support;
use support::percentile;

const SCREENS: usize = 2_000;
const ROUNDS: usize = 20;
const ATTACK_ATTEMPTS: usize = 20_000;
/// Attempts in flight at once.
const ATTACK_PARALLEL: usize = 64;
const BIN: &str = env!("CARGO_BIN_EXE_pvm-node");

/// The round a screen last saw, and when.
type Seen = Mutex<Option<(usize, Instant)>>;

fn main() {
    support::runtime().block_on(run());
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn run() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut admin = Command::new(BIN)
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["admin", "create", "--username", "boss"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("admin create");
    admin
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"bench-password-1\n")
        .expect("password");
    assert!(admin.wait().expect("admin").success());
    let mut node = Command::new(BIN)
        .args(["--data-dir"])
        .arg(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mdns",
            "off",
            "--log",
            "warn",
            // Every screen comes from this one address.
            "--display-max-per-address",
            "4000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let stdout = node.stdout.take().expect("stdout");
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("PVM node serving on ")
                .map(|u| u.trim_end_matches('/').to_owned())
        })
        .expect("node url");
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "boss", "password": "bench-password-1"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_owned();
    // Name every screen first, so none counts against the cap on unnamed ones.
    for i in 0..SCREENS {
        http.put(format!("{url}/api/v1/displays/screen-{i}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": format!("Screen {i}")}))
            .send()
            .await
            .expect("name screen");
    }
    let rss_idle = rss_kb(node.id());

    // Each screen records when it saw the marker of the current round.
    let seen: Arc<Vec<Seen>> = Arc::new((0..SCREENS).map(|_| Mutex::new(None)).collect());
    let ws_url = url.replace("http://", "ws://");
    for i in 0..SCREENS {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("{ws_url}/display/ws/screen-{i}"))
                .await
                .expect("screen connects");
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg {
                    if let Some(pos) = t.rfind("bench-round-") {
                        let round: usize = t[pos + 12..]
                            .chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                            .parse()
                            .unwrap_or(usize::MAX);
                        let mut slot = seen[i].lock().await;
                        if slot.is_none_or(|(r, _)| r < round) {
                            *slot = Some((round, Instant::now()));
                        }
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = rss_kb(node.id());

    let (mut latencies, missed) = rounds(&http, &url, &token, &seen, 0, || false).await;
    let rss_after = rss_kb(node.id());

    // The attack: 20,000 connection attempts to one screen's id, 64 at a time,
    // while the rounds go on.
    let attack = tokio::spawn(attack(ws_url.clone()));
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        let pid = node.id();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let attack_done = || attack.is_finished();
    let (mut attacked, attacked_missed) =
        rounds(&http, &url, &token, &seen, ROUNDS, attack_done).await;
    let (accepted, refused, failed) = attack.await.expect("attack");
    sampler.abort();
    let rss_attack = peak.load(std::sync::atomic::Ordering::Relaxed);
    let _ = node.kill();
    let _ = node.wait();

    // The reference: the same fan-out through a bare tokio broadcast channel.
    let payload: Arc<str> = Arc::from("x".repeat(1_500));
    let (tx, _) = tokio::sync::broadcast::channel::<(Instant, Arc<str>)>(16);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
    for _ in 0..SCREENS {
        let mut rx = tx.subscribe();
        let done = done_tx.clone();
        tokio::spawn(async move {
            while let Ok((t0, msg)) = rx.recv().await {
                std::hint::black_box(msg.len());
                let _ = done.send((Instant::now() - t0).as_secs_f64() * 1e3);
            }
        });
    }
    let mut reference = Vec::new();
    for _ in 0..ROUNDS {
        let _ = tx.send((Instant::now(), payload.clone()));
        for _ in 0..SCREENS {
            if let Some(ms) = done_rx.recv().await {
                reference.push(ms);
            }
        }
    }

    let (p50, p99) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
    );
    let (a50, a99) = (
        percentile(&mut attacked, 0.5),
        percentile(&mut attacked, 0.99),
    );
    let (r50, r99) = (
        percentile(&mut reference, 0.5),
        percentile(&mut reference, 0.99),
    );
    println!("display fan-out: {SCREENS} WebSocket screens on loopback, {ROUNDS} state changes (announcements), node as its own process");
    println!("  tokio broadcast channel (reference)   p50 {r50:7.2} ms   p99 {r99:7.2} ms");
    println!("  pvm-node, change to every screen     p50 {p50:7.2} ms   p99 {p99:7.2} ms   p99/reference p99 {:6.1}   missed {missed}", p99 / r99.max(0.001));
    println!(
        "  node RSS: idle {} MB, {SCREENS} connected {} MB, after the rounds {} MB",
        rss_idle / 1024,
        rss_connected / 1024,
        rss_after / 1024
    );
    println!(
        "  under attack ({ATTACK_ATTEMPTS} connection attempts to one id): accepted {accepted}, refused 429 {refused}, other failures {failed}"
    );
    println!(
        "  pvm-node under attack, change to every screen   p50 {a50:7.2} ms   p99 {a99:7.2} ms   rounds {}   missed {attacked_missed}   node RSS peak {} MB",
        attacked.len() / SCREENS.max(1),
        rss_attack / 1024
    );
    println!(
        "  target under attack: refused past the limit [{}], p99 <= 50 ms [{}], RSS <= 96 MB [{}]",
        if accepted <= 4 && refused + accepted + failed == ATTACK_ATTEMPTS && failed == 0 {
            "met"
        } else {
            "NOT MET"
        },
        if a99 <= 50.0 && attacked_missed == 0 {
            "met"
        } else {
            "NOT MET"
        },
        if rss_attack <= 96 * 1024 {
            "met"
        } else {
            "NOT MET"
        }
    );
    println!(
        "  target: p99 <= 50 ms [{}], RSS <= 96 MB [{}]",
        if p99 <= 50.0 && missed == 0 {
            "met"
        } else {
            "NOT MET"
        },
        if rss_after.max(rss_connected) <= 96 * 1024 {
            "met"
        } else {
            "NOT MET"
        }
    );
}

/// State changes (announcements, each ended after its round) from round
/// `first`: `ROUNDS` of them when `first` is 0, else as long as `enough()`
/// is false; answers every screen's latency of every round and how many
/// screen-rounds were missed.
async fn rounds(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    seen: &Arc<Vec<Seen>>,
    first: usize,
    enough: impl Fn() -> bool,
) -> (Vec<f64>, usize) {
    let mut latencies = Vec::new();
    let mut missed = 0;
    let mut round = first;
    loop {
        // The first phase: ROUNDS rounds; the attack phase: rounds that start
        // while the attack still runs (at most 50 × ROUNDS).
        let more = if first == 0 {
            round < ROUNDS
        } else {
            round == first || (!enough() && round < first + 50 * ROUNDS)
        };
        if !more {
            break;
        }
        let t0 = Instant::now();
        let resp = http
            .post(format!("{url}/api/v1/announcements"))
            .bearer_auth(token)
            .json(&serde_json::json!({"text": format!("bench-round-{round}"), "minutes": 5}))
            .send()
            .await
            .expect("announce");
        assert!(resp.status().is_success());
        let id = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|a| a["id"].as_str().map(str::to_owned))
            .expect("announcement id");
        let deadline = t0 + Duration::from_secs(5);
        loop {
            let mut done = 0;
            for s in seen.iter() {
                if s.lock().await.is_some_and(|(r, _)| r == round) {
                    done += 1;
                }
            }
            if done == SCREENS || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for s in seen.iter() {
            match *s.lock().await {
                Some((r, at)) if r == round => latencies.push((at - t0).as_secs_f64() * 1e3),
                _ => missed += 1,
            }
        }
        // Ended again, so every round's frame is the same size.
        let ended = http
            .delete(format!("{url}/api/v1/announcements/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("end announcement");
        assert!(ended.status().is_success());
        tokio::time::sleep(Duration::from_millis(200)).await;
        round += 1;
    }
    (latencies, missed)
}

/// 20,000 WebSocket connection attempts to `screen-0`, 64 at a time; the
/// accepted ones are held open. Answers (accepted, refused with 429, other failures).
async fn attack(ws_url: String) -> (usize, usize, usize) {
    use tokio_tungstenite::tungstenite::Error;
    let target = format!("{ws_url}/display/ws/screen-0");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..ATTACK_PARALLEL {
        let target = target.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let (mut accepted, mut refused, mut failed) = (Vec::new(), 0, 0);
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < ATTACK_ATTEMPTS {
                match tokio_tungstenite::connect_async(target.as_str()).await {
                    Ok((ws, _)) => accepted.push(ws),
                    Err(Error::Http(r)) if r.status() == 429 => refused += 1,
                    Err(_) => failed += 1,
                }
            }
            (accepted, refused, failed)
        }));
    }
    let (mut accepted, mut refused, mut failed) = (0, 0, 0);
    let mut held = Vec::new();
    for w in workers {
        let (a, r, f) = w.await.expect("attacker");
        accepted += a.len();
        held.extend(a);
        refused += r;
        failed += f;
    }
    drop(held);
    (accepted, refused, failed)
}

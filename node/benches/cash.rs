//! A big room on a Saturday night: 250 tables, 60 waiting lists, 1,500
//! players waiting. Times each staff action (join, call, seat, no-show, move,
//! remove, leave) through `ops::cash`, the call every HTTP handler and staff
//! page makes (decide, envelope, project, commit, publish), and
//! the board a page renders, against a raw libSQL one-row durable commit
//! measured in the same run. Goal: p99 ≤ 5 ms per action.

use pvm_node::http::cash::board_of;
use pvm_node::ops::{self, cash::Action, players::Who};
use pvm_node::Node;
use pvm_shared::Actor;
use std::collections::BTreeMap;
use std::time::Instant;
use support::{now_ms, percentile, raw_commit_latencies};
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;

const TABLES: usize = 250;
const LISTS: usize = 60;
const WAITING: usize = 1_500;
const ACTIONS: usize = 3_000;

fn main() {
    support::runtime().block_on(run());
}

/// A timed staff action: a join (the one operation of its own) or any other.
enum Op {
    Join(Uuid, Uuid),
    Act(Action),
}

async fn run() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::open(&dir.path().join("node")).await.expect("node");
    let log = node.state.log.clone();

    let support::CashRoom { lists, players, .. } =
        support::cash_room(&log, TABLES, LISTS, WAITING, ACTIONS).await;

    // Raw engine, same disk, same durability: one-row commits.
    let raw = raw_commit_latencies(&dir.path().join("raw.db")).await;

    // Staff actions, one at a time as a floor manager makes them.
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut next_player = WAITING;
    for i in 0..ACTIONS {
        let state = log.venue();
        let list = lists[i % LISTS];
        let l = &state.cash.lists[&list];
        let (kind, action) = match i % 7 {
            0 | 1 => {
                next_player += 1;
                ("join", Op::Join(list, players[next_player % players.len()]))
            }
            2 => ("call next", Op::Act(Action::CallNext { list_id: list })),
            3 => {
                // Seat the first called (or first) entry at an open seat of this game.
                let entry = l
                    .queue
                    .iter()
                    .find(|e| state.cash.entries[*e].call.is_some())
                    .or(l.queue.first())
                    .copied();
                let open = state
                    .tables
                    .values()
                    .filter(|t| t.game == l.game && t.stakes == l.stakes)
                    .find_map(|t| {
                        (1..=t.seats)
                            .find(|s| !state.cash.seats.contains_key(&(t.id, *s)))
                            .map(|s| (t.id, s))
                    });
                match (entry, open) {
                    (Some(e), Some((table_id, seat))) => (
                        "seat",
                        Op::Act(Action::SeatEntry {
                            entry_id: e,
                            table_id,
                            seat,
                        }),
                    ),
                    _ => continue,
                }
            }
            4 => match state.cash.entries.values().find(|e| e.call.is_some()) {
                Some(e) => ("no-show", Op::Act(Action::NoShow { entry_id: e.id })),
                None => continue,
            },
            5 => match (l.queue.last(), l.queue.len()) {
                (Some(e), n) if n > 1 => (
                    "move",
                    Op::Act(Action::Move {
                        entry_id: *e,
                        to_index: 0,
                        reason: "bench".into(),
                    }),
                ),
                _ => continue,
            },
            _ => match state.cash.seats.keys().next() {
                Some((table_id, seat)) if i % 2 == 0 => (
                    "leave",
                    Op::Act(Action::Leave {
                        table_id: *table_id,
                        seat: *seat,
                    }),
                ),
                _ => match l.queue.first() {
                    Some(e) => ("remove", Op::Act(Action::Remove { entry_id: *e })),
                    None => continue,
                },
            },
        };
        drop(state);
        let actor = Actor::Staff("bench".into());
        let t = Instant::now();
        let result = match action {
            Op::Join(list_id, player) => {
                let join = ops::cash::Join {
                    list_id,
                    at_ms: now_ms(),
                    call_in_until: None,
                };
                ops::cash::join(&log, actor, Who::Known(player), join)
                    .await
                    .map(|_| ())
            }
            Op::Act(a) => ops::cash::act(&log, actor, now_ms(), a).await.map(|_| ()),
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if result.is_ok() {
            times.entry(kind).or_default().push(ms);
            times.entry("all actions").or_default().push(ms);
        }
    }
    let mut board_times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let b = board_of(&log.venue(), now_ms());
        board_times.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!b.lists.is_empty());
    }

    let state = log.venue();
    let mut raw = raw;
    let raw_p50 = percentile(&mut raw, 0.5);
    let raw_p99 = percentile(&mut raw, 0.99);
    println!(
        "cash-game staff actions: {} tables, {} lists, {} waiting at the start ({} now), {} seated",
        TABLES,
        LISTS,
        WAITING,
        state.cash.entries.len(),
        state.cash.seats.len()
    );
    println!("  raw libSQL one-row commit (synchronous=FULL)   p50 {raw_p50:6.2} ms   p99 {raw_p99:6.2} ms");
    let mut all_p99 = 0.0;
    for (kind, v) in times.iter_mut() {
        let n = v.len();
        let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        if *kind == "all actions" {
            all_p99 = p99;
        }
        println!(
            "  {kind:<12} n={n:<5} p50 {p50:6.2} ms   p99 {p99:6.2} ms   p99/raw p50 {:5.1}",
            p99 / raw_p50
        );
    }
    println!(
        "  board build (read, in memory)   p50 {:6.2} ms   p99 {:6.2} ms",
        percentile(&mut board_times.clone(), 0.5),
        percentile(&mut board_times, 0.99)
    );
    println!(
        "  target: every action p99 <= 5 ms [{}]",
        if all_p99 <= 5.0 { "met" } else { "NOT MET" }
    );
    node.close().await;
}

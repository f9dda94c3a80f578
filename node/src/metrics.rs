//! Prometheus metrics: events appended and HTTP request latency.
//!
//! Small enough to keep by hand: two counters and one histogram family,
//! rendered in the Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    events: AtomicU64,
    commits: AtomicU64,
    /// Connections closed at once because `MAX_CONNECTIONS` were open.
    connections_refused: AtomicU64,
    /// Keyed by (method, route, status).
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl Metrics {
    pub fn events_appended(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn events_total(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut map = match self.requests.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let h = map
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP pvm_events_appended_total Events committed to the event log."
        );
        let _ = writeln!(out, "# TYPE pvm_events_appended_total counter");
        let _ = writeln!(out, "pvm_events_appended_total {}", self.events_total());
        let _ = writeln!(
            out,
            "# HELP pvm_event_commits_total Transactions that committed events (group commits)."
        );
        let _ = writeln!(out, "# TYPE pvm_event_commits_total counter");
        let _ = writeln!(
            out,
            "pvm_event_commits_total {}",
            self.commits.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP pvm_http_connections_refused_total Connections closed at once: the node had as many open as it takes."
        );
        let _ = writeln!(out, "# TYPE pvm_http_connections_refused_total counter");
        let _ = writeln!(
            out,
            "pvm_http_connections_refused_total {}",
            self.connections_refused.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP pvm_http_request_duration_seconds HTTP request latency by route."
        );
        let _ = writeln!(out, "# TYPE pvm_http_request_duration_seconds histogram");
        let map = match self.requests.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for ((method, route, status), h) in &map {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                route.replace('\\', "\\\\").replace('"', "\\\"")
            );
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "pvm_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "pvm_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "pvm_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "pvm_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lands_in_every_bucket_at_or_above_its_latency() {
        let m = Metrics::default();
        m.observe_request("GET", "/api/v1/tables", 200, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains(r#"route="/api/v1/tables",status="200",le="0.0025"} 0"#));
        assert!(text.contains(r#"route="/api/v1/tables",status="200",le="0.005"} 1"#));
        assert!(text.contains(r#"route="/api/v1/tables",status="200",le="+Inf"} 1"#));
    }
}

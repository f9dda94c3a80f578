//! Heartbeats to the hub: version, backlog, memory, disk and temperature;
//! the hub's answer carries its head of this log.

use super::*;

/// Heartbeats: `pvm.hb.<venue>.<node>` every `every` with version, backlog, uptime, free memory and disk, and the CPU temperature where the board reports it.
pub async fn heartbeat(ctx: SyncContext, data_dir: std::path::PathBuf, every: Duration) {
    let SyncContext {
        link,
        nats_url,
        reader,
        status,
        stop,
        ..
    } = &ctx;
    let started = std::time::Instant::now();
    let subject = format!("pvm.hb.{}.{}", link.venue_id, link.node_id);
    let mut client = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
        if client.is_none() {
            client = connect_leaf(link, nats_url).await.ok();
        }
        let Some(c) = &client else { continue };
        let beat = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "backlog": status.pending(),
            "uptime_s": started.elapsed().as_secs(),
            "acked_seq": status.acked_seq.load(Ordering::Relaxed),
            "mem_available_kb": meminfo("MemAvailable:"),
            "disk_free_mb": disk_free_mb(&data_dir),
            "cpu_temp_c": cpu_temp(),
            // The node's clock, for the hub to see how far off it is.
            "clock_ms": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        });
        // A request: the hub answers with its head of this log.
        let asked = tokio::time::timeout(
            every.min(Duration::from_secs(5)),
            c.request(subject.clone(), beat.to_string().into()),
        )
        .await;
        match asked {
            Ok(Ok(answer)) => {
                compare_head(link, c, reader, status, &answer.payload).await;
            }
            // No answer in time (the hub is away): the beat was still sent.
            Err(_) | Ok(Err(_))
                if c.connection_state() == async_nats::connection::State::Connected => {}
            _ => client = None,
        }
    }
}

/// Free space (MB) on the file system holding the data dir, for non-root users.
// The field types differ between targets (u32 on 32-bit boards).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn disk_free_mb(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs writes into the buffer we own and reads a NUL-terminated path.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64) / (1024 * 1024))
}

pub(crate) fn meminfo(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
    })
}

/// The board's CPU temperature where it reports one (a Pi does).
pub(crate) fn cpu_temp() -> Option<f64> {
    std::fs::read_to_string("/sys/class/thermal/thermal_zone0/temp")
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map(|m| m / 1000.0)
}

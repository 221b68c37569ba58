//! `verdict stats`: the running engine's counters, from the snapshot it writes every second
//! to `<log_dir>/stats.json`.

use crate::config::Config;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::PathBuf;
use verdict_engine::metrics::KernelQueueStats;
use verdict_engine::nfq::QueueStats;
use verdict_engine::run::{read_stats, StatsSnapshot};

/// Arguments of `verdict stats`.
#[derive(clap::Args)]
pub struct Args {
    /// Config file (for its log_dir).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The engine's log directory.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Print the raw JSON snapshot.
    #[arg(long)]
    pub json: bool,
    /// How many rules to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Runs `verdict stats`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let dir = args
        .log_dir
        .or(cfg.log_dir)
        .unwrap_or_else(|| PathBuf::from(super::run::DEFAULT_LOG_DIR));
    let path = dir.join("stats.json");
    let snap = read_stats(&path).with_context(|| {
        format!(
            "no stats at {} (is `verdict run` running with this log dir?)",
            path.display()
        )
    })?;
    let text = if args.json {
        serde_json::to_string_pretty(&snap)? + "\n"
    } else {
        render(&snap, args.top)
    };
    // A closed pipe (`verdict stats | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(0)
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// The snapshot as tables.
pub fn render(s: &StatsSnapshot, top: usize) -> String {
    let mut o = String::new();
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() - s.written_unix)
        .unwrap_or(0.0);
    let _ = writeln!(
        o,
        "engine pid {} ({}), mode {:?}, steering {}, up {:.1} s, snapshot {:.1} s old",
        s.pid,
        if alive(s.pid) {
            "running"
        } else {
            "not running"
        },
        s.mode,
        s.mechanism,
        s.uptime_secs,
        age.max(0.0)
    );
    queue_table(&mut o, s);
    bytes_table(&mut o, s);
    if let Some(i) = &s.inspect {
        inspect_lines(&mut o, i);
    }
    let out = &s.output;
    let _ = writeln!(
        o,
        "alerts written: eve.json {}, fast.log {}, evidence.pcap {}, syslog {}, redis {}",
        out.eve_written, out.fast_written, out.pcap_written, out.syslog_written, out.redis_written
    );
    if out.lost() > 0 {
        let _ = writeln!(
            o,
            "ALERTS LOST: {} before the writer (queue full or writer gone); to I/O errors: \
             eve.json {}, fast.log {}, evidence.pcap {}, syslog {}, redis {}{}",
            out.channel_lost,
            out.eve_lost,
            out.fast_lost,
            out.pcap_lost,
            out.syslog_lost,
            out.redis_lost,
            out.last_error
                .as_deref()
                .map_or(String::new(), |e| format!(" (last error: {e})"))
        );
    }
    if let Some(ops) = &s.ops {
        let _ = writeln!(
            o,
            "rules: {} programs, {} disabled; reloads: {} ok, {} failed, last {:.3} s, total {:.3} s",
            ops.programs,
            ops.disabled.len(),
            ops.reloads,
            ops.reload_failures,
            ops.last_reload_secs,
            ops.reload_secs_total
        );
    }
    if s.rules.is_empty() {
        let _ = writeln!(o, "no rule hits");
    } else {
        let _ = writeln!(o, "top rules:\n{:>10}  {:<14} msg", "hits", "gid:sid");
        for r in s.rules.iter().take(top) {
            let _ = writeln!(
                o,
                "{:>10}  {:<14} {}",
                r.hits,
                format!("{}:{}", r.gid, r.sid),
                r.msg
            );
        }
    }
    o
}

/// Packets per verdict and queue, with a total line.
fn queue_table(o: &mut String, s: &StatsSnapshot) {
    let _ = writeln!(
        o,
        "{:>6} {:>12} {:>12} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7}",
        "queue",
        "received",
        "accepted",
        "dropped",
        "rejected",
        "replaced",
        "errors",
        "enobufs",
        "panics"
    );
    let mut t = QueueStats::default();
    for q in &s.queues {
        let _ = writeln!(
            o,
            "{:>6} {:>12} {:>12} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7}",
            q.queue,
            q.received,
            q.accepted,
            q.dropped,
            q.rejected,
            q.replaced,
            q.errors,
            q.enobufs,
            q.panics
        );
        t.received += q.received;
        t.accepted += q.accepted;
        t.dropped += q.dropped;
        t.rejected += q.rejected;
        t.replaced += q.replaced;
        t.errors += q.errors;
        t.enobufs += q.enobufs;
        t.panics += q.panics;
    }
    let _ = writeln!(
        o,
        "{:>6} {:>12} {:>12} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7}",
        "total",
        t.received,
        t.accepted,
        t.dropped,
        t.rejected,
        t.replaced,
        t.errors,
        t.enobufs,
        t.panics
    );
    let bypassed: u64 = s.queues.iter().map(|q| q.bypassed).sum();
    let half: u64 = s.queues.iter().map(|q| q.half_bypassed).sum();
    let _ = writeln!(o, "bypassed flows (handed back to the kernel): {bypassed}");
    let _ = writeln!(
        o,
        "half-bypassed flows (one direction handed back, the other inspected): {half}"
    );
    if let (Some(steered), Some(lost)) = (s.steered, s.uninspected()) {
        let _ = writeln!(
            o,
            "uninspected packets (steered {steered}, let through by a full queue or with no engine): {lost}"
        );
    }
}

/// Decode errors, the flow table and reassembly: what hostile or broken traffic costs.
fn inspect_lines(o: &mut String, i: &verdict_engine::detect::InspectStats) {
    let st = &i.stream;
    let _ = writeln!(
        o,
        "decode errors: {}; tunneled packets: {}; flows: {} now, {} created, {} evicted (table full)",
        i.decode_errors, i.tunneled, i.flows, i.flows_created, i.flows_evicted
    );
    let _ = writeln!(
        o,
        "pcre match/depth limit hits (counted as no match): {}",
        i.pcre_limit_hits
    );
    let _ = writeln!(
        o,
        "reassembly: {} bytes held (peak {}); {} segments, {} retransmitted, {} out of order, \
         {} overlapping ({} conflicting), {} gaps ({} bytes), {} out of window, {} after close, \
         {} directions at depth; limits hit: memcap {}, out-of-order {}",
        i.stream_memory,
        i.stream_memory_peak,
        st.segments,
        st.retransmissions,
        st.out_of_order,
        st.overlaps,
        st.conflicts,
        st.gaps,
        st.gap_bytes,
        st.out_of_window,
        st.data_after_close,
        st.depth_reached,
        st.memcap_hits,
        st.limit_hits
    );
}

/// Bytes per verdict, worker busy time and the kernel's own queue counters, per queue (the
/// numbers the metrics endpoint serves).
fn bytes_table(o: &mut String, s: &StatsSnapshot) {
    let _ = writeln!(
        o,
        "{:>6} {:>14} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "queue",
        "bytes acc",
        "bytes drop",
        "bytes rej",
        "bytes repl",
        "busy s",
        "k.waiting",
        "k.dropped",
        "k.udropped"
    );
    for q in &s.queues {
        let k = s.kernel_queues.iter().find(|k| k.queue == q.queue);
        let kv = |f: fn(&KernelQueueStats) -> u64| k.map_or("-".to_string(), |k| f(k).to_string());
        let _ = writeln!(
            o,
            "{:>6} {:>14} {:>12} {:>12} {:>12} {:>10.3} {:>10} {:>10} {:>10}",
            q.queue,
            q.accepted_bytes,
            q.dropped_bytes,
            q.rejected_bytes,
            q.replaced_bytes,
            q.busy_ns as f64 / 1e9,
            kv(|k| k.waiting),
            kv(|k| k.dropped),
            kv(|k| k.user_dropped)
        );
    }
}

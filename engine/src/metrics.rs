//! The Prometheus view of the engine: the same [`StatsSnapshot`] that `verdict stats` reads,
//! encoded as exposition text and served over plain HTTP on a local address.
//!
//! The run loop publishes each snapshot it writes ([`Published`]); a scrape encodes the last
//! one, so a scrape and `verdict stats` never disagree and the packet path gains no work.
//! The server is one thread with a std `TcpListener`: a scraper asks a few times a minute,
//! and anything more (TLS, auth) belongs in a proxy in front of it.

use crate::run::StatsSnapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// At most this many sids get a `verdict_rule_hits_total` series (the most-hit ones), so a
/// noisy rule set cannot grow the scrape without bound.
pub const MAX_SID_SERIES: usize = 200;

/// Where the kernel lists its NFQUEUE queues (per network namespace).
const PROC_NFQUEUE: &str = "/proc/net/netfilter/nfnetlink_queue";

/// What the kernel counts for one NFQUEUE queue (`/proc/net/netfilter/nfnetlink_queue`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelQueueStats {
    /// queue number
    pub queue: u16,
    /// packets waiting for a verdict right now
    pub waiting: u64,
    /// packets the kernel dropped because the queue was full (never with fail-open, which
    /// accepts them uncounted instead)
    pub dropped: u64,
    /// packets the kernel could not hand to our socket and dropped (never with fail-open)
    pub user_dropped: u64,
}

/// Reads the kernel's counters of `queues`; empty when the file is missing (no queue bound).
pub fn read_kernel_queues(queues: &[u16]) -> Vec<KernelQueueStats> {
    std::fs::read_to_string(PROC_NFQUEUE)
        .map(|t| parse_kernel_queues(&t, queues))
        .unwrap_or_default()
}

/// Parses the kernel's table: `queue portid waiting copy_mode copy_range dropped
/// user_dropped id_sequence 1`, one queue a line; other queues and odd lines are skipped.
pub fn parse_kernel_queues(text: &str, queues: &[u16]) -> Vec<KernelQueueStats> {
    let mut out: Vec<KernelQueueStats> = text
        .lines()
        .filter_map(|line| {
            let f: Vec<u64> = line
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let queue = u16::try_from(*f.first()?).ok()?;
            queues.contains(&queue).then_some(KernelQueueStats {
                queue,
                waiting: *f.get(2)?,
                dropped: *f.get(5)?,
                user_dropped: *f.get(6)?,
            })
        })
        .collect();
    out.sort_by_key(|k| k.queue);
    out
}

/// The last snapshot of the run loop, shared with the metrics server.
#[derive(Default)]
pub struct Published(Mutex<Option<Arc<StatsSnapshot>>>);

impl Published {
    /// Replaces the published snapshot.
    pub fn set(&self, s: StatsSnapshot) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some(Arc::new(s));
    }

    /// The last snapshot, if the run loop has written one yet.
    pub fn get(&self) -> Option<Arc<StatsSnapshot>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

type Labels = Vec<(&'static str, String)>;

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn counter_f(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let c = Counter::<f64, AtomicU64>::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    reg.register(name, help, g);
}

fn gauge_f(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(v);
    reg.register(name, help, g);
}

fn family(
    reg: &mut Registry,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, u64)>,
) {
    let f = Family::<Labels, Counter>::default();
    for (labels, v) in series {
        f.get_or_create(&labels).inc_by(v);
    }
    reg.register(name, help, f);
}

fn q(queue: u16) -> (&'static str, String) {
    ("queue", queue.to_string())
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Encodes `s` as Prometheus exposition text (every counter named `verdict_*`).
pub fn encode_snapshot(s: &StatsSnapshot) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::default();
    queue_metrics(&mut reg, s);
    let out = &s.output;
    family(
        &mut reg,
        "verdict_alerts_written",
        "Alert records written, by output file",
        [
            (vec![("output", "eve".into())], out.eve_written),
            (vec![("output", "fast".into())], out.fast_written),
            (vec![("output", "pcap".into())], out.pcap_written),
            (vec![("output", "syslog".into())], out.syslog_written),
            (vec![("output", "redis".into())], out.redis_written),
        ],
    );
    counter(
        &mut reg,
        "verdict_alerts_lost",
        "Alert events lost before or in the writer (queue full, I/O errors)",
        out.lost(),
    );
    family(
        &mut reg,
        "verdict_output_lost",
        "Records lost, by where: before the writer (queue) or by output (I/O errors, server down)",
        [
            (vec![("output", "queue".into())], out.channel_lost),
            (vec![("output", "eve".into())], out.eve_lost),
            (vec![("output", "fast".into())], out.fast_lost),
            (vec![("output", "pcap".into())], out.pcap_lost),
            (vec![("output", "syslog".into())], out.syslog_lost),
            (vec![("output", "redis".into())], out.redis_lost),
        ],
    );
    family(
        &mut reg,
        "verdict_rule_hits",
        "Matches per rule (only rules that fired; the most-hit ones first, bounded)",
        s.rules.iter().take(MAX_SID_SERIES).map(|r| {
            (
                vec![("gid", r.gid.to_string()), ("sid", r.sid.to_string())],
                r.hits,
            )
        }),
    );
    gauge(
        &mut reg,
        "verdict_rules_firing",
        "Rules that have fired since start (also those past the per-sid series bound)",
        clamp(s.rules.len() as u64),
    );
    gauge_f(
        &mut reg,
        "verdict_uptime_seconds",
        "Seconds since the engine was ready",
        s.uptime_secs,
    );
    if let Some(ops) = &s.ops {
        counter(
            &mut reg,
            "verdict_reloads",
            "Successful rule reloads since start",
            ops.reloads,
        );
        counter(
            &mut reg,
            "verdict_reload_failures",
            "Reloads that failed (the previous rule set kept running)",
            ops.reload_failures,
        );
        gauge_f(
            &mut reg,
            "verdict_last_reload_duration_seconds",
            "Duration of the last reload, successful or not",
            ops.last_reload_secs,
        );
        counter_f(
            &mut reg,
            "verdict_reload_duration_seconds",
            "Time spent in reloads since start",
            ops.reload_secs_total,
        );
        gauge(
            &mut reg,
            "verdict_disabled_sids",
            "Sids switched off in the running engine",
            clamp(ops.disabled.len() as u64),
        );
        gauge(
            &mut reg,
            "verdict_programs",
            "Detection programs in the running rule set",
            clamp(ops.programs as u64),
        );
    }
    if let Some(i) = &s.inspect {
        inspect_metrics(&mut reg, i);
    }
    let mut text = String::new();
    encode(&mut text, &reg)?;
    Ok(text)
}

/// Decode errors, the flow table and reassembly, summed over the workers.
fn inspect_metrics(reg: &mut Registry, i: &crate::detect::InspectStats) {
    counter(
        reg,
        "verdict_decode_errors",
        "Queued packets the decoder could not parse (the bad-packet policy decided them)",
        i.decode_errors,
    );
    counter(
        reg,
        "verdict_pcre_limit_hits",
        "pcre evaluations stopped by the match or depth limit (counted as no match)",
        i.pcre_limit_hits,
    );
    gauge(reg, "verdict_flows", "Flows tracked now", clamp(i.flows));
    counter(
        reg,
        "verdict_flows_evicted",
        "Flows evicted because a flow table was full",
        i.flows_evicted,
    );
    gauge(
        reg,
        "verdict_stream_memory_bytes",
        "Bytes held by TCP reassembly now",
        clamp(i.stream_memory),
    );
    let st = &i.stream;
    family(
        reg,
        "verdict_stream_events",
        "TCP reassembly events: limits hit, out-of-order, overlapping and lost data",
        [
            ("memcap_hit", st.memcap_hits),
            ("ooo_limit_hit", st.limit_hits),
            ("out_of_order", st.out_of_order),
            ("overlap", st.overlaps),
            ("overlap_conflict", st.conflicts),
            ("gap", st.gaps),
            ("retransmission", st.retransmissions),
            ("out_of_window", st.out_of_window),
            ("data_after_close", st.data_after_close),
            ("depth_reached", st.depth_reached),
        ]
        .map(|(e, n)| (vec![("event", e.to_string())], n)),
    );
}

/// Per-queue series: packets and bytes by verdict, errors, overflows, busy time, and what the
/// kernel counts for the queue.
fn queue_metrics(reg: &mut Registry, s: &StatsSnapshot) {
    let by_verdict = |pick: fn(&crate::nfq::QueueStats) -> [u64; 4]| {
        s.queues.iter().flat_map(move |st| {
            let v = pick(st);
            crate::nfq::BYTE_OUTCOMES
                .iter()
                .zip(v)
                .map(move |(name, n)| (vec![q(st.queue), ("verdict", (*name).into())], n))
        })
    };
    family(
        reg,
        "verdict_packets",
        "Queued packets by verdict",
        by_verdict(|st| [st.accepted, st.dropped, st.rejected, st.replaced]),
    );
    family(
        reg,
        "verdict_bytes",
        "Bytes of queued packets (original lengths) by verdict",
        by_verdict(|st| {
            [
                st.accepted_bytes,
                st.dropped_bytes,
                st.rejected_bytes,
                st.replaced_bytes,
            ]
        }),
    );
    let per_queue = |pick: fn(&crate::nfq::QueueStats) -> u64| {
        s.queues.iter().map(move |st| (vec![q(st.queue)], pick(st)))
    };
    family(
        reg,
        "verdict_queue_errors",
        "Receive, verdict and reject errors",
        per_queue(|st| st.errors),
    );
    family(
        reg,
        "verdict_queue_overflows",
        "Socket overflows (ENOBUFS): packets the kernel could not deliver; with fail-open \
         it accepted them uninspected",
        per_queue(|st| st.enobufs),
    );
    family(
        reg,
        "verdict_bypassed_flows",
        "Flows handed back to the kernel: whole (scope flow), or one direction alone while the \
         other is still inspected (scope direction)",
        s.queues.iter().flat_map(|st| {
            [("flow", st.bypassed), ("direction", st.half_bypassed)]
                .map(|(scope, n)| (vec![q(st.queue), ("scope", scope.into())], n))
        }),
    );
    family(
        reg,
        "verdict_inspection_panics",
        "Packets whose inspection panicked (accepted uninspected)",
        per_queue(|st| st.panics),
    );
    let busy = Family::<Labels, Counter<f64, AtomicU64>>::default();
    for st in &s.queues {
        busy.get_or_create(&vec![q(st.queue)])
            .inc_by(st.busy_ns as f64 / 1e9);
    }
    reg.register(
        "verdict_worker_busy_seconds",
        "Time the queue's worker spent on packets (receipt to verdict)",
        busy,
    );
    let kq = |pick: fn(&KernelQueueStats) -> u64| {
        s.kernel_queues
            .iter()
            .map(move |k| (vec![q(k.queue)], pick(k)))
    };
    family(
        reg,
        "verdict_kernel_queue_dropped",
        "Packets the kernel dropped because the queue was full (0 with fail-open)",
        kq(|k| k.dropped),
    );
    family(
        reg,
        "verdict_kernel_queue_user_dropped",
        "Packets the kernel could not send to the worker's socket and dropped (0 with fail-open)",
        kq(|k| k.user_dropped),
    );
    let waiting = Family::<Labels, Gauge>::default();
    for k in &s.kernel_queues {
        waiting
            .get_or_create(&vec![q(k.queue)])
            .set(clamp(k.waiting));
    }
    reg.register(
        "verdict_kernel_queue_waiting",
        "Packets waiting in the kernel queue for a verdict",
        waiting,
    );
    if let (Some(steered), Some(lost)) = (s.steered, s.uninspected()) {
        counter(
            reg,
            "verdict_steered_packets",
            "Packets the steering rules handed to the queues (their nft counters)",
            steered,
        );
        counter(
            reg,
            "verdict_uninspected_packets",
            "Steered packets no worker received: let through by a full fail-open queue or by bypass with no engine bound",
            lost,
        );
    }
}

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot listen for metrics on {addr}")]
    Bind {
        /// where
        addr: SocketAddr,
        /// why
        #[source]
        source: std::io::Error,
    },
    /// The server thread could not be started.
    #[error("cannot start the metrics thread")]
    Thread(#[source] std::io::Error),
}

/// The running metrics endpoint; the thread ends once `stop` is set.
pub struct Server {
    /// The bound address (the port the kernel chose when asked for port 0).
    pub addr: SocketAddr,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    /// Binds `addr` and serves `GET /metrics` (any path) from `published` until `stop` is set.
    pub fn spawn(
        addr: SocketAddr,
        published: Arc<Published>,
        stop: Arc<AtomicBool>,
    ) -> Result<Server, MetricsError> {
        let listener =
            TcpListener::bind(addr).map_err(|source| MetricsError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        // Non-blocking accept, so the thread sees `stop` without a connection to wake it.
        listener
            .set_nonblocking(true)
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            if let Err(e) = answer(conn, &published) {
                                tracing::debug!("metrics: {e}");
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            tracing::debug!("metrics: accept: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            })
            .map_err(MetricsError::Thread)?;
        Ok(Server { addr, thread })
    }

    /// Waits for the thread to end (after `stop` was set).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Reads the request head (bounded in size and time) and writes one response.
fn answer(mut conn: TcpStream, published: &Published) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let (status, ctype, body) = if !head.starts_with(b"GET ") {
        (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        )
    } else {
        match published.get().map(|s| encode_snapshot(&s)) {
            Some(Ok(text)) => (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Some(Err(_)) => (
                "500 Internal Server Error",
                "text/plain",
                "encoding failed\n".into(),
            ),
            None => (
                "503 Service Unavailable",
                "text/plain",
                "no snapshot yet\n".into(),
            ),
        }
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_queue_table() {
        let text = "    0  12345     3 2 65531     7     9      100  1\n\
                        1  12346     0 2 65531     0     0       42  1\n\
                        5      0     0 2 65531     1     1        0  1\n";
        assert_eq!(
            parse_kernel_queues(text, &[0, 1]),
            vec![
                KernelQueueStats {
                    queue: 0,
                    waiting: 3,
                    dropped: 7,
                    user_dropped: 9
                },
                KernelQueueStats {
                    queue: 1,
                    waiting: 0,
                    dropped: 0,
                    user_dropped: 0
                },
            ]
        );
        assert!(parse_kernel_queues("garbage\n1 2\n", &[1]).is_empty());
    }

    #[test]
    fn bypassed_flows_are_counted_by_scope() {
        let s = StatsSnapshot {
            pid: 1,
            written_unix: 0.0,
            uptime_secs: 0.0,
            mode: crate::run::Mode::Ips,
            mechanism: "xt NFQUEUE".into(),
            queues: vec![crate::nfq::QueueStats {
                queue: 3,
                bypassed: 2,
                half_bypassed: 5,
                ..Default::default()
            }],
            rules: Vec::new(),
            output: Default::default(),
            ops: None,
            inspect: None,
            kernel_queues: Vec::new(),
            steered: None,
        };
        let text = encode_snapshot(&s).unwrap();
        for line in [
            "verdict_bypassed_flows_total{queue=\"3\",scope=\"flow\"} 2",
            "verdict_bypassed_flows_total{queue=\"3\",scope=\"direction\"} 5",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}

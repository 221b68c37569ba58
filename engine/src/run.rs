//! The inline engine's life cycle: apply the kernel side, bind the queues, serve until told to
//! stop, then put the kernel back as it was.
//!
//! [`run`] is generic over the per-queue inspector so the same life cycle (and the same
//! worker loop) serves the detection engine and the benchmark's bare accept-all loop. The
//! kernel side is removed by a guard, so an error or a panic after loading still leaves
//! traffic flowing as before; a SIGKILL cannot run the guard, which is why the steering uses
//! `bypass` (no reader: packets are accepted) and why the next start replaces leftovers.

use crate::bypass::BypassMark;
use crate::detect::threshold::{ThresholdConfig, ThresholdState};
use crate::detect::{PacketMeta, Worker};
use crate::nflog;
use crate::nfq::{
    Decision, Inspect, NfqError, PacketInfo, Pool, QueueConfig, QueueNum, QueueStats,
};
use crate::output::{AlertEvent, Event, OutputCounters, OutputStats, PacketInfo as EventPacket};
use crate::verdict::Verdict;
use crate::wire::addr_key;
use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use verdict_nft::apply::{self, ApplyError};
use verdict_nft::render::QueueMechanism;

/// Whether decisions are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Drop, reject and replace are applied.
    Ips,
    /// Every packet is accepted unchanged (alerts are still produced by the inspector).
    Ids,
}

/// Everything [`run`] needs besides the inspectors.
pub struct RunConfig {
    /// The nft script for `table inet verdict` (kernel rules + steering).
    pub script: String,
    /// xt steering commands (empty with nft's own queue statement).
    pub xt: Vec<Vec<String>>,
    /// One worker per queue.
    pub queues: Vec<QueueNum>,
    /// Queue flags.
    pub queue: QueueConfig,
    /// ips or ids.
    pub mode: Mode,
    /// Steering mechanism in use (for stats).
    pub mechanism: QueueMechanism,
    /// Where to write the stats snapshot, if anywhere.
    pub stats_path: Option<PathBuf>,
    /// How often to write it.
    pub stats_interval: Duration,
    /// Set (e.g. by a signal handler) to stop.
    pub stop: Arc<AtomicBool>,
    /// Alerts of kernel rules (NFLOG), if any kernel rule logs.
    pub kernel_alerts: Option<KernelAlerts>,
    /// The alert output's health for the stats snapshot, if there is an output.
    pub output: Option<OutputHealth>,
    /// Reload counters and switched-off sids for the stats snapshot (see [`crate::ops`]).
    pub ops: Option<Box<dyn Fn() -> crate::ops::OpsSnapshot + Send>>,
    /// Where each snapshot is also published for the metrics endpoint, if one runs.
    pub published: Option<Arc<crate::metrics::Published>>,
    /// The workers' decode, flow table and reassembly figures, summed (absent for inspectors
    /// that keep none, like the accept-all loop).
    pub inspect: Option<Box<dyn Fn() -> crate::detect::InspectStats + Send>>,
    /// Packets the steering rules had counted before a reload replaced them (and their
    /// counters) with new ones: added to what the rules count now.
    pub steered_carry: Arc<std::sync::atomic::AtomicU64>,
}

/// Where the stats snapshot reads what the alert output wrote and lost.
pub struct OutputHealth {
    /// The writer's counters (see [`crate::output::WriterHandle::counters`]).
    pub counters: Arc<OutputCounters>,
    /// Events the workers could not hand to the writer, summed over the workers (their
    /// counters live with the inspectors, which the caller makes).
    pub workers_lost: Box<dyn Fn() -> u64 + Send>,
}

/// Where kernel rules log, and what the engine needs to turn a logged packet into an alert.
pub struct KernelAlerts {
    /// NFLOG group of the kernel rules' `log` statements.
    pub group: u16,
    /// Rule metadata by sid; a reload swaps in the new kernel rules' table.
    pub rules: Arc<arc_swap::ArcSwap<HashMap<u32, KernelRuleInfo>>>,
    /// The output writer's channel.
    pub events: Sender<Event>,
    /// Where an alert the channel refuses is counted (its `channel_lost`).
    pub lost: Arc<OutputCounters>,
}

/// What an alert of a kernel rule says about the rule.
#[derive(Debug, Clone)]
pub struct KernelRuleInfo {
    /// gid
    pub gid: u32,
    /// rev
    pub rev: u32,
    /// msg
    pub msg: Arc<str>,
    /// The classtype's description (what EVE and fast.log show, as for queue alerts).
    pub classtype: Option<Arc<str>>,
    /// priority (3 when the rule has none, like Suricata)
    pub severity: u32,
    /// action keyword
    pub action: &'static str,
    /// whether the kernel blocked the packet
    pub blocks: bool,
    /// The rule's `threshold`: the kernel logs every match, the listener gates the alerts.
    pub threshold: Option<verdict_compiler::ir::Threshold>,
    /// The rule's `detection_filter` (only on alert rules: on blocking rules it decides the
    /// action, so those stay queued).
    pub detection_filter: Option<verdict_compiler::ir::DetectionFilter>,
    /// A blocking rule on addresses, ports and protocol only: like Suricata's IP-only rules it
    /// drops the whole flow, whose later packets are then no new matches.
    pub drops_flow: bool,
    /// threshold.config `suppress` entries naming this rule (or every rule): a match they
    /// cover is not written, as for queued rules.
    pub suppress: ThresholdConfig,
}

/// Hits of one rule, for stats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHits {
    /// gid
    pub gid: u32,
    /// sid
    pub sid: u32,
    /// times the rule matched
    pub hits: u64,
    /// the rule's msg
    pub msg: String,
}

/// The stats file `verdict stats` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Engine process id.
    pub pid: u32,
    /// When the snapshot was written (seconds since the epoch).
    pub written_unix: f64,
    /// Seconds since the engine was ready.
    pub uptime_secs: f64,
    /// ips or ids.
    pub mode: Mode,
    /// "nft queue" or "xt NFQUEUE".
    pub mechanism: String,
    /// Per-queue counters.
    pub queues: Vec<QueueStats>,
    /// Rules by hits, most first (only rules that hit).
    pub rules: Vec<RuleHits>,
    /// What the alert output wrote and lost (absent in snapshots of older engines).
    #[serde(default)]
    pub output: OutputStats,
    /// Reloads and switched-off sids (absent in snapshots of older engines and of the
    /// accept-all loop).
    #[serde(default)]
    pub ops: Option<crate::ops::OpsSnapshot>,
    /// What the kernel counts for each queue (absent in snapshots of older engines).
    #[serde(default)]
    pub kernel_queues: Vec<crate::metrics::KernelQueueStats>,
    /// Packets the steering rules handed to the queues since they were loaded (their nft
    /// counters; absent when they could not be read).
    #[serde(default)]
    pub steered: Option<u64>,
    /// Decode errors, flows and reassembly limits (absent in snapshots of older engines and of
    /// the accept-all loop).
    #[serde(default)]
    pub inspect: Option<crate::detect::InspectStats>,
}

impl StatsSnapshot {
    /// Packets steered to the queues that no worker received and none waits for: what a full
    /// fail-open queue, or `bypass` with no engine bound, let through uninspected. The kernel
    /// counts neither, so it is the steering counters minus what the workers got; read a
    /// moment apart, it can miss packets of the last instant, never count extra.
    pub fn uninspected(&self) -> Option<u64> {
        let received = self.queues.iter().map(|q| q.received);
        let waiting = self.kernel_queues.iter().map(|k| k.waiting);
        let seen = received.chain(waiting).fold(0u64, u64::saturating_add);
        self.steered.map(|s| s.saturating_sub(seen))
    }
}

/// Why the engine stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Loading or removing the kernel side failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A queue could not be bound or served.
    #[error(transparent)]
    Queue(#[from] NfqError),
    /// The NFLOG group for kernel alerts could not be bound.
    #[error("cannot bind NFLOG for kernel rules' alerts")]
    Nflog(#[source] std::io::Error),
}

/// What happened during the run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Final per-queue counters.
    pub queues: Vec<QueueStats>,
}

/// Removes verdict's table and steering when dropped.
struct KernelGuard;

impl Drop for KernelGuard {
    fn drop(&mut self) {
        if let Err(e) = apply::remove() {
            tracing::error!("removing verdict's rules failed: {}", crate::nfq::chain(&e));
        }
    }
}

/// Wraps an inspector so that in IDS mode nothing is ever dropped or rewritten.
pub struct Enforce<I> {
    inner: I,
    mode: Mode,
}

impl<I: Inspect> Enforce<I> {
    /// Applies `mode` to `inner`'s decisions.
    pub fn new(inner: I, mode: Mode) -> Self {
        Enforce { inner, mode }
    }
}

impl<I: Inspect> Inspect for Enforce<I> {
    fn inspect(&mut self, pkt: &mut [u8], info: &PacketInfo) -> Decision {
        let d = self.inner.inspect(pkt, info);
        match self.mode {
            Mode::Ips => d,
            // The worker copied the packet: a rewrite in IDS mode never reaches the wire.
            // A bypass is an accept that also spares the queue, so it stays.
            Mode::Ids if matches!(d, Decision::Bypass { .. }) => d,
            Mode::Ids => Decision::Accept,
        }
    }
}

/// Applies the kernel side, serves the queues with `make(queue)`'s inspectors, calls `ready`
/// once every queue is bound, writes stats every `stats_interval` (with `hits()` for the rule
/// table), and returns when `cfg.stop` is set — after removing the kernel side.
pub fn run<I, F, H>(
    mut cfg: RunConfig,
    make: F,
    hits: H,
    ready: impl FnOnce(),
) -> Result<RunSummary, RunError>
where
    I: Inspect + Send + 'static,
    F: FnMut(QueueNum) -> I,
    H: Fn() -> Vec<RuleHits>,
{
    // Queues first: a bind failure then leaves the kernel untouched. Packets only reach the
    // queues once the steering below is loaded.
    let mode = cfg.mode;
    let make = {
        let mut make = make;
        move |q| Enforce::new(make(q), mode)
    };
    let pool = Pool::spawn(
        &cfg.queues,
        &cfg.queue,
        mode == Mode::Ips,
        make,
        Arc::clone(&cfg.stop),
    )?;
    // NFLOG is bound before the rules that log to it are loaded, so no alert is lost.
    let nflog_thread = match cfg.kernel_alerts.take() {
        Some(ka) => match spawn_nflog(ka, Arc::clone(&cfg.stop)) {
            Ok(h) => Some(h),
            Err(e) => {
                let _ = pool.shutdown();
                return Err(RunError::Nflog(e));
            }
        },
        None => None,
    };
    let guard = match apply::load(&cfg.script, &cfg.xt) {
        // At start the counters of a table left by a crashed run are not this engine's.
        Ok(_) => KernelGuard,
        Err(e) => {
            cfg.stop.store(true, Ordering::Relaxed);
            let _ = pool.shutdown();
            return Err(e.into());
        }
    };
    let started = Instant::now();
    let wanted = cfg.stats_path.is_some() || cfg.published.is_some();
    if wanted {
        // Before `ready`: whoever reads the stats file or scrapes the metrics once the engine
        // says it is ready finds numbers, not a missing snapshot.
        publish(&cfg, &snapshot(&cfg, &pool, &hits, started));
    }
    ready();
    let mut next_stats = Instant::now() + cfg.stats_interval;
    let mut failed = false;
    while !cfg.stop.load(Ordering::Relaxed) {
        if pool.any_finished() {
            // A worker died (it logs why); stop everything rather than run half blind.
            failed = true;
            break;
        }
        if wanted && Instant::now() >= next_stats {
            publish(&cfg, &snapshot(&cfg, &pool, &hits, started));
            next_stats += cfg.stats_interval;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let last = snapshot(&cfg, &pool, &hits, started);
    publish(&cfg, &last);
    // Steering goes before the readers do, so no packet waits on a queue nobody serves.
    drop(guard);
    let result = pool.shutdown();
    if let Some(h) = nflog_thread {
        let _ = h.join();
    }
    if failed {
        result?;
    }
    Ok(RunSummary {
        queues: last.queues,
    })
}

fn snapshot<H: Fn() -> Vec<RuleHits>>(
    cfg: &RunConfig,
    pool: &Pool,
    hits: &H,
    started: Instant,
) -> StatsSnapshot {
    let mut rules = hits();
    rules.retain(|r| r.hits > 0);
    rules.sort_by(|a, b| b.hits.cmp(&a.hits).then(a.sid.cmp(&b.sid)));
    // Read before the workers' counts, so a packet steered in between is missed, not counted
    // as uninspected.
    let steered = apply::steered_packets(cfg.mechanism)
        .map(|n| n.saturating_add(cfg.steered_carry.load(Ordering::Relaxed)));
    StatsSnapshot {
        pid: std::process::id(),
        written_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        uptime_secs: started.elapsed().as_secs_f64(),
        mode: cfg.mode,
        mechanism: cfg.mechanism.name().to_string(),
        queues: pool.stats(),
        rules,
        output: cfg.output.as_ref().map_or_else(OutputStats::default, |o| {
            let mut s = o.counters.snapshot();
            s.channel_lost += (o.workers_lost)();
            s
        }),
        ops: cfg.ops.as_ref().map(|f| f()),
        kernel_queues: crate::metrics::read_kernel_queues(
            &cfg.queues.iter().map(|q| q.0).collect::<Vec<_>>(),
        ),
        steered,
        inspect: cfg.inspect.as_ref().map(|f| f()),
    }
}

/// Writes the snapshot to the stats file and hands it to the metrics endpoint, whichever
/// are configured.
fn publish(cfg: &RunConfig, snap: &StatsSnapshot) {
    if let Some(path) = &cfg.stats_path {
        write_stats(path, snap);
    }
    if let Some(p) = &cfg.published {
        p.set(snap.clone());
    }
}

/// Writes atomically (temp file + rename) so a reader never sees half a file.
fn write_stats(path: &Path, s: &StatsSnapshot) {
    let tmp = path.with_extension("json.tmp");
    let res = serde_json::to_vec_pretty(s)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        tracing::warn!("cannot write stats to {}: {e}", path.display());
    }
}

/// Reads a stats file written by a running engine.
pub fn read_stats(path: &Path) -> std::io::Result<StatsSnapshot> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

/// Steering that sends all forwarded traffic to `queues` (no kernel rules): for the
/// accept-all benchmark loop and for checking the queue path on its own.
pub fn steer_everything(queues: &[QueueNum], m: QueueMechanism) -> (String, Vec<Vec<String>>) {
    let first = queues.iter().map(|q| q.0).min().unwrap_or(0);
    let last = queues.iter().map(|q| q.0).max().unwrap_or(0);
    let range = if first == last {
        format!("{first}")
    } else {
        format!("{first}-{last}")
    };
    match m {
        QueueMechanism::NftQueue => {
            let fanout = if first == last { "" } else { "fanout," };
            let script = format!(
                "table inet verdict {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    counter queue flags {fanout}bypass to {range}\n  }}\n}}\n"
            );
            (script, Vec::new())
        }
        QueueMechanism::XtNfqueue => {
            let script = "table inet verdict {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n  }\n}\n".to_string();
            let target = if first == last {
                vec!["--queue-num".to_string(), first.to_string()]
            } else {
                vec!["--queue-balance".to_string(), format!("{first}:{last}")]
            };
            let mut xt = Vec::new();
            for tool in ["iptables-nft", "ip6tables-nft"] {
                let chain = apply::XT_CHAIN_PREFIX.to_string();
                xt.push(vec![tool.into(), "-N".into(), chain.clone()]);
                let mut rule = vec![
                    tool.into(),
                    "-A".into(),
                    chain.clone(),
                    "-j".into(),
                    "NFQUEUE".into(),
                ];
                rule.extend(target.iter().cloned());
                rule.push("--queue-bypass".into());
                xt.push(rule);
                xt.push(vec![
                    tool.into(),
                    "-I".into(),
                    "FORWARD".into(),
                    "-j".into(),
                    chain,
                ]);
            }
            (script, xt)
        }
    }
}

/// The detection engine as a queue inspector.
pub struct DetectInspect {
    worker: Worker,
    names: IfNames,
    /// One metadata value per input interface, reused: only the time changes per packet, so
    /// the hot path allocates no interface name.
    metas: Vec<(u32, PacketMeta)>,
    /// Follows reloads of the rule set, when the engine can reload.
    live: Option<crate::ops::LiveSlot>,
}

impl DetectInspect {
    /// Wraps one detection worker (one per queue: it owns its flow table).
    pub fn new(worker: Worker) -> Self {
        DetectInspect {
            worker,
            names: IfNames::default(),
            metas: Vec::new(),
            live: None,
        }
    }

    /// Moves the worker to each rule set `slot`'s engine reloads, before the next packet.
    pub fn with_live(mut self, slot: crate::ops::LiveSlot) -> Self {
        self.live = Some(slot);
        self
    }
}

impl Inspect for DetectInspect {
    fn inspect(&mut self, pkt: &mut [u8], info: &PacketInfo) -> Decision {
        let slot = match self.metas.iter().position(|(i, _)| *i == info.in_ifindex) {
            Some(slot) => slot,
            None => {
                let meta = PacketMeta {
                    ts: info.ts,
                    in_iface: self.names.get(info.in_ifindex),
                    pcap_cnt: None,
                    // A rewritten payload goes back to the kernel, which marks the packet
                    // CHECKSUM_NONE (nfqnl_mangle): nobody completes a partial checksum after
                    // that, so a rewrite must always write the full L4 checksum, whatever the
                    // packet arrived with. (GSO packets are re-checksummed when segmented.)
                    checksum_ready: true,
                    ct_reply: false,
                };
                self.metas.push((info.in_ifindex, meta));
                self.metas.len() - 1
            }
        };
        let meta = &mut self.metas[slot].1;
        meta.ts = info.ts;
        meta.ct_reply = info.ct_reply;
        if let Some(live) = &mut self.live {
            live.refresh(&mut self.worker);
        }
        match self.worker.inspect(pkt, meta) {
            Verdict::Accept => match self.worker.take_bypass() {
                BypassMark::None => Decision::Accept,
                BypassMark::Set { scope, first } => Decision::Bypass { first, scope },
            },
            Verdict::Drop(_) if self.worker.take_kernel_block() => Decision::DropFlow(None),
            Verdict::Reject(t, _) if self.worker.take_kernel_block() => Decision::DropFlow(Some(t)),
            Verdict::Drop(_) => Decision::Drop,
            Verdict::Reject(t, _) => Decision::Reject(t),
            Verdict::Replace(_) => Decision::Replace,
        }
    }
}

/// Interface names by index, looked up once each.
#[derive(Debug, Default)]
struct IfNames {
    known: Vec<(u32, Option<String>)>,
}

impl IfNames {
    fn get(&mut self, index: u32) -> Option<String> {
        if index == 0 {
            return None;
        }
        if let Some((_, n)) = self.known.iter().find(|(i, _)| *i == index) {
            return n.clone();
        }
        let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
        let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
        let name = (!p.is_null()).then(|| {
            // SAFETY: on success buf holds a NUL-terminated name.
            unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        });
        self.known.push((index, name.clone()));
        name
    }
}

fn spawn_nflog(
    ka: KernelAlerts,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut listener = nflog::Listener::bind(ka.group, Duration::from_millis(100))?;
    std::thread::Builder::new()
        .name("nflog".into())
        .spawn(move || {
            let mut names = IfNames::default();
            // One tracker for all kernel alerts, keyed by sid: exact where the queue's
            // per-worker trackers may count a source on two workers.
            let mut gate = KernelGate::default();
            while !stop.load(Ordering::Relaxed) {
                let res = listener.recv(|logged| {
                    let rules = ka.rules.load();
                    let ev = kernel_alert(&rules, &logged, &mut names)
                        .filter(|ev| gate.allows(&rules, ev));
                    if let Some(ev) = ev {
                        // Never block on the writer: a full channel loses the alert, counted,
                        // like a worker's.
                        if ka.events.try_send(Event::Alert(Box::new(ev))).is_err() {
                            ka.lost.channel_lost.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
                if let Err(e) = res {
                    if e.raw_os_error() == Some(libc::ENOBUFS) {
                        continue;
                    }
                    tracing::error!("NFLOG receive failed, kernel alerts stop: {e}");
                    break;
                }
            }
        })
}

/// Thresholds and detection filters of kernel rules, applied to their NFLOG alert stream with
/// the engine's own semantics ([`ThresholdState`]), so the kernel never waits for them.
#[derive(Debug)]
struct KernelGate {
    state: ThresholdState,
    dropped: DroppedFlows,
    started: Instant,
}

impl Default for KernelGate {
    fn default() -> Self {
        KernelGate {
            state: ThresholdState::default(),
            dropped: DroppedFlows::default(),
            started: Instant::now(),
        }
    }
}

impl KernelGate {
    /// Counts the alert against its rule's filter and threshold; false if it is not written.
    fn allows(&mut self, rules: &HashMap<u32, KernelRuleInfo>, ev: &AlertEvent) -> bool {
        let Some(rule) = rules.get(&ev.sid) else {
            return false;
        };
        let now = self.started.elapsed();
        if rule.drops_flow && !self.dropped.first_match(&ev.pkt, now) {
            return false;
        }
        let (src, dst) = (addr_key(ev.pkt.src_ip), addr_key(ev.pkt.dest_ip));
        let ports = (ev.pkt.src_port, ev.pkt.dest_port);
        // As in the engine: the filter decides whether the rule matched at all, then the
        // threshold whether that match alerts. No flow id: by_flow rules stay queued.
        if let Some(f) = rule.detection_filter {
            if !self.state.filter_passed(ev.sid, f, src, dst, 0, ports, now) {
                return false;
            }
        }
        let allowed = match rule.threshold {
            Some(t) => self.state.alert_allowed(ev.sid, t, src, dst, 0, now),
            None => true,
        };
        // After the threshold, as in the engine: a suppressed match still counts.
        allowed
            && !rule
                .suppress
                .suppressed(rule.gid, ev.sid, ev.pkt.src_ip, ev.pkt.dest_ip)
    }
}

/// Flows a flow-dropping kernel rule dropped, kept as the engine's flow table keeps them.
///
/// The engine drops the rest of such a flow without matching rules again (Suricata's flow
/// drop), so only the flow's first packet counts for thresholds. The kernel cannot remember
/// it: conntrack never confirms an entry whose first packet was dropped, so the flow's mark is
/// lost and every later packet matches the rule again and is logged. This map restores the
/// engine's count: a packet of a dropped flow within the engine's idle timeout (30 s, 10 s
/// after a FIN or RST; a new SYN after those starts a new flow) is not a new match.
#[derive(Debug, Default)]
struct DroppedFlows {
    /// (low address, high address, low port, high port, protocol) → (last seen, closing).
    map: HashMap<FlowTuple, (Duration, bool)>,
}

/// A flow's addresses and ports in a fixed order, and its protocol: the engine's flow key.
type FlowTuple = (u128, u128, u16, u16, u8);

/// Bound of the map; past it, expired flows are forgotten first, then all.
const MAX_DROPPED_FLOWS: usize = 65_536;

impl DroppedFlows {
    /// Whether `pkt` starts a dropped flow (a rule match), recording the flow either way.
    fn first_match(&mut self, pkt: &EventPacket, now: Duration) -> bool {
        let cfg = crate::flow::FlowConfig::default();
        let (s, d) = (
            (addr_key(pkt.src_ip), pkt.src_port),
            (addr_key(pkt.dest_ip), pkt.dest_port),
        );
        let ((lo, lo_port), (hi, hi_port)) = if s <= d { (s, d) } else { (d, s) };
        let key = (lo, hi, lo_port, hi_port, pkt.proto);
        let flags = tcp_flags(&pkt.bytes);
        let closing = flags.is_some_and(|f| f & (TCP_FIN | TCP_RST) != 0);
        let syn_only = flags.is_some_and(|f| f & (TCP_SYN | TCP_ACK) == TCP_SYN);
        let timeout = |closed: bool| {
            if closed {
                cfg.closed_timeout
            } else {
                cfg.new_timeout
            }
        };
        if let Some((seen, closed)) = self.map.get_mut(&key) {
            let live = now.saturating_sub(*seen) <= timeout(*closed) && !(*closed && syn_only);
            if live {
                *seen = now;
                *closed |= closing;
                return false;
            }
        }
        if self.map.len() >= MAX_DROPPED_FLOWS {
            self.map
                .retain(|_, (seen, closed)| now.saturating_sub(*seen) <= timeout(*closed));
            if self.map.len() >= MAX_DROPPED_FLOWS {
                self.map.clear();
            }
        }
        self.map.insert(key, (now, closing));
        true
    }
}

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// The TCP flags of an L3 packet, if it is TCP.
fn tcp_flags(l3: &[u8]) -> Option<u8> {
    match etherparse::SlicedPacket::from_ip(l3).ok()?.transport? {
        etherparse::TransportSlice::Tcp(t) => Some(
            [
                (t.fin(), TCP_FIN),
                (t.syn(), TCP_SYN),
                (t.rst(), TCP_RST),
                (t.ack(), TCP_ACK),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |acc, (_, bit)| acc | bit),
        ),
        _ => None,
    }
}

/// The alert for a packet a kernel rule logged (None if the prefix or packet is not ours).
fn kernel_alert(
    rules: &HashMap<u32, KernelRuleInfo>,
    logged: &nflog::Logged,
    names: &mut IfNames,
) -> Option<AlertEvent> {
    let sid = logged.sid()?;
    let rule = rules.get(&sid)?;
    let sliced = etherparse::SlicedPacket::from_ip(&logged.payload).ok()?;
    let (src_ip, dest_ip, proto, ip_fields) = match &sliced.net {
        Some(etherparse::NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                std::net::IpAddr::V4(h.source_addr()),
                std::net::IpAddr::V4(h.destination_addr()),
                h.protocol().0,
                (
                    h.ttl(),
                    h.dcp().value() << 2 | h.ecn().value(),
                    u32::from(h.identification()),
                ),
            )
        }
        Some(etherparse::NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                std::net::IpAddr::V6(h.source_addr()),
                std::net::IpAddr::V6(h.destination_addr()),
                v6.payload().ip_number.0,
                (h.hop_limit(), h.traffic_class(), h.flow_label().value()),
            )
        }
        _ => return None,
    };
    let (src_port, dest_port) = match &sliced.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        Some(etherparse::TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        _ => (0, 0),
    };
    let pkt = EventPacket {
        ts: SystemTime::now(),
        flow_id: None,
        pcap_cnt: None,
        in_iface: names.get(logged.in_ifindex),
        src_ip,
        dest_ip,
        src_port,
        dest_port,
        proto,
        to_server: None,
        bytes: logged.payload.clone(),
        ip_fields,
        tunnel: None,
    };
    Some(AlertEvent {
        pkt: Arc::new(pkt),
        blocked: rule.blocks,
        gid: rule.gid,
        sid,
        rev: rule.rev,
        signature: Arc::clone(&rule.msg),
        category: rule.classtype.clone(),
        severity: rule.severity,
        rule_action: rule.action,
        matches: Vec::new(),
        app: None,
        context: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(src: [u8; 4], sport: u16, flags: u8) -> EventPacket {
        // IPv4 + TCP header, enough for the flag parser.
        let mut b = vec![0u8; 40];
        b[0] = 0x45;
        b[3] = 40;
        b[8] = 64;
        b[9] = 6;
        b[12..16].copy_from_slice(&src);
        b[16..20].copy_from_slice(&[198, 51, 100, 2]);
        b[20..22].copy_from_slice(&sport.to_be_bytes());
        b[22..24].copy_from_slice(&80u16.to_be_bytes());
        b[32] = 0x50;
        b[33] = flags;
        EventPacket {
            ts: SystemTime::now(),
            flow_id: None,
            pcap_cnt: None,
            in_iface: None,
            src_ip: std::net::Ipv4Addr::from(src).into(),
            dest_ip: std::net::Ipv4Addr::new(198, 51, 100, 2).into(),
            src_port: sport,
            dest_port: 80,
            proto: 6,
            to_server: None,
            bytes: b,
            ip_fields: (64, 0, 0),
            tunnel: None,
        }
    }

    #[test]
    fn a_dropped_flow_matches_once_until_the_engine_would_forget_it() {
        let s = |n| Duration::from_secs(n);
        let mut d = DroppedFlows::default();
        let syn = pkt([192, 0, 2, 3], 4000, TCP_SYN);
        assert!(d.first_match(&syn, s(0)), "the flow's first packet");
        assert!(
            !d.first_match(&syn, s(1)),
            "a retransmitted SYN of the flow"
        );
        assert!(!d.first_match(&syn, s(31)), "idle 30 s: still the flow");
        assert!(d.first_match(&syn, s(62)), "idle over 30 s: a new flow");
        assert!(d.first_match(&pkt([192, 0, 2, 3], 4001, TCP_SYN), s(62)));
        // After a RST the flow times out in 10 s, and a new SYN starts a new one at once.
        assert!(!d.first_match(&pkt([192, 0, 2, 3], 4000, TCP_RST), s(63)));
        assert!(d.first_match(&syn, s(64)), "port reuse after the reset");
        assert!(!d.first_match(&pkt([192, 0, 2, 3], 4000, TCP_ACK | TCP_FIN), s(65)));
        assert!(d.first_match(&pkt([192, 0, 2, 3], 4000, TCP_ACK), s(76)));
        assert!(tcp_flags(&[0x45, 0]).is_none(), "a cut packet has no flags");
    }
}

//! The detection path shared by `verdict run` (NFQUEUE) and `verdict replay` (pcap):
//! [`Detector`] (immutable compiled rule set, shared via `Arc`) and [`Worker`] (one per thread,
//! owns its flow table, scratch buffers and threshold state), whose [`Worker::inspect`] turns
//! one L3 packet into a [`Verdict`].
//!
//! Per packet: parse → flow lookup (a dropped flow's later packets are dropped, a passed
//! flow's accepted, without running rules) → prefilter candidates → per candidate: header,
//! flow, flowbit and payload tests (rules that set flowbits run before the others so a bit set
//! by one packet is visible to rules testing it on that same packet) → action resolution.
//!
//! Action resolution follows Suricata's `action-order` (default pass, drop, reject, alert; see
//! [`order`] and `resolve`): the matches are walked in that order, each alerting and acting
//! until a `pass` is applied; the first `drop`/`sdrop`/`reject*` decides the verdict; drop and
//! pass act on the rest of the flow only for IP-only, app-layer and stream matches. With no
//! blocking rule, `replace` contents of the matching rules rewrite the packet. Traffic
//! exceptions (midstream pickup, reassembly memcap) get their exception policy first
//! (`policy`, [`crate::exception`]).
//!
//! In IDS mode (`DetectConfig::inline == false`) every verdict is `Accept` and alerts say
//! `allowed`, as Suricata in IDS mode; a drop rule still stops the inspection of its flow.
//!
//! Payload inspection is per packet: there is no TCP stream reassembly yet, so content split
//! across two segments is not matched (Snort/Suricata would match it in the reassembled
//! stream with `flow:established` rules); rules see each segment's payload.

mod app;
pub mod datajson;
pub mod datasets;
pub(crate) mod memo;
pub mod order;
mod policy;
pub mod pred;
pub mod rate;
mod reload;
mod resolve;
pub mod state;
pub mod tag;
pub mod threshold;
pub mod tx;

use crate::flow::{Flow, FlowConfig, FlowTable, PktFlow};
use crate::output::{AlertEvent, DropEvent, Event, PacketInfo};
use crate::prefilter::{Class, Prefilter, PrefilterStats, Scratch};
use crate::stream::StreamEvents;
use crate::verdict::Verdict;
use crate::vm::{CompiledProgram, Effect, PayloadOp, VmState};
use crate::wire::{addr_key, Packet, PacketMut};
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use threshold::{ThresholdConfig, ThresholdState};
use verdict_compiler::bytecode::{Program, RuleSetImage, BYTECODE_VERSION, L4};
use verdict_compiler::ir::{Action, FlowOpts, FlowbitCmd, RejectTarget, Sid};

/// Why a rule set could not be loaded into the engine.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The image was built for another bytecode version.
    #[error("bytecode version {found} is not supported (this engine reads version {expected}); recompile the rules")]
    Version {
        /// found
        found: u32,
        /// expected
        expected: u32,
    },
    /// A rule inspects a buffer the engine does not produce yet.
    #[error("sid {sid}: the {buffer} buffer is not supported by the engine yet (no app-layer parsing); the compiler should have rejected this rule")]
    UnsupportedBuffer {
        /// sid
        sid: u32,
        /// buffer name
        buffer: String,
    },
    /// A pcre does not compile with PCRE2.
    #[error("sid {sid}: pcre /{pattern}/ does not compile: {error}")]
    Pcre {
        /// sid
        sid: u32,
        /// pattern
        pattern: String,
        /// PCRE2's message
        error: String,
    },
    /// A program is inconsistent.
    #[error("sid {sid}: {reason}")]
    Invalid {
        /// sid
        sid: u32,
        /// what
        reason: String,
    },
    /// The prefilter automaton could not be built.
    #[error("prefilter: {0}")]
    Prefilter(String),
}

/// What to do with packets that cannot be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadPacketPolicy {
    /// Accept them (the default: the kernel already accepted them as packets).
    #[default]
    Accept,
    /// Drop them.
    Drop,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct DetectConfig {
    /// Flow table settings (midstream, size, timeouts).
    pub flow: FlowConfig,
    /// Inline (IPS): drop/reject/replace take effect. Off: IDS, alerts only.
    pub inline: bool,
    /// threshold.config contents.
    pub thresholds: ThresholdConfig,
    /// Policy for unparseable packets.
    pub bad_packets: BadPacketPolicy,
    /// sids that never match (the `disabled = [...]` list).
    pub disabled: Vec<u32>,
    /// sids in IDS mode inside an inline engine: they alert, but never drop, reject or
    /// rewrite (their alerts say `allowed`: a would-be drop).
    pub dry_run: Vec<u32>,
    /// Prefilter automaton layout.
    pub prefilter: crate::prefilter::Strategy,
    /// Inspect payloads only within the first N bytes of each flow direction (like
    /// Suricata's `stream.reassembly.depth` or Snort's flow depth); later packets still run
    /// header, flow and flowbit tests (`dsize` included) but no payload test. `None` (the
    /// default) inspects everything. A bulk transfer past the depth then costs almost
    /// nothing — at the price that an attacker can hide content behind that many bytes.
    pub inspect_depth: Option<u64>,
    /// Reassemble TCP streams and parse app layers on them (on by default).
    pub streams: bool,
    /// Reassembly and app-layer parser limits.
    pub session: crate::session::SessionConfig,
    /// When a flow is handed back to the kernel (`crate::bypass`); replay applies it too, so
    /// it sees what the live engine would.
    pub bypass: crate::bypass::BypassPolicy,
    /// In which order the matches of a packet are applied (Suricata's `action-order`).
    pub action_order: order::ActionOrder,
    /// What to do on traffic exceptions (midstream pickup, memcaps, parser errors), already
    /// resolved for this mode (see [`crate::exception`]).
    pub exceptions: crate::exception::ExceptionPolicies,
    /// Which tunnels are looked into, and on which UDP ports.
    pub tunnels: crate::wire::tunnel::TunnelConfig,
    /// sids that run on packets inside tunnels only: the rules the kernel evaluates itself,
    /// which see only the outer headers of a tunnel packet.
    pub inner_only: Vec<u32>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            flow: FlowConfig::default(),
            inline: false,
            thresholds: ThresholdConfig::default(),
            bad_packets: BadPacketPolicy::default(),
            disabled: Vec::new(),
            dry_run: Vec::new(),
            prefilter: crate::prefilter::Strategy::default(),
            inspect_depth: None,
            streams: true,
            session: crate::session::SessionConfig::default(),
            bypass: Default::default(),
            action_order: Default::default(),
            exceptions: Default::default(),
            tunnels: Default::default(),
            inner_only: Vec::new(),
        }
    }
}

/// Per-rule static data the hot path needs besides the compiled tests.
#[derive(Debug)]
struct RuleInfo {
    msg: Arc<str>,
    /// The classtype's description (what EVE and fast.log show).
    classtype: Option<Arc<str>>,
    threshold: Option<verdict_compiler::ir::Threshold>,
    /// threshold.config's `rate_filter` for this rule.
    rate: Option<rate::RateFilter>,
    /// Whether a drop, reject or pass of this rule acts on the flow or on the packet only.
    scope: resolve::Scope,
    src_any: bool,
    dst_any: bool,
    sp_any: bool,
    dp_any: bool,
    /// Outside the compiled tests so `disable SID` is one atomic store (control socket).
    enabled: std::sync::atomic::AtomicBool,
    /// IDS mode for this rule alone (`DetectConfig::dry_run`).
    dry_run: bool,
    /// Runs on packets inside tunnels only (`DetectConfig::inner_only`).
    inner_only: bool,
}

/// Programs below which [`compile_programs`] stays on the calling thread.
const PARALLEL_MIN_PROGRAMS: usize = 2000;

/// Compiles the programs, in order; large sets on up to 8 threads, since most of the time
/// goes to pcre2's JIT, regex by regex (a third of the engine's start with ET Open).
fn compile_programs(programs: &[Program]) -> Result<Vec<CompiledProgram>, LoadError> {
    let threads = if programs.len() < PARALLEL_MIN_PROGRAMS {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    if threads <= 1 {
        return programs.iter().map(CompiledProgram::new).collect();
    }
    let per = programs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = programs
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(CompiledProgram::new)
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(programs.len());
        for h in parts {
            // The first error in program order wins, as on one thread.
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))?);
        }
        Ok(out)
    })
}

/// An immutable, compiled rule set: share it between workers with `Arc`.
#[derive(Debug)]
pub struct Detector {
    programs: Vec<Program>,
    compiled: Vec<CompiledProgram>,
    info: Vec<RuleInfo>,
    /// Prefilter of the packet programs.
    prefilter: Prefilter,
    /// Transaction programs and their per-buffer prefilters.
    tx: tx::TxIndex,
    /// Per program: the app protocol the flow must speak for it to run.
    app_of: Vec<Option<verdict_compiler::ir::AppProto>>,
    /// Per program: its evaluation rank (flowbit setters first, then file order).
    rank: Vec<u32>,
    flowbits: usize,
    cfg: DetectConfig,
}

impl Detector {
    /// Compiles the image for the engine: pcre2 regexes (JIT, match limits), content
    /// searchers, the prefilter automata and port tables.
    pub fn new(image: &RuleSetImage, cfg: &DetectConfig) -> Result<Detector, LoadError> {
        Detector::from_image(image.clone(), cfg)
    }

    /// Like [`Detector::new`], keeping the image's programs instead of a copy of them (with
    /// ET Open the copy was 10 MB more at the start-up peak).
    pub fn from_image(image: RuleSetImage, cfg: &DetectConfig) -> Result<Detector, LoadError> {
        if image.version != BYTECODE_VERSION {
            return Err(LoadError::Version {
                found: image.version,
                expected: BYTECODE_VERSION,
            });
        }
        let compiled = compile_programs(&image.programs)?;
        let n = image.programs.len() as u32;
        // Rules that set flowbits are evaluated first, then the rest, each group in file order.
        let order: Vec<u32> = compiled
            .iter()
            .enumerate()
            .map(|(i, c)| if c.sets_bits { i as u32 } else { n + i as u32 })
            .collect();
        let txi = tx::TxIndex::build(&image.programs, &compiled, &order, cfg.prefilter)
            .map_err(LoadError::Prefilter)?;
        let pats = image
            .programs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if txi.is_tx(i) {
                    None
                } else {
                    crate::prefilter::pattern_of(p)
                }
            })
            .collect();
        let rank = order.clone();
        let prefilter = Prefilter::build(&image.programs, order, cfg.prefilter, pats, |i| {
            !txi.is_tx(i)
        })
        .map_err(LoadError::Prefilter)?;
        let app_of: Vec<_> = image
            .programs
            .iter()
            .zip(&compiled)
            .map(|(p, c)| tx::program_app(p, c))
            .collect();
        let mut cfg = cfg.clone();
        cfg.dry_run.sort_unstable();
        cfg.inner_only.sort_unstable();
        // A parser runs only when some rule needs its protocol.
        let needs = |a| app_of.contains(&Some(a));
        cfg.session.http_enabled |= needs(verdict_compiler::ir::AppProto::Http);
        cfg.session.tls_enabled |= needs(verdict_compiler::ir::AppProto::Tls);
        cfg.session.dns_enabled |= needs(verdict_compiler::ir::AppProto::Dns);
        cfg.session.ssh_enabled |= needs(verdict_compiler::ir::AppProto::Ssh);
        cfg.session.ftp_enabled |= needs(verdict_compiler::ir::AppProto::Ftp);
        cfg.session.smtp_enabled |= needs(verdict_compiler::ir::AppProto::Smtp);
        cfg.session.sip_enabled |= needs(verdict_compiler::ir::AppProto::Sip);
        cfg.session.snmp_enabled |= needs(verdict_compiler::ir::AppProto::Snmp);
        cfg.session.krb5_enabled |= needs(verdict_compiler::ir::AppProto::Krb5);
        cfg.session.dcerpc_enabled |= needs(verdict_compiler::ir::AppProto::Dcerpc);
        cfg.session.http.files = file_needs(&compiled);
        let info = image
            .programs
            .iter()
            .zip(&compiled)
            .enumerate()
            .map(|(i, (p, c))| RuleInfo {
                msg: Arc::from(p.msg.as_str()),
                classtype: p
                    .classtype
                    .as_deref()
                    .map(|c| Arc::from(crate::output::eve::classification(c))),
                threshold: cfg.thresholds.threshold_for(p.gid.0, p.sid.0, p.threshold),
                rate: rate::rate_for(&cfg.thresholds.rates, p.gid.0, p.sid.0),
                scope: resolve::scope_of(p, c, txi.is_tx(i), app_of[i].is_some()),
                src_any: p.src.is_any(),
                dst_any: p.dst.is_any(),
                sp_any: p.src_ports.is_full(),
                dp_any: p.dst_ports.is_full(),
                enabled: (!cfg.disabled.contains(&p.sid.0)).into(),
                dry_run: cfg.dry_run.binary_search(&p.sid.0).is_ok(),
                inner_only: cfg.inner_only.binary_search(&p.sid.0).is_ok(),
            })
            .collect();
        Ok(Detector {
            programs: image.programs,
            compiled,
            info,
            prefilter,
            tx: txi,
            app_of,
            rank,
            flowbits: image.flowbits.len(),
            cfg,
        })
    }
    /// Switches every program with this sid on or off for all workers at once (the next
    /// packet sees it); returns how many programs carry the sid (0: not a queued rule).
    pub fn set_enabled(&self, sid: u32, on: bool) -> usize {
        let mut n = 0;
        for (p, info) in self.programs.iter().zip(&self.info) {
            if p.sid.0 == sid {
                info.enabled.store(on, std::sync::atomic::Ordering::Relaxed);
                n += 1;
            }
        }
        n
    }
    /// Number of programs.
    pub fn len(&self) -> usize {
        self.programs.len()
    }
    /// True if there are no programs.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }
    /// The programs, indexed like per-rule counters.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }
    /// One line per program: how it is reached and what the VM runs, e.g.
    /// `sid 406: prefilter "evil" -> 1 payload op`. Snapshots of this show strategy changes.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for (i, (p, c)) in self.programs.iter().zip(&self.compiled).enumerate() {
            let mut notes = Vec::new();
            if !c.header.is_empty() {
                notes.push(format!("{} header", c.header.len()));
            }
            if !c.bit_tests.is_empty() {
                notes.push(format!("{} flowbit tests", c.bit_tests.len()));
            }
            notes.push(format!("{} payload ops", c.payload.len()));
            if c.payload
                .iter()
                .any(|o| matches!(o, PayloadOp::Content { skip: true, .. }))
            {
                notes.push("fast_pattern:only proven by the prefilter".into());
            }
            if c.sets_bits {
                notes.push("sets flowbits: runs first".into());
            }
            if c.noalert {
                notes.push("noalert".into());
            }
            let reach = if self.tx.is_tx(i) {
                let side = match self.tx.side[i] {
                    tx::Side::ToServer => "request",
                    tx::Side::ToClient => "response",
                    tx::Side::Either => "either direction",
                };
                match crate::prefilter::app_pattern_of(p) {
                    Some((b, pat)) => format!(
                        "per transaction ({side}), prefilter {} \"{}\"{}",
                        verdict_compiler::classify::buffer_name(b),
                        pat.escaped(),
                        if pat.nocase { " nocase" } else { "" }
                    ),
                    None => format!("per transaction ({side}), no pattern: every progress"),
                }
            } else {
                self.prefilter.describe(i).to_string()
            };
            out.push_str(&format!(
                "sid {} ({}): {} -> {}\n",
                p.sid,
                p.action.keyword(),
                reach,
                notes.join(", ")
            ));
        }
        out
    }

    /// Prefilter statistics.
    pub fn prefilter_stats(&self) -> PrefilterStats {
        self.prefilter.stats()
    }
    /// The settings it was built with.
    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }
}

/// Per-worker counters, readable from other threads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets inspected.
    pub received: AtomicU64,
    /// Accepted unchanged.
    pub accepted: AtomicU64,
    /// Dropped.
    pub dropped: AtomicU64,
    /// Rejected.
    pub rejected: AtomicU64,
    /// Rewritten.
    pub replaced: AtomicU64,
    /// Alerts emitted.
    pub alerts: AtomicU64,
    /// Unparseable packets.
    pub bad_packets: AtomicU64,
    /// Events lost because the output channel was full or the writer had stopped.
    pub events_lost: AtomicU64,
    /// Flows handed back to the kernel (`crate::bypass`).
    pub bypassed: AtomicU64,
    /// Flows one direction of which was handed back to the kernel alone (`bypass =
    /// "direction"`); a flow bypassed whole later counts in `bypassed` too.
    pub half_bypassed: AtomicU64,
    /// Packets that carried a tunnel whose inner packet was inspected too.
    pub tunneled: AtomicU64,
    /// pcre evaluations stopped by the match or depth limit (each counted as no match).
    pub pcre_limit_hits: AtomicU64,
    /// Matches per program (index = program index in the image).
    pub rule_hits: Vec<AtomicU64>,
    /// The flow table and reassembly figures, as of the last packet.
    pub table: TableGauges,
}

/// The flow table's and stream reassembly's figures, which live unshared in the worker, as it
/// last published them (after each packet) for the stats snapshot.
#[derive(Debug, Default)]
pub struct TableGauges {
    flows: AtomicU64,
    flows_created: AtomicU64,
    flows_evicted: AtomicU64,
    stream_memory: AtomicU64,
    stream_memory_peak: AtomicU64,
    stream: [AtomicU64; crate::stream::STREAM_COUNTERS],
}

impl TableGauges {
    fn publish(&self, flows: &FlowTable) {
        let set = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        let mem = flows.stream_mem();
        set(&self.flows, flows.len() as u64);
        set(&self.flows_created, flows.created());
        set(&self.flows_evicted, flows.evicted());
        set(&self.stream_memory, mem.used() as u64);
        set(&self.stream_memory_peak, mem.peak() as u64);
        for (a, v) in self.stream.iter().zip(mem.counters().to_array()) {
            set(a, v);
        }
    }

    fn copy_from(&self, other: &TableGauges) {
        let pairs = [
            (&self.flows, &other.flows),
            (&self.flows_created, &other.flows_created),
            (&self.flows_evicted, &other.flows_evicted),
            (&self.stream_memory, &other.stream_memory),
            (&self.stream_memory_peak, &other.stream_memory_peak),
        ];
        for (to, from) in pairs
            .into_iter()
            .chain(self.stream.iter().zip(&other.stream))
        {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// What the workers' decoders, flow tables and reassembly count, summed over the workers: the
/// limit and anomaly counters an operator watches under hostile traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct InspectStats {
    /// Packets the decoder could not parse (truncated or impossible headers); the bad-packet
    /// policy decided their verdict.
    pub decode_errors: u64,
    /// Packets that carried a tunnel whose inner packet was inspected too.
    pub tunneled: u64,
    /// pcre evaluations stopped by the match or depth limit (backtracking-heavy patterns on
    /// crafted payloads), each counted as no match.
    pub pcre_limit_hits: u64,
    /// Flows tracked now.
    pub flows: u64,
    /// Flows created since start.
    pub flows_created: u64,
    /// Flows evicted because a table was full.
    pub flows_evicted: u64,
    /// Bytes held by reassembly now.
    pub stream_memory: u64,
    /// The highest reassembly memory each worker held, summed over the workers.
    pub stream_memory_peak: u64,
    /// Reassembly events and limit hits (memcap, out-of-order limits, gaps, overlaps, …).
    pub stream: crate::stream::StreamCounters,
}

impl InspectStats {
    /// Adds another worker's figures (saturating).
    pub fn add(&mut self, o: &InspectStats) {
        let sum = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        sum(&mut self.decode_errors, o.decode_errors);
        sum(&mut self.tunneled, o.tunneled);
        sum(&mut self.pcre_limit_hits, o.pcre_limit_hits);
        sum(&mut self.flows, o.flows);
        sum(&mut self.flows_created, o.flows_created);
        sum(&mut self.flows_evicted, o.flows_evicted);
        sum(&mut self.stream_memory, o.stream_memory);
        sum(&mut self.stream_memory_peak, o.stream_memory_peak);
        self.stream.add(&o.stream);
    }
}

impl Counters {
    /// Counters for `n` programs.
    pub fn new(n: usize) -> Counters {
        Counters {
            rule_hits: (0..n).map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        }
    }
    fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    /// The worker's decode, flow table and reassembly figures.
    pub fn inspect_stats(&self) -> InspectStats {
        let t = &self.table;
        let mut stream = [0u64; crate::stream::STREAM_COUNTERS];
        for (v, a) in stream.iter_mut().zip(&t.stream) {
            *v = Counters::get(a);
        }
        InspectStats {
            decode_errors: Counters::get(&self.bad_packets),
            tunneled: Counters::get(&self.tunneled),
            pcre_limit_hits: Counters::get(&self.pcre_limit_hits),
            flows: Counters::get(&t.flows),
            flows_created: Counters::get(&t.flows_created),
            flows_evicted: Counters::get(&t.flows_evicted),
            stream_memory: Counters::get(&t.stream_memory),
            stream_memory_peak: Counters::get(&t.stream_memory_peak),
            stream: crate::stream::StreamCounters::from_array(stream),
        }
    }
}

/// Per-packet metadata from the source (NFQUEUE or pcap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketMeta {
    /// Arrival or capture time; the clock for flow timeouts and thresholds.
    pub ts: SystemTime,
    /// Input interface name.
    pub in_iface: Option<String>,
    /// 1-based packet number in a capture.
    pub pcap_cnt: Option<u64>,
    /// False when the kernel has not filled the L4 checksum yet (NFQUEUE GSO /
    /// `NFQA_SKB_CSUMNOTREADY`). A rewrite writes the full checksum either way (see
    /// [`crate::wire::PacketMut::fill_checksums`]); the flag is kept for checksum validation.
    pub checksum_ready: bool,
    /// The kernel says the packet travels its connection's reply direction: a flow first
    /// seen from such a packet takes its client from conntrack (the receiver) rather than
    /// from the sender (the kernel prefilter queues flows from their first pattern, which may
    /// be the server's). Always false unless the steering marks it.
    pub ct_reply: bool,
}

impl PacketMeta {
    /// Metadata with only a timestamp (checksums ready).
    pub fn at(ts: SystemTime) -> PacketMeta {
        PacketMeta {
            ts,
            in_iface: None,
            pcap_cnt: None,
            checksum_ready: true,
            ct_reply: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Matched {
    prog: u32,
    /// The rule's action, or the one its rate filter gave this match.
    action: Action,
    /// `action` comes from a rate filter.
    rated: bool,
    /// Range in `Scan::contexts` (data set contexts the alert carries).
    contexts: (u32, u32),
    /// Range in `Scan::hits` (packet-payload offsets).
    hits: (u32, u32),
    /// Index in `Scan::apps` of the transaction the match is about.
    app: Option<u16>,
    /// Set by the action walk ([`resolve`]): this match logs an alert.
    alert: bool,
}

/// Which bytes a packet program's `Payload` segments read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// The packet's own payload.
    Packet,
    /// The reassembled stream window; `boundary` is where the data this packet completed
    /// starts in it.
    Window {
        /// Offset of the new data in the window.
        boundary: u32,
        /// A match must reach into the new data (IDS: older bytes were inspected with
        /// earlier packets). Inline, Suricata inspects a chunk around each packet and a
        /// match in its older bytes counts again, so this is off there.
        reach_new: bool,
    },
}

/// What one packet's inspection knows about it, for the rule checks.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    ip: crate::wire::IpInfo,
    sport: u16,
    dport: u16,
    has_ports: bool,
    src_k: u128,
    dst_k: u128,
    now: Duration,
    pflow: PktFlow,
    /// `[client, server]` sequence progress when the packet is part of a tracked TCP stream.
    stream: Option<[u32; 2]>,
    /// The outermost packet, when this one was carried by a tunnel.
    tunnel: Option<crate::output::TunnelInfo>,
    /// Protocol detection as this packet sees it.
    alp: state::AlpFacts,
}

impl Ctx {
    /// What `stream_size`, `xbits` and `flowint` read.
    fn facts(&self) -> state::Facts {
        state::Facts {
            stream: self.stream,
            src: self.src_k,
            dst: self.dst_k,
            now: self.now,
            alp: self.alp,
        }
    }

    /// The packet as events show it; `bytes` is what the evidence pcap gets.
    fn packet_info(&self, meta: &PacketMeta, flow_id: u64, bytes: Vec<u8>) -> PacketInfo {
        PacketInfo {
            ts: meta.ts,
            flow_id: Some(flow_id),
            pcap_cnt: meta.pcap_cnt,
            in_iface: meta.in_iface.clone(),
            src_ip: self.ip.src,
            dest_ip: self.ip.dst,
            src_port: self.sport,
            dest_port: self.dport,
            proto: self.ip.proto,
            to_server: Some(self.pflow.to_server),
            bytes,
            ip_fields: (self.ip.ttl, self.ip.tos, self.ip.id),
            tunnel: self.tunnel,
        }
    }
}

/// Per-worker scratch of one packet's inspection (reused: no allocation per packet).
#[derive(Debug, Default)]
struct Scan {
    pf: Scratch,
    cands: Vec<u32>,
    /// The packet pass's pattern hits at their stream offsets (the stream pass's memo).
    memo_buf: Vec<(u32, u64)>,
    vm: VmState,
    matched: Vec<Matched>,
    hits: Vec<crate::vm::Hit>,
    /// Data set contexts of the matches (`context_key`, JSON).
    contexts: Vec<(Arc<str>, Arc<str>)>,
    apps: Vec<Arc<crate::output::AppInfo>>,
    /// This worker's xbits (kept across packets, see [`state`]).
    xbits: state::XbitStore,
}

impl Scan {
    fn clear(&mut self) {
        self.cands.clear();
        self.matched.clear();
        self.hits.clear();
        self.contexts.clear();
        self.apps.clear();
    }

    /// Runs every check of program `p` on this packet; on a match records it (with its
    /// payload hits, `base` bytes before the packet payload in the inspected buffer) and
    /// applies its flowbit effects. `tx`: the transaction buffers for transaction programs.
    #[allow(clippy::too_many_arguments)]
    fn consider(
        &mut self,
        det: &Detector,
        p: u32,
        ctx: &Ctx,
        parsed: &Packet<'_>,
        flow: &mut Flow,
        thresholds: &mut ThresholdState,
        counters: &Counters,
        payload: &[u8],
        tx: Option<&dyn crate::vm::BufferSource>,
        stream: Stream,
    ) -> bool {
        let pi = p as usize;
        let (prog, cp, info) = (&det.programs[pi], &det.compiled[pi], &det.info[pi]);
        let ip = &ctx.ip;
        if !info.enabled.load(std::sync::atomic::Ordering::Relaxed)
            || !l4_ok(prog.l4, ip.proto)
            || (info.inner_only && ctx.tunnel.is_none())
        {
            return false;
        }
        let (sport, dport) = (ctx.sport, ctx.dport);
        // A `=>` rule's header names the client first, also on the response that completes it.
        let (src_ip, dst_ip, sport, dport) = if prog.transactional && !ctx.pflow.to_server {
            (ip.dst, ip.src, dport, sport)
        } else {
            (ip.src, ip.dst, sport, dport)
        };
        let fwd = (info.src_any || prog.src.contains(src_ip))
            && (info.dst_any || prog.dst.contains(dst_ip))
            && (!ctx.has_ports
                || ((info.sp_any || prog.src_ports.contains(sport))
                    && (info.dp_any || prog.dst_ports.contains(dport))));
        let ok = fwd
            || (prog.bidirectional
                && prog.src.contains(ip.dst)
                && prog.dst.contains(ip.src)
                && (!ctx.has_ports
                    || (prog.src_ports.contains(dport) && prog.dst_ports.contains(sport))));
        let payload_ok = |vm: &mut VmState| {
            vm.set_addrs(ip.src, ip.dst);
            let ok = cp.payload_ok_pkt(payload, parsed, tx, vm);
            // A stream match must reach into the data this packet completed: one that lies
            // wholly in older bytes was seen (and acted on) with an earlier packet.
            ok && match stream {
                Stream::Packet => true,
                Stream::Window {
                    reach_new: false, ..
                } => true,
                Stream::Window { boundary, .. } => vm
                    .path
                    .iter()
                    .filter(|h| !cp.reads_decoded(h.op))
                    .map(|h| h.end)
                    .max()
                    .is_some_and(|e| e > boundary),
            }
        };
        if !ok
            || !flow_ok(&prog.flow, ctx.pflow, ip.fragmented)
            || !cp.header_ok(parsed)
            || !cp.bits_ok(Some(&*flow))
            || !(cp.state.is_empty() || state::tests_ok(&cp.state, flow, &self.xbits, &ctx.facts()))
            || !cp.tx_ok(tx, i64::try_from(ctx.now.as_secs()).unwrap_or(i64::MAX))
            || !payload_ok(&mut self.vm)
        {
            return false;
        }
        if let Some(f) = prog.detection_filter {
            let ports = (ctx.sport, ctx.dport);
            if !thresholds.filter_passed(p, f, ctx.src_k, ctx.dst_k, flow.id, ports, ctx.now) {
                return false;
            }
        }
        apply_effects(cp, flow);
        if !cp.state.is_empty() {
            state::apply(&cp.state, flow, &mut self.xbits, &ctx.facts());
        }
        Counters::inc(&counters.rule_hits[pi]);
        let start = self.hits.len() as u32;
        // Only hits in the packet payload are evidence offsets (and replace targets): in a
        // stream window the packet's bytes start at the boundary.
        let base = match stream {
            Stream::Packet => 0,
            Stream::Window { boundary, .. } => boundary,
        };
        let in_payload = |h: &crate::vm::Hit| {
            h.start >= base
                && cp.segments.iter().any(|s| {
                    s.buffer == verdict_compiler::ir::Buffer::Payload
                        && (s.start..s.end).contains(&usize::from(h.op))
                })
        };
        self.hits.extend(
            self.vm
                .path
                .iter()
                .filter(|h| in_payload(h))
                .map(|h| crate::vm::Hit {
                    op: h.op,
                    start: h.start - base,
                    end: h.end - base,
                }),
        );
        let cstart = self.contexts.len() as u32;
        self.contexts.append(&mut self.vm.context);
        self.matched.push(Matched {
            prog: p,
            action: prog.action,
            rated: false,
            contexts: (cstart, self.contexts.len() as u32),
            hits: (start, self.hits.len() as u32),
            app: None,
            alert: false,
        });
        true
    }
}

static WORKER_SEQ: AtomicU64 = AtomicU64::new(0);

/// One inspection thread's state.
pub struct Worker {
    det: Arc<Detector>,
    events: Sender<Event>,
    flows: FlowTable,
    scan: Scan,
    thresholds: ThresholdState,
    rates: rate::RateState,
    /// Running `tag`s.
    tags: tag::Tags,
    counters: Arc<Counters>,
    /// What the last packet's verdict must say about bypass ([`Worker::take_bypass`]).
    bypass: crate::bypass::BypassMark,
    /// The layer just inspected belongs to a flow with a bypassed direction.
    split_flow: bool,
    /// The last packet was blocked on such a flow ([`Worker::take_kernel_block`]).
    kernel_block: bool,
    /// Tunnels around the layer being inspected (0: the packet itself); part of its flow key.
    depth: u8,
    /// The tunnel the layer just inspected carries, to be inspected next.
    next_layer: Option<crate::wire::tunnel::Inner>,
    /// The outermost packet of the frame being inspected (for inner packets' events).
    root: Option<crate::output::TunnelInfo>,
    /// The tunnel layers of the current frame (kept to reuse its allocation).
    layers: Vec<(crate::wire::tunnel::Encap, std::ops::Range<usize>)>,
}

fn l4_ok(l4: L4, proto: u8) -> bool {
    match l4 {
        L4::Any => true,
        L4::Tcp => proto == 6,
        L4::Udp => proto == 17,
        L4::Icmp => proto == 1 || proto == 58,
        L4::Icmpv6 => proto == 58,
        L4::Sctp => proto == 132,
    }
}

fn flow_ok(f: &FlowOpts, pf: PktFlow, frag: bool) -> bool {
    f.established.is_none_or(|e| pf.established == e)
        && f.to_server.is_none_or(|t| pf.to_server == t)
        && f.frag.is_none_or(|x| x == frag)
}

impl Worker {
    /// A worker sending its events to `events` (see [`crate::output::Writer::spawn`]).
    pub fn new(det: Arc<Detector>, events: Sender<Event>) -> Worker {
        let seed = WORKER_SEQ.fetch_add(1, Ordering::Relaxed);
        Worker {
            flows: FlowTable::new(det.cfg.flow, det.flowbits, seed),
            counters: Arc::new(Counters::new(det.len())),
            det,
            events,
            scan: Scan::default(),
            thresholds: ThresholdState::default(),
            rates: rate::RateState::default(),
            tags: tag::Tags::default(),
            bypass: Default::default(),
            split_flow: false,
            kernel_block: false,
            depth: 0,
            next_layer: None,
            root: None,
            layers: Vec::new(),
        }
    }

    /// Whether the packet just inspected must carry the bypass mark with its (accept)
    /// verdict; reset by the call.
    pub fn take_bypass(&mut self) -> crate::bypass::BypassMark {
        std::mem::take(&mut self.bypass)
    }

    /// Whether the packet just inspected, which the worker blocked, belongs to a flow one
    /// direction of which was bypassed: that direction no longer reaches the queue, so the
    /// kernel must block the flow (`crate::nfq::Decision::DropFlow`). Reset by the call.
    pub fn take_kernel_block(&mut self) -> bool {
        std::mem::take(&mut self.kernel_block)
    }

    fn note_bypass(
        flow: &mut Flow,
        det: &Detector,
        to_server: bool,
        mem: &mut crate::stream::StreamMem,
        counters: &Counters,
    ) -> crate::bypass::BypassMark {
        use crate::bypass::{BypassMark, BypassScope};
        let m = crate::bypass::decide(flow, det.cfg.bypass, to_server, mem);
        match m {
            BypassMark::Set {
                scope: BypassScope::Flow,
                first: true,
            } => Counters::inc(&counters.bypassed),
            BypassMark::Set {
                scope: BypassScope::Direction,
                first: true,
            } => Counters::inc(&counters.half_bypassed),
            _ => {}
        }
        m
    }

    /// The worker's counters (share the `Arc` with a stats thread).
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Flows created so far.
    pub fn flows_created(&self) -> u64 {
        self.flows.created()
    }

    /// The worker's reassembly memory account and its limit counters.
    pub fn stream_mem(&self) -> &crate::stream::StreamMem {
        self.flows.stream_mem()
    }

    /// Flows currently tracked.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Counts the verdict of a whole frame (all its tunnel layers together).
    fn finish(&mut self, v: Verdict) -> Verdict {
        let c = &self.counters;
        c.table.publish(&self.flows);
        let limits = std::mem::take(&mut self.scan.vm.pcre_limit_hits);
        if limits != 0 {
            c.pcre_limit_hits.fetch_add(limits, Ordering::Relaxed);
        }
        Counters::inc(&c.received);
        Counters::inc(match v {
            Verdict::Accept => &c.accepted,
            Verdict::Drop(_) => &c.dropped,
            Verdict::Reject(..) => &c.rejected,
            Verdict::Replace(_) => &c.replaced,
        });
        v
    }

    /// Inspects one L3 packet, and the packets the tunnels in it carry (see
    /// [`crate::wire::tunnel`]): each layer is a packet of its own with its own flow, and the
    /// frame is blocked if any layer is (Suricata drops the tunnel packet with its inner
    /// packet). An inner reject blocks the frame like a drop: the reset or unreachable would
    /// have to travel inside the tunnel to reach the inner endpoints. On
    /// [`Verdict::Replace`] the bytes in `pkt` were rewritten and the IP and TCP/UDP
    /// checksums rewritten in full, those of the enclosing tunnel headers included.
    pub fn inspect(&mut self, pkt: &mut [u8], meta: &PacketMeta) -> Verdict {
        self.depth = 0;
        let mut verdict = self.inspect_layer(pkt, meta);
        let Some(first) = self.next_layer.take() else {
            self.kernel_block = self.split_flow && verdict.blocks();
            return self.finish(verdict);
        };
        // The kernel's bypass would skip the whole tunnel, the inner flows with it (and its
        // block would block them all).
        self.bypass = Default::default();
        self.kernel_block = false;
        Counters::inc(&self.counters.tunneled);
        let mut layers = std::mem::take(&mut self.layers);
        layers.clear();
        let mut next = Some(first);
        let mut base = 0usize;
        let mut replaced = None;
        while let Some(inner) = next.take() {
            let range = base + inner.range.start..base + inner.range.end;
            let Some(bytes) = pkt.get_mut(range.clone()) else {
                break;
            };
            self.depth = self.depth.saturating_add(1);
            let v = self.inspect_layer(bytes, meta);
            self.bypass = Default::default();
            verdict = match (verdict, v) {
                (a, _) if a.blocks() => a,
                (_, Verdict::Drop(s) | Verdict::Reject(_, s)) => Verdict::Drop(s),
                (_, Verdict::Replace(s)) => {
                    replaced = Some(layers.len());
                    Verdict::Replace(s)
                }
                (a, Verdict::Accept) => a,
            };
            layers.push((inner.encap, range.clone()));
            base = range.start;
            next = self.next_layer.take();
        }
        self.depth = 0;
        if let (Some(upto), Verdict::Replace(_)) = (replaced, verdict) {
            refill_outer_checksums(pkt, &layers[..=upto]);
        }
        self.layers = layers;
        self.finish(verdict)
    }

    /// Inspects one layer: the packet itself, or the packet a tunnel carries
    /// ([`Worker::depth`] says which). Leaves the tunnel inside it in `next_layer`.
    fn inspect_layer(&mut self, pkt: &mut [u8], meta: &PacketMeta) -> Verdict {
        self.bypass = Default::default();
        self.split_flow = false;
        self.next_layer = None;
        let now = meta.ts.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let det = self.det.clone();
        let parsed = match Packet::parse(pkt) {
            Ok(p) => p,
            Err(_) => {
                Counters::inc(&self.counters.bad_packets);
                return match det.cfg.bad_packets {
                    BadPacketPolicy::Accept => Verdict::Accept,
                    BadPacketPolicy::Drop => Verdict::Drop(Sid(0)),
                };
            }
        };
        if self.depth < det.cfg.tunnels.max_layers {
            self.next_layer = crate::wire::tunnel::inner(&parsed, &det.cfg.tunnels);
        }
        if self.depth == 0 && self.next_layer.is_some() {
            let (sport, dport) = parsed.ports();
            self.root = Some(crate::output::TunnelInfo {
                src_ip: parsed.ip().src,
                dest_ip: parsed.ip().dst,
                src_port: sport,
                dest_port: dport,
                proto: parsed.ip().proto,
                depth: 0,
            });
        }
        let (flow, mut pflow, mem) = self.flows.update_at_depth(&parsed, self.depth, now);
        // Conntrack's originator is the client: a first packet in its reply direction that the
        // flow table took for the client's (no SYN-ACK) came from the server.
        if self.depth == 0 && flow.packets == 1 && meta.ct_reply && pflow.to_server {
            flow.reverse();
            pflow.to_server = false;
        }
        self.split_flow = flow.direction_bypassed(true) || flow.direction_bypassed(false);
        let ip = *parsed.ip();
        let (sport, dport) = parsed.ports();
        let (src_k, dst_k) = (addr_key(ip.src), addr_key(ip.dst));
        let ctx = Ctx {
            ip,
            sport,
            dport,
            has_ports: matches!(ip.proto, 6 | 17 | 132),
            src_k,
            dst_k,
            now,
            pflow,
            stream: None,
            alp: state::AlpFacts::default(),
            tunnel: (self.depth > 0).then_some(self.root).flatten().map(|r| {
                crate::output::TunnelInfo {
                    depth: self.depth,
                    ..r
                }
            }),
        };
        if !self.tags.is_empty() {
            let len = parsed.data().len();
            if let Some(hit) = self.tags.hit(flow.id, ip.src, ip.dst, now, len) {
                let pkt = Arc::new(ctx.packet_info(meta, flow.id, parsed.data().to_vec()));
                let ev = crate::output::TaggedEvent {
                    pkt,
                    gid: hit.gid,
                    sid: hit.sid,
                };
                send(&self.events, &self.counters, Event::Tagged(Box::new(ev)));
            }
        }
        let out = (&self.events, &*self.counters);
        if let Some(v) = policy::midstream(&det, flow, &parsed, &ctx, meta, out) {
            return v;
        }
        if det.cfg.inline {
            if let Some(sid) = flow.dropped {
                // Each later packet of a dropped flow is a drop record of its own (Suricata's
                // `flow drop`), so the log shows everything the flow lost.
                let pkt = Arc::new(ctx.packet_info(meta, flow.id, parsed.data().to_vec()));
                let ev = DropEvent {
                    pkt,
                    reason: if flow.dropped_by_policy {
                        "exception policy flow drop"
                    } else {
                        "flow drop"
                    },
                    sid: sid.0,
                    rule: None,
                };
                send(&self.events, &self.counters, Event::Drop(Box::new(ev)));
                return Verdict::Drop(sid);
            }
        }
        if flow.dropped.is_some() && !det.cfg.inline {
            // IDS mode: a dropped flow passes, uninspected (Suricata stops detection on it).
            return Verdict::Accept;
        }
        // A packet of a bypassed direction still in flight is marked again, not inspected.
        if flow.passed || flow.bypassed || flow.direction_bypassed(pflow.to_server) {
            self.bypass = Self::note_bypass(flow, &det, pflow.to_server, mem, &self.counters);
            return Verdict::Accept;
        }
        let over_depth = det.cfg.inspect_depth.is_some_and(|d| {
            // Bytes of this direction before this packet: the packet that crosses the depth
            // is still inspected in full.
            let seen = flow.payload_bytes[usize::from(!pflow.to_server)];
            seen.saturating_sub(parsed.payload().len() as u64) >= d
        });
        let payload = if over_depth {
            &[][..]
        } else {
            parsed.payload()
        };
        self.scan.clear();
        // The session is taken out of the flow while detection runs: rules read its buffers
        // and write the flow's bits at the same time.
        let mut session = None;
        let mut step = None;
        let mut alp_before = crate::session::Detection::default();
        // A flow picked up without its handshake while midstream pickup is off is not
        // tracked as a stream (as Suricata): its packets are inspected one by one.
        let tracked = det.cfg.streams && flow.tcp_state() != Some(crate::flow::TcpState::Unsynced);
        if let (
            true,
            6,
            false,
            crate::wire::L4Hdr::Tcp {
                seq, ack, flags, ..
            },
        ) = (tracked, ip.proto, ip.fragmented, parsed.l4())
        {
            let mut s = flow.session.take().unwrap_or_default();
            alp_before = s.detection(!det.cfg.inline);
            let seg = crate::session::Segment {
                seq: *seq,
                ack: *ack,
                flags: *flags,
                fast_open: *flags & crate::wire::tcp_flags::SYN != 0
                    && crate::wire::tcpopt::has_fast_open(parsed.tcp_options()),
                payload: parsed.payload(),
            };
            let st = s.step(pflow.to_server, &seg, &det.cfg.session, mem);
            if st.progress.events.contains(StreamEvents::MEMCAP_HIT) {
                let out = (&self.events, &*self.counters);
                let cond = crate::exception::Condition::StreamMemcap;
                if let Some(v) = policy::apply(&det, cond, flow, &parsed, &ctx, meta, out) {
                    flow.session = Some(s);
                    return v;
                }
            }
            step = Some(st);
            session = Some(s);
        }
        let ctx = match &step {
            Some(st) if st.reversed => {
                flow.reverse();
                let mut c = ctx;
                c.pflow.to_server = !c.pflow.to_server;
                c
            }
            _ => ctx,
        };
        // Rules read detection as it stands for the bytes they inspect; protocol-only rules
        // as Suricata knows it on this packet (as an IDS, once the peer acknowledged).
        let alp = session.as_deref().map_or(ctx.alp, |s| {
            let pd_det = s.detection(!det.cfg.inline);
            state::AlpFacts {
                det: s.detection(false),
                pd_det,
                to_server: ctx.pflow.to_server,
                pd_done: pd_det != alp_before,
            }
        });
        let ctx = Ctx {
            stream: session
                .as_deref()
                .map(|s| [state::progress(s, true), state::progress(s, false)]),
            alp,
            ..ctx
        };
        // UDP: each direction's first datagram decides the flow's protocol; DNS datagrams on
        // port 53, and SNMP and Kerberos datagrams on flows detected as such, are messages
        // (transactions).
        let (udp_msg, ctx) = if ip.proto == 17 && !ip.fragmented {
            let before = flow.udp_detect.detection();
            flow.udp_detect
                .note(ctx.pflow.to_server, sport, dport, parsed.payload());
            let now = flow.udp_detect.detection();
            let alp = state::AlpFacts {
                det: now,
                pd_det: now,
                to_server: ctx.pflow.to_server,
                pd_done: now != before,
            };
            let flow_app = flow.udp_detect.app_proto();
            let msg = UdpMsg::parse(
                &det.cfg.session,
                flow_app,
                ctx.pflow.to_server,
                (sport, dport),
                parsed.payload(),
            );
            (msg, Ctx { alp, ..ctx })
        } else {
            (None, ctx)
        };
        let app_proto = session
            .as_ref()
            .and_then(|s| s.app_proto())
            .or(udp_msg.as_ref().map(UdpMsg::app))
            .or(flow.udp_detect.app_proto());
        // An out-of-order segment the stream buffered is inspected when the packet that
        // fills the gap arrives (with everything it joins), not now as well: the receiver
        // cannot deliver its bytes before then either.
        // Likewise a plain retransmission carries bytes already inspected; one whose bytes
        // differ from the kept copy is inspected as a packet, since some receiver may take it.
        let already = step.as_ref().is_some_and(|st| {
            let e = st.progress.events;
            let buffered_ooo = e.contains(StreamEvents::OUT_OF_ORDER)
                && !e.contains(StreamEvents::LIMIT_HIT)
                && !e.contains(StreamEvents::MEMCAP_HIT);
            let resent = e.contains(StreamEvents::RETRANSMISSION)
                && !e.contains(StreamEvents::OVERLAP_CONFLICT);
            buffered_ooo || resent
        });
        let payload = if already { &[][..] } else { payload };
        // Whether the payload is stream data: a RST's is not (the receiver drops it).
        let rst = matches!(parsed.l4(), crate::wire::L4Hdr::Tcp { flags, .. }
            if flags & crate::wire::tcp_flags::RST != 0);
        let stream_payload = step.is_some() && !rst;
        // A rule that names only a protocol tests it per packet. Inline the packet's own
        // bytes decide it; an IDS learns it when the peer acknowledges them, as Suricata's.
        let proto_only_app = if det.cfg.inline {
            app_proto
        } else {
            session.as_ref().map_or(app_proto, |s| s.acked_app_proto())
        };
        let mut cands = std::mem::take(&mut self.scan.cands);
        cands.extend_from_slice(det.prefilter.candidates(
            Class::of_proto(ip.proto),
            Some((ip.src, ip.dst)),
            sport,
            dport,
            payload,
            &mut self.scan.pf,
        ));
        for &p in &cands {
            let pi = p as usize;
            let app = if names_only_a_protocol(&det.compiled[pi]) {
                proto_only_app
            } else {
                app_proto
            };
            if det.tx.is_tx(pi)
                || det.app_of[pi].is_some_and(|need| app != Some(need))
                // `only_stream` / `tcp-stream`: packets that are not stream data are not for it.
                || (!stream_payload && det.programs[pi].flow.stream == Some(true))
            {
                continue;
            }
            self.scan.consider(
                &det,
                p,
                &ctx,
                &parsed,
                flow,
                &mut self.thresholds,
                &self.counters,
                payload,
                None,
                Stream::Packet,
            );
        }
        let mut pass = app::Pass {
            det: &det,
            ctx: &ctx,
            parsed: &parsed,
            flow,
            thresholds: &mut self.thresholds,
            counters: &self.counters,
            scanned: payload,
        };
        match &udp_msg {
            Some(UdpMsg::Dns(msg)) => self.scan.match_dns(&mut pass, msg, &mut cands),
            Some(UdpMsg::Snmp(msg)) => {
                let src = crate::app::sources::MsgBuffers::Snmp(msg);
                self.scan.match_msg(&mut pass, src, &mut cands);
            }
            Some(UdpMsg::Krb5(msg)) => {
                let src = crate::app::sources::MsgBuffers::Krb5(msg);
                self.scan.match_msg(&mut pass, src, &mut cands);
            }
            Some(UdpMsg::Sip(msg)) => self.scan.match_sip(&mut pass, msg, &mut cands),
            Some(UdpMsg::Dce(tx)) => self.scan.match_dce(
                &mut pass,
                tx,
                &mut crate::detect::tx::TxDetect::new(0),
                &mut cands,
            ),
            None => {}
        }
        if let (Some(sess), Some(st)) = (&mut session, &step) {
            if !over_depth {
                self.scan.match_stream(&mut pass, sess, st, &mut cands);
            }
            self.scan.match_txs(&mut pass, sess, st, &mut cands);
            if !st.http.is_empty() {
                let id = pass.flow.id;
                app::log_files(sess, st, &ctx, meta, id, &self.events, &self.counters);
            }
        }
        self.scan.cands = cands;
        if let Some(s) = session {
            flow.session = Some(s);
        }
        if self.scan.matched.is_empty() {
            let to_server = ctx.pflow.to_server;
            self.bypass = Self::note_bypass(flow, &det, to_server, mem, &self.counters);
            return Verdict::Accept;
        }
        // rate_filter: a match over its rate takes the filter's action before actions are
        // resolved, so it drops, rejects or passes exactly as a rule with that action would.
        let keys = rate::RateKeys {
            src: src_k,
            dst: dst_k,
            flow: flow.id,
        };
        for m in self.scan.matched.iter_mut() {
            let pi = m.prog as usize;
            if let (Some(r), false) = (&det.info[pi].rate, det.compiled[pi].noalert) {
                if let Some(a) = self.rates.on_match(m.prog, r, keys, now) {
                    m.action = a;
                    m.rated = true;
                }
            }
        }
        let inline = det.cfg.inline;
        let stream_data = step.as_ref().is_some_and(|st| !st.progress.is_empty());
        let res = resolve::resolve(
            &mut self.scan.matched,
            &det.cfg.action_order,
            inline,
            stream_data,
            |p| {
                let (prog, cp, info) = (
                    &det.programs[p as usize],
                    &det.compiled[p as usize],
                    &det.info[p as usize],
                );
                resolve::MatchFacts {
                    dry_run: info.dry_run,
                    noalert: cp.noalert,
                    pass_alerts: cp.pass_alerts,
                    scope: info.scope,
                    priority: prog.priority.unwrap_or(3),
                    rank: det.rank[p as usize],
                    payload: !cp.payload.is_empty(),
                }
            },
        );
        let decider = res.decider.map(|i| self.scan.matched[i]);
        let blocked = decider.is_some();
        match res.flow {
            Some(resolve::FlowAction::Drop(i)) => {
                flow.dropped = Some(det.programs[self.scan.matched[i].prog as usize].sid);
            }
            // As Suricata: a pass the rule applies to the flow accepts the rest of it
            // uninspected; one decided by this packet alone accepts only the packet.
            Some(resolve::FlowAction::Pass) => flow.passed = true,
            None => {}
        }
        let flow_id = flow.id;
        // Where the segment's data starts: a SYN takes one sequence number before it.
        let tcp_seq = match parsed.l4() {
            crate::wire::L4Hdr::Tcp { seq, flags, .. } => {
                Some(seq.wrapping_add(u32::from(flags & crate::wire::tcp_flags::SYN != 0)))
            }
            _ => None,
        };
        // Alerts: built lazily, so a packet without alerts allocates nothing.
        let mut info: Option<Arc<PacketInfo>> = None;
        let mut make_info = |parsed: &Packet<'_>| {
            info.get_or_insert_with(|| {
                Arc::new(ctx.packet_info(meta, flow_id, parsed.data().to_vec()))
            })
            .clone()
        };
        for (n, m) in self.scan.matched.iter().enumerate() {
            let pi = m.prog as usize;
            let (prog, rinfo) = (&det.programs[pi], &det.info[pi]);
            if !m.alert || n >= 64 {
                continue;
            }
            // Only payload matches repeat on a retransmission (its bytes were inspected with
            // the original); a rule on headers alone alerts on every copy, as in Suricata.
            let has_payload = !det.compiled[pi].payload.is_empty();
            if let (Some(seq), false, true) = (tcp_seq, parsed.payload().is_empty(), has_payload) {
                if !flow.note_alert(prog.sid.0, seq, ctx.pflow.to_server) {
                    continue;
                }
            }
            if let Some(t) = rinfo.threshold {
                if !self
                    .thresholds
                    .alert_allowed(m.prog, t, src_k, dst_k, flow_id, now)
                {
                    continue;
                }
            }
            if det
                .cfg
                .thresholds
                .suppressed(prog.gid.0, prog.sid.0, ip.src, ip.dst)
            {
                continue;
            }
            let this_blocks = blocked && m.action.blocks() && !rinfo.dry_run;
            let matches = self.scan.hits[m.hits.0 as usize..m.hits.1 as usize]
                .iter()
                .map(|h| (h.start, h.end - h.start))
                .collect();
            Counters::inc(&self.counters.alerts);
            let ev = AlertEvent {
                pkt: make_info(&parsed),
                blocked: this_blocks,
                gid: prog.gid.0,
                sid: prog.sid.0,
                rev: prog.rev,
                signature: rinfo.msg.clone(),
                category: rinfo.classtype.clone(),
                severity: prog.priority.unwrap_or(3),
                rule_action: m.action.keyword(),
                matches,
                app: m
                    .app
                    .and_then(|a| self.scan.apps.get(usize::from(a)).cloned()),
                context: self
                    .scan
                    .contexts
                    .get(m.contexts.0 as usize..m.contexts.1 as usize)
                    .map(<[_]>::to_vec)
                    .unwrap_or_default(),
            };
            send(&self.events, &self.counters, Event::Alert(Box::new(ev)));
            for t in &prog.tags {
                let (gid, sid) = (prog.gid.0, prog.sid.0);
                self.tags.add(t, flow_id, ip.src, ip.dst, now, gid, sid);
            }
        }
        if let Some(m) = decider {
            let prog = &det.programs[m.prog as usize];
            send(
                &self.events,
                &self.counters,
                Event::Drop(Box::new(DropEvent {
                    pkt: make_info(&parsed),
                    // Suricata's name for a drop a rate filter decided.
                    reason: if m.rated {
                        "threshold detection_filter"
                    } else {
                        "rules"
                    },
                    sid: prog.sid.0,
                    rule: Some(crate::output::DropRule {
                        gid: prog.gid.0,
                        rev: prog.rev,
                        signature: det.info[m.prog as usize].msg.clone(),
                    }),
                })),
            );
            return match m.action {
                Action::Reject(t) => Verdict::Reject(t, prog.sid),
                _ => Verdict::Drop(prog.sid),
            };
        }
        if !inline || res.passed {
            return Verdict::Accept;
        }
        let enforcing = |m: &&Matched| !det.info[m.prog as usize].dry_run;
        // Replace: rewrite every replace content of the matching rules, in rule order.
        let layout = parsed.layout();
        let plen = payload.len();
        let truncated = parsed.truncated();
        let mut replacer: Option<Sid> = None;
        let mut edits: Vec<(usize, &[u8])> = Vec::new();
        for m in self.scan.matched.iter().filter(enforcing) {
            let cp = &det.compiled[m.prog as usize];
            if !cp.has_replace {
                continue;
            }
            for h in &self.scan.hits[m.hits.0 as usize..m.hits.1 as usize] {
                if let Some(PayloadOp::Content {
                    replace: Some(r), ..
                }) = cp.payload.get(usize::from(h.op))
                {
                    if h.start as usize + r.len() <= plen {
                        edits.push((h.start as usize, r.as_slice()));
                        replacer.get_or_insert(det.programs[m.prog as usize].sid);
                    }
                }
            }
        }
        match replacer {
            Some(sid) if !truncated => {
                let Some(mut pm) = PacketMut::new(pkt, layout) else {
                    return Verdict::Accept;
                };
                for (at, bytes) in edits {
                    pm.payload_mut()[at..at + bytes.len()].copy_from_slice(bytes);
                }
                pm.fill_checksums();
                Verdict::Replace(sid)
            }
            _ => Verdict::Accept,
        }
    }
}

/// After an inner packet was rewritten (its own checksums fixed), the checksums of the layers
/// around it: IPv4 headers, the UDP of VXLAN/GENEVE/Teredo, a GRE checksum when present.
/// `layers` are the tunnel layers from the outermost to the rewritten one, as absolute ranges.
fn refill_outer_checksums(
    pkt: &mut [u8],
    layers: &[(crate::wire::tunnel::Encap, std::ops::Range<usize>)],
) {
    use crate::wire::tunnel::Encap;
    for (i, (encap, _)) in layers.iter().enumerate().rev() {
        // The packet around layer i is layer i-1 (the frame itself around the first).
        let outer = match i.checked_sub(1) {
            Some(prev) => layers[prev].1.clone(),
            None => 0..pkt.len(),
        };
        let Some(bytes) = pkt.get_mut(outer) else {
            continue;
        };
        if let Encap::Gre { csum_at: Some(at) } | Encap::Erspan { csum_at: Some(at) } = *encap {
            crate::wire::fill_gre_checksum(bytes, at);
        }
        let Ok(layout) = Packet::parse(bytes).map(|p| p.layout()) else {
            continue;
        };
        if let Some(mut m) = crate::wire::PacketMut::new(bytes, layout) {
            m.fill_checksums();
        }
    }
}

fn send(events: &Sender<Event>, counters: &Counters, ev: Event) {
    // Full or disconnected (the writer is gone): either way the event is lost, and counted.
    if events.try_send(ev).is_err() {
        Counters::inc(&counters.events_lost);
    }
}

fn apply_effects(cp: &CompiledProgram, flow: &mut Flow) {
    for e in &cp.effects {
        match e {
            Effect::Bits(cmd, bits) => {
                for &b in bits {
                    match cmd {
                        FlowbitCmd::Set => flow.set_bit(b, true),
                        FlowbitCmd::Unset => flow.set_bit(b, false),
                        FlowbitCmd::Toggle => {
                            let on = flow.bit(b);
                            flow.set_bit(b, !on)
                        }
                        _ => {}
                    }
                }
            }
            Effect::Reset => flow.bits.iter_mut().for_each(|w| *w = 0),
        }
    }
}

/// The reject target a live worker should answer with, for documentation and `respond`.
pub fn reject_both_ends(t: RejectTarget) -> bool {
    matches!(t, RejectTarget::Default | RejectTarget::Both)
}

// Workers run on their own threads and share the detector: keep both properties checked at
// compile time.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    const fn movable<T: Send>() {}
    shared::<Detector>();
    movable::<Worker>();
};

/// The file facts the HTTP parser computes: only those some loaded rule reads (libmagic and
/// digests cost per file; most rule sets read neither).
/// One UDP datagram's app-layer message: protocols whose every datagram is a transaction.
enum UdpMsg {
    Dns(crate::app::dns::DnsMessage),
    Snmp(crate::app::snmp::SnmpMsg),
    Krb5(crate::app::krb5::Krb5Msg),
    Sip(crate::app::sip::SipMessage),
    Dce(crate::app::dcerpc::DceTx),
}

impl UdpMsg {
    /// The message of a datagram between `sport` and `dport` on a flow detected as
    /// `flow_app`, by the parser some rule needs; `None` when it does not decode. SNMP and
    /// Kerberos datagrams are parsed on flows detected as such (Suricata parses a flow once
    /// its protocol is known); DNS on port 53 whatever the flow's first datagram was; SIP,
    /// one message per datagram, on its ports or when the datagram reads as SIP; a
    /// connectionless DCE/RPC request on any port.
    fn parse(
        cfg: &crate::session::SessionConfig,
        flow_app: Option<verdict_compiler::ir::AppProto>,
        to_server: bool,
        (sport, dport): (u16, u16),
        payload: &[u8],
    ) -> Option<UdpMsg> {
        use verdict_compiler::ir::AppProto;
        if cfg.dns_enabled && (sport == 53 || dport == 53) {
            if let Ok(m) = crate::app::dns::parse(payload) {
                return Some(UdpMsg::Dns(m));
            }
        }
        match flow_app {
            Some(AppProto::Snmp) if cfg.snmp_enabled => {
                crate::app::snmp::parse(payload).map(UdpMsg::Snmp)
            }
            Some(AppProto::Krb5) if cfg.krb5_enabled => {
                crate::app::krb5::parse(payload).map(UdpMsg::Krb5)
            }
            _ => {
                // Connectionless DCE/RPC: a request datagram (by its header, on any port).
                let dce = || crate::app::dcerpc::parse_cl_request(payload).map(UdpMsg::Dce);
                let sip =
                    || crate::app::sip::udp(payload, to_server, sport, dport).map(UdpMsg::Sip);
                cfg.dcerpc_enabled
                    .then(dce)
                    .flatten()
                    .or_else(|| cfg.sip_enabled.then(sip).flatten())
            }
        }
    }

    fn app(&self) -> verdict_compiler::ir::AppProto {
        use verdict_compiler::ir::AppProto;
        match self {
            UdpMsg::Dns(_) => AppProto::Dns,
            UdpMsg::Snmp(_) => AppProto::Snmp,
            UdpMsg::Krb5(_) => AppProto::Krb5,
            UdpMsg::Sip(_) => AppProto::Sip,
            UdpMsg::Dce(_) => AppProto::Dcerpc,
        }
    }
}

fn file_needs(compiled: &[CompiledProgram]) -> crate::app::http::FileNeeds {
    use crate::detect::pred::file::FileTest;
    use verdict_compiler::ir::{AppBuffer, Buffer};
    use verdict_compiler::keywords::file::HashAlgo;
    let mut n = crate::app::http::FileNeeds::default();
    for c in compiled {
        n.magic |= c
            .segments
            .iter()
            .any(|s| s.buffer == Buffer::App(AppBuffer::FileMagic));
        for f in &c.files {
            if let FileTest::Hash { algo, .. } = f {
                match algo {
                    HashAlgo::Md5 => n.md5 = true,
                    HashAlgo::Sha1 => n.sha1 = true,
                    HashAlgo::Sha256 => n.sha256 = true,
                }
            }
        }
    }
    n
}

/// True for a program that reads no stream or app-layer bytes (only headers, addresses):
/// the protocol it names is a per-packet test of the flow.
fn names_only_a_protocol(cp: &CompiledProgram) -> bool {
    use verdict_compiler::ir::Buffer;
    cp.segments
        .iter()
        .all(|s| matches!(s.buffer, Buffer::IpSrc | Buffer::IpDst | Buffer::Hdr(_)))
}

//! Alert outputs, written off the hot path: workers send [`Event`]s over a bounded crossbeam
//! channel (and count, rather than wait, when it is full); one writer thread formats EVE JSON
//! lines (Suricata field names), fast.log lines and appends the triggering packets to a
//! rotating evidence pcap.
//!
//! No loss is silent: an I/O error (disk full, directory removed) costs the records of that
//! one output while it lasts — counted in [`OutputCounters`], which `verdict stats` shows —
//! and the file is reopened for the records after it; the other outputs go on.

pub mod eve;
pub mod redis;
pub mod syslog;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Capacity of the event channel: beyond it events are counted as lost, never waited for.
pub const CHANNEL_CAPACITY: usize = 65_536;
/// Records buffered per output before a flush confirms them: bounds how many one I/O error
/// can cost beyond the record it hit.
const FLUSH_EVERY: u64 = 64;
/// How long the writer naps when it ran dry right after events: short enough to add no
/// visible latency to alerts, long enough that a busy worker seldom has to wake it.
const NAP: Duration = Duration::from_millis(1);
/// How long an output that failed stays closed before it is reopened.
const REOPEN_AFTER: Duration = Duration::from_secs(1);
/// The longest pause between attempts to reach a Redis server that stays away: each failed
/// attempt doubles the pause from [`REOPEN_AFTER`], so an unreachable server costs the writer
/// one connect timeout per pause, not one per record.
const REDIS_MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The packet an event is about (shared by all alerts of that packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketInfo {
    /// Capture/arrival time.
    pub ts: SystemTime,
    /// EVE flow_id.
    pub flow_id: Option<u64>,
    /// 1-based packet number in a capture.
    pub pcap_cnt: Option<u64>,
    /// Input interface.
    pub in_iface: Option<String>,
    /// Source address.
    pub src_ip: IpAddr,
    /// Destination address.
    pub dest_ip: IpAddr,
    /// Source port (0 if none).
    pub src_port: u16,
    /// Destination port (0 if none).
    pub dest_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Client → server.
    pub to_server: Option<bool>,
    /// The L3 packet as inspected (before any rewrite), for the evidence pcap.
    pub bytes: Vec<u8>,
    /// IP header fields for drop records: (ttl, tos, ip id).
    pub ip_fields: (u8, u8, u32),
    /// The packet was carried by a tunnel: the outermost packet (EVE `tunnel`).
    pub tunnel: Option<TunnelInfo>,
}

/// The outermost packet of a tunneled one, as Suricata's alert `tunnel` object shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelInfo {
    /// Source address of the outer packet.
    pub src_ip: IpAddr,
    /// Destination address of the outer packet.
    pub dest_ip: IpAddr,
    /// Source port of the outer packet (0 if none).
    pub src_port: u16,
    /// Destination port of the outer packet (0 if none).
    pub dest_port: u16,
    /// IP protocol of the outer packet.
    pub proto: u8,
    /// Tunnels around the inner packet (1: one tunnel).
    pub depth: u8,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    /// The packet.
    pub pkt: Arc<PacketInfo>,
    /// True if the rule's action blocked this packet (EVE `blocked`), false for `allowed`.
    pub blocked: bool,
    /// gid
    pub gid: u32,
    /// sid
    pub sid: u32,
    /// rev
    pub rev: u32,
    /// msg
    pub signature: Arc<str>,
    /// classtype
    pub category: Option<Arc<str>>,
    /// priority (Suricata's default 3 when absent)
    pub severity: u32,
    /// The rule action keyword.
    pub rule_action: &'static str,
    /// Matched payload ranges `(offset, length)` in the transport payload.
    pub matches: Vec<(u32, u32)>,
    /// The app-layer transaction the alert is about (EVE `app_proto` and its object), if
    /// any.
    pub app: Option<Arc<AppInfo>>,
    /// Data set contexts (`context_key`, JSON object text) from `dataset` matches with a
    /// `context_key`; EVE writes them as `alert.context`.
    pub context: Vec<(Arc<str>, Arc<str>)>,
}

/// What EVE shows of the transaction an alert is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppInfo {
    /// Suricata's `http` object.
    Http(HttpInfo),
    /// Suricata's `dns` object.
    Dns(crate::app::dns::DnsInfo),
    /// Suricata's `tls` object.
    Tls(crate::app::tls::TlsInfo),
    /// Suricata's `ssh`, `ftp` or `smtp` object, built by the parser's `eve` function.
    Object {
        /// `app_proto`, and the object's key.
        proto: &'static str,
        /// The object.
        object: serde_json::Value,
    },
}

/// What EVE shows of an HTTP transaction (Suricata's `http` object).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpInfo {
    /// `hostname`: the Host header (or the URI's authority).
    pub hostname: Option<String>,
    /// `url`: the raw request target.
    pub url: Option<String>,
    /// `http_user_agent`.
    pub user_agent: Option<String>,
    /// `http_content_type` (of the response).
    pub content_type: Option<String>,
    /// `http_method`.
    pub method: Option<String>,
    /// `protocol`, e.g. `HTTP/1.1`.
    pub protocol: Option<String>,
    /// `status`.
    pub status: Option<u16>,
    /// `length`: response body bytes seen.
    pub length: u64,
}

/// A file seen in a transaction (Suricata's `fileinfo` record), written when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfoEvent {
    /// The packet that ended the file.
    pub pkt: Arc<PacketInfo>,
    /// The transaction.
    pub http: Arc<HttpInfo>,
    /// `fileinfo.filename`.
    pub filename: String,
    /// `fileinfo.size`: decoded bytes.
    pub size: u64,
    /// `fileinfo.state`: `CLOSED`, or `TRUNCATED` when the body was cut short.
    pub state: &'static str,
    /// Transaction id within the flow.
    pub tx_id: u64,
}

/// A drop record (the first dropped packet of a flow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropEvent {
    /// The packet.
    pub pkt: Arc<PacketInfo>,
    /// Suricata's drop.reason, e.g. "rules".
    pub reason: &'static str,
    /// The deciding rule (0: no rule, e.g. an exception policy).
    pub sid: u32,
    /// The deciding rule as the record's `alert` object shows it (Suricata's drop log with
    /// `alerts: yes`): gid, rev and msg; None for drops no rule decided on this packet.
    pub rule: Option<DropRule>,
}

/// The rule behind a drop record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRule {
    /// gid
    pub gid: u32,
    /// rev
    pub rev: u32,
    /// msg
    pub signature: Arc<str>,
}

/// A decoder anomaly (e.g. overlapping fragments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalyEvent {
    /// Time.
    pub ts: SystemTime,
    /// Capture packet number.
    pub pcap_cnt: Option<u64>,
    /// Event name, e.g. `ipv4.frag_overlap`.
    pub event: &'static str,
    /// Source/destination of the offending packet, when known.
    pub addrs: Option<(IpAddr, IpAddr)>,
}

/// What the writer thread receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An alert.
    Alert(Box<AlertEvent>),
    /// A drop record.
    Drop(Box<DropEvent>),
    /// A decoder anomaly.
    Anomaly(Box<AnomalyEvent>),
    /// A file transferred in a transaction.
    FileInfo(Box<FileInfoEvent>),
    /// A packet a rule's `tag` follows.
    Tagged(Box<TaggedEvent>),
}

/// A tagged packet: logged as an EVE `packet` record and written to the evidence pcap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedEvent {
    /// The packet.
    pub pkt: Arc<PacketInfo>,
    /// gid of the rule whose tag follows it.
    pub gid: u32,
    /// sid of that rule.
    pub sid: u32,
}

/// Which outputs to write, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// Directory for eve.json, fast.log, evidence.pcap.
    pub dir: PathBuf,
    /// Write eve.json.
    pub eve: bool,
    /// Write fast.log.
    pub fast: bool,
    /// Write evidence.pcap.
    pub pcap: bool,
    /// Rotate evidence.pcap beyond this size (one previous file is kept as evidence.pcap.1).
    pub pcap_max_bytes: u64,
    /// Send every EVE record to syslog too (or, with `eve` off, only there).
    pub syslog: Option<syslog::SyslogTarget>,
    /// Send every EVE record to a Redis list or channel too.
    pub redis: Option<redis::RedisTarget>,
}

impl OutputConfig {
    /// All outputs in `dir`, 100 MB evidence pcap.
    pub fn all(dir: impl Into<PathBuf>) -> Self {
        OutputConfig {
            dir: dir.into(),
            eve: true,
            fast: true,
            pcap: true,
            pcap_max_bytes: 100 << 20,
            syslog: None,
            redis: None,
        }
    }
}

/// What the writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// EVE lines.
    pub eve_lines: u64,
    /// fast.log lines.
    pub fast_lines: u64,
    /// Packets in the evidence pcap(s).
    pub pcap_packets: u64,
    /// Evidence pcap rotations.
    pub rotations: u64,
    /// EVE records sent to syslog.
    pub syslog_lines: u64,
    /// EVE records sent to Redis.
    pub redis_lines: u64,
}

/// Records of one output file: confirmed written, and lost to I/O errors.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Records a flush confirmed.
    pub written: AtomicU64,
    /// Records a failed write or flush cost (those buffered since the last confirmed flush,
    /// so an upper bound), plus those that arrived while the file could not be opened.
    pub lost: AtomicU64,
}

/// The writer's live counters, shared with whoever reports them while it runs.
#[derive(Debug, Default)]
pub struct OutputCounters {
    /// Events their sender could not hand to the writer (channel full, or writer gone).
    pub channel_lost: AtomicU64,
    /// eve.json lines.
    pub eve: SinkCounters,
    /// fast.log lines.
    pub fast: SinkCounters,
    /// evidence.pcap packets.
    pub pcap: SinkCounters,
    /// EVE records sent to syslog.
    pub syslog: SinkCounters,
    /// EVE records sent to Redis.
    pub redis: SinkCounters,
    last_error: Mutex<Option<String>>,
    /// Set by [`OutputCounters::request_reopen`], cleared by the writer once it reopened.
    reopen: std::sync::atomic::AtomicBool,
    /// How many times the writer reopened its files on request.
    reopens: AtomicU64,
}

impl OutputCounters {
    /// Asks the writer to close and reopen its files within 200 ms (logrotate moved them).
    pub fn request_reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Asks for a reopen and waits (up to `limit`) until the writer did it: what was written
    /// before is flushed into the old files by then, so a rotation script may compress them.
    pub fn reopen_and_wait(&self, limit: Duration) -> Result<(), String> {
        let before = self.reopens.load(Ordering::Acquire);
        self.request_reopen();
        let deadline = Instant::now() + limit;
        while self.reopens.load(Ordering::Acquire) == before {
            if Instant::now() >= deadline {
                return Err(format!(
                    "the output writer did not reopen its files within {limit:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// A copy of [`OutputCounters`] for the stats file (all zero and no error: nothing lost).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputStats {
    /// Events lost before the writer (channel full, writer gone), workers and NFLOG alike.
    pub channel_lost: u64,
    /// eve.json lines written.
    pub eve_written: u64,
    /// eve.json lines lost to I/O errors.
    pub eve_lost: u64,
    /// fast.log lines written.
    pub fast_written: u64,
    /// fast.log lines lost to I/O errors.
    pub fast_lost: u64,
    /// Evidence packets written.
    pub pcap_written: u64,
    /// Evidence packets lost to I/O errors.
    pub pcap_lost: u64,
    /// EVE records sent to syslog.
    #[serde(default)]
    pub syslog_written: u64,
    /// EVE records lost on the way to syslog (socket missing, daemon stalled).
    #[serde(default)]
    pub syslog_lost: u64,
    /// EVE records a Redis server confirmed.
    #[serde(default)]
    pub redis_written: u64,
    /// EVE records lost on the way to Redis (server down, refusing or stalled).
    #[serde(default)]
    pub redis_lost: u64,
    /// The last I/O error, naming the file.
    pub last_error: Option<String>,
}

impl OutputStats {
    /// Records lost anywhere, before or in the writer.
    pub fn lost(&self) -> u64 {
        self.channel_lost
            + self.eve_lost
            + self.fast_lost
            + self.pcap_lost
            + self.syslog_lost
            + self.redis_lost
    }
}

impl OutputCounters {
    /// Reads every counter (each atomically; the set is not one snapshot).
    pub fn snapshot(&self) -> OutputStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        OutputStats {
            channel_lost: r(&self.channel_lost),
            eve_written: r(&self.eve.written),
            eve_lost: r(&self.eve.lost),
            fast_written: r(&self.fast.written),
            fast_lost: r(&self.fast.lost),
            pcap_written: r(&self.pcap.written),
            pcap_lost: r(&self.pcap.lost),
            syslog_written: r(&self.syslog.written),
            syslog_lost: r(&self.syslog.lost),
            redis_written: r(&self.redis.written),
            redis_lost: r(&self.redis.lost),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
    fn note_error(&self, what: &str, e: &io::Error) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{what}: {e}"));
    }
}

/// The writer thread.
pub struct Writer;

/// Joins the writer thread.
pub struct WriterHandle {
    thread: JoinHandle<WriterStats>,
    counters: Arc<OutputCounters>,
}

impl WriterHandle {
    /// The writer's live counters (lost and written records), for stats while it runs.
    pub fn counters(&self) -> Arc<OutputCounters> {
        Arc::clone(&self.counters)
    }

    /// Waits until every [`Sender`] is dropped and everything is flushed; returns what was
    /// written, or an error that says how many records each output lost (the writer itself
    /// went on writing whatever it could).
    pub fn join(self) -> io::Result<WriterStats> {
        let stats = self
            .thread
            .join()
            .map_err(|_| io::Error::other("output writer thread panicked"))?;
        let s = self.counters.snapshot();
        let lost_writing = s.lost() - s.channel_lost;
        if lost_writing > 0 {
            return Err(io::Error::other(format!(
                "records lost to I/O errors: eve.json {}, fast.log {}, evidence.pcap {}, syslog {}, redis {} (last: {})",
                s.eve_lost,
                s.fast_lost,
                s.pcap_lost,
                s.syslog_lost,
                s.redis_lost,
                s.last_error.as_deref().unwrap_or("?")
            )));
        }
        Ok(stats)
    }
}

/// What [`Sink`] needs of an output besides writing records.
trait Flush {
    fn flush_out(&mut self) -> io::Result<()>;
}

impl Flush for BufWriter<File> {
    fn flush_out(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// One output file that outlives I/O errors. Records go into a buffer and a flush confirms
/// them; a failed write or flush loses the records since the last confirmed flush and closes
/// the file, which is reopened (at most once per [`REOPEN_AFTER`]) for the records after it.
/// A full disk or a removed directory so costs the records of that time, not the run.
struct Sink<T> {
    what: String,
    open: Box<dyn FnMut() -> io::Result<T>>,
    out: Option<T>,
    pending: u64,
    retry_at: Instant,
    /// The pause after the next failure: [`REOPEN_AFTER`], doubled by each failed open up
    /// to `max_backoff`, back to [`REOPEN_AFTER`] once open.
    backoff: Duration,
    max_backoff: Duration,
}

impl<T: Flush> Sink<T> {
    fn new(
        what: String,
        open: Box<dyn FnMut() -> io::Result<T>>,
        c: &SinkCounters,
        health: &OutputCounters,
    ) -> Sink<T> {
        let mut s = Sink {
            what,
            open,
            out: None,
            pending: 0,
            retry_at: Instant::now(),
            backoff: REOPEN_AFTER,
            max_backoff: REOPEN_AFTER,
        };
        s.try_open(c, health);
        s
    }

    /// Lets the pause between failed opens grow to `max` (for servers that may stay away).
    fn backing_off_to(mut self, max: Duration) -> Sink<T> {
        self.max_backoff = max;
        self
    }

    fn try_open(&mut self, c: &SinkCounters, health: &OutputCounters) {
        match (self.open)() {
            Ok(out) => {
                if c.lost.load(Ordering::Relaxed) > 0 {
                    tracing::warn!("{}: writing again", self.what);
                }
                self.out = Some(out);
                self.backoff = REOPEN_AFTER;
            }
            Err(e) => {
                self.fail(c, health, &e, 0);
                self.backoff = (self.backoff * 2).min(self.max_backoff);
            }
        }
    }

    /// Writes one record with `f`, counting it lost if the file is closed or the write fails.
    fn record(
        &mut self,
        c: &SinkCounters,
        health: &OutputCounters,
        f: impl FnOnce(&mut T) -> io::Result<()>,
    ) {
        if self.out.is_none() && Instant::now() >= self.retry_at {
            self.try_open(c, health);
        }
        let Some(out) = &mut self.out else {
            c.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match f(out) {
            Ok(()) => {
                self.pending += 1;
                if self.pending >= FLUSH_EVERY {
                    self.flush(c, health);
                }
            }
            Err(e) => self.fail(c, health, &e, 1),
        }
    }

    /// Flushes and closes the file, then opens the path anew: after logrotate renamed it,
    /// records go to a new file at the configured path.
    fn reopen(&mut self, c: &SinkCounters, health: &OutputCounters) {
        self.flush(c, health);
        self.out = None;
        self.try_open(c, health);
    }

    fn flush(&mut self, c: &SinkCounters, health: &OutputCounters) {
        let Some(out) = &mut self.out else {
            return;
        };
        match out.flush_out() {
            Ok(()) => {
                c.written.fetch_add(self.pending, Ordering::Relaxed);
                self.pending = 0;
            }
            Err(e) => self.fail(c, health, &e, 0),
        }
    }

    fn fail(&mut self, c: &SinkCounters, health: &OutputCounters, e: &io::Error, current: u64) {
        let lost = self.pending + current;
        c.lost.fetch_add(lost, Ordering::Relaxed);
        self.pending = 0;
        // Dropping the writer tries its buffer once more; those records stay counted lost.
        let was_open = self.out.take().is_some();
        if was_open || self.retry_at <= Instant::now() {
            tracing::error!(
                "{}: {e}; {lost} record(s) lost, reopening in {:?}",
                self.what,
                self.backoff
            );
        }
        health.note_error(&self.what, e);
        self.retry_at = Instant::now() + self.backoff;
    }
}

/// A file handle the pcap writer and the flusher share (PcapWriter exposes no flush).
#[derive(Clone)]
struct Shared(Rc<RefCell<BufWriter<File>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

struct EvidencePcap {
    path: PathBuf,
    w: Option<(PcapWriter<Shared>, Shared)>,
    /// Packets in the current file: the next one's number is this + 1.
    packets: u64,
    bytes: u64,
    max: u64,
    rotations: u64,
}

impl Flush for EvidencePcap {
    fn flush_out(&mut self) -> io::Result<()> {
        self.flush()
    }
}

impl EvidencePcap {
    fn open(path: PathBuf, max: u64) -> io::Result<EvidencePcap> {
        let mut e = EvidencePcap {
            path,
            w: None,
            packets: 0,
            bytes: 0,
            max,
            rotations: 0,
        };
        // An earlier run's evidence is kept as the rotated file, never overwritten.
        if e.path.metadata().is_ok_and(|m| m.len() > 24) {
            e.rotate_file()?;
        }
        e.create()?;
        Ok(e)
    }
    fn create(&mut self) -> io::Result<()> {
        let f = Shared(Rc::new(RefCell::new(BufWriter::new(File::create(
            &self.path,
        )?))));
        let header = PcapHeader {
            datalink: DataLink::RAW,
            snaplen: 262_144,
            ..Default::default()
        };
        self.w = Some((
            PcapWriter::with_header(f.clone(), header).map_err(io::Error::other)?,
            f,
        ));
        self.bytes = 24;
        self.packets = 0;
        Ok(())
    }
    fn rotate_file(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, old)
    }
    /// Appends one packet, rotating first when it would pass the size bound.
    fn write(&mut self, ts: SystemTime, data: &[u8]) -> io::Result<()> {
        let rec = 16 + data.len() as u64;
        if self.bytes + rec > self.max && self.bytes > 24 {
            self.flush()?;
            self.w = None;
            self.rotate_file()?;
            self.create()?;
            self.rotations += 1;
        }
        let d = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
        if let Some((w, _)) = &mut self.w {
            w.write_packet(&PcapPacket::new(d, data.len() as u32, data))
                .map_err(io::Error::other)?;
        }
        self.bytes += rec;
        self.packets += 1;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.w {
            Some((_, f)) => f.flush(),
            None => Ok(()),
        }
    }
}

fn open_append(path: &Path) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::new(
        OpenOptions::new().create(true).append(true).open(path)?,
    ))
}

impl Writer {
    /// Starts the writer thread. Files are created in `cfg.dir` (created if missing); a file
    /// that cannot be opened or written is logged, retried, and its lost records are counted
    /// (see [`WriterHandle::counters`]) and reported by [`WriterHandle::join`].
    pub fn spawn(cfg: OutputConfig) -> (Sender<Event>, WriterHandle) {
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let counters = Arc::new(OutputCounters::default());
        let health = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("verdict-output".into())
            .spawn(move || write_loop(&cfg, rx, &health))
            .expect("spawning a thread only fails when the process is out of resources");
        (tx, WriterHandle { thread, counters })
    }
}

fn write_loop(cfg: &OutputConfig, rx: Receiver<Event>, health: &OutputCounters) -> WriterStats {
    let dir = cfg.dir.clone();
    let line_file = |name: &str| -> Box<dyn FnMut() -> io::Result<BufWriter<File>>> {
        let (dir, path) = (dir.clone(), dir.join(name));
        Box::new(move || {
            std::fs::create_dir_all(&dir)?;
            open_append(&path)
        })
    };
    let what = |name: &str| cfg.dir.join(name).display().to_string();
    let eve = cfg
        .eve
        .then(|| Sink::new(what("eve.json"), line_file("eve.json"), &health.eve, health));
    let fast = cfg.fast.then(|| {
        Sink::new(
            what("fast.log"),
            line_file("fast.log"),
            &health.fast,
            health,
        )
    });
    let pcap = cfg.pcap.then(|| {
        let (dir, path, max) = (dir.clone(), dir.join("evidence.pcap"), cfg.pcap_max_bytes);
        let open = move || {
            std::fs::create_dir_all(&dir)?;
            EvidencePcap::open(path.clone(), max)
        };
        Sink::new(what("evidence.pcap"), Box::new(open), &health.pcap, health)
    });
    let syslog = cfg.syslog.clone().map(|t| {
        let what = format!("syslog {}", t.socket.display());
        let open = move || syslog::SyslogOut::open(&t);
        Sink::new(what, Box::new(open), &health.syslog, health)
    });
    let redis = cfg.redis.clone().map(|t| {
        let what = format!("redis {} {}", t.server, t.key);
        let open = move || redis::RedisOut::open(&t);
        Sink::new(what, Box::new(open), &health.redis, health).backing_off_to(REDIS_MAX_BACKOFF)
    });
    let mut out = Sinks {
        eve,
        fast,
        pcap,
        syslog,
        redis,
    };
    let mut rotations = 0;
    // The last evidence packet and its number in evidence.pcap (None: not written).
    let mut last_pkt: Option<(Arc<PacketInfo>, Option<u64>)> = None;
    let mut line = String::with_capacity(1024);
    let mut busy = false;
    loop {
        if health.reopen.swap(false, Ordering::Relaxed) {
            out.flush_all(health, true);
            health.reopens.fetch_add(1, Ordering::Release);
        }
        let ev = match rx.try_recv() {
            Ok(ev) => {
                busy = true;
                ev
            }
            Err(TryRecvError::Disconnected) => break,
            // Events came a moment ago: more are likely, so nap instead of blocking. A
            // worker that sends while we nap finds no waiting receiver and makes no wake-up
            // syscall, which under a steady event stream cost it more than the event itself.
            Err(TryRecvError::Empty) if busy => {
                busy = false;
                std::thread::sleep(NAP);
                continue;
            }
            Err(TryRecvError::Empty) => match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(ev) => {
                    busy = true;
                    ev
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Idle: make what we have visible to `tail -f` and tests.
                    out.flush_all(health, false);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        // The evidence packet goes first, so the alert's EVE record can name its number in
        // the pcap (what `verdict explain` reads the packet back by).
        let mut evidence = None;
        let evidence_pkt = match &ev {
            Event::Alert(a) => Some(&a.pkt),
            Event::Tagged(t) => Some(&t.pkt),
            _ => None,
        };
        if let Some(pkt) = evidence_pkt {
            if let Some(s) = &mut out.pcap {
                // Several alerts on one packet share it: write the packet once.
                if !last_pkt.as_ref().is_some_and(|l| Arc::ptr_eq(&l.0, pkt)) {
                    let mut number = None;
                    s.record(&health.pcap, health, |p| {
                        let before = p.rotations;
                        let r = p.write(pkt.ts, &pkt.bytes);
                        rotations += p.rotations - before;
                        number = r.is_ok().then_some(p.packets);
                        r
                    });
                    last_pkt = Some((pkt.clone(), number));
                }
                evidence = last_pkt.as_ref().and_then(|l| l.1);
            }
        }
        if out.eve.is_some() || out.syslog.is_some() || out.redis.is_some() {
            line.clear();
            eve::format_with_evidence(&ev, evidence, &mut line);
            if let Some(s) = &mut out.syslog {
                s.record(&health.syslog, health, |w| w.send(&line));
            }
            if let Some(s) = &mut out.redis {
                s.record(&health.redis, health, |w| w.send(&line));
            }
            if let Some(s) = &mut out.eve {
                line.push('\n');
                s.record(&health.eve, health, |w| w.write_all(line.as_bytes()));
            }
        }
        if let Event::Alert(a) = &ev {
            if let Some(s) = &mut out.fast {
                line.clear();
                eve::fast_line(a, &mut line);
                line.push('\n');
                s.record(&health.fast, health, |w| w.write_all(line.as_bytes()));
            }
        }
    }
    out.flush_all(health, false);
    let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
    WriterStats {
        eve_lines: r(&health.eve.written),
        fast_lines: r(&health.fast.written),
        pcap_packets: r(&health.pcap.written),
        rotations,
        syslog_lines: r(&health.syslog.written),
        redis_lines: r(&health.redis.written),
    }
}

/// The writer's outputs, each there when configured.
struct Sinks {
    eve: Option<Sink<BufWriter<File>>>,
    fast: Option<Sink<BufWriter<File>>>,
    pcap: Option<Sink<EvidencePcap>>,
    syslog: Option<Sink<syslog::SyslogOut>>,
    redis: Option<Sink<redis::RedisOut>>,
}

impl Sinks {
    /// Flushes every output; with `reopen`, also closes it and opens its path anew.
    fn flush_all(&mut self, health: &OutputCounters, reopen: bool) {
        fn one<T: Flush>(
            s: &mut Option<Sink<T>>,
            c: &SinkCounters,
            h: &OutputCounters,
            reopen: bool,
        ) {
            match s {
                Some(s) if reopen => s.reopen(c, h),
                Some(s) => s.flush(c, h),
                None => {}
            }
        }
        one(&mut self.eve, &health.eve, health, reopen);
        one(&mut self.fast, &health.fast, health, reopen);
        one(&mut self.pcap, &health.pcap, health, reopen);
        one(&mut self.syslog, &health.syslog, health, reopen);
        one(&mut self.redis, &health.redis, health, reopen);
    }
}

//! Alert outputs, written off the hot path: workers send [`Event`]s over a bounded crossbeam
//! channel (and count, rather than wait, when it is full); one writer thread formats EVE JSON
//! lines (Suricata field names), fast.log lines and appends the triggering packets to a
//! rotating evidence pcap.

pub mod eve;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Capacity of the event channel: beyond it events are counted as lost, never waited for.
pub const CHANNEL_CAPACITY: usize = 65_536;

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
    /// The app-layer transaction the alert is about (EVE `app_proto`, `http`), if any.
    pub app: Option<Arc<HttpInfo>>,
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
    /// The deciding rule.
    pub sid: u32,
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
}

/// The writer thread.
pub struct Writer;

/// Joins the writer thread.
pub struct WriterHandle {
    thread: JoinHandle<io::Result<WriterStats>>,
}

impl WriterHandle {
    /// Waits until every [`Sender`] is dropped and everything is flushed; returns what was
    /// written, or the first I/O error (which also stopped the writer).
    pub fn join(self) -> io::Result<WriterStats> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("output writer thread panicked")))
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
    bytes: u64,
    max: u64,
}

impl EvidencePcap {
    fn open(path: PathBuf, max: u64) -> io::Result<EvidencePcap> {
        let mut e = EvidencePcap {
            path,
            w: None,
            bytes: 0,
            max,
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
        Ok(())
    }
    fn rotate_file(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, old)
    }
    fn write(&mut self, ts: SystemTime, data: &[u8], stats: &mut WriterStats) -> io::Result<()> {
        let rec = 16 + data.len() as u64;
        if self.bytes + rec > self.max && self.bytes > 24 {
            self.flush()?;
            self.w = None;
            self.rotate_file()?;
            self.create()?;
            stats.rotations += 1;
        }
        let d = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
        if let Some((w, _)) = &mut self.w {
            w.write_packet(&PcapPacket::new(d, data.len() as u32, data))
                .map_err(io::Error::other)?;
        }
        self.bytes += rec;
        stats.pcap_packets += 1;
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
    /// Starts the writer thread. Files are created in `cfg.dir` (created if missing); an error
    /// opening them is returned by [`WriterHandle::join`] and logged.
    pub fn spawn(cfg: OutputConfig) -> (Sender<Event>, WriterHandle) {
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("verdict-output".into())
            .spawn(move || {
                let r = write_loop(&cfg, rx);
                if let Err(e) = &r {
                    tracing::error!(dir = %cfg.dir.display(), "alert output failed: {e}");
                }
                r
            })
            .expect("spawning a thread only fails when the process is out of resources");
        (tx, WriterHandle { thread })
    }
}

fn write_loop(cfg: &OutputConfig, rx: Receiver<Event>) -> io::Result<WriterStats> {
    std::fs::create_dir_all(&cfg.dir)?;
    let mut eve = cfg
        .eve
        .then(|| open_append(&cfg.dir.join("eve.json")))
        .transpose()?;
    let mut fast = cfg
        .fast
        .then(|| open_append(&cfg.dir.join("fast.log")))
        .transpose()?;
    let mut pcap = cfg
        .pcap
        .then(|| EvidencePcap::open(cfg.dir.join("evidence.pcap"), cfg.pcap_max_bytes))
        .transpose()?;
    let mut stats = WriterStats::default();
    let mut last_pkt: Option<Arc<PacketInfo>> = None;
    let mut line = String::with_capacity(1024);
    loop {
        let ev = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ev) => ev,
            Err(RecvTimeoutError::Timeout) => {
                // Idle: make what we have visible to `tail -f` and tests.
                if let Some(w) = &mut eve {
                    w.flush()?;
                }
                if let Some(w) = &mut fast {
                    w.flush()?;
                }
                if let Some(p) = &mut pcap {
                    p.flush()?;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(w) = &mut eve {
            line.clear();
            eve::format(&ev, &mut line);
            line.push('\n');
            w.write_all(line.as_bytes())?;
            stats.eve_lines += 1;
        }
        if let Event::Alert(a) = &ev {
            if let Some(w) = &mut fast {
                line.clear();
                eve::fast_line(a, &mut line);
                line.push('\n');
                w.write_all(line.as_bytes())?;
                stats.fast_lines += 1;
            }
            if let Some(p) = &mut pcap {
                // Several alerts on one packet share it: write the packet once.
                if !last_pkt.as_ref().is_some_and(|l| Arc::ptr_eq(l, &a.pkt)) {
                    p.write(a.pkt.ts, &a.pkt.bytes, &mut stats)?;
                    last_pkt = Some(a.pkt.clone());
                }
            }
        }
    }
    if let Some(w) = &mut eve {
        w.flush()?;
    }
    if let Some(w) = &mut fast {
        w.flush()?;
    }
    if let Some(p) = &mut pcap {
        p.flush()?;
    }
    Ok(stats)
}

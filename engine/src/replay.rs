//! Offline replay: feeds packets from pcap/pcapng files through the same
//! [`Worker::inspect`](crate::detect::Worker::inspect) the NFQUEUE workers use, with capture
//! timestamps as the clock (flow timeouts and thresholds behave as they did live).
//!
//! What the live path gets from the kernel, the replay does itself: link layers are stripped
//! (Ethernet with 802.1Q/QinQ tags, raw IP, Linux SLL/SLL2, BSD loopback), IPv4 fragments are
//! reassembled with Linux's policy ([`crate::wire::defrag`]), and packets with bad checksums
//! are inspected anyway unless the checksum policy says otherwise (offloading makes bad
//! checksums common in captures). Files are read in chunks: a corrupt file stops with the byte
//! offset of the bad record, after everything before it was inspected. A file whose last record
//! is cut short (a capture stopped mid-write, a download cut off) is replayed up to that record
//! and gives a [`ReplayWarning`] with its offset, as Suricata processes every complete packet
//! and warns; a file that ends inside its own header is not a capture and stays an error.

use crate::detect::{Counters, PacketMeta, Worker};
use crate::output::{AnomalyEvent, Event};
use crate::verdict::Verdict;
use crate::wire::defrag::{Defragmenter, Outcome};
use crate::wire::{checksums_ok, link, WireError};
use crossbeam_channel::{Receiver, Sender};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapParser, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What to do with packets whose checksums are wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumPolicy {
    /// Inspect them anyway (Suricata's `-k none`; the default, since NIC offloading leaves
    /// outgoing packets in captures with unfilled checksums).
    #[default]
    None,
    /// Skip inspecting packets with a bad IPv4/TCP/UDP checksum (counted), as a receiving
    /// host would discard them.
    All,
}

/// Replay settings.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// `--simulate-ips`: write the traffic that would pass (rewritten, minus dropped packets)
    /// to this pcap (LINKTYPE_RAW).
    pub simulate_output: Option<PathBuf>,
    /// Checksum policy.
    pub checksums: ChecksumPolicy,
    /// Print progress on stderr for files larger than this many bytes (None: never).
    pub progress_over: Option<u64>,
}

/// A capture that could not be read (completely).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Opening or reading failed.
    #[error("{path}: {source}")]
    Io {
        /// file
        path: PathBuf,
        /// cause
        source: io::Error,
    },
    /// Not a pcap or pcapng file.
    #[error("{path}: not a pcap or pcapng file (magic {magic:02x?})")]
    NotCapture {
        /// file
        path: PathBuf,
        /// first bytes
        magic: Vec<u8>,
    },
    /// A record is corrupt.
    #[error("{path}: corrupt capture at byte offset {offset}: {message}")]
    Corrupt {
        /// file
        path: PathBuf,
        /// offset of the bad record
        offset: u64,
        /// what is wrong
        message: String,
    },
    /// The file ends inside its header (a cut-short last record is a [`ReplayWarning`]).
    #[error("{path}: capture is truncated at byte offset {offset} (the record starting there is cut short)")]
    Truncated {
        /// file
        path: PathBuf,
        /// offset of the cut record
        offset: u64,
    },
    /// Link type not supported.
    #[error("{path}: link type {linktype} is not supported (supported: Ethernet, raw IP, Linux SLL/SLL2, loopback)")]
    LinkType {
        /// file
        path: PathBuf,
        /// LINKTYPE_ value
        linktype: u32,
    },
    /// The simulate-ips output could not be written.
    #[error("{path}: cannot write the simulated IPS output: {message}")]
    Output {
        /// file
        path: PathBuf,
        /// cause
        message: String,
    },
}

/// Something wrong with a capture that did not stop its replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayWarning {
    /// The file ends inside its last record: every record before it was replayed.
    #[error("{path}: capture is truncated at byte offset {offset}: the last record is cut short ({left} bytes left); every complete record before it was replayed")]
    Truncated {
        /// file
        path: PathBuf,
        /// offset of the cut record
        offset: u64,
        /// bytes of it in the file
        left: usize,
    },
}

/// Alerts of one rule in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidCount {
    /// msg
    pub msg: String,
    /// alerts
    pub alerts: u64,
    /// packet numbers of the first alerts (at most 10), for quick checks
    pub first_packets: Vec<u64>,
}

/// What a replay saw and did.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    /// Capture records read.
    pub packets: u64,
    /// Captured bytes.
    pub bytes: u64,
    /// Packets handed to the engine (after reassembly).
    pub inspected: u64,
    /// Frames that are not IP (ARP, …).
    pub non_ip: u64,
    /// Frames whose link or IP headers were unusable.
    pub bad: u64,
    /// Packets skipped for bad checksums (policy `all`).
    pub bad_checksums: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Fragments discarded (overlaps, oversize).
    pub fragments_discarded: u64,
    /// Decoder anomalies by name.
    pub anomalies: BTreeMap<&'static str, u64>,
    /// Flows created.
    pub flows: u64,
    /// Alerts by (gid, sid).
    pub alerts: BTreeMap<(u32, u32), SidCount>,
    /// Packets dropped / rejected / rewritten (inline simulation).
    pub dropped: u64,
    /// Packets rejected.
    pub rejected: u64,
    /// Packets rewritten.
    pub replaced: u64,
    /// Events lost (always 0 in replay: events are forwarded blocking).
    pub events_lost: u64,
    /// Flows the live engine would have handed back to the kernel whole (`crate::bypass`);
    /// their later packets were not inspected.
    pub bypassed: u64,
    /// Flows one direction of which it would have handed back alone.
    pub half_bypassed: u64,
    /// Wall time spent.
    pub elapsed: Duration,
    /// Captures that stopped early, with why.
    pub errors: Vec<String>,
    /// Captures replayed in full despite damage, with what was wrong.
    pub warnings: Vec<ReplayWarning>,
}

impl ReplaySummary {
    /// Total alerts.
    pub fn total_alerts(&self) -> u64 {
        self.alerts.values().map(|s| s.alerts).sum()
    }
    /// Captured bits per second of wall time.
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e9
    }
    /// Packets per second of wall time.
    pub fn pps(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Drives one worker over capture files.
pub struct Replayer {
    worker: Worker,
    events_rx: Receiver<Event>,
    forward: Option<Sender<Event>>,
    defrag: Defragmenter,
    opts: ReplayOptions,
    sim: Option<PcapWriter<BufWriter<File>>>,
    summary: ReplaySummary,
    buf: Vec<u8>,
}

const CHUNK: usize = 4 << 20;

/// The largest pcap record taken as real (64 MiB): a larger length is a corrupt header.
const MAX_RECORD: u32 = 0x0400_0000;

impl Replayer {
    /// A replayer for `det`; events go to `forward` (e.g. an [`crate::output::Writer`]) after
    /// being counted for the summary.
    pub fn new(
        det: std::sync::Arc<crate::detect::Detector>,
        forward: Option<Sender<Event>>,
        opts: ReplayOptions,
    ) -> Result<Replayer, ReplayError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let sim = match &opts.simulate_output {
            Some(p) => {
                let f = File::create(p).map_err(|e| ReplayError::Io {
                    path: p.clone(),
                    source: e,
                })?;
                let header = PcapHeader {
                    datalink: DataLink::RAW,
                    snaplen: 262_144,
                    ..Default::default()
                };
                Some(
                    PcapWriter::with_header(BufWriter::new(f), header).map_err(|e| {
                        ReplayError::Output {
                            path: p.clone(),
                            message: e.to_string(),
                        }
                    })?,
                )
            }
            None => None,
        };
        Ok(Replayer {
            worker: Worker::new(det, tx),
            events_rx: rx,
            forward,
            defrag: Defragmenter::default(),
            opts,
            sim,
            summary: ReplaySummary::default(),
            buf: Vec::with_capacity(65_536),
        })
    }

    /// Warnings so far, oldest first (one file's are at the end after its `run_file`).
    pub fn warnings(&self) -> &[ReplayWarning] {
        &self.summary.warnings
    }

    /// Replays one file; packets before an error have been inspected and their events sent.
    /// A file cut short inside its last record is replayed up to it and adds a warning.
    pub fn run_file(&mut self, path: &Path) -> Result<(), ReplayError> {
        let start = Instant::now();
        let r = self.run_file_inner(path);
        self.summary.elapsed += start.elapsed();
        if let Err(e) = &r {
            self.summary.errors.push(e.to_string());
        }
        r
    }

    /// Finishes: flushes the simulate-ips pcap and returns the summary.
    pub fn finish(mut self) -> Result<ReplaySummary, ReplayError> {
        if let Some(w) = self.sim.take() {
            let path = self.opts.simulate_output.clone().unwrap_or_default();
            w.into_writer().flush().map_err(|e| ReplayError::Output {
                path,
                message: e.to_string(),
            })?;
        }
        let c = self.worker.counters();
        self.summary.dropped = Counters::get(&c.dropped);
        self.summary.rejected = Counters::get(&c.rejected);
        self.summary.replaced = Counters::get(&c.replaced);
        self.summary.events_lost = Counters::get(&c.events_lost);
        self.summary.bypassed = Counters::get(&c.bypassed);
        self.summary.half_bypassed = Counters::get(&c.half_bypassed);
        self.summary.flows = self.worker.flows_created();
        Ok(self.summary)
    }

    fn run_file_inner(&mut self, path: &Path) -> Result<(), ReplayError> {
        let io_err = |e: io::Error| ReplayError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut src = Source {
            file: &mut file,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            base: 0,
            eof: false,
        };
        src.fill().map_err(io_err)?;
        let magic = src.buf.get(..4).unwrap_or(&[]).to_vec();
        let progress = Progress::new(path, total, self.opts.progress_over);
        match magic.as_slice() {
            [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x4d, 0x3c, 0xb2, 0xa1] => self.run_pcap(path, &mut src, progress),
            [0x0a, 0x0d, 0x0d, 0x0a] => self.run_pcapng(path, &mut src, progress),
            _ => Err(ReplayError::NotCapture {
                path: path.to_path_buf(),
                magic,
            }),
        }
    }

    fn run_pcap(
        &mut self,
        path: &Path,
        src: &mut Source<'_>,
        mut progress: Progress,
    ) -> Result<(), ReplayError> {
        let corrupt = |offset, e: PcapError| ReplayError::Corrupt {
            path: path.to_path_buf(),
            offset,
            message: e.to_string(),
        };
        let impossible = |offset, len| ReplayError::Corrupt {
            path: path.to_path_buf(),
            offset,
            message: format!("record length {len} is impossible"),
        };
        let (header_len, parser) = loop {
            match PcapParser::new(src.rest()) {
                Ok((rest, p)) => break (src.rest().len() - rest.len(), p),
                Err(PcapError::IncompleteBuffer) => {
                    // A file that ends inside its header is truncated even at a clean end.
                    if src.need_more(path)? != Fill::More {
                        return Err(ReplayError::Truncated {
                            path: path.to_path_buf(),
                            offset: 0,
                        });
                    }
                }
                Err(e) => return Err(corrupt(0, e)),
            }
        };
        src.pos += header_len;
        let header = parser.header();
        let linktype = u32::from(header.datalink);
        if !link::supported(linktype) {
            return Err(ReplayError::LinkType {
                path: path.to_path_buf(),
                linktype,
            });
        }
        let nanos = header.ts_resolution == TsResolution::NanoSecond;
        loop {
            let offset = src.offset();
            match parser.next_raw_packet(src.rest()) {
                Ok((rest, raw)) => {
                    let used = src.rest().len() - rest.len();
                    if raw.incl_len > MAX_RECORD {
                        return Err(impossible(offset, raw.incl_len));
                    }
                    let frac = if nanos {
                        u64::from(raw.ts_frac)
                    } else {
                        u64::from(raw.ts_frac) * 1000
                    };
                    let ts = Duration::from_secs(u64::from(raw.ts_sec))
                        + Duration::from_nanos(frac.min(999_999_999));
                    let data = raw.data.into_owned();
                    src.pos += used;
                    self.frame(linktype, ts, &data);
                    progress.tick(src.offset());
                }
                Err(PcapError::IncompleteBuffer) => {
                    if src.eof {
                        progress.done();
                        // A record that could never fit is corruption, not a cut-short end.
                        let len = src.rest().get(8..12).map(|b| {
                            let b = [b[0], b[1], b[2], b[3]];
                            match header.endianness {
                                Endianness::Big => u32::from_be_bytes(b),
                                Endianness::Little => u32::from_le_bytes(b),
                            }
                        });
                        if let Some(len) = len.filter(|l| *l > MAX_RECORD) {
                            return Err(impossible(offset, len));
                        }
                    }
                    if self.record_cut(path, src, offset)? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(corrupt(offset, e)),
            }
        }
    }

    fn run_pcapng(
        &mut self,
        path: &Path,
        src: &mut Source<'_>,
        mut progress: Progress,
    ) -> Result<(), ReplayError> {
        let corrupt = |offset, e: PcapError| ReplayError::Corrupt {
            path: path.to_path_buf(),
            offset,
            message: e.to_string(),
        };
        let mut parser = loop {
            match PcapNgParser::new(src.rest()) {
                Ok((rest, p)) => {
                    src.pos += src.rest().len() - rest.len();
                    break p;
                }
                Err(PcapError::IncompleteBuffer) => {
                    // A file that ends inside its header is truncated even at a clean end.
                    if src.need_more(path)? != Fill::More {
                        return Err(ReplayError::Truncated {
                            path: path.to_path_buf(),
                            offset: 0,
                        });
                    }
                }
                Err(e) => return Err(corrupt(0, e)),
            }
        };
        let mut last_ts = Duration::ZERO;
        loop {
            let offset = src.offset();
            let res = parser.next_block(src.rest());
            match res {
                Ok((rest, block)) => {
                    let used = src.rest().len() - rest.len();
                    let frame = match &block {
                        Block::EnhancedPacket(p) => {
                            let Some(iface) = parser.interfaces().get(p.interface_id as usize)
                            else {
                                return Err(ReplayError::Corrupt {
                                    path: path.to_path_buf(),
                                    offset,
                                    message: format!(
                                        "packet names interface {} which was not described",
                                        p.interface_id
                                    ),
                                });
                            };
                            let linktype = u32::from(iface.linktype);
                            let resol = iface
                                .options
                                .iter()
                                .find_map(|o| match o {
                                    InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                                    _ => None,
                                })
                                .unwrap_or(6);
                            // pcap-file hands the raw timestamp units over as nanoseconds.
                            let units = p.timestamp.as_nanos();
                            let ts = scale_ts(units, resol);
                            last_ts = ts;
                            Some((linktype, ts, p.data.to_vec()))
                        }
                        Block::SimplePacket(p) => {
                            let linktype =
                                parser.interfaces().first().map(|i| u32::from(i.linktype));
                            linktype.map(|l| (l, last_ts, p.data.to_vec()))
                        }
                        Block::Packet(p) => {
                            let linktype = parser
                                .interfaces()
                                .get(usize::from(p.interface_id))
                                .map(|i| u32::from(i.linktype));
                            linktype
                                .map(|l| (l, scale_ts(u128::from(p.timestamp), 6), p.data.to_vec()))
                        }
                        _ => None,
                    };
                    src.pos += used;
                    if let Some((linktype, ts, data)) = frame {
                        if !link::supported(linktype) {
                            return Err(ReplayError::LinkType {
                                path: path.to_path_buf(),
                                linktype,
                            });
                        }
                        self.frame(linktype, ts, &data);
                    }
                    progress.tick(src.offset());
                }
                Err(PcapError::IncompleteBuffer) => {
                    if src.eof {
                        progress.done();
                    }
                    if self.record_cut(path, src, offset)? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(corrupt(offset, e)),
            }
        }
    }

    /// The parser needs more bytes for the record at `offset`: reads more (false), or at the
    /// end of the file says whether it ended cleanly or inside the record, which is warned
    /// about (true: the file is done).
    fn record_cut(
        &mut self,
        path: &Path,
        src: &mut Source<'_>,
        offset: u64,
    ) -> Result<bool, ReplayError> {
        match src.need_more(path)? {
            Fill::More => Ok(false),
            Fill::Clean => Ok(true),
            Fill::Cut => {
                self.summary.warnings.push(ReplayWarning::Truncated {
                    path: path.to_path_buf(),
                    offset,
                    left: src.rest().len(),
                });
                Ok(true)
            }
        }
    }

    fn frame(&mut self, linktype: u32, ts: Duration, data: &[u8]) {
        self.summary.packets += 1;
        self.summary.bytes += data.len() as u64;
        let pcap_cnt = self.summary.packets;
        let l3 = match link::l3(linktype, data) {
            Ok(l3) => l3,
            Err(WireError::NotIp) => {
                self.summary.non_ip += 1;
                return;
            }
            Err(_) => {
                self.summary.bad += 1;
                return;
            }
        };
        let outcome = self.defrag.push(l3, ts);
        for (a, v6) in self.defrag.take_anomalies_by_family() {
            *self.summary.anomalies.entry(a.event_name(v6)).or_default() += 1;
            let addrs = crate::wire::Packet::parse(l3)
                .ok()
                .map(|p| (p.ip().src, p.ip().dst));
            self.emit(Event::Anomaly(Box::new(AnomalyEvent {
                ts: UNIX_EPOCH + ts,
                pcap_cnt: Some(pcap_cnt),
                event: a.event_name(v6),
                addrs,
            })));
        }
        match outcome {
            Outcome::NotFragment => {
                self.buf.clear();
                self.buf.extend_from_slice(l3);
            }
            Outcome::Complete(v) => {
                self.summary.reassembled += 1;
                self.buf = v;
            }
            Outcome::Pending => return,
            Outcome::Discarded => {
                self.summary.fragments_discarded += 1;
                return;
            }
        }
        if self.opts.checksums == ChecksumPolicy::All && !checksums_ok(&self.buf) {
            self.summary.bad_checksums += 1;
            self.write_sim(ts);
            return;
        }
        self.summary.inspected += 1;
        let meta = PacketMeta {
            ts: UNIX_EPOCH + ts,
            in_iface: None,
            pcap_cnt: Some(pcap_cnt),
            checksum_ready: true,
            ct_reply: false,
        };
        let verdict = self.worker.inspect(&mut self.buf, &meta);
        self.drain();
        if !verdict.blocks() {
            self.write_sim(ts);
        }
        let _: Verdict = verdict;
    }

    fn write_sim(&mut self, ts: Duration) {
        if let Some(w) = &mut self.sim {
            if let Err(e) = w.write_packet(&PcapPacket::new(ts, self.buf.len() as u32, &self.buf)) {
                self.summary
                    .errors
                    .push(format!("simulate-ips output: {e}"));
                self.sim = None;
            }
        }
    }

    fn emit(&mut self, ev: Event) {
        if let Event::Alert(a) = &ev {
            let e = self
                .summary
                .alerts
                .entry((a.gid, a.sid))
                .or_insert_with(|| SidCount {
                    msg: a.signature.to_string(),
                    alerts: 0,
                    first_packets: Vec::new(),
                });
            e.alerts += 1;
            if e.first_packets.len() < 10 {
                if let Some(c) = a.pkt.pcap_cnt {
                    e.first_packets.push(c);
                }
            }
        }
        if let Some(f) = &self.forward {
            // Offline, waiting for the writer is right: no alert may be lost.
            let _ = f.send(ev);
        }
    }

    fn drain(&mut self) {
        while let Ok(ev) = self.events_rx.try_recv() {
            self.emit(ev);
        }
    }
}

fn io_fail(path: &Path, e: io::Error) -> ReplayError {
    ReplayError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// pcapng `if_tsresol`: 10^-r seconds per unit, or 2^-r with the top bit set.
fn scale_ts(units: u128, resol: u8) -> Duration {
    let nanos = if resol & 0x80 == 0 {
        let r = u32::from(resol);
        if r <= 9 {
            units * 10u128.pow(9 - r)
        } else {
            units / 10u128.pow((r - 9).min(30))
        }
    } else {
        let r = u32::from(resol & 0x7f).min(127);
        (units * 1_000_000_000) >> r
    };
    Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
}

/// What [`Source::need_more`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// More bytes were read.
    More,
    /// The file ended where the last record did.
    Clean,
    /// The file ended with bytes that do not make a whole record.
    Cut,
}

/// A chunked reader that keeps the file offset of its buffer.
struct Source<'f> {
    file: &'f mut File,
    buf: Vec<u8>,
    pos: usize,
    base: u64,
    eof: bool,
}

impl Source<'_> {
    fn rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }
    /// The parser needs more bytes than are buffered: read more, or say how the file ended.
    fn need_more(&mut self, path: &Path) -> Result<Fill, ReplayError> {
        if !self.eof {
            self.fill().map_err(|e| io_fail(path, e))?;
            return Ok(Fill::More);
        }
        Ok(if self.rest().is_empty() {
            Fill::Clean
        } else {
            Fill::Cut
        })
    }
    /// Drops consumed bytes and reads more (at least one chunk, more if a record is larger).
    fn fill(&mut self) -> io::Result<()> {
        self.buf.drain(..self.pos);
        self.base += self.pos as u64;
        self.pos = 0;
        let want = CHUNK.max(self.buf.len()) as u64;
        // read_to_end on a bounded reader: no zero-filling, and short files stay small.
        let got = (&mut *self.file).take(want).read_to_end(&mut self.buf)? as u64;
        if got < want {
            self.eof = true;
        }
        Ok(())
    }
}

struct Progress {
    name: String,
    total: u64,
    on: bool,
    start: Instant,
    last: Instant,
    ticks: u32,
}

impl Progress {
    fn new(path: &Path, total: u64, over: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress {
            name: path.display().to_string(),
            total,
            on: over.is_some_and(|o| total > o),
            start: now,
            last: now,
            ticks: 0,
        }
    }
    fn tick(&mut self, read: u64) {
        if !self.on {
            return;
        }
        self.ticks += 1;
        if !self.ticks.is_multiple_of(4096) || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "\r{}: {:.1}/{:.1} MB ({:.0}%), {:.1} MB/s   ",
            self.name,
            read as f64 / 1e6,
            self.total as f64 / 1e6,
            read as f64 * 100.0 / self.total.max(1) as f64,
            read as f64 / 1e6 / secs
        );
    }
    fn done(&mut self) {
        if self.on && self.start.elapsed() >= Duration::from_secs(1) {
            eprintln!();
        }
    }
}

/// Converts a capture timestamp to the engine clock.
pub fn capture_time(ts: Duration) -> SystemTime {
    UNIX_EPOCH + ts
}

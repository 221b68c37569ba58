//! Test helpers: hand-built programs, packets, pcap files and a self-removing temp dir.
#![allow(dead_code)]

#[path = "../../../tests/common/must_run.rs"]
pub mod must_run;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use verdict_compiler::bytecode::{FlowbitId, Insn, Program, RuleSetImage, BYTECODE_VERSION, L4};
use verdict_compiler::ir::{
    Action, BitsOp, Buffer, FlowOpts, FlowbitCmd, Gid, IpSet, Operand, PortSet, Position, Sid,
};

pub const CLI: [u8; 4] = [192, 0, 2, 2];
pub const SRV: [u8; 4] = [198, 51, 100, 2];

pub fn prog(sid: u32, action: Action, l4: L4, ops: Vec<Insn>) -> Program {
    Program {
        sid: Sid(sid),
        gid: Gid(1),
        rev: 1,
        action,
        msg: format!("test rule {sid}"),
        classtype: Some("misc-activity".into()),
        priority: Some(3),
        l4,
        app: None,
        src: IpSet::any(),
        src_ports: PortSet::full(),
        dst: IpSet::any(),
        dst_ports: PortSet::full(),
        bidirectional: false,
        transactional: false,
        tx_dirs: Vec::new(),
        flow: FlowOpts::default(),
        fast_pattern: None,
        ops,
        transforms: Vec::new(),
        threshold: None,
        detection_filter: None,
        block: None,
        tags: vec![],
        strategy: String::new(),
    }
}

pub fn content(p: &[u8]) -> Insn {
    Insn::Content {
        pattern: p.to_vec(),
        nocase: false,
        negated: false,
        buffer: Buffer::Payload,
        position: Position::Absolute {
            offset: Operand::Lit(0),
            depth: None,
        },
        ends_with: false,
        replace: None,
    }
}

pub fn replace(p: &[u8], r: &[u8]) -> Insn {
    Insn::Content {
        pattern: p.to_vec(),
        nocase: false,
        negated: false,
        buffer: Buffer::Payload,
        position: Position::Absolute {
            offset: Operand::Lit(0),
            depth: None,
        },
        ends_with: false,
        replace: Some(r.to_vec()),
    }
}

pub fn set_bit(b: u16) -> Insn {
    Insn::FlowbitsSet {
        cmd: FlowbitCmd::Set,
        bits: vec![FlowbitId(b)],
    }
}

pub fn isset(b: u16) -> Insn {
    Insn::FlowbitsTest {
        set: true,
        bits: vec![FlowbitId(b)],
        op: BitsOp::All,
    }
}

pub fn image(programs: Vec<Program>, flowbits: &[&str]) -> RuleSetImage {
    RuleSetImage {
        version: BYTECODE_VERSION,
        programs,
        flowbits: flowbits.iter().map(|s| s.to_string()).collect(),
        live: None,
    }
}

/// TCP flag shorthands for [`tcp`].
pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const FIN: u8 = 0x01;
pub const SYNACK: u8 = 0x12;
pub const PA: u8 = 0x18;
pub const RST: u8 = 0x04;

/// An IPv4 TCP packet (L3 bytes).
pub fn tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, seq, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(1);
    }
    if flags & PSH != 0 {
        b = b.psh();
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & RST != 0 {
        b = b.rst();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

pub fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn v6(last: u8, net: u8) -> [u8; 16] {
    [
        0x20, 0x01, 0x0d, 0xb8, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, 0, last,
    ]
}

/// A client→server TCP session: handshake, then each payload as one segment from the client,
/// each answered by an ACK from the server. Returns L3 packets.
pub fn session(sport: u16, dport: u16, payloads: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut v = vec![
        tcp(CLI, SRV, sport, dport, 100, SYN, b""),
        tcp(SRV, CLI, dport, sport, 500, SYNACK, b""),
        tcp(CLI, SRV, sport, dport, 101, ACK, b""),
    ];
    let mut seq = 101u32;
    for p in payloads {
        v.push(tcp(CLI, SRV, sport, dport, seq, PA, p));
        seq += p.len() as u32;
        v.push(tcp(SRV, CLI, dport, sport, 501, ACK, b""));
    }
    v
}

/// A TCP conversation: handshake, then each (to_server, payload) as one segment with the
/// right sequence number, each answered by a bare ACK from the other side.
pub fn conversation_on(sport: u16, dport: u16, turns: &[(bool, &[u8])]) -> Vec<Vec<u8>> {
    let mut v = vec![
        tcp(CLI, SRV, sport, dport, 100, SYN, b""),
        tcp(SRV, CLI, dport, sport, 500, SYNACK, b""),
        tcp(CLI, SRV, sport, dport, 101, ACK, b""),
    ];
    let (mut cseq, mut sseq) = (101u32, 501u32);
    for &(to_server, p) in turns {
        if to_server {
            v.push(tcp(CLI, SRV, sport, dport, cseq, PA, p));
            cseq += p.len() as u32;
            v.push(tcp(SRV, CLI, dport, sport, sseq, ACK, b""));
        } else {
            v.push(tcp(SRV, CLI, dport, sport, sseq, PA, p));
            sseq += p.len() as u32;
            v.push(tcp(CLI, SRV, sport, dport, cseq, ACK, b""));
        }
    }
    v
}

/// Wraps an L3 packet in Ethernet with optional VLAN tags.
pub fn eth(l3: &[u8], vlans: &[u16]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for id in vlans {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&id.to_be_bytes());
    }
    f.extend_from_slice(if l3.first().is_some_and(|b| b >> 4 == 6) {
        &[0x86, 0xdd]
    } else {
        &[0x08, 0x00]
    });
    f.extend_from_slice(l3);
    f
}

pub fn sll(l3: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    f.extend_from_slice(if l3.first().is_some_and(|b| b >> 4 == 6) {
        &[0x86, 0xdd]
    } else {
        &[0x08, 0x00]
    });
    f.extend_from_slice(l3);
    f
}

pub fn sll2(l3: &[u8]) -> Vec<u8> {
    let mut f = if l3[0] >> 4 == 6 {
        vec![0x86, 0xdd]
    } else {
        vec![0x08, 0x00]
    };
    f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    f.extend_from_slice(l3);
    f
}

/// Writes a pcap; `snaplen` cuts records (orig_len keeps the real length).
pub fn write_pcap(path: &Path, linktype: DataLink, frames: &[Vec<u8>], snaplen: Option<usize>) {
    let f = std::fs::File::create(path).unwrap();
    let header = PcapHeader {
        datalink: linktype,
        snaplen: 65535,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(f, header).unwrap();
    for (i, fr) in frames.iter().enumerate() {
        let cut = &fr[..snaplen.map_or(fr.len(), |s| s.min(fr.len()))];
        let ts = Duration::from_secs(1_700_000_000) + Duration::from_millis(10 * i as u64);
        w.write_packet(&PcapPacket::new(ts, fr.len() as u32, cut))
            .unwrap();
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "verdict-test-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// EVE records of a directory.
pub fn read_eve(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("eve.json"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (sid, pcap_cnt) of every alert record.
pub fn alerts(eve: &[serde_json::Value]) -> Vec<(u64, u64)> {
    eve.iter()
        .filter(|e| e["event_type"] == "alert")
        .map(|e| {
            (
                e["alert"]["signature_id"].as_u64().unwrap(),
                e["pcap_cnt"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Splits an IPv6 packet without extension headers into fragments of `chunk` payload bytes
/// (a multiple of 8) behind a fragment header.
pub fn fragment_ipv6(pkt: &[u8], chunk: usize, id: u32) -> Vec<Vec<u8>> {
    let payload = &pkt[40..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let mut f = pkt[..40].to_vec();
        f[6] = 44;
        let field = ((off / 8) as u16) << 3 | u16::from(end < payload.len());
        f.extend_from_slice(&[pkt[6], 0]);
        f.extend_from_slice(&field.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&payload[off..end]);
        let plen = (f.len() - 40) as u16;
        f[4..6].copy_from_slice(&plen.to_be_bytes());
        out.push(f);
        off = end;
    }
    out
}

/// Compiles rule text into a detector. Every rule must load and become an engine program
/// (`image_all`: kernel-expressible rules too); `file` names the text, and dataset and hash
/// list paths in it resolve against its directory.
pub fn detector(
    file: &str,
    rules: &str,
    image_all: bool,
    cfg: &verdict_engine::detect::DetectConfig,
) -> std::sync::Arc<verdict_engine::detect::Detector> {
    use verdict_compiler::check::{load_str, LoadOptions};
    use verdict_compiler::codegen::{compile, CompileOptions};
    let (_, loaded) = load_str(file, rules, &LoadOptions::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            image_all,
            ..Default::default()
        },
    );
    assert_eq!(
        c.image.programs.len(),
        loaded.rules.len(),
        "every test rule must be runnable: {:?}",
        c.fates
    );
    std::sync::Arc::new(verdict_engine::detect::Detector::new(&c.image, cfg).unwrap())
}

/// Replays `pcap` through `det` with every output written into `out`; the alerts as
/// (sid, pcap_cnt), in log order.
pub fn replay_alerts(
    det: std::sync::Arc<verdict_engine::detect::Detector>,
    pcap: &Path,
    out: &Path,
) -> Vec<(u64, u64)> {
    use verdict_engine::output::{OutputConfig, Writer};
    use verdict_engine::replay::{ReplayOptions, Replayer};
    std::fs::create_dir_all(out).unwrap();
    let (tx, h) = Writer::spawn(OutputConfig::all(out));
    let mut r = Replayer::new(det, Some(tx), ReplayOptions::default()).unwrap();
    r.run_file(pcap).unwrap();
    r.finish().unwrap();
    h.join().unwrap();
    alerts(&read_eve(out))
}

/// Compiles `rules`, writes `frames` (L3 packets) as an Ethernet capture in `dir` and
/// replays it with the outputs in `dir/out`; the alerts as (sid, pcap_cnt), sorted.
pub fn replay_frames(dir: &Path, rules: &str, frames: &[Vec<u8>]) -> Vec<(u64, u64)> {
    let det = detector(
        "test.rules",
        rules,
        true,
        &verdict_engine::detect::DetectConfig::default(),
    );
    let pcap = dir.join("in.pcap");
    let eth: Vec<Vec<u8>> = frames.iter().map(|f| eth(f, &[])).collect();
    write_pcap(&pcap, DataLink::ETHERNET, &eth, None);
    let mut got = replay_alerts(det, &pcap, &dir.join("out"));
    got.sort_unstable();
    got
}

/// How many alerts each sid raised.
pub fn per_sid(alerts: &[(u64, u64)]) -> std::collections::BTreeMap<u64, usize> {
    let mut n = std::collections::BTreeMap::new();
    for &(sid, _) in alerts {
        *n.entry(sid).or_insert(0) += 1;
    }
    n
}

/// A worker over rule text and the stream of events it sends, for tests that inspect
/// packets one by one.
pub struct TestWorker {
    /// The worker.
    pub w: verdict_engine::detect::Worker,
    /// Its events.
    pub rx: crossbeam_channel::Receiver<verdict_engine::output::Event>,
}

/// A [`TestWorker`] over `rules` (compiled as `verdict run` would: kernel rules stay out).
pub fn worker(rules: &str, cfg: &verdict_engine::detect::DetectConfig) -> TestWorker {
    let det = detector("test.rules", rules, false, cfg);
    let (tx, rx) = crossbeam_channel::unbounded();
    TestWorker {
        w: verdict_engine::detect::Worker::new(det, tx),
        rx,
    }
}

impl TestWorker {
    /// Inspects one packet at `secs` seconds past a fixed epoch; the sids that alerted.
    pub fn at(&mut self, secs: u64, p: &[u8]) -> Vec<u32> {
        use std::time::UNIX_EPOCH;
        use verdict_engine::detect::PacketMeta;
        use verdict_engine::output::Event;
        let mut p = p.to_vec();
        let meta = PacketMeta::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs));
        self.w.inspect(&mut p, &meta);
        let mut sids: Vec<u32> = self
            .rx
            .try_iter()
            .filter_map(|e| match e {
                Event::Alert(a) => Some(a.sid),
                _ => None,
            })
            .collect();
        sids.sort_unstable();
        sids
    }

    /// Inspects packets one second apart; the sids per packet.
    pub fn all(&mut self, pkts: &[Vec<u8>]) -> Vec<Vec<u32>> {
        pkts.iter()
            .enumerate()
            .map(|(i, p)| self.at(i as u64, p))
            .collect()
    }
}

//! Memory under a flood: tens of thousands of half-open, out-of-order and gap-ridden TCP
//! flows through `Worker::inspect` (the code the NFQUEUE worker runs), with a small stream
//! memcap. The process RSS must stay within the memcap plus the flow table's own cost, and
//! the limit counters (memcap, out-of-order limits, gaps) must show the limits were hit
//! rather than memory grown.

use etherparse::PacketBuilder;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector, PacketMeta, Worker};

const FLOWS: u32 = 24_000;
const MEMCAP: usize = 16 << 20;
const SEG: usize = 1400;

fn tcp(
    cli: [u8; 4],
    sport: u16,
    to_server: bool,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    payload: &[u8],
) -> Vec<u8> {
    let srv = [198, 51, 100, 2];
    let (s, d, sp, dp) = if to_server {
        (cli, srv, sport, 80)
    } else {
        (srv, cli, 80, sport)
    };
    let mut b = PacketBuilder::ipv4(s, d, 64).tcp(sp, dp, seq, 64240);
    if syn {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    let mut v = Vec::with_capacity(60 + payload.len());
    b.write(&mut v, payload).expect("build packet");
    v
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .expect("VmRSS in /proc/self/status")
}

/// The packets of flow `i`: a third half-open (SYN only), a third holding 24 segments behind
/// a hole, a third with a gap announced by the server's ACK; every 30th of those also sends
/// 600 one-byte pieces out of order (past the per-direction piece limit).
fn flow(i: u32, out: &mut Vec<Vec<u8>>) {
    let cli = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let sport = 1024 + (i % 60_000) as u16;
    let (isn, sisn) = (1000u32, 5000u32);
    out.push(tcp(cli, sport, true, isn, None, true, &[]));
    if i.is_multiple_of(3) {
        return;
    }
    out.push(tcp(cli, sport, false, sisn, Some(isn + 1), true, &[]));
    out.push(tcp(cli, sport, true, isn + 1, Some(sisn + 1), false, &[]));
    let body = [b'x'; SEG];
    if i % 3 == 1 {
        for k in 1..=24u32 {
            let seq = isn + 1 + k * SEG as u32;
            out.push(tcp(cli, sport, true, seq, Some(sisn + 1), false, &body));
        }
        return;
    }
    out.push(tcp(
        cli,
        sport,
        true,
        isn + 1,
        Some(sisn + 1),
        false,
        b"GET / HTTP/1.1\r\n",
    ));
    // The server acknowledges 100 kB the gateway never saw: a gap.
    out.push(tcp(
        cli,
        sport,
        false,
        sisn + 1,
        Some(isn + 100_017),
        false,
        &[],
    ));
    if i % 30 == 2 {
        for k in 0..600u32 {
            let seq = isn + 200_000 + 2 * k;
            out.push(tcp(cli, sport, true, seq, Some(sisn + 1), false, b"y"));
        }
    }
}

#[test]
fn a_flood_of_broken_flows_hits_the_limits_not_the_memory() {
    let (_, loaded) = load_str(
        "flood.rules",
        "alert tcp any any -> any any (msg:\"stream\"; flow:established; content:\"never-in-this-flood\"; sid:1;)\n",
        &LoadOptions::default(),
    );
    let c = compile(&loaded.rules, &CompileOptions::default());
    let mut cfg = DetectConfig {
        inline: true,
        ..Default::default()
    };
    cfg.session.stream.memcap = MEMCAP;
    let det = Arc::new(Detector::new(&c.image, &cfg).expect("load rules"));
    let (tx, _rx) = crossbeam_channel::bounded(1024);
    let mut w = Worker::new(det, tx);
    let t0 = SystemTime::now();
    let before = rss_kib();
    let mut pkts = Vec::new();
    let mut sent = 0u64;
    let mut payload_bytes = 0u64;
    let mut peak_rss = before;
    for i in 0..FLOWS {
        pkts.clear();
        flow(i, &mut pkts);
        for p in &mut pkts {
            payload_bytes += p.len().saturating_sub(40) as u64;
            let meta = PacketMeta::at(t0 + Duration::from_micros(u64::from(i)));
            w.inspect(p, &meta);
            sent += 1;
        }
        if i % 2000 == 0 {
            peak_rss = peak_rss.max(rss_kib());
        }
    }
    peak_rss = peak_rss.max(rss_kib());
    let mem = w.stream_mem();
    let c = mem.counters();
    let grown_mib = peak_rss.saturating_sub(before) / 1024;
    eprintln!(
        "{sent} packets, {} MiB of payload, {} flows tracked; RSS {} -> {} MiB (+{grown_mib}); stream memory peak {} KiB; {c:?}",
        payload_bytes >> 20,
        w.flow_count(),
        before / 1024,
        peak_rss / 1024,
        mem.peak() >> 10
    );
    assert!(
        mem.peak() <= MEMCAP,
        "stream memory {} over the memcap",
        mem.peak()
    );
    assert!(c.memcap_hits > 0, "the memcap was never hit: {c:?}");
    assert!(
        c.limit_hits > 0,
        "the out-of-order piece limit was never hit: {c:?}"
    );
    assert!(c.out_of_order > 0 && c.gaps > 0, "{c:?}");
    // The payload sent is several times the memcap; what the process grew by is the memcap
    // plus the flow table (24k flows, a session each for two thirds), not the payload.
    assert!(
        payload_bytes > 8 * MEMCAP as u64,
        "the flood is too small to prove anything"
    );
    assert!(
        grown_mib < (MEMCAP >> 20) as u64 + 96,
        "RSS grew by {grown_mib} MiB under a {} MiB memcap",
        MEMCAP >> 20
    );
}

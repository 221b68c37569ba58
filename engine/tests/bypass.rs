//! Bypass decisions on real packet bytes, as `verdict replay` and the live worker take them:
//! past the bypass point a flow's (or a direction's) packets are not inspected, so a replay
//! shows what the live engine saw.

mod common;

use common::*;
use std::time::{Duration, UNIX_EPOCH};
use verdict_engine::bypass::{BypassMark, BypassPolicy, BypassScope};
use verdict_engine::detect::{DetectConfig, PacketMeta};
use verdict_engine::output::Event;

/// A per-packet rule on the server's data, and a drop on a request URI.
const RULES: &str = "alert tcp any 80 -> any any (msg:\"late response bytes\"; \
     content:\"LATEMARK\"; sid:1; rev:1;)\n\
     drop http any any -> any 80 (msg:\"bad uri\"; http.uri; content:\"/verdict-bad\"; \
     sid:2; rev:1;)\n";

const DEPTH: u64 = 2000;

/// A keep-alive HTTP connection: a download past the depth whose last segment carries
/// `LATEMARK`, then a bad request.
fn conversation() -> Vec<Vec<u8>> {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n".to_vec();
    let mut turns: Vec<(bool, Vec<u8>)> = vec![
        (true, b"GET /big HTTP/1.1\r\nHost: srv\r\n\r\n".to_vec()),
        (false, head),
    ];
    for _ in 0..3 {
        turns.push((false, vec![b'x'; 1500]));
    }
    let mut last = vec![b'x'; 1500];
    last[..8].copy_from_slice(b"LATEMARK");
    turns.push((false, last));
    turns.push((
        true,
        b"GET /verdict-bad HTTP/1.1\r\nHost: srv\r\n\r\n".to_vec(),
    ));
    let turns: Vec<(bool, &[u8])> = turns.iter().map(|(d, p)| (*d, &p[..])).collect();
    conversation_on(40000, 80, &turns)
}

/// What one packet's inspection gave: the sids that alerted, the bypass mark of its verdict.
type PerPacket = (Vec<u32>, BypassMark);

/// Inspects the conversation under `policy` (inline); per packet: the sids that alerted and
/// the bypass mark of its verdict. Also the worker's (bypassed, half-bypassed) counts.
fn run(policy: BypassPolicy) -> (Vec<PerPacket>, (u64, u64)) {
    let mut cfg = DetectConfig {
        inline: true,
        bypass: policy,
        ..Default::default()
    };
    cfg.session.stream.depth = DEPTH;
    let mut t = worker(RULES, &cfg);
    let mut out = Vec::new();
    for (i, p) in conversation().into_iter().enumerate() {
        let mut p = p;
        let meta = PacketMeta::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64));
        t.w.inspect(&mut p, &meta);
        let mut sids: Vec<u32> =
            t.rx.try_iter()
                .filter_map(|e| match e {
                    Event::Alert(a) => Some(a.sid),
                    _ => None,
                })
                .collect();
        sids.sort_unstable();
        out.push((sids, t.w.take_bypass()));
    }
    let c = t.w.counters();
    let get = verdict_engine::detect::Counters::get;
    (out, (get(&c.bypassed), get(&c.half_bypassed)))
}

fn sids(per_packet: &[PerPacket]) -> Vec<u32> {
    per_packet.iter().flat_map(|(s, _)| s.clone()).collect()
}

#[test]
fn direction_stops_inspecting_the_download_and_still_drops_a_later_request() {
    let (pkts, counts) = run(BypassPolicy::Direction);
    assert_eq!(
        sids(&pkts),
        [2],
        "the late response bytes are past the bypass point"
    );
    assert_eq!(counts, (0, 1));
    let marks: Vec<BypassMark> = pkts.iter().map(|(_, m)| *m).collect();
    let dir = |first| BypassMark::Set {
        scope: BypassScope::Direction,
        first,
    };
    let at = marks
        .iter()
        .position(|m| *m == dir(true))
        .expect("the download direction was bypassed");
    // Every later server segment was in flight: marked again, not inspected; the client's
    // ACKs and its request carry no mark. (The server's ACK of the dropped request is
    // dropped with its flow.)
    let convo = conversation();
    let request = convo.len() - 2;
    assert_eq!(pkts[request].0, [2], "the bad request");
    for (i, m) in marks.iter().enumerate().take(request + 1).skip(at + 1) {
        let from_server = convo[i][12..16] == SRV;
        let want = if from_server {
            dir(false)
        } else {
            BypassMark::None
        };
        assert_eq!(*m, want, "packet {i}");
    }
}

#[test]
fn both_keeps_inspecting_and_either_gives_up_the_later_request() {
    let (pkts, counts) = run(BypassPolicy::Both);
    assert_eq!(sids(&pkts), [1, 2]);
    assert_eq!(counts, (0, 0));
    let (pkts, counts) = run(BypassPolicy::Off);
    assert_eq!(sids(&pkts), [1, 2]);
    assert_eq!(counts, (0, 0));
    // Either: the whole flow left with the download, the bad request with it.
    let (pkts, counts) = run(BypassPolicy::Either);
    assert_eq!(sids(&pkts), Vec::<u32>::new());
    assert_eq!(counts, (1, 0));
}

//! Replay of generated captures: link types, VLAN, IPv6 with extension headers, fragments
//! (incl. overlapping), truncated captures, pcapng, simulate-ips output, and the outputs
//! (EVE alerts asserted by sid and packet number, fast.log, evidence pcap).

mod common;

use common::*;
use pcap_file::DataLink;
use std::sync::Arc;
use verdict_compiler::bytecode::{RuleSetImage, L4};
use verdict_compiler::ir::Action;
use verdict_engine::detect::{DetectConfig, Detector};
use verdict_engine::output::{OutputConfig, Writer};
use verdict_engine::replay::{ReplayError, ReplayOptions, ReplaySummary, ReplayWarning, Replayer};
use verdict_engine::wire::defrag::fragment_ipv4;

/// Replays files into `dir`; returns the summary and the per-file results.
fn replay(
    img: &RuleSetImage,
    files: &[std::path::PathBuf],
    dir: &std::path::Path,
    opts: ReplayOptions,
    inline: bool,
) -> (ReplaySummary, Vec<Result<(), ReplayError>>) {
    let det = Arc::new(
        Detector::new(
            img,
            &DetectConfig {
                inline,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let (tx, h) = Writer::spawn(OutputConfig::all(dir));
    let mut r = Replayer::new(det, Some(tx), opts).unwrap();
    let res = files.iter().map(|f| r.run_file(f)).collect();
    let s = r.finish().unwrap();
    h.join().unwrap();
    (s, res)
}

fn rules() -> RuleSetImage {
    image(
        vec![
            prog(100, Action::Alert, L4::Tcp, vec![content(b"evil")]),
            prog(101, Action::Alert, L4::Udp, vec![content(b"bad-dns")]),
            prog(102, Action::Drop, L4::Tcp, vec![content(b"DROPME")]),
        ],
        &[],
    )
}

#[test]
fn link_types_vlan_and_ipv6_ext_headers() {
    let d = TempDir::new("links");
    // One session per file, each from its own client port (the same session twice would be a
    // retransmission of the whole flow, which does not alert twice).
    let pkts = |i: usize| session(40000 + i as u16, 80, &[b"an evil request"]);
    let per_file = pkts(0).len() as u64;
    let mut files = Vec::new();
    type Wrap = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let variants: Vec<(&str, DataLink, Wrap)> = vec![
        ("eth", DataLink::ETHERNET, Box::new(|p| eth(p, &[]))),
        ("vlan", DataLink::ETHERNET, Box::new(|p| eth(p, &[10]))),
        ("qinq", DataLink::ETHERNET, Box::new(|p| eth(p, &[10, 20]))),
        ("sll", DataLink::LINUX_SLL, Box::new(sll)),
        ("sll2", DataLink::LINUX_SLL2, Box::new(sll2)),
        ("raw", DataLink::RAW, Box::new(|p| p.to_vec())),
        ("ipv4", DataLink::IPV4, Box::new(|p| p.to_vec())),
    ];
    for (i, (name, lt, wrap)) in variants.iter().enumerate() {
        let f = d.path().join(format!("{name}.pcap"));
        let frames: Vec<Vec<u8>> = pkts(i).iter().map(|p| wrap(p)).collect();
        write_pcap(&f, *lt, &frames, None);
        files.push(f);
    }
    // IPv6 + hop-by-hop extension header → UDP carrying the pattern.
    let u = udp6(v6(2, 1), v6(2, 2), 5353, 53, b"q bad-dns");
    let mut ext = u[..40].to_vec();
    ext[6] = 0;
    let plen = u16::from_be_bytes([u[4], u[5]]) + 8;
    ext[4..6].copy_from_slice(&plen.to_be_bytes());
    ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    ext.extend_from_slice(&u[40..]);
    let f6 = d.path().join("v6.pcap");
    write_pcap(&f6, DataLink::ETHERNET, &[eth(&ext, &[7])], None);
    files.push(f6);
    let out = TempDir::new("links-out");
    let (s, res) = replay(
        &rules(),
        &files,
        out.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    let a = alerts(&read_eve(out.path()));
    // Each capture repeats the same flow, so each file's packet 4 alerts; the replay numbers
    // packets across files (pcap_cnt continues), the IPv6 packet is the last one.
    let mut want: Vec<(u64, u64)> = (0..variants.len() as u64)
        .map(|i| (100, i * per_file + 4))
        .collect();
    want.push((101, variants.len() as u64 * per_file + 1));
    assert_eq!(a, want);
    assert_eq!(s.non_ip + s.bad, 0);
    let fast = std::fs::read_to_string(out.path().join("fast.log")).unwrap();
    assert_eq!(fast.lines().count(), want.len());
    assert!(fast.contains("[1:100:1] test rule 100"));
    // The evidence pcap holds the alerting packets and is readable.
    let bytes = std::fs::read(out.path().join("evidence.pcap")).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        p.unwrap();
        n += 1;
    }
    assert_eq!(n, want.len());
}

#[test]
fn fragments_are_reassembled_and_overlaps_reported() {
    let d = TempDir::new("frag");
    let big = udp(
        CLI,
        SRV,
        5000,
        53,
        &[b"x".repeat(100), b"bad-dns".to_vec(), b"y".repeat(100)].concat(),
    );
    let mut frames: Vec<Vec<u8>> = fragment_ipv4(&big, 64);
    assert!(frames.len() >= 3);
    let n_ok = frames.len();
    // Teardrop-style overlap on another datagram (different IP id).
    let mut evil = udp(
        CLI,
        SRV,
        5001,
        53,
        &[b"z".repeat(60), b"bad-dns".to_vec()].concat(),
    );
    evil[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
    let ef = fragment_ipv4(&evil, 32);
    let mut overlapping = ef[1].clone();
    let fo = u16::from_be_bytes([overlapping[6], overlapping[7]]);
    overlapping[6..8].copy_from_slice(&(fo - 1).to_be_bytes());
    frames.push(ef[0].clone());
    frames.push(overlapping);
    frames.extend(ef[2..].iter().cloned());
    let f = d.path().join("frag.pcap");
    write_pcap(
        &f,
        DataLink::ETHERNET,
        &frames.iter().map(|p| eth(p, &[])).collect::<Vec<_>>(),
        None,
    );
    let (s, res) = replay(&rules(), &[f], d.path(), ReplayOptions::default(), false);
    assert!(res[0].is_ok());
    let eve = read_eve(d.path());
    // The reassembled datagram completes with the last fragment of the first datagram.
    assert_eq!(alerts(&eve), vec![(101, n_ok as u64)]);
    assert_eq!(s.reassembled, 1);
    assert_eq!(s.anomalies.get("ipv4.frag_overlap"), Some(&1));
    let anomalies: Vec<_> = eve
        .iter()
        .filter(|e| e["event_type"] == "anomaly")
        .collect();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0]["anomaly"]["event"], "ipv4.frag_overlap");
    assert_eq!(anomalies[0]["pcap_cnt"], n_ok as u64 + 2);
}

#[test]
fn truncated_file_is_replayed_up_to_the_cut_record_with_a_warning() {
    let d = TempDir::new("trunc");
    let pkts = session(40000, 80, &[b"evil one", b"evil two", b"evil three"]);
    let f = d.path().join("t.pcap");
    write_pcap(&f, DataLink::RAW, &pkts, None);
    let full = std::fs::read(&f).unwrap();
    // Cut in the middle of the record of packet 8 (the third data segment).
    let mut off = 24usize;
    for p in &pkts[..7] {
        off += 16 + p.len();
    }
    std::fs::write(&f, &full[..off + 20]).unwrap();
    let (s, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        d.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(res[0].is_ok(), "{res:?}");
    assert_eq!(s.packets, 7, "every complete record, and only those");
    assert_eq!(
        s.warnings,
        vec![ReplayWarning::Truncated {
            path: f.clone(),
            offset: off as u64,
            left: 20,
        }]
    );
    assert!(s.warnings[0]
        .to_string()
        .contains(&format!("truncated at byte offset {off}")));
    assert_eq!(alerts(&read_eve(d.path())), vec![(100, 4), (100, 6)]);
    // Cut inside a record header (fewer than 16 bytes left): the same.
    std::fs::write(&f, &full[..off + 5]).unwrap();
    let (s, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        d.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(res[0].is_ok());
    assert!(matches!(
        s.warnings[..],
        [ReplayWarning::Truncated { left: 5, .. }]
    ));
    // A clean end warns about nothing.
    std::fs::write(&f, &full).unwrap();
    let (s, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        d.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(res[0].is_ok() && s.warnings.is_empty());
    // A file that ends inside its own header is no capture: an error.
    std::fs::write(&f, &full[..20]).unwrap();
    let (_, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        d.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(
        matches!(res[0], Err(ReplayError::Truncated { offset: 0, .. })),
        "{res:?}"
    );
    // A corrupt record length is reported with its offset too.
    let mut bad = full.clone();
    bad[24 + 8..24 + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    std::fs::write(&f, &bad).unwrap();
    let (_, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        d.path(),
        ReplayOptions::default(),
        false,
    );
    let e = res[0].as_ref().unwrap_err().to_string();
    assert!(e.contains("byte offset 24"), "{e}");
    // Not a capture at all.
    std::fs::write(&f, b"hello world, not a pcap").unwrap();
    let (_, res) = replay(&rules(), &[f], d.path(), ReplayOptions::default(), false);
    assert!(matches!(res[0], Err(ReplayError::NotCapture { .. })));
}

#[test]
fn snaplen_truncated_packets_are_inspected_on_what_was_captured() {
    let d = TempDir::new("snap");
    let mut pkts = session(40000, 80, &[&[b"evil".as_slice(), &[b'.'; 200]].concat()]);
    pkts.push(tcp(
        CLI,
        SRV,
        40000,
        80,
        400,
        PA,
        &[&[b'.'; 200][..], b"evil"].concat(),
    ));
    let f = d.path().join("s.pcap");
    write_pcap(&f, DataLink::RAW, &pkts, Some(96));
    let (s, res) = replay(&rules(), &[f], d.path(), ReplayOptions::default(), false);
    assert!(res[0].is_ok());
    // "evil" at the start of packet 4 was captured; at the end of packet 6 it was cut off.
    assert_eq!(alerts(&read_eve(d.path())), vec![(100, 4)]);
    assert_eq!(s.bad, 0);
}

#[test]
fn pcapng_with_timestamps_resolution() {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    let d = TempDir::new("ng");
    let f = d.path().join("n.pcapng");
    let mut w = PcapNgWriter::new(std::fs::File::create(&f).unwrap()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![],
    })
    .unwrap();
    for (i, p) in session(40000, 80, &[b"evil"]).iter().enumerate() {
        // Default if_tsresol is microseconds; pcap-file stores the raw units in the Duration.
        let ts = std::time::Duration::from_nanos(1_700_000_000_000_000 + i as u64);
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: ts,
            original_len: 0,
            data: eth(p, &[]).into(),
            options: vec![],
        })
        .unwrap();
    }
    drop(w);
    let (_, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        d.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(res[0].is_ok(), "{res:?}");
    let eve = read_eve(d.path());
    assert_eq!(alerts(&eve), vec![(100, 4)]);
    assert!(
        eve[0]["timestamp"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-14T22:13:20.000003"),
        "{}",
        eve[0]["timestamp"]
    );
    // The last block cut short: the blocks before it are replayed, with a warning.
    let full = std::fs::read(&f).unwrap();
    std::fs::write(&f, &full[..full.len() - 3]).unwrap();
    let e = TempDir::new("ng-cut");
    let (s, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        e.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(res[0].is_ok(), "{res:?}");
    assert_eq!(s.packets, session(40000, 80, &[b"evil"]).len() as u64 - 1);
    assert!(
        matches!(s.warnings[..], [ReplayWarning::Truncated { .. }]),
        "{:?}",
        s.warnings
    );
    assert_eq!(alerts(&read_eve(e.path())), vec![(100, 4)]);
}

#[test]
fn simulate_ips_writes_traffic_minus_the_dropped_flow() {
    let d = TempDir::new("ips");
    let mut pkts = session(40000, 80, &[b"hello", b"DROPME", b"after"]);
    pkts.extend(session(40001, 80, &[b"innocent"]));
    let f = d.path().join("in.pcap");
    write_pcap(
        &f,
        DataLink::ETHERNET,
        &pkts.iter().map(|p| eth(p, &[])).collect::<Vec<_>>(),
        None,
    );
    let out = d.path().join("ips.pcap");
    let opts = ReplayOptions {
        simulate_output: Some(out.clone()),
        ..Default::default()
    };
    let (s, res) = replay(&rules(), &[f], d.path(), opts, true);
    assert!(res[0].is_ok());
    // Packets 6 (DROPME) .. 9 (rest of the flow) are dropped.
    assert_eq!(s.dropped, 4);
    let bytes = std::fs::read(&out).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut kept = Vec::new();
    while let Some(p) = r.next_packet() {
        kept.push(p.unwrap().data.into_owned());
    }
    let want: Vec<Vec<u8>> = pkts
        .iter()
        .enumerate()
        .filter(|(i, _)| !(5..=8).contains(i))
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(kept, want);
    let eve = read_eve(d.path());
    let alert = eve.iter().find(|e| e["event_type"] == "alert").unwrap();
    assert_eq!(alert["alert"]["action"], "blocked");
    assert_eq!(alert["pcap_cnt"], 6);
    assert!(eve
        .iter()
        .any(|e| e["event_type"] == "drop" && e["drop"]["reason"] == "rules"));
}

mod arbitrary_files {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Garbage after a valid pcap or pcapng header, or garbage records: an error or a
        /// result, never a panic.
        #[test]
        fn corrupt_captures_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), ng in any::<bool>(), lt in 0u32..300) {
            let d = TempDir::new("fuzz");
            let f = d.path().join("f.cap");
            let mut bytes = Vec::new();
            if ng {
                // Section header block (little endian) + interface description with link type lt.
                bytes.extend_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0]);
                bytes.extend_from_slice(&u64::MAX.to_le_bytes());
                bytes.extend_from_slice(&28u32.to_le_bytes());
                bytes.extend_from_slice(&[1, 0, 0, 0, 20, 0, 0, 0]);
                bytes.extend_from_slice(&(lt as u16).to_le_bytes());
                bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 20, 0, 0, 0]);
            } else {
                bytes.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
                bytes.extend_from_slice(&lt.to_le_bytes());
            }
            bytes.extend_from_slice(&body);
            std::fs::write(&f, &bytes).unwrap();
            static DET: std::sync::OnceLock<Arc<Detector>> = std::sync::OnceLock::new();
            let det = DET.get_or_init(|| Arc::new(Detector::new(&rules(), &DetectConfig { inline: true, ..Default::default() }).unwrap()));
            let mut r = Replayer::new(det.clone(), None, ReplayOptions::default()).unwrap();
            let _ = r.run_file(&f);
            let _ = r.finish();
        }
    }
}

#[test]
fn ipv6_fragments_are_reassembled_in_replay() {
    let d = TempDir::new("frag6");
    let big = udp6(
        v6(2, 1),
        v6(2, 2),
        5000,
        53,
        &[b"x".repeat(150), b"bad-dns".to_vec(), b"y".repeat(150)].concat(),
    );
    let mut frames = fragment_ipv6(&big, 96, 77);
    frames.reverse(); // out of order
    let n = frames.len() as u64;
    let f = d.path().join("frag6.pcap");
    write_pcap(
        &f,
        DataLink::ETHERNET,
        &frames.iter().map(|p| eth(p, &[])).collect::<Vec<_>>(),
        None,
    );
    let (s, res) = replay(&rules(), &[f], d.path(), ReplayOptions::default(), false);
    assert!(res[0].is_ok());
    assert_eq!(s.reassembled, 1);
    assert_eq!(alerts(&read_eve(d.path())), vec![(101, n)]);
}

/// A client/server TCP packet with explicit ack number and raw TCP options (L3 bytes).
fn tcp_opts(
    to_server: bool,
    sport: u16,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let (src, dst, sp, dp) = if to_server {
        (CLI, SRV, sport, 80)
    } else {
        (SRV, CLI, 80, sport)
    };
    let mut b = etherparse::PacketBuilder::ipv4(src, dst, 64)
        .tcp(sp, dp, seq, 64240)
        .options_raw(opts)
        .unwrap();
    if syn {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

#[test]
fn tcp_fast_open_syn_data_is_stream_data_inspected_once() {
    // Fast Open cookie option (kind 34, 8-byte cookie) and NOP padding to a 4-byte multiple.
    let cookie = [34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1];
    let d = TempDir::new("tfo");
    let pkts = vec![
        // Accepted: the SYN-ACK acknowledges the 7 data bytes; "evil" spans the SYN's data
        // and the next segment, so only the stream sees it.
        tcp_opts(true, 40000, 100, None, true, &cookie, b"GET /ev"),
        tcp_opts(false, 40000, 500, Some(108), true, &[], b""),
        tcp_opts(
            true,
            40000,
            108,
            Some(501),
            false,
            &[],
            b"il HTTP/1.0\r\n\r\n",
        ),
        // Refused: the SYN-ACK acknowledges only the SYN and the client resends the data
        // after the handshake, which brings nothing new to inspect.
        tcp_opts(true, 40001, 100, None, true, &cookie, b"GET /evil"),
        tcp_opts(false, 40001, 500, Some(101), true, &[], b""),
        tcp_opts(true, 40001, 101, Some(501), false, &[], b"GET /evil"),
        // Without the option, SYN data is not stream data: the receiver discards it, and
        // the resend after the handshake is what gets inspected as the stream.
        tcp_opts(true, 40002, 100, None, true, &[], b"GET /ev"),
        tcp_opts(false, 40002, 500, Some(101), true, &[], b""),
        tcp_opts(true, 40002, 101, Some(501), false, &[], b"GET /ev"),
        tcp_opts(true, 40002, 108, Some(501), false, &[], b"il"),
    ];
    let f = d.path().join("tfo.pcap");
    write_pcap(&f, DataLink::RAW, &pkts, None);
    let (_, res) = replay(&rules(), &[f], d.path(), ReplayOptions::default(), false);
    assert!(res[0].is_ok(), "{res:?}");
    assert_eq!(
        alerts(&read_eve(d.path())),
        vec![(100, 3), (100, 4), (100, 10)]
    );
}

#[test]
fn inline_stream_inspection_covers_a_chunk_around_each_packet() {
    // "evil" is split over the first two segments; three small segments follow. IDS
    // inspects each stream byte once: one alert. Inline (Suricata's raw inline mode) each
    // packet is inspected with the stream chunk around it, so the older match counts again
    // on every later packet whose chunk still holds it.
    let d = TempDir::new("inline-chunk");
    let mut pkts = vec![
        tcp_opts(true, 40000, 100, None, true, &[], b""),
        tcp_opts(false, 40000, 500, Some(101), true, &[], b""),
        tcp_opts(true, 40000, 101, Some(501), false, &[], b"xx ev"),
        tcp_opts(true, 40000, 106, Some(501), false, &[], b"il yy"),
        tcp_opts(true, 40000, 111, Some(501), false, &[], b"zz"),
    ];
    // A small packet sees the rest of a 2560-byte chunk before it: "evil" is in it. A
    // packet of more than two thirds of a chunk sees only a third of one (853 bytes), and
    // "evil" is 900 bytes further back.
    pkts.push(tcp_opts(
        true,
        40000,
        113,
        Some(501),
        false,
        &[],
        &[b'b'; 900],
    ));
    pkts.push(tcp_opts(
        true,
        40000,
        1013,
        Some(501),
        false,
        &[],
        &[b'a'; 2000],
    ));
    let f = d.path().join("chunk.pcap");
    write_pcap(&f, DataLink::RAW, &pkts, None);
    let (_, res) = replay(
        &rules(),
        std::slice::from_ref(&f),
        d.path(),
        ReplayOptions::default(),
        false,
    );
    assert!(res[0].is_ok(), "{res:?}");
    assert_eq!(alerts(&read_eve(d.path())), vec![(100, 4)]);
    let d2 = TempDir::new("inline-chunk-ips");
    let (_, res) = replay(&rules(), &[f], d2.path(), ReplayOptions::default(), true);
    assert!(res[0].is_ok(), "{res:?}");
    assert_eq!(
        alerts(&read_eve(d2.path())),
        vec![(100, 4), (100, 5), (100, 6)]
    );
}

/// The stream pass reuses the packet pass's prefilter hits and scans only the window's
/// lookback: a rule whose fast pattern lies in the earlier segment and whose other content
/// arrives with this one, and a rule whose pattern straddles the boundary, both match on the
/// second segment, next to a rule matching that segment alone.
#[test]
fn stream_window_finds_patterns_in_the_lookback_and_across_the_boundary() {
    let dir = TempDir::new("stream-lookback");
    let rules = "alert tcp any any -> any any (msg:\"lookback\"; flow:established,to_server; \
                 content:\"FASTPATTERN-ONE\"; content:\"tail\"; distance:0; sid:1;)\n\
                 alert tcp any any -> any any (msg:\"straddle\"; flow:established,to_server; \
                 content:\"SPLIT-ACROSS\"; sid:2;)\n\
                 alert tcp any any -> any any (msg:\"in the packet\"; flow:established,to_server; \
                 content:\"zz tail\"; sid:3;)\n";
    let frames = session(
        40000,
        7000,
        &[b"xx FASTPATTERN-ONE yy SPLIT-", b"ACROSS zz tail"],
    );
    let got = replay_frames(dir.path(), rules, &frames);
    // Handshake (3), first segment + ACK (2): the second data segment is packet 6.
    assert_eq!(got, vec![(1, 6), (2, 6), (3, 6)]);
}

/// The stream pass remembers the prefilter hits of earlier packets by stream offset
/// (`detect::memo`) instead of rescanning its lookback: a fast pattern three segments back
/// still makes its rule a candidate when the rest of the rule arrives, in order and when the
/// segments arrive out of order (the memo cannot vouch for a filled gap: a full scan).
#[test]
fn stream_window_remembers_hits_of_earlier_packets() {
    let rules = "alert tcp any any -> any any (msg:\"memo\"; flow:established,to_server; \
                 content:\"MEMO-FAST-PATTERN\"; content:\"later-tail\"; distance:0; sid:11;)\n";
    let segs: [&[u8]; 4] = [
        b"aa MEMO-FAST-PATTERN bb",
        b"filler one",
        b"filler two",
        b"xx later-tail",
    ];
    let dir = TempDir::new("stream-memo");
    let got = replay_frames(dir.path(), rules, &session(40001, 7000, &segs));
    // Handshake (3), then each data segment and its ACK: the fourth segment is packet 10.
    assert_eq!(got, vec![(11, 10)]);

    // The same bytes with the second and third segments swapped: the third is buffered,
    // the second completes both, and the rule matches once the tail is there.
    let mut frames = vec![
        tcp(CLI, SRV, 40002, 7000, 100, SYN, b""),
        tcp(SRV, CLI, 7000, 40002, 500, SYNACK, b""),
        tcp(CLI, SRV, 40002, 7000, 101, ACK, b""),
    ];
    let mut seqs = Vec::new();
    let mut seq = 101u32;
    for s in segs {
        seqs.push(seq);
        seq += s.len() as u32;
    }
    for i in [0usize, 2, 1, 3] {
        frames.push(tcp(CLI, SRV, 40002, 7000, seqs[i], PA, segs[i]));
        frames.push(tcp(SRV, CLI, 7000, 40002, 501, ACK, b""));
    }
    let dir = TempDir::new("stream-memo-ooo");
    assert_eq!(replay_frames(dir.path(), rules, &frames), vec![(11, 10)]);
}

//! Worker::inspect on hand-built programs and real packet bytes: actions, flow state,
//! flowbits, thresholds, replace with checksums, counters, and arbitrary input.

mod common;

use common::*;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use verdict_compiler::bytecode::{RuleSetImage, L4};
use verdict_compiler::ir::{
    Action, DetectionFilter, FlowOpts, PortSet, RejectTarget, Sid, Threshold, ThresholdKind, Track,
};
use verdict_engine::detect::{Counters, DetectConfig, Detector, PacketMeta, Worker};
use verdict_engine::output::Event;
use verdict_engine::verdict::Verdict;
use verdict_engine::wire::{checksums_ok, Packet};

fn worker(img: &RuleSetImage, inline: bool) -> (Worker, Receiver<Event>) {
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
    let (tx, rx) = crossbeam_channel::bounded(1024);
    (Worker::new(det, tx), rx)
}

fn at(ms: u64) -> PacketMeta {
    PacketMeta {
        pcap_cnt: Some(ms),
        ..PacketMeta::at(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms),
        )
    }
}

/// Runs packets; returns verdicts and (sid, packet number) of alerts.
fn run(w: &mut Worker, rx: &Receiver<Event>, pkts: &[Vec<u8>]) -> (Vec<Verdict>, Vec<(u32, u64)>) {
    let mut verdicts = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        let mut p = p.clone();
        verdicts.push(w.inspect(&mut p, &at(i as u64 + 1)));
    }
    let alerts = rx
        .try_iter()
        .filter_map(|e| match e {
            Event::Alert(a) => Some((a.sid, a.pkt.pcap_cnt.unwrap())),
            _ => None,
        })
        .collect();
    (verdicts, alerts)
}

#[test]
fn content_split_across_two_segments_matches_on_the_completing_packet() {
    // The stream pass sees "evil-" + "command" in the reassembled window, and the alert is
    // on the packet that completes the match (the one an IPS must drop).
    let img = image(
        vec![prog(
            1,
            Action::Alert,
            L4::Tcp,
            vec![content(b"evil-command")],
        )],
        &[],
    );
    let (mut w, rx) = worker(&img, false);
    let (_, a) = run(
        &mut w,
        &rx,
        &session(40000, 80, &[b"GET /evil-command HTTP/1.0\r\n"]),
    );
    assert_eq!(a, vec![(1, 4)]);
    let (_, a) = run(
        &mut w,
        &rx,
        &session(40001, 80, &[b"GET /evil-", b"command HTTP/1.0\r\n"]),
    );
    assert_eq!(a, vec![(1, 6)], "packet 6 is the second data segment");
}

#[test]
fn tcp_pkt_rules_see_packets_only_and_tcp_stream_rules_streams_only() {
    // `tcp-pkt` (flow:no_stream) never matches across segments; `tcp-stream`
    // (flow:only_stream) does, and does not match a UDP datagram.
    let mut pkt_only = prog(2, Action::Alert, L4::Any, vec![content(b"evil-command")]);
    pkt_only.flow = FlowOpts {
        stream: Some(false),
        ..FlowOpts::default()
    };
    let mut stream_only = prog(3, Action::Alert, L4::Any, vec![content(b"evil-command")]);
    stream_only.flow = FlowOpts {
        stream: Some(true),
        ..FlowOpts::default()
    };
    let img = image(vec![pkt_only, stream_only], &[]);
    let (mut w, rx) = worker(&img, false);
    let (_, a) = run(
        &mut w,
        &rx,
        &session(40001, 80, &[b"GET /evil-", b"command HTTP/1.0\r\n"]),
    );
    assert_eq!(a, vec![(3, 6)]);
    let (_, a) = run(
        &mut w,
        &rx,
        &session(40002, 80, &[b"GET /evil-command HTTP/1.0\r\n"]),
    );
    assert_eq!(a, vec![(2, 4), (3, 4)]);
    let (_, a) = run(&mut w, &rx, &[udp(CLI, SRV, 5000, 53, b"evil-command")]);
    assert_eq!(a, vec![(2, 1)]);
}

#[test]
fn flowbits_set_on_request_checked_on_response() {
    let mut setter = prog(
        10,
        Action::Alert,
        L4::Tcp,
        vec![
            content(b"LOGIN"),
            set_bit(0),
            verdict_compiler::bytecode::Insn::NoAlert,
        ],
    );
    setter.flow = FlowOpts {
        to_server: Some(true),
        ..Default::default()
    };
    let mut checker = prog(11, Action::Alert, L4::Tcp, vec![isset(0), content(b"230 ")]);
    checker.flow = FlowOpts {
        to_server: Some(false),
        established: Some(true),
        ..Default::default()
    };
    let img = image(vec![checker, setter], &["logged_in"]);
    let (mut w, rx) = worker(&img, false);
    let mut pkts = session(40000, 21, &[b"LOGIN bob"]);
    pkts.push(tcp(SRV, CLI, 21, 40000, 501, PA, b"230 ok"));
    // The same reply on a flow without LOGIN does not alert.
    let mut other = session(40001, 21, &[b"HELLO"]);
    other.push(tcp(SRV, CLI, 21, 40001, 501, PA, b"230 ok"));
    pkts.extend(other);
    let (_, a) = run(&mut w, &rx, &pkts);
    // setter has noalert: only the checker alerts, on packet 6 (the reply).
    assert_eq!(a, vec![(11, 6)]);
}

#[test]
fn established_and_direction() {
    let mut r = prog(20, Action::Alert, L4::Tcp, vec![content(b"x")]);
    r.flow = FlowOpts {
        established: Some(true),
        to_server: Some(true),
        ..Default::default()
    };
    let img = image(vec![r], &[]);
    let (mut w, rx) = worker(&img, false);
    // x in the SYN (not established), then in data (established, to server), then from the
    // server (to client).
    let pkts = vec![
        tcp(CLI, SRV, 40000, 80, 100, SYN, b"x"),
        tcp(SRV, CLI, 80, 40000, 500, SYNACK, b""),
        tcp(CLI, SRV, 40000, 80, 101, ACK, b""),
        tcp(CLI, SRV, 40000, 80, 101, PA, b"x"),
        tcp(SRV, CLI, 80, 40000, 501, PA, b"x"),
    ];
    let (_, a) = run(&mut w, &rx, &pkts);
    assert_eq!(a, vec![(20, 4)]);
}

#[test]
fn drop_stops_the_rest_of_the_flow_and_reports_the_sid() {
    let img = image(
        vec![prog(30, Action::Drop, L4::Tcp, vec![content(b"attack")])],
        &[],
    );
    let (mut w, rx) = worker(&img, true);
    let mut pkts = session(40000, 80, &[b"hello", b"attack!", b"more"]);
    pkts.extend(session(40001, 80, &[b"fine"]));
    let mut verdicts = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        let mut p = p.clone();
        verdicts.push(w.inspect(&mut p, &at(i as u64 + 1)));
    }
    let drops: Vec<usize> = verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| v.blocks())
        .map(|(i, _)| i + 1)
        .collect();
    // packet 6 carries the attack; 7..=9 are the rest of that flow; the second flow passes.
    assert_eq!(drops, vec![6, 7, 8, 9]);
    assert_eq!(verdicts[5], Verdict::Drop(Sid(30)));
    let events: Vec<Event> = rx.try_iter().collect();
    let alerts: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Alert(a) = e {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].blocked);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Drop(_)))
            .count(),
        // The attack packet's, then one `flow drop` record per later packet of the flow,
        // as Suricata writes them with `drop: flows: all`.
        4
    );
    let c = w.counters();
    assert_eq!(Counters::get(&c.dropped), 4);
    assert_eq!(Counters::get(&c.received), pkts.len() as u64);
    assert_eq!(Counters::get(&c.rule_hits[0]), 1);
}

#[test]
fn ids_mode_only_alerts() {
    let img = image(
        vec![prog(31, Action::Drop, L4::Tcp, vec![content(b"attack")])],
        &[],
    );
    let (mut w, rx) = worker(&img, false);
    let (v, a) = run(&mut w, &rx, &session(40000, 80, &[b"attack", b"attack"]));
    assert!(v.iter().all(|v| *v == Verdict::Accept));
    // As Suricata in IDS mode: the drop rule's stream match marks the flow dropped, so the
    // rest of it passes uninspected (one alert), but nothing is actually dropped.
    assert_eq!(a, vec![(31, 4)]);
    let c = w.counters();
    assert_eq!(Counters::get(&c.dropped), 0);
}

#[test]
fn pass_beats_drop_and_reject_target_is_carried() {
    let mut pass = prog(40, Action::Pass, L4::Tcp, vec![content(b"trusted")]);
    pass.src_ports = PortSet::full();
    let img = image(
        vec![
            prog(41, Action::Drop, L4::Tcp, vec![content(b"bad")]),
            pass,
            prog(
                42,
                Action::Reject(RejectTarget::Default),
                L4::Udp,
                vec![content(b"bad")],
            ),
            prog(43, Action::Alert, L4::Udp, vec![content(b"bad")]),
        ],
        &[],
    );
    let (mut w, rx) = worker(&img, true);
    let (v, a) = run(&mut w, &rx, &session(40000, 80, &[b"trusted bad"]));
    assert!(v.iter().all(|v| *v == Verdict::Accept));
    assert_eq!(a, vec![]);
    let (v, a) = run(&mut w, &rx, &[udp(CLI, SRV, 5000, 53, b"bad")]);
    assert_eq!(v, vec![Verdict::Reject(RejectTarget::Default, Sid(42))]);
    assert_eq!(a, vec![(42, 1), (43, 1)]);
}

#[test]
fn replace_rewrites_payload_with_valid_checksums() {
    let img = image(
        vec![prog(
            50,
            Action::Alert,
            L4::Any,
            vec![replace(b"secret", b"XXXXXX")],
        )],
        &[],
    );
    let (mut w, _rx) = worker(&img, true);
    for pkt in [
        tcp(CLI, SRV, 40000, 80, 1, PA, b"the secret word"),
        udp(CLI, SRV, 5000, 53, b"the secret word"),
        udp6(v6(2, 1), v6(2, 2), 5000, 53, b"the secret word"),
    ] {
        let mut p = pkt.clone();
        assert_eq!(w.inspect(&mut p, &at(1)), Verdict::Replace(Sid(50)));
        assert_eq!(Packet::parse(&p).unwrap().payload(), b"the XXXXXX word");
        assert!(
            checksums_ok(&p),
            "checksums must be valid after the rewrite"
        );
        assert_eq!(p.len(), pkt.len());
    }
    // GSO / partial checksum: NFQUEUE's mangle marks the packet CHECKSUM_NONE, so the
    // rewrite must carry the complete checksum.
    let pkt = tcp(CLI, SRV, 40001, 80, 1, PA, b"the secret word");
    let mut p = pkt.clone();
    let meta = PacketMeta {
        checksum_ready: false,
        ..at(2)
    };
    assert_eq!(w.inspect(&mut p, &meta), Verdict::Replace(Sid(50)));
    assert!(checksums_ok(&p));
}

#[test]
fn threshold_limit_and_detection_filter_use_packet_time() {
    let mut lim = prog(60, Action::Alert, L4::Udp, vec![content(b"ping")]);
    lim.threshold = Some(Threshold {
        kind: ThresholdKind::Limit,
        track: Track::BySrc,
        count: 2,
        seconds: 60,
    });
    let mut df = prog(61, Action::Alert, L4::Udp, vec![content(b"ping")]);
    df.detection_filter = Some(DetectionFilter {
        track: Track::BySrc,
        count: 3,
        seconds: 60,
        unique_on: None,
    });
    let img = image(vec![lim, df], &[]);
    let (mut w, rx) = worker(&img, false);
    let pkts: Vec<_> = (0..5)
        .map(|i| udp(CLI, SRV, 5000 + i, 53, b"ping"))
        .collect();
    let (_, a) = run(&mut w, &rx, &pkts);
    assert_eq!(a, vec![(60, 1), (60, 2), (61, 4), (61, 5)]);
    // 61 s later (packet time) the limit window restarts.
    let mut p = udp(CLI, SRV, 6000, 53, b"ping");
    w.inspect(
        &mut p,
        &PacketMeta {
            pcap_cnt: Some(99),
            ..PacketMeta::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_070))
        },
    );
    let later: Vec<u32> = rx
        .try_iter()
        .filter_map(|e| {
            if let Event::Alert(a) = e {
                Some(a.sid)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(later, vec![60]);
}

#[test]
fn bad_packets_are_counted_and_accepted() {
    let img = image(vec![prog(70, Action::Drop, L4::Any, vec![])], &[]);
    let (mut w, _rx) = worker(&img, true);
    for junk in [
        vec![],
        vec![0x45],
        vec![0x45; 19],
        vec![0x60; 30],
        vec![0xff; 100],
    ] {
        let mut j = junk.clone();
        assert_eq!(w.inspect(&mut j, &at(1)), Verdict::Accept);
    }
    assert_eq!(Counters::get(&w.counters().bad_packets), 5);
}

#[test]
fn full_event_channel_counts_instead_of_blocking() {
    let img = image(
        vec![prog(80, Action::Alert, L4::Udp, vec![content(b"a")])],
        &[],
    );
    let det = Arc::new(Detector::new(&img, &DetectConfig::default()).unwrap());
    let (tx, _rx) = crossbeam_channel::bounded(2);
    let mut w = Worker::new(det, tx);
    for i in 0..5 {
        let mut p = udp(CLI, SRV, 5000 + i, 53, b"a");
        w.inspect(&mut p, &at(1));
    }
    assert_eq!(Counters::get(&w.counters().alerts), 5);
    assert_eq!(Counters::get(&w.counters().events_lost), 3);
}

#[test]
fn events_for_a_stopped_writer_are_counted_lost() {
    let img = image(
        vec![prog(80, Action::Alert, L4::Udp, vec![content(b"a")])],
        &[],
    );
    let det = Arc::new(Detector::new(&img, &DetectConfig::default()).unwrap());
    let (tx, rx) = crossbeam_channel::bounded(16);
    let mut w = Worker::new(det, tx);
    // The writer has gone (e.g. it stopped on an error): a closed channel, not a full one.
    drop(rx);
    for i in 0..3 {
        let mut p = udp(CLI, SRV, 5000 + i, 53, b"a");
        w.inspect(&mut p, &at(1));
    }
    assert_eq!(Counters::get(&w.counters().alerts), 3);
    assert_eq!(Counters::get(&w.counters().events_lost), 3);
}

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn inspect_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
            if let Some(b) = bytes.first_mut() {
                // Bias towards IP versions so parsing gets deep, not only rejected.
                *b = (*b & 0x0f) | if v6 { 0x60 } else { 0x45 & 0xf0 | 0x40 };
            }
            let img = image(vec![
                prog(1, Action::Drop, L4::Any, vec![content(b"\x00\x00")]),
                prog(2, Action::Alert, L4::Any, vec![replace(b"\x01", b"\x02")]),
            ], &[]);
            let (mut w, _rx) = worker(&img, true);
            let _ = w.inspect(&mut bytes, &at(1));
        }
    }
}

#[test]
fn retransmissions_do_not_duplicate_alerts_out_of_order_segments_match() {
    let img = image(
        vec![
            prog(90, Action::Alert, L4::Tcp, vec![content(b"attack")]),
            prog(91, Action::Alert, L4::Tcp, vec![content(b"other")]),
        ],
        &[],
    );
    let (mut w, rx) = worker(&img, false);
    let mut pkts = session(40000, 80, &[]);
    // segment 2 arrives before segment 1 (it is inspected when segment 1 fills the gap, on
    // packet 5), then segment 2 is retransmitted (no new alert), then a "retransmission" of
    // segment 2 with different bytes (inspected as a packet: the conflicting copy).
    pkts.push(tcp(CLI, SRV, 40000, 80, 111, PA, b"an attack here"));
    pkts.push(tcp(CLI, SRV, 40000, 80, 101, PA, b"0123456789"));
    pkts.push(tcp(CLI, SRV, 40000, 80, 111, PA, b"an attack here"));
    pkts.push(tcp(CLI, SRV, 40000, 80, 111, PA, b"an other here!"));
    let (_, a) = run(&mut w, &rx, &pkts);
    assert_eq!(a, vec![(90, 5), (91, 7)]);
}

#[test]
fn pass_passes_a_tcp_connection_but_only_the_udp_packet() {
    let img = image(
        vec![
            prog(95, Action::Pass, L4::Any, vec![content(b"trusted")]),
            prog(96, Action::Alert, L4::Any, vec![content(b"bad")]),
        ],
        &[],
    );
    let (mut w, rx) = worker(&img, false);
    let (_, a) = run(&mut w, &rx, &session(40000, 80, &[b"trusted", b"bad"]));
    assert_eq!(a, vec![]);
    let (_, a) = run(
        &mut w,
        &rx,
        &[
            udp(CLI, SRV, 5000, 53, b"trusted"),
            udp(CLI, SRV, 5000, 53, b"bad"),
        ],
    );
    assert_eq!(a, vec![(96, 2)]);
}

#[test]
fn inspect_depth_stops_payload_tests_but_not_header_tests() {
    let img = image(
        vec![
            prog(97, Action::Alert, L4::Tcp, vec![content(b"attack")]),
            prog(
                98,
                Action::Alert,
                L4::Tcp,
                vec![verdict_compiler::bytecode::Insn::Header(
                    verdict_compiler::ir::HeaderTest::Dsize(verdict_compiler::ir::NumCmp::Eq(6)),
                )],
            ),
        ],
        &[],
    );
    let det = Arc::new(
        Detector::new(
            &img,
            &DetectConfig {
                inspect_depth: Some(10),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let (tx, rx) = crossbeam_channel::bounded(64);
    let mut w = Worker::new(det, tx);
    // 4 bytes, then "attack" crosses the 10-byte depth (inspected), then "attack" past it.
    let (_, a) = run(
        &mut w,
        &rx,
        &session(40000, 80, &[b"0123", b"attack", b"attack"]),
    );
    assert_eq!(a, vec![(97, 6), (98, 6), (98, 8)]);
    // The other direction has its own budget.
    let mut p = tcp(SRV, CLI, 80, 40000, 501, PA, b"attack");
    w.inspect(&mut p, &at(9));
    let later: Vec<u32> = rx
        .try_iter()
        .filter_map(|e| {
            if let Event::Alert(a) = e {
                Some(a.sid)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(later, vec![97, 98]);
}

/// A content on an app-layer buffer, with an optional transform chain on that selection.
fn app_content(
    pattern: &[u8],
    buffer: verdict_compiler::ir::AppBuffer,
) -> verdict_compiler::bytecode::Insn {
    let mut i = content(pattern);
    if let verdict_compiler::bytecode::Insn::Content { buffer: b, .. } = &mut i {
        *b = verdict_compiler::ir::Buffer::App(buffer);
    }
    i
}

/// A DNS query for `name` (type A, id 0x1234).
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn dns_over_udp_rules_run_per_message_through_their_transforms() {
    use verdict_compiler::ir::{AppBuffer, Buffer, BufferTransforms, Transform};
    // dns.query; dotprefix; content:".evil.example"; endswith;
    let mut c = app_content(b".evil.example", AppBuffer::DnsQuery);
    if let verdict_compiler::bytecode::Insn::Content { ends_with, .. } = &mut c {
        *ends_with = true;
    }
    let mut p = prog(40, Action::Drop, L4::Udp, vec![c]);
    p.transforms = vec![BufferTransforms {
        buffer: Buffer::App(AppBuffer::DnsQuery),
        chain: vec![Transform::DotPrefix],
        tests: 0..1,
    }];
    let img = image(vec![p], &[]);
    let (mut w, rx) = worker(&img, true);
    let pkts = [
        udp(CLI, SRV, 5000, 53, &dns_query("www.evil.example")),
        udp(CLI, SRV, 5001, 53, &dns_query("notevil.example")),
        udp(CLI, SRV, 5002, 53, &dns_query("evil.example")),
        // Not port 53: not parsed as DNS, so no transaction.
        udp(CLI, SRV, 5003, 5353, &dns_query("evil.example")),
    ];
    let (v, a) = run(&mut w, &rx, &pkts);
    assert_eq!(a, vec![(40, 1), (40, 3)]);
    assert!(matches!(v[0], Verdict::Drop(_)) && v[1] == Verdict::Accept);
}

/// A TLS 1.2 ClientHello record naming `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    let list_len = name.len() + 3;
    sni_ext.extend_from_slice(&(list_len as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut exts = vec![0, 0];
    exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    exts.extend_from_slice(&sni_ext);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0xc0, 0x2f]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn tls_sni_rules_match_a_client_hello_split_over_segments_on_any_port() {
    use verdict_compiler::ir::AppBuffer;
    let img = image(
        vec![prog(
            41,
            Action::Alert,
            L4::Tcp,
            vec![app_content(b"blocked.example", AppBuffer::TlsSni)],
        )],
        &[],
    );
    let (mut w, rx) = worker(&img, false);
    let hello = client_hello("www.blocked.example");
    let (a, b) = hello.split_at(40);
    // Port 8443, split in two: the hello completes with packet 6, the second data segment
    // (detection by content).
    let (_, alerts) = run(&mut w, &rx, &session(40000, 8443, &[a, b]));
    assert_eq!(alerts, vec![(41, 6)]);
    let (_, alerts) = run(
        &mut w,
        &rx,
        &session(40001, 443, &[&client_hello("www.allowed.example")]),
    );
    assert_eq!(alerts, vec![]);
}

#[test]
fn a_two_sided_buffer_is_prefiltered_again_in_the_other_direction() {
    // The request's headers are longer than the response's: the response's http.header
    // must still be scanned, not taken as already seen.
    use verdict_compiler::ir::AppBuffer;
    let mut p = prog(
        42,
        Action::Alert,
        L4::Tcp,
        vec![app_content(b"ng1nx", AppBuffer::HttpHeader)],
    );
    p.flow = FlowOpts {
        to_server: Some(false),
        ..FlowOpts::default()
    };
    let img = image(vec![p], &[]);
    let (mut w, rx) = worker(&img, false);
    let req: &[u8] =
        b"GET / HTTP/1.1\r\nHost: a-rather-long-host-name.example\r\nUser-Agent: x\r\n\r\n";
    let mut pkts = session(40000, 80, &[req]);
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nServer: ng1nx\r\nContent-Length: 0\r\n\r\n";
    pkts.push(tcp(SRV, CLI, 80, 40000, 501, PA, resp));
    let (_, a) = run(&mut w, &rx, &pkts);
    assert_eq!(a, vec![(42, 6)]);
}

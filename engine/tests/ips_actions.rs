//! IPS action semantics on hand-built programs and real packet bytes: Suricata's
//! `action-order`, which matches act on the flow or only on the packet, and the midstream
//! exception policy with its drop reasons.

mod common;

use common::*;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use verdict_compiler::bytecode::{Insn, RuleSetImage, L4};
use verdict_compiler::ir::{Action, HeaderTest, NumCmp};
use verdict_engine::detect::order::ActionOrder;
use verdict_engine::detect::{DetectConfig, Detector, PacketMeta, Worker};
use verdict_engine::exception::{ExceptionConfig, ExceptionPolicy};
use verdict_engine::flow::FlowConfig;
use verdict_engine::output::Event;
use verdict_engine::verdict::Verdict;

fn worker_with(img: &RuleSetImage, cfg: DetectConfig) -> (Worker, Receiver<Event>) {
    let det = Arc::new(Detector::new(img, &cfg).unwrap());
    let (tx, rx) = crossbeam_channel::bounded(1024);
    (Worker::new(det, tx), rx)
}

fn inline() -> DetectConfig {
    DetectConfig {
        inline: true,
        ..Default::default()
    }
}

/// Runs packets; returns verdicts, alerts as (sid, packet number) and drop records as
/// (packet number, reason).
#[allow(clippy::type_complexity)]
fn run(
    w: &mut Worker,
    rx: &Receiver<Event>,
    pkts: &[Vec<u8>],
) -> (Vec<Verdict>, Vec<(u32, u64)>, Vec<(u64, &'static str)>) {
    let mut verdicts = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        let mut p = p.clone();
        let n = i as u64 + 1;
        let meta = PacketMeta {
            pcap_cnt: Some(n),
            ..PacketMeta::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n))
        };
        verdicts.push(w.inspect(&mut p, &meta));
    }
    let (mut alerts, mut drops) = (Vec::new(), Vec::new());
    for e in rx.try_iter() {
        match e {
            Event::Alert(a) => alerts.push((a.sid, a.pkt.pcap_cnt.unwrap())),
            Event::Drop(d) => drops.push((d.pkt.pcap_cnt.unwrap(), d.reason)),
            _ => {}
        }
    }
    (verdicts, alerts, drops)
}

fn dsize(n: u64) -> Insn {
    Insn::Header(HeaderTest::Dsize(NumCmp::Eq(n)))
}

#[test]
fn default_order_a_pass_silences_the_packet_and_a_content_pass_only_the_packet() {
    // UDP: the pass is decided by this packet's payload, so only this packet passes.
    let img = image(
        vec![
            prog(1, Action::Alert, L4::Udp, vec![content(b"hi")]),
            prog(2, Action::Pass, L4::Udp, vec![content(b"wo")]),
            prog(3, Action::Drop, L4::Udp, vec![content(b"hi")]),
        ],
        &[],
    );
    let (mut w, rx) = worker_with(&img, inline());
    let pkts = [
        udp(CLI, SRV, 5000, 53, b"hi"),
        udp(CLI, SRV, 5000, 53, b"hi wo"),
        udp(CLI, SRV, 5000, 53, b"hi"),
    ];
    let (v, a, d) = run(&mut w, &rx, &pkts);
    assert_eq!(v[1], Verdict::Accept);
    assert!(matches!(v[0], Verdict::Drop(_)) && matches!(v[2], Verdict::Drop(_)));
    // A content drop on UDP drops the packet, not the flow: packet 3 is inspected again.
    assert_eq!(a, vec![(3, 1), (1, 1), (3, 3), (1, 3)]);
    assert_eq!(d, vec![(1, "rules"), (3, "rules")]);
}

#[test]
fn drop_first_order_drops_before_the_pass_stops_the_walk() {
    let img = image(
        vec![
            prog(1, Action::Alert, L4::Udp, vec![content(b"hi")]),
            prog(2, Action::Pass, L4::Udp, vec![content(b"hi")]),
            prog(3, Action::Drop, L4::Udp, vec![content(b"hi")]),
        ],
        &[],
    );
    let order = ActionOrder::from_names(&["drop", "pass", "reject", "alert"]).unwrap();
    let cfg = DetectConfig {
        action_order: order,
        ..inline()
    };
    let (mut w, rx) = worker_with(&img, cfg);
    let (v, a, _) = run(&mut w, &rx, &[udp(CLI, SRV, 5000, 53, b"hi")]);
    assert!(matches!(v[0], Verdict::Drop(_)));
    // The drop alerts; the pass stops the walk before the alert rule.
    assert_eq!(a, vec![(3, 1)]);
    // With the default order the pass wins outright.
    let (mut w, rx) = worker_with(&img, inline());
    let (v, a, _) = run(&mut w, &rx, &[udp(CLI, SRV, 5000, 53, b"hi")]);
    assert_eq!((v[0], a), (Verdict::Accept, vec![]));
}

#[test]
fn ip_only_drop_drops_the_flow_but_a_header_rule_only_its_packets() {
    // IP-only: addresses and protocol only. Its drop drops the rest of the flow.
    let img = image(vec![prog(1, Action::Drop, L4::Udp, vec![])], &[]);
    let (mut w, rx) = worker_with(&img, inline());
    let pkts = [udp(CLI, SRV, 5000, 53, b"a"), udp(SRV, CLI, 53, 5000, b"b")];
    let (_, a, d) = run(&mut w, &rx, &pkts);
    assert_eq!(a, vec![(1, 1)]);
    assert_eq!(d, vec![(1, "rules"), (2, "flow drop")]);
    // dsize is a packet property: each matching packet is dropped (and logged) on its own.
    let img = image(vec![prog(2, Action::Drop, L4::Udp, vec![dsize(1)])], &[]);
    let (mut w, rx) = worker_with(&img, inline());
    let (v, a, d) = run(&mut w, &rx, &pkts);
    assert!(v.iter().all(|v| matches!(v, Verdict::Drop(_))));
    assert_eq!(a, vec![(2, 1), (2, 2)]);
    assert_eq!(d, vec![(1, "rules"), (2, "rules")]);
}

#[test]
fn midstream_policy_drops_the_flow_with_suricatas_reasons() {
    let img = image(
        vec![prog(1, Action::Alert, L4::Tcp, vec![content(b"x")])],
        &[],
    );
    let policies = |c: ExceptionConfig| c.resolve(true, false).unwrap();
    let cfg = DetectConfig {
        flow: FlowConfig {
            midstream: false,
            ..FlowConfig::default()
        },
        exceptions: policies(ExceptionConfig::default()),
        ..inline()
    };
    // A session seen from its second packet on: no SYN.
    let pkts = [
        tcp(CLI, SRV, 40000, 80, 101, PA, b"x"),
        tcp(SRV, CLI, 80, 40000, 501, ACK, b""),
    ];
    let (mut w, rx) = worker_with(&img, cfg.clone());
    let (v, a, d) = run(&mut w, &rx, &pkts);
    assert!(v.iter().all(|v| matches!(v, Verdict::Drop(_))));
    assert_eq!(a, vec![]);
    assert_eq!(
        d,
        vec![(1, "stream midstream"), (2, "exception policy flow drop")]
    );
    // The master switch set to ignore: the packets are inspected one by one.
    let ignore = DetectConfig {
        exceptions: policies(ExceptionConfig {
            master: Some(ExceptionPolicy::Ignore),
            ..Default::default()
        }),
        ..cfg.clone()
    };
    let (mut w, rx) = worker_with(&img, ignore);
    let (v, a, d) = run(&mut w, &rx, &pkts);
    assert!(v.iter().all(|v| *v == Verdict::Accept));
    assert_eq!((a, d), (vec![(1, 1)], vec![]));
    // A session with its handshake is no exception.
    let (mut w, rx) = worker_with(&img, cfg);
    let (_, a, d) = run(&mut w, &rx, &session(40001, 80, &[b"x"]));
    assert_eq!((a, d), (vec![(1, 4)], vec![]));
}

#[test]
fn a_pass_rule_on_addresses_passes_the_whole_flow() {
    let img = image(
        vec![
            prog(1, Action::Pass, L4::Tcp, vec![]),
            prog(2, Action::Alert, L4::Tcp, vec![content(b"bad")]),
        ],
        &[],
    );
    let (mut w, rx) = worker_with(&img, inline());
    let (v, a, _) = run(&mut w, &rx, &session(40000, 80, &[b"bad", b"bad"]));
    assert!(v.iter().all(|v| *v == Verdict::Accept));
    assert_eq!(a, vec![]);
}

#[test]
fn reassembly_memcap_policy_fails_closed_inline_unless_ignored() {
    let img = image(
        vec![prog(1, Action::Alert, L4::Tcp, vec![content(b"x")])],
        &[],
    );
    let mut cfg = DetectConfig {
        exceptions: ExceptionConfig::default().resolve(true, true).unwrap(),
        ..inline()
    };
    // No reassembly memory at all: the first data segment hits the cap.
    cfg.session.stream.memcap = 0;
    let pkts = session(40000, 80, &[b"x", b"x"]);
    let (mut w, rx) = worker_with(&img, cfg.clone());
    let (v, a, d) = run(&mut w, &rx, &pkts);
    assert!(matches!(v[3], Verdict::Drop(_)));
    assert_eq!(a, vec![]);
    assert_eq!(
        d,
        vec![
            (4, "stream reassembly"),
            (5, "exception policy flow drop"),
            (6, "exception policy flow drop"),
            (7, "exception policy flow drop")
        ]
    );
    cfg.exceptions = ExceptionConfig {
        stream_memcap: Some(ExceptionPolicy::Ignore),
        ..Default::default()
    }
    .resolve(true, true)
    .unwrap();
    let (mut w, rx) = worker_with(&img, cfg);
    let (v, _, d) = run(&mut w, &rx, &pkts);
    assert!(v.iter().all(|v| *v == Verdict::Accept));
    assert_eq!(d, vec![]);
}

//! Classification and kernel lowering on hand-built IR: every rule gets exactly one fate, with
//! stable reasons, and kernel rules say exactly what the rule says.

mod back_util;

use back_util::*;
use verdict_compiler::classify::{classify, Decision, Fate};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::ir::*;
use verdict_compiler::kernel::{KernelCaps, L4Proto, Match, SetContext, Side, SteerRule};

const CAPS: KernelCaps = KernelCaps {
    ih_payload: true,
    ct_flow: true,
};

fn reason(r: &Rule) -> String {
    match classify(r, CAPS, true, &SetContext::default()) {
        Decision::Kernel(_) => "kernel".into(),
        Decision::Queue(q) => format!("queue: {q}"),
        Decision::Rejected(q) => format!("rejected: {q}"),
    }
}

#[test]
fn reasons_are_specific_and_stable() {
    let tcp = || rule(1, Action::Alert, Protocol::Tcp);
    let mut r = tcp();
    r.payload.push(pcre("a+b"));
    assert_eq!(reason(&r), "queue: pcre needs the engine");
    let mut r = tcp();
    r.flow.established = Some(true);
    assert_eq!(
        reason(&r),
        "queue: flow:established without a payload content needs the engine",
        "a bare handshake ACK is established to conntrack, not to the stream engine"
    );
    let mut r = tcp();
    r.flow.stateless = true;
    assert_eq!(
        reason(&r),
        "kernel",
        "flow:stateless is no condition at all"
    );
    let mut r = tcp();
    r.payload.push(content(ContentSpec {
        buffer: Buffer::App(AppBuffer::HttpUri),
        ..spec(b"/x")
    }));
    assert_eq!(
        reason(&r),
        "queue: content in a non-payload buffer needs the engine",
        "an http.uri content makes a tcp rule an HTTP rule, run per transaction"
    );
    let mut r = tcp();
    r.payload.push(content(ContentSpec {
        buffer: Buffer::App(AppBuffer::SmbShare),
        ..spec(b"x")
    }));
    assert_eq!(reason(&r), "rejected: smb.share buffer not supported yet");
    let r = rule(1, Action::Alert, Protocol::App(AppProto::Http));
    assert_eq!(reason(&r), "queue: app protocol http needs the engine");
    let r = rule(1, Action::Alert, Protocol::App(AppProto::Smb));
    assert_eq!(reason(&r), "queue: app protocol smb needs the engine");
    let r = rule(1, Action::Alert, Protocol::App(AppProto::Rdp));
    assert_eq!(reason(&r), "rejected: app protocol rdp not supported yet");
    let mut r = rule(1, Action::Alert, Protocol::App(AppProto::Http));
    r.payload.push(content(ContentSpec {
        buffer: Buffer::App(AppBuffer::SmbShare),
        ..spec(b"x")
    }));
    assert_eq!(reason(&r), "rejected: smb.share buffer not supported yet");
    let mut r = tcp();
    r.header.push(HeaderTest::Dsize(NumCmp::Gt(100)));
    assert_eq!(reason(&r), "queue: dsize on non-UDP needs the engine");
    let mut r = tcp();
    r.payload.push(anywhere(b"abc", false));
    assert_eq!(reason(&r), "queue: unanchored content needs the engine");
    let mut r = tcp();
    r.payload.push(fixed(b"abc", 300, false, false));
    assert_eq!(
        reason(&r),
        "queue: content offset beyond 255 bytes needs the engine"
    );
    let mut r = tcp();
    r.payload.push(fixed(b"abc", 0, false, true));
    assert_eq!(
        reason(&r),
        "queue: negated content past the known payload length needs the engine",
        "nft says no-match on a short payload where Snort says not-found = match"
    );
    let mut r = tcp();
    r.payload.push(fixed(b"abcdef", 0, false, false));
    r.payload.push(fixed(b"cd", 2, false, true));
    assert_eq!(reason(&r), "kernel");
    let r = rule(1, Action::Reject(RejectTarget::Default), Protocol::Tcp);
    assert_eq!(reason(&r), "queue: reject to both ends needs the engine");
    let r = rule(1, Action::Reject(RejectTarget::Src), Protocol::Tcp);
    assert_eq!(reason(&r), "kernel");
    let r = rule(1, Action::Pass, Protocol::Tcp);
    assert_eq!(reason(&r), "queue: pass needs the engine");
    let mut r = tcp();
    r.direction = Direction::Both;
    r.dst_ports = PortSet::range(80, 80);
    assert_eq!(
        reason(&r),
        "queue: bidirectional alert rule needs the engine"
    );
    r.action = Action::Drop;
    assert_eq!(reason(&r), "kernel");
    let mut r = tcp();
    r.dst = IpSet::empty();
    assert_eq!(
        reason(&r),
        "rejected: address set is empty, the rule can never match"
    );
    let mut r = tcp();
    r.threshold = Some(Threshold {
        kind: ThresholdKind::Limit,
        track: Track::BySrc,
        count: 1,
        seconds: 60,
    });
    assert_eq!(
        reason(&r),
        "kernel",
        "a threshold gates alerts only: the NFLOG listener applies it"
    );
    r.threshold = r.threshold.map(|t| Threshold {
        track: Track::ByFlow,
        ..t
    });
    assert_eq!(reason(&r), "queue: threshold by_flow needs the engine");
    let filter = DetectionFilter {
        track: Track::BySrc,
        count: 3,
        seconds: 60,
        unique_on: None,
    };
    let mut r = tcp();
    r.detection_filter = Some(filter);
    assert_eq!(
        reason(&r),
        "kernel",
        "an alert's filter gates its alerts only"
    );
    r.action = Action::Drop;
    assert_eq!(
        reason(&r),
        "queue: detection_filter on a blocking rule needs the engine",
        "the kernel would drop from the first match on, not from the fourth"
    );
    let mut r = tcp();
    r.header.push(HeaderTest::Ttl(NumCmp::Gt(300)));
    assert_eq!(
        reason(&r),
        "queue: header value out of field range needs the engine"
    );
    let mut r = tcp();
    r.payload.push(fixed(b"abc", 0, false, false));
    assert_eq!(
        match classify(
            &r,
            KernelCaps {
                ih_payload: false,
                ..CAPS
            },
            true,
            &SetContext::default()
        ) {
            Decision::Queue(q) => q,
            d => panic!("{d:?}"),
        },
        "kernel lacks @ih payload matching"
    );
}

fn kernel_matches(r: &Rule) -> Vec<Vec<Match>> {
    match classify(r, CAPS, true, &SetContext::default()) {
        Decision::Kernel(k) => k.into_iter().map(|k| k.matches).collect(),
        d => panic!("expected kernel, got {d:?}"),
    }
}

#[test]
fn nocase_masks_letters_only_and_long_contents_chain() {
    let mut r = rule(1, Action::Drop, Protocol::Udp);
    r.payload.push(fixed(b"a1B-", 2, true, false));
    let m = kernel_matches(&r);
    assert_eq!(m.len(), 1, "no family-specific match: one inet rule");
    assert_eq!(
        m[0].last().unwrap(),
        &Match::Payload {
            offset: 2,
            value: vec![0x41, 0x31, 0x42, 0x2d],
            mask: Some(vec![0xdf, 0xff, 0xdf, 0xff]),
            negate: false
        }
    );
    let mut r = rule(1, Action::Drop, Protocol::Udp);
    r.payload.push(fixed(&[7u8; 40], 0, false, false));
    let m = kernel_matches(&r);
    let payload: Vec<(u32, usize)> = m[0]
        .iter()
        .filter_map(|m| match m {
            Match::Payload { offset, value, .. } => Some((*offset, value.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        payload,
        [(0, 16), (16, 16), (32, 8)],
        "never more than 128 bits per compare"
    );
}

#[test]
fn relative_content_after_a_pinned_one_is_pinned_too() {
    let mut r = rule(1, Action::Drop, Protocol::Tcp);
    r.payload.push(fixed(b"\x00\x01", 0, false, false));
    r.payload.push(content(ContentSpec {
        position: Position::Relative {
            distance: Operand::Lit(2),
            within: Some(Operand::Lit(3)),
        },
        ..spec(b"abc")
    }));
    let m = kernel_matches(&r);
    assert!(m[0].contains(&Match::Payload {
        offset: 4,
        value: b"abc".to_vec(),
        mask: None,
        negate: false
    }));
    // within longer than the pattern leaves a choice of places: not pinned.
    let mut r = rule(1, Action::Drop, Protocol::Tcp);
    r.payload.push(fixed(b"\x00\x01", 0, false, false));
    r.payload.push(content(ContentSpec {
        position: Position::Relative {
            distance: Operand::Lit(2),
            within: Some(Operand::Lit(4)),
        },
        ..spec(b"abc")
    }));
    assert_eq!(reason(&r), "queue: unanchored content needs the engine");
}

#[test]
fn families_split_only_when_needed() {
    // any/any, no family-specific test: one inet rule
    let r = rule(1, Action::Drop, Protocol::Tcp);
    assert_eq!(kernel_matches(&r), vec![vec![Match::L4Proto(L4Proto::Tcp)]]);
    // v4-only address: one v4 rule
    let mut r = rule(1, Action::Drop, Protocol::Tcp);
    r.src = v4(&[(0x0a00_0000, 8)]);
    let m = kernel_matches(&r);
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0][0],
        Match::NfProto(verdict_compiler::kernel::Family::V4)
    );
    // $EXTERNAL_NET = !10/8: the v4 part is negated (shorter), the v6 part is any
    let mut r = rule(1, Action::Drop, Protocol::Tcp);
    r.src = v4(&[(0x0a00_0000, 8)]).complement();
    let m = kernel_matches(&r);
    assert_eq!(m.len(), 2);
    assert!(m[0]
        .iter()
        .any(|x| matches!(x, Match::Addr { negate: true, .. })));
    assert!(!m[1].iter().any(|x| matches!(x, Match::Addr { .. })));
    // icmp: icmp in v4, ipv6-icmp in v6
    let mut r = rule(1, Action::Drop, Protocol::Icmp);
    r.header.push(HeaderTest::Itype(NumCmp::Eq(8)));
    let m = kernel_matches(&r);
    assert!(m[0].contains(&Match::L4Proto(L4Proto::Icmp)));
    assert!(m[1].contains(&Match::L4Proto(L4Proto::Icmpv6)));
}

#[test]
fn steering_covers_every_queued_rule_and_merges_ports() {
    let mut a = rule(1, Action::Alert, Protocol::Tcp);
    a.dst_ports = PortSet::range(80, 80);
    a.flow.established = Some(true);
    let mut b = rule(2, Action::Alert, Protocol::Tcp);
    b.dst_ports = PortSet::range(8080, 8081);
    b.payload.push(pcre("x"));
    // to_client style: only the source port is constrained
    let mut c = rule(3, Action::Alert, Protocol::Tcp);
    c.src_ports = PortSet::range(21, 21);
    c.flow.to_server = Some(false);
    c.payload.push(pcre("y"));
    // a kernel rule does not need steering
    let mut k = rule(4, Action::Drop, Protocol::Udp);
    k.dst_ports = PortSet::range(53, 53);
    let out = compile(&[a, b, c, k], &CompileOptions::default());
    let ports = vec![(21, 21), (80, 80), (8080, 8081)];
    assert_eq!(
        out.kernel.steering,
        vec![
            SteerRule {
                proto: Some(L4Proto::Tcp),
                ports: Some((Side::Dst, ports.clone()))
            },
            SteerRule {
                proto: Some(L4Proto::Tcp),
                ports: Some((Side::Src, ports))
            },
        ]
    );
    // an any-port UDP rule steers all of UDP; an ip rule steers everything
    let mut u = rule(5, Action::Alert, Protocol::Udp);
    u.flow.to_server = Some(true);
    u.payload.push(pcre("u"));
    let out = compile(&[u.clone()], &CompileOptions::default());
    assert_eq!(
        out.kernel.steering,
        vec![SteerRule {
            proto: Some(L4Proto::Udp),
            ports: None
        }]
    );
    let mut i = rule(6, Action::Alert, Protocol::Ip);
    i.payload.push(pcre("x"));
    let out = compile(&[u, i], &CompileOptions::default());
    assert_eq!(
        out.kernel.steering,
        vec![SteerRule {
            proto: None,
            ports: None
        }]
    );
}

#[test]
fn every_rule_gets_exactly_one_fate_and_the_report_adds_up() {
    let mut rules = Vec::new();
    for (i, p) in [Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::Ip]
        .into_iter()
        .enumerate()
    {
        let mut r = rule(i as u32 * 10 + 1, Action::Alert, p);
        r.payload.push(pcre("x"));
        rules.push(r);
        rules.push(rule(i as u32 * 10 + 2, Action::Drop, p));
        let mut r = rule(i as u32 * 10 + 3, Action::Alert, p);
        r.payload.push(content(ContentSpec {
            buffer: Buffer::App(AppBuffer::SmbShare),
            ..spec(b"x")
        }));
        rules.push(r);
    }
    let out = compile(&rules, &CompileOptions::default());
    assert_eq!(out.fates.len(), rules.len());
    let rep = &out.report;
    assert_eq!(rep.fates.total(), rules.len());
    assert_eq!(rep.fates.kernel, 4);
    assert_eq!(rep.fates.queue, 4);
    assert_eq!(
        rep.rejected_reasons
            .get("smb.share buffer not supported yet"),
        Some(&4)
    );
    assert_eq!(rep.programs, 4);
    assert_eq!(out.image.programs.len(), 4);
    assert!(out
        .fates
        .iter()
        .all(|(_, f)| !matches!(f, Fate::Rejected(r) if r.is_empty())));
    let table = rep.to_table();
    assert!(
        table.contains("smb.share buffer not supported yet"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&rep.to_json()).unwrap();
    assert_eq!(json["fates"]["kernel"], 4);
    // offline replay images hold the kernel rules too
    let all = compile(
        &rules,
        &CompileOptions {
            image_all: true,
            ..Default::default()
        },
    );
    assert_eq!(all.image.programs.len(), 8);
}

/// A `flowbits:set` is dead unless some loaded rule tests the bit; only then may the setter go
/// to the kernel, which cannot set an engine flowbit.
#[test]
fn flowbit_setters_go_to_the_kernel_only_when_no_rule_tests_the_bit() {
    let mut setter = rule(1, Action::Alert, Protocol::Ip);
    setter.flowbits.push(Flowbits {
        cmd: FlowbitCmd::Set,
        names: vec!["ET.Evil".into()],
        op: BitsOp::All,
        group: None,
    });
    let mut tester = rule(2, Action::Alert, Protocol::Tcp);
    tester.flowbits.push(Flowbits {
        cmd: FlowbitCmd::IsSet,
        names: vec!["other".into(), "ET.Evil".into()],
        op: BitsOp::Any,
        group: None,
    });
    let place = |rules: &[Rule]| match classify(&rules[0], CAPS, true, &SetContext::of(rules)) {
        Decision::Kernel(_) => "kernel".to_string(),
        Decision::Queue(q) => format!("queue: {q}"),
        Decision::Rejected(q) => format!("rejected: {q}"),
    };
    assert_eq!(place(&[setter.clone()]), "kernel");
    assert_eq!(
        place(&[setter.clone(), tester.clone()]),
        "queue: flowbits:set of a bit a loaded rule tests needs the engine"
    );
    tester.flowbits[0].cmd = FlowbitCmd::IsNotSet;
    assert_eq!(
        place(&[setter.clone(), tester]),
        "queue: flowbits:set of a bit a loaded rule tests needs the engine"
    );
    setter.flowbits.push(Flowbits {
        cmd: FlowbitCmd::NoAlert,
        names: vec![],
        op: BitsOp::All,
        group: None,
    });
    assert_eq!(place(&[setter]), "queue: flowbits need the engine");
}

/// The report counts every blocker of a queued rule, not only the first.
#[test]
fn blockers_lists_every_reason_in_order() {
    let mut r = rule(1, Action::Pass, Protocol::Tcp);
    r.flow.established = Some(false);
    r.payload.push(pcre("a+b"));
    let ctx = SetContext::default();
    assert_eq!(
        verdict_compiler::kernel::blockers(&r, CAPS, &ctx),
        [
            "pass needs the engine",
            "pcre needs the engine",
            "flow:not_established on TCP needs the engine"
        ]
    );
    assert_eq!(reason(&r), "queue: pass needs the engine");
    let ok = rule(2, Action::Alert, Protocol::Tcp);
    assert!(verdict_compiler::kernel::blockers(&ok, CAPS, &ctx).is_empty());
}

/// A sid the caller keeps in the engine (threshold.config `rate_filter`) is queued with that
/// reason even though the kernel could run it; the other rules are placed as before.
#[test]
fn engine_sids_are_queued_with_their_reason() {
    let rules = vec![
        rule(1, Action::Alert, Protocol::Ip),
        rule(2, Action::Alert, Protocol::Ip),
    ];
    let plain = compile(&rules, &CompileOptions::default());
    assert!(plain.fates.iter().all(|(_, f)| matches!(f, Fate::Kernel)));
    let kept = compile(
        &rules,
        &CompileOptions {
            engine_sids: [2].into_iter().collect(),
            ..Default::default()
        },
    );
    assert!(matches!(kept.fates[0].1, Fate::Kernel));
    assert!(matches!(kept.fates[1].1, Fate::Queue), "{:?}", kept.fates);
    let table = kept.report.to_table();
    assert!(table.contains("rate_filter needs the engine"), "{table}");
    assert_eq!(kept.image.programs.len(), 1);
}

/// `flow` becomes conntrack state and direction where conntrack and the stream engine agree
/// (TCP established: no SYN, no RST, payload required), stays queued where they do not, and
/// the switch keeps every flow rule queued.
#[test]
fn flow_lowers_to_conntrack_where_exact_and_the_switch_queues_it() {
    let mut r = rule(1, Action::Drop, Protocol::Tcp);
    r.flow.established = Some(true);
    r.flow.to_server = Some(true);
    r.payload.push(fixed(b"GET", 0, false, false));
    let m = kernel_matches(&r);
    assert_eq!(m.len(), 1);
    for want in [
        Match::CtState { established: true },
        Match::CtDir { original: true },
        Match::TcpFlags {
            mask: 0x06,
            value: 0,
            negate: false,
        },
    ] {
        assert!(m[0].contains(&want), "{want:?} in {:?}", m[0]);
    }
    // UDP: no flag guard; not_established is `ct state new`.
    let mut u = rule(2, Action::Alert, Protocol::Udp);
    u.flow.established = Some(false);
    u.flow.to_server = Some(false);
    let m = kernel_matches(&u);
    assert_eq!(
        m[0][1..],
        [
            Match::L4Proto(L4Proto::Udp),
            Match::CtState { established: false },
            Match::CtDir { original: false }
        ][1..]
    );
    // Only a negated content: an empty packet could match, and a bare handshake ACK is
    // established to conntrack but not to the engine.
    let mut n = rule(3, Action::Alert, Protocol::Tcp);
    n.flow.established = Some(true);
    n.payload.push(fixed(b"X", 0, false, true));
    assert!(
        verdict_compiler::kernel::blockers(&n, CAPS, &SetContext::default())
            .contains(&"flow:established without a payload content needs the engine".into()),
        "{}",
        reason(&n)
    );
    let mut i = rule(4, Action::Alert, Protocol::Icmp);
    i.flow.to_server = Some(true);
    assert_eq!(
        reason(&i),
        "queue: flow on other than TCP or UDP needs the engine"
    );
    let off = KernelCaps {
        ct_flow: false,
        ..CAPS
    };
    for x in [&r, &u] {
        match classify(x, off, true, &SetContext::default()) {
            Decision::Queue(q) => assert_eq!(q, verdict_compiler::kernel::FLOW_QUEUED),
            d => panic!("{d:?}"),
        }
    }
    // flow:stateless alone is no condition, with or without the switch.
    let mut s = rule(5, Action::Alert, Protocol::Tcp);
    s.flow.stateless = true;
    assert!(matches!(
        classify(&s, off, true, &SetContext::default()),
        Decision::Kernel(_)
    ));
}

//! `nft -c -f` accepts what the renderer emits for every kind of match, as text and JSON,
//! checked against the running kernel inside a throwaway network namespace.

mod common;

use common::*;
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::ir::*;
use verdict_nft::render::{render_json, render_text, xt_commands, QueueMechanism, RenderOptions};

/// One rule per kind of kernel match, plus queued rules for steering.
fn sample_rules() -> Vec<Rule> {
    let mut v = Vec::new();
    // header-only drop on a port, v4 source prefix list
    let mut r = rule(1, Action::Drop, Protocol::Tcp);
    r.dst_ports = PortSet::range(23, 23);
    r.src = v4(&[(0x0a00_0000, 8), (0xc0a8_0000, 16)]);
    v.push(r);
    // negated address set ($EXTERNAL_NET style), port range set, ttl, both families
    let mut r = rule(2, Action::Alert, Protocol::Udp);
    r.src = v4(&[(0x0a00_0000, 8)]).complement();
    r.dst_ports = PortSet::from_ranges(vec![(53, 53), (5000, 6000)]);
    r.header.push(HeaderTest::Ttl(NumCmp::Lt(5)));
    r.header
        .push(HeaderTest::Dsize(NumCmp::RangeInclusive(10, 20)));
    v.push(r);
    // tcp flags and window, sdrop
    let mut r = rule(3, Action::Sdrop, Protocol::Tcp);
    r.header.push(HeaderTest::Flags(TcpFlags {
        flags: 0x03,
        mode: FlagMode::All,
        ignore: 0,
    }));
    r.header.push(HeaderTest::Window(NumCmp::Eq(1024)));
    v.push(r);
    let mut r = rule(4, Action::Alert, Protocol::Tcp);
    r.header.push(HeaderTest::Flags(TcpFlags {
        flags: 0x02,
        mode: FlagMode::Exact,
        ignore: 0xc0,
    }));
    r.header.push(HeaderTest::Seq(NumCmp::Eq(0)));
    v.push(r);
    let mut r = rule(5, Action::Alert, Protocol::Tcp);
    r.header.push(HeaderTest::Flags(TcpFlags {
        flags: 0x29,
        mode: FlagMode::Any,
        ignore: 0,
    }));
    v.push(r);
    // icmp type/code in both families
    let mut r = rule(6, Action::Drop, Protocol::Icmp);
    r.header.push(HeaderTest::Itype(NumCmp::Eq(8)));
    r.header.push(HeaderTest::Icode(NumCmp::Gt(0)));
    v.push(r);
    // anchored content, nocase mask, a 20-byte chain, negated content inside the known length
    let mut r = rule(7, Action::Drop, Protocol::Tcp);
    r.payload.push(fixed(b"GET /admin", 0, true, false));
    v.push(r);
    let mut r = rule(8, Action::Reject(RejectTarget::Src), Protocol::Tcp);
    r.payload
        .push(fixed(b"0123456789abcdefghij", 4, false, false));
    r.payload.push(fixed(b"\x00\x01", 6, false, true));
    v.push(r);
    let mut r = rule(9, Action::Reject(RejectTarget::Src), Protocol::Udp);
    r.payload.push(fixed(b"\xde\xad\xbe\xef", 0, false, false));
    v.push(r);
    // ip proto, ip-level header rule over both families
    let mut r = rule(10, Action::Alert, Protocol::Ip);
    r.header.push(HeaderTest::IpProto(NumCmp::Eq(47)));
    v.push(r);
    // IPv6 addresses
    let mut r = rule(11, Action::Drop, Protocol::Tcp);
    r.dst = IpSet {
        v4: RangeSet::empty(),
        v6: RangeSet::range(
            0x2001_0db8_0000_0000_0000_0000_0000_0000,
            0x2001_0db8_ffff_ffff_ffff_ffff_ffff_ffff,
        ),
    };
    r.dst_ports = PortSet::range(80, 80).complement();
    v.push(r);
    // bidirectional drop (two rules)
    let mut r = rule(12, Action::Drop, Protocol::Tcp);
    r.direction = Direction::Both;
    r.src_ports = PortSet::range(6667, 6667);
    v.push(r);
    // a msg with quotes and a long tail
    let mut r = rule(13, Action::Alert, Protocol::Tcp);
    r.meta.msg = format!("say \"hi\" {}", "x".repeat(300));
    r.dst_ports = PortSet::range(1, 1);
    v.push(r);
    // flow via conntrack: TCP established to_server with its SYN/RST guard, UDP reply state
    let mut r = rule(14, Action::Drop, Protocol::Tcp);
    r.flow.established = Some(true);
    r.flow.to_server = Some(true);
    r.payload.push(fixed(b"GET", 0, false, false));
    v.push(r);
    let mut r = rule(15, Action::Alert, Protocol::Udp);
    r.flow.established = Some(false);
    r.flow.to_server = Some(false);
    v.push(r);
    // queued: unanchored content on 80, TCP not_established, icmp
    let mut r = rule(20, Action::Alert, Protocol::Tcp);
    r.dst_ports = PortSet::from_ranges(vec![(80, 80), (8080, 8081)]);
    r.payload.push(anywhere(b"evil", true));
    v.push(r);
    let mut r = rule(21, Action::Alert, Protocol::Tcp);
    r.dst_ports = PortSet::range(8080, 8080);
    r.flow.established = Some(false);
    r.payload.push(fixed(b"X", 0, false, false));
    v.push(r);
    let mut r = rule(22, Action::Alert, Protocol::Icmp);
    r.flowbits.push(Flowbits {
        cmd: FlowbitCmd::IsSet,
        names: vec!["x".into()],
        op: BitsOp::All,
        group: None,
    });
    v.push(r);
    v
}

#[test]
fn every_match_kind_is_kernel_and_loads_as_text_and_json() {
    require_netns!();
    let rules = sample_rules();
    let c = compile(&rules, &CompileOptions::default());
    for (sid, fate) in &c.fates {
        let expect_queue = sid.0 >= 20;
        assert_eq!(
            fate.name(),
            if expect_queue { "queue" } else { "kernel" },
            "sid {sid}: {fate:?}"
        );
    }
    let t = Topology::new();
    let ns = &t.gw;
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        queues: (0, 1),
        ..Default::default()
    };
    let text = render_text(&c.kernel, &opts);
    t.nft_check(ns, &text, false)
        .unwrap_or_else(|e| panic!("nft -c rejected:\n{e}\n{text}"));
    let json = serde_json::to_string(&render_json(&c.kernel, &opts)).unwrap();
    t.nft_check(ns, &json, true)
        .unwrap_or_else(|e| panic!("nft -j -c rejected:\n{e}\n{json}"));
    // Load both for real and compare what the kernel holds: the JSON and text forms must be
    // the same ruleset.
    t.nft_load(ns, &text, false).unwrap();
    let from_text = t.ok(ns, &["nft", "list", "table", "inet", "verdict"]);
    t.nft_load(ns, &json, true).unwrap();
    let from_json = t.ok(ns, &["nft", "list", "table", "inet", "verdict"]);
    assert_eq!(from_text, from_json);
    assert!(
        from_text.contains("@ih,0,80 & 0xdfdfdfffffdfdfdfdfdf == 0x474554202f41444d494e"),
        "{from_text}"
    );
    assert!(from_text.contains("@ih,48,16 != 0x1"), "{from_text}");
    // nft prints the SYN/RST guard as `! syn,rst` (1.0.6) or `& (syn | rst) == 0x0`.
    assert!(
        from_text.contains("ct state established ct direction original tcp flags ! syn,rst")
            || from_text.contains(
                "ct state established ct direction original tcp flags & (syn | rst) == 0x0"
            ),
        "{from_text}"
    );
    assert!(
        from_text.contains("ct state new ct direction reply"),
        "{from_text}"
    );
    // xt steering commands are accepted by iptables-nft in the namespace.
    let cmds = xt_commands(&c.kernel, &opts);
    assert!(!cmds.is_empty());
    t.ok_all(ns, &cmds);
    let listed = t.ok(ns, &["iptables-nft", "-S", "VERDICT"]);
    assert!(listed.contains("--dports 80,8080:8081"), "{listed}");
    assert!(listed.contains("--queue-balance 0:1"), "{listed}");
}

#[test]
fn nft_queue_steering_is_valid_syntax_even_where_the_kernel_lacks_it() {
    require_netns!();
    let c = compile(&sample_rules(), &CompileOptions::default());
    let t = Topology::new();
    let ns = &t.gw;
    let opts = RenderOptions {
        queue: QueueMechanism::NftQueue,
        queues: (2, 3),
        ..Default::default()
    };
    let text = render_text(&c.kernel, &opts);
    assert!(text.contains("queue num 2-3 bypass,fanout"), "{text}");
    assert!(xt_commands(&c.kernel, &opts).is_empty());
    // Either the kernel has the queue expression, or it refuses with ENOENT; a syntax error
    // would be reported by nft itself before the kernel is asked.
    if let Err(e) = t.nft_check(ns, &text, false) {
        assert!(
            e.contains("No such file or directory"),
            "unexpected nft error: {e}"
        );
    }
    let json = serde_json::to_string(&render_json(&c.kernel, &opts)).unwrap();
    if let Err(e) = t.nft_check(ns, &json, true) {
        assert!(
            e.contains("No such file or directory"),
            "unexpected nft -j error: {e}"
        );
    }
}

#[test]
fn xt_string_rules_are_accepted_by_iptables_nft() {
    require_netns!();
    let mut a = rule(30, Action::Drop, Protocol::Udp);
    a.dst_ports = PortSet::from_ranges(vec![(514, 514), (1514, 1520)]);
    a.src = v4(&[(0xc000_0200, 24)]);
    a.payload.push(anywhere(b"$(", false));
    let mut b = rule(31, Action::Alert, Protocol::Tcp);
    b.payload.push(anywhere(b"Evil|\x00", true));
    b.flow.established = Some(true);
    b.flow.to_server = Some(true);
    // two contents: order would be lost in xt, so it stays queued
    let mut q = rule(32, Action::Alert, Protocol::Tcp);
    q.payload.push(anywhere(b"one", false));
    q.payload.push(anywhere(b"two", false));
    // both ports (ET's HSRP rule): one multiport match per side, iptables takes no other form
    let mut h = rule(33, Action::Alert, Protocol::Udp);
    h.src = v4(&[(0xc000_0200, 24)]);
    h.src_ports = PortSet::range(1985, 1985);
    h.dst_ports = PortSet::range(1985, 1985);
    h.payload.push(anywhere(b"\x00\x04", false));
    let c = compile(
        &[a, b, q, h],
        &CompileOptions {
            xt_string: true,
            ..Default::default()
        },
    );
    let fates: Vec<&str> = c.fates.iter().map(|(_, f)| f.name()).collect();
    assert_eq!(fates, ["kernel", "kernel", "queue", "kernel"]);
    // sids 30 and 33 are v4-only (source 192.0.2.0/24), sid 31 both families
    assert_eq!(c.kernel.xt_string.len(), 4);
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        xt_string: true,
        ..Default::default()
    };
    let t = Topology::new();
    let ns = &t.gw;
    t.ok_all(ns, &xt_commands(&c.kernel, &opts));
    let listed = t.ok(ns, &["iptables-nft", "-S", "VERDICT"]);
    assert!(
        listed.contains("-s 192.0.2.0/24 -p udp -m multiport --dports 514,1514:1520 -m string --string \"$(\" --algo bm --from 28"),
        "{listed}"
    );
    assert!(listed.contains("--icase"), "{listed}");
    assert!(
        listed.contains("-m multiport --sports 1985 -m multiport --dports 1985"),
        "{listed}"
    );
    assert!(
        listed.contains(
            "-m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL -m tcp --tcp-flags SYN,RST NONE"
        ),
        "{listed}"
    );
    assert!(
        listed.contains("-j NFLOG --nflog-prefix \"sid:30 \" --nflog-group 1"),
        "{listed}"
    );
    assert!(listed.contains("-j DROP"), "{listed}");
    let listed6 = t.ok(ns, &["ip6tables-nft", "-S", "VERDICT"]);
    assert!(
        listed6.contains("--from 60"),
        "tcp over v6: 40 + 20 bytes of headers at least: {listed6}"
    );
}

/// A plan with a bypass list (a v4 address and network, a v6 network), one kernel drop rule
/// and one queued rule.
fn bypass_plan() -> verdict_compiler::kernel::KernelPlan {
    let mut d = rule(40, Action::Drop, Protocol::Udp);
    d.dst_ports = PortSet::range(7150, 7150);
    let mut q = rule(41, Action::Alert, Protocol::Tcp);
    q.dst_ports = PortSet::range(7151, 7151);
    q.payload.push(anywhere(b"evil", false));
    let mut c = compile(&[d, q], &CompileOptions::default());
    let fates: Vec<&str> = c.fates.iter().map(|(_, f)| f.name()).collect();
    assert_eq!(fates, ["kernel", "queue"]);
    c.kernel.bypass_v4 = vec![(0xc000_0203, 0xc000_0203), (0xc633_6400, 0xc633_64ff)];
    let lo = 0x2001_0db8_0005_u128 << 80;
    c.kernel.bypass_v6 = vec![(lo, lo | (u128::MAX >> 48))];
    c.kernel
}

/// What a bypass list adds to the table (and to the xt chain), reviewed as a snapshot: the
/// sets, the chain's first rules, the mark cleared after the queue, the xt RETURN on it.
#[test]
fn bypass_list_rendering_snapshot() {
    let plan = bypass_plan();
    let opts = RenderOptions {
        queue: QueueMechanism::NftQueue,
        ..Default::default()
    };
    let xt = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    let text = format!(
        "{}\n# xt\n{}",
        render_text(&plan, &opts),
        verdict_nft::render::xt_script(&xt_commands(&plan, &xt))
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/back"));
    settings.bind(|| insta::assert_snapshot!("bypass_list", text));
}

/// The bypass list loads as text and JSON into the same ruleset, and iptables-nft takes the
/// xt chain with its RETURN on the mark.
#[test]
fn bypass_list_loads_as_text_and_json() {
    require_netns!();
    let plan = bypass_plan();
    let t = Topology::new();
    let ns = &t.gw;
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    let text = render_text(&plan, &opts);
    t.nft_load(ns, &text, false)
        .unwrap_or_else(|e| panic!("nft rejected:\n{e}\n{text}"));
    let from_text = t.ok(ns, &["nft", "list", "table", "inet", "verdict"]);
    let json = serde_json::to_string(&render_json(&plan, &opts)).unwrap();
    t.nft_load(ns, &json, true)
        .unwrap_or_else(|e| panic!("nft -j rejected:\n{e}\n{json}"));
    let from_json = t.ok(ns, &["nft", "list", "table", "inet", "verdict"]);
    assert_eq!(from_text, from_json);
    assert!(
        from_text.contains("ip saddr @bypass4 meta mark set meta mark | 0x20000000 counter")
            && from_text.contains("ip6 daddr @bypass6"),
        "{from_text}"
    );
    t.ok_all(ns, &xt_commands(&plan, &opts));
    let listed = t.ok(ns, &["iptables-nft", "-S", "VERDICT"]);
    assert!(
        listed.contains("-m mark --mark 0x20000000/0x20000000") && listed.contains("-j RETURN"),
        "{listed}"
    );
}

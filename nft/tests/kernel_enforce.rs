//! The generated table enforced by the kernel on real packets, in a cli — gw — srv topology of
//! network namespaces: a header-only drop and an anchored-content drop happen in the kernel
//! (rule counters rise, the queue steering counter does not), removing verdict leaves the
//! ruleset exactly as before, and a script that fails to load leaves the previous one intact.

mod common;

use common::*;
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::ir::*;
use verdict_nft::render::{render_text, xt_commands, QueueMechanism, RenderOptions};

struct Topo {
    cli: Netns,
    gw: Netns,
    srv: Netns,
}

fn topo() -> Topo {
    let cli = Netns::new("cli");
    let gw = Netns::new("gw");
    let srv = Netns::new("srv");
    let ip = |argv: &[&str]| {
        let st = std::process::Command::new("ip")
            .args(argv)
            .status()
            .expect("ip");
        assert!(st.success(), "ip {argv:?}");
    };
    // veth names are per-namespace, so fixed names are fine once moved.
    let a = format!("va{}", &cli.name[cli.name.len().saturating_sub(8)..]).replace('-', "");
    let b = format!("vb{}", &srv.name[srv.name.len().saturating_sub(8)..]).replace('-', "");
    ip(&[
        "link", "add", &a, "netns", &cli.name, "type", "veth", "peer", "name", "gw0", "netns",
        &gw.name,
    ]);
    ip(&[
        "link", "add", &b, "netns", &srv.name, "type", "veth", "peer", "name", "gw1", "netns",
        &gw.name,
    ]);
    cli.ok(&["ip", "link", "set", &a, "name", "eth0"]);
    srv.ok(&["ip", "link", "set", &b, "name", "eth0"]);
    for (ns, dev, addr) in [
        (&cli, "eth0", "192.0.2.2/24"),
        (&gw, "gw0", "192.0.2.1/24"),
        (&gw, "gw1", "198.51.100.1/24"),
        (&srv, "eth0", "198.51.100.2/24"),
    ] {
        ns.ok(&["ip", "addr", "add", addr, "dev", dev]);
        ns.ok(&["ip", "link", "set", dev, "up"]);
        ns.ok(&["ip", "link", "set", "lo", "up"]);
    }
    cli.ok(&["ip", "route", "add", "default", "via", "192.0.2.1"]);
    srv.ok(&["ip", "route", "add", "default", "via", "198.51.100.1"]);
    gw.ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    Topo { cli, gw, srv }
}

/// Sends `count` UDP datagrams from cli to srv:port.
fn send_udp(t: &Topo, port: u16, payload: &str, count: usize) {
    for _ in 0..count {
        t.cli.ok(&[
            "bash",
            "-c",
            &format!("printf '%s' '{payload}' > /dev/udp/198.51.100.2/{port}"),
        ]);
    }
}

/// Packets counted by srv's observation counter for a UDP port.
fn arrived(t: &Topo, port: u16) -> u64 {
    let out = t.srv.ok(&["nft", "-j", "list", "table", "inet", "obs"]);
    counter_by_comment(&out, &format!("port {port}"))
}

/// Sum of packet counters of the rules whose comment starts with `prefix`.
fn counter_by_comment(json: &str, prefix: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json).expect("nft json");
    let mut total = 0;
    for o in v["nftables"].as_array().into_iter().flatten() {
        let r = &o["rule"];
        if !r["comment"].as_str().is_some_and(|c| c.starts_with(prefix)) {
            continue;
        }
        for e in r["expr"].as_array().into_iter().flatten() {
            if let Some(p) = e["counter"]["packets"].as_u64() {
                total += p;
            }
        }
    }
    total
}

/// Packets counted by the xt NFQUEUE steering rules in gw (both families).
fn steered(t: &Topo) -> u64 {
    let mut total = 0;
    for bin in ["iptables-nft", "ip6tables-nft"] {
        let out = t.gw.ok(&[bin, "-L", "VERDICT", "-v", "-x", "-n"]);
        for line in out.lines().filter(|l| l.contains("NFQUEUE")) {
            total += line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

fn rules() -> Vec<Rule> {
    // sid 9000001: header-only drop of UDP to port 7001
    let mut a = rule(9000001, Action::Drop, Protocol::Udp);
    a.dst_ports = PortSet::range(7001, 7001);
    // sid 9000002: drop UDP to 7002 whose payload starts with "EVIL"
    let mut b = rule(9000002, Action::Drop, Protocol::Udp);
    b.dst_ports = PortSet::range(7002, 7002);
    b.payload.push(fixed(b"EVIL", 0, false, false));
    // sid 9000003: queued (unanchored content) on UDP 7003 only: the steering's positive control
    let mut c = rule(9000003, Action::Alert, Protocol::Udp);
    c.dst_ports = PortSet::range(7003, 7003);
    c.payload.push(anywhere(b"needle", false));
    vec![a, b, c]
}

#[test]
fn kernel_enforces_header_and_anchored_content_drops_and_removal_leaves_no_trace() {
    require_root!();
    let t = topo();
    t.srv.ok(&[
        "nft",
        "add table inet obs; add chain inet obs in { type filter hook input priority 0; }; \
         add rule inet obs in udp dport 7000 counter comment \"port 7000\"; \
         add rule inet obs in udp dport 7001 counter comment \"port 7001\"; \
         add rule inet obs in udp dport 7002 counter comment \"port 7002\"; \
         add rule inet obs in udp dport 7003 counter comment \"port 7003\"",
    ]);
    // The operator's own rules on the gateway, which verdict must not touch.
    t.gw.ok(&["nft", "add table inet ops; add chain inet ops fw { type filter hook forward priority 10; }; add rule inet ops fw udp dport 9 counter accept"]);
    t.gw.ok(&[
        "iptables-nft",
        "-A",
        "FORWARD",
        "-p",
        "udp",
        "--dport",
        "9",
        "-j",
        "ACCEPT",
    ]);
    t.gw.ok(&[
        "ip6tables-nft",
        "-A",
        "FORWARD",
        "-p",
        "udp",
        "--dport",
        "9",
        "-j",
        "ACCEPT",
    ]);
    let before = t.gw.ok(&["nft", "list", "ruleset"]);

    let c = compile(&rules(), &CompileOptions::default());
    let fates: Vec<&str> = c.fates.iter().map(|(_, f)| f.name()).collect();
    assert_eq!(fates, ["kernel", "kernel", "queue"]);
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    let script = render_text(&c.kernel, &opts);
    t.gw.nft_check(&script, false).expect("nft -c");
    t.gw.nft_load(&script, false).expect("nft -f");
    for cmd in xt_commands(&c.kernel, &opts) {
        let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
        t.gw.ok(&argv);
    }
    t.cli.ok(&["ping", "-c", "1", "-W", "2", "198.51.100.2"]);

    send_udp(&t, 7000, "control", 3);
    send_udp(&t, 7001, "anything", 3);
    send_udp(&t, 7002, "EVIL payload", 3);
    send_udp(&t, 7002, "GOOD payload", 2);
    send_udp(&t, 7002, "evil lowercase is not EVIL", 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let table = t.gw.ok(&["nft", "-j", "list", "table", "inet", "verdict"]);
    assert_eq!(arrived(&t, 7000), 3, "control traffic passes");
    assert_eq!(arrived(&t, 7001), 0, "header-only drop enforced");
    assert_eq!(counter_by_comment(&table, "sid:9000001 "), 3);
    assert_eq!(
        arrived(&t, 7002),
        3,
        "only the EVIL-prefixed datagrams are dropped"
    );
    assert_eq!(counter_by_comment(&table, "sid:9000002 "), 3);
    assert_eq!(steered(&t), 0, "the queue saw none of the kernel's traffic");
    // Positive control: traffic for the queued rule is steered (bypass: no engine listens).
    send_udp(&t, 7003, "hay needle hay", 2);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(steered(&t), 2);
    assert_eq!(
        arrived(&t, 7003),
        2,
        "queue bypass lets traffic through without an engine"
    );

    // Removal: verdict's table and its xt chain only.
    t.gw.ok(&["nft", "delete", "table", "inet", "verdict"]);
    for bin in ["iptables-nft", "ip6tables-nft"] {
        t.gw.ok(&[bin, "-D", "FORWARD", "-j", "VERDICT"]);
        t.gw.ok(&[bin, "-F", "VERDICT"]);
        t.gw.ok(&[bin, "-X", "VERDICT"]);
    }
    let after = t.gw.ok(&["nft", "list", "ruleset"]);
    assert_eq!(
        before, after,
        "removing verdict leaves the ruleset as it was"
    );
    send_udp(&t, 7001, "anything", 1);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(arrived(&t, 7001), 1, "nothing is enforced any more");
}

#[test]
fn a_script_that_fails_to_load_leaves_the_previous_ruleset_intact() {
    require_root!();
    let ns = Netns::new("atomic");
    let c = compile(&rules(), &CompileOptions::default());
    let xt = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    ns.nft_load(&render_text(&c.kernel, &xt), false)
        .expect("first load");
    let before = ns.ok(&["nft", "list", "ruleset"]);
    // 1. a syntax error at the end of an otherwise valid script
    let mut broken = render_text(&c.kernel, &xt);
    broken.push_str("add rule inet verdict forward @ih,0,256 0x00 drop\n");
    assert!(ns.nft_load(&broken, false).is_err());
    assert_eq!(ns.ok(&["nft", "list", "ruleset"]), before);
    // 2. a script the kernel refuses part-way (here: a rule the kernel lacks support for, or,
    // where it has it, a jump to a missing chain) after the table was already deleted in the
    // same transaction
    let mut kernel_refused = render_text(&c.kernel, &xt);
    kernel_refused.push_str("add rule inet verdict forward jump nonexistent\n");
    assert!(ns.nft_load(&kernel_refused, false).is_err());
    assert_eq!(ns.ok(&["nft", "list", "ruleset"]), before);
    let nftq = RenderOptions {
        queue: QueueMechanism::NftQueue,
        ..Default::default()
    };
    let queue_script = render_text(&c.kernel, &nftq);
    if ns.nft_load(&queue_script, false).is_err() {
        // CONFIG_NFT_QUEUE unset: the whole replace was rolled back.
        assert_eq!(ns.ok(&["nft", "list", "ruleset"]), before);
    }
}

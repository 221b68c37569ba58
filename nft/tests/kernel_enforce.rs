//! The generated table enforced by the kernel on real packets, in a cli — gw — srv topology of
//! network namespaces: a header-only drop and an anchored-content drop happen in the kernel
//! (rule counters rise, the queue steering counter does not), removing verdict leaves the
//! ruleset exactly as before, and a script that fails to load leaves the previous one intact.

mod common;

use common::*;
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::ir::*;
use verdict_nft::render::{render_text, xt_commands, QueueMechanism, RenderOptions};

/// Sends `count` UDP datagrams from cli to srv:port over IPv4.
fn send_udp(t: &Topology, port: u16, payload: &str, count: usize) {
    send_udp_to(t, "198.51.100.2", port, payload, count)
}

/// Sends `count` UDP datagrams from cli to `addr`:port.
fn send_udp_to(t: &Topology, addr: &str, port: u16, payload: &str, count: usize) {
    for _ in 0..count {
        t.ok(
            &t.cli,
            &[
                "bash",
                "-c",
                &format!("printf '%s' '{payload}' > /dev/udp/{addr}/{port}"),
            ],
        );
    }
}

/// Opens a TCP connection cli -> srv:port, sends `data`, returns what the server received.
/// Bounded: the listener and the client each give up after a few seconds.
fn tcp_send(t: &Topology, port: u16, data: &str) -> String {
    let server = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.srv,
            "timeout",
            "4",
            "nc",
            "-l",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn nc");
    // wait (bounded) until the listener is up
    for _ in 0..50 {
        let ss = t.ok(&t.srv, &["ss", "-ltnH", &format!("sport = :{port}")]);
        if !ss.trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    t.ok(
        &t.cli,
        &[
            "timeout",
            "3",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/198.51.100.2/{port}; printf '%s' '{data}' >&3; sleep 1"),
        ],
    );
    let out = server.wait_with_output().expect("nc output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Counts, in srv's input hook, the UDP datagrams arriving for each of `ports` (see
/// [`arrived`]), and drops them there: nothing listens on those ports, and the ICMP port
/// unreachable srv would send makes the client's next write on a connected socket fail
/// (ECONNREFUSED), so a datagram of a flow test would never be sent.
fn observe(t: &Topology, ports: &[u16]) {
    let mut script = String::from(
        "add table inet obs; add chain inet obs in { type filter hook input priority 0; }",
    );
    for p in ports {
        script.push_str(&format!(
            "; add rule inet obs in udp dport {p} counter drop comment \"port {p}\""
        ));
    }
    t.ok(&t.srv, &["nft", &script]);
}

/// Packets counted by srv's observation counter for a UDP port.
fn arrived(t: &Topology, port: u16) -> u64 {
    let out = t.ok(&t.srv, &["nft", "-j", "list", "table", "inet", "obs"]);
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
fn steered(t: &Topology) -> u64 {
    steered_proto(t, "")
}

/// Same, only the steering rules whose line mentions `proto` (e.g. "udp").
fn steered_proto(t: &Topology, proto: &str) -> u64 {
    let mut total = 0;
    for bin in ["iptables-nft", "ip6tables-nft"] {
        let out = t.ok(&t.gw, &[bin, "-L", "VERDICT", "-v", "-x", "-n"]);
        for line in out
            .lines()
            .filter(|l| l.contains("NFQUEUE") && l.contains(proto))
        {
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
    // sid 9000004: drop TCP to 7100 whose segment payload starts with "EVIL" (@ih skips the
    // TCP header including its options)
    let mut d = rule(9000004, Action::Drop, Protocol::Tcp);
    d.dst_ports = PortSet::range(7100, 7100);
    d.payload.push(fixed(b"EVIL", 0, false, false));
    // sid 9000005: nocase anchored content: "evil" in any case at offset 2 of UDP to 7005
    let mut e = rule(9000005, Action::Drop, Protocol::Udp);
    e.dst_ports = PortSet::range(7005, 7005);
    e.payload.push(fixed(b"evil", 2, true, false));
    vec![a, b, c, d, e]
}

#[test]
fn kernel_enforces_header_and_anchored_content_drops_and_removal_leaves_no_trace() {
    require_netns!();
    let t = Topology::new();
    observe(&t, &[7000, 7001, 7002, 7003, 7005]);
    // The operator's own rules on the gateway, which verdict must not touch.
    t.ok(&t.gw, &["nft", "add table inet ops; add chain inet ops fw { type filter hook forward priority 10; }; add rule inet ops fw udp dport 9 counter accept"]);
    for bin in ["iptables-nft", "ip6tables-nft"] {
        t.ok(
            &t.gw,
            &[
                bin, "-A", "FORWARD", "-p", "udp", "--dport", "9", "-j", "ACCEPT",
            ],
        );
    }
    let before = t.ok(&t.gw, &["nft", "list", "ruleset"]);

    let c = compile(&rules(), &CompileOptions::default());
    let fates: Vec<&str> = c.fates.iter().map(|(_, f)| f.name()).collect();
    assert_eq!(fates, ["kernel", "kernel", "queue", "kernel", "kernel"]);
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    let script = render_text(&c.kernel, &opts);
    t.nft_check(&t.gw, &script, false).expect("nft -c");
    t.nft_load(&t.gw, &script, false).expect("nft -f");
    t.ok_all(&t.gw, &xt_commands(&c.kernel, &opts));
    t.ok(&t.cli, &["ping", "-c", "1", "-W", "2", "198.51.100.2"]);

    send_udp(&t, 7000, "control", 3);
    send_udp(&t, 7001, "anything", 3);
    send_udp(&t, 7002, "EVIL payload", 3);
    send_udp(&t, 7002, "GOOD payload", 2);
    send_udp(&t, 7002, "evil lowercase is not EVIL", 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let table = t.ok(&t.gw, &["nft", "-j", "list", "table", "inet", "verdict"]);
    assert_eq!(arrived(&t, 7000), 3, "control traffic passes");
    assert_eq!(arrived(&t, 7001), 0, "header-only drop enforced");
    assert_eq!(counter_by_comment(&table, "sid:9000001 "), 3);
    assert_eq!(
        arrived(&t, 7002),
        3,
        "only the EVIL-prefixed datagrams are dropped"
    );
    assert_eq!(counter_by_comment(&table, "sid:9000002 "), 3);
    send_udp(&t, 7005, "..EvIl", 2);
    send_udp(&t, 7005, "..evil", 1);
    send_udp(&t, 7005, "..ev1l", 1);
    send_udp(&t, 7005, "EVIL..", 1);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let table = t.ok(&t.gw, &["nft", "-j", "list", "table", "inet", "verdict"]);
    assert_eq!(
        arrived(&t, 7005),
        2,
        "nocase matches letters in any case, digits exactly"
    );
    assert_eq!(counter_by_comment(&table, "sid:9000005 "), 3);
    // A drop blocks the rest of its flow: on one socket (one 5-tuple, confirmed in conntrack by
    // a first harmless datagram), the datagram after the bad one is dropped too, by the
    // flow-block rule. (A flow whose very first packet is dropped never gets a conntrack
    // entry to mark; for TCP that is a dropped SYN, so there is no connection to block.)
    t.ok(
        &t.cli,
        &[
            "bash",
            "-c",
            "exec 3>/dev/udp/198.51.100.2/7002; printf 'GOOD before' >&3; sleep 0.1; \
         printf 'EVIL middle' >&3; sleep 0.1; printf 'GOOD after' >&3",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    let table = t.ok(&t.gw, &["nft", "-j", "list", "table", "inet", "verdict"]);
    assert_eq!(
        arrived(&t, 7002),
        4,
        "GOOD before arrives, GOOD after is blocked with its flow"
    );
    assert_eq!(counter_by_comment(&table, "sid:9000002 "), 4);
    assert_eq!(counter_by_comment(&table, "verdict: rest of a flow"), 1);
    assert_eq!(tcp_send(&t, 7100, "GOOD tcp data"), "GOOD tcp data");
    assert_eq!(
        tcp_send(&t, 7100, "EVIL tcp data"),
        "",
        "the segment never arrives"
    );
    let table = t.ok(&t.gw, &["nft", "-j", "list", "table", "inet", "verdict"]);
    assert_eq!(
        counter_by_comment(&table, "sid:9000004 "),
        1,
        "retransmissions hit the flow block"
    );
    assert!(counter_by_comment(&table, "verdict: rest of a flow") >= 2);
    assert_eq!(steered(&t), 0, "the queue saw none of the kernel's traffic");
    // The same over IPv6 (the plan's rules here are family independent: one inet rule each).
    t.ok(
        &t.cli,
        &["ping", "-6", "-c", "1", "-W", "2", "2001:db8:2::2"],
    );
    send_udp_to(&t, "2001:db8:2::2", 7001, "anything", 2);
    send_udp_to(&t, "2001:db8:2::2", 7002, "EVIL over v6", 1);
    send_udp_to(&t, "2001:db8:2::2", 7000, "control", 1);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let table = t.ok(&t.gw, &["nft", "-j", "list", "table", "inet", "verdict"]);
    assert_eq!(arrived(&t, 7001), 0);
    assert_eq!(counter_by_comment(&table, "sid:9000001 "), 5);
    assert_eq!(counter_by_comment(&table, "sid:9000002 "), 5);
    assert_eq!(arrived(&t, 7000), 4, "v6 control traffic passes");
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
    t.ok(&t.gw, &["nft", "delete", "table", "inet", "verdict"]);
    for bin in ["iptables-nft", "ip6tables-nft"] {
        t.ok(&t.gw, &[bin, "-D", "FORWARD", "-j", "VERDICT"]);
        t.ok(&t.gw, &[bin, "-F", "VERDICT"]);
        t.ok(&t.gw, &[bin, "-X", "VERDICT"]);
    }
    let after = t.ok(&t.gw, &["nft", "list", "ruleset"]);
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
    require_netns!();
    let t = Topology::new();
    let ns = &t.gw;
    let c = compile(&rules(), &CompileOptions::default());
    let xt = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    t.nft_load(ns, &render_text(&c.kernel, &xt), false)
        .expect("first load");
    let before = t.ok(ns, &["nft", "list", "ruleset"]);
    // 1. a syntax error at the end of an otherwise valid script
    let mut broken = render_text(&c.kernel, &xt);
    broken.push_str("add rule inet verdict forward @ih,0,256 0x00 drop\n");
    assert!(t.nft_load(ns, &broken, false).is_err());
    assert_eq!(t.ok(ns, &["nft", "list", "ruleset"]), before);
    // 2. a script the kernel refuses part-way (here: a rule the kernel lacks support for, or,
    // where it has it, a jump to a missing chain) after the table was already deleted in the
    // same transaction
    let mut kernel_refused = render_text(&c.kernel, &xt);
    kernel_refused.push_str("add rule inet verdict forward jump nonexistent\n");
    assert!(t.nft_load(ns, &kernel_refused, false).is_err());
    assert_eq!(t.ok(ns, &["nft", "list", "ruleset"]), before);
    let nftq = RenderOptions {
        queue: QueueMechanism::NftQueue,
        ..Default::default()
    };
    let queue_script = render_text(&c.kernel, &nftq);
    if t.nft_load(ns, &queue_script, false).is_err() {
        // CONFIG_NFT_QUEUE unset: the whole replace was rolled back.
        assert_eq!(t.ok(ns, &["nft", "list", "ruleset"]), before);
    }
}

#[test]
fn shipped_default_rules_are_enforced_in_the_kernel_from_rule_text() {
    require_netns!();
    use verdict_compiler::check::{self, LoadOptions};
    use verdict_compiler::vars::Vars;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/default.rules");
    let text = std::fs::read_to_string(path).expect("rules/default.rules");
    let mut vars = Vars::default();
    vars.set("HOME_NET", "[198.51.100.0/24,2001:db8:2::/64]");
    let (_, loaded) = check::load_str(
        "default.rules",
        &text,
        &LoadOptions {
            vars,
            ..Default::default()
        },
    );
    assert!(
        loaded.diagnostics.is_empty(),
        "default.rules must load cleanly"
    );
    let c = compile(&loaded.rules, &CompileOptions::default());
    let t = Topology::new();
    observe(&t, &[123, 1900, 7000]);
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    t.nft_load(&t.gw, &render_text(&c.kernel, &opts), false)
        .expect("nft -f");
    t.ok_all(&t.gw, &xt_commands(&c.kernel, &opts));
    t.ok(&t.cli, &["ping", "-c", "1", "-W", "2", "198.51.100.2"]);
    // Only UDP: the ICMP port-unreachable answers srv sends back are not UDP.
    let steered_before = steered_proto(&t, "udp");
    // sid 9000003: SSDP from outside (header only); sid 9000012: NTP monlist (anchored bytes)
    send_udp(&t, 1900, "M-SEARCH * HTTP/1.1", 2);
    t.ok(
        &t.cli,
        &[
            "bash",
            "-c",
            "printf '\\x17\\x00\\x03\\x2a\\x00\\x00' > /dev/udp/198.51.100.2/123",
        ],
    );
    t.ok(
        &t.cli,
        &[
            "bash",
            "-c",
            "printf '\\x17\\x00\\x03\\x2a\\x00\\x00' > /dev/udp/198.51.100.2/123",
        ],
    );
    // an ordinary NTP client request (mode 3) is not monlist
    t.ok(
        &t.cli,
        &[
            "bash",
            "-c",
            "printf '\\x1b\\x00\\x00\\x00' > /dev/udp/198.51.100.2/123",
        ],
    );
    send_udp(&t, 7000, "control", 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let table = t.ok(&t.gw, &["nft", "-j", "list", "table", "inet", "verdict"]);
    assert_eq!(arrived(&t, 1900), 0);
    assert_eq!(counter_by_comment(&table, "sid:9000003 "), 2);
    assert_eq!(arrived(&t, 123), 1, "only the mode 3 request arrives");
    assert_eq!(counter_by_comment(&table, "sid:9000012 "), 2);
    assert_eq!(arrived(&t, 7000), 1);
    assert_eq!(
        steered_proto(&t, "udp"),
        steered_before,
        "none of this traffic reached the queue steering"
    );
    // sid 9000024 (echo flood, `threshold: type both`) is a kernel rule too: the threshold
    // gates its NFLOG alerts only, so the kernel counts the echo request and nothing ICMP is
    // steered.
    assert_eq!(counter_by_comment(&table, "sid:9000024 "), 1);
    assert_eq!(steered_proto(&t, "icmp"), 0, "no ICMP rule is queued");
}

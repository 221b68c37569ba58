//! A VXLAN tunnel between cli and srv through the verdict gateway: the packets inside it are
//! inspected as packets of their own, and a drop of an inner packet drops the UDP datagram
//! that carries it — for an engine rule, and for a rule the kernel evaluates itself (which
//! the engine runs on inner packets). Root only; every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, CLI4, SRV4};
use live::*;

/// Inner addresses of the tunnel (documentation range): cli end, srv end, a second srv
/// address the kernel-evaluated rule protects.
const IN_CLI: &str = "2001:db8:99::1";
const IN_SRV: &str = "2001:db8:99::2";
const IN_GUARDED: &str = "2001:db8:99::3";

/// A VXLAN device (VNI 42, port 4789) in `ns` from `local` to `remote`, with `addrs`.
fn vxlan(t: &Topology, ns: &str, local: &str, remote: &str, addrs: &[&str]) {
    t.exec_ok(
        ns,
        &[
            "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "local", local, "remote",
            remote, "dstport", "4789", "dev", "eth0",
        ],
    );
    for a in addrs {
        t.exec_ok(ns, &["ip", "addr", "add", a, "dev", "vx0", "nodad"]);
    }
    t.exec_ok(ns, &["ip", "link", "set", "vx0", "up"]);
}

fn ping(t: &Topology, dst: &str, pattern: Option<&str>) -> bool {
    let mut args = vec!["ping", "-6", "-c", "1", "-W", "2"];
    if let Some(p) = pattern {
        args.extend(["-p", p]);
    }
    args.push(dst);
    t.exec(&t.cli, &args).status.success()
}

#[test]
fn an_inner_drop_rule_stops_traffic_inside_a_vxlan_tunnel() {
    require_netns!();
    let t = Topology::new();
    vxlan(&t, &t.cli, CLI4, SRV4, &[&format!("{IN_CLI}/64")]);
    vxlan(
        &t,
        &t.srv,
        SRV4,
        CLI4,
        &[&format!("{IN_SRV}/64"), &format!("{IN_GUARDED}/64")],
    );
    let rules = format!(
        "drop icmp any any -> any any (msg:\"evil ping in a tunnel\"; content:\"|de ad be ef|\"; sid:4100001; rev:1;)\n\
         drop icmp any any -> {IN_GUARDED} any (msg:\"guarded host\"; sid:4100002; rev:1;)\n"
    );
    let e = Engine::start(&t, "vxlan", &rules, &[]);
    assert!(
        ping(&t, IN_SRV, None),
        "a plain ping through the tunnel passes"
    );
    assert!(
        !ping(&t, IN_GUARDED, None),
        "the kernel-evaluated rule applies to the inner packet"
    );
    assert!(
        !ping(&t, IN_SRV, Some("deadbeef")),
        "the engine rule drops the carrier of the inner packet"
    );
    let evil = e.alerts(4100001, 1);
    assert!(!evil.is_empty());
    assert_eq!(evil[0]["alert"]["action"], "blocked");
    // The alert names the inner packet.
    assert_eq!(evil[0]["dest_ip"], IN_SRV);
    assert_eq!(evil[0]["proto"], "IPv6-ICMP");
    assert!(!e.alerts(4100002, 1).is_empty());
    let dropped = wait_for(std::time::Duration::from_secs(2), || {
        Some(e.stats()).filter(|s| s.queues.iter().map(|q| q.dropped).sum::<u64>() >= 2)
    });
    assert!(
        dropped.is_some(),
        "the drop counter must count both carriers"
    );
}

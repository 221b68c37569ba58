//! Kernel rules' alerts: a packet logged by an nft rule with verdict's `sid:N` prefix reaches
//! the NFLOG listener with its bytes. Root only.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::InNs;
use std::time::{Duration, Instant};
use verdict_engine::nflog::Listener;

#[test]
fn nflog_listener_receives_kernel_rule_alerts() {
    require_netns!();
    let t = Topology::new();
    let listener = t.in_ns(&t.gw, || {
        let script = "table inet verdict {\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n    ip daddr 198.51.100.2 icmp type echo-request log prefix \"sid:42 \" group 5\n  }\n}\n";
        verdict_nft::apply::load(script, &[]).unwrap();
        let mut l = Listener::bind(5, Duration::from_millis(100)).unwrap();
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < 2 && start.elapsed() < Duration::from_secs(5) {
            l.recv(|p| got.push(p)).unwrap();
        }
        got
    });
    std::thread::sleep(Duration::from_millis(300));
    t.exec_ok(&t.cli, &["ping", "-c", "2", "-i", "0.2", "-W", "2", SRV4]);
    let got = listener.join().unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    for p in &got {
        assert_eq!(p.sid(), Some(42));
        assert_eq!(p.payload[0] >> 4, 4, "an IPv4 packet");
        assert_eq!(p.payload[9], 1, "ICMP");
        assert_eq!(&p.payload[16..20], &[198, 51, 100, 2]);
        assert!(p.in_ifindex > 0);
    }
}

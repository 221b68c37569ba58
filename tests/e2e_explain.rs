//! `verdict explain` on alerts of a live engine in the cli — gw — srv namespaces, found by
//! their flow id or their line in eve.json: the rule, the evidence packet with the matched
//! bytes marked, each option's result. Root only; bounded waits.

mod common;
mod live;

use common::netns::Topology;
use live::*;
use std::time::Duration;

#[test]
fn explain_by_flow_id_and_by_eve_line_shows_the_live_alerts_matched_bytes() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("explain", "[scan]\nenabled = false\n");
    let rules = "alert udp any any -> any 7190 (msg:\"explain live\"; content:\"EVIL\"; offset:2; sid:920091; rev:1;)\n";
    let mut e = f.start(&t, "ops-explain", rules);
    // Two datagrams of one flow (one socket), then one of another flow.
    t.in_ns(&t.cli, || {
        let s = std::net::UdpSocket::bind((common::netns::CLI4, 45_100)).unwrap();
        for m in [&b"xxEVIL one"[..], b"..EVIL two"] {
            s.send_to(m, (common::netns::SRV4, 7190)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let other = std::net::UdpSocket::bind((common::netns::CLI4, 45_101)).unwrap();
        other
            .send_to(b"--EVIL three", (common::netns::SRV4, 7190))
            .unwrap();
    })
    .join()
    .unwrap();
    let alerts = e.alerts(920091, 3);
    assert_eq!(alerts.len(), 3);
    let flow = alerts[0]["flow_id"].as_u64().expect("flow_id");
    assert_eq!(alerts[1]["flow_id"], alerts[0]["flow_id"]);
    assert_ne!(alerts[2]["flow_id"], alerts[0]["flow_id"]);
    // The evidence pcap is flushed with the alerts, at most 200 ms later.
    std::thread::sleep(Duration::from_millis(300));

    let explain = |by: &[&str]| {
        let out = std::process::Command::new(VERDICT)
            .arg("explain")
            .args(by)
            .args(["--color", "never", "-r"])
            .arg(e.dir.join("test.rules"))
            .arg("--log-dir")
            .arg(&e.dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let text = explain(&["--flow-id", &flow.to_string()]);
    assert!(
        text.starts_with(&format!("flow {flow}: 2 alert(s); its packets in ")),
        "{text}"
    );
    assert_eq!(text.matches("msg:\"explain live\"").count(), 2, "{text}");
    assert_eq!(
        text.matches("content:\"EVIL\"  =>  matched at 2..6")
            .count(),
        2,
        "{text}"
    );
    // IPv4 (20) + UDP (8): the payload starts at 0x1c, so EVIL is bytes 0x1e..0x22: the last
    // two of row 0x10 and the first two of row 0x20, each marked on the line below.
    let rows: Vec<&str> = text.lines().collect();
    let marked: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("  0010  "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(marked.len(), 2, "{text}");
    for i in marked {
        assert!(rows[i].contains(" 45 56  "), "{}", rows[i]);
        assert_eq!(
            rows[i + 1],
            format!("        {}^^ ^^", "   ".repeat(14)),
            "{text}"
        );
        assert!(rows[i + 2].starts_with("  0020  49 4c "), "{text}");
        assert_eq!(rows[i + 3], "        ^^ ^^", "{text}");
    }

    // The third alert by its line in eve.json.
    let eve = std::fs::read_to_string(e.dir.join("eve.json")).unwrap();
    let n = eve
        .lines()
        .position(|l| l.contains("\"event_type\":\"alert\"") && !l.contains(&flow.to_string()))
        .expect("the other flow's alert")
        + 1;
    let text = explain(&["--line", &n.to_string()]);
    assert!(
        text.contains("IL three") && !text.contains("xxEV"),
        "{text}"
    );
    assert!(
        text.contains("content:\"EVIL\"  =>  matched at 2..6"),
        "{text}"
    );
    e.stop();
}

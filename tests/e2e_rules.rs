//! `verdict run` with real rules on the gateway, real traffic from cli to srv: drop, reject,
//! replace, pcre, byte_test, flow, flowbits, dsize, threshold, outputs, kernel rules, IDS
//! mode, fail-open. Root only; every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::*;
use std::io::ErrorKind;
use std::time::Duration;

const P: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_millis(1500);

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn stalled(end: Option<ErrorKind>) -> bool {
    matches!(end, Some(ErrorKind::WouldBlock) | Some(ErrorKind::TimedOut))
}

#[test]
fn tcp_session_with_dropped_string_stalls() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "tcpdrop",
        "drop tcp any any -> any 5000 (msg:\"evil\"; content:\"EVIL\"; sid:1000001; rev:1;)\n",
        &[],
    );
    let srv = tcp_server(&t, 5000, None, IDLE);
    let cli = tcp_client(&t, 5000, vec![b("hello "), b("EVIL "), b("more")], P, IDLE);
    let seen = srv.join().unwrap();
    assert_eq!(
        seen.data, b"hello ",
        "the server must get nothing from the EVIL packet on"
    );
    assert!(stalled(seen.end), "{seen:?}");
    assert!(stalled(cli.join().unwrap().end));
    let alerts = e.alerts(1000001, 1);
    assert!(!alerts.is_empty());
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    let stats = wait_for(Duration::from_secs(2), || {
        Some(e.stats()).filter(|s| s.queues.iter().map(|q| q.dropped).sum::<u64>() >= 1)
    })
    .expect("the drop counter never moved");
    // `verdict stats` names the rule that hit.
    assert!(
        stats.rules.iter().any(|r| r.sid == 1000001 && r.hits >= 1),
        "{stats:?}"
    );
    let table = t.exec_ok(
        &t.gw,
        &[VERDICT, "stats", "--log-dir", e.dir.to_str().unwrap()],
    );
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains("1:1000001") && table.contains("evil"),
        "{table}"
    );
}

#[test]
fn tcp_reject_resets_client_and_server() {
    require_netns!();
    let t = Topology::new();
    let _e = Engine::start(
        &t,
        "tcprej",
        "reject tcp any any -> any 5002 (msg:\"bad\"; content:\"BAD\"; sid:1000002; rev:1;)\n",
        &[],
    );
    let srv = tcp_server(&t, 5002, None, Duration::from_secs(3));
    let cli = tcp_client(
        &t,
        5002,
        vec![b("hello"), b("BAD")],
        P,
        Duration::from_secs(3),
    );
    let s = srv.join().unwrap();
    let c = cli.join().unwrap();
    assert_eq!(s.data, b"hello");
    assert_eq!(s.end, Some(ErrorKind::ConnectionReset), "server: {s:?}");
    assert_eq!(c.end, Some(ErrorKind::ConnectionReset), "client: {c:?}");
}

#[test]
fn udp_drop_never_arrives_and_reject_sends_icmp_unreachable() {
    require_netns!();
    let t = Topology::new();
    let _e = Engine::start(
        &t,
        "udp",
        "drop udp any any -> any 5003 (msg:\"udp drop\"; content:\"DROPME\"; sid:1000003; rev:1;)\n\
         reject udp any any -> any 5004 (msg:\"udp reject\"; content:\"REJ\"; sid:1000004; rev:1;)\n",
        &[],
    );
    let got = udp_exchange(&t, 5003, vec![b("one"), b("DROPME"), b("three")], P);
    assert_eq!(got, vec![b("one"), b("three")]);
    let kind = t
        .in_ns(&t.cli, || {
            let s = std::net::UdpSocket::bind((common::netns::CLI4, 0)).unwrap();
            s.connect((SRV4, 5004)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.send(b"REJ").unwrap();
            s.recv(&mut [0u8; 16]).unwrap_err().kind()
        })
        .join()
        .unwrap();
    assert_eq!(kind, ErrorKind::ConnectionRefused);
}

fn retrans_segs(t: &Topology, ns: &str) -> u64 {
    let out = t.exec(ns, &["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap(), tcp.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "RetransSegs")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

#[test]
fn replace_rewrites_bytes_and_the_stream_stays_healthy() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "replace",
        "alert tcp any any -> any 5005 (msg:\"rewrite\"; content:\"secret\"; replace:\"public\"; sid:1000005; rev:1;)\n",
        &[],
    );
    let before = retrans_segs(&t, &t.cli);
    let chunks: Vec<Vec<u8>> = (0..40)
        .map(|i| format!("line {i:03} has a secret inside\n").into_bytes())
        .collect();
    let expected: Vec<u8> = chunks.concat();
    let expected = String::from_utf8(expected)
        .unwrap()
        .replace("secret", "public");
    let srv = tcp_server(&t, 5005, None, Duration::from_secs(3));
    let cli = tcp_client(
        &t,
        5005,
        chunks,
        Duration::from_millis(20),
        Duration::from_secs(3),
    );
    let s = srv.join().unwrap();
    let c = cli.join().unwrap();
    assert_eq!(String::from_utf8_lossy(&s.data), expected);
    assert_eq!(s.end, None, "the stream ends with a clean FIN");
    assert_eq!(c.end, None);
    let retrans = retrans_segs(&t, &t.cli) - before;
    assert!(
        retrans <= 2,
        "{retrans} retransmissions: checksums or sequence broken?"
    );
    // Segments may coalesce under load, so fewer packets than lines can carry the 40 rewrites.
    let replaced = wait_for(Duration::from_secs(2), || {
        Some(e.stats().queues.iter().map(|q| q.replaced).sum::<u64>()).filter(|&n| n > 0)
    });
    assert!(replaced.is_some(), "the replace counter never moved");
}

#[test]
fn pcre_drops_only_matching_payloads() {
    require_netns!();
    let t = Topology::new();
    let _e = Engine::start(
        &t,
        "pcre",
        "drop udp any any -> any 5006 (msg:\"pcre\"; pcre:\"/user=[a-z]+admin\\b/i\"; sid:1000006; rev:1;)\n",
        &[],
    );
    let got = udp_exchange(
        &t,
        5006,
        vec![
            b("user=bob"),
            b("x USER=rootADMIN y"),
            b("user=admin"),
            b("user=zadmins"),
        ],
        P,
    );
    assert_eq!(got, vec![b("user=bob"), b("user=admin"), b("user=zadmins")]);
}

#[test]
fn byte_test_and_dsize_with_real_datagrams() {
    require_netns!();
    let t = Topology::new();
    let _e = Engine::start(
        &t,
        "bytetest",
        "drop udp any any -> any 5007 (msg:\"len field too big\"; byte_test:2,>,1000,0; sid:1000007; rev:1;)\n\
         drop udp any any -> any 5010 (msg:\"too big\"; dsize:>100; sid:1000010; rev:1;)\n",
        &[],
    );
    let got = udp_exchange(
        &t,
        5007,
        vec![
            vec![0x00, 0x10, 1],
            vec![0x10, 0x00, 2],
            vec![0x03, 0xe8, 3],
        ],
        P,
    );
    assert_eq!(
        got,
        vec![vec![0x00, 0x10, 1], vec![0x03, 0xe8, 3]],
        "1000 is not > 1000"
    );
    let got = udp_exchange(
        &t,
        5010,
        vec![vec![b'a'; 50], vec![b'b'; 200], vec![b'c'; 100]],
        P,
    );
    assert_eq!(got, vec![vec![b'a'; 50], vec![b'c'; 100]]);
}

#[test]
fn flow_established_to_server_ignores_the_other_direction() {
    require_netns!();
    let t = Topology::new();
    let _e = Engine::start(
        &t,
        "flow",
        "drop tcp any any -> any any (msg:\"to server\"; flow:established,to_server; content:\"X1X\"; sid:1000008; rev:1;)\n",
        &[],
    );
    // srv sends X1X to the client (to_client): it arrives.
    let srv = tcp_server(&t, 5008, Some((P, b("X1X from server"))), IDLE);
    let cli = tcp_client(&t, 5008, vec![b("hi")], Duration::from_millis(600), IDLE);
    assert_eq!(srv.join().unwrap().data, b"hi");
    assert_eq!(cli.join().unwrap().data, b"X1X from server");
    // The client sends it (to_server, established): dropped.
    let srv = tcp_server(&t, 5009, None, IDLE);
    let cli = tcp_client(&t, 5009, vec![b("hi "), b("X1X")], P, IDLE);
    assert_eq!(srv.join().unwrap().data, b"hi ");
    assert!(stalled(cli.join().unwrap().end));
}

#[test]
fn flowbits_set_in_one_packet_gate_a_later_one() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "flowbits",
        "alert tcp any any -> any 5011 (msg:\"login\"; content:\"LOGIN\"; flowbits:set,logged_in; flowbits:noalert; sid:1000011; rev:1;)\n\
         drop tcp any any -> any 5011 (msg:\"cmd after login\"; content:\"CMD\"; flowbits:isset,logged_in; sid:1000012; rev:1;)\n",
        &[],
    );
    // Without LOGIN first, CMD passes.
    let srv = tcp_server(&t, 5011, None, IDLE);
    let cli = tcp_client(&t, 5011, vec![b("CMD ls")], P, IDLE);
    assert_eq!(srv.join().unwrap().data, b"CMD ls");
    cli.join().unwrap();
    // After LOGIN in an earlier packet of the same flow, CMD is dropped.
    let srv = tcp_server(&t, 5011, None, IDLE);
    let cli = tcp_client(&t, 5011, vec![b("LOGIN bob "), b("CMD ls")], P, IDLE);
    assert_eq!(srv.join().unwrap().data, b"LOGIN bob ");
    cli.join().unwrap();
    assert!(e.alerts(1000011, 0).is_empty(), "noalert");
    assert_eq!(e.alerts(1000012, 1).len(), 1);
}

#[test]
fn threshold_limits_alerts() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "threshold",
        "alert udp any any -> any 5013 (msg:\"limited\"; content:\"T\"; threshold:type limit, track by_src, count 2, seconds 60; sid:1000013; rev:1;)\n",
        &[],
    );
    let got = udp_exchange(
        &t,
        5013,
        (0..5).map(|i| format!("T{i}").into_bytes()).collect(),
        Duration::from_millis(50),
    );
    assert_eq!(got.len(), 5, "alert rules do not drop");
    assert_eq!(e.alerts(1000013, 2).len(), 2);
}

#[test]
fn an_alert_writes_one_eve_line_one_fast_line_and_pcap_evidence() {
    require_netns!();
    let t = Topology::new();
    let mut e = Engine::start(
        &t,
        "outputs",
        "alert udp any any -> any 5014 (msg:\"evidence please\"; content:\"EVID\"; classtype:misc-activity; sid:1000014; rev:3;)\n",
        &[],
    );
    udp_exchange(&t, 5014, vec![b("some EVIDence")], P);
    let alerts = e.alerts(1000014, 1);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a["src_ip"], "192.0.2.2");
    assert_eq!(a["dest_ip"], SRV4);
    assert_eq!(a["dest_port"], 5014);
    assert_eq!(a["proto"], "UDP");
    assert_eq!(a["in_iface"], "c0");
    assert_eq!(a["alert"]["rev"], 3);
    assert_eq!(a["alert"]["signature"], "evidence please");
    assert_eq!(a["alert"]["action"], "allowed");
    e.stop();
    let fast = std::fs::read_to_string(e.dir.join("fast.log")).unwrap();
    let lines: Vec<&str> = fast.lines().filter(|l| l.contains("1:1000014:3")).collect();
    assert_eq!(lines.len(), 1, "{fast}");
    assert!(lines[0].contains("evidence please"));
    let out = std::process::Command::new("tcpdump")
        .args(["-n", "-r", e.dir.join("evidence.pcap").to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("192.0.2.2") && text.contains("198.51.100.2.5014"),
        "{text}"
    );
}

#[test]
fn header_only_rule_is_enforced_in_the_kernel_without_queueing() {
    require_netns!();
    let t = Topology::new();
    let mut e = Engine::start(
        &t,
        "kernel",
        "drop tcp any any -> any 5555 (msg:\"no 5555\"; classtype:misc-activity; sid:1000015; rev:1;)\n\
         alert udp any any -> any 5016 (msg:\"queued\"; content:\"Q\"; sid:1000016; rev:1;)\n",
        &[],
    );
    let out = e.bg.output();
    assert!(out.contains("1 in kernel, 1 in queue"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    let before = e.queued();
    let r = t
        .in_ns(&t.cli, || {
            let sa = std::net::SocketAddr::from(([198, 51, 100, 2], 5555));
            std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(1))
                .map(|_| ())
                .map_err(|e| e.kind())
        })
        .join()
        .unwrap();
    assert!(
        matches!(r, Err(ErrorKind::TimedOut) | Err(ErrorKind::WouldBlock)),
        "{r:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        e.queued(),
        before,
        "no packet of the kernel rule reached the queue"
    );
    let ruleset = t.ruleset(&t.gw);
    assert!(
        ruleset.contains("5555") && ruleset.contains("drop"),
        "{ruleset}"
    );
    // The kernel logged it (NFLOG) and the alert went through the same writer.
    let alerts = e.alerts(1000015, 1);
    assert!(!alerts.is_empty());
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    // Same category text as a queue alert: the classtype's description, as Suricata writes it.
    assert_eq!(alerts[0]["alert"]["category"], "Misc activity");
}

#[test]
fn ids_mode_alerts_but_never_drops() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "ids",
        "drop udp any any -> any 5017 (msg:\"would drop\"; content:\"DROPME\"; sid:1000017; rev:1;)\n",
        &["--ids"],
    );
    let got = udp_exchange(&t, 5017, vec![b("DROPME")], P);
    assert_eq!(got, vec![b("DROPME")]);
    let alerts = e.alerts(1000017, 1);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["alert"]["action"], "allowed");
}

#[test]
fn sigterm_removes_everything_and_traffic_flows_again() {
    require_netns!();
    let t = Topology::new();
    let mut e = Engine::start(
        &t,
        "sigterm",
        "drop udp any any -> any 5018 (msg:\"x\"; content:\"DROPME\"; sid:1000018; rev:1;)\n",
        &[],
    );
    assert!(udp_exchange(&t, 5018, vec![b("DROPME")], P).is_empty());
    e.stop();
    let xt = String::from_utf8_lossy(&t.exec(&t.gw, &["iptables-nft", "-S"]).stdout).into_owned();
    assert!(!t.ruleset(&t.gw).contains("table inet verdict") && !xt.contains("VERDICT"));
    assert_eq!(
        udp_exchange(&t, 5018, vec![b("DROPME")], P),
        vec![b("DROPME")]
    );
}

#[test]
fn config_file_supplies_rules_disabled_sids_and_workers() {
    require_netns!();
    let t = Topology::new();
    let dir = std::env::temp_dir().join(format!("verdict-e2e-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("local.rules"),
        "drop udp $EXTERNAL_NET any -> $HOME_NET 5019 (msg:\"a\"; content:\"AAA\"; sid:1000019; rev:1;)\n\
         drop udp $EXTERNAL_NET any -> $HOME_NET 5019 (msg:\"b\"; content:\"BBB\"; sid:1000020; rev:1;)\n",
    )
    .unwrap();
    // Relative paths are relative to the config file; HOME_NET makes srv "home".
    std::fs::write(
        dir.join("verdict.toml"),
        "rules = \"local.rules\"\nlog_dir = \"log\"\ndisabled = [1000020]\n\
         [engine]\nworkers = 1\nqueue = 7\n\
         [vars]\nHOME_NET = \"198.51.100.0/24\"\nEXTERNAL_NET = \"!$HOME_NET\"\n",
    )
    .unwrap();
    let cfg = dir.join("verdict.toml");
    let mut v = t.spawn(
        &t.gw,
        &[live::VERDICT, "run", "--config", cfg.to_str().unwrap()],
    );
    let out = v
        .wait_for("verdict: ready", Duration::from_secs(15))
        .map(|_| v.output())
        .unwrap();
    assert!(
        out.contains("queues 7-7 (1 workers)") && out.contains("1 disabled"),
        "{out}"
    );
    let got = udp_exchange(&t, 5019, vec![b("AAA"), b("BBB")], P);
    assert_eq!(got, vec![b("BBB")], "sid 1000020 is disabled");
    assert!(dir.join("log/stats.json").exists());
    v.signal(libc::SIGTERM);
    assert!(v
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipv6_tcp_reject_and_udp_drop() {
    require_netns!();
    let t = Topology::new();
    let _e = Engine::start(
        &t,
        "ipv6",
        "reject tcp any any -> any 5021 (msg:\"v6 bad\"; content:\"BAD\"; sid:1000021; rev:1;)\n\
         drop udp any any -> any 5022 (msg:\"v6 drop\"; content:\"DROPME\"; sid:1000022; rev:1;)\n",
        &[],
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = t.in_ns(&t.srv, move || {
        let l = std::net::TcpListener::bind((common::netns::SRV6, 5021)).unwrap();
        let u = std::net::UdpSocket::bind((common::netns::SRV6, 5022)).unwrap();
        tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        let end = loop {
            match std::io::Read::read(&mut c, &mut buf) {
                Ok(0) => break None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Some(e.kind()),
            }
        };
        u.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut dgrams = Vec::new();
        while let Ok(n) = u.recv(&mut buf) {
            dgrams.push(buf[..n].to_vec());
        }
        (got, end, dgrams)
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let cli = t
        .in_ns(&t.cli, || {
            let sa: std::net::SocketAddr = "[2001:db8:2::2]:5021".parse().unwrap();
            let mut c = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(3)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            std::io::Write::write_all(&mut c, b"hello").unwrap();
            std::thread::sleep(P);
            std::io::Write::write_all(&mut c, b"BAD").unwrap();
            let end = std::io::Read::read(&mut c, &mut [0u8; 8]).map_err(|e| e.kind());
            for m in [&b"DROPME"[..], b"fine"] {
                let u = std::net::UdpSocket::bind((common::netns::CLI6, 0)).unwrap();
                u.send_to(m, "[2001:db8:2::2]:5022").unwrap();
            }
            end
        })
        .join()
        .unwrap();
    let (got, end, dgrams) = srv.join().unwrap();
    assert_eq!(cli, Err(ErrorKind::ConnectionReset), "client");
    assert_eq!(got, b"hello");
    assert_eq!(end, Some(ErrorKind::ConnectionReset), "server");
    assert_eq!(dgrams, vec![b("fine")]);
}

#[test]
fn inspect_depth_stops_payload_inspection_past_the_limit() {
    require_netns!();
    let t = Topology::new();
    let mut e = Engine::start(
        &t,
        "depth",
        "drop tcp any any -> any any (msg:\"evil\"; content:\"EVIL\"; sid:1000023; rev:1;)\n",
        &["--inspect-depth", "1000"],
    );
    assert!(e.bg.output().contains("up to 1000 bytes"));
    // Within the first 1000 bytes EVIL is dropped ...
    let srv = tcp_server(&t, 5023, None, IDLE);
    let cli = tcp_client(&t, 5023, vec![b("hi "), b("EVIL")], P, IDLE);
    assert_eq!(srv.join().unwrap().data, b"hi ");
    cli.join().unwrap();
    // ... past them it is no longer looked for.
    let filler = vec![b'x'; 1500];
    let srv = tcp_server(&t, 5024, None, IDLE);
    let cli = tcp_client(&t, 5024, vec![filler.clone(), b("EVIL")], P, IDLE);
    assert_eq!(srv.join().unwrap().data, [filler, b("EVIL")].concat());
    assert_eq!(cli.join().unwrap().end, None);
}

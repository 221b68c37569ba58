//! `flow` via conntrack: a `flow:established,to_server` content rule runs in nft as `ct state
//! established ct direction original` (with the SYN/RST guard) and drops a client's data on
//! an established connection without a packet reaching the queue, while the same bytes from
//! the server pass. A SYN carrying data and a midstream segment show the documented edge
//! cases, a UDP echo shows UDP's state and direction, and direction-only rules (TCP
//! `to_client`, UDP `to_server`) alert on their side only. `verdict replay` of the gateway's
//! capture gives the same alerts, and `--midstream` shows the one difference the README
//! documents. A crafted connection whose SYN-ACK and RST carry the content shows the SYN/RST
//! guard (conntrack calls both established; without the guard nft alerts three times, the
//! engine once). `[kernel] flow = "queue"` keeps the rules in the engine with the same
//! verdicts. Root only; every wait is bounded.

mod common;
mod live;
#[path = "common/packet.rs"]
mod packet;

use common::netns::{Topology, CLI4, SRV4};
use live::*;
use packet::{flags, Ipv4, Link, Tcp, TCP};

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::time::Duration;

const P: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_millis(1500);
const SID: u64 = 3_100_001;
const UDP_SID: u64 = 3_100_003;
const UDP_PORT: u16 = 5702;
/// Direction alone (no state): TCP to the client, UDP to the server.
const TO_CLIENT_SID: u64 = 3_100_004;
const UDP_TO_SERVER_SID: u64 = 3_100_005;
const PORT: u16 = 5700;
/// Where the raw edge-case segments go: nothing listens, srv answers with RSTs.
const RAW_PORT: u16 = 5701;
const SYN_DATA_SPORT: u16 = 40100;
const MIDSTREAM_SPORT: u16 = 40101;

fn rules() -> String {
    format!(
        "drop tcp any any -> any any (msg:\"ct evil to server\"; flow:established,to_server; content:\"EVIL\"; depth:4; sid:{SID}; rev:1;)\n\
         alert udp any any -> any 5016 (msg:\"queued\"; content:\"Q\"; sid:3100002; rev:1;)\n\
         drop udp any any -> any any (msg:\"ct udp reply\"; flow:established,to_client; content:\"PONG\"; depth:4; sid:{UDP_SID}; rev:1;)\n\
         alert tcp any any -> any any (msg:\"ct to client\"; flow:to_client; content:\"EVIL\"; depth:4; sid:{TO_CLIENT_SID}; rev:1;)\n\
         alert udp any any -> any any (msg:\"ct udp to server\"; flow:to_server; content:\"PONG\"; depth:4; sid:{UDP_TO_SERVER_SID}; rev:1;)\n"
    )
}

fn stalled(end: Option<ErrorKind>) -> bool {
    matches!(end, Some(ErrorKind::WouldBlock) | Some(ErrorKind::TimedOut))
}

/// A client → server segment, as an IPv4 packet.
fn raw_c2s(tcp: Tcp, payload: &[u8]) -> Vec<u8> {
    let (c, s): (Ipv4Addr, Ipv4Addr) = (CLI4.parse().unwrap(), SRV4.parse().unwrap());
    let seg = tcp.segment(c.into(), s.into(), payload);
    Ipv4::new(c, s).packet(TCP, &seg)
}

/// The server sends "EVIL from server" first, the client "hello ", "EVIL ", "more": the
/// server's bytes arrive (reply direction), the client's stop at its EVIL, and the flow stays
/// blocked. Returns (what the client got, what the server got).
fn exchange(t: &Topology) -> (Seen, Seen) {
    let srv = tcp_server(
        t,
        PORT,
        Some((Duration::ZERO, b"EVIL from server".to_vec())),
        IDLE,
    );
    let cli = tcp_client(
        t,
        PORT,
        vec![b"hello ".to_vec(), b"EVIL ".to_vec(), b"more".to_vec()],
        P,
        IDLE,
    );
    (cli.join().unwrap(), srv.join().unwrap())
}

fn assert_blocked_client_side_only(cli: &Seen, srv: &Seen) {
    assert_eq!(
        srv.data, b"hello ",
        "the server gets nothing from the client's EVIL on"
    );
    assert!(stalled(srv.end), "{srv:?}");
    assert!(
        cli.data.starts_with(b"EVIL from server"),
        "the same bytes from the server are not to_server: {cli:?}"
    );
}

/// One UDP round: cli sends `PONG?` to srv, which echoes it. Returns (what srv got, what
/// came back to cli). The client's datagram is the flow's first (not established, to
/// server); the echo is established and to the client, so the rule drops only the echo.
fn udp_echo(t: &Topology) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = t.in_ns(&t.srv, move || {
        let s = std::net::UdpSocket::bind((SRV4, UDP_PORT)).unwrap();
        tx.send(()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = s.recv_from(&mut buf).ok()?;
        s.send_to(&buf[..n], from).unwrap();
        Some(buf[..n].to_vec())
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("udp echo bound");
    let back = t
        .in_ns(&t.cli, || {
            let s = std::net::UdpSocket::bind((CLI4, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            s.send_to(b"PONG?", (SRV4, UDP_PORT)).unwrap();
            let mut buf = [0u8; 2048];
            s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
        })
        .join()
        .unwrap();
    (srv.join().unwrap(), back)
}

/// Stops the capture and the engine, replays the capture and checks the replay's alerts are
/// the live ones; returns those.
fn stop_and_replay(cap: &mut GwCapture, e: &mut Engine) -> AlertCounts {
    let live = alert_keys(&e.eve("alert"));
    cap.stop();
    e.stop();
    assert_eq!(
        live,
        alert_keys(&cap.replay_alerts(e)),
        "live alerts (left) and replayed alerts (right) differ"
    );
    live
}

type AlertCounts = std::collections::BTreeMap<AlertKey, usize>;

/// Packets of the drop rule's nft counter.
fn kernel_hits(t: &Topology) -> u64 {
    kernel_hits_of(t, SID)
}

/// Packets of the nft counter of the kernel rule of `sid` (`counter packets N`).
fn kernel_hits_of(t: &Topology, sid: u64) -> u64 {
    let ruleset = t.ruleset(&t.gw);
    let line = ruleset
        .lines()
        .find(|l| l.contains(&format!("sid:{sid} rev")))
        .unwrap_or_else(|| panic!("no kernel rule for sid {sid}:\n{ruleset}"));
    let after = line.split("counter packets ").nth(1).expect("a counter");
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a packet count")
}

#[test]
fn kernel_flow_drops_client_data_not_server_data_and_replay_agrees() {
    require_netns!();
    if !GwCapture::available() {
        return;
    }
    let t = Topology::new();
    let mut e = Engine::start(&t, "ctflow", &rules(), &[]);
    let out = e.bg.output();
    assert!(out.contains("4 in kernel, 1 in queue"), "{out}");
    let ruleset = t.ruleset(&t.gw);
    assert!(
        ruleset.contains("ct state established ct direction original")
            && ruleset.contains(&format!("sid:{SID}")),
        "{ruleset}"
    );
    // Inbound on both sides: the server's dropped UDP echo never reaches `c0`.
    let mut cap = GwCapture::start_inbound(&t, &e);
    std::thread::sleep(Duration::from_millis(300));
    let before = e.queued();

    let (cli, srv) = exchange(&t);
    assert_blocked_client_side_only(&cli, &srv);
    let alerts = e.alerts(SID, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["src_ip"], CLI4);
    assert_eq!(alerts[0]["dest_port"], PORT);
    let to_client = e.alerts(TO_CLIENT_SID, 1);
    assert_eq!(to_client.len(), 1, "{to_client:?}");
    assert_eq!(to_client[0]["src_ip"], SRV4);
    assert_eq!(to_client[0]["alert"]["action"], "allowed");
    let hits = kernel_hits(&t);

    // UDP: established from the server's first answer on, for conntrack and the engine alike.
    let (got, back) = udp_echo(&t);
    assert_eq!(
        got.as_deref(),
        Some(&b"PONG?"[..]),
        "the client's datagram passes"
    );
    assert_eq!(
        back, None,
        "the server's echo (established, to_client) is dropped"
    );
    let udp = e.alerts(UDP_SID, 1);
    assert_eq!(udp.len(), 1, "{udp:?}");
    assert_eq!(udp[0]["src_ip"], SRV4);
    assert_eq!(udp[0]["alert"]["action"], "blocked");
    let udp_up = e.alerts(UDP_TO_SERVER_SID, 1);
    assert_eq!(udp_up.len(), 1, "{udp_up:?}");
    assert_eq!(udp_up[0]["src_ip"], CLI4);

    // Edge cases, one raw segment each from cli. A SYN with data (what TCP Fast Open sends)
    // is `ct state new` and, to the stream engine, not yet established: neither matches. A
    // segment of a connection never seen opening (midstream pickup) is `ct state new` too
    // until the server answers, while the engine, picking it up midstream, would call it
    // established: the kernel lets it through, as a replay without `--midstream` does.
    let mut link = Link::towards_gw(&t, &t.cli, "c0");
    let syn = Tcp::new(SYN_DATA_SPORT, RAW_PORT)
        .seq(1000)
        .flags(flags::SYN);
    link.send(&raw_c2s(syn, b"EVIL in a SYN")).unwrap();
    let mid = Tcp::new(MIDSTREAM_SPORT, RAW_PORT)
        .seq(5000)
        .ack(7000)
        .flags(flags::PSH);
    link.send(&raw_c2s(mid, b"EVIL midstream")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        kernel_hits(&t),
        hits,
        "neither the SYN's data nor the midstream segment matched in the kernel"
    );
    assert_eq!(e.alerts(SID, 2).len(), 1, "no alert for the edge cases");
    assert_eq!(e.alerts(UDP_SID, 2).len(), 1);
    assert_eq!(e.alerts(TO_CLIENT_SID, 2).len(), 1);
    assert_eq!(
        e.queued(),
        before,
        "no packet of the test reached the queue"
    );

    let live = stop_and_replay(&mut cap, &mut e);
    // The documented difference: an engine that picks connections up midstream (the live
    // queue's setting, `replay --midstream`) calls the midstream segment established.
    let midstream = alert_keys(&cap.replay_alerts_with(&e, &["--midstream"]));
    let extra: Vec<_> = midstream
        .keys()
        .filter(|k| !live.contains_key(*k))
        .collect();
    assert!(
        extra.len() == 1 && extra[0].0 == SID && extra[0].2 == u64::from(MIDSTREAM_SPORT),
        "--midstream adds exactly the midstream segment's alert: {midstream:?}"
    );
}

#[test]
fn flow_queue_switch_keeps_the_rule_in_the_engine_with_the_same_verdicts() {
    require_netns!();
    let t = Topology::new();
    let mut e = Engine::start_with_config(
        &t,
        "ctflowq",
        &rules(),
        "[engine]\nworkers = 1\n[kernel]\nflow = \"queue\"\n",
    );
    let out = e.bg.output();
    assert!(out.contains("0 in kernel, 5 in queue"), "{out}");
    let ruleset = t.ruleset(&t.gw);
    assert!(!ruleset.contains("ct state established"), "{ruleset}");
    let (cli, srv) = exchange(&t);
    assert_blocked_client_side_only(&cli, &srv);
    let alerts = e.alerts(SID, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    let (got, back) = udp_echo(&t);
    assert_eq!(got.as_deref(), Some(&b"PONG?"[..]));
    assert_eq!(back, None);
    assert_eq!(e.alerts(UDP_SID, 1).len(), 1);
    e.stop();
}

/// The SYN/RST guard on a real kernel: a crafted connection whose SYN-ACK and RST carry
/// `EVIL` (both established to conntrack, neither to the stream engine) and one data segment
/// between them that both call established. Only the data segment matches, in nft and in the
/// replay; without the guard nft would match all three.
#[test]
fn syn_ack_and_rst_data_stay_out_of_a_kernel_established_rule() {
    require_netns!();
    if !GwCapture::available() {
        return;
    }
    const GUARD_SID: u64 = 3_100_006;
    const GUARD_PORT: u16 = 5703;
    const SPORT: u16 = 40200;
    let t = Topology::new();
    // Neither host's kernel answers the crafted packets: the gateway sees only the test's.
    packet::mute(&t, &t.srv, &[&format!("tcp dport {GUARD_PORT}")]);
    packet::mute(&t, &t.cli, &[&format!("tcp sport {GUARD_PORT}")]);
    let mut e = Engine::start(
        &t,
        "ctguard",
        &format!(
            "alert tcp any any -> any any (msg:\"ct est to client\"; flow:established,to_client; content:\"EVIL\"; depth:4; sid:{GUARD_SID}; rev:1;)\n\
             alert udp any any -> any 5016 (msg:\"queued\"; content:\"Q\"; sid:3100002; rev:1;)\n"
        ),
        &[],
    );
    let out = e.bg.output();
    assert!(out.contains("1 in kernel, 1 in queue"), "{out}");
    let mut cap = GwCapture::start_inbound(&t, &e);
    let (c, s): (Ipv4Addr, Ipv4Addr) = (CLI4.parse().unwrap(), SRV4.parse().unwrap());
    let c2s =
        |tcp: Tcp, data: &[u8]| Ipv4::new(c, s).packet(TCP, &tcp.segment(c.into(), s.into(), data));
    let s2c =
        |tcp: Tcp, data: &[u8]| Ipv4::new(s, c).packet(TCP, &tcp.segment(s.into(), c.into(), data));
    let mut cli = Link::towards_gw(&t, &t.cli, "c0");
    let mut srv = Link::towards_gw(&t, &t.srv, "s0");
    let (cs, ss) = (1000u32, 5000u32);
    let steps: Vec<(bool, Vec<u8>)> = vec![
        (
            true,
            c2s(Tcp::new(SPORT, GUARD_PORT).seq(cs).flags(flags::SYN), b""),
        ),
        (
            false,
            s2c(
                Tcp::new(GUARD_PORT, SPORT)
                    .seq(ss)
                    .ack(cs + 1)
                    .flags(flags::SYN),
                b"EVIL in a SYN-ACK",
            ),
        ),
        (
            true,
            c2s(Tcp::new(SPORT, GUARD_PORT).seq(cs + 1).ack(ss + 1), b""),
        ),
        (
            false,
            s2c(
                Tcp::new(GUARD_PORT, SPORT)
                    .seq(ss + 1)
                    .ack(cs + 1)
                    .flags(flags::PSH),
                b"EVIL data",
            ),
        ),
        (
            false,
            s2c(
                Tcp::new(GUARD_PORT, SPORT)
                    .seq(ss + 10)
                    .ack(cs + 1)
                    .flags(flags::RST),
                b"EVIL in a RST",
            ),
        ),
    ];
    for (from_cli, p) in &steps {
        if *from_cli { cli.send(p) } else { srv.send(p) }.unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    let alerts = e.alerts(GUARD_SID, 1);
    assert_eq!(alerts.len(), 1, "only the data segment matches: {alerts:?}");
    assert_eq!(alerts[0]["src_ip"], SRV4);
    assert_eq!(kernel_hits_of(&t, GUARD_SID), 1);
    stop_and_replay(&mut cap, &mut e);
}

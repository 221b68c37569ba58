//! The NFQUEUE worker pool against the real kernel: packets from cli to srv through gw are
//! steered (xt NFQUEUE, as `apply::load` installs it) to workers whose inspector drops or
//! rejects by payload. Root only.

mod common;
mod live;

use common::netns::{Topology, CLI4, SRV4};
use live::InNs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use verdict_compiler::ir::RejectTarget;
use verdict_engine::nfq::{Decision, PacketInfo, Pool, QueueConfig, QueueNum};

const EMPTY_TABLE: &str = "table inet verdict {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n  }\n}\n";

fn steering(first: u16, last: u16) -> Vec<Vec<String>> {
    let v = |s: String| s.split(' ').map(String::from).collect::<Vec<_>>();
    let mut out = Vec::new();
    for tool in ["iptables-nft", "ip6tables-nft"] {
        out.push(v(format!("{tool} -N VERDICT")));
        out.push(v(format!(
            "{tool} -A VERDICT -j NFQUEUE --queue-balance {first}:{last} --queue-bypass"
        )));
        out.push(v(format!("{tool} -I FORWARD -j VERDICT")));
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Drops "DROPME", rejects "REJECTME", accepts the rest.
fn test_inspector(pkt: &mut [u8], _: &PacketInfo) -> Decision {
    if contains(pkt, b"DROPME") {
        Decision::Drop
    } else if contains(pkt, b"REJECTME") {
        Decision::Reject(RejectTarget::Default)
    } else {
        Decision::Accept
    }
}

#[test]
fn pool_drops_rejects_and_counts_real_traffic() {
    require_netns!();
    let topo = Topology::new();
    let stop = Arc::new(AtomicBool::new(false));
    let queues = [QueueNum(0), QueueNum(1)];
    let stop2 = Arc::clone(&stop);
    let pool = topo
        .in_ns(&topo.gw, move || {
            verdict_nft::apply::load(EMPTY_TABLE, &steering(0, 1)).unwrap();
            Pool::spawn(
                &queues,
                &QueueConfig::default(),
                true,
                |_| test_inspector,
                stop2,
            )
            .unwrap()
        })
        .join()
        .unwrap();

    // UDP: the DROPME datagram never arrives, the others do, in order.
    let srv = topo.in_ns(&topo.srv, || {
        let s = UdpSocket::bind((SRV4, 5000)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        while let Ok(n) = s.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    });
    std::thread::sleep(Duration::from_millis(200));
    topo.in_ns(&topo.cli, || {
        let s = UdpSocket::bind((CLI4, 0)).unwrap();
        for m in ["one", "DROPME two", "three"] {
            s.send_to(m.as_bytes(), (SRV4, 5000)).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .join()
    .unwrap();
    assert_eq!(srv.join().unwrap(), vec!["one", "three"]);

    // UDP reject: the sender's connected socket sees the ICMP port unreachable.
    let refused = topo
        .in_ns(&topo.cli, || {
            let s = UdpSocket::bind((CLI4, 0)).unwrap();
            s.connect((SRV4, 5001)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.send(b"REJECTME").unwrap();
            let mut buf = [0u8; 10];
            s.recv(&mut buf).unwrap_err().kind()
        })
        .join()
        .unwrap();
    assert_eq!(refused, std::io::ErrorKind::ConnectionRefused);

    // TCP reject: both ends see a reset.
    let srv = topo.in_ns(&topo.srv, || {
        let l = TcpListener::bind((SRV4, 5002)).unwrap();
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)
            .map(|_| rest.len())
            .map_err(|e| e.kind())
    });
    std::thread::sleep(Duration::from_millis(200));
    let cli = topo
        .in_ns(&topo.cli, || {
            let mut c = TcpStream::connect((SRV4, 5002)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            c.write_all(b"hello").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            c.write_all(b"REJECTME").unwrap();
            let mut buf = [0u8; 10];
            c.read(&mut buf).map_err(|e| e.kind())
        })
        .join()
        .unwrap();
    assert_eq!(cli, Err(std::io::ErrorKind::ConnectionReset), "client");
    assert_eq!(
        srv.join().unwrap(),
        Err(std::io::ErrorKind::ConnectionReset),
        "server"
    );

    let stats = pool.stats();
    let sum = |f: fn(&verdict_engine::nfq::QueueStats) -> u64| stats.iter().map(f).sum::<u64>();
    eprintln!("{stats:?}");
    assert_eq!(sum(|s| s.dropped), 1);
    assert_eq!(sum(|s| s.rejected), 2);
    assert!(sum(|s| s.received) >= 8 && sum(|s| s.accepted) >= 5);
    assert_eq!(
        sum(|s| s.received),
        sum(|s| s.accepted + s.dropped + s.rejected + s.replaced)
    );

    // Stop the workers but keep the steering: --queue-bypass lets traffic through unqueued.
    pool.shutdown().unwrap();
    let echoed = udp_roundtrip(&topo, 5003, "after shutdown");
    assert_eq!(echoed.as_deref(), Some("after shutdown"));
    topo.in_ns(&topo.gw, || verdict_nft::apply::remove().unwrap())
        .join()
        .unwrap();
    let out = topo.exec(&topo.gw, &["iptables-nft", "-S"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &topo.ruleset(&topo.gw);
    assert!(
        !text.contains("VERDICT") && !text.contains("table inet verdict"),
        "{text}"
    );
}

/// Sends one datagram cli → srv; returns what srv received.
fn udp_roundtrip(topo: &Topology, port: u16, msg: &'static str) -> Option<String> {
    let srv = topo.in_ns(&topo.srv, move || {
        let s = UdpSocket::bind((SRV4, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 100];
        s.recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    });
    std::thread::sleep(Duration::from_millis(100));
    topo.in_ns(&topo.cli, move || {
        let s = UdpSocket::bind((CLI4, 0)).unwrap();
        s.send_to(msg.as_bytes(), (SRV4, port)).unwrap();
    })
    .join()
    .unwrap();
    srv.join().unwrap()
}

//! Hostile packets, live: malformed IPv4/IPv6/TCP/UDP crafted in cli and sent raw (AF_PACKET)
//! through the gateway running `verdict run` with every TCP and UDP packet queued. Case by
//! case, with a barrier after each, the test reads what the engine received and what it
//! counted as decode errors (stats.json), and what the gateway's kernel stopped before the
//! queue (its SNMP counters):
//!
//! - an undecodable packet is either stopped by the kernel (counted there) or counted by the
//!   engine as a decode error — none passes uncounted;
//! - a packet that decodes (bad checksums, option garbage, noise payloads, empty and maximal
//!   payloads, extension header chains) is inspected without a decode error;
//! - fragments are the kernel's to reassemble (conntrack's defrag runs before the queue):
//!   the engine sees whole datagrams or nothing, never a decode error.
//!
//! Afterwards the engine still runs, passes a normal connection and drops what its drop rule
//! says. Root only; traffic and every wait are bounded.

mod common;
mod live;
#[path = "common/packet.rs"]
mod packet;

use common::netns::{Topology, CLI4, CLI6, SRV4, SRV6};
use live::*;
use packet::{flags, noise, Barrier, Csum, Ext, Ipv4, Ipv6, Link, Tcp, Udp, TCP, UDP};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TCP_PORT: u16 = 7500;
const UDP_PORT: u16 = 7501;
const MARK_PORT: u16 = 7502;
const OK_PORT: u16 = 7503;
const DROP_PORT: u16 = 7504;

/// The payload behind IPv6 extension header chains, which a rule must find (sid 950004):
/// "decodes" has to mean the transport header was found.
const CHAINED: &[u8] = b"seen-behind-the-chain";
/// The cases that carry [`CHAINED`].
const CHAINS: usize = 3;

const RULES: &str = "alert tcp any any -> any 7500 (msg:\"hostile tcp\"; content:\"never-sent\"; sid:950001; rev:1;)\n\
                     alert udp any any -> any any (msg:\"hostile udp\"; content:\"never-sent\"; sid:950002; rev:1;)\n\
                     drop tcp any any -> any 7504 (msg:\"hostile drop\"; content:\"BADTHING\"; sid:950003; rev:1;)\n\
                     alert tcp any any -> any 7500 (msg:\"behind the chain\"; content:\"seen-behind-the-chain\"; sid:950004; rev:1;)\n";

/// What must become of a case's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Headers no decoder can take: each packet is stopped by the kernel or is a decode error
    /// in the engine.
    Undecodable,
    /// Each packet reaches the engine and decodes.
    Decodes,
    /// Fragments: the kernel reassembles them; the engine gets at most this many whole
    /// packets and no decode error.
    Reassembled(u64),
}

struct Case {
    name: &'static str,
    expect: Expect,
    pkts: Vec<Vec<u8>>,
}

fn a4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// An IPv4 header cli → srv.
fn ip4() -> Ipv4 {
    Ipv4::new(a4(CLI4), a4(SRV4))
}
/// An IPv6 header cli → srv.
fn ip6() -> Ipv6 {
    Ipv6::new(a6(CLI6), a6(SRV6))
}
fn both4() -> (IpAddr, IpAddr) {
    (a4(CLI4).into(), a4(SRV4).into())
}
fn both6() -> (IpAddr, IpAddr) {
    (a6(CLI6).into(), a6(SRV6).into())
}

/// A TCP segment cli:`sport` → srv:7500 with ACK (mid-flow) and `payload`, over IPv4.
fn tcp4(sport: u16, tcp: impl FnOnce(Tcp) -> Tcp, payload: &[u8]) -> Vec<u8> {
    let (s, d) = both4();
    let seg = tcp(Tcp::new(sport, TCP_PORT).seq(1).ack(1)).segment(s, d, payload);
    ip4().packet(TCP, &seg)
}
/// A UDP datagram cli:`sport` → srv:7501 over IPv4.
fn udp4(sport: u16, udp: impl FnOnce(Udp) -> Udp, payload: &[u8]) -> Vec<u8> {
    let (s, d) = both4();
    ip4().packet(UDP, &udp(Udp::new(sport, UDP_PORT)).datagram(s, d, payload))
}
/// The TCP segment of [`tcp4`] over IPv6 with extension headers `ext`.
fn tcp6(sport: u16, ext: Vec<Ext>, payload: &[u8]) -> Vec<u8> {
    let (s, d) = both6();
    let seg = Tcp::new(sport, TCP_PORT)
        .seq(1)
        .ack(1)
        .segment(s, d, payload);
    Ipv6 { ext, ..ip6() }.packet(TCP, &seg)
}

fn case(name: &'static str, expect: Expect, pkts: Vec<Vec<u8>>) -> Case {
    Case { name, expect, pkts }
}

/// IPv4 headers the kernel's input checks (RFC 1122 §3.2.1) refuse.
fn ipv4_cases() -> Vec<Case> {
    use Expect::*;
    let (s, d) = both4();
    let seg = Tcp::new(41_000, TCP_PORT)
        .seq(1)
        .ack(1)
        .segment(s, d, b"hello");
    let with = |f: &dyn Fn(&mut Ipv4)| {
        let mut h = ip4();
        f(&mut h);
        h.packet(TCP, &seg)
    };
    let mut version5 = ip4().packet(TCP, &seg);
    version5[0] = 0x55;
    vec![
        case(
            "IPv4 header cut at 12 bytes",
            Undecodable,
            vec![ip4().packet(TCP, &seg)[..12].to_vec()],
        ),
        case(
            "IPv4 version 5 in an IPv4 frame",
            Undecodable,
            vec![version5],
        ),
        case(
            "IPv4 IHL 3 (< 5)",
            Undecodable,
            vec![with(&|h| h.ihl = Some(3))],
        ),
        case(
            "IPv4 IHL 15, past the packet",
            Undecodable,
            vec![with(&|h| h.ihl = Some(15))],
        ),
        case(
            "IPv4 total length past the packet",
            Undecodable,
            vec![with(&|h| h.total_len = Some(1400))],
        ),
        case(
            "IPv4 total length inside its header",
            Undecodable,
            vec![with(&|h| h.total_len = Some(12))],
        ),
        case(
            "IPv4 bad header checksum",
            Undecodable,
            vec![with(&|h| h.csum = Csum::Bad)],
        ),
    ]
}

/// Transport headers cut short or with impossible lengths (RFC 9293 §3.1, RFC 768), behind a
/// valid IP header: the kernel forwards them (conntrack only calls them invalid).
fn transport_cases() -> Vec<Case> {
    use Expect::*;
    let (s, d) = both4();
    let full = Tcp::new(41_100, TCP_PORT).seq(1).ack(1).segment(s, d, &[]);
    let udp_hdr = Udp::new(41_101, UDP_PORT).datagram(s, d, &[]);
    vec![
        case(
            "TCP header cut at 10 bytes",
            Undecodable,
            vec![ip4().packet(TCP, &full[..10])],
        ),
        case(
            "TCP data offset 2 (< 5)",
            Undecodable,
            vec![tcp4(41_102, |t| t.data_offset(2), b"abc")],
        ),
        case(
            "TCP data offset 15, past the segment",
            Undecodable,
            vec![tcp4(41_103, |t| t.data_offset(15), &[])],
        ),
        case(
            "UDP header cut at 4 bytes",
            Undecodable,
            vec![ip4().packet(UDP, &udp_hdr[..4])],
        ),
        case(
            "UDP length past the datagram",
            Undecodable,
            vec![udp4(41_104, |u| u.len(200), b"0123456789")],
        ),
        case(
            "UDP length inside its header",
            Undecodable,
            vec![udp4(41_105, |u| u.len(4), b"0123456789")],
        ),
    ]
}

/// Packets that decode, however odd their contents.
fn decodable_cases() -> Vec<Case> {
    use Expect::*;
    let garbage_options = [
        2, 0, // MSS with length 0
        8, 255, // timestamps claiming 255 bytes
        3, 1, // window scale with length 1
        0xfe, 2, // experimental, empty
        5, 3, 1, // SACK of one byte
    ];
    let eol_then_noise = [0u8, 0xde, 0xad, 0xbe, 0xef, 0x02, 0x04, 0x05];
    vec![
        case(
            "TCP bad checksum",
            Decodes,
            vec![tcp4(
                41_200,
                |t| t.csum(Csum::Bad),
                b"payload with a bad checksum",
            )],
        ),
        case(
            "UDP bad checksum",
            Decodes,
            vec![udp4(
                41_201,
                |u| u.csum(Csum::Bad),
                b"payload with a bad checksum",
            )],
        ),
        case(
            "TCP option garbage (lengths 0, 1, 255, 3)",
            Decodes,
            vec![tcp4(41_202, |t| t.options(&garbage_options), b"x")],
        ),
        case(
            "TCP options: EOL, then noise",
            Decodes,
            vec![tcp4(41_203, |t| t.options(&eol_then_noise), b"x")],
        ),
        case(
            "TCP SYN+FIN+RST+PSH with data",
            Decodes,
            vec![tcp4(
                41_204,
                |t| t.flags(flags::SYN | flags::FIN | flags::RST | flags::PSH),
                b"odd",
            )],
        ),
        case(
            "TCP zero-length payload",
            Decodes,
            vec![tcp4(41_205, |t| t, &[])],
        ),
        case(
            "UDP zero-length payload",
            Decodes,
            vec![udp4(41_206, |u| u, &[])],
        ),
        case(
            "TCP 1460-byte payload (the link MTU)",
            Decodes,
            vec![tcp4(41_207, |t| t, &noise(7, 1460))],
        ),
        case(
            "noise after a valid TCP header",
            Decodes,
            (0..20u32)
                .map(|i| tcp4(41_208, |t| t.seq(1 + 1000 * i), &noise(u64::from(i), 1000)))
                .collect(),
        ),
        case(
            "noise after a valid UDP header",
            Decodes,
            (0..20u32)
                .map(|i| {
                    udp4(
                        41_209,
                        |u| u,
                        &noise(100 + u64::from(i), 1 + 70 * i as usize),
                    )
                })
                .collect(),
        ),
    ]
}

/// IPv4 fragments, for the kernel's defragmentation in front of the queue.
fn fragment_cases() -> Vec<Case> {
    use Expect::*;
    let (s, d) = both4();
    let seg = |sport: u16, payload: &[u8]| {
        Tcp::new(sport, TCP_PORT)
            .seq(1)
            .ack(1)
            .segment(s, d, payload)
    };
    let id = |n: u16| Ipv4 { id: n, ..ip4() };
    // Two fragments covering bytes 16..24 twice, with different bytes there.
    let a = seg(41_300, &[b'a'; 40]);
    let mut b = a.clone();
    b[16..].fill(b'b');
    let mut overlap = id(300).fragments(TCP, &a, &[(0, 24)]);
    overlap.extend(id(300).fragments(TCP, &b, &[(16, b.len())]));
    // A second fragment at offset 8 rewriting the TCP header's sequence number onward.
    let c = seg(41_301, &[b'c'; 40]);
    let over_header = id(301).fragments(TCP, &c, &[(0, 16), (8, c.len())]);
    let tiny = seg(41_302, &[b't'; 40]);
    let udp_max = Udp::new(41_303, UDP_PORT).datagram(s, d, &noise(3, 65_507));
    let pieces: Vec<(usize, usize)> = (0..udp_max.len())
        .step_by(1480)
        .map(|o| (o, (o + 1480).min(udp_max.len())))
        .collect();
    let first_only = seg(41_304, &[b'f'; 100]);
    vec![
        case(
            "IPv4 fragments overlapping with other bytes",
            Reassembled(1),
            overlap,
        ),
        case(
            "IPv4 fragment rewriting the TCP header",
            Reassembled(1),
            over_header,
        ),
        case(
            "IPv4 tiny first fragment (8 bytes of TCP header)",
            Reassembled(1),
            id(302).fragments(TCP, &tiny, &[(0, 8), (8, tiny.len())]),
        ),
        case(
            "UDP of 65,507 bytes (maximal) in 45 fragments",
            Reassembled(1),
            id(303).fragments(UDP, &udp_max, &pieces),
        ),
        case(
            "IPv4 first fragment only, never completed",
            Reassembled(0),
            id(304).fragments(TCP, &first_only, &[(0, 48)]),
        ),
    ]
}

/// IPv6 headers cut short, and extension header chains.
fn ipv6_cases() -> Vec<Case> {
    use Expect::*;
    let (s, d) = both6();
    let seg = Tcp::new(41_400, TCP_PORT)
        .seq(1)
        .ack(1)
        .segment(s, d, b"v6");
    let long_len = Ipv6 {
        payload_len: Some(1400),
        ..ip6()
    };
    let dst = || Ext::padding(60);
    // A destination options header announcing 2,048 bytes in a short packet.
    let overlong = Ext {
        kind: 60,
        body: vec![255, 1, 4, 0, 0, 0, 0],
    };
    let atomic_fragment = Ext {
        kind: 44,
        body: vec![0, 0, 0, 0, 0, 0, 42],
    };
    vec![
        case(
            "IPv6 header cut at 20 bytes",
            Undecodable,
            vec![ip6().packet(TCP, &seg)[..20].to_vec()],
        ),
        case(
            "IPv6 payload length past the packet",
            Undecodable,
            vec![long_len.packet(TCP, &seg)],
        ),
        case(
            "IPv6 hop-by-hop, dest. options, routing, dest. options, TCP",
            Decodes,
            vec![tcp6(
                41_401,
                vec![Ext::padding(0), dst(), Ext::routing(), dst()],
                CHAINED,
            )],
        ),
        case(
            "IPv6 atomic fragment header, TCP",
            Decodes,
            vec![tcp6(41_402, vec![atomic_fragment], CHAINED)],
        ),
        case(
            "IPv6 destination options past the packet",
            Undecodable,
            vec![tcp6(41_403, vec![overlong], b"x")],
        ),
        case(
            "IPv6 eight destination options headers, TCP",
            Decodes,
            vec![tcp6(41_404, (0..8).map(|_| dst()).collect(), CHAINED)],
        ),
    ]
}

/// The gateway kernel's counters of packets it refused or could not reassemble
/// (`/proc/net/snmp`, `snmp6`, `netstat` of its namespace), by name.
fn kernel_drops(t: &Topology) -> BTreeMap<String, u64> {
    const WATCHED: &[&str] = &[
        "Ip.InHdrErrors",
        "Ip.InAddrErrors",
        "Ip.ReasmFails",
        "IpExt.InTruncatedPkts",
        "IpExt.InCsumErrors",
        "IpExt.ReasmOverlaps",
        "Ip6InHdrErrors",
        "Ip6InTruncatedPkts",
        "Ip6ReasmFails",
    ];
    let mut m = BTreeMap::new();
    for file in ["/proc/net/snmp", "/proc/net/netstat"] {
        let text = String::from_utf8_lossy(&t.exec_ok(&t.gw, &["cat", file]).stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let mut n = names.split_whitespace();
            let prefix = n.next().unwrap_or("").trim_end_matches(':');
            for (k, v) in n.zip(values.split_whitespace().skip(1)) {
                m.insert(format!("{prefix}.{k}"), v.parse().unwrap_or(0));
            }
        }
    }
    let text =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &["cat", "/proc/net/snmp6"]).stdout).to_string();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once(char::is_whitespace) {
            m.insert(k.to_string(), v.trim().parse().unwrap_or(0));
        }
    }
    m.retain(|k, _| WATCHED.contains(&k.as_str()));
    // Conntrack's per-CPU table: packets it found invalid (bad checksum, impossible
    // transport header) — counted, then forwarded all the same.
    let text = String::from_utf8_lossy(
        &t.exec_ok(&t.gw, &["cat", "/proc/net/stat/nf_conntrack"])
            .stdout,
    )
    .to_string();
    let mut rows = text.lines();
    let col = rows
        .next()
        .and_then(|h| h.split_whitespace().position(|c| c == "invalid"));
    if let Some(col) = col {
        let invalid: u64 = rows
            .filter_map(|r| u64::from_str_radix(r.split_whitespace().nth(col)?, 16).ok())
            .sum();
        m.insert("conntrack.invalid".into(), invalid);
    }
    m
}

/// Received packets and decode errors in the first snapshot written after `after`.
fn engine_counts(e: &Engine, after: SystemTime) -> (u64, u64) {
    let t = after.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let s = wait_for(Duration::from_secs(3), || {
        Some(e.stats()).filter(|s| s.written_unix > t)
    })
    .expect("a stats snapshot after the barrier");
    let received = s.queues.iter().map(|q| q.received).sum();
    (received, s.inspect.expect("inspect counters").decode_errors)
}

/// One case's outcome.
struct Outcome {
    sent: u64,
    received: u64,
    decode_errors: u64,
    kernel: BTreeMap<String, u64>,
}

fn run_case(
    t: &Topology,
    e: &Engine,
    link: &mut Link,
    barrier: &mut Barrier,
    c: &Case,
    start: &mut (u64, u64),
) -> Outcome {
    let k0 = kernel_drops(t);
    for p in &c.pkts {
        link.send(p).expect("raw send");
    }
    let marks = barrier.pass(link, Duration::from_secs(5));
    let now = engine_counts(e, SystemTime::now());
    let k1 = kernel_drops(t);
    let kernel: BTreeMap<String, u64> = k1
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(k0.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect();
    let out = Outcome {
        sent: c.pkts.len() as u64,
        received: (now.0 - start.0).saturating_sub(marks),
        decode_errors: now.1 - start.1,
        kernel,
    };
    *start = now;
    out
}

impl Outcome {
    /// Packets the gateway's kernel refused before the queue (conntrack's "invalid" ones it
    /// forwards all the same, so they are not among them).
    fn stopped(&self) -> u64 {
        self.kernel
            .iter()
            .filter(|(k, _)| !k.starts_with("conntrack."))
            .map(|(_, v)| v)
            .sum()
    }
}

fn check(c: &Case, o: &Outcome) -> Result<(), String> {
    let stopped = o.stopped();
    let ok = match c.expect {
        Expect::Undecodable => o.decode_errors == o.received && o.received + stopped >= o.sent,
        Expect::Decodes => o.received == o.sent && o.decode_errors == 0,
        Expect::Reassembled(max) => o.received <= max && o.decode_errors == 0,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{}: expected {:?}; sent {}, engine received {} with {} decode errors, kernel {:?}",
            c.name, c.expect, o.sent, o.received, o.decode_errors, o.kernel
        ))
    }
}

#[test]
fn malformed_packets_are_counted_and_the_engine_keeps_enforcing() {
    require_netns!();
    let t = Topology::new();
    let mut e = Engine::start_with_config(
        &t,
        "hostile",
        RULES,
        "[engine]\nworkers = 1\nqueue = 0\nsteer = \"all\"\n[scan]\nenabled = false\n",
    );
    // srv answers none of them (a RST or an ICMP error would be one more packet queued).
    packet::mute(
        &t,
        &t.srv,
        &[
            &format!("tcp dport {TCP_PORT}"),
            &format!("udp dport {UDP_PORT}"),
        ],
    );
    let mut link = Link::towards_gw(&t, &t.cli, "c0");
    let mark = |ip: &str| SocketAddr::new(ip.parse().unwrap(), MARK_PORT);
    let mut barrier = Barrier::bound_in(&t, &t.srv, mark(CLI4), mark(SRV4));
    barrier.pass(&mut link, Duration::from_secs(5));
    let mut counts = engine_counts(&e, SystemTime::now());

    let cases: Vec<Case> = [
        ipv4_cases(),
        transport_cases(),
        decodable_cases(),
        fragment_cases(),
        ipv6_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut failures = Vec::new();
    let mut table = String::new();
    let (mut sent, mut errors, mut stopped) = (0, 0, 0);
    for c in &cases {
        let o = run_case(&t, &e, &mut link, &mut barrier, c, &mut counts);
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            c.name,
            o.sent,
            o.received,
            o.decode_errors,
            o.kernel
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        sent += o.sent;
        errors += o.decode_errors;
        stopped += o.stopped();
        if let Err(f) = check(c, &o) {
            failures.push(f);
        }
    }
    eprintln!(
        "| case | sent | engine received | decode errors | kernel stopped |\n|---|---|---|---|---|\n{table}\
         {} cases, {sent} packets: {errors} decode errors in the engine, {stopped} kernel drop counts",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        e.alerts(950_004, CHAINS).len(),
        CHAINS,
        "a TCP payload behind an IPv6 extension header chain was not inspected"
    );
    assert!(
        errors > 0,
        "no malformed packet reached the engine: the test tried nothing"
    );
    assert_still_enforcing(&mut e, &t, OK_PORT, DROP_PORT, b"BADTHING");
    e.stop();
}

//! Tunnels, SCTP and link types through the worker and the replay: the inner packet of a
//! tunnel is inspected as a packet of its own (own flow, own alerts), the outer one too, a
//! drop of either blocks the frame, a rewrite of the inner packet leaves every checksum
//! right, and captures of each link type replay.

mod common;

use common::*;
use pcap_file::DataLink;
use std::time::{Duration, UNIX_EPOCH};
use verdict_engine::detect::{DetectConfig, PacketMeta, Worker};
use verdict_engine::output::Event;
use verdict_engine::verdict::Verdict;
use verdict_engine::wire::tunnel::TunnelConfig;
use verdict_engine::wire::{checksums_ok, Packet};

const OUT_A: [u8; 4] = [192, 0, 2, 10];
const OUT_B: [u8; 4] = [198, 51, 100, 10];

fn inline() -> DetectConfig {
    DetectConfig {
        inline: true,
        ..Default::default()
    }
}

/// A worker over rule text (every rule an engine program) and its events.
fn engine(rules: &str, cfg: &DetectConfig) -> (Worker, crossbeam_channel::Receiver<Event>) {
    let det = detector("tunnel.rules", rules, true, cfg);
    let (tx, rx) = crossbeam_channel::unbounded();
    (Worker::new(det, tx), rx)
}

fn meta(n: u64) -> PacketMeta {
    PacketMeta {
        pcap_cnt: Some(n),
        ..PacketMeta::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n))
    }
}

/// Inspects packets in order; verdicts and the alerts as (sid, packet number).
fn run(
    w: &mut Worker,
    rx: &crossbeam_channel::Receiver<Event>,
    pkts: &mut [Vec<u8>],
) -> (Vec<Verdict>, Vec<(u32, u64)>) {
    let v = pkts
        .iter_mut()
        .enumerate()
        .map(|(i, p)| w.inspect(p, &meta(i as u64 + 1)))
        .collect();
    let alerts = rx
        .try_iter()
        .filter_map(|e| match e {
            Event::Alert(a) => Some((a.sid, a.pkt.pcap_cnt.unwrap_or(0))),
            _ => None,
        })
        .collect();
    (v, alerts)
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let total = (20 + payload.len()) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(payload);
    let c = ipv4_checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// `inner` in GRE (with a checksum when `csum`) between the outer endpoints.
fn gre(inner: &[u8], csum: bool) -> Vec<u8> {
    let mut g = if csum {
        vec![0x80, 0, 0x08, 0x00, 0, 0, 0, 0]
    } else {
        vec![0, 0, 0x08, 0x00]
    };
    g.extend_from_slice(inner);
    if csum {
        let c = ipv4_checksum(&g);
        g[4..6].copy_from_slice(&c.to_be_bytes());
    }
    ipv4(OUT_A, OUT_B, 47, &g)
}

/// `inner` in an Ethernet frame in VXLAN (VNI 42) to port 4789.
fn vxlan(inner: &[u8]) -> Vec<u8> {
    let mut b = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    b.extend_from_slice(&eth(inner, &[]));
    udp(OUT_A, OUT_B, 50000, 4789, &b)
}

fn ping(seq: u16) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ipv4(CLI, SRV, 64)
        .icmpv4_echo_request(9, seq)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

/// True if a GRE header with a checksum at `at` sums right over the rest of the packet.
fn gre_checksum_ok(pkt: &[u8], at: usize) -> bool {
    ipv4_checksum(&pkt[at - 4..]) == 0
}

#[test]
fn a_ping_inside_gre_matches_an_icmp_rule_and_the_outer_packet_its_own() {
    let rules = r#"alert icmp any any -> any any (msg:"inner ping"; itype:8; sid:1;)
alert ip any any -> any any (msg:"gre carrier"; ip_proto:47; sid:2;)
alert ip 192.0.2.10 any -> any any (msg:"outer address"; sid:3;)
alert ip 192.0.2.2 any -> any any (msg:"inner address"; sid:4;)
"#;
    let (mut w, rx) = engine(rules, &DetectConfig::default());
    let mut pkts = vec![gre(&ping(1), false), gre(&ping(2), true)];
    let (v, alerts) = run(&mut w, &rx, &mut pkts);
    assert_eq!(v, vec![Verdict::Accept; 2]);
    let mut got = alerts.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
            (3, 1),
            (3, 2),
            (4, 1),
            (4, 2)
        ]
    );
    // The outer flow and the inner one.
    assert_eq!(w.flows_created(), 2);
    // Tunnel decoding off: only the outer packet is seen.
    let off = DetectConfig {
        tunnels: TunnelConfig::off(),
        ..Default::default()
    };
    let (mut w, rx) = engine(rules, &off);
    let (_, alerts) = run(&mut w, &rx, &mut [gre(&ping(1), false)]);
    let mut sids: Vec<u32> = alerts.iter().map(|a| a.0).collect();
    sids.sort();
    assert_eq!(sids, vec![2, 3]);
}

#[test]
fn an_http_request_inside_vxlan_is_dropped_with_the_frame_and_the_outer_rule_still_matches() {
    let rules = r#"drop http any any -> any any (msg:"evil uri"; http.uri; content:"/evil"; sid:10;)
alert udp any any -> any 4789 (msg:"vxlan"; sid:11;)
"#;
    let (mut w, rx) = engine(rules, &inline());
    let inner = session(
        40000,
        80,
        &[b"GET /evil HTTP/1.1\r\nHost: x\r\n\r\n", b"more"],
    );
    let mut pkts: Vec<Vec<u8>> = inner.iter().map(|p| vxlan(p)).collect();
    let (v, alerts) = run(&mut w, &rx, &mut pkts);
    // Handshake and the server's acks pass; the request and the rest of its flow do not.
    assert_eq!(v[..3], [Verdict::Accept; 3]);
    assert!(v[3].blocks(), "{v:?}");
    assert!(v[5].blocks(), "the inner flow stays dropped: {v:?}");
    assert!(alerts.contains(&(10, 4)), "{alerts:?}");
    let outer: Vec<_> = alerts.iter().filter(|a| a.0 == 11).collect();
    assert_eq!(
        outer.len(),
        pkts.len(),
        "every carrier packet matches the udp rule"
    );
    // IDS mode: the same alerts, nothing blocked.
    let (mut w, rx) = engine(rules, &DetectConfig::default());
    let mut pkts: Vec<Vec<u8>> = inner.iter().map(|p| vxlan(p)).collect();
    let (v, alerts) = run(&mut w, &rx, &mut pkts);
    assert!(v.iter().all(|v| *v == Verdict::Accept));
    assert!(alerts.contains(&(10, 4)));
}

#[test]
fn a_drop_of_the_outer_packet_drops_it_whatever_the_inner_packet_is() {
    let rules = r#"drop ip any any -> any any (msg:"no gre"; ip_proto:47; sid:20;)
alert icmp any any -> any any (msg:"inner ping"; sid:21;)
"#;
    let (mut w, rx) = engine(rules, &inline());
    let (v, alerts) = run(&mut w, &rx, &mut [gre(&ping(1), false)]);
    assert!(v[0].blocks());
    // The inner packet was still inspected, as Suricata inspects the tunnel's packets.
    assert!(alerts.contains(&(21, 1)));
}

#[test]
fn replace_inside_a_tunnel_leaves_every_checksum_valid() {
    let rules =
        r#"alert udp any any -> any 53 (msg:"rewrite"; content:"evil"; replace:"good"; sid:30;)"#;
    let inner = udp(CLI, SRV, 5000, 53, b"an evil query");
    for csum in [false, true] {
        let (mut w, rx) = engine(rules, &inline());
        let mut pkts = vec![gre(&inner, csum), vxlan(&inner)];
        let (v, _) = run(&mut w, &rx, &mut pkts);
        assert!(matches!(v[0], Verdict::Replace(_)), "{v:?}");
        assert!(matches!(v[1], Verdict::Replace(_)), "{v:?}");
        let gre_inner = &pkts[0][20 + if csum { 8 } else { 4 }..];
        assert_eq!(
            Packet::parse(gre_inner).unwrap().payload(),
            b"an good query"
        );
        assert!(checksums_ok(gre_inner), "inner UDP checksum");
        assert!(checksums_ok(&pkts[0]), "outer IPv4 header");
        if csum {
            assert!(gre_checksum_ok(&pkts[0], 24), "GRE checksum");
        }
        // VXLAN: the outer UDP checksum covers the rewritten inner packet.
        assert!(checksums_ok(&pkts[1]), "outer UDP checksum");
        let vx_inner = &pkts[1][28 + 8 + 14..];
        assert!(checksums_ok(vx_inner));
        assert_eq!(Packet::parse(vx_inner).unwrap().payload(), b"an good query");
    }
}

#[test]
fn flows_inside_and_outside_tunnels_and_across_ip_versions_stay_apart() {
    let rules = r#"alert udp any any -> any any (msg:"second packet of a flow"; flow:established; sid:40;)"#;
    let (mut w, rx) = engine(rules, &DetectConfig::default());
    // The same 5-tuple plain and inside GRE: two flows, neither established by the other.
    let q = udp(CLI, SRV, 5000, 53, b"q");
    let r = udp(SRV, CLI, 53, 5000, b"r");
    let (_, alerts) = run(&mut w, &rx, &mut [q.clone(), gre(&r, false)]);
    assert!(alerts.is_empty(), "{alerts:?}");
    // IPv4 and IPv6 between the IPv4-mapped addresses: two flows as well.
    let mapped = |a: [u8; 4]| {
        let mut v = [0u8; 16];
        v[10] = 0xff;
        v[11] = 0xff;
        v[12..].copy_from_slice(&a);
        v
    };
    let (mut w, rx) = engine(rules, &DetectConfig::default());
    let r6 = udp6(mapped(SRV), mapped(CLI), 53, 5000, b"r");
    let (_, alerts) = run(&mut w, &rx, &mut [q.clone(), r6]);
    assert!(alerts.is_empty(), "{alerts:?}");
    assert_eq!(w.flows_created(), 2);
    // While a real answer establishes the flow.
    let (mut w, rx) = engine(rules, &DetectConfig::default());
    let (_, alerts) = run(&mut w, &rx, &mut [q, r]);
    assert_eq!(alerts, vec![(40, 2)]);
}

#[test]
fn nesting_is_bounded_by_max_layers() {
    let rules = r#"alert icmp any any -> any any (msg:"ping"; sid:50;)"#;
    let mut deep = ping(1);
    for _ in 0..3 {
        deep = gre(&deep, false);
    }
    let (mut w, rx) = engine(rules, &DetectConfig::default());
    let (_, alerts) = run(&mut w, &rx, &mut [deep.clone()]);
    assert_eq!(alerts, vec![(50, 1)]);
    let shallow = DetectConfig {
        tunnels: TunnelConfig {
            max_layers: 2,
            ..TunnelConfig::default()
        },
        ..Default::default()
    };
    let (mut w, rx) = engine(rules, &shallow);
    let (_, alerts) = run(&mut w, &rx, &mut [deep]);
    assert!(alerts.is_empty(), "the third tunnel is past the bound");
}

#[test]
fn sctp_rules_match_ports_and_flows_key_on_them() {
    let rules = r#"alert sctp any any -> any 38412 (msg:"ngap"; sid:60;)
alert sctp any any -> any 1 (msg:"other port"; sid:61;)
alert sctp any any -> any any (msg:"second of flow"; flow:established; sid:62;)
"#;
    let sctp = |sp: u16, dp: u16| {
        let mut b = sp.to_be_bytes().to_vec();
        b.extend_from_slice(&dp.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        b.extend_from_slice(&[0, 3, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
        b
    };
    let (mut w, rx) = engine(rules, &DetectConfig::default());
    let mut pkts = vec![
        ipv4(CLI, SRV, 132, &sctp(5000, 38412)),
        ipv4(SRV, CLI, 132, &sctp(38412, 5000)),
        ipv4(CLI, SRV, 132, &sctp(5001, 38412)),
    ];
    let (_, mut alerts) = run(&mut w, &rx, &mut pkts);
    alerts.sort();
    assert_eq!(alerts, vec![(60, 1), (60, 3), (62, 2)]);
    assert_eq!(w.flows_created(), 2);
}

#[test]
fn replayed_captures_of_each_link_type_and_tunnel_alert_on_the_inner_packets() {
    let d = TempDir::new("tunnels");
    let rules = r#"alert icmp any any -> any any (msg:"ping"; sid:70;)
alert sctp any any -> any 38412 (msg:"sctp"; sid:71;)
"#;
    let p = ping(1);
    let ppp = |l3: &[u8]| [&[0xff, 0x03, 0x00, 0x21][..], l3].concat();
    let mut sctp = vec![0x13, 0x88, 0x96, 0x0c, 0, 0, 0, 1, 0, 0, 0, 0];
    sctp.extend_from_slice(&[0, 3, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let sctp_pkt = ipv4(CLI, SRV, 132, &sctp);
    let mut nflog = vec![2, 0, 0, 1, 8, 0, 9, 0];
    let mut nflog_sctp = nflog.clone();
    nflog.extend_from_slice(&p);
    nflog[4..6].copy_from_slice(&((4 + p.len()) as u16).to_le_bytes());
    nflog_sctp.extend_from_slice(&sctp_pkt);
    nflog_sctp[4..6].copy_from_slice(&((4 + sctp_pkt.len()) as u16).to_le_bytes());
    let teredo_inner = {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv6(v6(1, 1), v6(2, 1), 64)
            .icmpv6_echo_request(1, 1)
            .write(&mut v, b"x")
            .unwrap();
        v
    };
    let cases: Vec<(&str, DataLink, Vec<Vec<u8>>, usize)> = vec![
        ("ppp", DataLink::PPP, vec![ppp(&p), ppp(&sctp_pkt)], 2),
        (
            "chdlc",
            DataLink::C_HDLC,
            vec![[&[0x0f, 0, 0x08, 0x00][..], &p].concat()],
            1,
        ),
        ("nflog", DataLink::NFLOG, vec![nflog, nflog_sctp], 2),
        (
            "tunnels",
            DataLink::ETHERNET,
            vec![
                eth(&gre(&p, true), &[7]),
                eth(&vxlan(&p), &[]),
                eth(&ipv4(OUT_A, OUT_B, 4, &p), &[]),
                eth(&udp(OUT_A, OUT_B, 40000, 3544, &teredo_inner), &[]),
                // PPPoE session, and MPLS, on the link layer.
                [
                    &[
                        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x64, 0x11, 0, 0, 1,
                    ][..],
                    &((p.len() + 2) as u16).to_be_bytes(),
                    &[0, 0x21],
                    &p,
                ]
                .concat(),
                [
                    &[
                        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x47, 0, 0x10, 0x01, 0x40,
                    ][..],
                    &p,
                ]
                .concat(),
            ],
            6,
        ),
    ];
    for (name, lt, frames, want) in cases {
        let pcap = d.path().join(format!("{name}.pcap"));
        write_pcap(&pcap, lt, &frames, None);
        let det = detector("t.rules", rules, true, &DetectConfig::default());
        let out = d.path().join(name);
        let alerts = replay_alerts(det, &pcap, &out);
        assert_eq!(alerts.len(), want, "{name}: {alerts:?}");
        if name == "tunnels" {
            // Suricata's `tunnel` object: the outer packet, the depth of the inner one.
            let eve = read_eve(&out);
            let first = eve.iter().find(|e| e["pcap_cnt"] == 1).unwrap();
            assert_eq!(first["tunnel"]["src_ip"], "192.0.2.10");
            assert_eq!(first["tunnel"]["dest_ip"], "198.51.100.10");
            assert_eq!(first["tunnel"]["proto"], "GRE");
            assert_eq!(first["tunnel"]["depth"], 1);
            let vx = eve.iter().find(|e| e["pcap_cnt"] == 2).unwrap();
            assert_eq!(vx["tunnel"]["proto"], "UDP");
            assert_eq!(vx["tunnel"]["dest_port"], 4789);
            assert_eq!(vx["src_ip"], "192.0.2.2");
            // PPPoE and MPLS are link layers, no tunnel.
            let pppoe = eve.iter().find(|e| e["pcap_cnt"] == 5).unwrap();
            assert!(pppoe.get("tunnel").is_none());
        }
        if name == "ppp" {
            let eve = read_eve(&out);
            let a = eve
                .iter()
                .find(|e| e["alert"]["signature_id"] == 71)
                .unwrap();
            assert_eq!(a["proto"], "SCTP");
            assert_eq!(a["src_port"], 5000);
            assert_eq!(a["dest_port"], 38412);
        }
    }
}

#[test]
fn rules_the_kernel_evaluates_run_in_the_engine_on_inner_packets_only() {
    // Live, a rule the kernel evaluates sees only the outer headers; the engine runs it on
    // what tunnels carry (`inner_only`), and not a second time on the outer packet.
    let rules = r#"alert icmp any any -> any any (msg:"any ping"; sid:80;)"#;
    let cfg = DetectConfig {
        inner_only: vec![80],
        ..Default::default()
    };
    let (mut w, rx) = engine(rules, &cfg);
    let (_, alerts) = run(&mut w, &rx, &mut [ping(1), gre(&ping(2), false)]);
    assert_eq!(alerts, vec![(80, 2)]);
}

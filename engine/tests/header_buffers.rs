//! Header sticky buffers (`ipv4.hdr`, `ipv6.hdr`, `tcp.hdr`, `udp.hdr`, `icmpv4.hdr`,
//! `icmpv6.hdr`) and `tcp.mss`, from rule text through the compiler into Worker::inspect on
//! generated packets: which bytes each buffer holds, that a buffer of another header is
//! absent, and that header rules run on packets, not on the reassembled stream.

mod common;

use common::*;
use etherparse::PacketBuilder;
use verdict_engine::detect::DetectConfig;

fn engine(rules: &str) -> TestWorker {
    worker(rules, &DetectConfig::default())
}

fn syn_with_options(sport: u16, opts: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(CLI, SRV, 64)
        .tcp(sport, 80, 100, 64240)
        .options_raw(opts)
        .unwrap()
        .syn()
        .write(&mut v, b"")
        .unwrap();
    v
}

#[test]
fn ip_headers_hold_options_and_extension_headers_and_only_their_version() {
    let mut e = engine(concat!(
        // TTL 64 at offset 8 of the IPv4 header, hop limit 64 at offset 7 of the IPv6 one.
        "alert ip any any -> any any (ipv4.hdr; content:\"|40|\"; offset:8; depth:1; sid:1;)\n",
        "alert ip any any -> any any (ipv6.hdr; content:\"|40|\"; offset:7; depth:1; sid:2;)\n",
        // The hop-by-hop header (next header UDP) ends the IPv6 header buffer.
        "alert ip any any -> any any (ipv6.hdr; content:\"|11 00 01 04 00 00 00 00|\"; offset:40; endswith; sid:3;)\n",
    ));
    let v4 = udp(CLI, SRV, 5000, 53, b"x");
    let plain6 = udp6(v6(2, 1), v6(2, 2), 5000, 53, b"x");
    let mut ext6 = plain6[..40].to_vec();
    ext6[6] = 0;
    let plen = u16::from_be_bytes([plain6[4], plain6[5]]) + 8;
    ext6[4..6].copy_from_slice(&plen.to_be_bytes());
    ext6.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    ext6.extend_from_slice(&plain6[40..]);
    assert_eq!(
        e.all(&[v4, plain6, ext6]),
        vec![vec![1], vec![2], vec![2, 3]]
    );
}

#[test]
fn tcp_header_includes_options_and_runs_per_packet_only() {
    let mut e = engine(concat!(
        // Data offset 6 (24 bytes) and the MSS option right after the fixed header.
        "alert tcp any any -> any any (tcp.hdr; content:\"|02 04 05 b4|\"; offset:20; endswith; sid:1;)\n",
        // The destination port of every client packet: must alert once per packet.
        "alert tcp any any -> any 80 (tcp.hdr; content:\"|00 50|\"; offset:2; depth:2; sid:2;)\n",
        // The udp header is never present on TCP.
        "alert ip any any -> any any (udp.hdr; content:\"|00 50|\"; offset:2; depth:2; sid:3;)\n",
    ));
    let syn = syn_with_options(40000, &[2, 4, 5, 0xb4]);
    let mut pkts = vec![syn];
    pkts.extend(session(40001, 80, &[b"one", b"two"]));
    let got = e.all(&pkts);
    assert_eq!(got[0], vec![1, 2]);
    // session: SYN, SYN-ACK, ACK, data, ACK, data, ACK — the client's 4 packets alert.
    let client: Vec<usize> = (1..got.len()).filter(|&i| got[i] == vec![2]).collect();
    assert_eq!(client, vec![1, 3, 4, 6], "{got:?}");
}

#[test]
fn udp_and_icmp_headers() {
    let mut e = engine(concat!(
        "alert udp any any -> any any (udp.hdr; content:\"|00 09|\"; offset:4; depth:2; sid:1;)\n",
        "alert icmp any any -> any any (icmpv4.hdr; content:\"|08 00|\"; depth:2; sid:2;)\n",
        // The 12 timestamp bytes belong to an ICMPv4 timestamp's header.
        "alert icmp any any -> any any (icmpv4.hdr; content:\"|07 07 07 07|\"; offset:16; endswith; sid:3;)\n",
        "alert ip any any -> any any (icmpv6.hdr; content:\"|80 00|\"; depth:2; sid:4;)\n",
        "alert ip any any -> any any (icmpv6.hdr; bsize:8; sid:5;)\n",
    ));
    let echo = |typ: u8, body: &[u8]| {
        let mut v = Vec::new();
        PacketBuilder::ipv4(CLI, SRV, 64)
            .icmpv4_raw(typ, 0, [0, 1, 0, 2])
            .write(&mut v, body)
            .unwrap();
        v
    };
    let mut e6 = Vec::new();
    PacketBuilder::ipv6(v6(2, 1), v6(2, 2), 64)
        .icmpv6_echo_request(1, 2)
        .write(&mut e6, b"payload")
        .unwrap();
    assert_eq!(
        e.all(&[
            udp(CLI, SRV, 5000, 53, b"x"),
            echo(8, b"ping"),
            echo(13, &[7; 12]),
            e6,
        ]),
        vec![vec![1], vec![2], vec![3], vec![4, 5]]
    );
}

#[test]
fn tcp_mss_needs_the_option() {
    let mut e = engine(concat!(
        "alert tcp any any -> any any (tcp.mss:<536; sid:1;)\n",
        "alert tcp any any -> any any (tcp.mss:!1460; sid:2;)\n",
        "alert tcp any any -> any any (tcp.mss:1000-1460; sid:3;)\n",
    ));
    assert_eq!(
        e.all(&[
            syn_with_options(40000, &[2, 4, 0x01, 0xf4]), // 500
            syn_with_options(40001, &[2, 4, 0x05, 0xb4]), // 1460
            syn_with_options(40002, &[1, 1, 2, 4, 0x05, 0xb3, 0, 0]), // 1459
            syn_with_options(40003, &[]),
            // Wrong length: no MSS.
            syn_with_options(40004, &[2, 6, 0, 1, 0, 0, 1, 1]),
        ]),
        vec![vec![1, 2], vec![], vec![2, 3], vec![], vec![]]
    );
}

#[test]
fn icmpv6_mtu_only_on_packet_too_big_and_ipv6_rules_only_on_ipv6() {
    let mut e = engine(concat!(
        "alert ipv6 any any -> any any (icmpv6.mtu:<1280; sid:1;)\n",
        "alert ipv6 any any -> any any (content:\"x\"; sid:2;)\n",
        "alert ipv4 any any -> any any (content:\"x\"; sid:3;)\n",
    ));
    let icmp6 = |typ: u8, code: u8, rest: [u8; 4]| {
        let mut v = Vec::new();
        PacketBuilder::ipv6(v6(2, 1), v6(2, 2), 64)
            .icmpv6_raw(typ, code, rest)
            .write(&mut v, &[0; 40])
            .unwrap();
        v
    };
    let mtu = |m: u32| m.to_be_bytes();
    assert_eq!(
        e.all(&[
            icmp6(2, 0, mtu(1200)),
            icmp6(2, 0, mtu(1280)),
            // Not Packet Too Big, or a code other than 0: no MTU.
            icmp6(128, 0, mtu(1200)),
            icmp6(2, 1, mtu(1200)),
            udp(CLI, SRV, 5000, 53, b"x"),
            udp6(v6(2, 1), v6(2, 2), 5000, 53, b"x"),
        ]),
        vec![vec![1], vec![], vec![], vec![], vec![3], vec![2]]
    );
}

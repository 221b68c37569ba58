use super::*;
use etherparse::PacketBuilder;

const A: [u8; 4] = [192, 0, 2, 1];
const B: [u8; 4] = [198, 51, 100, 1];
const A6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// The inner packet the tests look for: an ICMP echo request.
fn ping4() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

fn ping6() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(A6, B6, 64)
        .icmpv6_echo_request(7, 1)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

fn ip4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
    p.extend_from_slice(&A);
    p.extend_from_slice(&B);
    let total = (20 + payload.len()) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn ip6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 0, next, 64];
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&A6);
    p.extend_from_slice(&B6);
    p.extend_from_slice(payload);
    p
}

fn udp4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(A, B, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn eth(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The inner packet `outer` carries under the default config.
fn decap(outer: &[u8]) -> Option<(Encap, Vec<u8>)> {
    decap_with(outer, &TunnelConfig::default())
}

fn decap_with(outer: &[u8], cfg: &TunnelConfig) -> Option<(Encap, Vec<u8>)> {
    let p = Packet::parse(outer).ok()?;
    let i = inner(&p, cfg)?;
    Some((i.encap, outer[i.range].to_vec()))
}

/// Every prefix of a tunnel packet, and every byte of it flipped, decodes without a panic.
fn no_panic_on_damage(outer: &[u8]) {
    let cfg = TunnelConfig::default();
    for n in 0..outer.len() {
        let _ = decap_with(&outer[..n], &cfg);
    }
    for i in 0..outer.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut d = outer.to_vec();
            d[i] ^= x;
            let _ = decap_with(&d, &cfg);
        }
    }
}

const GRE: Encap = Encap::Gre { csum_at: None };
const ERSPAN: Encap = Encap::Erspan { csum_at: None };

#[test]
fn gre_version_0_payloads() {
    let inner = ping4();
    let plain = ip4(47, &cat(&[&[0, 0, 0x08, 0x00], &inner]));
    assert_eq!(decap(&plain), Some((GRE, inner.clone())));
    // Key and sequence number; checksum (its position recorded for rewrites).
    let keyed = ip4(
        47,
        &cat(&[&[0x30, 0, 0x08, 0x00, 0, 0, 0, 9, 0, 0, 0, 1], &inner]),
    );
    assert_eq!(decap(&keyed), Some((GRE, inner.clone())));
    let summed = ip4(47, &cat(&[&[0x80, 0, 0x08, 0x00, 0, 0, 0, 0], &inner]));
    let csum_at = Some(20 + 4);
    assert_eq!(
        decap(&summed),
        Some((Encap::Gre { csum_at }, inner.clone()))
    );
    // IPv6 inside, IPv6 outside.
    let v6 = ping6();
    let over6 = ip6(47, &cat(&[&[0, 0, 0x86, 0xdd], &v6]));
    assert_eq!(decap(&over6), Some((GRE, v6.clone())));
    // Transparent Ethernet bridging, and a VLAN tag right after the GRE header.
    let teb = ip4(47, &cat(&[&[0, 0, 0x65, 0x58], &eth(0x0800, &inner)]));
    assert_eq!(decap(&teb), Some((GRE, inner.clone())));
    let vlan = ip4(47, &cat(&[&[0, 0, 0x81, 0x00, 0, 5, 0x08, 0x00], &inner]));
    assert_eq!(decap(&vlan), Some((GRE, inner.clone())));
    // Source routing (RFC 1701): two entries, the null one ends the list.
    let routed = ip4(
        47,
        &cat(&[
            &[0x40, 0, 0x08, 0x00, 0, 0, 0, 0],
            &[0x08, 0x00, 0, 4, 1, 2, 3, 4],
            &[0, 0, 0, 0],
            &inner,
        ]),
    );
    assert_eq!(decap(&routed), Some((GRE, inner.clone())));
    // Recursion bits, reserved flags, version 2, an unknown payload: not decoded.
    for head in [
        [0x01, 0, 0x08, 0x00],
        [0, 0x40, 0x08, 0x00],
        [0, 2, 0x08, 0x00],
        [0, 0, 0x12, 0x34],
    ] {
        assert_eq!(decap(&ip4(47, &cat(&[&head, &inner]))), None, "{head:?}");
    }
    // A payload type that does not match the IP version inside.
    assert_eq!(decap(&ip4(47, &cat(&[&[0, 0, 0x86, 0xdd], &inner]))), None);
    no_panic_on_damage(&routed);
    no_panic_on_damage(&teb);
}

#[test]
fn gre_version_1_pptp_carries_ppp() {
    let inner = ping4();
    // Key (payload length, call id), sequence number, then PPP with HDLC bytes.
    let ppp = cat(&[&[0xff, 0x03, 0x00, 0x21], &inner]);
    let len = (ppp.len() as u16).to_be_bytes();
    let head = [0x30, 0x01, 0x88, 0x0b, len[0], len[1], 0, 1, 0, 0, 0, 1];
    let pptp = ip4(47, &cat(&[&head, &ppp]));
    assert_eq!(decap(&pptp), Some((GRE, inner.clone())));
    // With the acknowledgment number as well, and a compressed protocol field.
    let ppp_short = cat(&[&[0x21], &inner[..]]);
    let len = (ppp_short.len() as u16).to_be_bytes();
    let head = [
        0x30, 0x81, 0x88, 0x0b, len[0], len[1], 0, 1, 0, 0, 0, 1, 0, 0, 0, 2,
    ];
    assert_eq!(
        decap(&ip4(47, &cat(&[&head, &ppp_short]))),
        Some((GRE, inner.clone()))
    );
    // Without a key, with a checksum, or with a zero payload length (an ack): not decoded.
    for head in [
        [0x10, 0x01, 0x88, 0x0b, 0, 8, 0, 1, 0, 0, 0, 1],
        [0xb0, 0x01, 0x88, 0x0b, 0, 8, 0, 1, 0, 0, 0, 1],
        [0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 1],
    ] {
        assert_eq!(decap(&ip4(47, &cat(&[&head, &ppp]))), None, "{head:?}");
    }
    // PPP control protocols carry no packet.
    let lcp = cat(&[&[0xff, 0x03, 0xc0, 0x21], &inner[..]]);
    let len = (lcp.len() as u16).to_be_bytes();
    let head = [0x20, 0x01, 0x88, 0x0b, len[0], len[1], 0, 1];
    assert_eq!(decap(&ip4(47, &cat(&[&head, &lcp]))), None);
    no_panic_on_damage(&pptp);
}

#[test]
fn erspan_types_one_two_and_three() {
    let inner = ping4();
    let frame = eth(0x0800, &inner);
    // Type I: no sequence number, the mirrored frame right after the GRE header.
    let t1 = ip4(47, &cat(&[&[0, 0, 0x88, 0xbe], &frame]));
    assert_eq!(decap(&t1), Some((ERSPAN, inner.clone())));
    // Type II: sequence number, then an 8-byte header of version 1 (VLAN 5 here).
    let t2 = ip4(
        47,
        &cat(&[
            &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1],
            &[0x10, 5, 0, 0, 0, 0, 0, 0],
            &frame,
        ]),
    );
    assert_eq!(decap(&t2), Some((ERSPAN, inner.clone())));
    let bad_version = ip4(
        47,
        &cat(&[
            &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1],
            &[0x20, 5, 0, 0, 0, 0, 0, 0],
            &frame,
        ]),
    );
    assert_eq!(decap(&bad_version), None);
    // Type III: a 12-byte header of version 2, with and without the platform subheader.
    let t3_head = [0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let t3 = ip4(
        47,
        &cat(&[&[0x10, 0, 0x22, 0xeb, 0, 0, 0, 1], &t3_head, &frame]),
    );
    assert_eq!(decap(&t3), Some((ERSPAN, inner.clone())));
    let mut t3o_head = t3_head;
    t3o_head[11] = 0x01;
    let t3o = ip4(
        47,
        &cat(&[
            &[0x10, 0, 0x22, 0xeb, 0, 0, 0, 1],
            &t3o_head,
            &[0; 8],
            &frame,
        ]),
    );
    assert_eq!(decap(&t3o), Some((ERSPAN, inner.clone())));
    no_panic_on_damage(&t2);
    no_panic_on_damage(&t3o);
}

#[test]
fn ip_in_ip_every_combination() {
    let (v4, v6) = (ping4(), ping6());
    assert_eq!(decap(&ip4(4, &v4)), Some((Encap::IpInIp, v4.clone())));
    assert_eq!(decap(&ip4(41, &v6)), Some((Encap::IpInIp, v6.clone())));
    assert_eq!(decap(&ip6(4, &v4)), Some((Encap::IpInIp, v4.clone())));
    assert_eq!(decap(&ip6(41, &v6)), Some((Encap::IpInIp, v6.clone())));
    // The protocol number names the version inside.
    assert_eq!(decap(&ip4(4, &v6)), None);
    assert_eq!(decap(&ip4(41, &v4)), None);
    // Off in the config: not looked into.
    let off = TunnelConfig {
        ipip: false,
        ..TunnelConfig::default()
    };
    assert_eq!(decap_with(&ip4(4, &v4), &off), None);
    // A fragment of a tunnel packet is not a tunnel packet.
    let mut frag = ip4(4, &v4);
    frag[6] = 0x20;
    assert_eq!(decap(&frag), None);
    no_panic_on_damage(&ip6(4, &v4));
}

#[test]
fn teredo_as_suricata_recognises_it() {
    let v6 = ping6();
    let plain = udp4(40000, 3544, &v6);
    assert_eq!(decap(&plain), Some((Encap::Teredo, v6.clone())));
    // Origin indication first.
    let origin = udp4(3544, 40000, &cat(&[&[0, 0, 1, 2, 3, 4, 5, 6], &v6]));
    assert_eq!(decap(&origin), Some((Encap::Teredo, v6.clone())));
    // Authentication (a negotiation), hop limit 0, a length that is not the rest: no.
    let auth = udp4(40000, 3544, &cat(&[&[0, 1, 0, 0, 0, 0, 0, 0], &v6]));
    assert_eq!(decap(&auth), None);
    let mut hlim0 = v6.clone();
    hlim0[7] = 0;
    assert_eq!(decap(&udp4(40000, 3544, &hlim0)), None);
    assert_eq!(decap(&udp4(40000, 3544, &cat(&[&v6, b"x"]))), None);
    // Another port: only when the config names no ports (Suricata without `ports`).
    assert_eq!(decap(&udp4(40000, 5000, &v6)), None);
    let any = TunnelConfig {
        teredo_ports: vec![],
        ..TunnelConfig::default()
    };
    assert_eq!(
        decap_with(&udp4(40000, 5000, &v6), &any),
        Some((Encap::Teredo, v6.clone()))
    );
    no_panic_on_damage(&origin);
}

#[test]
fn vxlan_by_destination_port_with_strict_reserved_bits() {
    let inner = ping4();
    let vx = |flags: [u8; 8]| cat(&[&flags, &eth(0x0800, &inner)]);
    let good = [0x08, 0, 0, 0, 0, 0, 42, 0];
    let pkt = udp4(50000, 4789, &vx(good));
    assert_eq!(decap(&pkt), Some((Encap::Vxlan, inner.clone())));
    // RFC 7348: the destination port identifies VXLAN, not the source port.
    assert_eq!(decap(&udp4(4789, 50000, &vx(good))), None);
    // I flag missing; a group-policy (GBP) header; reserved byte set.
    for bad in [
        [0, 0, 0, 0, 0, 0, 42, 0],
        [0x88, 0, 0x12, 0x34, 0, 0, 42, 0],
        [0x08, 0, 0, 0, 0, 0, 42, 1],
    ] {
        assert_eq!(decap(&udp4(50000, 4789, &vx(bad))), None, "{bad:?}");
    }
    // ARP inside: a VXLAN packet, but no IP packet to inspect.
    let arp = cat(&[&good, &eth(0x0806, &[0; 28])]);
    assert_eq!(decap(&udp4(50000, 4789, &arp)), None);
    // Another configured port.
    let cfg = TunnelConfig {
        vxlan_ports: vec![8472],
        ..TunnelConfig::default()
    };
    assert_eq!(decap_with(&pkt, &cfg), None);
    assert_eq!(
        decap_with(&udp4(50000, 8472, &vx(good)), &cfg),
        Some((Encap::Vxlan, inner.clone()))
    );
    no_panic_on_damage(&pkt);
}

#[test]
fn geneve_options_must_add_up() {
    let inner = ping4();
    // Two 8-byte options (4 words), Ethernet inside.
    let opts = [1, 8, 0, 1, 0x11, 0x11, 0x11, 0x11];
    let head = [0x04, 0, 0x65, 0x58, 0, 0, 0x25, 0];
    let pkt = udp4(
        50000,
        6081,
        &cat(&[&head, &opts, &opts, &eth(0x0800, &inner)]),
    );
    assert_eq!(decap(&pkt), Some((Encap::Geneve, inner.clone())));
    // IPv4 directly, on the source port.
    let direct = udp4(
        6081,
        50000,
        &cat(&[&[0, 0, 0x08, 0x00, 0, 0, 0x25, 0], &inner]),
    );
    assert_eq!(decap(&direct), Some((Encap::Geneve, inner.clone())));
    // Option lengths past the header's, version 1, reserved flags: not decoded.
    let long_opt = [1, 8, 0, 2, 0x11, 0x11, 0x11, 0x11];
    for (head, opt) in [
        ([0x02, 0, 0x65, 0x58, 0, 0, 0x25, 0], long_opt),
        ([0x42, 0, 0x65, 0x58, 0, 0, 0x25, 0], opts),
        ([0x02, 0x01, 0x65, 0x58, 0, 0, 0x25, 0], opts),
    ] {
        let p = udp4(50000, 6081, &cat(&[&head, &opt, &eth(0x0800, &inner)]));
        assert_eq!(decap(&p), None, "{head:?}");
    }
    no_panic_on_damage(&pkt);
}

#[test]
fn udp_that_is_no_tunnel_is_left_alone() {
    assert_eq!(decap(&udp4(5000, 53, b"\x12\x34\x01\x00")), None);
    assert_eq!(decap(&udp4(5000, 4789, b"short")), None);
    assert_eq!(
        decap_with(&udp4(5000, 4789, &[0; 60]), &TunnelConfig::off()),
        None
    );
    let steer = TunnelConfig::default().steer();
    assert_eq!(steer.udp_ports, vec![3544, 4789, 6081]);
    assert_eq!(
        steer.protos,
        vec![L4Proto::Gre, L4Proto::IpIp, L4Proto::Ipv6InIp]
    );
    assert!(!steer.udp_all);
    assert_eq!(TunnelConfig::off().steer(), TunnelSteer::default());
}

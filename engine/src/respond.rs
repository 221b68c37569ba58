//! Active response for `reject` rules: forged TCP resets and ICMP unreachables.
//!
//! The offending packet itself is dropped by the caller; this module builds the replies from
//! it ([`forge`], pure, unit-tested on the bytes) and sends them from raw sockets
//! ([`Responder`]). For TCP both ends are reset by default, so neither side is left waiting on
//! a connection that will never make progress:
//! - to the sender, as if from the receiver: `seq` = the packet's `ack`, `ack` = its `seq` +
//!   payload (+1 for SYN/FIN) — exactly what the sender expects next;
//! - to the receiver, as if from the sender: `seq` = the packet's `seq`. The dropped packet
//!   never reached the receiver, so its `rcv_nxt` is still that value; a reset one payload
//!   further would only earn a challenge ACK (RFC 5961), not a reset.
//!
//! Other protocols get an ICMP (v4: type 3, v6: type 1) port unreachable quoting the offending
//! packet, like a closed port would answer. No reply is ever sent for a TCP reset or an ICMP
//! error, so two engines cannot ping-pong.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TcpHeader, TransportSlice};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use verdict_compiler::ir::RejectTarget;

/// TTL / hop limit of forged packets.
const HOP_LIMIT: u8 = 64;
/// Largest ICMPv4 error we send (RFC 1812 4.3.2.3: as much as fits in 576 bytes).
const ICMP4_MAX: usize = 576;
/// Largest ICMPv6 error we send (RFC 4443 2.4 (c): not exceeding the minimum IPv6 MTU).
const ICMP6_MAX: usize = 1280;
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const ICMP_HEADER: usize = 8;

/// One forged packet: a whole IP packet and where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forged {
    /// Destination address (also inside `bytes`; raw sockets want it separately).
    pub dst: IpAddr,
    /// The IP packet, header included, checksums filled in.
    pub bytes: Vec<u8>,
}

/// Why no reply could be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    /// The packet is not a well-formed IPv4/IPv6 packet.
    #[error("cannot parse the packet to reject: {0}")]
    Parse(String),
    /// A raw socket could not be opened or written.
    #[error("raw socket")]
    Io(#[from] io::Error),
}

/// Builds the replies that reject `pkt` (an L3 packet). Empty when the packet must not be
/// answered (a reset, an ICMP error, a non-IP packet).
pub fn forge(pkt: &[u8], target: RejectTarget) -> Result<Vec<Forged>, RespondError> {
    let sliced = SlicedPacket::from_ip(pkt).map_err(|e| RespondError::Parse(e.to_string()))?;
    let (src, dst, ip_len) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            usize::from(v4.header().total_len()).clamp(IPV4_HEADER, pkt.len()),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            (IPV6_HEADER + usize::from(v6.header().payload_length())).min(pkt.len()),
        ),
        _ => return Ok(Vec::new()),
    };
    let (to_src, to_dst) = match target {
        RejectTarget::Default | RejectTarget::Both => (true, true),
        RejectTarget::Src => (true, false),
        RejectTarget::Dst => (false, true),
    };
    let mut out = Vec::new();
    match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            if tcp.rst() {
                return Ok(out);
            }
            let seq = tcp.sequence_number();
            let len = tcp.payload().len() as u32 + u32::from(tcp.syn()) + u32::from(tcp.fin());
            if to_src {
                // Without an ACK the sender has no sequence number of ours to expect: a
                // reset then carries seq 0 and acknowledges what it sent (RFC 793 "Reset
                // Generation").
                let rst_seq = if tcp.ack() {
                    tcp.acknowledgment_number()
                } else {
                    0
                };
                let mut h = TcpHeader::new(tcp.destination_port(), tcp.source_port(), rst_seq, 0);
                h.rst = true;
                h.ack = true;
                h.acknowledgment_number = seq.wrapping_add(len);
                out.push(build_tcp(dst, src, h)?);
            }
            // A SYN opens nothing on the receiver yet: there is nothing to reset there.
            if to_dst && !tcp.syn() {
                let mut h = TcpHeader::new(tcp.source_port(), tcp.destination_port(), seq, 0);
                h.rst = true;
                if tcp.ack() {
                    h.ack = true;
                    h.acknowledgment_number = tcp.acknowledgment_number();
                }
                out.push(build_tcp(src, dst, h)?);
            }
        }
        Some(TransportSlice::Icmpv4(icmp)) if is_icmp4_error(icmp.type_u8()) => {}
        Some(TransportSlice::Icmpv6(icmp)) if icmp.type_u8() < 128 => {}
        transport => {
            let is_udp = matches!(transport, Some(TransportSlice::Udp(_)));
            let quoted = &pkt[..ip_len];
            if to_src {
                out.push(build_unreachable(dst, src, quoted, is_udp)?);
            }
            if to_dst && !to_src {
                out.push(build_unreachable(src, dst, quoted, is_udp)?);
            }
        }
    }
    Ok(out)
}

fn is_icmp4_error(t: u8) -> bool {
    matches!(t, 3 | 4 | 5 | 11 | 12)
}

fn build_tcp(from: IpAddr, to: IpAddr, h: TcpHeader) -> Result<Forged, RespondError> {
    let builder = match (from, to) {
        (IpAddr::V4(f), IpAddr::V4(t)) => PacketBuilder::ipv4(f.octets(), t.octets(), HOP_LIMIT),
        (IpAddr::V6(f), IpAddr::V6(t)) => PacketBuilder::ipv6(f.octets(), t.octets(), HOP_LIMIT),
        _ => return Err(RespondError::Parse("mixed address families".into())),
    }
    .tcp_header(h);
    let mut bytes = Vec::with_capacity(builder.size(0));
    builder
        .write(&mut bytes, &[])
        .map_err(|e| RespondError::Parse(e.to_string()))?;
    Ok(Forged { dst: to, bytes })
}

fn build_unreachable(
    from: IpAddr,
    to: IpAddr,
    quoted: &[u8],
    is_udp: bool,
) -> Result<Forged, RespondError> {
    let mut bytes = Vec::new();
    match (from, to) {
        (IpAddr::V4(f), IpAddr::V4(t)) => {
            // 3/3 port unreachable for UDP, 3/2 protocol unreachable for other protocols.
            let code = if is_udp { 3 } else { 2 };
            let quoted = &quoted[..quoted.len().min(ICMP4_MAX - IPV4_HEADER - ICMP_HEADER)];
            PacketBuilder::ipv4(f.octets(), t.octets(), HOP_LIMIT)
                .icmpv4_raw(3, code, [0; 4])
                .write(&mut bytes, quoted)
                .map_err(|e| RespondError::Parse(e.to_string()))?;
        }
        (IpAddr::V6(f), IpAddr::V6(t)) => {
            // ICMPv6 destination unreachable, code 4: port unreachable.
            let quoted = &quoted[..quoted.len().min(ICMP6_MAX - IPV6_HEADER - ICMP_HEADER)];
            PacketBuilder::ipv6(f.octets(), t.octets(), HOP_LIMIT)
                .icmpv6_raw(1, 4, [0; 4])
                .write(&mut bytes, quoted)
                .map_err(|e| RespondError::Parse(e.to_string()))?;
        }
        _ => return Err(RespondError::Parse("mixed address families".into())),
    }
    Ok(Forged { dst: to, bytes })
}

/// Raw sockets that send forged IPv4 and IPv6 packets (header included). One per worker:
/// sending needs no coordination between threads.
#[derive(Debug)]
pub struct Responder {
    v4: Socket,
    v6: Option<Socket>,
}

impl Responder {
    /// Opens the raw sockets (needs CAP_NET_RAW). IPv6 is optional: a host without IPv6 can
    /// still reject IPv4.
    pub fn new() -> io::Result<Responder> {
        let v4 = raw_socket(Domain::IPV4)?;
        let v6 = raw_socket(Domain::IPV6).ok();
        Ok(Responder { v4, v6 })
    }

    /// Builds and sends the replies rejecting `pkt`; returns how many were sent.
    pub fn reject(&self, pkt: &[u8], target: RejectTarget) -> Result<usize, RespondError> {
        let forged = forge(pkt, target)?;
        for f in &forged {
            self.send(f)?;
        }
        Ok(forged.len())
    }

    /// Sends one forged packet.
    pub fn send(&self, f: &Forged) -> io::Result<()> {
        let sock = match f.dst {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => self
                .v6
                .as_ref()
                .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "no IPv6 raw socket"))?,
        };
        // The port of a raw socket's destination is ignored; the packet carries its own.
        let sent = sock.send_to(&f.bytes, &SockAddr::from(SocketAddr::new(f.dst, 0)))?;
        if sent != f.bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("raw send wrote {sent} of {} bytes", f.bytes.len()),
            ));
        }
        Ok(())
    }
}

/// `IPPROTO_RAW` implies "header included" for both families on Linux, so the forged source
/// address (the peer's, not ours) goes out as built. socket2 sets close-on-exec.
fn raw_socket(domain: Domain) -> io::Result<Socket> {
    Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv4Type, Icmpv6Type};
    use std::net::Ipv6Addr;

    const CLI: [u8; 4] = [192, 0, 2, 2];
    const SRV: [u8; 4] = [198, 51, 100, 2];

    fn tcp_packet(flags: impl Fn(&mut TcpHeader), payload: &[u8]) -> Vec<u8> {
        let mut h = TcpHeader::new(40000, 80, 1000, 64240);
        h.ack = true;
        h.psh = true;
        h.acknowledgment_number = 5000;
        flags(&mut h);
        let b = PacketBuilder::ipv4(CLI, SRV, 63).tcp_header(h);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    fn parse_tcp(f: &Forged) -> (IpAddr, IpAddr, TcpHeader) {
        let s = SlicedPacket::from_ip(&f.bytes).unwrap();
        let (src, dst) = match s.net.unwrap() {
            NetSlice::Ipv4(v4) => (
                IpAddr::V4(v4.header().source_addr()),
                IpAddr::V4(v4.header().destination_addr()),
            ),
            NetSlice::Ipv6(v6) => (
                IpAddr::V6(v6.header().source_addr()),
                IpAddr::V6(v6.header().destination_addr()),
            ),
            _ => unreachable!(),
        };
        match s.transport.unwrap() {
            TransportSlice::Tcp(t) => (src, dst, t.to_header()),
            _ => panic!("not tcp"),
        }
    }

    fn checksums_ok(f: &Forged) -> bool {
        let s = SlicedPacket::from_ip(&f.bytes).unwrap();
        match (s.net.unwrap(), s.transport.unwrap()) {
            (NetSlice::Ipv4(v4), TransportSlice::Tcp(t)) => {
                let h = v4.header().to_header();
                h.header_checksum == h.calc_header_checksum()
                    && t.checksum() == t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap()
            }
            (NetSlice::Ipv6(v6), TransportSlice::Tcp(t)) => {
                let h = v6.header().to_header();
                t.checksum() == t.to_header().calc_checksum_ipv6(&h, t.payload()).unwrap()
            }
            (NetSlice::Ipv4(v4), TransportSlice::Icmpv4(i)) => {
                let h = v4.header().to_header();
                h.header_checksum == h.calc_header_checksum()
                    && i.checksum() == i.header().icmp_type.calc_checksum(i.payload())
            }
            (NetSlice::Ipv6(v6), TransportSlice::Icmpv6(i)) => {
                let h = v6.header().to_header();
                i.checksum()
                    == i.header()
                        .icmp_type
                        .calc_checksum(h.source, h.destination, i.payload())
                        .unwrap()
            }
            _ => false,
        }
    }

    #[test]
    fn tcp_reject_resets_both_ends_with_expected_sequence_numbers() {
        let pkt = tcp_packet(|_| {}, b"0123456789");
        let out = forge(&pkt, RejectTarget::Default).unwrap();
        assert_eq!(out.len(), 2);
        let (s, d, h) = parse_tcp(&out[0]);
        assert_eq!((s, d), (IpAddr::from(SRV), IpAddr::from(CLI)));
        assert_eq!((h.source_port, h.destination_port), (80, 40000));
        assert!(h.rst && h.ack);
        assert_eq!(h.sequence_number, 5000);
        assert_eq!(h.acknowledgment_number, 1010);
        let (s, d, h) = parse_tcp(&out[1]);
        assert_eq!((s, d), (IpAddr::from(CLI), IpAddr::from(SRV)));
        assert_eq!((h.source_port, h.destination_port), (40000, 80));
        assert!(h.rst);
        assert_eq!(h.sequence_number, 1000);
        assert!(out.iter().all(checksums_ok));
    }

    #[test]
    fn tcp_reject_targets_and_syn() {
        let pkt = tcp_packet(|_| {}, b"x");
        assert_eq!(
            forge(&pkt, RejectTarget::Src).unwrap()[0].dst,
            IpAddr::from(CLI)
        );
        let only_dst = forge(&pkt, RejectTarget::Dst).unwrap();
        assert_eq!(only_dst.len(), 1);
        assert_eq!(only_dst[0].dst, IpAddr::from(SRV));
        // SYN: reset only the initiator, acknowledging its SYN.
        let syn = tcp_packet(
            |h| {
                h.syn = true;
                h.ack = false;
                h.psh = false;
                h.acknowledgment_number = 0;
            },
            b"",
        );
        let out = forge(&syn, RejectTarget::Both).unwrap();
        assert_eq!(out.len(), 1);
        let (_, d, h) = parse_tcp(&out[0]);
        assert_eq!(d, IpAddr::from(CLI));
        assert_eq!((h.sequence_number, h.acknowledgment_number), (0, 1001));
        // Never answer a reset.
        let rst = tcp_packet(|h| h.rst = true, b"");
        assert!(forge(&rst, RejectTarget::Both).unwrap().is_empty());
    }

    #[test]
    fn tcp_reject_ipv6() {
        let cli: [u8; 16] = "2001:db8:1::2".parse::<Ipv6Addr>().unwrap().octets();
        let srv: [u8; 16] = "2001:db8:2::2".parse::<Ipv6Addr>().unwrap().octets();
        let mut h = TcpHeader::new(40000, 80, 7, 100);
        h.ack = true;
        h.acknowledgment_number = 9;
        let mut pkt = Vec::new();
        PacketBuilder::ipv6(cli, srv, 63)
            .tcp_header(h)
            .write(&mut pkt, b"abc")
            .unwrap();
        let out = forge(&pkt, RejectTarget::Default).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(checksums_ok));
        let (_, d, h) = parse_tcp(&out[0]);
        assert_eq!(d, IpAddr::from(cli));
        assert_eq!((h.sequence_number, h.acknowledgment_number), (9, 10));
    }

    #[test]
    fn udp_reject_is_port_unreachable_quoting_the_packet() {
        let mut pkt = Vec::new();
        PacketBuilder::ipv4(CLI, SRV, 63)
            .udp(5353, 53)
            .write(&mut pkt, &[7u8; 1000])
            .unwrap();
        let out = forge(&pkt, RejectTarget::Default).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dst, IpAddr::from(CLI));
        assert!(out[0].bytes.len() <= ICMP4_MAX);
        assert!(checksums_ok(&out[0]));
        let s = SlicedPacket::from_ip(&out[0].bytes).unwrap();
        let Some(TransportSlice::Icmpv4(i)) = s.transport else {
            panic!()
        };
        assert!(matches!(
            i.icmp_type(),
            Icmpv4Type::DestinationUnreachable(_)
        ));
        assert_eq!(i.code_u8(), 3);
        assert_eq!(&i.payload()[..28], &pkt[..28]);
        // An ICMP error about our own ICMP error would be a loop.
        assert!(forge(&out[0].bytes, RejectTarget::Default)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn udp_reject_ipv6() {
        let cli: [u8; 16] = "2001:db8:1::2".parse::<Ipv6Addr>().unwrap().octets();
        let srv: [u8; 16] = "2001:db8:2::2".parse::<Ipv6Addr>().unwrap().octets();
        let mut pkt = Vec::new();
        PacketBuilder::ipv6(cli, srv, 63)
            .udp(5353, 53)
            .write(&mut pkt, &[1u8; 2000])
            .unwrap();
        let out = forge(&pkt, RejectTarget::Default).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].bytes.len() <= ICMP6_MAX);
        assert!(checksums_ok(&out[0]));
        let s = SlicedPacket::from_ip(&out[0].bytes).unwrap();
        let Some(TransportSlice::Icmpv6(i)) = s.transport else {
            panic!()
        };
        assert!(matches!(
            i.icmp_type(),
            Icmpv6Type::DestinationUnreachable(_)
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for len in 0..60 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 0x45) as u8).collect();
            let _ = forge(&junk, RejectTarget::Both);
        }
        let pkt = tcp_packet(|_| {}, b"0123456789");
        for cut in 0..pkt.len() {
            let _ = forge(&pkt[..cut], RejectTarget::Both);
        }
    }
}

//! Typed, zero-copy views of L3 packets (IPv4/IPv6 with extension headers, TCP, UDP,
//! ICMP/ICMPv6), built on etherparse's lax slicing.
//!
//! [`Packet::parse`] validates once; after it no accessor can panic. Truncated captures
//! (snaplen shorter than the IP length) still parse: the payload is what was captured and
//! [`Packet::truncated`] says so, because detection on a partial payload is still useful
//! offline. Rewriting is only possible through [`PacketMut`], which fixes checksums.

pub mod defrag;
pub mod hdr;
pub mod link;
pub mod tcpopt;
pub mod tunnel;

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::IpAddr;

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not an IPv4/IPv6 packet (e.g. ARP behind an Ethernet header).
    #[error("not an IP packet")]
    NotIp,
    /// Headers are cut short or carry impossible lengths.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// The link-layer type of a capture is not supported.
    #[error("unsupported link type {0}")]
    LinkType(u32),
}

/// TCP flag bits as used by the `flags` keyword.
pub mod tcp_flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
    /// URG
    pub const URG: u8 = 0x20;
    /// ECE
    pub const ECE: u8 = 0x40;
    /// CWR
    pub const CWR: u8 = 0x80;
}

/// IP protocol numbers the engine distinguishes.
pub mod proto {
    /// ICMP
    pub const ICMP: u8 = 1;
    /// TCP
    pub const TCP: u8 = 6;
    /// UDP
    pub const UDP: u8 = 17;
    /// ICMPv6
    pub const ICMPV6: u8 = 58;
    /// SCTP
    pub const SCTP: u8 = 132;
}

/// Bytes of the fixed ICMPv4/ICMPv6 header (type, code, checksum, 4 type-specific bytes).
const ICMP_HEADER_LEN: usize = 8;
/// Bytes of the SCTP common header (ports, verification tag, checksum).
const SCTP_HEADER_LEN: usize = 12;

/// IP-layer fields the rules can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol number (after IPv6 extension headers).
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// TOS / traffic class.
    pub tos: u8,
    /// IPv4 identification (IPv6: fragment header id, else 0).
    pub id: u32,
    /// Fragment bits as the `fragbits` keyword numbers them: M=1, D=2, R=4.
    pub frag_bits: u8,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// True if this packet is a fragment (MF set or offset non-zero).
    pub fragmented: bool,
    /// True if the IPv4 header has options.
    pub has_options: bool,
}

/// Transport-layer header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Hdr {
    /// TCP.
    Tcp {
        /// source port
        sport: u16,
        /// destination port
        dport: u16,
        /// sequence number
        seq: u32,
        /// acknowledgment number
        ack: u32,
        /// flag bits (see [`tcp_flags`])
        flags: u8,
        /// window
        window: u16,
    },
    /// UDP.
    Udp {
        /// source port
        sport: u16,
        /// destination port
        dport: u16,
    },
    /// SCTP (RFC 9260): the common header's ports; the chunks are the payload.
    Sctp {
        /// source port
        sport: u16,
        /// destination port
        dport: u16,
    },
    /// ICMP or ICMPv6.
    Icmp {
        /// ICMPv6
        v6: bool,
        /// type
        typ: u8,
        /// code
        code: u8,
        /// identifier (echo)
        id: u16,
        /// sequence (echo)
        seq: u16,
    },
    /// Another protocol, or a fragment whose transport header is not decoded.
    Other,
}

/// Byte offsets of the layers inside the packet buffer, for rewriting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// 4 or 6
    pub version: u8,
    /// Transport protocol number.
    pub proto: u8,
    /// Start of the transport header.
    pub l4_off: usize,
    /// End of the IP payload (excludes link padding).
    pub l4_end: usize,
    /// Start of the transport payload.
    pub payload_off: usize,
}

/// A parsed L3 packet (IP header first).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    data: &'a [u8],
    ip: IpInfo,
    l4: L4Hdr,
    payload: &'a [u8],
    layout: Layout,
    truncated: bool,
}

/// True for the layers of IPv6 extension headers (and the authentication header, which IPv4
/// can carry too).
fn ext_header(l: etherparse::err::Layer) -> bool {
    use etherparse::err::Layer::*;
    matches!(
        l,
        Ipv6ExtHeader
            | Ipv6HopByHopHeader
            | Ipv6DestOptionsHeader
            | Ipv6RouteHeader
            | Ipv6FragHeader
            | IpAuthHeader
    )
}

/// Whether a UDP length field fits the IP payload of `available` bytes: at least the 8-byte
/// header and no more than the payload. IPv6 allows 0 for a jumbogram (RFC 2675), whose
/// length is the hop-by-hop option's.
fn udp_length_fits(len: u16, available: usize, version: u8) -> bool {
    (len == 0 && version == 6) || (8..=available).contains(&usize::from(len))
}

fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    // Both slices come from the same buffer (etherparse slices are sub-slices), so the address
    // difference is the offset; saturating keeps it total if that ever did not hold.
    (inner.as_ptr() as usize)
        .saturating_sub(outer.as_ptr() as usize)
        .min(outer.len())
}

impl<'a> Packet<'a> {
    /// Parses an L3 packet. Truncated captures parse (see [`Packet::truncated`]); headers that
    /// cannot be decoded at all are an error.
    pub fn parse(data: &'a [u8]) -> Result<Packet<'a>, WireError> {
        let version = data
            .first()
            .map(|b| b >> 4)
            .ok_or(WireError::Malformed("empty packet"))?;
        if version != 4 && version != 6 {
            return Err(WireError::NotIp);
        }
        let sliced =
            LaxSlicedPacket::from_ip(data).map_err(|_| WireError::Malformed("bad IP header"))?;
        let (ip, ip_payload, incomplete) = match &sliced.net {
            Some(LaxNetSlice::Ipv4(v4)) => {
                let h = v4.header();
                let frag_off = h.fragments_offset().value();
                let mut bits = 0u8;
                if h.more_fragments() {
                    bits |= 1;
                }
                if h.dont_fragment() {
                    bits |= 2;
                }
                if h.slice().get(6).is_some_and(|b| b & 0x80 != 0) {
                    bits |= 4;
                }
                let p = v4.payload();
                (
                    IpInfo {
                        version: 4,
                        src: IpAddr::V4(h.source_addr()),
                        dst: IpAddr::V4(h.destination_addr()),
                        proto: p.ip_number.0,
                        ttl: h.ttl(),
                        tos: h.slice().get(1).copied().unwrap_or(0),
                        id: u32::from(h.identification()),
                        frag_bits: bits,
                        frag_offset: frag_off,
                        fragmented: h.more_fragments() || frag_off != 0,
                        has_options: !h.options().is_empty(),
                    },
                    p.payload,
                    p.incomplete,
                )
            }
            Some(LaxNetSlice::Ipv6(v6)) => {
                let h = v6.header();
                let p = v6.payload();
                let (frag_id, frag_off, more) = v6
                    .extensions()
                    .first_header()
                    .map(|_| ())
                    .and_then(|_| {
                        v6.extensions().clone().into_iter().find_map(|e| match e {
                            etherparse::Ipv6ExtensionSlice::Fragment(f) => Some((
                                f.identification(),
                                f.fragment_offset().value(),
                                f.more_fragments(),
                            )),
                            _ => None,
                        })
                    })
                    .unwrap_or((0, 0, false));
                (
                    IpInfo {
                        version: 6,
                        src: IpAddr::V6(h.source_addr()),
                        dst: IpAddr::V6(h.destination_addr()),
                        proto: p.ip_number.0,
                        ttl: h.hop_limit(),
                        tos: h.traffic_class(),
                        id: frag_id,
                        frag_bits: u8::from(more),
                        frag_offset: frag_off,
                        fragmented: p.fragmented,
                        has_options: false,
                    },
                    p.payload,
                    p.incomplete,
                )
            }
            _ => return Err(WireError::NotIp),
        };
        if !incomplete
            && sliced
                .stop_err
                .as_ref()
                .is_some_and(|(_, l)| ext_header(*l))
        {
            // The packet holds all its IP length announced, yet an extension header claims
            // more: no receiver can find the transport header (Suricata's
            // ipv6.trunc_exthdr). A capture cut short is `incomplete` and still parses.
            return Err(WireError::Malformed(
                "IPv6 extension header past the packet",
            ));
        }
        let l4_off = offset_in(data, ip_payload);
        let l4_end = l4_off + ip_payload.len();
        let (l4, payload) = match &sliced.transport {
            Some(TransportSlice::Tcp(t)) => {
                let flags = t.header_slice().get(13).copied().unwrap_or(0);
                (
                    L4Hdr::Tcp {
                        sport: t.source_port(),
                        dport: t.destination_port(),
                        seq: t.sequence_number(),
                        ack: t.acknowledgment_number(),
                        flags,
                        window: t.window_size(),
                    },
                    t.payload(),
                )
            }
            Some(TransportSlice::Udp(u)) => {
                if !incomplete && !udp_length_fits(u.length(), ip_payload.len(), ip.version) {
                    // etherparse's lax slicing falls back to the IP length; receivers drop
                    // the datagram (RFC 768, Linux `udp_rcv`, Suricata's udp.hlen_invalid).
                    return Err(WireError::Malformed(
                        "UDP length field outside the datagram",
                    ));
                }
                (
                    L4Hdr::Udp {
                        sport: u.source_port(),
                        dport: u.destination_port(),
                    },
                    u.payload(),
                )
            }
            Some(TransportSlice::Icmpv4(i)) => {
                let b = i.bytes5to8();
                (
                    L4Hdr::Icmp {
                        v6: false,
                        typ: i.type_u8(),
                        code: i.code_u8(),
                        id: u16::from_be_bytes([b[0], b[1]]),
                        seq: u16::from_be_bytes([b[2], b[3]]),
                    },
                    i.payload(),
                )
            }
            Some(TransportSlice::Icmpv6(i)) => {
                let b = i.bytes5to8();
                (
                    L4Hdr::Icmp {
                        v6: true,
                        typ: i.type_u8(),
                        code: i.code_u8(),
                        id: u16::from_be_bytes([b[0], b[1]]),
                        seq: u16::from_be_bytes([b[2], b[3]]),
                    },
                    i.payload(),
                )
            }
            // etherparse refuses ICMP messages whose length does not fit their type (a
            // timestamp of other than 20 bytes); Suricata decodes any message of at least
            // the 8-byte header, so do the same.
            _ if !ip.fragmented
                && matches!(ip.proto, proto::ICMP | proto::ICMPV6)
                && ip_payload.len() >= ICMP_HEADER_LEN =>
            {
                let b = ip_payload;
                (
                    L4Hdr::Icmp {
                        v6: ip.proto == proto::ICMPV6,
                        typ: b[0],
                        code: b[1],
                        id: u16::from_be_bytes([b[4], b[5]]),
                        seq: u16::from_be_bytes([b[6], b[7]]),
                    },
                    &b[ICMP_HEADER_LEN..],
                )
            }
            // etherparse does not know SCTP: its common header is read here, as Suricata's
            // DecodeSCTP does (the chunks after it are the payload).
            _ if !ip.fragmented
                && ip.proto == proto::SCTP
                && ip_payload.len() >= SCTP_HEADER_LEN =>
            {
                let b = ip_payload;
                (
                    L4Hdr::Sctp {
                        sport: u16::from_be_bytes([b[0], b[1]]),
                        dport: u16::from_be_bytes([b[2], b[3]]),
                    },
                    &b[SCTP_HEADER_LEN..],
                )
            }
            _ => {
                // A transport header we could not decode (cut short, or a fragment): for the
                // protocols we know, a non-fragment that fails here is malformed.
                let known = matches!(ip.proto, proto::TCP | proto::UDP | proto::SCTP);
                if !ip.fragmented && known && !incomplete {
                    return Err(WireError::Malformed("transport header cut short"));
                }
                (L4Hdr::Other, ip_payload)
            }
        };
        let payload_off = offset_in(data, payload);
        Ok(Packet {
            data,
            ip,
            l4,
            payload,
            layout: Layout {
                version: ip.version,
                proto: ip.proto,
                l4_off,
                l4_end,
                payload_off,
            },
            truncated: incomplete || sliced.stop_err.is_some(),
        })
    }
    /// The whole packet.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// IP fields.
    pub fn ip(&self) -> &IpInfo {
        &self.ip
    }
    /// Transport header.
    pub fn l4(&self) -> &L4Hdr {
        &self.l4
    }
    /// Transport payload (the IP payload for other protocols and fragments).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
    /// Layer offsets.
    pub fn layout(&self) -> Layout {
        self.layout
    }
    /// TCP options: the bytes between the fixed 20-byte TCP header and the payload (empty
    /// for other protocols). See [`tcpopt`].
    pub fn tcp_options(&self) -> &'a [u8] {
        const FIXED_TCP_HEADER: usize = 20;
        match self.l4 {
            L4Hdr::Tcp { .. } => {
                let l = self.layout;
                self.data
                    .get(l.l4_off.saturating_add(FIXED_TCP_HEADER)..l.payload_off)
                    .unwrap_or(&[])
            }
            _ => &[],
        }
    }
    /// True if the capture holds less than the IP header announced.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
    /// Source and destination ports (0 for port-less protocols).
    pub fn ports(&self) -> (u16, u16) {
        match self.l4 {
            L4Hdr::Tcp { sport, dport, .. }
            | L4Hdr::Udp { sport, dport }
            | L4Hdr::Sctp { sport, dport } => (sport, dport),
            _ => (0, 0),
        }
    }
}

/// One's-complement sum of 16-bit big-endian words, not yet folded.
fn sum16(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut s: u64 = 0;
    for c in &mut chunks {
        s += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        s += u64::from(*last) << 8;
    }
    s
}

fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A packet that may be rewritten: payload bytes in place, then checksums fixed.
pub struct PacketMut<'a> {
    buf: &'a mut [u8],
    layout: Layout,
}

impl<'a> PacketMut<'a> {
    /// Wraps a buffer whose layout came from [`Packet::parse`] of the same bytes; returns
    /// `None` if the layout does not fit the buffer.
    pub fn new(buf: &'a mut [u8], layout: Layout) -> Option<PacketMut<'a>> {
        let ok = layout.l4_off <= layout.payload_off
            && layout.payload_off <= layout.l4_end
            && layout.l4_end <= buf.len();
        ok.then_some(PacketMut { buf, layout })
    }
    /// The transport payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.layout.payload_off..self.layout.l4_end]
    }
    /// Recomputes the IPv4 header checksum and the full TCP/UDP checksum (IPv4/IPv6
    /// pseudo-header), whatever the checksum field held before.
    ///
    /// A packet NFQUEUE hands over with a partial checksum (GSO / CHECKSUM_PARTIAL, i.e.
    /// `NFQA_SKB_CSUMNOTREADY`) carries only the pseudo-header sum in that field, to be completed
    /// on transmit. But a verdict with a new payload goes through `nfqnl_mangle`, which marks
    /// the skb CHECKSUM_NONE: nothing completes the sum afterwards (software segmentation of a
    /// GSO packet then checksums each segment itself). So a rewrite always writes the complete
    /// checksum; leaving the partial one would send a corrupt segment.
    pub fn fill_checksums(&mut self) {
        let l = self.layout;
        if l.version == 4 {
            let ihl = usize::from(self.buf[0] & 0x0f) * 4;
            if ihl >= 20 && ihl <= self.buf.len() {
                self.buf[10] = 0;
                self.buf[11] = 0;
                let c = fold(sum16(&self.buf[..ihl]));
                self.buf[10..12].copy_from_slice(&c.to_be_bytes());
            }
        }
        let csum_at = match l.proto {
            proto::TCP => 16,
            proto::UDP => 6,
            _ => return,
        };
        let seg_len = l.l4_end - l.l4_off;
        if seg_len < csum_at + 2 {
            return;
        }
        let pos = l.l4_off + csum_at;
        if l.proto == proto::UDP && l.version == 4 && self.buf[pos] == 0 && self.buf[pos + 1] == 0 {
            // UDP over IPv4 may carry no checksum at all; keep it that way.
            return;
        }
        self.buf[pos] = 0;
        self.buf[pos + 1] = 0;
        let mut s = pseudo_sum(self.buf, l.version, l.proto, seg_len);
        s += sum16(&self.buf[l.l4_off..l.l4_end]);
        let mut c = fold(s);
        if c == 0 && l.proto == proto::UDP {
            c = 0xffff;
        }
        self.buf[pos..pos + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// Bytes of the GRE header before its checksum field (flags and protocol type).
const GRE_CSUM_OFFSET: usize = 4;

/// Recomputes a GRE checksum (RFC 2784: over the GRE header and its payload) whose field
/// lies at `at` in the IP packet `buf`; does nothing when the field is not inside the IP
/// payload.
pub fn fill_gre_checksum(buf: &mut [u8], at: usize) {
    let Ok(end) = Packet::parse(buf).map(|p| p.layout().l4_end) else {
        return;
    };
    let Some(start) = at.checked_sub(GRE_CSUM_OFFSET) else {
        return;
    };
    if at.saturating_add(2) > end || end > buf.len() {
        return;
    }
    buf[at] = 0;
    buf[at + 1] = 0;
    let c = fold(sum16(&buf[start..end]));
    buf[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn pseudo_sum(buf: &[u8], version: u8, proto: u8, seg_len: usize) -> u64 {
    let mut s = 0u64;
    if version == 4 {
        if let Some(a) = buf.get(12..20) {
            s += sum16(a);
        }
    } else if let Some(a) = buf.get(8..40) {
        s += sum16(a);
    }
    s += u64::from(proto);
    s + seg_len as u64
}

/// Verifies the IPv4 header and TCP/UDP checksums of a packet (true when they are right, or
/// when there is nothing to verify). Used by tests and `--checksum-policy`.
pub fn checksums_ok(data: &[u8]) -> bool {
    let Ok(p) = Packet::parse(data) else {
        return false;
    };
    let l = p.layout();
    if l.version == 4 {
        let ihl = usize::from(data[0] & 0x0f) * 4;
        if data.len() < ihl || fold(sum16(&data[..ihl])) != 0 {
            return false;
        }
    }
    if p.truncated() || p.ip().fragmented {
        return true;
    }
    match l.proto {
        proto::TCP | proto::UDP => {
            let seg = &data[l.l4_off..l.l4_end];
            if l.proto == proto::UDP && l.version == 4 && seg.get(6..8) == Some(&[0, 0]) {
                return true;
            }
            fold(pseudo_sum(data, l.version, l.proto, seg.len()) + sum16(seg)) == 0
        }
        _ => true,
    }
}

/// Addresses as one integer domain (IPv4 as IPv4-mapped IPv6) so flow and threshold keys
/// need no enum.
pub fn addr_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp4(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
            .tcp(40000, 80, 1000, 64240)
            .ack(5)
            .psh();
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    #[test]
    fn parses_tcp_fields_and_payload() {
        let v = tcp4(b"GET / HTTP/1.1\r\n");
        let p = Packet::parse(&v).unwrap();
        assert_eq!(p.ip().version, 4);
        assert_eq!(p.ports(), (40000, 80));
        assert_eq!(p.payload(), b"GET / HTTP/1.1\r\n");
        assert_eq!(p.layout().payload_off, 40);
        match p.l4() {
            L4Hdr::Tcp { seq, flags, .. } => {
                assert_eq!(*seq, 1000);
                assert_eq!(*flags, tcp_flags::ACK | tcp_flags::PSH);
            }
            other => panic!("{other:?}"),
        }
        assert!(checksums_ok(&v));
    }

    #[test]
    fn rewrite_fixes_tcp_and_udp_checksums_v4_and_v6() {
        let mut pkts = vec![tcp4(b"hello world")];
        let mut v = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(5000, 53)
        .write(&mut v, b"hello world")
        .unwrap();
        pkts.push(v);
        let mut v = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
            .udp(5000, 53)
            .write(&mut v, b"hello world")
            .unwrap();
        pkts.push(v);
        for mut pkt in pkts {
            let layout = Packet::parse(&pkt).unwrap().layout();
            let mut m = PacketMut::new(&mut pkt, layout).unwrap();
            m.payload_mut()[..5].copy_from_slice(b"HOWDY");
            assert!(
                !checksums_ok(m.buf),
                "the rewrite must break the old checksum"
            );
            m.fill_checksums();
            assert!(checksums_ok(&pkt));
            assert_eq!(&Packet::parse(&pkt).unwrap().payload()[..5], b"HOWDY");
        }
    }

    #[test]
    fn partial_checksum_is_completed_on_rewrite() {
        // As NFQUEUE delivers a CHECKSUM_PARTIAL packet: the field holds the folded
        // pseudo-header sum only (not complemented).
        let mut pkt = tcp4(b"hello world");
        let layout = Packet::parse(&pkt).unwrap().layout();
        let seg_len = layout.l4_end - layout.l4_off;
        let mut ps = pseudo_sum(&pkt, 4, proto::TCP, seg_len);
        while ps >> 16 != 0 {
            ps = (ps & 0xffff) + (ps >> 16);
        }
        pkt[layout.l4_off + 16..layout.l4_off + 18].copy_from_slice(&(ps as u16).to_be_bytes());
        assert!(!checksums_ok(&pkt));
        let mut m = PacketMut::new(&mut pkt, layout).unwrap();
        m.payload_mut()[0] = b'J';
        m.fill_checksums();
        assert!(
            checksums_ok(&pkt),
            "a rewritten packet must carry the complete checksum"
        );
    }

    #[test]
    fn truncated_capture_still_parses_with_partial_payload() {
        let v = tcp4(b"0123456789abcdef");
        let p = Packet::parse(&v[..v.len() - 6]).unwrap();
        assert!(p.truncated());
        assert_eq!(p.payload(), b"0123456789");
        assert!(Packet::parse(&v[..30]).is_err() || Packet::parse(&v[..30]).unwrap().truncated());
        assert!(Packet::parse(&[]).is_err());
        assert_eq!(Packet::parse(&[0x10, 0, 0]).unwrap_err(), WireError::NotIp);
    }

    /// A UDP query (5000 → 53) between two IPv6 documentation addresses.
    fn query6() -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(5000, 53)
        .write(&mut v, b"query")
        .unwrap();
        v
    }

    #[test]
    fn ipv6_extension_headers_are_walked() {
        // IPv6 → hop-by-hop (8 bytes) → UDP.
        let v = query6();
        let mut with_ext = v[..40].to_vec();
        with_ext[6] = 0; // next header: hop-by-hop
        let plen = u16::from_be_bytes([v[4], v[5]]) + 8;
        with_ext[4..6].copy_from_slice(&plen.to_be_bytes());
        with_ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        with_ext.extend_from_slice(&v[40..]);
        let p = Packet::parse(&with_ext).unwrap();
        assert_eq!(p.ip().proto, proto::UDP);
        assert_eq!(p.ports(), (5000, 53));
        assert_eq!(p.payload(), b"query");
        assert!(checksums_ok(&with_ext));
    }

    #[test]
    fn an_extension_header_past_a_whole_packet_is_malformed() {
        // IPv6 → destination options announcing 2,048 bytes, in a packet whose IP length is
        // all there: malformed. The same packet cut by a capture's snaplen still parses.
        let v = query6();
        let mut p = v[..40].to_vec();
        p[6] = 60;
        p.extend_from_slice(&[17, 255, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&v[40..]);
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        assert_eq!(
            Packet::parse(&p).unwrap_err(),
            WireError::Malformed("IPv6 extension header past the packet")
        );
        p[4..6].copy_from_slice(&4000u16.to_be_bytes());
        assert!(Packet::parse(&p).unwrap().truncated());
    }

    #[test]
    fn a_udp_length_outside_the_datagram_is_malformed() {
        let v = query6();
        let at = |len: u16| {
            let mut p = v.clone();
            p[44..46].copy_from_slice(&len.to_be_bytes());
            p
        };
        let whole = (v.len() - 40) as u16;
        assert_eq!(Packet::parse(&at(whole)).unwrap().payload(), b"query");
        // Shorter than the IP payload: the rest is padding, as receivers trim it.
        assert_eq!(Packet::parse(&at(whole - 2)).unwrap().payload(), b"que");
        for bad in [whole + 1, 7, 1] {
            assert_eq!(
                Packet::parse(&at(bad)).unwrap_err(),
                WireError::Malformed("UDP length field outside the datagram"),
                "length {bad}"
            );
        }
        // A capture cut short keeps its datagram, whatever the length says.
        let cut = at(whole);
        assert!(Packet::parse(&cut[..cut.len() - 2]).unwrap().truncated());
    }

    #[test]
    fn sctp_ports_and_chunks() {
        // SCTP common header (ports 5000 -> 38412, tag, checksum), then a DATA chunk.
        let mut sctp = vec![0x13, 0x88, 0x96, 0x0c, 0, 0, 0, 1, 0, 0, 0, 0];
        sctp.extend_from_slice(&[
            0, 3, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, b'd', b'a', b't', b'a',
        ]);
        let mut v = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 132, 0, 0, 192, 0, 2, 2, 198, 51, 100, 2,
        ];
        let total = (20 + sctp.len()) as u16;
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&sctp);
        let p = Packet::parse(&v).unwrap();
        assert_eq!(p.ports(), (5000, 38412));
        assert!(matches!(
            p.l4(),
            L4Hdr::Sctp {
                sport: 5000,
                dport: 38412
            }
        ));
        assert_eq!(&p.payload()[16..], b"data");
        // A common header cut short is malformed; a fragment is not decoded.
        let mut short = v[..28].to_vec();
        short[2..4].copy_from_slice(&28u16.to_be_bytes());
        assert!(Packet::parse(&short).is_err());
        let mut frag = v.clone();
        frag[6] = 0x20;
        assert_eq!(Packet::parse(&frag).unwrap().ports(), (0, 0));
    }

    #[test]
    fn routing_headers_do_not_hide_the_transport_or_move_the_destination() {
        // IPv6 → routing header type 0 with one segment left (deprecated, RFC 5095, but an
        // evasion when a decoder gives up on it) → UDP. The destination stays the header's,
        // as Suricata keeps it; the transport behind the routing header is decoded.
        let v = query6();
        let mut rh = v[..40].to_vec();
        rh[6] = 43;
        let plen = u16::from_be_bytes([v[4], v[5]]) + 24;
        rh[4..6].copy_from_slice(&plen.to_be_bytes());
        rh.extend_from_slice(&[17, 2, 0, 1, 0, 0, 0, 0]);
        rh.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        rh.extend_from_slice(&v[40..]);
        let p = Packet::parse(&rh).unwrap();
        assert_eq!(p.ip().proto, proto::UDP);
        assert_eq!(p.ports(), (5000, 53));
        assert_eq!(p.payload(), b"query");
        assert_eq!(p.ip().dst, "2001:db8:2::2".parse::<IpAddr>().unwrap());
        // Segments left past the addresses it holds, a length past the packet: no panic.
        for bad in [(42, 9u8), (41, 200)] {
            let mut b = rh.clone();
            b[bad.0] = bad.1;
            let _ = Packet::parse(&b);
        }
    }
}

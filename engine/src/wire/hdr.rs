//! Raw header bytes for the header sticky buffers (`ipv4.hdr`, `tcp.hdr`, …), delimited as
//! Suricata's decoders delimit them, so offsets in rules mean the same bytes.

use super::{L4Hdr, Packet};

/// Fixed lengths and offsets of the headers whose length is not in the header itself.
mod len {
    /// UDP header.
    pub const UDP: usize = 8;
    /// ICMPv4/ICMPv6 header: type, code, checksum and the 4 type-specific bytes.
    pub const ICMP: usize = 8;
    /// Originate, receive and transmit timestamps of an ICMP timestamp (reply).
    pub const ICMP_TIMESTAMPS: usize = 12;
    /// Where a router advertisement's address count and entry size (in words) sit.
    pub const RTR_ADVERT_NADDR: usize = 4;
    /// See [`RTR_ADVERT_NADDR`].
    pub const RTR_ADVERT_ADDR_SZ: usize = 5;
}

/// ICMPv4 types whose header Suricata extends past 8 bytes.
mod icmp4 {
    /// Router advertisement: its address list is part of the header.
    pub const ROUTER_ADVERT: u8 = 9;
    /// Timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
}

impl<'a> Packet<'a> {
    /// The IP header with IPv4 options or IPv6 extension headers: everything before the
    /// transport header (for a fragment, before the fragment data).
    pub fn ip_header(&self) -> &'a [u8] {
        self.data.get(..self.layout.l4_off).unwrap_or(&[])
    }

    /// The TCP header with its options, if the packet's TCP header was decoded.
    pub fn tcp_header(&self) -> Option<&'a [u8]> {
        match self.l4 {
            L4Hdr::Tcp { .. } => self.data.get(self.layout.l4_off..self.layout.payload_off),
            _ => None,
        }
    }

    /// The 8-byte UDP header, if the packet's UDP header was decoded.
    pub fn udp_header(&self) -> Option<&'a [u8]> {
        match self.l4 {
            L4Hdr::Udp { .. } => self.l4_bytes(len::UDP),
            _ => None,
        }
    }

    /// The ICMP header (`v6` selects ICMPv6), if the packet carries that one. ICMPv6 and
    /// most ICMPv4 types have 8 bytes; Suricata counts the timestamps of an ICMPv4
    /// timestamp (reply) and the address list of a router advertisement as header too, when
    /// the packet holds them.
    pub fn icmp_header(&self, v6: bool) -> Option<&'a [u8]> {
        let L4Hdr::Icmp { v6: is_v6, typ, .. } = self.l4 else {
            return None;
        };
        if is_v6 != v6 {
            return None;
        }
        if v6 {
            return self.l4_bytes(len::ICMP);
        }
        let whole = self
            .data
            .get(self.layout.l4_off..self.layout.l4_end)
            .unwrap_or(&[]);
        let extra = match typ {
            icmp4::TIMESTAMP | icmp4::TIMESTAMP_REPLY => len::ICMP_TIMESTAMPS,
            icmp4::ROUTER_ADVERT => {
                let at = |i| whole.get(i).map_or(0, |b| usize::from(*b));
                const WORD: usize = 4;
                at(len::RTR_ADVERT_NADDR) * at(len::RTR_ADVERT_ADDR_SZ) * WORD
            }
            _ => 0,
        };
        // The extension counts only when the message is long enough to hold it.
        let with = len::ICMP + extra;
        if whole.len() >= with {
            self.l4_bytes(with)
        } else {
            self.l4_bytes(len::ICMP)
        }
    }

    /// `n` bytes from the transport header's start, if the capture holds them.
    fn l4_bytes(&self, n: usize) -> Option<&'a [u8]> {
        let start = self.layout.l4_off;
        self.data.get(start..start.checked_add(n)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const A4: [u8; 4] = [192, 0, 2, 2];
    const B4: [u8; 4] = [198, 51, 100, 2];

    #[test]
    fn ipv4_header_includes_options_and_tcp_header_its_options() {
        let mut v = Vec::new();
        PacketBuilder::ipv4(A4, B4, 64)
            .tcp(40000, 80, 1, 100)
            .syn()
            .write(&mut v, b"hi")
            .unwrap();
        // Insert 4 bytes of IPv4 options (NOP ×3, EOL) and 4 of TCP options (MSS 1460).
        let mut p = v[..20].to_vec();
        p[0] = 0x46;
        p.extend_from_slice(&[1, 1, 1, 0]);
        let mut tcp = v[20..40].to_vec();
        tcp[12] = 0x60;
        tcp.extend_from_slice(&[2, 4, 5, 0xb4]);
        p.extend_from_slice(&tcp);
        p.extend_from_slice(b"hi");
        let total = u16::try_from(p.len()).unwrap();
        p[2..4].copy_from_slice(&total.to_be_bytes());
        let pkt = Packet::parse(&p).unwrap();
        assert_eq!(pkt.ip_header(), &p[..24]);
        assert_eq!(pkt.tcp_header(), Some(&p[24..48]));
        assert_eq!(pkt.udp_header(), None);
        assert_eq!(pkt.icmp_header(false), None);
        assert_eq!(pkt.payload(), b"hi");
    }

    #[test]
    fn udp_and_ipv6_with_extension_headers() {
        let mut v = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .udp(5000, 53)
            .write(&mut v, b"query")
            .unwrap();
        let mut p = v[..40].to_vec();
        p[6] = 0; // hop-by-hop, then UDP
        let plen = u16::from_be_bytes([v[4], v[5]]) + 8;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&v[40..]);
        let pkt = Packet::parse(&p).unwrap();
        assert_eq!(pkt.ip_header(), &p[..48]);
        assert_eq!(pkt.udp_header(), Some(&p[48..56]));
        assert_eq!(pkt.tcp_header(), None);
    }

    #[test]
    fn icmp_header_lengths_follow_the_type() {
        let build = |typ: u8, body: &[u8]| {
            let mut v = Vec::new();
            PacketBuilder::ipv4(A4, B4, 64)
                .icmpv4_raw(typ, 0, [0, 1, 0, 2])
                .write(&mut v, body)
                .unwrap();
            v
        };
        let echo = build(8, b"ping");
        let pkt = Packet::parse(&echo).unwrap();
        assert_eq!(pkt.icmp_header(false), Some(&echo[20..28]));
        assert_eq!(pkt.icmp_header(true), None);
        let ts = build(13, &[7; 12]);
        assert_eq!(
            Packet::parse(&ts).unwrap().icmp_header(false),
            Some(&ts[20..40])
        );
        // A timestamp message cut short keeps the 8-byte header.
        let short = build(13, &[7; 4]);
        assert_eq!(
            Packet::parse(&short).unwrap().icmp_header(false),
            Some(&short[20..28])
        );
        // Router advertisement: 2 addresses of 2 words each.
        let mut ra = Vec::new();
        PacketBuilder::ipv4(A4, B4, 64)
            .icmpv4_raw(9, 0, [2, 2, 0, 30])
            .write(&mut ra, &[0; 16])
            .unwrap();
        assert_eq!(
            Packet::parse(&ra).unwrap().icmp_header(false),
            Some(&ra[20..44])
        );
        let mut v6 = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .icmpv6_echo_request(1, 2)
            .write(&mut v6, b"ping")
            .unwrap();
        assert_eq!(
            Packet::parse(&v6).unwrap().icmp_header(true),
            Some(&v6[40..48])
        );
    }
}

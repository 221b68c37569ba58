//! Tunnels whose inner packet is what the rules are about, found in an L3 packet as Suricata's
//! decoders find them: GRE version 0 (IPv4, IPv6, Ethernet, VLAN, ERSPAN type I/II/III inside)
//! and version 1 (PPTP, PPP inside), IP-in-IP (IPv4 and IPv6 in IPv4 and IPv6: protocols 4
//! and 41), Teredo, VXLAN and GENEVE on their UDP ports.
//!
//! The worker inspects the outer packet (a rule on `udp any any -> any 4789` sees it) and then
//! the inner one as a packet of its own, with its own flow; a drop of either drops the frame.
//! [`inner`] finds one layer; the caller walks nested tunnels up to
//! [`TunnelConfig::max_layers`]. Everything reads through `get`, so hostile headers end the
//! walk, never a panic.

use super::link::{after_ethertype, ppp_payload};
use super::{proto, L4Hdr, Packet};
use serde::Deserialize;
use std::ops::Range;
use verdict_compiler::kernel::L4Proto;
use verdict_compiler::steer::TunnelSteer;

/// Protocol numbers of the encapsulations IP itself carries.
mod ipproto {
    /// IPv4 in IP (RFC 2003).
    pub const IPIP: u8 = 4;
    /// IPv6 in IP (6in4, RFC 4213).
    pub const IPV6: u8 = 41;
    /// GRE.
    pub const GRE: u8 = 47;
}

/// GRE header bits and protocol types (RFC 2784/2890, RFC 2637 for version 1).
mod gre {
    pub const CSUM: u16 = 0x8000;
    pub const ROUTING: u16 = 0x4000;
    pub const KEY: u16 = 0x2000;
    pub const SEQ: u16 = 0x1000;
    pub const STRICT_ROUTE: u16 = 0x0800;
    pub const RECURSION: u16 = 0x0700;
    /// Flag bits a version 0 header must leave zero (Suricata's `GRE_VERSION0_FLAGS`).
    pub const V0_FLAGS: u16 = 0x00f8;
    /// The acknowledgment-number flag of version 1.
    pub const V1_ACK: u16 = 0x0080;
    /// Flag bits besides ack a version 1 header must leave zero.
    pub const V1_FLAGS: u16 = 0x0078;
    pub const VERSION: u16 = 0x0007;
    pub const HDR_LEN: usize = 4;
    /// Checksum and offset, key, sequence number, acknowledgment: 4 bytes each.
    pub const WORD: usize = 4;
    /// A source route entry's fixed part: address family, offset, length.
    pub const SRE_LEN: usize = 4;
    pub const PROTO_IPV4: u16 = 0x0800;
    pub const PROTO_IPV6: u16 = 0x86dd;
    pub const PROTO_VLAN: u16 = 0x8100;
    pub const PROTO_TEB: u16 = 0x6558;
    pub const PROTO_PPP: u16 = 0x880b;
    /// ERSPAN type I (no sequence number) and II.
    pub const PROTO_ERSPAN: u16 = 0x88be;
    /// ERSPAN type III.
    pub const PROTO_ERSPAN3: u16 = 0x22eb;
}

/// Bytes of the ERSPAN type II header before the mirrored Ethernet frame.
const ERSPAN2_LEN: usize = 8;
/// ERSPAN type III header, and its optional platform-specific subheader.
const ERSPAN3_LEN: usize = 12;
const ERSPAN3_SUBHDR_LEN: usize = 8;
/// VXLAN header; the inner Ethernet header Suricata also requires.
const VXLAN_LEN: usize = 8;
const ETH_LEN: usize = 14;
/// GENEVE fixed header (options follow, their length in 4-byte words).
const GENEVE_LEN: usize = 8;
const GENEVE_OPT_LEN: usize = 4;
const IPV6_HEADER_LEN: usize = 40;
/// Teredo origin indication (RFC 4380 5.1.1) before the IPv6 packet.
const TEREDO_ORIGIN_LEN: usize = 8;

/// Which tunnel decoders run, and on which UDP ports (the `[decoder]` table of verdict.toml,
/// after Suricata's `decoder:` section; its defaults are Suricata's).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TunnelConfig {
    /// GRE, ERSPAN included.
    pub gre: bool,
    /// IPv4 and IPv6 inside IPv4 or IPv6 (protocols 4 and 41).
    pub ipip: bool,
    /// Teredo (IPv6 in UDP).
    pub teredo: bool,
    /// Teredo's ports, either side; empty: any UDP port (Suricata without `ports`).
    pub teredo_ports: Vec<u16>,
    /// VXLAN.
    pub vxlan: bool,
    /// VXLAN's destination ports (RFC 7348 identifies VXLAN by destination port only).
    pub vxlan_ports: Vec<u16>,
    /// GENEVE.
    pub geneve: bool,
    /// GENEVE's ports, either side.
    pub geneve_ports: Vec<u16>,
    /// Tunnels unwrapped inside one another at most (Suricata's `decoder.max-layers`); the
    /// packet at the bound is inspected as it is.
    pub max_layers: u8,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            gre: true,
            ipip: true,
            teredo: true,
            teredo_ports: vec![3544],
            vxlan: true,
            vxlan_ports: vec![4789],
            geneve: true,
            geneve_ports: vec![6081],
            max_layers: 16,
        }
    }
}

impl TunnelConfig {
    /// No tunnel decoding at all.
    pub fn off() -> TunnelConfig {
        TunnelConfig {
            gre: false,
            ipip: false,
            teredo: false,
            vxlan: false,
            geneve: false,
            ..TunnelConfig::default()
        }
    }
    /// What the kernel must queue for these decoders to see their tunnels.
    pub fn steer(&self) -> TunnelSteer {
        let mut t = TunnelSteer::default();
        if self.gre {
            t.protos.push(L4Proto::Gre);
        }
        if self.ipip {
            t.protos.extend([L4Proto::IpIp, L4Proto::Ipv6InIp]);
        }
        for (on, ports) in [
            (self.teredo, &self.teredo_ports),
            (self.vxlan, &self.vxlan_ports),
            (self.geneve, &self.geneve_ports),
        ] {
            if on {
                t.udp_all |= ports.is_empty();
                t.udp_ports.extend_from_slice(ports);
            }
        }
        t.udp_ports.sort_unstable();
        t.udp_ports.dedup();
        t
    }
}

/// What carried an inner packet (counters, and which checksums a rewrite must fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encap {
    /// GRE (any payload but ERSPAN); `csum_at` is the offset of its checksum field when the
    /// header carries one.
    Gre {
        /// Offset of the GRE checksum in the outer packet.
        csum_at: Option<usize>,
    },
    /// ERSPAN type I, II or III over GRE.
    Erspan {
        /// Offset of the GRE checksum in the outer packet.
        csum_at: Option<usize>,
    },
    /// IPv4 or IPv6 directly in IPv4 or IPv6.
    IpInIp,
    /// Teredo: IPv6 in UDP.
    Teredo,
    /// VXLAN: Ethernet in UDP.
    Vxlan,
    /// GENEVE: Ethernet or IP in UDP.
    Geneve,
}

/// One tunnel layer: the inner L3 packet's byte range inside the outer packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inner {
    /// The encapsulation.
    pub encap: Encap,
    /// Where the inner IP packet lies in the outer packet's bytes.
    pub range: Range<usize>,
}

/// The offset of `inner` in `outer` when it lies inside it.
fn offset_of(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let off = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (off.checked_add(inner.len())? <= outer.len()).then_some(off)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.checked_add(1)?)?,
    ]))
}

fn is_ip(b: &[u8], version: Option<u8>) -> bool {
    let v = b.first().map(|b| b >> 4);
    matches!(v, Some(4 | 6)) && version.is_none_or(|want| v == Some(want))
}

/// The tunnel `pkt` carries, if any: its inner IP packet and how it was carried. Fragments
/// are not looked into (their payload is not a whole tunnel packet).
pub fn inner(pkt: &Packet<'_>, cfg: &TunnelConfig) -> Option<Inner> {
    let ip = pkt.ip();
    if ip.fragmented || pkt.truncated() {
        return None;
    }
    let data = pkt.data();
    let (encap, body) = match (ip.proto, *pkt.l4()) {
        (ipproto::GRE, _) if cfg.gre => gre_inner(pkt.payload(), pkt.layout().l4_off)?,
        (ipproto::IPIP, _) if cfg.ipip => (Encap::IpInIp, ip_of(pkt.payload(), 4)?),
        (ipproto::IPV6, _) if cfg.ipip => (Encap::IpInIp, ip_of(pkt.payload(), 6)?),
        (proto::UDP, L4Hdr::Udp { sport, dport }) => udp_inner(pkt.payload(), sport, dport, cfg)?,
        _ => return None,
    };
    let start = offset_of(data, body)?;
    Some(Inner {
        encap,
        range: start..start + body.len(),
    })
}

/// The whole packet when it starts with an IP header of `version`.
fn ip_of(b: &[u8], version: u8) -> Option<&[u8]> {
    is_ip(b, Some(version)).then_some(b)
}

/// The UDP tunnels in Suricata's order: Teredo, GENEVE, VXLAN.
fn udp_inner<'a>(
    payload: &'a [u8],
    sport: u16,
    dport: u16,
    cfg: &TunnelConfig,
) -> Option<(Encap, &'a [u8])> {
    let either = |ports: &[u16]| ports.contains(&sport) || ports.contains(&dport);
    if cfg.teredo && (cfg.teredo_ports.is_empty() || either(&cfg.teredo_ports)) {
        if let Some(b) = teredo(payload) {
            return Some((Encap::Teredo, b));
        }
    }
    if cfg.geneve && either(&cfg.geneve_ports) {
        if let Some(b) = geneve(payload) {
            return Some((Encap::Geneve, b));
        }
    }
    if cfg.vxlan && cfg.vxlan_ports.contains(&dport) {
        if let Some(b) = vxlan(payload) {
            return Some((Encap::Vxlan, b));
        }
    }
    None
}

/// GRE as Suricata's `DecodeGRE` accepts it; `gre_off` is the GRE header's offset in the
/// outer packet (for the checksum position).
fn gre_inner(g: &[u8], gre_off: usize) -> Option<(Encap, &[u8])> {
    let flags = be16(g, 0)?;
    let ptype = be16(g, 2)?;
    let mut len = gre::HDR_LEN;
    match flags & gre::VERSION {
        0 => {
            if flags & (gre::RECURSION | gre::V0_FLAGS) != 0 {
                return None;
            }
            let words = [gre::KEY, gre::SEQ]
                .iter()
                .filter(|f| flags & **f != 0)
                .count()
                + usize::from(flags & (gre::CSUM | gre::ROUTING) != 0);
            len += gre::WORD * words;
            if flags & gre::ROUTING != 0 {
                len = skip_source_routes(g, len)?;
            }
        }
        1 => {
            // Enhanced GRE of PPTP: a key (payload length and call id), PPP inside.
            let v1_bad =
                gre::CSUM | gre::ROUTING | gre::STRICT_ROUTE | gre::RECURSION | gre::V1_FLAGS;
            if flags & v1_bad != 0 || ptype != gre::PROTO_PPP || flags & gre::KEY == 0 {
                return None;
            }
            // A PPTP packet with no payload (payload length 0) is an acknowledgment only.
            if be16(g, 4)? == 0 {
                return None;
            }
            len += gre::WORD
                * (1 + usize::from(flags & gre::SEQ != 0) + usize::from(flags & gre::V1_ACK != 0));
        }
        _ => return None,
    }
    let body = g.get(len..)?;
    let csum_at = (flags & gre::CSUM != 0).then_some(gre_off + gre::HDR_LEN);
    let plain = Encap::Gre { csum_at };
    let erspan = Encap::Erspan { csum_at };
    let inner = match ptype {
        gre::PROTO_IPV4 => (plain, ip_of(body, 4)?),
        gre::PROTO_IPV6 => (plain, ip_of(body, 6)?),
        gre::PROTO_PPP => (plain, ppp_payload(body).ok()?),
        gre::PROTO_VLAN => (plain, after_ethertype(body, 2).ok()?),
        gre::PROTO_TEB => (plain, ethernet(body)?),
        // Type I carries no sequence number (and no header), type II does.
        gre::PROTO_ERSPAN if flags & gre::SEQ == 0 => (erspan, ethernet(body)?),
        gre::PROTO_ERSPAN => (erspan, erspan2(body)?),
        gre::PROTO_ERSPAN3 => (erspan, erspan3(body)?),
        _ => return None,
    };
    Some(inner)
}

/// Skips GRE source route entries (RFC 1701) up to the terminating null entry.
fn skip_source_routes(g: &[u8], mut len: usize) -> Option<usize> {
    // Each entry is at least 4 bytes, so the walk ends with the packet.
    loop {
        let af = be16(g, len)?;
        let sre_len = *g.get(len + 3)?;
        len = len.checked_add(gre::SRE_LEN)?;
        if af == 0 && sre_len == 0 {
            return Some(len);
        }
        len = len.checked_add(usize::from(sre_len))?;
        if len > g.len() {
            return None;
        }
    }
}

/// The IP packet of an Ethernet frame (VLAN tags, MPLS, PPPoE, NSH walked as in captures).
fn ethernet(frame: &[u8]) -> Option<&[u8]> {
    after_ethertype(frame, 12).ok()
}

/// ERSPAN type II: version 1 only, as Suricata.
fn erspan2(b: &[u8]) -> Option<&[u8]> {
    let ver = be16(b, 0)? >> 12;
    (ver == 1).then(|| ethernet(b.get(ERSPAN2_LEN..)?))?
}

/// ERSPAN type III (version 2): a 12-byte header, then an 8-byte platform subheader when the
/// O bit (the last bit of the header) is set.
fn erspan3(b: &[u8]) -> Option<&[u8]> {
    let ver = be16(b, 0)? >> 12;
    if ver != 2 {
        return None;
    }
    let o_bit = b.get(ERSPAN3_LEN - 1)? & 0x01 != 0;
    let len = ERSPAN3_LEN + if o_bit { ERSPAN3_SUBHDR_LEN } else { 0 };
    ethernet(b.get(len..)?)
}

/// Teredo as Suricata's `DecodeTeredo` recognises it: an optional origin indication, then an
/// IPv6 packet whose length is exactly what remains, hop limit not 0, and not a hop-by-hop
/// header with too little after it (authentication headers are negotiation, not tunnel).
fn teredo(b: &[u8]) -> Option<&[u8]> {
    if b.len() < IPV6_HEADER_LEN {
        return None;
    }
    let start = match b {
        [0, 0, ..] if b.len() >= TEREDO_ORIGIN_LEN + IPV6_HEADER_LEN => TEREDO_ORIGIN_LEN,
        [0, ..] => return None,
        _ => 0,
    };
    let v6 = b.get(start..)?;
    if !is_ip(v6, Some(6)) {
        return None;
    }
    let plen = usize::from(be16(v6, 4)?);
    let (next, hlim) = (*v6.get(6)?, *v6.get(7)?);
    if hlim == 0 || (next == 0 && plen < 8) || v6.len() != IPV6_HEADER_LEN + plen {
        return None;
    }
    Some(v6)
}

/// VXLAN as Suricata 8 checks it: the I flag set and every reserved bit zero (its default
/// `reserved-bits-check: strict`), an Ethernet frame inside.
fn vxlan(b: &[u8]) -> Option<&[u8]> {
    if b.len() < VXLAN_LEN + ETH_LEN {
        return None;
    }
    let (f0, f1, gdp, res) = (b[0], b[1], be16(b, 2)?, b[7]);
    if f0 != 0x08 || f1 != 0 || gdp != 0 || res != 0 {
        return None;
    }
    ethernet(&b[VXLAN_LEN..])
}

/// GENEVE (RFC 8926) as Suricata checks it: version 0, reserved bits zero, option lengths
/// that add up to the header's; IPv4, IPv6 or Ethernet inside.
fn geneve(b: &[u8]) -> Option<&[u8]> {
    let (b0, b1, res) = (*b.first()?, *b.get(1)?, *b.get(7)?);
    if b.len() < GENEVE_LEN || b0 >> 6 != 0 || b1 & 0x3f != 0 || res != 0 {
        return None;
    }
    let opt_len = usize::from(b0 & 0x3f) * 4;
    let mut at = GENEVE_LEN;
    let end = GENEVE_LEN + opt_len;
    while at < end {
        let this = GENEVE_OPT_LEN + usize::from(*b.get(at + 3)? & 0x1f) * 4;
        at += this;
    }
    if at != end {
        return None;
    }
    let body = b.get(end..)?;
    match be16(b, 2)? {
        gre::PROTO_IPV4 => ip_of(body, 4),
        gre::PROTO_IPV6 => ip_of(body, 6),
        gre::PROTO_TEB => ethernet(body),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

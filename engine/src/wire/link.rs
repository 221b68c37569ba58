//! Link layers of capture files: strip them to reach the L3 packet the engine inspects.

use super::WireError;

/// LINKTYPE_NULL (BSD loopback, host-endian family).
pub const NULL: u32 = 0;
/// LINKTYPE_ETHERNET.
pub const ETHERNET: u32 = 1;
/// LINKTYPE_RAW (and its historical aliases 12 and 14).
pub const RAW: u32 = 101;
/// LINKTYPE_LOOP (OpenBSD loopback, big-endian family).
pub const LOOP: u32 = 108;
/// LINKTYPE_LINUX_SLL.
pub const LINUX_SLL: u32 = 113;
/// LINKTYPE_IPV4.
pub const IPV4: u32 = 228;
/// LINKTYPE_IPV6.
pub const IPV6: u32 = 229;
/// LINKTYPE_LINUX_SLL2.
pub const LINUX_SLL2: u32 = 276;
/// LINKTYPE_PPP (RFC 1661 framing, with or without the HDLC address and control bytes).
pub const PPP: u32 = 9;
/// LINKTYPE_C_HDLC (Cisco HDLC).
pub const CHDLC: u32 = 104;
/// LINKTYPE_NFLOG (Linux netfilter log messages).
pub const NFLOG: u32 = 239;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_NSH: u16 = 0x894f;
const ETH_MPLS_UNICAST: u16 = 0x8847;
const ETH_MPLS_MULTICAST: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Walks VLAN tags (802.1Q, QinQ) and NSH from an ethertype at `at` to the IP packet.
pub(crate) fn after_ethertype(frame: &[u8], at: usize) -> Result<&[u8], WireError> {
    after_ethertype_in(frame, at, 0)
}

/// [`after_ethertype`] inside `layers` encapsulations already (NSH can carry Ethernet, which
/// can carry NSH again: the depth is bounded as Suricata bounds decoder layers).
fn after_ethertype_in(frame: &[u8], mut at: usize, layers: u8) -> Result<&[u8], WireError> {
    for _ in 0..4 {
        let et = be16(frame, at).ok_or(WireError::Malformed("link header cut short"))?;
        if ETH_VLAN.contains(&et) {
            at += 4;
            continue;
        }
        let rest = frame.get(at + 2..).unwrap_or(&[]);
        return match et {
            ETH_IPV4 | ETH_IPV6 => Ok(rest),
            ETH_NSH => nsh::payload(rest, layers),
            ETH_MPLS_UNICAST | ETH_MPLS_MULTICAST => mpls::payload(rest, layers),
            ETH_PPPOE_SESSION => pppoe_session(rest),
            _ => Err(WireError::NotIp),
        };
    }
    Err(WireError::Malformed("too many VLAN tags"))
}

/// Network Service Header (RFC 8300), as Suricata's `DecodeNSH` reads it.
mod nsh {
    use super::{after_ethertype_in, by_version, WireError, MAX_LAYERS};

    fn ip_of_version(data: &[u8], v: u8) -> Result<&[u8], WireError> {
        by_version(data).and_then(|d| {
            if d.first().map(|b| b >> 4) == Some(v) {
                Ok(d)
            } else {
                Err(WireError::NotIp)
            }
        })
    }

    /// Base header and service path header: the smallest NSH.
    const MIN_LEN: usize = 8;
    /// MD type 1 has a fixed 24-byte header (16 bytes of context).
    const MD1_LEN: usize = 24;
    /// Next-protocol values (IANA "NSH Next Protocol").
    mod next {
        pub const IPV4: u8 = 1;
        pub const IPV6: u8 = 2;
        pub const ETHERNET: u8 = 3;
    }

    /// The IP packet an NSH packet carries. Version 0 only; MD type 1 needs its fixed length,
    /// MD type 2 any (its metadata TLVs are skipped by the length); reserved or unknown MD
    /// types and payloads other than IPv4, IPv6 and Ethernet are not decoded.
    pub(super) fn payload(nsh: &[u8], layers: u8) -> Result<&[u8], WireError> {
        if layers >= MAX_LAYERS {
            return Err(WireError::Malformed("too many encapsulation layers"));
        }
        let [b0, b1, md_type, next_proto, ..] = *nsh else {
            return Err(WireError::Malformed("NSH header cut short"));
        };
        if nsh.len() < MIN_LEN {
            return Err(WireError::Malformed("NSH header cut short"));
        }
        let word = u16::from_be_bytes([b0, b1]);
        if word >> 14 != 0 {
            return Err(WireError::NotIp);
        }
        // The length counts 4-byte words; there must be data after the header.
        let len = usize::from(word & 0x3f) * 4;
        let inner = nsh
            .get(len..)
            .filter(|r| !r.is_empty())
            .ok_or(WireError::Malformed("NSH length past the packet"))?;
        match md_type & 0x0f {
            1 if len != MD1_LEN => return Err(WireError::Malformed("NSH MD type 1 length")),
            1 | 2 => {}
            _ => return Err(WireError::NotIp),
        }
        match next_proto {
            next::IPV4 => ip_of_version(inner, 4),
            next::IPV6 => ip_of_version(inner, 6),
            next::ETHERNET => after_ethertype_in(inner, 12, layers + 1),
            _ => Err(WireError::NotIp),
        }
    }
}

/// Encapsulations Suricata decodes before it gives up (`decoder.max-layers`).
const MAX_LAYERS: u8 = 16;

/// MPLS label stacks (RFC 3032), as Suricata's `DecodeMPLS` reads them: labels up to the
/// bottom of the stack; the explicit-null labels name IPv4 / IPv6; other reserved labels are
/// not decoded; any other label is followed by a guess from the first nibble (4: IPv4,
/// 6: IPv6, 0: an Ethernet pseudowire behind a 4-byte control word).
mod mpls {
    use super::{after_ethertype_in, by_version, WireError, MAX_LAYERS};

    const SHIM_LEN: usize = 4;
    /// The pseudowire control word before an Ethernet frame.
    const PW_LEN: usize = 4;
    const LABEL_IPV4: u32 = 0;
    const LABEL_IPV6: u32 = 2;
    /// Labels below this are reserved (RFC 3032 2.1).
    const MAX_RESERVED: u32 = 16;

    pub(super) fn payload(mut pkt: &[u8], layers: u8) -> Result<&[u8], WireError> {
        if layers >= MAX_LAYERS {
            return Err(WireError::Malformed("too many encapsulation layers"));
        }
        let label = loop {
            let shim = pkt
                .get(..SHIM_LEN)
                .ok_or(WireError::Malformed("MPLS header cut short"))?;
            let word = u32::from_be_bytes([shim[0], shim[1], shim[2], shim[3]]);
            pkt = &pkt[SHIM_LEN..];
            if word & 0x100 != 0 {
                break word >> 12;
            }
        };
        let want = |v: u8| match by_version(pkt) {
            Ok(d) if d[0] >> 4 == v => Ok(d),
            Ok(_) => Err(WireError::Malformed("MPLS payload of the wrong IP version")),
            Err(e) => Err(e),
        };
        match label {
            LABEL_IPV4 => return want(4),
            LABEL_IPV6 => return want(6),
            l if l < MAX_RESERVED => return Err(WireError::Malformed("reserved MPLS label")),
            _ => {}
        }
        if pkt.len() < PW_LEN {
            return Err(WireError::Malformed("MPLS payload cut short"));
        }
        match pkt[0] >> 4 {
            4 | 6 => Ok(pkt),
            0 => after_ethertype_in(&pkt[PW_LEN..], 12, layers + 1),
            _ => Err(WireError::NotIp),
        }
    }
}

/// PPP protocol numbers (RFC 1661, IANA "PPP DLL Protocol Numbers").
mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    /// Van Jacobson uncompressed TCP/IP: an IPv4 header whose protocol byte holds a slot
    /// number; Suricata decodes it as IPv4.
    pub const VJ_UNCOMPRESSED: u16 = 0x002f;
    /// The HDLC-like framing's address byte, before the control byte.
    pub const ALL_STATIONS: u8 = 0xff;
}

/// The IP packet in a PPP frame, as Suricata's `DecodePPP`: the address and control bytes
/// when present, then a one- or two-byte protocol (the low bit ends a compressed one).
/// Control protocols (LCP, IPCP, …) carry no IP packet.
pub(crate) fn ppp_payload(frame: &[u8]) -> Result<&[u8], WireError> {
    let cut = WireError::Malformed("PPP header cut short");
    let at = if frame.first() == Some(&ppp::ALL_STATIONS) {
        2
    } else {
        0
    };
    let first = *frame.get(at).ok_or(cut)?;
    let (proto, len) = if first & 0x01 == 1 {
        (u16::from(first), 1)
    } else {
        (be16(frame, at).ok_or(cut)?, 2)
    };
    let body = frame.get(at + len..).ok_or(cut)?;
    let want = |v: u8| match body.first() {
        Some(b) if b >> 4 == v => Ok(body),
        Some(_) => Err(WireError::Malformed("PPP payload of the wrong IP version")),
        None => Err(WireError::Malformed("empty PPP payload")),
    };
    match proto {
        ppp::IPV4 | ppp::VJ_UNCOMPRESSED => want(4),
        ppp::IPV6 => want(6),
        _ => Err(WireError::NotIp),
    }
}

/// PPPoE session stage (RFC 2516): version 1, type 1, code 0, then PPP without the HDLC
/// bytes. Discovery frames (another ethertype) carry no IP.
fn pppoe_session(b: &[u8]) -> Result<&[u8], WireError> {
    const HDR_LEN: usize = 6;
    let hdr = b
        .get(..HDR_LEN)
        .ok_or(WireError::Malformed("PPPoE header cut short"))?;
    if hdr[0] != 0x11 || hdr[1] != 0 {
        return Err(WireError::Malformed("PPPoE version, type or code"));
    }
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    // The length field bounds the PPP frame (Ethernet padding lies after it).
    let body = &b[HDR_LEN..];
    let body = body.get(..len).unwrap_or(body);
    ppp_payload(body)
}

/// Cisco HDLC: address (unicast 0x0f or broadcast 0x8f), control, then an ethertype.
fn chdlc(frame: &[u8]) -> Result<&[u8], WireError> {
    match be16(frame, 2).ok_or(WireError::Malformed("C-HDLC header cut short"))? {
        ETH_IPV4 | ETH_IPV6 => by_version(&frame[4..]),
        _ => Err(WireError::NotIp),
    }
}

/// The packet of an NFLOG record (`LINKTYPE_NFLOG`): a 4-byte header (address family,
/// version 0, resource id), then TLVs whose length (little-endian as libpcap writes them,
/// header included) is padded to 4 bytes; the payload TLV holds the IP packet.
fn nflog(frame: &[u8]) -> Result<&[u8], WireError> {
    const TLV_PAYLOAD: u16 = 9;
    let cut = WireError::Malformed("NFLOG record cut short");
    let family = *frame.first().ok_or(cut)?;
    if !matches!(family, 2 | 10) || frame.get(1) != Some(&0) {
        return Err(WireError::NotIp);
    }
    let mut at = 4usize;
    while let (Some(l), Some(t)) = (frame.get(at..at + 2), frame.get(at + 2..at + 4)) {
        let len = usize::from(u16::from_le_bytes([l[0], l[1]]));
        let typ = u16::from_le_bytes([t[0], t[1]]);
        if len < 4 {
            return Err(WireError::Malformed("NFLOG TLV length"));
        }
        if typ == TLV_PAYLOAD {
            return by_version(frame.get(at + 4..at + len).ok_or(cut)?);
        }
        at = at.checked_add(len.div_ceil(4) * 4).ok_or(cut)?;
    }
    Err(WireError::NotIp)
}

fn by_version(data: &[u8]) -> Result<&[u8], WireError> {
    match data.first().map(|b| b >> 4) {
        Some(4) | Some(6) => Ok(data),
        Some(_) => Err(WireError::NotIp),
        None => Err(WireError::Malformed("empty frame")),
    }
}

/// Returns the L3 packet inside a captured frame of link type `linktype`.
pub fn l3(linktype: u32, frame: &[u8]) -> Result<&[u8], WireError> {
    match linktype {
        ETHERNET => after_ethertype(frame, 12),
        RAW | 12 | 14 | IPV4 | IPV6 => by_version(frame),
        PPP => ppp_payload(frame),
        CHDLC => chdlc(frame),
        NFLOG => nflog(frame),
        LINUX_SLL => after_ethertype(frame, 14),
        LINUX_SLL2 => {
            // SLL2 puts the protocol first and has a fixed 20-byte header.
            match be16(frame, 0).ok_or(WireError::Malformed("SLL2 header cut short"))? {
                ETH_IPV4 | ETH_IPV6 => frame
                    .get(20..)
                    .ok_or(WireError::Malformed("SLL2 header cut short")),
                e if ETH_VLAN.contains(&e) => {
                    after_ethertype(frame.get(16..).unwrap_or(&[]), 0).or(Err(WireError::NotIp))
                }
                _ => Err(WireError::NotIp),
            }
        }
        NULL | LOOP => {
            let fam = frame
                .get(..4)
                .ok_or(WireError::Malformed("loopback header cut short"))?;
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            // AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the OS.
            let ok = |f: u32| matches!(f, 2 | 10 | 24 | 28 | 30);
            if ok(le) || ok(be) {
                by_version(&frame[4..])
            } else {
                Err(WireError::NotIp)
            }
        }
        other => Err(WireError::LinkType(other)),
    }
}

/// True if the replay can read this link type.
pub fn supported(linktype: u32) -> bool {
    matches!(
        linktype,
        NULL | ETHERNET
            | RAW
            | 12
            | 14
            | LOOP
            | LINUX_SLL
            | IPV4
            | IPV6
            | LINUX_SLL2
            | PPP
            | CHDLC
            | NFLOG
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn strips_each_link_type() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x88, 0xa8, 0, 6, 0x08, 0x00]);
        eth.extend_from_slice(&IP);
        assert_eq!(l3(ETHERNET, &eth).unwrap(), &IP);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&IP);
        assert_eq!(l3(LINUX_SLL, &sll).unwrap(), &IP);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&IP);
        assert_eq!(l3(LINUX_SLL2, &sll2).unwrap(), &IP);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&IP);
        assert_eq!(l3(NULL, &null).unwrap(), &IP);
        assert_eq!(l3(RAW, &IP).unwrap(), &IP);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(l3(ETHERNET, &arp), Err(WireError::NotIp));
        assert_eq!(l3(147, &IP), Err(WireError::LinkType(147)));
        // NSH, MD type 2 without metadata, then MD type 1 around Ethernet around IPv4.
        let mut nsh2 = vec![0u8; 12];
        nsh2.extend_from_slice(&[0x89, 0x4f, 0x00, 0x02, 0x02, 0x01, 0, 0, 1, 2]);
        nsh2.extend_from_slice(&IP);
        assert_eq!(l3(ETHERNET, &nsh2).unwrap(), &IP);
        let mut nsh1 = vec![0u8; 12];
        nsh1.extend_from_slice(&[0x89, 0x4f, 0x00, 0x06, 0x01, 0x03, 0, 0, 1, 2]);
        nsh1.extend_from_slice(&[0u8; 16]);
        nsh1.extend_from_slice(&eth);
        assert_eq!(l3(ETHERNET, &nsh1).unwrap(), &IP);
        // MD type 1 of the wrong length, a reserved MD type, version 1, an unknown or
        // mismatched next protocol, a header with nothing after it: not decoded.
        for (i, b) in [
            (2, 0x01),
            (2, 0x00),
            (0, 0x40),
            (3, 0x04),
            (3, 0x02),
            (1, 0x03),
        ] {
            let mut bad = nsh2.clone();
            bad[14 + i] = b;
            assert!(l3(ETHERNET, &bad).is_err(), "{bad:?}");
        }
        assert!(l3(ETHERNET, &nsh2[..22]).is_err());
        // NSH inside Ethernet inside NSH, without end: the layer bound stops it.
        let mut deep = vec![0u8; 12];
        for _ in 0..40 {
            deep.extend_from_slice(&[0x89, 0x4f, 0x00, 0x02, 0x02, 0x03, 0, 0, 1, 2]);
            deep.extend_from_slice(&[0u8; 12]);
        }
        deep.extend_from_slice(&[0x08, 0x00]);
        deep.extend_from_slice(&IP);
        assert!(l3(ETHERNET, &deep).is_err());
        for n in 0..16 {
            for lt in [ETHERNET, LINUX_SLL, LINUX_SLL2, NULL, RAW] {
                let _ = l3(lt, &eth[..n.min(eth.len())]);
            }
        }
    }

    #[test]
    fn mpls_pppoe_and_serial_links() {
        let v6 = [0x60, 0, 0, 0, 0, 0, 59, 64];
        let eth = |et: [u8; 2], rest: &[u8]| [&[0u8; 12][..], &et, rest].concat();
        // MPLS: two labels, the bottom one a plain label, IPv4 guessed from the nibble.
        let mpls = [&[0, 0x10, 0x00, 0x40, 0, 0x20, 0x01, 0x40][..], &IP].concat();
        assert_eq!(l3(ETHERNET, &eth([0x88, 0x47], &mpls)).unwrap(), &IP);
        // Explicit-null labels name the version: IPv6 explicit null with IPv4 inside is not IP.
        let null6 = [&[0, 0, 0x21, 0x40][..], &v6].concat();
        assert_eq!(l3(ETHERNET, &eth([0x88, 0x47], &null6)).unwrap(), &v6);
        let wrong = [&[0, 0, 0x21, 0x40][..], &IP].concat();
        assert!(l3(ETHERNET, &eth([0x88, 0x47], &wrong)).is_err());
        // Router alert at the bottom of the stack: reserved, not decoded.
        let ra = [&[0, 0, 0x11, 0x40][..], &IP].concat();
        assert!(l3(ETHERNET, &eth([0x88, 0x47], &ra)).is_err());
        // An Ethernet pseudowire: control word, then a frame with a VLAN tag.
        let mut pw = vec![0, 0x10, 0x01, 0x40, 0, 0, 0, 0];
        pw.extend_from_slice(&eth([0x81, 0x00], &[0, 7, 0x08, 0x00, 0x45, 0, 0, 20]));
        assert_eq!(l3(ETHERNET, &eth([0x88, 0x48], &pw)).unwrap(), &IP);
        // PPPoE session with PPP IPv4 and IPv6; the length field bounds the frame (padding).
        let pppoe = |proto: [u8; 2], ip: &[u8]| {
            let len = (ip.len() as u16 + 2).to_be_bytes();
            [&[0x11, 0, 0, 1, len[0], len[1]][..], &proto, ip, &[0, 0, 0]].concat()
        };
        assert_eq!(
            l3(ETHERNET, &eth([0x88, 0x64], &pppoe([0, 0x21], &IP))).unwrap(),
            &IP
        );
        assert_eq!(
            l3(ETHERNET, &eth([0x88, 0x64], &pppoe([0, 0x57], &v6))).unwrap(),
            &v6
        );
        // LCP carries no packet; a discovery-stage code is not a session frame.
        assert_eq!(
            l3(ETHERNET, &eth([0x88, 0x64], &pppoe([0xc0, 0x21], &IP))),
            Err(WireError::NotIp)
        );
        let mut disc = pppoe([0, 0x21], &IP);
        disc[1] = 0x09;
        assert!(l3(ETHERNET, &eth([0x88, 0x64], &disc)).is_err());
        // PPP link type: with the HDLC bytes, without, with a compressed protocol.
        assert_eq!(
            l3(PPP, &[&[0xff, 0x03, 0x00, 0x21][..], &IP].concat()).unwrap(),
            &IP
        );
        assert_eq!(l3(PPP, &[&[0x00, 0x57][..], &v6].concat()).unwrap(), &v6);
        assert_eq!(l3(PPP, &[&[0x21][..], &IP].concat()).unwrap(), &IP);
        assert_eq!(l3(PPP, &[0xff, 0x03, 0xc0, 0x21, 1]), Err(WireError::NotIp));
        // Cisco HDLC.
        assert_eq!(
            l3(CHDLC, &[&[0x0f, 0, 0x08, 0x00][..], &IP].concat()).unwrap(),
            &IP
        );
        assert_eq!(
            l3(CHDLC, &[&[0x8f, 0, 0x86, 0xdd][..], &v6].concat()).unwrap(),
            &v6
        );
        assert_eq!(l3(CHDLC, &[0x0f, 0, 0x80, 0x35, 0]), Err(WireError::NotIp));
        // NFLOG: a prefix TLV (padded), then the payload TLV.
        let mut nf = vec![2, 0, 0, 1];
        nf.extend_from_slice(&[9, 0, 10, 0, b'p', b'r', b'e', 0, 0, 0, 0, 0]);
        nf.extend_from_slice(&[8, 0, 9, 0]);
        nf.extend_from_slice(&IP);
        assert_eq!(l3(NFLOG, &nf).unwrap(), &IP);
        assert!(l3(NFLOG, &[7, 0, 0, 1, 8, 0, 9, 0]).is_err());
        assert!(supported(NFLOG) && supported(CHDLC) && supported(PPP));
        // Nothing cut short panics.
        let frames = [
            (ETHERNET, eth([0x88, 0x47], &pw)),
            (ETHERNET, eth([0x88, 0x64], &pppoe([0, 0x21], &IP))),
            (PPP, [&[0xff, 0x03, 0x00, 0x21][..], &IP].concat()),
            (CHDLC, [&[0x0f, 0, 0x08, 0x00][..], &IP].concat()),
            (NFLOG, nf.clone()),
        ];
        for (lt, f) in frames {
            for n in 0..f.len() {
                let _ = l3(lt, &f[..n]);
            }
        }
        // MPLS labels without a bottom of stack run to the end of the packet, no further.
        let endless = eth([0x88, 0x47], &[0u8; 64]);
        assert!(l3(ETHERNET, &endless).is_err());
    }
}

//! Tunnel decapsulation for captures: a GRE packet (RFC 2784/2890, version 0) carrying IPv4,
//! IPv6 or Ethernet is inspected as the packet it carries, as Suricata decodes GRE tunnels
//! (traffic mirrored over GRE/ERSPAN-less taps arrives this way).

use super::link::after_ethertype;

const IPPROTO_GRE: u8 = 47;
const GRE_CSUM: u16 = 0x8000;
const GRE_ROUTING: u16 = 0x4000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQ: u16 = 0x1000;
const GRE_VERSION: u16 = 0x0007;
const PROTO_IPV4: u16 = 0x0800;
const PROTO_IPV6: u16 = 0x86dd;
const PROTO_TEB: u16 = 0x6558;
/// Nested tunnels unwrapped at most.
const MAX_DEPTH: usize = 3;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The GRE payload of an unfragmented IPv4/IPv6 packet whose protocol is GRE.
fn gre_payload(l3: &[u8]) -> Option<&[u8]> {
    match l3.first()? >> 4 {
        4 => {
            let ihl = usize::from(l3.first()? & 0x0f) * 4;
            let total = usize::from(be16(l3, 2)?).min(l3.len());
            let frag = be16(l3, 6)? & 0x3fff;
            (ihl >= 20 && frag == 0 && *l3.get(9)? == IPPROTO_GRE)
                .then(|| l3.get(ihl..total))
                .flatten()
        }
        6 => {
            let len = usize::from(be16(l3, 4)?);
            (*l3.get(6)? == IPPROTO_GRE)
                .then(|| l3.get(40..40usize.checked_add(len)?.min(l3.len())))?
        }
        _ => None,
    }
}

/// The L3 packet a GRE packet carries, or `None` when `l3` is not such a packet (or its GRE
/// header uses routing or another version, which nothing sends any more).
pub fn gre_inner(l3: &[u8]) -> Option<&[u8]> {
    let mut cur = l3;
    let mut found = false;
    for _ in 0..MAX_DEPTH {
        let Some(g) = gre_payload(cur) else { break };
        let flags = be16(g, 0)?;
        if flags & (GRE_ROUTING | GRE_VERSION) != 0 {
            break;
        }
        let opts = [GRE_CSUM, GRE_KEY, GRE_SEQ]
            .iter()
            .filter(|f| flags & **f != 0)
            .count();
        let body = g.get(4 + 4 * opts..)?;
        let inner = match be16(g, 2)? {
            PROTO_IPV4 | PROTO_IPV6 => body,
            PROTO_TEB => after_ethertype(body, 12).ok()?,
            _ => break,
        };
        if !matches!(inner.first().map(|b| b >> 4), Some(4 | 6)) {
            break;
        }
        cur = inner;
        found = true;
    }
    found.then_some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn gre_with_key_and_nested_is_unwrapped() {
        let inner = ipv4(6, &[0; 20]);
        let mut gre = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 7];
        gre.extend_from_slice(&inner);
        let outer = ipv4(47, &gre);
        assert_eq!(gre_inner(&outer), Some(&inner[..]));
        let mut gre2 = vec![0, 0, 0x08, 0x00];
        gre2.extend_from_slice(&outer);
        assert_eq!(gre_inner(&ipv4(47, &gre2)), Some(&inner[..]));
        // Not GRE, GRE version 1 (PPTP), truncated: left alone.
        assert_eq!(gre_inner(&inner), None);
        assert_eq!(gre_inner(&ipv4(47, &[0, 1, 0x88, 0x0b])), None);
        assert_eq!(gre_inner(&ipv4(47, &[0x20, 0, 0x08])), None);
        for n in 0..outer.len() {
            let _ = gre_inner(&outer[..n]);
        }
    }
}

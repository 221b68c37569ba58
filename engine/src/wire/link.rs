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

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Walks VLAN tags (802.1Q, QinQ) from an ethertype at `at` to the IP packet.
pub(crate) fn after_ethertype(frame: &[u8], mut at: usize) -> Result<&[u8], WireError> {
    for _ in 0..4 {
        let et = be16(frame, at).ok_or(WireError::Malformed("link header cut short"))?;
        if ETH_VLAN.contains(&et) {
            at += 4;
            continue;
        }
        return match et {
            ETH_IPV4 | ETH_IPV6 => Ok(&frame[at + 2..]),
            _ => Err(WireError::NotIp),
        };
    }
    Err(WireError::Malformed("too many VLAN tags"))
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
        NULL | ETHERNET | RAW | 12 | 14 | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
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
        for n in 0..16 {
            for lt in [ETHERNET, LINUX_SLL, LINUX_SLL2, NULL, RAW] {
                let _ = l3(lt, &eth[..n.min(eth.len())]);
            }
        }
    }
}

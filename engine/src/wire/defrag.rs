//! IPv4 fragment reassembly for offline replay.
//!
//! Live, the kernel reassembles before NFQUEUE (conntrack defragments before FORWARD), so the
//! replay does the same to see what the live engine would see. The policy follows Linux
//! (`inet_frag_queue_insert`): an exact duplicate fragment is ignored, any other overlap
//! discards the whole datagram (RFC 5722 style, which defeats Teardrop-style overlap tricks),
//! and a datagram that would exceed 65535 bytes is discarded (ping of death). Both are reported
//! as [`FragAnomaly`]s, as is a tiny first fragment (RFC 1858) that cannot hold the transport
//! header, which is still reassembled.

use std::collections::HashMap;
use std::time::Duration;

/// An anomaly seen while reassembling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragAnomaly {
    /// Fragments overlap with different extents (Teardrop and friends); datagram discarded.
    Overlap,
    /// The first fragment is too short to hold the transport header.
    TinyFragment,
    /// The reassembled datagram would exceed 65535 bytes; discarded.
    TooLarge,
    /// Too many datagrams pending; the oldest was dropped.
    Evicted,
}

impl FragAnomaly {
    /// Suricata-style decoder event name (`ipv4.` or `ipv6.` prefix).
    pub fn event_name(self, v6: bool) -> &'static str {
        match (self, v6) {
            (FragAnomaly::Overlap, false) => "ipv4.frag_overlap",
            (FragAnomaly::TinyFragment, false) => "ipv4.frag_tiny",
            (FragAnomaly::TooLarge, false) => "ipv4.frag_pkt_too_large",
            (FragAnomaly::Evicted, false) => "ipv4.frag_evicted",
            (FragAnomaly::Overlap, true) => "ipv6.frag_overlap",
            (FragAnomaly::TinyFragment, true) => "ipv6.frag_tiny",
            (FragAnomaly::TooLarge, true) => "ipv6.frag_pkt_too_large",
            (FragAnomaly::Evicted, true) => "ipv6.frag_evicted",
        }
    }
}

/// What became of a pushed packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a fragment: inspect the packet as it is.
    NotFragment,
    /// Stored; the datagram is not complete yet.
    Pending,
    /// The datagram is complete: the reassembled packet.
    Complete(Vec<u8>),
    /// Part of a discarded datagram (overlap, too large) or an unusable fragment.
    Discarded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    proto: u8,
}

#[derive(Debug)]
struct Datagram {
    first_seen: Duration,
    /// IPv4 header, or the IPv6 unfragmentable part, of the first fragment.
    header: Option<Vec<u8>>,
    /// IPv6: index in `header` of the next-header byte that named the fragment header.
    nh_at: usize,
    pieces: Vec<(usize, Vec<u8>)>,
    total: Option<usize>,
    discarded: bool,
}

/// One fragment, parsed.
struct Frag<'a> {
    key: Key,
    off: usize,
    more: bool,
    header: &'a [u8],
    nh_at: usize,
    data: &'a [u8],
}

fn parse_v4(pkt: &[u8]) -> Option<Result<Frag<'_>, ()>> {
    if pkt.len() < 20 {
        return None;
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let flags_off = u16::from_be_bytes([pkt[6], pkt[7]]);
    let more = flags_off & 0x2000 != 0;
    let off = usize::from(flags_off & 0x1fff) * 8;
    if !more && off == 0 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if ihl < 20 || total_len < ihl || pkt.len() < ihl {
        return Some(Err(()));
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&pkt[12..16]);
    dst[..4].copy_from_slice(&pkt[16..20]);
    Some(Ok(Frag {
        key: Key {
            v6: false,
            src,
            dst,
            id: u32::from(u16::from_be_bytes([pkt[4], pkt[5]])),
            proto: pkt[9],
        },
        off,
        more,
        header: &pkt[..ihl],
        nh_at: 9,
        // A capture may hold less than total_len (snaplen): use what is there.
        data: &pkt[ihl..total_len.min(pkt.len())],
    }))
}

fn parse_v6(pkt: &[u8]) -> Option<Result<Frag<'_>, ()>> {
    if pkt.len() < 40 {
        return None;
    }
    let end = (40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]]))).min(pkt.len());
    let mut nh = pkt[6];
    let mut nh_at = 6;
    let mut pos = 40;
    // Walk hop-by-hop, routing and destination options headers to the fragment header.
    for _ in 0..8 {
        match nh {
            0 | 43 | 60 => {
                let len = (usize::from(*pkt.get(pos + 1)?) + 1) * 8;
                nh_at = pos;
                nh = pkt[pos];
                pos += len;
            }
            44 => {
                let fh = pkt.get(pos..pos + 8)?;
                let field = u16::from_be_bytes([fh[2], fh[3]]);
                let mut src = [0u8; 16];
                let mut dst = [0u8; 16];
                src.copy_from_slice(&pkt[8..24]);
                dst.copy_from_slice(&pkt[24..40]);
                if pos + 8 > end {
                    return Some(Err(()));
                }
                // An atomic fragment (offset 0, no more fragments) is a whole packet and is
                // processed in isolation (RFC 6946), as Suricata decodes it right away: it
                // never joins, completes or poisons a datagram with the same id.
                if field & 0xfff9 == 0 {
                    return None;
                }
                return Some(Ok(Frag {
                    key: Key {
                        v6: true,
                        src,
                        dst,
                        id: u32::from_be_bytes([fh[4], fh[5], fh[6], fh[7]]),
                        proto: fh[0],
                    },
                    off: usize::from(field >> 3) * 8,
                    more: field & 1 != 0,
                    header: &pkt[..pos],
                    nh_at,
                    data: &pkt[pos + 8..end],
                }));
            }
            _ => return None,
        }
    }
    None
}

/// Reassembles IPv4 and IPv6 fragments; timeouts use packet time.
#[derive(Debug)]
pub struct Defragmenter {
    pending: HashMap<Key, Datagram>,
    timeout: Duration,
    max_pending: usize,
    anomalies: Vec<(FragAnomaly, bool)>,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Defragmenter::new(Duration::from_secs(30), 4096)
    }
}

const MAX_DATAGRAM: usize = 65535;

impl Defragmenter {
    /// `timeout` like Linux's ipfrag_time (30 s); at most `max_pending` datagrams in flight.
    pub fn new(timeout: Duration, max_pending: usize) -> Self {
        Defragmenter {
            pending: HashMap::new(),
            timeout,
            max_pending: max_pending.max(1),
            anomalies: Vec::new(),
        }
    }

    /// Anomalies found since the last call.
    pub fn take_anomalies(&mut self) -> Vec<FragAnomaly> {
        self.take_anomalies_by_family()
            .into_iter()
            .map(|(a, _)| a)
            .collect()
    }

    /// Anomalies found since the last call, with `true` for IPv6.
    pub fn take_anomalies_by_family(&mut self) -> Vec<(FragAnomaly, bool)> {
        std::mem::take(&mut self.anomalies)
    }

    /// Number of datagrams waiting for fragments.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Feeds one L3 packet captured at `ts`.
    pub fn push(&mut self, pkt: &[u8], ts: Duration) -> Outcome {
        let parsed = match pkt.first().map(|b| b >> 4) {
            Some(4) => parse_v4(pkt),
            Some(6) => parse_v6(pkt),
            _ => None,
        };
        let f = match parsed {
            None => return Outcome::NotFragment,
            Some(Err(())) => return Outcome::Discarded,
            Some(Ok(f)) => f,
        };
        self.expire(ts);
        let key = f.key;
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            if let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, d)| d.first_seen)
                .map(|(k, _)| *k)
            {
                self.pending.remove(&oldest);
                self.anomalies.push((FragAnomaly::Evicted, key.v6));
            }
        }
        let dg = self.pending.entry(key).or_insert_with(|| Datagram {
            first_seen: ts,
            header: None,
            nh_at: 0,
            pieces: Vec::new(),
            total: None,
            discarded: false,
        });
        if dg.discarded {
            return Outcome::Discarded;
        }
        let (off, data) = (f.off, f.data);
        let end = off + data.len();
        // IPv4 counts its header in the 65535 limit, IPv6 only the payload after it.
        let limit = if key.v6 {
            MAX_DATAGRAM + 40 - f.header.len().min(MAX_DATAGRAM)
        } else {
            MAX_DATAGRAM - f.header.len()
        };
        if end > limit {
            dg.discarded = true;
            dg.pieces.clear();
            self.anomalies.push((FragAnomaly::TooLarge, key.v6));
            return Outcome::Discarded;
        }
        if f.more && data.len() % 8 != 0 {
            // Non-last fragments carry a multiple of 8 bytes; anything else is bogus.
            return Outcome::Discarded;
        }
        // Once the last fragment fixed the length, nothing may lie past it: such a piece
        // would be written outside the reassembled datagram.
        if dg.total.is_some_and(|t| end > t) {
            dg.discarded = true;
            dg.pieces.clear();
            self.anomalies.push((FragAnomaly::Overlap, key.v6));
            return Outcome::Discarded;
        }
        for (s, p) in &dg.pieces {
            let e = s + p.len();
            if *s == off && e == end {
                return Outcome::Pending; // exact duplicate (retransmission): ignored
            }
            if off < e && *s < end {
                dg.discarded = true;
                dg.pieces.clear();
                self.anomalies.push((FragAnomaly::Overlap, key.v6));
                return Outcome::Discarded;
            }
        }
        if !f.more {
            if dg.total.is_some_and(|t| t != end)
                || dg.pieces.iter().any(|(s, p)| s + p.len() > end)
            {
                dg.discarded = true;
                dg.pieces.clear();
                self.anomalies.push((FragAnomaly::Overlap, key.v6));
                return Outcome::Discarded;
            }
            dg.total = Some(end);
        }
        if off == 0 {
            let min_l4 = match key.proto {
                6 => 20,
                17 | 1 | 58 => 8,
                _ => 0,
            };
            if data.len() < min_l4 {
                self.anomalies.push((FragAnomaly::TinyFragment, key.v6));
            }
            dg.header = Some(f.header.to_vec());
            dg.nh_at = f.nh_at;
        }
        dg.pieces.push((off, data.to_vec()));
        let Some(total) = dg.total else {
            return Outcome::Pending;
        };
        if dg.header.is_none() || dg.pieces.iter().map(|(_, p)| p.len()).sum::<usize>() != total {
            return Outcome::Pending;
        }
        // Pieces do not overlap and their sizes add up to the total, so they tile it exactly.
        let dg = self.pending.remove(&key).expect("present");
        let mut header = dg.header.expect("checked");
        let h = header.len();
        let mut out = vec![0u8; h + total];
        for (s, p) in &dg.pieces {
            out[h + s..h + s + p.len()].copy_from_slice(p);
        }
        if key.v6 {
            header[dg.nh_at] = key.proto;
            let plen = (h - 40 + total) as u16;
            header[4..6].copy_from_slice(&plen.to_be_bytes());
            out[..h].copy_from_slice(&header);
        } else {
            let len = (h + total) as u16;
            header[2..4].copy_from_slice(&len.to_be_bytes());
            header[6] &= 0x40; // keep DF, clear MF and the offset
            header[7] = 0;
            header[10] = 0;
            header[11] = 0;
            out[..h].copy_from_slice(&header);
            let csum = ipv4_header_checksum(&out[..h]);
            out[10..12].copy_from_slice(&csum.to_be_bytes());
        }
        Outcome::Complete(out)
    }

    fn expire(&mut self, now: Duration) {
        let timeout = self.timeout;
        self.pending
            .retain(|_, d| now.saturating_sub(d.first_seen) <= timeout);
    }
}

fn ipv4_header_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in h.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Splits an IPv4 packet into fragments carrying `chunk` payload bytes each (a multiple of
/// 8), for tests and benches.
pub fn fragment_ipv4(pkt: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let payload = &pkt[ihl..];
    let chunk = (chunk / 8).max(1) * 8;
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let mut f = pkt[..ihl].to_vec();
        f.extend_from_slice(&payload[off..end]);
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        let mut fo = (off / 8) as u16 | (u16::from(pkt[6] & 0x40) << 8);
        if end < payload.len() {
            fo |= 0x2000;
        }
        f[6..8].copy_from_slice(&fo.to_be_bytes());
        f[10] = 0;
        f[11] = 0;
        let c = ipv4_header_checksum(&f[..ihl]);
        f[10..12].copy_from_slice(&c.to_be_bytes());
        out.push(f);
        off = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// Found by engine/tests/fuzz_pipeline.rs: after the last fragment (length 61), a
    /// non-last one at offset 128 whose size made the pieces add up to 61 "completed" the
    /// datagram, and reassembly wrote past its end (a slice index panic).
    #[test]
    fn a_fragment_past_the_known_end_is_discarded_not_written() {
        let frags = fragment_ipv4(&udp(53), 16); // 16 + 16 + 16 + 13 bytes, ends at 61
        let mut stray = frags[2].clone();
        stray[6..8].copy_from_slice(&(0x2000u16 | (128 / 8)).to_be_bytes());
        let mut d = Defragmenter::default();
        let t = Duration::ZERO;
        assert!(matches!(d.push(&frags[3], t), Outcome::Pending));
        assert!(matches!(d.push(&frags[0], t), Outcome::Pending));
        assert!(matches!(d.push(&frags[1], t), Outcome::Pending));
        assert!(matches!(d.push(&stray, t), Outcome::Discarded));
        assert_eq!(d.take_anomalies(), vec![FragAnomaly::Overlap]);
        // The datagram stays discarded: its real missing piece does not revive it.
        assert!(matches!(d.push(&frags[2], t), Outcome::Discarded));
    }

    fn udp(len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut v = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
            .udp(1000, 2000)
            .write(&mut v, &payload)
            .unwrap();
        v
    }

    #[test]
    fn reassembles_in_any_order_with_duplicates() {
        let pkt = udp(300);
        let mut frags = fragment_ipv4(&pkt, 64);
        frags.reverse();
        let dup = frags[1].clone();
        frags.insert(2, dup);
        let mut d = Defragmenter::default();
        let mut done = None;
        for f in &frags {
            match d.push(f, Duration::from_secs(1)) {
                Outcome::Complete(p) => done = Some(p),
                Outcome::Pending => {}
                o => panic!("{o:?}"),
            }
        }
        assert_eq!(done.unwrap(), pkt);
        assert!(d.take_anomalies().is_empty());
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn teardrop_overlap_is_reported_and_discarded() {
        let pkt = udp(100);
        let frags = fragment_ipv4(&pkt, 48);
        // Second fragment moved back by 8 bytes: it overlaps the first (Teardrop).
        let mut bad = frags[1].clone();
        let fo = u16::from_be_bytes([bad[6], bad[7]]);
        bad[6..8].copy_from_slice(&(fo - 1).to_be_bytes());
        let mut d = Defragmenter::default();
        assert_eq!(d.push(&frags[0], Duration::ZERO), Outcome::Pending);
        assert_eq!(d.push(&bad, Duration::ZERO), Outcome::Discarded);
        assert_eq!(d.push(&frags[2], Duration::ZERO), Outcome::Discarded);
        assert_eq!(d.take_anomalies(), vec![FragAnomaly::Overlap]);
    }

    #[test]
    fn ping_of_death_and_timeout() {
        let pkt = udp(100);
        let frags = fragment_ipv4(&pkt, 8); // the first carries only the 8-byte UDP header
        let mut d = Defragmenter::default();
        let mut complete = false;
        for f in &frags {
            complete |= matches!(d.push(f, Duration::ZERO), Outcome::Complete(_));
        }
        assert!(complete);
        let _ = d.take_anomalies();
        // Ping of death: offset near the maximum.
        let mut pod = frags[1].clone();
        pod[6..8].copy_from_slice(&0x1fffu16.to_be_bytes());
        assert_eq!(d.push(&pod, Duration::ZERO), Outcome::Discarded);
        assert_eq!(d.take_anomalies(), vec![FragAnomaly::TooLarge]);
        // A lone fragment expires with packet time.
        assert_eq!(
            d.push(&frags[1], Duration::from_secs(100)),
            Outcome::Pending
        );
        d.push(&frags[2], Duration::from_secs(200));
        assert_eq!(d.pending(), 1);
    }

    #[test]
    fn tiny_first_fragment_is_flagged() {
        let mut v = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
            .tcp(1, 2, 3, 4)
            .write(&mut v, b"0123456789abcdef")
            .unwrap();
        let frags = fragment_ipv4(&v, 8);
        let mut d = Defragmenter::default();
        for f in &frags {
            d.push(f, Duration::ZERO);
        }
        assert_eq!(d.take_anomalies(), vec![FragAnomaly::TinyFragment]);
    }

    /// Splits an IPv6 packet (no extension headers) into fragments with a fragment header.
    fn fragment_ipv6(pkt: &[u8], chunk: usize, id: u32) -> Vec<Vec<u8>> {
        let payload = &pkt[40..];
        let mut out = Vec::new();
        let mut off = 0;
        while off < payload.len() {
            let end = (off + chunk).min(payload.len());
            let mut f = pkt[..40].to_vec();
            f[6] = 44;
            let more = u16::from(end < payload.len());
            let field = ((off / 8) as u16) << 3 | more;
            f.extend_from_slice(&[pkt[6], 0]);
            f.extend_from_slice(&field.to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&payload[off..end]);
            let plen = (f.len() - 40) as u16;
            f[4..6].copy_from_slice(&plen.to_be_bytes());
            out.push(f);
            off = end;
        }
        out
    }

    /// A UDP datagram (1000 → 2000) between two IPv6 documentation addresses.
    fn udp6(payload: &[u8]) -> Vec<u8> {
        let mut pkt = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(1000, 2000)
        .write(&mut pkt, payload)
        .unwrap();
        pkt
    }

    #[test]
    fn ipv6_fragments_reassemble_and_overlaps_are_caught() {
        let payload: Vec<u8> = (0..300).map(|i| (i % 200) as u8).collect();
        let pkt = udp6(&payload);
        let mut frags = fragment_ipv6(&pkt, 96, 7);
        frags.swap(0, 2);
        let mut d = Defragmenter::default();
        let mut done = None;
        for f in &frags {
            if let Outcome::Complete(p) = d.push(f, Duration::ZERO) {
                done = Some(p);
            }
        }
        assert_eq!(done.unwrap(), pkt);
        let frags = fragment_ipv6(&pkt, 96, 8);
        let mut bad = frags[1].clone();
        let field = u16::from_be_bytes([bad[42], bad[43]]);
        bad[42..44].copy_from_slice(&(field - 8).to_be_bytes()); // one 8-byte unit back
        assert_eq!(d.push(&frags[0], Duration::ZERO), Outcome::Pending);
        assert_eq!(d.push(&bad, Duration::ZERO), Outcome::Discarded);
        assert_eq!(d.take_anomalies(), vec![FragAnomaly::Overlap]);
        // Not a fragment at all.
        assert_eq!(d.push(&pkt, Duration::ZERO), Outcome::NotFragment);
    }

    #[test]
    fn ipv6_atomic_fragments_stand_alone() {
        let pkt = udp6(&[7u8; 200]);
        let frags = fragment_ipv6(&pkt, 96, 9);
        // An atomic fragment with the id of a datagram being reassembled (RFC 8021's attack):
        // a packet of its own, which the datagram does not absorb.
        let atomic = fragment_ipv6(&udp6(&[7u8; 56]), 96, 9).remove(0);
        let mut d = Defragmenter::default();
        assert_eq!(d.push(&frags[0], Duration::ZERO), Outcome::Pending);
        assert_eq!(d.push(&atomic, Duration::ZERO), Outcome::NotFragment);
        let p = crate::wire::Packet::parse(&atomic).unwrap();
        assert!(!p.ip().fragmented);
        assert_eq!(p.ports(), (1000, 2000));
        let mut done = None;
        for f in &frags[1..] {
            if let Outcome::Complete(v) = d.push(f, Duration::ZERO) {
                done = Some(v);
            }
        }
        assert_eq!(done.unwrap(), pkt);
        assert!(d.take_anomalies().is_empty());
    }

    #[test]
    fn garbage_never_panics() {
        let mut d = Defragmenter::default();
        for len in 0..64 {
            let mut v = vec![0x45u8; len];
            if len > 7 {
                v[6] = 0x20;
            }
            let _ = d.push(&v, Duration::ZERO);
            let mut w = vec![0x60u8; len];
            if len > 7 {
                w[6] = 44;
            }
            let _ = d.push(&w, Duration::ZERO);
            if len > 41 {
                w[6] = 0;
                w[40] = 44;
                w[41] = 0;
                let _ = d.push(&w, Duration::ZERO);
            }
        }
    }
}

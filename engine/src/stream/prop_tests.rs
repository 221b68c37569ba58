//! Property tests: permuted, duplicated and overlapping resends of one byte stream
//! reassemble to exactly that stream; arbitrary overlapping segments reassemble as a per-byte
//! model of the overlap policy says (with or without a Fast Open SYN carrying the first
//! bytes); garbage never panics nor exceeds the limits.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Records what a call delivered, checking the window invariants on the way.
fn collect(h: &HalfStream, p: &Progress, cfg: &StreamConfig, out: &mut Vec<u8>) {
    let (ws, w) = (h.window_start(), h.window());
    assert_eq!(ws + w.len() as u64, h.contiguous_end());
    if !p.new.is_empty() {
        assert_eq!(p.new.end, h.contiguous_end());
        assert!(ws <= p.new.start);
        assert!(w.len() as u64 <= cfg.retain as u64 + (p.new.end - p.new.start));
        assert_eq!(
            h.window_from(p.new.start),
            &w[(p.new.start - ws) as usize..]
        );
        out.extend_from_slice(h.window_from(p.new.start));
    }
}

/// splitmix64: the shuffle and resend choices derive from one proptest seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((x ^ (x >> 31)) % n.max(1) as u64) as usize
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn permuted_duplicated_segments_reassemble_the_original_stream(
        data in prop::collection::vec(any::<u8>(), 1..3000),
        isn in prop_oneof![any::<u32>(), Just(u32::MAX - 100), Just(u32::MAX)],
        seed in any::<u64>(),
        max_seg in 1usize..400,
        resends in 0usize..30,
        retain in prop_oneof![Just(0usize), 1usize..64, Just(4096usize)],
        depth in prop_oneof![Just(0u64), 1u64..3500],
        fast_open in any::<bool>(),
    ) {
        let mut rng = Rng(seed);
        let len = data.len();
        let mut segs = Vec::new();
        let mut at = 0;
        while at < len {
            let end = (at + 1 + rng.next(max_seg)).min(len);
            segs.push(at..end);
            at = end;
        }
        for _ in 0..resends {
            let a = rng.next(len);
            segs.push(a..(a + 1 + rng.next(max_seg)).min(len));
        }
        for i in (1..segs.len()).rev() {
            segs.swap(i, rng.next(i + 1));
        }
        let cfg = StreamConfig { depth, retain, max_ooo_bytes: 1 << 20, max_ooo_segments: 1 << 12, memcap: 1 << 24 };
        let (mut h, mut mem, mut out) = (HalfStream::new(), StreamMem::new(), Vec::new());
        if fast_open {
            // A Fast Open SYN carries a prefix first; the segments, which cover the whole
            // stream, then resend it (a refused cookie) or go on from it (an accepted one).
            let k = rng.next(max_seg + 1).min(len);
            let p = h.on_syn_data(SeqNumber(isn), &data[..k], false, &cfg, &mut mem);
            prop_assert_eq!(p.new.start, 0);
            collect(&h, &p, &cfg, &mut out);
        } else {
            h.on_syn(SeqNumber(isn));
        }
        for r in &segs {
            let seq = SeqNumber(isn) + 1 + r.start as u32;
            let p = h.on_segment(seq, &data[r.clone()], r.end == len, false, &cfg, &mut mem);
            prop_assert!(!p.events.contains(StreamEvents::OVERLAP_CONFLICT));
            prop_assert_eq!(p.new.start, out.len() as u64, "delivery is contiguous, without gaps");
            collect(&h, &p, &cfg, &mut out);
            prop_assert_eq!(mem.used(), h.held_bytes());
        }
        let want = if depth == 0 { len } else { len.min(depth as usize) };
        prop_assert_eq!(&out[..], &data[..want]);
        prop_assert!(h.is_closed() || h.past_depth());
        prop_assert_eq!(h.buffered_bytes(), 0);
        h.release(&mut mem);
        prop_assert_eq!(mem.used(), 0);
    }

    #[test]
    fn overlapping_segments_reassemble_as_the_per_byte_policy_model(
        segs in prop::collection::vec((0u64..120, prop::collection::vec(0u8..3, 0..30)), 1..40),
        isn in any::<u32>(),
    ) {
        let cfg = StreamConfig { depth: 0, retain: 1 << 20, max_ooo_bytes: 1 << 20, max_ooo_segments: 1 << 12, memcap: 1 << 24 };
        let (mut h, mut mem, mut out) = (HalfStream::new(), StreamMem::new(), Vec::new());
        h.on_syn(SeqNumber(isn));
        // The model: each undelivered byte held with the span of the segment it came from;
        // a byte is replaced only by a segment that starts earlier, or as early and longer.
        let mut held: BTreeMap<u64, (u8, (u64, u64))> = BTreeMap::new();
        let mut want: Vec<u8> = Vec::new();
        for (start, bytes) in &segs {
            let (s, e) = (*start, start + bytes.len() as u64);
            let (mut covered, mut conflict) = (0, false);
            for (i, &b) in bytes.iter().enumerate() {
                let off = s + i as u64;
                if let Some(&d) = want.get(off as usize) {
                    covered += 1;
                    conflict |= d != b;
                    continue;
                }
                match held.get(&off) {
                    Some(&(hb, (hs, he))) => {
                        covered += 1;
                        conflict |= hb != b;
                        if s < hs || (s == hs && e > he) {
                            held.insert(off, (b, (s, e)));
                        }
                    }
                    None => {
                        held.insert(off, (b, (s, e)));
                    }
                }
            }
            let ooo = s > want.len() as u64 && !bytes.is_empty();
            while let Some((b, _)) = held.remove(&(want.len() as u64)) {
                want.push(b);
            }
            let p = h.on_segment(SeqNumber(isn) + 1 + *start as u32, bytes, false, false, &cfg, &mut mem);
            collect(&h, &p, &cfg, &mut out);
            prop_assert_eq!(&out, &want);
            let ev = |f| p.events.contains(f);
            prop_assert_eq!(ev(StreamEvents::OVERLAP_CONFLICT), conflict);
            prop_assert_eq!(ev(StreamEvents::OUT_OF_ORDER), ooo);
            prop_assert_eq!(ev(StreamEvents::RETRANSMISSION), !bytes.is_empty() && covered == bytes.len());
            prop_assert_eq!(ev(StreamEvents::OVERLAP), covered > 0 && covered < bytes.len());
            prop_assert_eq!(h.buffered_bytes(), held.len());
        }
        h.release(&mut mem);
        prop_assert_eq!(mem.used(), 0);
    }

    #[test]
    fn garbage_never_panics_nor_exceeds_the_limits(
        ops in prop::collection::vec(
            (0usize..3, 0u8..12, prop_oneof![3 => 0u32..3000, 1 => any::<u32>()], 0usize..300, any::<bool>(), prop::bool::weighted(0.05), any::<u8>()),
            1..200),
        bases in [any::<u32>(), any::<u32>(), any::<u32>()],
        depth in prop_oneof![Just(0u64), Just(300u64), Just(3000u64)],
        max_ooo_bytes in 0usize..800,
        max_ooo_segments in 0usize..6,
        retain in 0usize..100,
        memcap in 200usize..3000,
    ) {
        let cfg = StreamConfig { depth, max_ooo_bytes, max_ooo_segments, retain, memcap };
        let mut mem = StreamMem::new();
        let mut halves = [HalfStream::new(), HalfStream::new(), HalfStream::new()];
        let mut sink = Vec::new();
        for (i, kind, off, len, fin, rst, byte) in ops {
            let seq = SeqNumber(bases[i]) + off;
            let h = &mut halves[i];
            let payload: Vec<u8> = (0..len).map(|k| byte.wrapping_add((k % 7) as u8)).collect();
            let p = match kind {
                0 => h.on_syn_data(seq, &payload, fin, &cfg, &mut mem),
                1 => h.on_ack(seq, &cfg, &mut mem),
                2 => h.skip_to_buffered(&cfg, &mut mem),
                3 => { h.release(&mut mem); continue; }
                _ => h.on_segment(seq, &payload, fin, rst, &cfg, &mut mem),
            };
            sink.clear();
            collect(h, &p, &cfg, &mut sink);
            prop_assert!(mem.used() <= memcap, "used {} > memcap {}", mem.used(), memcap);
            let mut held = 0;
            for h in &halves {
                prop_assert!(h.buffered_bytes() <= max_ooo_bytes);
                prop_assert!(h.buffered_segments() <= max_ooo_segments);
                prop_assert!(depth == 0 || h.contiguous_end() <= depth);
                prop_assert!(h.held_bytes() >= h.window().len() + h.buffered_bytes());
                held += h.held_bytes();
            }
            prop_assert_eq!(mem.used(), held);
        }
        prop_assert!(mem.peak() <= memcap);
        for h in &mut halves {
            h.release(&mut mem);
        }
        prop_assert_eq!(mem.used(), 0);
    }
}

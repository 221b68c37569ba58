//! Literal-sequence tests of one direction.

use super::*;

const ISN: u32 = 1000;

/// A half-stream synchronized at `ISN`, its worker memory, and every byte delivered so far.
struct Rig {
    h: HalfStream,
    mem: StreamMem,
    cfg: StreamConfig,
    out: Vec<u8>,
}

impl Rig {
    fn new(cfg: StreamConfig) -> Rig {
        let mut h = HalfStream::new();
        h.on_syn(SeqNumber(ISN));
        Rig {
            h,
            mem: StreamMem::new(),
            cfg,
            out: Vec::new(),
        }
    }
    fn unlimited() -> Rig {
        Rig::new(StreamConfig {
            depth: 0,
            ..StreamConfig::default()
        })
    }
    /// Data at stream offset `off`.
    fn at(&mut self, off: u32, data: &[u8]) -> Progress {
        self.send(SeqNumber(ISN + 1) + off, data, false, false)
    }
    fn send(&mut self, seq: SeqNumber, data: &[u8], fin: bool, rst: bool) -> Progress {
        let p = self
            .h
            .on_segment(seq, data, fin, rst, &self.cfg, &mut self.mem);
        self.collect(&p);
        p
    }
    fn ack(&mut self, off: u32) -> Progress {
        let p = self
            .h
            .on_ack(SeqNumber(ISN + 1) + off, &self.cfg, &mut self.mem);
        self.collect(&p);
        p
    }
    /// Checks the window invariants and records the new bytes.
    fn collect(&mut self, p: &Progress) {
        let (ws, w) = (self.h.window_start(), self.h.window());
        assert_eq!(ws + w.len() as u64, self.h.contiguous_end());
        if !p.new.is_empty() {
            assert_eq!(p.new.end, self.h.contiguous_end());
            assert!(ws <= p.new.start, "window must hold the new range in full");
            self.out
                .extend_from_slice(&w[(p.new.start - ws) as usize..]);
        }
        assert_eq!(
            self.mem.used(),
            self.h.held_bytes(),
            "accounting matches what is held"
        );
        assert!(self.h.held_bytes() >= self.h.window().len() + self.h.buffered_bytes());
    }
    fn window(&self) -> &str {
        std::str::from_utf8(self.h.window()).unwrap()
    }
    fn out(&self) -> &str {
        std::str::from_utf8(&self.out).unwrap()
    }
}

const E: StreamEvents = StreamEvents::NONE;

#[test]
fn in_order_segments_are_delivered_once_each() {
    let mut r = Rig::unlimited();
    let p = r.at(0, b"GET ");
    assert_eq!((p.new, p.events), (0..4, E));
    let p = r.at(4, b"/ HTTP/1.1");
    assert_eq!((p.new, p.events), (4..14, E));
    assert_eq!(r.window(), "GET / HTTP/1.1");
    assert_eq!(r.out(), "GET / HTTP/1.1");
    assert_eq!(r.mem.counters().segments, 2);
}

#[test]
fn retransmission_brings_nothing_new() {
    let mut r = Rig::unlimited();
    r.at(0, b"abcdef");
    let p = r.at(0, b"abcdef");
    assert_eq!((p.new, p.events), (6..6, StreamEvents::RETRANSMISSION));
    let p = r.at(2, b"cd");
    assert_eq!(p.events, StreamEvents::RETRANSMISSION);
    assert_eq!(r.out(), "abcdef");
    assert_eq!(r.mem.counters().retransmissions, 2);
    assert_eq!(r.mem.counters().conflicts, 0);
}

#[test]
fn partial_overlap_delivers_only_the_new_tail() {
    let mut r = Rig::unlimited();
    r.at(0, b"abcd");
    let p = r.at(2, b"cdef");
    assert_eq!((p.new, p.events), (4..6, StreamEvents::OVERLAP));
    assert_eq!(r.out(), "abcdef");
}

#[test]
fn conflicting_resend_of_delivered_bytes_keeps_the_first_copy() {
    let mut r = Rig::unlimited();
    r.at(0, b"abcd");
    let p = r.at(2, b"XXef");
    assert_eq!(
        (p.new, p.events),
        (4..6, StreamEvents::OVERLAP | StreamEvents::OVERLAP_CONFLICT)
    );
    let p = r.at(0, b"abZd");
    assert_eq!(
        p.events,
        StreamEvents::RETRANSMISSION | StreamEvents::OVERLAP_CONFLICT
    );
    assert_eq!(r.out(), "abcdef");
    assert_eq!(r.window(), "abcdef");
    assert_eq!(r.mem.counters().conflicts, 2);
}

#[test]
fn out_of_order_segment_is_buffered_and_delivered_with_the_filler() {
    let mut r = Rig::unlimited();
    r.at(0, b"ab");
    let p = r.at(6, b"ghij");
    assert_eq!((p.new, p.events), (2..2, StreamEvents::OUT_OF_ORDER));
    let p = r.at(4, b"ef");
    assert_eq!(p.events, StreamEvents::OUT_OF_ORDER);
    assert_eq!((r.h.buffered_bytes(), r.h.buffered_segments()), (6, 2));
    // The filler's packet carries everything it makes contiguous.
    let p = r.at(2, b"cd");
    assert_eq!((p.new, p.events), (2..10, E));
    assert_eq!(r.window(), "abcdefghij");
    assert_eq!(r.out(), "abcdefghij");
    assert_eq!(r.h.buffered_bytes(), 0);
    assert_eq!(r.mem.counters().out_of_order, 2);
}

/// Buffers `first` segments (offset, bytes) beyond a hole at 0..10, then fills the hole with
/// `filler`; returns the reassembled text and the events of each buffered segment.
fn overlap_case(first: &[(u32, &str)], filler: &str) -> (String, Vec<StreamEvents>) {
    let mut r = Rig::unlimited();
    let evs = first
        .iter()
        .map(|&(off, s)| r.at(off, s.as_bytes()).events)
        .collect();
    r.at(0, filler.as_bytes());
    (r.out().to_string(), evs)
}

#[test]
fn buffered_overlaps_follow_the_linux_policy_and_flag_conflicts() {
    const OOO: StreamEvents = StreamEvents::OUT_OF_ORDER;
    const C: StreamEvents = StreamEvents::OVERLAP_CONFLICT;
    const RE: StreamEvents = StreamEvents::RETRANSMISSION;
    const OV: StreamEvents = StreamEvents::OVERLAP;
    let f = "0123456789";
    // Same start, longer new copy: it replaces the old one.
    let (s, e) = overlap_case(&[(10, "aaaa"), (10, "bbbbbb")], f);
    assert_eq!((s.as_str(), e[1]), ("0123456789bbbbbb", OOO | OV | C));
    // Same start and length: the first copy stays.
    let (s, e) = overlap_case(&[(10, "aaaa"), (10, "bbbb")], f);
    assert_eq!((s.as_str(), e[1]), ("0123456789aaaa", OOO | RE | C));
    // Same start, shorter new copy: the longer (first) stays.
    let (s, _) = overlap_case(&[(10, "aaaa"), (10, "bb")], f);
    assert_eq!(s, "0123456789aaaa");
    // A new segment that starts earlier wins everything it covers.
    let (s, e) = overlap_case(&[(12, "aa"), (11, "bbbb")], "0123456789c");
    assert_eq!((s.as_str(), e[1]), ("0123456789cbbbb", OOO | OV | C));
    // One inside an earlier-starting copy loses.
    let (s, e) = overlap_case(&[(10, "aaaaaa"), (12, "bb")], f);
    assert_eq!((s.as_str(), e[1]), ("0123456789aaaaaa", OOO | RE | C));
    // Partial overlaps: the earlier-starting side of each overlap wins.
    let (s, _) = overlap_case(&[(10, "aaaaaa"), (13, "bbbbbb")], f);
    assert_eq!(s, "0123456789aaaaaabbb");
    let (s, _) = overlap_case(&[(13, "aaaaaa"), (10, "bbbbbb")], f);
    assert_eq!(s, "0123456789bbbbbbaaa");
    // Identical overlapping copies are no conflict.
    let (_, e) = overlap_case(&[(10, "abcdef"), (13, "defgh")], f);
    assert_eq!(e[1], OOO | OV);
    // The filler starts before everything buffered: it wins where it overlaps.
    let mut r = Rig::unlimited();
    r.at(8, b"xxxxyy");
    let p = r.at(0, b"0123456789");
    assert_eq!(p.events, OV | C);
    assert_eq!(r.out(), "0123456789xxyy");
}

#[test]
fn a_segment_across_two_buffered_ones_loses_to_the_earlier_and_beats_the_later() {
    let mut r = Rig::unlimited();
    r.at(5, b"AA"); // 5..7
    r.at(9, b"BB"); // 9..11
                    // Starts after A (A keeps 6), before B (it takes 9..11 from B).
    let p = r.at(6, b"xxyyzzw");
    assert_eq!(
        p.events,
        StreamEvents::OUT_OF_ORDER | StreamEvents::OVERLAP | StreamEvents::OVERLAP_CONFLICT
    );
    assert_eq!((r.h.buffered_segments(), r.h.buffered_bytes()), (2, 8));
    r.at(0, b"01234");
    assert_eq!(r.out(), "01234AAxyyzzw");
    // A piece trimmed by an earlier-starting segment still outranks later ones: 10..20 is
    // cut to 15..20 by 5..15, and a segment at 12 loses 12..20 to the two of them.
    let mut r = Rig::unlimited();
    r.at(10, b"aaaaaaaaaa");
    r.at(5, b"bbbbbbbbbb");
    r.at(12, b"cccccccccccc");
    r.at(0, b"01234");
    assert_eq!(r.out(), "01234bbbbbbbbbbaaaaacccc");
}

#[test]
fn sequence_numbers_wrap_around_2_32() {
    let mut r = Rig::unlimited();
    let mut h = HalfStream::new();
    h.on_syn(SeqNumber(0xffff_fff8));
    r.h = h;
    // Offset 0 is 0xffff_fff9; 10 bytes cross the wrap.
    let p = r.send(SeqNumber(0xffff_fff9), b"0123456789", false, false);
    assert_eq!(p.new, 0..10);
    // Out of order on the far side of the wrap, then the filler.
    let p = r.send(SeqNumber(0x0000_0007), b"klm", false, false);
    assert_eq!(p.events, StreamEvents::OUT_OF_ORDER);
    let p = r.send(SeqNumber(0x0000_0003), b"abcd", false, false);
    assert_eq!(p.new, 10..17);
    assert_eq!(r.out(), "0123456789abcdklm");
    assert_eq!(r.h.offset_of(SeqNumber(0x0000_0003)), Some(10));
    assert_eq!(r.h.offset_of(SeqNumber(0xffff_fff9)), Some(0));
    assert_eq!(r.h.offset_of(SeqNumber(0xffff_fff0)), None);
    // A stream longer than 2^32 keeps counting in u64.
    let mut h = HalfStream::new();
    h.pickup(SeqNumber(7));
    let (cfg, mut mem) = (
        StreamConfig {
            depth: 0,
            retain: 0,
            ..StreamConfig::default()
        },
        StreamMem::new(),
    );
    let chunk = vec![0u8; 1 << 16];
    let mut seq = SeqNumber(7);
    for _ in 0..(1u32 << 16) + 1 {
        let p = h.on_segment(seq, &chunk, false, false, &cfg, &mut mem);
        assert!(p.events.is_empty());
        seq = seq + (1 << 16);
    }
    assert_eq!(h.contiguous_end(), (1u64 << 32) + (1 << 16));
    assert_eq!(mem.used(), 1 << 16);
    h.release(&mut mem);
    assert_eq!(mem.used(), 0);
}

#[test]
fn an_ack_beyond_the_contiguous_end_declares_a_gap() {
    let mut r = Rig::unlimited();
    r.at(0, b"abcd");
    r.at(8, b"ijkl");
    r.at(16, b"qr");
    // Acked up to 20: bytes 4..8 and 12..16 passed us by. One gap per call.
    let p = r.ack(20);
    assert_eq!((p.new.clone(), p.events), (8..12, StreamEvents::GAP));
    assert_eq!((r.window(), r.h.window_start()), ("ijkl", 8));
    let p = r.ack(20);
    assert_eq!((p.new.clone(), p.events), (16..18, StreamEvents::GAP));
    let p = r.ack(20);
    assert_eq!((p.new.clone(), p.events), (20..20, StreamEvents::GAP));
    assert_eq!(r.h.contiguous_end(), 20);
    let p = r.ack(20);
    assert_eq!((p.new, p.events), (20..20, E));
    let c = *r.mem.counters();
    assert_eq!((c.gaps, c.gap_bytes), (3, 4 + 4 + 2));
    // The stream goes on after the gaps; old acks change nothing.
    assert_eq!(r.at(20, b"uv").new, 20..22);
    assert!(r.ack(3).events.is_empty());
    assert_eq!(r.out(), "abcdijklqruv");
}

#[test]
fn gap_skipping_for_a_direction_whose_acks_are_never_seen() {
    let mut r = Rig::unlimited();
    r.at(0, b"ab");
    r.at(5, b"fg");
    let p = r.h.skip_to_buffered(&r.cfg, &mut r.mem);
    r.collect(&p);
    assert_eq!((p.new, p.events), (5..7, StreamEvents::GAP));
    assert_eq!(r.out(), "abfg");
    let p = r.h.skip_to_buffered(&r.cfg, &mut r.mem);
    assert_eq!(p.events, E);
}

#[test]
fn depth_stops_the_direction() {
    let mut r = Rig::new(StreamConfig {
        depth: 10,
        ..StreamConfig::default()
    });
    r.at(12, b"zz"); // beyond the depth: never buffered
    assert_eq!(r.h.buffered_bytes(), 0);
    r.at(8, b"89AB"); // buffered up to the depth only
    assert_eq!(r.h.buffered_bytes(), 2);
    let p = r.at(0, b"01234567");
    assert_eq!((p.new, p.events), (0..10, StreamEvents::DEPTH_REACHED));
    assert!(r.h.past_depth());
    assert_eq!(r.out(), "0123456789");
    // Past the depth the direction holds nothing and reports nothing.
    let p = r.at(10, b"more");
    assert_eq!((p.new, p.events), (10..10, E));
    assert_eq!((r.mem.used(), r.h.window().len()), (0, 0));
    assert_eq!(r.mem.counters().depth_reached, 1);
    // A gap that reaches the depth ends it too.
    let mut r = Rig::new(StreamConfig {
        depth: 10,
        ..StreamConfig::default()
    });
    r.at(0, b"ab");
    let p = r.ack(50);
    assert_eq!(
        (p.new, p.events),
        (10..10, StreamEvents::GAP | StreamEvents::DEPTH_REACHED)
    );
}

#[test]
fn per_direction_limits_refuse_and_count() {
    let mut r = Rig::new(StreamConfig {
        max_ooo_bytes: 10,
        max_ooo_segments: 2,
        ..StreamConfig::default()
    });
    assert!(!r.at(10, b"aa").events.contains(StreamEvents::LIMIT_HIT));
    assert!(!r.at(20, b"bb").events.contains(StreamEvents::LIMIT_HIT));
    let p = r.at(30, b"cc");
    assert_eq!(
        p.events,
        StreamEvents::OUT_OF_ORDER | StreamEvents::LIMIT_HIT
    );
    assert_eq!(r.h.buffered_segments(), 2);
    // Joining an existing piece still needs a piece of its own: refused.
    assert!(r.at(12, b"a").events.contains(StreamEvents::LIMIT_HIT));
    // Replacing a covered piece keeps the count: accepted.
    assert!(!r.at(19, b"xbb").events.contains(StreamEvents::LIMIT_HIT));
    // Bytes: 3 + 2 held, 6 more would pass 10.
    assert_eq!(r.h.buffered_bytes(), 5);
    assert!(r.at(40, b"dddddd").events.contains(StreamEvents::LIMIT_HIT));
    assert_eq!(r.mem.counters().limit_hits, 3);
    assert_eq!(r.mem.used(), 5);
}

#[test]
fn the_worker_memcap_bounds_all_flows() {
    let cfg = StreamConfig {
        depth: 0,
        retain: 4,
        memcap: 20,
        ..StreamConfig::default()
    };
    let mut mem = StreamMem::new();
    let (mut a, mut b) = (HalfStream::new(), HalfStream::new());
    a.pickup(SeqNumber(0));
    b.pickup(SeqNumber(0));
    // a holds 12 bytes out of order.
    a.on_segment(SeqNumber(100), &[1; 12], false, false, &cfg, &mut mem);
    // b: 8 bytes in order fit exactly.
    let p = b.on_segment(SeqNumber(0), &[2; 8], false, false, &cfg, &mut mem);
    assert_eq!((p.new, mem.used()), (0..8, 20));
    // b's next 6 bytes fit only by giving up b's own retained context (8 → 2 bytes).
    let p = b.on_segment(SeqNumber(8), &[3; 6], false, false, &cfg, &mut mem);
    assert_eq!((p.new, p.events), (8..14, E));
    assert_eq!((b.window_start(), b.window().len(), mem.used()), (6, 8, 20));
    // Out of order into a full memcap: refused, nothing taken.
    let p = a.on_segment(SeqNumber(200), &[4; 1], false, false, &cfg, &mut mem);
    assert_eq!(
        p.events,
        StreamEvents::OUT_OF_ORDER | StreamEvents::MEMCAP_HIT
    );
    // In order, larger than what b could free: refused and not consumed, so a resend of
    // the same bytes (after the drop) is taken once memory is back.
    let p = b.on_segment(SeqNumber(14), &[5; 10], false, false, &cfg, &mut mem);
    assert_eq!((p.new, p.events), (14..14, StreamEvents::MEMCAP_HIT));
    assert_eq!(b.contiguous_end(), 14);
    assert_eq!(mem.counters().memcap_hits, 2);
    a.release(&mut mem);
    let p = b.on_segment(SeqNumber(14), &[5; 10], false, false, &cfg, &mut mem);
    assert_eq!((p.new, p.events), (14..24, E));
    assert!(mem.peak() <= 20);
    b.release(&mut mem);
    assert_eq!(mem.used(), 0);
}

#[test]
fn fin_completes_the_stream_and_later_data_is_ignored() {
    let mut r = Rig::unlimited();
    let fin = |r: &mut Rig, off: u32, d: &[u8]| r.send(SeqNumber(ISN + 1) + off, d, true, false);
    r.at(0, b"abc");
    let p = fin(&mut r, 3, b"de");
    assert_eq!((p.new, p.events), (3..5, StreamEvents::FIN));
    assert!(r.h.is_closed());
    let p = r.at(5, b"late");
    assert_eq!(p.events, StreamEvents::DATA_AFTER_CLOSE);
    let p = r.at(3, b"de");
    assert_eq!(p.events, StreamEvents::RETRANSMISSION);
    assert_eq!(r.out(), "abcde");

    // A FIN that arrives out of order counts when the stream reaches it; data buffered past
    // it is dropped.
    let mut r = Rig::unlimited();
    r.at(9, b"zz");
    let p = fin(&mut r, 5, b"fgh");
    assert_eq!(p.events, StreamEvents::OUT_OF_ORDER);
    let p = r.at(0, b"abcde");
    assert_eq!(
        (p.new, p.events),
        (0..8, StreamEvents::FIN | StreamEvents::DATA_AFTER_CLOSE)
    );
    assert_eq!((r.out(), r.mem.used()), ("abcdefgh", 8));

    // In-order data that runs past a pending FIN voids it, as a receiver does.
    let mut r = Rig::unlimited();
    fin(&mut r, 4, b"");
    let p = r.at(0, b"abcdefgh");
    assert_eq!((p.new, p.events), (0..8, E));
    assert!(!r.h.is_closed());

    // An ack of the FIN's own sequence number is no data: the gap stops at the FIN.
    let mut r = Rig::unlimited();
    r.at(0, b"ab");
    fin(&mut r, 4, b"ef");
    let p = r.ack(7);
    assert_eq!(
        (p.new, p.events),
        (4..6, StreamEvents::GAP | StreamEvents::FIN)
    );
}

#[test]
fn rst_closes_only_at_an_acceptable_sequence_number() {
    let mut r = Rig::unlimited();
    let rst = |r: &mut Rig, off: u32, d: &[u8]| r.send(SeqNumber(ISN + 1) + off, d, false, true);
    r.at(0, b"abcd");
    r.at(10, b"kl");
    // In the window but not at the contiguous end: a receiver ignores it (RFC 5961).
    let p = rst(&mut r, 2, b"");
    assert_eq!(p.events, StreamEvents::OUT_OF_WINDOW);
    assert!(!r.h.is_closed());
    // At the end of the highest buffered data (Linux's highest SACK): accepted.
    let p = rst(&mut r, 12, b"diagnostic text");
    assert_eq!((p.new, p.events), (4..4, StreamEvents::RST));
    assert!(r.h.is_closed());
    assert_eq!((r.h.buffered_bytes(), r.mem.used()), (0, 4));
    let p = r.at(4, b"efgh");
    assert_eq!(p.events, StreamEvents::DATA_AFTER_CLOSE);
    assert_eq!(r.out(), "abcd");

    let mut r = Rig::unlimited();
    r.at(0, b"abcd");
    assert_eq!(rst(&mut r, 4, b"").events, StreamEvents::RST);
}

#[test]
fn midstream_pickup_starts_at_the_first_segment_seen() {
    let cfg = StreamConfig::default();
    let mut mem = StreamMem::new();
    let mut h = HalfStream::new();
    assert!(!h.is_synchronized());
    // No SYN ever, and no ack from the other side: a one-direction flow.
    let p = h.on_segment(SeqNumber(5000), b"world", false, false, &cfg, &mut mem);
    assert_eq!(p.new, 0..5);
    assert!(h.is_synchronized());
    // A resend reaching back before the pickup point: only the part from offset 0 counts.
    let p = h.on_segment(
        SeqNumber(4990),
        b"0123456789world!",
        false,
        false,
        &cfg,
        &mut mem,
    );
    assert_eq!((p.new, p.events), (5..6, StreamEvents::OVERLAP));
    assert_eq!(h.window(), b"world!");
    // Explicit pickup, then data out of order and the filler.
    let mut h = HalfStream::new();
    h.pickup(SeqNumber(100));
    h.pickup(SeqNumber(900)); // already synchronized: ignored
    h.on_segment(SeqNumber(103), b"de", false, false, &cfg, &mut mem);
    let p = h.on_segment(SeqNumber(100), b"abc", false, false, &cfg, &mut mem);
    assert_eq!(p.new, 0..5);
    assert_eq!(h.window(), b"abcde");
    // A SYN after data does not move the origin; one before any data does.
    h.on_syn(SeqNumber(7));
    assert_eq!(h.offset_of(SeqNumber(105)), Some(5));
    let mut g = HalfStream::new();
    g.on_syn(SeqNumber(1));
    g.on_syn(SeqNumber(50));
    assert_eq!(g.offset_of(SeqNumber(51)), Some(0));
}

#[test]
fn window_spans_packet_boundaries_and_holds_each_new_range_in_full() {
    let mut r = Rig::new(StreamConfig {
        retain: 4,
        ..StreamConfig::default()
    });
    r.at(0, b"abcdef");
    assert_eq!((r.window(), r.h.window_start()), ("abcdef", 0));
    // The next packet sees the last 4 bytes before it: "ev" + "il" is matchable.
    r.at(6, b"ghij");
    assert_eq!((r.window(), r.h.window_start()), ("cdefghij", 2));
    // A call that delivers nothing leaves the window as it was.
    r.at(20, b"uvwxyz");
    assert_eq!(r.window(), "cdefghij");
    // A filler joining 16 buffered bytes: the whole new range plus 4 retained bytes.
    r.at(14, b"opqrst");
    let p = r.at(10, b"klmn");
    assert_eq!(p.new, 10..26);
    assert_eq!(
        (r.window(), r.h.window_start()),
        ("ghijklmnopqrstuvwxyz", 6)
    );
    assert_eq!(r.mem.used(), 20);
    // The new range plus 2 bytes of context, clamped to what is retained and to the end.
    assert_eq!(r.h.window_from(p.new.start - 2), b"ijklmnopqrstuvwxyz");
    assert_eq!(r.h.window_from(0), r.h.window());
    assert_eq!(r.h.window_from(26), b"");
    assert_eq!(r.h.window_from(99), b"");
}

#[test]
fn segments_far_beyond_any_window_are_ignored() {
    let mut r = Rig::unlimited();
    r.at(0, b"a");
    // 2^31 + 2 ahead is 2^31 - 1 behind on the circle: before the stream, ignored.
    let p = r.at((1 << 31) + 2, b"far");
    assert_eq!((p.new, p.events), (1..1, E));
    let p = r.at((1 << 30) + 2, b"far");
    assert_eq!(p.events, StreamEvents::OUT_OF_WINDOW);
    assert!(r
        .ack((1 << 30) + 5)
        .events
        .contains(StreamEvents::OUT_OF_WINDOW));
    assert_eq!((r.h.buffered_bytes(), r.h.contiguous_end()), (0, 1));
    assert_eq!(r.mem.counters().out_of_window, 2);
}

/// Cost per segment of the common paths. Run it in release:
/// `cargo test --release -p verdict-engine --lib stream::half::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore = "measurement, meaningful in release only"]
fn throughput() {
    let cfg = StreamConfig {
        depth: 0,
        ..StreamConfig::default()
    };
    for (name, seg, swap) in [
        ("in order, 1448 B segments", 1448usize, false),
        ("in order, 45 x 1448 B GSO segments", 65_160, false),
        // 65535 puts the retained tail 4 KiB-aliased one byte off its destination: the CPU's
        // memmove is ~40x slower there (measured), whoever does the copy.
        ("in order, 65535 B segments", 65_535, false),
        ("pairs swapped, 1448 B segments", 1448, true),
    ] {
        let total: usize = 512 << 20;
        let payload = vec![0x5a; seg];
        let (mut h, mut mem) = (HalfStream::new(), StreamMem::new());
        h.on_syn(SeqNumber(ISN));
        let n = total / seg;
        let mut delivered = 0u64;
        let t = std::time::Instant::now();
        let mut i = 0;
        while i < n {
            let order: &[usize] = if swap && i + 1 < n { &[1, 0] } else { &[0] };
            for &k in order {
                let seq = SeqNumber(ISN + 1) + ((i + k) * seg) as u32;
                let p = h.on_segment(seq, &payload, false, false, &cfg, &mut mem);
                delivered += p.new.end - p.new.start;
            }
            i += order.len();
        }
        let dt = t.elapsed();
        assert_eq!(delivered, (n * seg) as u64);
        println!(
            "{name:34} {:7.1} ns/segment {:6.2} GB/s  peak held {} B",
            dt.as_nanos() as f64 / n as f64,
            delivered as f64 / dt.as_secs_f64() / 1e9,
            mem.peak()
        );
        h.release(&mut mem);
        assert_eq!(mem.used(), 0);
    }
}

/// A half with nothing seen, driven by Fast Open SYNs at `ISN`.
fn tfo_rig() -> Rig {
    Rig {
        h: HalfStream::new(),
        ..Rig::unlimited()
    }
}

impl Rig {
    fn syn_data(&mut self, isn: u32, data: &[u8]) -> Progress {
        let p = self
            .h
            .on_syn_data(SeqNumber(isn), data, false, &self.cfg, &mut self.mem);
        self.collect(&p);
        p
    }
}

#[test]
fn fast_open_syn_data_is_stream_data_from_offset_0() {
    let mut r = tfo_rig();
    let p = r.syn_data(ISN, b"GET /a");
    assert_eq!((p.new, p.events), (0..6, E));
    // Cookie accepted: the client goes on right after the SYN's data.
    let p = r.at(6, b"bc HTTP/1.1");
    assert_eq!((p.new, p.events), (6..17, E));
    assert_eq!(r.out(), "GET /abc HTTP/1.1");
    // The server's ack of isn + 1 + 6 + 11 is the contiguous end: no gap.
    assert!(r.ack(17).is_empty());
}

#[test]
fn refused_fast_open_data_is_resent_as_a_retransmission_not_inspected_twice() {
    let mut r = tfo_rig();
    r.syn_data(ISN, b"GET /a");
    // The SYN-ACK acknowledges only the SYN: nothing is skipped or rewound.
    let p = r.ack(0);
    assert_eq!((p.new, p.events), (6..6, E));
    // The client resends the same bytes after the handshake, then more.
    let p = r.at(0, b"GET /a");
    assert_eq!((p.new, p.events), (6..6, StreamEvents::RETRANSMISSION));
    let p = r.at(0, b"GET /abc");
    assert_eq!((p.new, p.events), (6..8, StreamEvents::OVERLAP));
    assert_eq!(r.out(), "GET /abc");
    // A resend with other bytes is what an evasion looks like: flagged.
    let p = r.at(0, b"POST /");
    assert!(p.events.contains(StreamEvents::OVERLAP_CONFLICT));
    assert_eq!(r.out(), "GET /abc");
}

#[test]
fn retried_fast_open_syns_bring_their_data_once() {
    let mut r = tfo_rig();
    r.syn_data(ISN, b"hello");
    // The same SYN again (the client's SYN timer): a retransmission.
    let p = r.syn_data(ISN, b"hello");
    assert_eq!((p.new, p.events), (5..5, StreamEvents::RETRANSMISSION));
    // Another ISN once data was seen: the origin stays and its bytes are not taken.
    let p = r.syn_data(ISN + 5000, b"other");
    assert_eq!((p.new, p.events), (5..5, E));
    assert_eq!(r.h.offset_of(SeqNumber(ISN + 1)), Some(0));
    assert_eq!(r.out(), "hello");
    // A SYN without data only synchronizes, as `on_syn`.
    let mut q = tfo_rig();
    assert!(q.syn_data(ISN, b"").is_empty());
    assert_eq!(q.h.offset_of(SeqNumber(ISN + 1)), Some(0));
    // Fast Open data across the sequence wrap.
    let mut w = tfo_rig();
    let p = w.syn_data(u32::MAX - 1, b"wrap");
    assert_eq!(p.new, 0..4);
    let p = w.send(SeqNumber(3), b"ped", false, false);
    assert_eq!(p.new, 4..7);
    assert_eq!(w.out(), "wrapped");
}

#[test]
fn a_resend_that_adds_only_the_fin_completes_the_stream() {
    let mut r = Rig::unlimited();
    r.at(0, b"abc");
    let p = r.send(SeqNumber(ISN + 1), b"abc", true, false);
    assert!(p
        .events
        .contains(StreamEvents::RETRANSMISSION | StreamEvents::FIN));
    assert!(r.h.is_closed());
}

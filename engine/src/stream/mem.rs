//! [`StreamMem`]: one worker's reassembly memory account and counters. Every byte a
//! half-stream holds (buffered out-of-order data and its window's capacity) is taken from it
//! and given back to it, so the worker's total stays under `StreamConfig::memcap`.

use super::StreamEvents;

/// Reassembly counters of one worker, summed over its flows (the worker publishes them into
/// `detect::Counters` after each packet, for the engine's stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StreamCounters {
    /// Calls to `HalfStream::on_segment`.
    pub segments: u64,
    /// Segments that brought nothing new.
    pub retransmissions: u64,
    /// Segments that overlapped kept bytes and brought new ones.
    pub overlaps: u64,
    /// Segments whose overlapping bytes differed from the kept copy.
    pub conflicts: u64,
    /// Segments that arrived beyond the contiguous end.
    pub out_of_order: u64,
    /// Gaps declared (bytes skipped as lost).
    pub gaps: u64,
    /// Bytes skipped by gaps.
    pub gap_bytes: u64,
    /// Segments refused by a per-direction out-of-order limit.
    pub limit_hits: u64,
    /// Segments refused by the worker memcap.
    pub memcap_hits: u64,
    /// Directions that reached the depth.
    pub depth_reached: u64,
    /// Segments with bytes after FIN or RST.
    pub data_after_close: u64,
    /// Segments or RSTs ignored as outside the window.
    pub out_of_window: u64,
}

/// How many counters [`StreamCounters::to_array`] holds.
pub const STREAM_COUNTERS: usize = 12;

impl StreamCounters {
    /// The counters in declaration order, for copying into atomics.
    pub fn to_array(&self) -> [u64; STREAM_COUNTERS] {
        [
            self.segments,
            self.retransmissions,
            self.overlaps,
            self.conflicts,
            self.out_of_order,
            self.gaps,
            self.gap_bytes,
            self.limit_hits,
            self.memcap_hits,
            self.depth_reached,
            self.data_after_close,
            self.out_of_window,
        ]
    }
    /// The inverse of [`StreamCounters::to_array`].
    pub fn from_array(a: [u64; STREAM_COUNTERS]) -> Self {
        let [segments, retransmissions, overlaps, conflicts, out_of_order, gaps, gap_bytes, limit_hits, memcap_hits, depth_reached, data_after_close, out_of_window] =
            a;
        StreamCounters {
            segments,
            retransmissions,
            overlaps,
            conflicts,
            out_of_order,
            gaps,
            gap_bytes,
            limit_hits,
            memcap_hits,
            depth_reached,
            data_after_close,
            out_of_window,
        }
    }
    /// Adds another worker's counters (saturating), for engine totals.
    pub fn add(&mut self, other: &StreamCounters) {
        let mut a = self.to_array();
        for (x, y) in a.iter_mut().zip(other.to_array()) {
            *x = x.saturating_add(y);
        }
        *self = StreamCounters::from_array(a);
    }
}

/// One worker's reassembly memory (bytes held over all its flows) and counters; passed
/// `&mut` into every half-stream call so no locking is needed.
#[derive(Debug, Default)]
pub struct StreamMem {
    used: usize,
    peak: usize,
    counters: StreamCounters,
}

impl StreamMem {
    /// An empty account.
    pub fn new() -> Self {
        StreamMem::default()
    }
    /// Bytes currently held by the worker's half-streams: buffered payload plus the capacity
    /// of their windows (allocator bookkeeping is not counted).
    pub fn used(&self) -> usize {
        self.used
    }
    /// The highest `used()` seen.
    pub fn peak(&self) -> usize {
        self.peak
    }
    /// The counters so far.
    pub fn counters(&self) -> &StreamCounters {
        &self.counters
    }

    /// True if `n` more bytes fit under `memcap`.
    pub(crate) fn fits(&self, n: usize, memcap: usize) -> bool {
        self.used.checked_add(n).is_some_and(|u| u <= memcap)
    }
    /// Accounts `n` bytes; the caller checked [`StreamMem::fits`], or moves bytes it just
    /// gave back (buffered data becoming window data).
    pub(crate) fn take(&mut self, n: usize) {
        self.used = self.used.saturating_add(n);
        self.peak = self.peak.max(self.used);
    }
    /// Gives `n` bytes back.
    pub(crate) fn give(&mut self, n: usize) {
        debug_assert!(n <= self.used, "stream memory accounting went negative");
        self.used = self.used.saturating_sub(n);
    }
    /// Counts the events of one call (one segment or ack).
    pub(crate) fn count(&mut self, ev: StreamEvents) {
        let c = &mut self.counters;
        for (flag, n) in [
            (StreamEvents::RETRANSMISSION, &mut c.retransmissions),
            (StreamEvents::OVERLAP, &mut c.overlaps),
            (StreamEvents::OVERLAP_CONFLICT, &mut c.conflicts),
            (StreamEvents::OUT_OF_ORDER, &mut c.out_of_order),
            (StreamEvents::GAP, &mut c.gaps),
            (StreamEvents::LIMIT_HIT, &mut c.limit_hits),
            (StreamEvents::MEMCAP_HIT, &mut c.memcap_hits),
            (StreamEvents::DEPTH_REACHED, &mut c.depth_reached),
            (StreamEvents::DATA_AFTER_CLOSE, &mut c.data_after_close),
            (StreamEvents::OUT_OF_WINDOW, &mut c.out_of_window),
        ] {
            if ev.contains(flag) {
                *n += 1;
            }
        }
    }
    pub(crate) fn count_segment(&mut self) {
        self.counters.segments += 1;
    }
    pub(crate) fn count_gap_bytes(&mut self, n: u64) {
        self.counters.gap_bytes = self.counters.gap_bytes.saturating_add(n);
    }
}

//! The out-of-order store of one direction: disjoint pieces of buffered bytes, sorted by
//! stream offset, each remembering the span of the segment it came from so overlaps resolve
//! by the module's policy (the earliest-starting segment wins; on equal starts the longer
//! one; on equal spans the first copy), which is what Linux's `tcp_data_queue_ofo` ends up
//! delivering. Only the out-of-order path touches it, so a piece owning its own `Vec` is fine.

use super::{StreamEvents, StreamMem};
use std::ops::Range;

/// Bytes of one segment still buffered, with the segment's original span as its rank.
#[derive(Debug)]
pub(crate) struct Piece {
    pub start: u64,
    pub data: Vec<u8>,
    /// Span of the segment the bytes came from: decides who wins an overlap.
    rank: Range<u64>,
}

impl Piece {
    pub fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
    fn range(&self) -> Range<u64> {
        self.start..self.end()
    }
    /// Bytes of `r` (which must lie inside the piece).
    pub fn slice(&self, r: Range<u64>) -> &[u8] {
        bytes_at(self.start, &self.data, r)
    }
}

/// The bytes of stream range `r` in `buf`, which holds the stream from offset `start`; empty
/// if `r` is not inside (callers only ask for ranges they know are there).
pub(crate) fn bytes_at(start: u64, buf: &[u8], r: Range<u64>) -> &[u8] {
    buf.get(offset_in(start, r.start)..offset_in(start, r.end))
        .unwrap_or(&[])
}

/// Index of stream offset `off` in a buffer starting at offset `start` (`off >= start`, and
/// the distance is bounded by a buffer length, so it fits a usize).
pub(crate) fn offset_in(start: u64, off: u64) -> usize {
    usize::try_from(off.saturating_sub(start)).unwrap_or(usize::MAX)
}

/// True if a segment spanning `a` wins the overlapping bytes against one spanning `b`.
fn beats(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.start || (a.start == b.start && a.end > b.end)
}

/// Limits of one direction's store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_bytes: usize,
    pub max_pieces: usize,
    pub memcap: usize,
}

#[derive(Debug, Default)]
pub(crate) struct OooStore {
    pieces: Vec<Piece>,
    bytes: usize,
}

impl OooStore {
    /// Payload bytes buffered.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// Pieces buffered.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }
    /// The lowest buffered offset.
    pub fn first_start(&self) -> Option<u64> {
        self.pieces.first().map(|p| p.start)
    }
    /// The end of the highest buffered piece (Linux accepts a RST there: its highest SACK).
    pub fn last_end(&self) -> Option<u64> {
        self.pieces.last().map(Piece::end)
    }

    /// Buffers `data` at stream offset `start`; `rank` is the span of the whole segment (it
    /// may be longer than `data` when the segment was cut at the depth or FIN). Either all
    /// the bytes the segment wins are stored, or nothing is (a limit or the memcap refused it).
    pub fn insert(
        &mut self,
        start: u64,
        data: &[u8],
        rank: Range<u64>,
        lim: Limits,
        mem: &mut StreamMem,
    ) -> StreamEvents {
        let mut ev = StreamEvents::NONE;
        let end = start + data.len() as u64;
        if data.is_empty() {
            return ev;
        }
        let lo = self.pieces.partition_point(|p| p.end() <= start);
        let hi = self.pieces.partition_point(|p| p.start < end);
        // First pass, read-only: conflicts, and what storing would cost.
        let (mut covered, mut won_parts, mut won_bytes) = (0u64, 0usize, 0u64);
        let (mut freed_bytes, mut freed_pieces) = (0u64, 0usize);
        let mut cursor = start;
        for p in &self.pieces[lo..hi] {
            let ov = start.max(p.start)..end.min(p.end());
            covered += ov.end - ov.start;
            if bytes_at(start, data, ov.clone()) != p.slice(ov.clone()) {
                ev |= StreamEvents::OVERLAP_CONFLICT;
            }
            if beats(&rank, &p.rank) {
                freed_bytes += ov.end - ov.start;
                if ov == p.range() {
                    freed_pieces += 1;
                }
            } else {
                if cursor < p.start {
                    won_parts += 1;
                    won_bytes += p.start - cursor;
                }
                cursor = cursor.max(p.end());
            }
        }
        if cursor < end {
            won_parts += 1;
            won_bytes += end - cursor;
        }
        let new_bytes = (end - start).saturating_sub(covered);
        if new_bytes == 0 {
            ev |= StreamEvents::RETRANSMISSION;
        } else if covered > 0 {
            ev |= StreamEvents::OVERLAP;
        }
        let grow = usize::try_from(won_bytes.saturating_sub(freed_bytes)).unwrap_or(usize::MAX);
        let shrink = usize::try_from(freed_bytes.saturating_sub(won_bytes)).unwrap_or(0);
        let pieces_after = (self.pieces.len() + won_parts).saturating_sub(freed_pieces);
        if self.bytes.saturating_add(grow) > lim.max_bytes || pieces_after > lim.max_pieces {
            ev |= StreamEvents::LIMIT_HIT;
            return ev;
        }
        if !mem.fits(grow, lim.memcap) {
            ev |= StreamEvents::MEMCAP_HIT;
            return ev;
        }
        // Second pass: rebuild the overlapped run in offset order.
        let old: Vec<Piece> = self.pieces.drain(lo..hi).collect();
        let mut run = Vec::with_capacity(old.len() + won_parts);
        let mut tail = None;
        let mut cursor = start;
        let part = |from: u64, to: u64| Piece {
            start: from,
            data: bytes_at(start, data, from..to).to_vec(),
            rank: rank.clone(),
        };
        for mut p in old {
            if beats(&rank, &p.rank) {
                // The segment starts no later than p (a piece starting earlier also ranks
                // earlier), so it takes p's head; only the last piece can reach past `end`.
                if p.end() > end {
                    p.data.drain(..offset_in(p.start, end));
                    // Accounting counts lengths: keep the allocation that size too.
                    p.data.shrink_to_fit();
                    p.start = end;
                    tail = Some(p);
                }
            } else {
                if cursor < p.start {
                    run.push(part(cursor, p.start));
                }
                cursor = cursor.max(p.end());
                run.push(p);
            }
        }
        if cursor < end {
            run.push(part(cursor, end));
        }
        run.extend(tail);
        self.pieces.splice(lo..lo, run);
        self.bytes = self.bytes + grow - shrink;
        mem.take(grow);
        mem.give(shrink);
        ev
    }

    /// Removes and returns the first piece if it starts at or before `at`.
    pub fn pop_reached(&mut self, at: u64, mem: &mut StreamMem) -> Option<Piece> {
        if self.pieces.first()?.start > at {
            return None;
        }
        let p = self.pieces.remove(0);
        self.bytes -= p.data.len();
        mem.give(p.data.len());
        Some(p)
    }

    /// Drops everything.
    pub fn clear(&mut self, mem: &mut StreamMem) {
        mem.give(self.bytes);
        self.bytes = 0;
        self.pieces = Vec::new();
    }
}

//! [`HalfStream`]: reassembly of one direction of a TCP connection.

use super::ooo::{bytes_at, offset_in, Limits, OooStore};
use super::{Progress, SeqNumber, StreamConfig, StreamEvents, StreamMem, MAX_PACKET_PAYLOAD};

/// How far beyond the contiguous end a segment may start: the largest receive window TCP can
/// advertise (65535 << 14), so no receiver could accept anything farther.
const MAX_AHEAD: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// The stream reached the sender's FIN.
    Finished,
    /// An acceptable RST was seen.
    Reset,
    /// `depth` bytes were delivered.
    Depth,
}

/// Reassembly state of one direction: the contiguous end, the retained window of delivered
/// bytes, buffered out-of-order data, FIN/RST. Offsets are `u64` counted from the first data
/// byte (ISN + 1), so they never wrap.
#[derive(Debug)]
pub struct HalfStream {
    /// Sequence number of offset 0; `None` until synchronized.
    base: Option<SeqNumber>,
    end: u64,
    /// Delivered bytes `[win_start, end)`; reused across packets, so the in-order path does
    /// not allocate once it has grown.
    win: Vec<u8>,
    win_start: u64,
    /// Bytes of `win` taken from the worker's account: its capacity, so the spare room a
    /// large delivery leaves behind counts against the memcap too.
    win_acct: usize,
    ooo: OooStore,
    /// Offset of a FIN not reached yet (the lowest seen), or of the FIN reached.
    fin: Option<u64>,
    state: State,
}

impl Default for HalfStream {
    fn default() -> Self {
        HalfStream::new()
    }
}

impl HalfStream {
    /// An unsynchronized direction: the next SYN, pickup or segment fixes offset 0.
    pub fn new() -> Self {
        HalfStream {
            base: None,
            end: 0,
            win: Vec::new(),
            win_start: 0,
            win_acct: 0,
            ooo: OooStore::default(),
            fin: None,
            state: State::Open,
        }
    }

    /// SYN or SYN-ACK with initial sequence number `isn` from this direction's sender: offset 0
    /// is `isn + 1`. A SYN with another ISN replaces the first while no data was seen (the
    /// peer retried); after that the origin is fixed.
    pub fn on_syn(&mut self, isn: SeqNumber) {
        let untouched = self.end == 0 && self.ooo.len() == 0 && self.state == State::Open;
        if self.base.is_none() || untouched {
            self.base = Some(isn + 1);
            self.fin = None;
        }
    }

    /// A SYN or SYN-ACK whose payload the receiver takes as stream data (TCP Fast Open, RFC
    /// 7413: the SYN carried a cookie, or the SYN-ACK answers a Fast Open SYN): [`on_syn`],
    /// then the payload at `isn + 1`. A SYN whose ISN is not this direction's origin (a retry
    /// with another ISN after data was seen) brings no data: its bytes would land at
    /// offsets no receiver uses.
    ///
    /// The data is inspected with the SYN, before the handshake completes, because a server
    /// that accepts the cookie hands it to its application at once. If the server refuses
    /// the cookie (its SYN-ACK acknowledges only the SYN), the client sends the same bytes
    /// again after the handshake: they are a [`StreamEvents::RETRANSMISSION`], not new
    /// data, and a resend with other bytes is an [`StreamEvents::OVERLAP_CONFLICT`].
    ///
    /// [`on_syn`]: HalfStream::on_syn
    pub fn on_syn_data(
        &mut self,
        isn: SeqNumber,
        payload: &[u8],
        fin: bool,
        cfg: &StreamConfig,
        mem: &mut StreamMem,
    ) -> Progress {
        self.on_syn(isn);
        if self.base != Some(isn + 1) || (payload.is_empty() && !fin) {
            return Progress::at(self.end);
        }
        self.on_segment(isn + 1, payload, fin, false, cfg, mem)
    }

    /// Midstream pickup: `seq` becomes offset 0 if the direction is not synchronized yet
    /// (`on_segment` does this by itself with the first segment seen).
    pub fn pickup(&mut self, seq: SeqNumber) {
        if self.base.is_none() {
            self.base = Some(seq);
        }
    }

    /// True once offset 0 is fixed (SYN, pickup or a first segment).
    pub fn is_synchronized(&self) -> bool {
        self.base.is_some()
    }
    /// Offset just past the last byte delivered in order (gaps included).
    pub fn contiguous_end(&self) -> u64 {
        self.end
    }
    /// Delivered bytes kept: they end at [`HalfStream::contiguous_end`], include the latest
    /// [`Progress::new`] range in full and up to `retain` bytes before it.
    pub fn window(&self) -> &[u8] {
        &self.win
    }
    /// Stream offset of `window()[0]`.
    pub fn window_start(&self) -> u64 {
        self.win_start
    }
    /// The window from stream offset `off` on (from its start if `off` is older): e.g.
    /// `window_from(p.new.start.saturating_sub(k))` is the new data plus `k` bytes of context,
    /// enough for patterns up to `k + 1` bytes long across packet boundaries without
    /// rescanning all of `retain`.
    pub fn window_from(&self, off: u64) -> &[u8] {
        bytes_at(self.win_start, &self.win, off.max(self.win_start)..self.end)
    }
    /// True once `depth` bytes were delivered: the direction takes no more data.
    pub fn past_depth(&self) -> bool {
        self.state == State::Depth
    }
    /// True after the FIN was reached or an acceptable RST seen.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Finished | State::Reset)
    }
    /// Bytes this direction holds in the worker's account (window capacity plus buffered).
    pub fn held_bytes(&self) -> usize {
        self.win_acct + self.ooo.bytes()
    }
    /// Out-of-order bytes buffered.
    pub fn buffered_bytes(&self) -> usize {
        self.ooo.bytes()
    }
    /// Out-of-order pieces buffered.
    pub fn buffered_segments(&self) -> usize {
        self.ooo.len()
    }
    /// Stream offset of sequence number `seq` (taken within 2^31 of the contiguous end);
    /// `None` before synchronization or before offset 0.
    pub fn offset_of(&self, seq: SeqNumber) -> Option<u64> {
        u64::try_from(self.unwrap(self.base?, seq)).ok()
    }

    /// Gives all held memory back (flow end or eviction). The half must be released before
    /// it is dropped, or the worker's account keeps its bytes.
    pub fn release(&mut self, mem: &mut StreamMem) {
        self.ooo.clear(mem);
        self.win_start = self.end;
        self.win = Vec::new();
        self.sync_window(mem);
    }

    /// A data segment (or FIN/RST) sent by this direction: `seq` is its sequence number,
    /// `payload` its TCP payload. Returns the stream range it completed and its events.
    pub fn on_segment(
        &mut self,
        seq: SeqNumber,
        payload: &[u8],
        fin: bool,
        rst: bool,
        cfg: &StreamConfig,
        mem: &mut StreamMem,
    ) -> Progress {
        mem.count_segment();
        let base = *self.base.get_or_insert(seq);
        let mut p = Progress::at(self.end);
        if self.state == State::Depth {
            self.release(mem);
            return p;
        }
        let start = self.unwrap(base, seq);
        if rst {
            self.on_rst(start, &mut p, mem);
        } else if start > i128::from(self.end) + i128::from(MAX_AHEAD) {
            p.events |= StreamEvents::OUT_OF_WINDOW;
        } else {
            self.on_data(start, payload, fin, cfg, mem, &mut p);
        }
        mem.count(p.events);
        p
    }

    /// The other direction acknowledged `ack`: if that is beyond our contiguous end, the
    /// bytes in between passed us by. Declares one gap (up to the first buffered byte or the
    /// ack, whichever is lower) and delivers what becomes contiguous after it. One gap per
    /// call keeps every delivered byte in one window: call again while the result has
    /// [`StreamEvents::GAP`] to skip further gaps up to the ack.
    pub fn on_ack(&mut self, ack: SeqNumber, cfg: &StreamConfig, mem: &mut StreamMem) -> Progress {
        let Some(base) = self.base else {
            return Progress::at(self.end);
        };
        if self.state != State::Open {
            return Progress::at(self.end);
        }
        let off = self.unwrap(base, ack);
        if off <= i128::from(self.end) {
            return Progress::at(self.end);
        }
        if off > i128::from(self.end) + i128::from(MAX_AHEAD) {
            let mut p = Progress::at(self.end);
            p.events |= StreamEvents::OUT_OF_WINDOW;
            mem.count(p.events);
            return p;
        }
        let mut target = u64::try_from(off).unwrap_or(self.end);
        // The FIN takes a sequence number of its own: an ack of it acknowledges no data.
        for bound in [self.ooo.first_start(), self.fin, depth_limit(cfg)]
            .into_iter()
            .flatten()
        {
            target = target.min(bound);
        }
        self.skip_to(target, cfg, mem)
    }

    /// Declares the bytes before the first buffered segment lost and delivers from there: for
    /// a direction whose acknowledgments are never seen (asymmetric routing) when its buffer
    /// fills up. Does nothing if nothing is buffered.
    pub fn skip_to_buffered(&mut self, cfg: &StreamConfig, mem: &mut StreamMem) -> Progress {
        match self.ooo.first_start() {
            Some(s) if self.state == State::Open => self.skip_to(s, cfg, mem),
            _ => Progress::at(self.end),
        }
    }

    fn skip_to(&mut self, target: u64, cfg: &StreamConfig, mem: &mut StreamMem) -> Progress {
        let mut p = Progress::at(self.end);
        if target <= self.end {
            return p;
        }
        mem.count_gap_bytes(target - self.end);
        // The window must stay contiguous, so what came before the gap goes.
        self.win.clear();
        self.win_start = target;
        self.end = target;
        p.new = target..target;
        p.events |= StreamEvents::GAP;
        self.settle(cfg, mem, &mut p);
        mem.count(p.events);
        p
    }

    /// Sequence number of stream offset `off`.
    fn seq_at(base: SeqNumber, off: u64) -> SeqNumber {
        // Offsets run on the sequence circle: keeping the low 32 bits is the mapping.
        base + off as u32
    }

    /// Stream offset of `seq`, read as the nearest position to the contiguous end (negative
    /// before offset 0).
    fn unwrap(&self, base: SeqNumber, seq: SeqNumber) -> i128 {
        i128::from(self.end) + i128::from(seq - Self::seq_at(base, self.end))
    }

    fn on_rst(&mut self, start: i128, p: &mut Progress, mem: &mut StreamMem) {
        if self.state == State::Reset {
            return;
        }
        let end = i128::from(self.end);
        let after_fin = self.state == State::Finished && start == end + 1;
        let at_sack = self.ooo.last_end().is_some_and(|e| i128::from(e) == start);
        if start == end || after_fin || at_sack {
            self.state = State::Reset;
            self.ooo.clear(mem);
            p.events |= StreamEvents::RST;
        } else {
            p.events |= StreamEvents::OUT_OF_WINDOW;
        }
    }

    fn on_data(
        &mut self,
        start: i128,
        payload: &[u8],
        fin: bool,
        cfg: &StreamConfig,
        mem: &mut StreamMem,
        p: &mut Progress,
    ) {
        let seg_end = start + i128::from(payload.len() as u64);
        if fin && self.state == State::Open && seg_end >= i128::from(self.end) {
            // Only the lowest pending FIN can be reached first.
            let f = u64::try_from(seg_end).unwrap_or(u64::MAX);
            self.fin = Some(self.fin.map_or(f, |old| old.min(f)));
        }
        // Bytes before offset 0 predate the stream (a resend reaching behind a pickup point).
        let s = u64::try_from(start.max(0)).unwrap_or(0);
        let e_full = u64::try_from(seg_end.max(0)).unwrap_or(0).max(s);
        let skip = usize::try_from(start.min(0).unsigned_abs()).unwrap_or(usize::MAX);
        let data = payload.get(skip..).unwrap_or(&[]);
        let (limit, closed) = self.limit(cfg);
        let e = e_full.min(limit.max(s));
        if e < e_full && closed {
            p.events |= StreamEvents::DATA_AFTER_CLOSE;
        }
        let data = data.get(..offset_in(s, e)).unwrap_or(&[]);
        if data.is_empty() {
            // Nothing to place (an ACK, a bare FIN, or bytes all past the limit); a bare FIN
            // can still complete the stream.
            if self.state == State::Open {
                self.settle(cfg, mem, p);
            }
            return;
        }
        if e <= self.end {
            p.events |= StreamEvents::RETRANSMISSION;
            if self.differs_from_delivered(s, data) {
                p.events |= StreamEvents::OVERLAP_CONFLICT;
            }
            // A resend may carry the FIN at the contiguous end (the data was already here,
            // e.g. from a Fast Open SYN whose cookie was refused).
            if self.state == State::Open {
                self.settle(cfg, mem, p);
            }
        } else if s <= self.end {
            if s < self.end {
                p.events |= StreamEvents::OVERLAP;
                if self.differs_from_delivered(s, data) {
                    p.events |= StreamEvents::OVERLAP_CONFLICT;
                }
            }
            let fresh = data.get(offset_in(s, self.end)..).unwrap_or(&[]);
            if self.take_fresh(fresh, cfg, mem, p) {
                self.settle(cfg, mem, p);
            }
        } else {
            p.events |= StreamEvents::OUT_OF_ORDER;
            let lim = Limits {
                max_bytes: cfg.max_ooo_bytes,
                max_pieces: cfg.max_ooo_segments,
                memcap: cfg.memcap,
            };
            // A FIN takes a sequence number, which decides equal-start overlaps in Linux.
            let rank_end = u64::try_from(seg_end)
                .unwrap_or(u64::MAX)
                .saturating_add(u64::from(fin));
            p.events |= self.ooo.insert(s, data, s..rank_end, lim, mem);
            self.settle(cfg, mem, p);
        }
    }

    /// Where data must stop, and whether that is because the direction is closed.
    fn limit(&self, cfg: &StreamConfig) -> (u64, bool) {
        let depth = depth_limit(cfg).unwrap_or(u64::MAX);
        let close = match self.state {
            State::Reset => Some(self.end),
            State::Finished => self.fin,
            _ => None,
        };
        match close {
            Some(c) if c <= depth => (c, true),
            _ => (depth, false),
        }
    }

    /// True if bytes `data` at offset `s` differ from the retained delivered copy where both
    /// exist (bytes no longer retained cannot be compared).
    fn differs_from_delivered(&self, s: u64, data: &[u8]) -> bool {
        let lo = s.max(self.win_start);
        let hi = (s + data.len() as u64).min(self.end);
        lo < hi && bytes_at(s, data, lo..hi) != bytes_at(self.win_start, &self.win, lo..hi)
    }

    /// Brings the worker's account in line with the window's capacity.
    fn sync_window(&mut self, mem: &mut StreamMem) {
        let cap = self.win.capacity();
        if cap > self.win_acct {
            mem.take(cap - self.win_acct);
        } else {
            mem.give(self.win_acct - cap);
        }
        self.win_acct = cap;
    }

    /// Drops retained bytes beyond `keep` from the front of the window, and gives back the
    /// room a delivery larger than any packet left behind.
    fn trim_window(&mut self, keep: usize, cfg: &StreamConfig, mem: &mut StreamMem) {
        let mut drop = self.win.len().saturating_sub(keep);
        // Moving the kept tail down by just under a multiple of 4 KiB hits x86 4K aliasing:
        // measured 5-14 µs instead of 0.1 µs per 4 KiB, a slowdown a sender could pick with
        // its segment sizes. Retaining up to 64 bytes fewer steps out of that band.
        let rem = drop % 4096;
        if rem >= 4096 - 64 {
            drop = (drop + (4096 - rem)).min(self.win.len());
        }
        if drop > 0 {
            self.win.drain(..drop);
            self.win_start += drop as u64;
        }
        // Room for the retained bytes and one full packet is kept: the in-order path then
        // never reallocates, and a one-off large fill does not stay reserved.
        let room = cfg.retain.saturating_add(MAX_PACKET_PAYLOAD);
        if self.win.capacity() > room {
            self.win.shrink_to(room);
            self.sync_window(mem);
        }
    }

    /// Appends `bytes` to the window; the caller checked that the growth fits, or the bytes
    /// come from buffered pieces whose memory was just given back.
    fn append(&mut self, bytes: &[u8], mem: &mut StreamMem) {
        self.win.reserve_exact(bytes.len());
        self.win.extend_from_slice(bytes);
        self.sync_window(mem);
        self.end += bytes.len() as u64;
    }

    /// Appends in-order bytes the packet brought; false (and MEMCAP_HIT) if the worker's
    /// memcap cannot take them even after this direction's retained bytes are given up.
    fn take_fresh(
        &mut self,
        fresh: &[u8],
        cfg: &StreamConfig,
        mem: &mut StreamMem,
        p: &mut Progress,
    ) -> bool {
        self.trim_window(cfg.retain, cfg, mem);
        let need = self.win.len().saturating_add(fresh.len());
        let grow = need.saturating_sub(self.win.capacity());
        let avail = cfg.memcap.saturating_sub(mem.used());
        if grow > avail {
            // New bytes matter more than context: give up our own retained bytes first.
            let short = grow - avail;
            if short > self.win.len() {
                p.events |= StreamEvents::MEMCAP_HIT;
                return false;
            }
            self.trim_window(self.win.len() - short, cfg, mem);
        }
        self.append(fresh, mem);
        p.new.end = self.end;
        true
    }

    /// After the contiguous end moved (or a FIN was noted): the FIN, buffered data that joins,
    /// the depth.
    fn settle(&mut self, cfg: &StreamConfig, mem: &mut StreamMem, p: &mut Progress) {
        while !self.fin_reached(mem, p) {
            let Some(piece) = self.ooo.pop_reached(self.end, mem) else {
                break;
            };
            let pend = piece.end();
            if piece.start < self.end {
                // The in-order data started earlier, so it won these bytes.
                let ov = piece.start..pend.min(self.end);
                p.events |= StreamEvents::OVERLAP;
                if piece.slice(ov.clone()) != bytes_at(self.win_start, &self.win, ov) {
                    p.events |= StreamEvents::OVERLAP_CONFLICT;
                }
            }
            if pend > self.end {
                if p.new.is_empty() {
                    // First delivery of this call: make the window start over.
                    self.trim_window(cfg.retain, cfg, mem);
                }
                // Moved from the buffer to the window: pop_reached gave the piece back, and
                // the window grows by at most its bytes.
                self.append(piece.slice(self.end..pend), mem);
                p.new.end = self.end;
            }
        }
        if self.state == State::Open && depth_limit(cfg).is_some_and(|d| self.end >= d) {
            self.state = State::Depth;
            self.ooo.clear(mem);
            p.events |= StreamEvents::DEPTH_REACHED;
        }
    }

    /// Handles the stream reaching or passing the pending FIN; true once it is finished.
    fn fin_reached(&mut self, mem: &mut StreamMem, p: &mut Progress) -> bool {
        match self.fin {
            _ if self.state != State::Open => true,
            Some(f) if f == self.end => {
                self.state = State::Finished;
                if self.ooo.len() > 0 {
                    p.events |= StreamEvents::DATA_AFTER_CLOSE;
                }
                self.ooo.clear(mem);
                p.events |= StreamEvents::FIN;
                true
            }
            Some(f) if f < self.end => {
                // In-order data ran past it: a receiver drops such a FIN, so do we.
                self.fin = None;
                false
            }
            _ => false,
        }
    }
}

fn depth_limit(cfg: &StreamConfig) -> Option<u64> {
    (cfg.depth > 0).then_some(cfg.depth)
}

#[cfg(test)]
mod tests;

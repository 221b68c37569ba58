//! What the stream pass remembers of its prefilter hits, per direction of a TCP session.
//!
//! Inline, each packet's stream window is the packet plus up to a chunk (2,560 bytes) of the
//! data before it, as Suricata inspects it. Scanning that lookback again for every small
//! packet (a keep-alive connection's requests) made the prefilter scan each byte up to a
//! dozen times. The hits found in those bytes are known from when they arrived: this memo
//! keeps each program with the stream offset where its pattern last started, so the window's
//! candidates are the packet pass's, the hits still inside the window, and a scan of only the
//! bytes that straddle the packet boundary.
//!
//! The memo only ever adds candidates it has seen; whenever it cannot vouch for the whole
//! window (data out of order, a gap, a reload, too many distinct hits) the window is scanned
//! in full and the memo starts over from that scan.

/// Distinct programs remembered per direction; past it the memo gives up until the next
/// full scan (bounds the memory a flow can hold here to about 1 KB per direction).
const MAX_HITS: usize = 128;

/// Prefilter hits of one direction's stream, by stream offset.
#[derive(Debug, Default)]
pub struct StreamHits {
    /// Stream offset the positions in `hits` are relative to.
    base: u64,
    /// Every pattern hit in `[floor, upto)` is in `hits`; `None`: nothing can be vouched for.
    upto: Option<u64>,
    floor: u64,
    /// (program, where its pattern last started, relative to `base`).
    hits: Vec<(u32, u32)>,
}

impl StreamHits {
    /// True when every hit of the window `[ws, at)` before a packet that starts at `at` is
    /// remembered.
    pub fn covers(&self, ws: u64, at: u64) -> bool {
        self.upto == Some(at) && ws >= self.floor
    }

    /// Pushes onto `out` the programs whose pattern last started at or after `ws`, and
    /// forgets the others: windows only move forward.
    pub fn recall(&mut self, ws: u64, out: &mut Vec<u32>) {
        let from = ws.saturating_sub(self.base);
        self.hits.retain(|&(p, last)| {
            let keep = u64::from(last) >= from;
            if keep {
                out.push(p);
            }
            keep
        });
        self.floor = self.floor.max(ws);
    }

    /// Starts over: nothing is known before `ws`, where the next hits are recorded from.
    pub fn restart(&mut self, ws: u64) {
        self.base = ws;
        self.floor = ws;
        self.upto = Some(ws);
        self.hits.clear();
    }

    /// Records hits (program, stream offset of the pattern's start) found in data that is now
    /// complete up to `upto`.
    pub fn record(&mut self, hits: impl Iterator<Item = (u32, u64)>, upto: u64) {
        if self.upto.is_none() {
            return;
        }
        for (p, at) in hits {
            let Ok(rel) = u32::try_from(at.saturating_sub(self.base)) else {
                return self.forget();
            };
            match self.hits.iter().position(|h| h.0 == p) {
                Some(i) => self.hits[i].1 = self.hits[i].1.max(rel),
                None if self.hits.len() < MAX_HITS => self.hits.push((p, rel)),
                None => return self.forget(),
            }
        }
        self.upto = Some(upto);
    }

    /// Vouches for nothing until the next [`StreamHits::restart`].
    pub fn forget(&mut self) {
        self.upto = None;
        self.hits = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recalled(m: &mut StreamHits, ws: u64) -> Vec<u32> {
        let mut v = Vec::new();
        m.recall(ws, &mut v);
        v.sort_unstable();
        v
    }

    #[test]
    fn hits_leave_with_the_window_and_continuity_is_required() {
        let mut m = StreamHits::default();
        assert!(!m.covers(0, 0));
        m.restart(100);
        m.record([(1, 100), (2, 150), (1, 180)].into_iter(), 200);
        assert!(m.covers(120, 200));
        assert!(!m.covers(120, 201), "a gap before the packet");
        assert!(
            !m.covers(99, 200),
            "a window reaching before what was scanned"
        );
        // Program 1 last started at 180: still inside a window from 160.
        assert_eq!(recalled(&mut m, 160), vec![1]);
        assert_eq!(recalled(&mut m, 181), Vec::<u32>::new());
        assert!(!m.covers(170, 200), "windows only move forward");
    }

    #[test]
    fn too_many_programs_or_offsets_give_up() {
        let mut m = StreamHits::default();
        m.restart(0);
        m.record((0..MAX_HITS as u32 + 1).map(|p| (p, 5)), 10);
        assert!(!m.covers(0, 10));
        m.record([(1, 1)].into_iter(), 20);
        assert!(!m.covers(0, 20), "nothing is recorded until a restart");
        m.restart(0);
        m.record([(1, u64::from(u32::MAX) + 1)].into_iter(), 30);
        assert!(!m.covers(0, 30));
    }
}

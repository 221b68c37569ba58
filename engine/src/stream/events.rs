//! [`StreamEvents`]: what one call into a half-stream observed, as a small `Copy` bit set with
//! stable names for EVE and stats.

use std::fmt;

/// A set of stream events raised by one call (one packet); empty on the ordinary in-order path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StreamEvents(u16);

macro_rules! events {
    ($($(#[$doc:meta])* $name:ident = $bit:expr, $text:literal;)*) => {
        impl StreamEvents {
            $($(#[$doc])* pub const $name: StreamEvents = StreamEvents(1 << $bit);)*
            /// Every event with its EVE name, in bit order.
            pub const ALL: &'static [(StreamEvents, &'static str)] = &[$((StreamEvents::$name, $text)),*];
        }
    };
}

events! {
    /// The segment carried no byte that was not already delivered or buffered.
    RETRANSMISSION = 0, "retransmission";
    /// The segment overlapped bytes already delivered or buffered, and brought new ones too.
    OVERLAP = 1, "overlap";
    /// Overlapping bytes differed from the copy kept (see the overlap policy in [`crate::stream`]).
    OVERLAP_CONFLICT = 2, "overlap_conflict";
    /// The segment starts beyond the contiguous end: it was buffered (or refused by a limit).
    OUT_OF_ORDER = 3, "out_of_order";
    /// Bytes were declared lost and skipped (see `HalfStream::on_ack`).
    GAP = 4, "gap";
    /// The direction reached the configured depth: no more reassembly for it.
    DEPTH_REACHED = 5, "depth_reached";
    /// A per-direction out-of-order limit refused the segment; it was not buffered.
    LIMIT_HIT = 6, "limit_hit";
    /// The worker's memcap refused the segment's bytes; they were not taken.
    MEMCAP_HIT = 7, "memcap_hit";
    /// All bytes up to the sender's FIN are delivered: the direction is complete.
    FIN = 8, "fin";
    /// An acceptable RST closed the direction; buffered data was discarded.
    RST = 9, "rst";
    /// Bytes after the FIN, or after a RST, were ignored.
    DATA_AFTER_CLOSE = 10, "data_after_close";
    /// The segment or RST lies outside what the receiver would accept; it was ignored.
    OUT_OF_WINDOW = 11, "out_of_window";
}

impl StreamEvents {
    /// The empty set.
    pub const NONE: StreamEvents = StreamEvents(0);

    /// True if every event of `other` is in `self`.
    pub fn contains(self, other: StreamEvents) -> bool {
        self.0 & other.0 == other.0
    }
    /// True if no event is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Adds the events of `other`.
    pub fn insert(&mut self, other: StreamEvents) {
        self.0 |= other.0;
    }
    /// The EVE names of the events in the set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        StreamEvents::ALL
            .iter()
            .filter(move |(e, _)| self.contains(*e))
            .map(|&(_, n)| n)
    }
}

impl std::ops::BitOr for StreamEvents {
    type Output = StreamEvents;
    fn bitor(self, rhs: StreamEvents) -> StreamEvents {
        StreamEvents(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for StreamEvents {
    fn bitor_assign(&mut self, rhs: StreamEvents) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for StreamEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_and_names() {
        let mut e = StreamEvents::NONE;
        assert!(e.is_empty());
        e |= StreamEvents::GAP;
        e.insert(StreamEvents::OVERLAP_CONFLICT);
        assert!(e.contains(StreamEvents::GAP | StreamEvents::OVERLAP_CONFLICT));
        assert!(!e.contains(StreamEvents::FIN));
        assert_eq!(e.names().collect::<Vec<_>>(), ["overlap_conflict", "gap"]);
        assert_eq!(format!("{e:?}"), r#"{"overlap_conflict", "gap"}"#);
        // Names are unique and bits distinct: EVE consumers key on them.
        let mut seen = std::collections::HashSet::new();
        let mut bits = 0u16;
        for (ev, name) in StreamEvents::ALL {
            assert!(seen.insert(*name));
            assert_eq!(bits & ev.0, 0);
            bits |= ev.0;
        }
    }
}

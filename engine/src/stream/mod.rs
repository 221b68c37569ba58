//! Inline TCP reassembly, per flow and direction: pure (no I/O, no clock), so NFQUEUE and
//! replay run the same code.
//!
//! # Quick advice
//! One [`HalfStream`] per direction of a TCP flow, one [`StreamMem`] per worker, one
//! [`StreamConfig`] for all. For each TCP packet:
//! 1. SYN / SYN-ACK: [`HalfStream::on_syn`] on the sender's half; with TCP Fast Open, whose
//!    SYN (and SYN-ACK) payload is stream data, [`HalfStream::on_syn_data`] instead. A SYN's
//!    payload without Fast Open is not stream data: the receiver discards it. A flow picked
//!    up mid-way needs nothing: the first segment seen becomes offset 0 (or call
//!    [`HalfStream::pickup`]).
//! 2. [`HalfStream::on_segment`] on the sender's half: it returns a [`Progress`] whose `new`
//!    range is the stream data this packet completes (its own in-order bytes plus any buffered
//!    out-of-order bytes they join). Inspect [`HalfStream::window`] — it holds that range in
//!    full, preceded by up to `retain` earlier bytes so a pattern split across packets is seen —
//!    *before* giving the packet its verdict: dropping it keeps the receiver from ever
//!    delivering those bytes, including the buffered ones that follow it.
//! 3. With the ACK flag, [`HalfStream::on_ack`] on the *other* half: an acknowledgment beyond
//!    what that half has contiguously means the bytes passed us by (capture loss, asymmetric
//!    routing); the half declares a gap and moves on.
//! 4. At flow end, [`HalfStream::release`] both halves.
//!
//! ```
//! use verdict_engine::stream::{HalfStream, SeqNumber, StreamConfig, StreamEvents, StreamMem};
//!
//! let (cfg, mut mem) = (StreamConfig::default(), StreamMem::new());
//! let mut to_server = HalfStream::new();
//! to_server.on_syn(SeqNumber(0xffff_fff0)); // offset 0 is 0xffff_fff1
//!
//! // "GET /ev" then "il HTTP/1.1", the second one arriving first.
//! let p = to_server.on_segment(SeqNumber(0xffff_fff8), b"il HTTP/1.1", false, false, &cfg, &mut mem);
//! assert!(p.is_empty() && p.events.contains(StreamEvents::OUT_OF_ORDER)); // accept it, keep it
//! let p = to_server.on_segment(SeqNumber(0xffff_fff1), b"GET /ev", false, false, &cfg, &mut mem);
//! assert_eq!(p.new, 0..18); // the filler completes both: inspect before its verdict
//! assert_eq!(to_server.window(), b"GET /evil HTTP/1.1");
//!
//! to_server.release(&mut mem);
//! assert_eq!(mem.used(), 0);
//! ```
//!
//! An out-of-order segment is accepted at once (NFQUEUE cannot hold a packet) and buffered;
//! the packet that fills the gap carries the inspection of everything it makes contiguous.
//!
//! A drop decided on stream data must drop the rest of the flow too (`Flow::dropped`): the
//! bytes of the dropped packet are already part of the stream here, so the sender's resend of
//! them is a [`StreamEvents::RETRANSMISSION`] that brings nothing new to inspect — and a
//! receiver that gets the resent filler would deliver the buffered bytes behind it. Resends of
//! bytes already inspected that differ from them raise [`StreamEvents::OVERLAP_CONFLICT`].
//!
//! # Overlap policy
//! - **Bytes already delivered to inspection win** (first copy): the receiver has delivered
//!   them to its application too, on every OS, so later copies cannot change what it saw.
//! - **Buffered (out-of-order) bytes: the segment that starts earliest wins; on equal starts,
//!   the longer; on equal spans, the first copy.** This is what Linux's `tcp_data_queue_ofo`
//!   and `tcp_ofo_queue` deliver (a new segment replaces a queued one with the same start if it
//!   is longer and removes queued segments it covers; when the queue drains in order, a
//!   segment's bytes that an earlier-starting one already delivered are skipped), and the BSDs
//!   and Windows agree except on equal starts. The receivers behind a gateway are most often
//!   Linux, and an IPS must inspect what the receiver will deliver, not what arrived first.
//!   The in-order segment that fills a gap starts before everything buffered, so it wins over
//!   buffered bytes it overlaps, as in every stack.
//!   Known difference: Linux also coalesces a segment into the queued one it directly follows
//!   when the buffers allow it, after which the merged span ranks by the first start; here
//!   every segment keeps its own rank. That only matters for overlaps with different bytes,
//!   which are flagged either way.
//! - Whenever overlapping bytes differ from the copy kept, the packet that brought them gets
//!   [`StreamEvents::OVERLAP_CONFLICT`]: legitimate stacks resend the same bytes, so a
//!   conflict is an evasion attempt (or a broken middlebox), and an inline engine can drop that
//!   packet so no receiver, whatever its policy, gets the other copy.
//!
//! # Limits
//! Per direction, at most `max_ooo_bytes` and `max_ooo_segments` of out-of-order data; per
//! worker, at most `memcap` bytes held in total (buffered data plus window capacity). A segment
//! that does not fit is not taken at all and the packet gets [`StreamEvents::LIMIT_HIT`] or
//! [`StreamEvents::MEMCAP_HIT`]; inline, dropping that packet is the safe answer (the sender
//! resends it later, so no byte reaches the receiver uninspected). Past `depth` bytes a
//! direction stops reassembling ([`StreamEvents::DEPTH_REACHED`]) and holds nothing.
//!
//! # Close
//! A FIN counts once the stream reaches it in order ([`StreamEvents::FIN`]: the direction is
//! complete, buffered data past it is dropped, as Linux's `tcp_fin` purges its out-of-order
//! queue); bytes past it are ignored with [`StreamEvents::DATA_AFTER_CLOSE`]. A FIN that in-order
//! data runs past is void, as in Linux. A RST closes the direction only at the sequence number a
//! receiver accepts (RFC 5961: the contiguous end, or the end of the highest buffered data);
//! any other RST gets [`StreamEvents::OUT_OF_WINDOW`] and changes nothing, so a spoofed RST
//! cannot blind the engine while the receiver carries on. A RST's own payload is not stream
//! data.

mod events;
mod half;
mod mem;
mod ooo;
#[cfg(test)]
mod prop_tests;
mod seq;

pub use events::StreamEvents;
pub use half::HalfStream;
pub use mem::{StreamCounters, StreamMem, STREAM_COUNTERS};
pub use seq::SeqNumber;

use std::ops::Range;

/// Reassembly limits, shared by all flows of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Bytes per direction reassembled and handed to inspection (0 = unlimited); past it the
    /// direction holds nothing more. Default 1 MiB, Suricata's `stream.reassembly.depth`.
    pub depth: u64,
    /// Out-of-order bytes buffered per direction. Default 256 KiB: a few round trips of a
    /// fast flow's window.
    pub max_ooo_bytes: usize,
    /// Out-of-order pieces buffered per direction (each costs an allocation and a search
    /// step). Default 512.
    pub max_ooo_segments: usize,
    /// Already-delivered bytes kept before the newest data, to compare retransmissions and to
    /// give detection a window across packet boundaries. Default 4 KiB.
    pub retain: usize,
    /// Bytes held by one worker over all its flows. Default 64 MiB.
    pub memcap: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            depth: 1 << 20,
            max_ooo_bytes: 256 << 10,
            max_ooo_segments: 512,
            retain: 4 << 10,
            memcap: 64 << 20,
        }
    }
}

/// The largest TCP payload one queued packet can carry (a GSO super-packet), which the memcap
/// must leave room for or in-order data could never be taken.
pub const MAX_PACKET_PAYLOAD: usize = 65_535;

/// Why a [`StreamConfig`] cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamConfigError {
    /// The memcap cannot hold one full packet plus one direction's retained bytes.
    #[error("stream memcap of {memcap} bytes is below {needed} (one 64 KiB packet plus `retain`): in-order data could never be taken")]
    MemcapTooSmall {
        /// configured memcap
        memcap: usize,
        /// the minimum
        needed: usize,
    },
    /// The out-of-order byte limit is set but no piece may be buffered, or the reverse.
    #[error("max_ooo_bytes ({bytes}) and max_ooo_segments ({segments}) must both be 0 (no out-of-order buffering) or both non-zero")]
    OooLimits {
        /// max_ooo_bytes
        bytes: usize,
        /// max_ooo_segments
        segments: usize,
    },
}

impl StreamConfig {
    /// Checks that the limits can work together; call it when loading the configuration.
    pub fn validate(&self) -> Result<(), StreamConfigError> {
        let needed = MAX_PACKET_PAYLOAD.saturating_add(self.retain);
        if self.memcap < needed {
            return Err(StreamConfigError::MemcapTooSmall {
                memcap: self.memcap,
                needed,
            });
        }
        if (self.max_ooo_bytes == 0) != (self.max_ooo_segments == 0) {
            return Err(StreamConfigError::OooLimits {
                bytes: self.max_ooo_bytes,
                segments: self.max_ooo_segments,
            });
        }
        Ok(())
    }
}

/// What one call into a [`HalfStream`] made available to inspection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// Stream offsets that became contiguous with this call (empty if none); they are at the
    /// end of [`HalfStream::window`].
    pub new: Range<u64>,
    /// What the call observed.
    pub events: StreamEvents,
}

impl Progress {
    fn at(off: u64) -> Progress {
        Progress {
            new: off..off,
            events: StreamEvents::NONE,
        }
    }
    /// True if no new stream byte became available.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_validates_and_bad_ones_say_why() {
        assert_eq!(StreamConfig::default().validate(), Ok(()));
        let small = StreamConfig {
            memcap: 1000,
            ..StreamConfig::default()
        };
        assert!(matches!(
            small.validate(),
            Err(StreamConfigError::MemcapTooSmall { needed: 69_631, .. })
        ));
        let odd = StreamConfig {
            max_ooo_segments: 0,
            ..StreamConfig::default()
        };
        assert!(odd.validate().unwrap_err().to_string().contains("both"));
        let none = StreamConfig {
            max_ooo_segments: 0,
            max_ooo_bytes: 0,
            ..StreamConfig::default()
        };
        assert_eq!(none.validate(), Ok(()));
    }
}

//! Flow bypass: handing a flow, or one direction of it, back to the kernel once nothing more
//! can match it, so its packets stop crossing the queue (Suricata's `stream.bypass`).
//!
//! Policies ([`BypassPolicy`]), and what each gives up:
//! - `direction` (the default): a direction past the stream depth (`StreamConfig::depth`)
//!   leaves the queue alone; the other direction is still queued and inspected, so a request
//!   sent on a keep-alive connection after a large download is inspected and can be dropped.
//!   The whole flow leaves once both directions are done (past the depth, or one past it and
//!   the other closed) or a `pass` rule matched. The worker answers a packet of a direction
//!   past the depth with [`crate::nfq::Decision::Bypass`] for its direction, which sets
//!   `DIRECTION_BYPASS_MARK` in the packet mark; the kernel records it as the conntrack-mark
//!   bit of the packet's own `ct direction` (original or reply) and stops queueing that
//!   direction (see `verdict_nft::render`). The engine never needs conntrack's orientation.
//!   Gives up, for the bypassed direction only, what bypass gives up for a flow (below). A
//!   drop on the inspected direction still blocks the whole flow: the worker answers it with
//!   [`crate::nfq::Decision::DropFlow`], which has the kernel record the block in conntrack
//!   and drop the bypassed direction's packets too.
//! - `both`: the whole flow leaves when both directions are done, or a `pass` rule matched. A
//!   download's request direction and a bulk sender's ACK direction never reach the depth, so
//!   such flows are queued to their end.
//! - `either`: the whole flow leaves when *one* direction is past the depth: a bulk transfer
//!   leaves the queue after its first depth bytes, at the price of the other direction's later
//!   data (a request pipelined behind a large download goes uninspected).
//! - `off`: every packet of a steered flow is queued.
//!
//! What bypass gives up for what it hands back, as Suricata does: *queued* rules no longer see
//! those packets at all — not their headers, flags, `dsize`, per-packet payload, flowbits nor
//! thresholds — and no queued rule can drop them. Kernel rules still apply to every packet, and
//! a flow a drop rule blocked is never bypassed (its block wins in the kernel and in the
//! engine). Stream and HTTP inspection had already stopped at the depth.
//!
//! Replay (`verdict replay`) applies the same decisions: past the bypass point a direction's
//! packets are not inspected, so replay and the live engine agree.

use crate::flow::Flow;
use crate::stream::StreamMem;
use serde::{Deserialize, Serialize};

/// When a TCP flow, or one of its directions, is handed back to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BypassPolicy {
    /// Never: every packet of a steered flow is queued, so packet-level rules see all of it.
    Off,
    /// Both directions past the stream depth (or one past it, the other closed), or a `pass`
    /// rule matched.
    Both,
    /// One direction past the stream depth, or a `pass` rule matched.
    Either,
    /// A direction past the stream depth, alone; the whole flow as with [`BypassPolicy::Both`].
    #[default]
    Direction,
}

impl BypassPolicy {
    /// The policy's name in `verdict.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BypassPolicy::Off => "off",
            BypassPolicy::Both => "both",
            BypassPolicy::Either => "either",
            BypassPolicy::Direction => "direction",
        }
    }

    /// Parses a [`BypassPolicy::name`].
    pub fn from_name(s: &str) -> Option<BypassPolicy> {
        [Self::Off, Self::Both, Self::Either, Self::Direction]
            .into_iter()
            .find(|p| p.name() == s)
    }
}

/// What the bypass mark of a verdict covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BypassScope {
    /// The whole flow (`FLOW_BYPASS_MARK`).
    Flow,
    /// The packet's own direction of its flow (`DIRECTION_BYPASS_MARK`).
    Direction,
}

/// What the worker's verdict for the current packet must say about bypass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BypassMark {
    /// Nothing: the packet's direction is still inspected.
    #[default]
    None,
    /// Mark the packet to hand back `scope`. `first`: this packet bypassed it (count it);
    /// otherwise it was already bypassed and the packet still reached the queue (in flight
    /// when the mark was set, or a mark lost with its packet): it was not inspected.
    Set {
        /// The flow or the packet's direction.
        scope: BypassScope,
        /// Newly bypassed by this packet.
        first: bool,
    },
}

impl BypassMark {
    fn again(scope: BypassScope) -> BypassMark {
        BypassMark::Set {
            scope,
            first: false,
        }
    }
}

/// Decides whether `flow`, or the direction of its current packet (`to_server`: sent by the
/// client), is bypassed after that packet was inspected and accepted — or, for a packet of an
/// already bypassed direction, instead of inspecting it. What is newly bypassed gives its
/// stream memory back to `mem` at once: nothing will read it.
pub fn decide(
    flow: &mut Flow,
    policy: BypassPolicy,
    to_server: bool,
    mem: &mut StreamMem,
) -> BypassMark {
    if policy == BypassPolicy::Off || flow.dropped.is_some() {
        return BypassMark::None;
    }
    if flow.bypassed {
        return BypassMark::again(BypassScope::Flow);
    }
    let half = |to_server: bool, closed_too: bool| {
        flow.session.as_ref().is_some_and(|s| {
            let h = s.half(to_server);
            h.past_depth() || (closed_too && h.is_closed())
        })
    };
    // A closed direction counts as done only next to one past the depth: a flow that merely
    // ends has nothing left to queue anyway, and marking every closing flow is noise.
    let both_done =
        (half(true, false) && half(false, true)) || (half(false, false) && half(true, true));
    let nothing_left = flow.passed
        || match policy {
            BypassPolicy::Both | BypassPolicy::Direction => both_done,
            BypassPolicy::Either => half(true, false) || half(false, false),
            BypassPolicy::Off => false,
        };
    if nothing_left {
        flow.bypassed = true;
        if let Some(mut s) = flow.session.take() {
            s.release(mem);
        }
        return BypassMark::Set {
            scope: BypassScope::Flow,
            first: true,
        };
    }
    if policy != BypassPolicy::Direction {
        return BypassMark::None;
    }
    if flow.direction_bypassed(to_server) {
        return BypassMark::again(BypassScope::Direction);
    }
    if !half(to_server, false) {
        return BypassMark::None;
    }
    flow.bypass_direction(to_server);
    if let Some(s) = &mut flow.session {
        s.release_half(to_server, mem);
    }
    BypassMark::Set {
        scope: BypassScope::Direction,
        first: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::TcpState;
    use crate::session::{Segment, Session, SessionConfig};
    use crate::wire::tcp_flags;
    use std::time::Duration;

    const DEPTH: u64 = 1000;
    const FLOW: BypassScope = BypassScope::Flow;
    const DIR: BypassScope = BypassScope::Direction;

    fn set(scope: BypassScope, first: bool) -> BypassMark {
        BypassMark::Set { scope, first }
    }

    /// One established TCP flow with an empty session, the stream memory account and the
    /// session limits (depth [`DEPTH`]).
    struct Conn {
        flow: Flow,
        mem: StreamMem,
        cfg: SessionConfig,
        /// Next sequence number per direction: [client, server].
        seq: [u32; 2],
    }

    impl Conn {
        fn new() -> Conn {
            let mut flow = Flow::new(1, true, Some(TcpState::Established), 0, Duration::ZERO);
            flow.session = Some(Box::<Session>::default());
            let mut cfg = SessionConfig::default();
            cfg.stream.depth = DEPTH;
            Conn {
                flow,
                mem: StreamMem::new(),
                cfg,
                seq: [1000, 5000],
            }
        }

        /// `len` bytes of stream data sent by the client (`to_server`) or the server, with
        /// `flags` (ACK, FIN).
        fn send_with(&mut self, to_server: bool, len: usize, flags: u8) {
            let me = usize::from(!to_server);
            let payload = vec![0u8; len];
            let seg = Segment {
                seq: self.seq[me],
                ack: self.seq[1 - me],
                flags,
                fast_open: false,
                payload: &payload,
            };
            self.seq[me] = self.seq[me].wrapping_add(len as u32);
            let s = self.flow.session.as_mut().expect("a session");
            s.step(to_server, &seg, &self.cfg, &mut self.mem);
        }

        fn send(&mut self, to_server: bool, len: usize) {
            self.send_with(to_server, len, tcp_flags::ACK);
        }

        fn decide(&mut self, policy: BypassPolicy, to_server: bool) -> BypassMark {
            decide(&mut self.flow, policy, to_server, &mut self.mem)
        }
    }

    #[test]
    fn direction_hands_back_the_direction_past_the_depth_and_keeps_the_other() {
        let mut c = Conn::new();
        c.send(true, 200);
        c.send(false, 600);
        assert_eq!(c.decide(BypassPolicy::Direction, false), BypassMark::None);
        let held = c.mem.used();
        c.send(false, 600);
        // The server's direction is past the depth: its packet marks it, the client's does not.
        assert_eq!(c.decide(BypassPolicy::Direction, true), BypassMark::None);
        assert_eq!(c.decide(BypassPolicy::Direction, false), set(DIR, true));
        assert!(c.flow.direction_bypassed(false) && !c.flow.direction_bypassed(true));
        assert!(
            !c.flow.bypassed,
            "the client's direction is still inspected"
        );
        assert!(c.mem.used() < held, "the bypassed half kept its memory");
        // Packets of the bypassed direction in flight: marked again, not counted.
        assert_eq!(c.decide(BypassPolicy::Direction, false), set(DIR, false));
        // The client's direction goes on, a request after the download included.
        c.send(true, 300);
        assert_eq!(c.decide(BypassPolicy::Direction, true), BypassMark::None);
        // Once it is past the depth too, the whole flow leaves.
        c.send(true, 600);
        assert_eq!(c.decide(BypassPolicy::Direction, true), set(FLOW, true));
        assert!(c.flow.bypassed && c.flow.session.is_none());
        assert_eq!(c.mem.used(), 0);
        assert_eq!(c.decide(BypassPolicy::Direction, false), set(FLOW, false));
    }

    #[test]
    fn direction_bypasses_the_whole_flow_when_the_other_direction_closed() {
        let mut c = Conn::new();
        c.send(true, 100);
        c.send_with(true, 0, tcp_flags::ACK | tcp_flags::FIN);
        assert_eq!(c.decide(BypassPolicy::Direction, true), BypassMark::None);
        c.send(false, 1500);
        assert_eq!(c.decide(BypassPolicy::Direction, false), set(FLOW, true));
    }

    #[test]
    fn both_waits_for_both_directions_and_either_takes_the_first() {
        let mut c = Conn::new();
        c.send(false, 1500);
        assert_eq!(c.decide(BypassPolicy::Both, false), BypassMark::None);
        assert_eq!(c.decide(BypassPolicy::Both, true), BypassMark::None);
        assert_eq!(c.decide(BypassPolicy::Off, false), BypassMark::None);
        assert!(!c.flow.direction_bypassed(false));
        // Either: the flow as a whole, even on a packet of the direction still short of it.
        assert_eq!(c.decide(BypassPolicy::Either, true), set(FLOW, true));
        assert!(c.flow.bypassed);
    }

    #[test]
    fn a_pass_bypasses_the_flow_and_a_drop_never() {
        let mut c = Conn::new();
        c.flow.passed = true;
        assert_eq!(c.decide(BypassPolicy::Off, true), BypassMark::None);
        assert_eq!(c.decide(BypassPolicy::Direction, true), set(FLOW, true));

        let mut c = Conn::new();
        c.send(false, 1500);
        c.flow.dropped = Some(verdict_compiler::ir::Sid(7));
        for p in [
            BypassPolicy::Direction,
            BypassPolicy::Either,
            BypassPolicy::Both,
        ] {
            assert_eq!(c.decide(p, false), BypassMark::None);
        }
    }

    #[test]
    fn a_reversed_flow_keeps_its_bypassed_direction() {
        let mut c = Conn::new();
        c.send(false, 1500);
        assert_eq!(c.decide(BypassPolicy::Direction, false), set(DIR, true));
        c.flow.reverse();
        assert!(c.flow.direction_bypassed(true) && !c.flow.direction_bypassed(false));
    }

    #[test]
    fn policies_parse_by_name() {
        for p in [
            BypassPolicy::Off,
            BypassPolicy::Both,
            BypassPolicy::Either,
            BypassPolicy::Direction,
        ] {
            assert_eq!(BypassPolicy::from_name(p.name()), Some(p));
        }
        assert_eq!(BypassPolicy::default(), BypassPolicy::Direction);
        assert_eq!(BypassPolicy::from_name("all"), None);
    }
}

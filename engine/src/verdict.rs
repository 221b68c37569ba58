//! The engine's answer for one packet: a small `Copy` value the NFQUEUE worker turns into a
//! netlink verdict (and the replay turns into "kept / dropped / rewritten").

use verdict_compiler::ir::{RejectTarget, Sid};

/// What to do with a packet. Every variant except `Accept` carries the sid that decided, so
/// counters and logs can name the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Let the packet through unchanged.
    Accept,
    /// Drop the packet (a `drop`/`sdrop` rule, or the rest of a flow such a rule dropped);
    /// `Sid(0)` when a policy, not a rule, dropped it (bad packets with the drop policy).
    Drop(Sid),
    /// Drop the packet and send resets / ICMP unreachable to `RejectTarget`.
    Reject(RejectTarget, Sid),
    /// The packet bytes were rewritten in place (checksums fixed): accept the new payload.
    Replace(Sid),
}

impl Verdict {
    /// The deciding rule, if any.
    pub fn sid(self) -> Option<Sid> {
        match self {
            Verdict::Accept => None,
            Verdict::Drop(s) | Verdict::Reject(_, s) | Verdict::Replace(s) => Some(s),
        }
    }
    /// True if the packet must not be forwarded.
    pub fn blocks(self) -> bool {
        matches!(self, Verdict::Drop(_) | Verdict::Reject(..))
    }
}

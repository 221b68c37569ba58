//! Applying an exception policy ([`crate::exception`]) to the packet that met the
//! exception: drop or reject it (and the rest of its flow), or let it (and the rest of its
//! flow) pass uninspected, writing the drop record with Suricata's reason.

use super::{send, Ctx, Detector, PacketMeta};
use crate::exception::{Condition, ExceptionPolicy as P};
use crate::flow::Flow;
use crate::output::{DropEvent, Event};
use crate::verdict::Verdict;
use crate::wire::{tcp_flags, L4Hdr, Packet};
use crossbeam_channel::Sender;
use std::sync::Arc;
use verdict_compiler::ir::{RejectTarget, Sid};

/// Where events and counters go.
pub(super) type Out<'a> = (&'a Sender<Event>, &'a super::Counters);

/// Suricata's midstream exception: the first packet of a TCP flow that is not a SYN (nor a
/// RST), while midstream pickup is off, gets the configured policy.
pub(super) fn midstream(
    det: &Detector,
    flow: &mut Flow,
    parsed: &Packet<'_>,
    ctx: &Ctx,
    meta: &PacketMeta,
    out: Out<'_>,
) -> Option<Verdict> {
    let L4Hdr::Tcp { flags, .. } = parsed.l4() else {
        return None;
    };
    let syn_only = flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
    if det.cfg.flow.midstream || flow.packets != 1 || syn_only || flags & tcp_flags::RST != 0 {
        return None;
    }
    apply(det, Condition::Midstream, flow, parsed, ctx, meta, out)
}

/// Applies the policy configured for `cond` to this packet; None when the packet goes on to
/// detection (ignore, or a drop policy in IDS mode, where nothing is dropped).
pub(super) fn apply(
    det: &Detector,
    cond: Condition,
    flow: &mut Flow,
    parsed: &Packet<'_>,
    ctx: &Ctx,
    meta: &PacketMeta,
    (events, counters): Out<'_>,
) -> Option<Verdict> {
    let policy = det.cfg.exceptions.get(cond);
    match policy {
        P::DropFlow | P::Reject | P::DropPacket if det.cfg.inline => {
            if policy != P::DropPacket {
                flow.dropped = Some(Sid(0));
                flow.dropped_by_policy = true;
            }
            let pkt = Arc::new(ctx.packet_info(meta, flow.id, parsed.data().to_vec()));
            let ev = DropEvent {
                pkt,
                reason: cond.drop_reason(),
                sid: 0,
                rule: None,
            };
            send(events, counters, Event::Drop(Box::new(ev)));
            Some(if policy == P::Reject {
                Verdict::Reject(RejectTarget::Src, Sid(0))
            } else {
                Verdict::Drop(Sid(0))
            })
        }
        P::PassFlow | P::Bypass => {
            flow.passed = policy == P::PassFlow;
            flow.bypassed = policy == P::Bypass;
            Some(Verdict::Accept)
        }
        P::PassPacket => Some(Verdict::Accept),
        _ => None,
    }
}

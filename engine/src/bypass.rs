//! Flow bypass: handing a flow back to the kernel once nothing more can match it, so its
//! packets stop crossing the queue (Suricata's `stream.bypass`).
//!
//! A flow is bypassed when, under [`BypassPolicy::Both`] (the default), both of its
//! directions are done — past the stream depth (`StreamConfig::depth`), or one past it and the
//! other closed — or when a
//! `pass` rule matched it. The worker then answers with [`crate::nfq::Decision::Bypass`], which
//! sets `FLOW_BYPASS_MARK` in the packet mark; the kernel copies it into the conntrack mark and
//! stops queueing the flow (see `verdict_nft::render`).
//!
//! What verdict gives up, as Suricata does: past that point *queued* rules no longer see the
//! flow's packets at all — not their headers, flags, `dsize`, per-packet payload, flowbits nor
//! thresholds — and no queued rule can drop the rest of the flow. Kernel rules still apply to
//! every packet, and a flow a drop rule blocked is never bypassed (its block wins in the kernel
//! and in the engine). Stream and HTTP inspection had already stopped at the depth.
//!
//! [`BypassPolicy::Either`] bypasses when *one* direction is done: a bulk upload or download
//! then leaves the queue after its first depth bytes, at the price of the other direction's
//! later data (a request pipelined behind a large download goes uninspected).

use crate::flow::Flow;
use crate::stream::StreamMem;
use serde::{Deserialize, Serialize};

/// When a TCP flow is handed back to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BypassPolicy {
    /// Never: every packet of a steered flow is queued, so packet-level rules see all of it.
    Off,
    /// Both directions past the stream depth (or one past it, the other closed), or a `pass`
    /// rule matched.
    #[default]
    Both,
    /// One direction past the stream depth, or a `pass` rule matched.
    Either,
}

/// What the worker's verdict for the current packet must say about bypass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BypassMark {
    /// Nothing: the flow is still inspected.
    #[default]
    None,
    /// The flow was bypassed by this packet: mark it, count one bypassed flow.
    New,
    /// An already bypassed flow still reached the queue (packets in flight when the mark was
    /// set, or a mark lost with its packet): mark it again, inspect nothing.
    Again,
}

/// Decides whether `flow` is bypassed after its current packet was inspected and accepted.
/// A newly bypassed flow gives its stream memory back to `mem` at once: nothing will read it.
pub fn decide(flow: &mut Flow, policy: BypassPolicy, mem: &mut StreamMem) -> BypassMark {
    if policy == BypassPolicy::Off || flow.dropped.is_some() {
        return BypassMark::None;
    }
    if flow.bypassed {
        return BypassMark::Again;
    }
    let half = |to_server: bool, closed_too: bool| {
        flow.session.as_ref().is_some_and(|s| {
            let h = s.half(to_server);
            h.past_depth() || (closed_too && h.is_closed())
        })
    };
    // A closed direction counts as done only next to one past the depth: a flow that merely
    // ends has nothing left to queue anyway, and marking every closing flow is noise.
    let nothing_left = flow.passed
        || match policy {
            BypassPolicy::Both => {
                (half(true, false) && half(false, true)) || (half(false, false) && half(true, true))
            }
            BypassPolicy::Either => half(true, false) || half(false, false),
            BypassPolicy::Off => false,
        };
    if !nothing_left {
        return BypassMark::None;
    }
    flow.bypassed = true;
    if let Some(mut s) = flow.session.take() {
        s.release(mem);
    }
    BypassMark::New
}

//! Action resolution for one packet's matches, as Suricata's `PacketAlertFinalize` does it.
//!
//! The matches are walked in [`super::order::ActionOrder`] (then rule priority, then rule
//! order). Each match alerts and applies its action until a `pass` is applied; everything
//! after that pass is silent and has no effect. A `drop`/`reject` drops the packet (the first
//! one decides the verdict); `pass` accepts it unless a drop came first.
//!
//! Whether an action also applies to the rest of the flow depends on what matched, as in
//! Suricata: IP-only rules (address and protocol tests only), app-layer rules and payload
//! matches on reassembled TCP stream data act on the flow; a rule decided by per-packet
//! properties (`dsize`, `flags`, `flow:` direction, payload of a packet outside a stream)
//! acts on that packet only, so its next match on the flow is seen and logged again. The
//! first flow action wins. A `pass` does not pass the flow of a packet that an earlier
//! match drops: the flow stays inspected.

use super::order::ActionOrder;
use super::Matched;
use crate::vm::CompiledProgram;
use verdict_compiler::bytecode::Program;
use verdict_compiler::ir::Action;

/// What a rule can act on when it matches (decided when the rule set is loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// Header and payload tests of one packet: only that packet, unless the payload matched
    /// in a reassembled stream.
    Packet,
    /// IP-only or app-layer: the flow.
    Flow,
}

/// Suricata's IP-only and app-layer signatures act on the flow; the rest on the packet.
pub(super) fn scope_of(p: &Program, cp: &CompiledProgram, tx: bool, app: bool) -> Scope {
    let no_packet_tests = cp.payload.is_empty() && cp.header.is_empty();
    // Any `flow:` option (even `stateless`) makes a rule a packet rule in Suricata.
    let f = &p.flow;
    let no_flow_kw = f.established.is_none()
        && f.to_server.is_none()
        && !f.stateless
        && f.stream.is_none()
        && f.frag.is_none();
    let ip_only = no_packet_tests && no_flow_kw && cp.bit_tests.is_empty() && cp.state.is_empty();
    if tx || (app && no_packet_tests) || ip_only {
        Scope::Flow
    } else {
        Scope::Packet
    }
}

/// An action to record on the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlowAction {
    /// Drop the rest of the flow (index of the deciding match).
    Drop(usize),
    /// Accept the rest of the flow without inspection.
    Pass,
}

/// The outcome of the walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Resolution {
    /// Index (in the sorted matches) of the match whose drop or reject decides the verdict.
    pub decider: Option<usize>,
    /// A `pass` was applied: no rewrite, and no alert after it.
    pub passed: bool,
    /// What to record on the flow (first flow action wins; the caller checks the flow).
    pub flow: Option<FlowAction>,
}

/// Per-match facts the walk needs from the detector.
pub(super) struct MatchFacts {
    /// The rule only alerts (dry run), it never drops.
    pub dry_run: bool,
    /// `flowbits:noalert` / `noalert`.
    pub noalert: bool,
    /// A pass rule with the `alert` keyword: its pass is logged.
    pub pass_alerts: bool,
    /// [`scope_of`] of the rule.
    pub scope: Scope,
    /// `priority` (lower first; Suricata's default 3).
    pub priority: u32,
    /// Evaluation rank (file order, flowbit setters first).
    pub rank: u32,
    /// The rule inspects payload (so a match on stream data is a stream match).
    pub payload: bool,
}

/// Sorts `matched` into application order and walks it; sets each match's `alert`.
/// `inline`: drops take effect. `stream_data`: the packet brought new reassembled stream
/// bytes, so its payload matches are stream matches.
pub(super) fn resolve(
    matched: &mut [Matched],
    order: &ActionOrder,
    inline: bool,
    stream_data: bool,
    facts: impl Fn(u32) -> MatchFacts,
) -> Resolution {
    // Unstable sort: no allocation on the packet path, and the key (program rank) is unique
    // per rule, so only two matches of one rule can swap, which changes nothing.
    matched.sort_unstable_by_key(|m| {
        let f = facts(m.prog);
        (order.rank(m.action), f.priority, f.rank)
    });
    let mut r = Resolution::default();
    let mut dropping = false;
    let mut dropped_flow = false;
    for (i, m) in matched.iter_mut().enumerate() {
        if r.passed {
            m.alert = false;
            continue;
        }
        let f = facts(m.prog);
        let on_flow = f.scope == Scope::Flow || (f.payload && stream_data);
        match m.action {
            Action::Drop | Action::Sdrop | Action::Reject(_) => {
                dropping = true;
                if !f.dry_run && r.decider.is_none() && !dropped_flow {
                    // In IDS mode the packet passes, but the flow is still marked dropped and
                    // not inspected any further, as Suricata does.
                    r.decider = inline.then_some(i);
                    dropped_flow = true;
                    if on_flow && r.flow.is_none() {
                        r.flow = Some(FlowAction::Drop(i));
                    }
                }
            }
            Action::Pass => {
                r.passed = true;
                if on_flow && !dropping && r.flow.is_none() {
                    r.flow = Some(FlowAction::Pass);
                }
            }
            Action::Alert | Action::Log => {}
        }
        m.alert = !f.noalert
            && match m.action {
                Action::Sdrop => false,
                Action::Pass => f.pass_alerts,
                _ => true,
            };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::RejectTarget;

    fn m(prog: u32, action: Action) -> Matched {
        Matched {
            prog,
            action,
            rated: false,
            contexts: (0, 0),
            hits: (0, 0),
            app: None,
            alert: false,
        }
    }

    fn facts(scope: Scope) -> impl Fn(u32) -> MatchFacts {
        move |p| MatchFacts {
            dry_run: false,
            noalert: false,
            pass_alerts: false,
            scope,
            priority: 3,
            rank: p,
            payload: false,
        }
    }

    fn alerts(ms: &[Matched]) -> Vec<u32> {
        ms.iter().filter(|m| m.alert).map(|m| m.prog).collect()
    }

    #[test]
    fn default_order_pass_silences_everything() {
        let mut ms = [m(0, Action::Alert), m(1, Action::Pass), m(2, Action::Drop)];
        let r = resolve(
            &mut ms,
            &ActionOrder::default(),
            true,
            false,
            facts(Scope::Packet),
        );
        assert!(r.passed);
        assert_eq!(r.decider, None);
        assert!(alerts(&ms).is_empty());
    }

    #[test]
    fn drop_first_order_drops_then_passes() {
        let order = ActionOrder::from_names(&["drop", "pass", "reject", "alert"]).unwrap();
        let mut ms = [m(0, Action::Alert), m(1, Action::Pass), m(2, Action::Drop)];
        let r = resolve(&mut ms, &order, true, false, facts(Scope::Flow));
        assert_eq!(alerts(&ms), vec![2]);
        assert_eq!(r.decider.map(|i| ms[i].prog), Some(2));
        // The drop reached the flow first; the pass does not override it.
        assert!(matches!(r.flow, Some(FlowAction::Drop(_))));
    }

    #[test]
    fn pass_after_a_packet_drop_leaves_the_flow_inspected() {
        let order = ActionOrder::from_names(&["drop", "pass", "reject", "alert"]).unwrap();
        let mut ms = [m(0, Action::Pass), m(1, Action::Drop), m(2, Action::Alert)];
        let f = |p: u32| MatchFacts {
            scope: if p == 1 { Scope::Packet } else { Scope::Flow },
            ..facts(Scope::Flow)(p)
        };
        let r = resolve(&mut ms, &order, true, false, f);
        assert_eq!(alerts(&ms), vec![1]);
        assert!(r.passed);
        assert_eq!(r.flow, None);
    }

    #[test]
    fn stream_matches_act_on_the_flow_and_ids_only_marks_the_flow() {
        let mut ms = [m(0, Action::Reject(RejectTarget::Default))];
        let f = |p| MatchFacts {
            payload: true,
            ..facts(Scope::Packet)(p)
        };
        let r = resolve(&mut ms, &ActionOrder::default(), true, true, f);
        assert_eq!(r.flow, Some(FlowAction::Drop(0)));
        let r = resolve(&mut ms, &ActionOrder::default(), true, false, f);
        assert_eq!(r.flow, None);
        assert_eq!(r.decider, Some(0));
        let r = resolve(&mut ms, &ActionOrder::default(), false, true, f);
        assert_eq!(r.decider, None);
        assert_eq!(r.flow, Some(FlowAction::Drop(0)));
        assert_eq!(alerts(&ms), vec![0]);
    }

    #[test]
    fn a_pass_with_the_alert_keyword_logs_itself_only() {
        let mut ms = [m(0, Action::Pass), m(1, Action::Alert)];
        let f = |p| MatchFacts {
            pass_alerts: p == 0,
            ..facts(Scope::Flow)(p)
        };
        let r = resolve(&mut ms, &ActionOrder::default(), true, false, f);
        assert!(r.passed);
        assert_eq!(alerts(&ms), vec![0]);
    }

    #[test]
    fn noalert_rules_still_act() {
        let mut ms = [m(0, Action::Drop)];
        let f = |p| MatchFacts {
            noalert: true,
            ..facts(Scope::Flow)(p)
        };
        let r = resolve(&mut ms, &ActionOrder::default(), true, false, f);
        assert_eq!(r.decider, Some(0));
        assert!(alerts(&ms).is_empty());
    }
}

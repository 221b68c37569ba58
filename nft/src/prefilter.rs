//! Rendering of the kernel prefilter ([`verdict_compiler::prefilter`]): queued rules steered
//! by their patterns through the xt `string` match, in iptables-nft chain `VERDICT`.
//!
//! The string match exists only as an xt match, so with a prefilter the whole steering is xt
//! `NFQUEUE` (whatever queue mechanism was probed): steering split between verdict's nft chain
//! (priority -10) and the xt chain (filter, 0) would queue a packet twice, once per hook,
//! when both select it. In chain `VERDICT`, after the bypass returns:
//! 1. a packet of a connection carrying [`PREFILTER_FLOW_MARK`] is queued (a pattern steered
//!    its flow before: the engine gets the rest of the connection, both directions);
//! 2. the port steering of the rules without a kernel pattern queues as before;
//! 3. each pattern rule (`-m string --algo kmp`) sets the mark on its connection;
//! 4. a packet whose connection now carries the mark is queued.
//!
//! Split 3/4 because an iptables rule has one target; 1 before the string matches so the rest
//! of a steered flow costs one mark test, not one search per pattern. The bypass returns before
//! 1 still hand a flow back once the engine is past its stream depth.
//!
//! Before 3, a packet whose direction is past the stream depth ([`KernelPlan::prefilter_depth`],
//! conntrack's byte count) returns: the engine hands such a direction back to the kernel and
//! would not look at it, and a bulk transfer pays the searches on its first bytes only.
//!
//! Steps 1 and 4 jump to chain `VERDICT_PFQ`, which sets [`REPLY_DIRECTION_MARK`] in the packet
//! mark of a packet travelling its connection's reply direction, then queues: the engine picks
//! a flow up from whichever side carried the pattern, and only conntrack still knows which side
//! opened the connection (the flow's client for `flow:to_server`/`to_client`).

use crate::render::{argv, nfqueue_target, with_ports, QueueMechanism, RenderOptions};
use crate::render::{sanitize, XT_CHAIN};
use verdict_compiler::kernel::KernelPlan;
use verdict_compiler::prefilter::{PatternSteer, PREFILTER_FLOW_MARK, REPLY_DIRECTION_MARK};

/// Comment of the rule that queues the rest of a prefilter-steered flow.
pub const PREFILTER_FLOW: &str = "verdict prefilter: rest of a pattern-steered flow";
/// The chain that marks reply-direction packets and queues them.
pub const QUEUE_CHAIN: &str = "VERDICT_PFQ";
/// Longest iptables comment.
const XT_COMMENT: usize = 255;

/// The options a plan renders with: xt `NFQUEUE` steering when it has a prefilter (see the
/// module docs), else `opts` unchanged.
pub fn effective(plan: &KernelPlan, opts: &RenderOptions) -> RenderOptions {
    let mut o = *opts;
    if !plan.prefilter.is_empty() {
        o.queue = QueueMechanism::XtNfqueue;
    }
    o
}

/// `-m connmark --mark PF/PF -m comment --comment C -j VERDICT_PFQ`, in `bin`'s chain.
fn queue_marked(bin: &str, comment: &str) -> Vec<String> {
    let mut v = argv(&[bin, "-w", "-A", XT_CHAIN]);
    v.extend(argv(&[
        "-m",
        "connmark",
        "--mark",
        &format!("0x{PREFILTER_FLOW_MARK:x}/0x{PREFILTER_FLOW_MARK:x}"),
        "-m",
        "comment",
        "--comment",
        comment,
        "-j",
        QUEUE_CHAIN,
    ]));
    v
}

/// Chain `VERDICT_PFQ`: the reply-direction mark, then the queue.
fn queue_chain(bin: &str, opts: &RenderOptions) -> Vec<Vec<String>> {
    let mark = format!("0x{REPLY_DIRECTION_MARK:x}");
    let mut queue = argv(&[bin, "-w", "-A", QUEUE_CHAIN]);
    queue.extend(nfqueue_target(opts));
    vec![
        argv(&[bin, "-w", "-N", QUEUE_CHAIN]),
        argv(&[
            bin,
            "-w",
            "-A",
            QUEUE_CHAIN,
            "-m",
            "conntrack",
            "--ctdir",
            "REPLY",
            "-j",
            "MARK",
            "--or-mark",
            &mark,
        ]),
        queue,
    ]
}

/// Step 1 of the module docs (with chain `VERDICT_PFQ` it jumps to): queue the rest of flows a
/// pattern steered (empty without a prefilter).
pub fn xt_continuation(plan: &KernelPlan, bin: &str, opts: &RenderOptions) -> Vec<Vec<String>> {
    if plan.prefilter.is_empty() {
        return Vec::new();
    }
    let mut out = queue_chain(bin, opts);
    out.push(queue_marked(bin, PREFILTER_FLOW));
    out
}

/// Steps 3 and 4 of the module docs for one family's tool `bin` (empty without a prefilter).
pub fn xt_pattern_rules(plan: &KernelPlan, bin: &str) -> Vec<Vec<String>> {
    if plan.prefilter.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Vec<String>> = past_depth_returns(plan, bin);
    out.extend(plan.prefilter.iter().flat_map(|p| mark_rules(p, bin)));
    out.push(queue_marked(
        bin,
        "verdict prefilter: pattern found, flow queued",
    ));
    out
}

/// `RETURN` for a packet whose direction is past [`KernelPlan::prefilter_depth`] (conntrack's
/// byte count, `connbytes`): the engine would not look at it either, and a bulk transfer then
/// costs no more searches than its first bytes did.
fn past_depth_returns(plan: &KernelPlan, bin: &str) -> Vec<Vec<String>> {
    let Some(depth) = plan.prefilter_depth.filter(|d| *d > 0) else {
        return Vec::new();
    };
    [("ORIGINAL", "original"), ("REPLY", "reply")]
        .into_iter()
        .map(|(ctdir, dir)| {
            argv(&[
                bin,
                "-w",
                "-A",
                XT_CHAIN,
                "-m",
                "conntrack",
                "--ctdir",
                ctdir,
                "-m",
                "connbytes",
                "--connbytes",
                &format!("{depth}:"),
                "--connbytes-dir",
                dir,
                "--connbytes-mode",
                "bytes",
                "-m",
                "comment",
                "--comment",
                "verdict prefilter: direction past the stream depth",
                "-j",
                "RETURN",
            ])
        })
        .collect()
}

/// The comment of a pattern rule: the pattern as text where printable, and the sids.
pub fn pattern_comment(p: &PatternSteer) -> String {
    let shown: String = p
        .pattern
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    let sids: Vec<String> = p.sids.iter().map(u32::to_string).collect();
    sanitize(
        &format!(
            "verdict prefilter: {}{} sid:{}",
            shown,
            if p.nocase { "/i" } else { "" },
            sids.join(",")
        ),
        XT_COMMENT,
    )
}

/// One pattern rule as argv lists (more than one when its ports need several `multiport`s).
fn mark_rules(p: &PatternSteer, bin: &str) -> Vec<Vec<String>> {
    let base = argv(&[bin, "-w", "-A", XT_CHAIN, "-p", p.proto.name()]);
    let mut tail = crate::xt_string::string_match(&p.pattern, p.nocase, false, None);
    tail.extend(argv(&["-m", "comment", "--comment", &pattern_comment(p)]));
    tail.extend(argv(&[
        "-j",
        "CONNMARK",
        "--set-xmark",
        &format!("0x{PREFILTER_FLOW_MARK:x}/0x{PREFILTER_FLOW_MARK:x}"),
    ]));
    with_ports(base, p.ports.as_ref(), &tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::kernel::{L4Proto, Side};

    #[test]
    fn a_prefilter_forces_xt_steering_and_marks_then_queues() {
        let mut plan = KernelPlan::default();
        let opts = RenderOptions::default();
        assert_eq!(effective(&plan, &opts).queue, QueueMechanism::NftQueue);
        plan.prefilter.push(PatternSteer {
            proto: L4Proto::Tcp,
            ports: Some((Side::Dst, vec![(80, 80)])),
            pattern: b"ev\"il\x00".to_vec(),
            nocase: true,
            sids: vec![7, 9],
        });
        let o = effective(&plan, &opts);
        assert_eq!(o.queue, QueueMechanism::XtNfqueue);
        let rules = xt_pattern_rules(&plan, "iptables-nft");
        assert_eq!(rules.len(), 2);
        let first = rules[0].join(" ");
        assert!(
            first.contains("--icase --hex-string |657622696c00|"),
            "{first}"
        );
        assert!(first.contains("--dports 80"), "{first}");
        assert!(first.contains("ev'il./i sid:7,9"), "{first}");
        assert!(first.ends_with("-j CONNMARK --set-xmark 0x2000000/0x2000000"));
        assert!(rules[1].join(" ").ends_with("-j VERDICT_PFQ"));
        plan.prefilter_depth = Some(1 << 20);
        let rules = xt_pattern_rules(&plan, "iptables-nft");
        assert_eq!(rules.len(), 4);
        assert!(rules[0].join(" ").contains(
            "--ctdir ORIGINAL -m connbytes --connbytes 1048576: --connbytes-dir original"
        ));
        let cont: Vec<String> = xt_continuation(&plan, "iptables-nft", &o)
            .iter()
            .map(|a| a.join(" "))
            .collect();
        assert_eq!(cont[0], "iptables-nft -w -N VERDICT_PFQ");
        assert!(cont[1].ends_with("--ctdir REPLY -j MARK --or-mark 0x1000000"));
        assert!(cont[2].contains("-A VERDICT_PFQ -j NFQUEUE"), "{}", cont[2]);
    }
}

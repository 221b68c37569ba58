//! Renders the compiler's [`KernelPlan`] as verdict's own `table inet verdict`: readable nft
//! text (what rule authors review, and what `nft -f` loads) and the same ruleset as nftables
//! JSON; plus the iptables-nft commands for the xt NFQUEUE fallback and `--xt-string` rules.
//!
//! The script starts with `table inet verdict {}` + `delete table inet verdict`, so loading
//! it is one atomic replace of verdict's table (nft 1.0.6 has no `destroy`), and nothing
//! outside that table is touched.
//!
//! Drops block the rest of their flow, as Snort and Suricata do: a kernel drop ORs
//! [`FLOW_BLOCK_MARK`] into the conntrack mark, and the chain's first rule drops every packet
//! of a connection carrying that bit, in both directions.
//!
//! Flows the engine bypassed (nothing more can match them: past the stream depth, or a `pass`
//! rule) are handed back to the kernel. The worker's verdict sets [`FLOW_BYPASS_MARK`] in the
//! packet mark (a queue verdict cannot write conntrack); chain `bypass`, after the queue, moves
//! the bit into the conntrack mark; from then on a rule just before the steering accepts the
//! flow's packets (xt: returns from chain `VERDICT`) instead of queueing them. Kernel rules
//! still see them.
//!
//! One direction of a flow can be handed back alone (`bypass = "direction"`: it is past the
//! stream depth, the other direction is still inspected). The worker does not know which of
//! its flow's directions conntrack calls original: it sets [`DIRECTION_BYPASS_MARK`] ("this
//! packet's direction") and chain `bypass` records it as [`ORIGINAL_BYPASS_MARK`] or
//! [`REPLY_BYPASS_MARK`] by the packet's `ct direction`; the rules before the steering accept
//! (xt: return) a packet whose own direction's bit is set. A drop the engine decides on such a
//! flow must also stop the bypassed direction, which no longer reaches the engine: the worker
//! accepts the packet with [`FLOW_BLOCK_MARK`] in the packet mark, and chain `bypass` records
//! the block in the conntrack mark and drops the packet; the chain's flow-block rule drops the
//! rest of the flow, both directions.
//!
//! Bypass lists (verdict.toml `[bypass]`: trusted addresses never inspected) are the named
//! interval sets `bypass4`/`bypass6`; the chain's first rules accept their packets, either
//! side, before the flow-block rule, the kernel rules and the steering. The xt steering hooks
//! on its own (an accept here does not end it), so those rules also set
//! [`BYPASS_LIST_MARK`] in the packet mark, chain `VERDICT` returns on it, and chain `bypass`
//! clears it again. Being part of the table, the list is replaced with it on reload.
//!
//! Chain priority: `forward` hooks at priority -10: after conntrack (-200) and mangle (-150),
//! so conntrack has defragmented and classified the packet, and before the filter priority
//! (0), where iptables-nft's `FORWARD` chain (xt NFQUEUE steering, xt string rules) and most
//! operators' own filter rules live. Kernel drops therefore happen before any packet is
//! queued, and the queue never sees what the kernel already decided.

use crate::lists::{ListSet, ListSets};
use nftables::expr::{
    BinaryOperation, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadBase,
    PayloadField, PayloadRaw, Prefix, Range, SetItem, CT,
};
use nftables::schema::{
    Chain, NfCmd, NfListObject, Nftables, Rule, SetFlag, SetType, SetTypeValue, Table,
};
use nftables::stmt::{Counter, Log, Mangle, Match, Operator, Queue, QueueFlag, Reject, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use verdict_compiler::kernel::{
    fmt_addr, fmt_addr_range, Cmp, Family, Field, FlowConds, KernelAction, KernelPlan, KernelRule,
    L4Proto, Match as KMatch, Side, SteerRule, BYPASS_LIST_MARK, DIRECTION_BYPASS_MARK,
    FLOW_BLOCK_MARK, FLOW_BYPASS_MARK, ORIGINAL_BYPASS_MARK, REPLY_BYPASS_MARK,
};

/// Name of verdict's table (family inet).
pub const TABLE: &str = "verdict";
/// Name of the base chain.
pub const CHAIN: &str = "forward";
/// Base chain priority (see the module docs for why).
pub const PRIORITY: i32 = -10;
/// iptables chain holding the xt rules, hooked from `FORWARD`.
pub const XT_CHAIN: &str = "VERDICT";
/// Comment of the rule that drops the rest of flows a kernel drop rule blocked.
pub const FLOW_BLOCKED: &str = "verdict: rest of a flow blocked by a drop rule";
/// Chain that moves the bypass bit from the packet mark into the conntrack mark.
pub const BYPASS_CHAIN: &str = "bypass";
/// Its priority: after the filter priority (0), where the queue of either mechanism sits, so
/// it sees the packets the worker gave back with the bit set.
pub const BYPASS_PRIORITY: i32 = 10;
/// Comment of the rule that keeps bypassed flows out of the queue.
pub const FLOW_BYPASSED: &str = "verdict: bypassed flow, not queued";
/// Comment of the rule that records a bypass in conntrack.
pub const BYPASS_RECORD: &str = "verdict: engine bypassed this flow";
/// Comment of the rule that records, and carries out, an engine drop of a flow with a bypassed
/// direction.
pub const ENGINE_BLOCK_RECORD: &str = "verdict: engine dropped a flow with a bypassed direction";
/// Comment of the rules that record a direction's bypass in conntrack.
pub const DIRECTION_BYPASS_RECORD: &str = "verdict: engine bypassed this packet's direction";

/// One conntrack direction as the bypass rules name it.
#[derive(Debug, Clone, Copy)]
pub struct CtDirection {
    /// nft `ct direction` value.
    pub nft: &'static str,
    /// iptables `-m conntrack --ctdir` value.
    pub xt: &'static str,
    /// Conntrack-mark bit recording that this direction is bypassed.
    pub mark: u32,
    /// Comment of the rule that keeps this direction's bypassed packets out of the queue.
    pub comment: &'static str,
}

/// Conntrack's two directions, with what records and applies each one's bypass.
pub const CT_DIRECTIONS: [CtDirection; 2] = [
    CtDirection {
        nft: "original",
        xt: "ORIGINAL",
        mark: ORIGINAL_BYPASS_MARK,
        comment: "verdict: bypassed original direction, not queued",
    },
    CtDirection {
        nft: "reply",
        xt: "REPLY",
        mark: REPLY_BYPASS_MARK,
        comment: "verdict: bypassed reply direction, not queued",
    },
];
/// Comment of the rules that accept bypass-list traffic uninspected.
pub const BYPASS_LISTED: &str = "verdict: bypass list, never inspected";
/// Comment of the rule that clears the bypass-list bit from the packet mark.
pub const BYPASS_LIST_CLEARED: &str = "verdict: bypass-list mark cleared";
/// Longest comment nft accepts.
pub const MAX_COMMENT: usize = 128;

/// How packets reach NFQUEUE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueMechanism {
    /// nft's `queue` statement (needs CONFIG_NFT_QUEUE).
    NftQueue,
    /// iptables-nft's xt `NFQUEUE` target (fallback).
    XtNfqueue,
}

impl QueueMechanism {
    /// Name for reports and logs.
    pub fn name(self) -> &'static str {
        match self {
            QueueMechanism::NftQueue => "nft queue",
            QueueMechanism::XtNfqueue => "xt NFQUEUE (iptables-nft)",
        }
    }
}

/// Rendering knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Steering mechanism.
    pub queue: QueueMechanism,
    /// First and last queue number (`first..=last`), balanced when they differ.
    pub queues: (u16, u16),
    /// NFLOG group for kernel alerts.
    pub log_group: u16,
    /// Emit the plan's xt string-match rules.
    pub xt_string: bool,
    /// Let traffic through when no engine listens on the queue (`bypass`).
    pub fail_open: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            queue: QueueMechanism::NftQueue,
            queues: (0, 0),
            log_group: 1,
            xt_string: false,
            fail_open: true,
        }
    }
}

/// Makes a string safe inside nft double quotes (no escapes exist there) and within
/// `max` bytes, cutting on a character boundary.
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let c = match c {
            '"' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn family_kw(f: Family) -> &'static str {
    match f {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

fn side_kw(s: Side, addr: bool) -> &'static str {
    match (s, addr) {
        (Side::Src, true) => "saddr",
        (Side::Dst, true) => "daddr",
        (Side::Src, false) => "sport",
        (Side::Dst, false) => "dport",
    }
}

fn set_text(items: Vec<String>) -> String {
    if items.len() == 1 {
        items.into_iter().next().unwrap_or_default()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

fn port_text(r: &[(u16, u16)]) -> String {
    set_text(
        r.iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect(),
    )
}

// nft (1.0.6 at least) merges adjacent payload compares into one wider compare, `!=` ones
// too: `tcp sport != 1006 tcp dport != 1004` becomes one 4-byte `!=`, which matches unless
// *both* ports are equal, the negation of the conjunction. A compare behind a bitwise mask is
// never merged, so every single-value `!=` on a payload field gets a mask of the field's full
// width (it changes no bit). Found by the differential test (`tests/e2e_diff.rs`).

/// Whether a port match is a single-value `!=` that needs the guard mask (sets and ranges
/// are lookups and range compares, which nft does not merge).
fn unmergeable_port(negate: bool, ranges: &[(u16, u16)]) -> bool {
    negate && matches!(ranges, [(a, b)] if a == b)
}

/// The full-width guard mask of a `!=` on a payload header field, `None` for other compares
/// and for `meta` keys (no payload to merge).
fn field_guard(field: Field, cmp: Cmp) -> Option<u64> {
    let payload = field.nft_name().0 != "meta";
    (payload && matches!(cmp, Cmp::Ne(_))).then(|| field.max())
}

/// The mask of a raw payload compare: the rule's (nocase), or all ones for a `!=`.
fn payload_mask(mask: &Option<Vec<u8>>, len: usize, negate: bool) -> Option<Vec<u8>> {
    match mask {
        Some(m) => Some(m.clone()),
        None if negate => Some(vec![0xff; len]),
        None => None,
    }
}

fn cmp_text(c: Cmp) -> String {
    match c {
        Cmp::Eq(v) => v.to_string(),
        Cmp::Ne(v) => format!("!= {v}"),
        Cmp::Lt(v) => format!("< {v}"),
        Cmp::Le(v) => format!("<= {v}"),
        Cmp::Gt(v) => format!("> {v}"),
        Cmp::Ge(v) => format!(">= {v}"),
        Cmp::Range(a, b) => format!("{a}-{b}"),
    }
}

fn match_text(m: &KMatch, sets: &ListSets) -> String {
    match m {
        KMatch::NfProto(f) => {
            format!(
                "meta nfproto {}",
                if *f == Family::V4 { "ipv4" } else { "ipv6" }
            )
        }
        KMatch::L4Proto(p) => format!("meta l4proto {}", p.name()),
        KMatch::Addr {
            family,
            side,
            negate,
            ranges,
        } => format!(
            "{} {} {}{}",
            family_kw(*family),
            side_kw(*side, true),
            if *negate { "!= " } else { "" },
            match sets.name(*family, ranges) {
                Some(name) => format!("@{name}"),
                None => set_text(ranges.iter().map(|&r| fmt_addr_range(*family, r)).collect()),
            }
        ),
        KMatch::Port {
            proto,
            side,
            negate,
            ranges,
        } => format!(
            "{} {}{} {}{}",
            proto.name(),
            side_kw(*side, false),
            if unmergeable_port(*negate, ranges) {
                " & 0xffff"
            } else {
                ""
            },
            if *negate { "!= " } else { "" },
            port_text(ranges)
        ),
        KMatch::Field { field, cmp } => {
            let (p, f) = field.nft_name();
            match field_guard(*field, *cmp) {
                Some(mask) => format!("{p} {f} & 0x{mask:x} {}", cmp_text(*cmp)),
                None => format!("{p} {f} {}", cmp_text(*cmp)),
            }
        }
        KMatch::TcpFlags {
            mask,
            value,
            negate,
        } => format!(
            "tcp flags & 0x{mask:02x} {} 0x{value:02x}",
            if *negate { "!=" } else { "==" }
        ),
        KMatch::CtState { established } => format!("ct state {}", ct_state_name(*established)),
        KMatch::CtDir { original } => format!("ct direction {}", ct_dir_name(*original)),
        KMatch::Payload {
            offset,
            value,
            mask,
            negate,
        } => {
            let lhs = format!("@ih,{},{}", offset * 8, value.len() * 8);
            let lhs = match payload_mask(mask, value.len(), *negate) {
                Some(m) => format!("{lhs} & {}", hex(&m)),
                None => lhs,
            };
            format!("{lhs} {} {}", if *negate { "!=" } else { "==" }, hex(value))
        }
    }
}

fn ct_state_name(established: bool) -> &'static str {
    if established {
        "established"
    } else {
        "new"
    }
}

fn ct_dir_name(original: bool) -> &'static str {
    if original {
        "original"
    } else {
        "reply"
    }
}

fn log_prefix(r: &KernelRule) -> String {
    format!("sid:{} ", r.sid)
}

fn action_text(r: &KernelRule, log_group: u16) -> String {
    let log = if r.action.logs() {
        format!("log prefix \"{}\" group {log_group} ", log_prefix(r))
    } else {
        String::new()
    };
    let verdict = match r.action {
        KernelAction::Alert => String::new(),
        KernelAction::Drop { .. } => format!("ct mark set ct mark | 0x{FLOW_BLOCK_MARK:08x} drop"),
        KernelAction::RejectTcpReset { .. } => "reject with tcp reset".into(),
        KernelAction::RejectIcmpx { .. } => "reject with icmpx type port-unreachable".into(),
    };
    format!("counter {log}{verdict}").trim_end().to_string()
}

fn queue_text(o: &RenderOptions) -> String {
    let (a, b) = o.queues;
    let mut flags = Vec::new();
    if o.fail_open {
        flags.push("bypass");
    }
    if a != b {
        flags.push("fanout");
    }
    let num = if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    };
    if flags.is_empty() {
        format!("queue num {num}")
    } else {
        format!("queue num {num} {}", flags.join(","))
    }
}

fn steer_matches(s: &SteerRule) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(p) = s.proto {
        v.push(format!("meta l4proto {}", p.name()));
        if let Some((side, r)) = &s.ports {
            v.push(format!(
                "{} {} {}",
                p.name(),
                side_kw(*side, false),
                port_text(r)
            ));
        }
    }
    v
}

fn steer_comment(s: &SteerRule) -> String {
    let what = match (s.proto, &s.ports) {
        (None, _) => "all IP traffic".to_string(),
        (Some(p), None) => format!("all {}", p.name()),
        (Some(p), Some((side, r))) => {
            format!("{} {} {}", p.name(), side_kw(*side, false), port_text(r))
        }
    };
    sanitize(&format!("verdict steering: {what}"), MAX_COMMENT)
}

/// The kernel rules alone, one nft rule per line (snapshots, `--explain`).
/// Long address lists are `@set` references (see [`crate::lists`]).
pub fn rule_lines(plan: &KernelPlan, opts: &RenderOptions) -> Vec<String> {
    let sets = ListSets::of(plan);
    plan.rules
        .iter()
        .map(|r| {
            let mut line: Vec<String> = r.matches.iter().map(|m| match_text(m, &sets)).collect();
            line.push(action_text(r, opts.log_group));
            line.push(format!(
                "comment \"{}\"",
                sanitize(&r.comment(), MAX_COMMENT)
            ));
            line.join(" ")
        })
        .collect()
}

/// The nft script: an atomic replace of `table inet verdict`.
pub fn render_text(plan: &KernelPlan, opts: &RenderOptions) -> String {
    let opts = &crate::prefilter::effective(plan, opts);
    let mut s = String::new();
    let _ = writeln!(s, "#!/usr/sbin/nft -f");
    let _ = writeln!(
        s,
        "# Generated by `verdict compile`. Replaces table inet verdict in one transaction;"
    );
    let _ = writeln!(s, "# nothing outside that table is touched.");
    let lists = ListSets::of(plan);
    let _ = writeln!(
        s,
        "# {} kernel rules, {} queue steering rules, {} address-list sets ({} intervals).",
        plan.rules.len(),
        plan.steering.len(),
        lists.sets().len(),
        lists.intervals()
    );
    match opts.queue {
        QueueMechanism::NftQueue => {
            let _ = writeln!(
                s,
                "# Queue steering: nft queue statement ({}).",
                queue_text(opts)
            );
        }
        QueueMechanism::XtNfqueue => {
            let _ = writeln!(
                s,
                "# Queue steering: xt NFQUEUE through iptables-nft (chain {XT_CHAIN}, see xt.sh),"
            );
            let _ = writeln!(
                s,
                "# the fallback for kernels without the nft queue statement (CONFIG_NFT_QUEUE)."
            );
        }
    }
    if opts.xt_string && !plan.xt_string.is_empty() {
        let _ = writeln!(
            s,
            "# {} xt string-match rules (--xt-string) are in iptables-nft chain {XT_CHAIN}.",
            plan.xt_string.len()
        );
    }
    if !plan.prefilter.is_empty() {
        let _ = writeln!(
            s,
            "# Kernel prefilter: {} pattern steering rules (xt string match) in iptables-nft chain {XT_CHAIN}.",
            plan.prefilter.len()
        );
    }
    let _ = writeln!(s, "table inet {TABLE} {{}}");
    let _ = writeln!(s, "delete table inet {TABLE}");
    let _ = writeln!(s, "table inet {TABLE} {{");
    s.push_str(&lists.text());
    let _ = writeln!(s, "\tchain {CHAIN} {{");
    let _ = writeln!(
        s,
        "\t\t# priority -10: after conntrack/defrag (-200) and mangle (-150), before filter (0)"
    );
    let _ = writeln!(
        s,
        "\t\ttype filter hook forward priority {PRIORITY}; policy accept;"
    );
    // First: bypass-list traffic meets no kernel rule, no flow block and no steering.
    for set in lists.bypass() {
        for side in [Side::Src, Side::Dst] {
            let _ = writeln!(
                s,
                "\t\t{} {} @{} meta mark set meta mark | 0x{BYPASS_LIST_MARK:08x} counter accept comment \"{BYPASS_LISTED}\"",
                family_kw(set.family),
                side_kw(side, true),
                set.name
            );
        }
    }
    if blocks_flows(plan) {
        let _ = writeln!(
            s,
            "\t\tct mark & 0x{FLOW_BLOCK_MARK:08x} == 0x{FLOW_BLOCK_MARK:08x} counter drop comment \"{FLOW_BLOCKED}\""
        );
    }
    for line in rule_lines(plan, opts) {
        let _ = writeln!(s, "\t\t{line}");
    }
    if opts.queue == QueueMechanism::NftQueue && !plan.steering.is_empty() {
        let _ = writeln!(
            s,
            "\t\tct mark & 0x{FLOW_BYPASS_MARK:08x} == 0x{FLOW_BYPASS_MARK:08x} counter accept comment \"{FLOW_BYPASSED}\""
        );
        for d in CT_DIRECTIONS {
            let _ = writeln!(
                s,
                "\t\tct direction {} ct mark & 0x{:08x} == 0x{:08x} counter accept comment \"{}\"",
                d.nft, d.mark, d.mark, d.comment
            );
        }
    }
    if opts.queue == QueueMechanism::NftQueue {
        for st in &plan.steering {
            let mut line = steer_matches(st);
            line.push("counter".into());
            line.push(queue_text(opts));
            line.push(format!("comment \"{}\"", steer_comment(st)));
            let _ = writeln!(s, "\t\t{}", line.join(" "));
        }
    }
    let _ = writeln!(s, "\t}}");
    if plan.steers() || plan.has_bypass() {
        let keep = !FLOW_BYPASS_MARK;
        let _ = writeln!(s, "\tchain {BYPASS_CHAIN} {{");
        let _ = writeln!(
            s,
            "\t\t# priority {BYPASS_PRIORITY}: after the queue (filter, 0), so it sees the worker's verdict mark"
        );
        let _ = writeln!(
            s,
            "\t\ttype filter hook forward priority {BYPASS_PRIORITY}; policy accept;"
        );
        if plan.steers() {
            let _ = writeln!(
                s,
                "\t\tmeta mark & 0x{FLOW_BLOCK_MARK:08x} == 0x{FLOW_BLOCK_MARK:08x} ct mark set ct mark | 0x{FLOW_BLOCK_MARK:08x} counter drop comment \"{ENGINE_BLOCK_RECORD}\""
            );
        }
        let _ = writeln!(
            s,
            "\t\tmeta mark & 0x{FLOW_BYPASS_MARK:08x} == 0x{FLOW_BYPASS_MARK:08x} ct mark set ct mark | 0x{FLOW_BYPASS_MARK:08x} meta mark set meta mark & 0x{keep:08x} counter comment \"{BYPASS_RECORD}\""
        );
        // The first rule a packet matches clears the bit, so at most one records it.
        for d in CT_DIRECTIONS {
            let _ = writeln!(
                s,
                "\t\tmeta mark & 0x{DIRECTION_BYPASS_MARK:08x} == 0x{DIRECTION_BYPASS_MARK:08x} ct direction {} ct mark set ct mark | 0x{:08x} meta mark set meta mark & 0x{:08x} counter comment \"{DIRECTION_BYPASS_RECORD}\"",
                d.nft,
                d.mark,
                !DIRECTION_BYPASS_MARK
            );
        }
        if plan.has_bypass() {
            let _ = writeln!(
                s,
                "\t\tmeta mark & 0x{BYPASS_LIST_MARK:08x} == 0x{BYPASS_LIST_MARK:08x} meta mark set meta mark & 0x{:08x} counter comment \"{BYPASS_LIST_CLEARED}\"",
                !BYPASS_LIST_MARK
            );
        }
        let _ = writeln!(s, "\t}}");
    }
    let _ = writeln!(s, "}}");
    s
}

// ---- JSON ----

fn op(sym: &str) -> Operator {
    // By symbol: the crate's variant names for < and > are swapped relative to their symbols.
    serde_json::from_value(serde_json::Value::String(sym.into())).expect("valid nft operator")
}

fn num(v: u64) -> Expression<'static> {
    match u32::try_from(v) {
        Ok(n) => Expression::Number(n),
        Err(_) => Expression::String(Cow::Owned(v.to_string())),
    }
}

fn field(proto: &'static str, f: &'static str) -> Expression<'static> {
    if proto == "meta" {
        let key = match f {
            "l4proto" => MetaKey::L4proto,
            _ => MetaKey::Nfproto,
        };
        return Expression::Named(NamedExpression::Meta(Meta { key }));
    }
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(proto),
            field: Cow::Borrowed(f),
        },
    )))
}

fn mat(left: Expression<'static>, sym: &str, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: op(sym),
    })
}

fn set_or_one(mut items: Vec<Expression<'static>>) -> Expression<'static> {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        Expression::Named(NamedExpression::Set(
            items.into_iter().map(SetItem::Element).collect(),
        ))
    }
}

fn range(a: Expression<'static>, b: Expression<'static>) -> Expression<'static> {
    Expression::Range(Box::new(Range { range: [a, b] }))
}

fn addr_expr(f: Family, (lo, hi): (u128, u128)) -> Expression<'static> {
    let bits = if f == Family::V4 { 32 } else { 128 };
    match verdict_compiler::kernel::prefix_len(lo, hi, bits) {
        Some(l) if l as u32 == bits => Expression::String(fmt_addr(f, lo).into()),
        Some(l) => Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(fmt_addr(f, lo).into())),
            len: l as u32,
        })),
        None => range(
            Expression::String(fmt_addr(f, lo).into()),
            Expression::String(fmt_addr(f, hi).into()),
        ),
    }
}

fn ports_expr(r: &[(u16, u16)]) -> Expression<'static> {
    set_or_one(
        r.iter()
            .map(|&(a, b)| {
                if a == b {
                    num(a as u64)
                } else {
                    range(num(a as u64), num(b as u64))
                }
            })
            .collect(),
    )
}

fn match_json(m: &KMatch, sets: &ListSets) -> Statement<'static> {
    match m {
        KMatch::NfProto(f) => mat(
            field("meta", "nfproto"),
            "==",
            Expression::String(if *f == Family::V4 { "ipv4" } else { "ipv6" }.into()),
        ),
        KMatch::L4Proto(p) => mat(
            field("meta", "l4proto"),
            "==",
            Expression::String(p.name().into()),
        ),
        KMatch::Addr {
            family,
            side,
            negate,
            ranges,
        } => mat(
            field(family_kw(*family), side_kw(*side, true)),
            if *negate { "!=" } else { "==" },
            match sets.name(*family, ranges) {
                Some(name) => Expression::String(format!("@{name}").into()),
                None => set_or_one(ranges.iter().map(|&r| addr_expr(*family, r)).collect()),
            },
        ),
        KMatch::Port {
            proto,
            side,
            negate,
            ranges,
        } => mat(
            guarded(
                field(proto.name(), side_kw(*side, false)),
                unmergeable_port(*negate, ranges).then_some(0xffff),
            ),
            if *negate { "!=" } else { "==" },
            ports_expr(ranges),
        ),
        KMatch::Field { field: f, cmp } => {
            let (p, n) = f.nft_name();
            let left = guarded(field(p, n), field_guard(*f, *cmp));
            let (sym, right) = match *cmp {
                Cmp::Eq(v) => ("==", num(v)),
                Cmp::Ne(v) => ("!=", num(v)),
                Cmp::Lt(v) => ("<", num(v)),
                Cmp::Le(v) => ("<=", num(v)),
                Cmp::Gt(v) => (">", num(v)),
                Cmp::Ge(v) => (">=", num(v)),
                Cmp::Range(a, b) => ("==", range(num(a), num(b))),
            };
            mat(left, sym, right)
        }
        KMatch::TcpFlags {
            mask,
            value,
            negate,
        } => mat(
            Expression::BinaryOperation(Box::new(BinaryOperation::AND(
                field("tcp", "flags"),
                Expression::Number(*mask as u32),
            ))),
            if *negate { "!=" } else { "==" },
            Expression::Number(*value as u32),
        ),
        KMatch::CtState { established } => mat(
            ct_key("state"),
            "in",
            Expression::String(ct_state_name(*established).into()),
        ),
        KMatch::CtDir { original } => mat(
            ct_key("direction"),
            "==",
            Expression::String(ct_dir_name(*original).into()),
        ),
        KMatch::Payload {
            offset,
            value,
            mask,
            negate,
        } => {
            let raw =
                Expression::Named(NamedExpression::Payload(Payload::PayloadRaw(PayloadRaw {
                    base: PayloadBase::IH,
                    offset: offset * 8,
                    len: value.len() as u32 * 8,
                })));
            let left = match payload_mask(mask, value.len(), *negate) {
                Some(m) => Expression::BinaryOperation(Box::new(BinaryOperation::AND(
                    raw,
                    Expression::String(hex(&m).into()),
                ))),
                None => raw,
            };
            mat(
                left,
                if *negate { "!=" } else { "==" },
                Expression::String(hex(value).into()),
            )
        }
    }
}

/// `left & mask` when a guard mask is given (see [`field_guard`]), else `left`.
fn guarded(left: Expression<'static>, mask: Option<u64>) -> Expression<'static> {
    match mask {
        Some(m) => Expression::BinaryOperation(Box::new(BinaryOperation::AND(
            left,
            Expression::Number(m as u32),
        ))),
        None => left,
    }
}

/// `ct KEY` (of the packet's connection, either direction).
fn ct_key(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: key.into(),
        family: None,
        dir: None,
    }))
}

fn ct_mark() -> Expression<'static> {
    ct_key("mark")
}

/// `ct direction DIR`.
fn ct_direction(d: &CtDirection) -> Statement<'static> {
    mat(ct_key("direction"), "==", Expression::String(d.nft.into()))
}

fn meta_mark() -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::Mark }))
}

/// `EXPR & bit == bit`.
/// `MARK set MARK | bit` (`mark` is [`ct_mark`] or [`meta_mark`]).
fn set_bit(mark: fn() -> Expression<'static>, bit: u32) -> Statement<'static> {
    Statement::Mangle(Mangle {
        key: mark(),
        value: Expression::BinaryOperation(Box::new(BinaryOperation::OR(vec![
            mark(),
            Expression::Number(bit),
        ]))),
    })
}

/// `MARK set MARK & ~bit`.
fn clear_bit(mark: fn() -> Expression<'static>, bit: u32) -> Statement<'static> {
    Statement::Mangle(Mangle {
        key: mark(),
        value: Expression::BinaryOperation(Box::new(BinaryOperation::AND(
            mark(),
            Expression::Number(!bit),
        ))),
    })
}

fn has_bit(e: Expression<'static>, bit: u32) -> Statement<'static> {
    mat(
        Expression::BinaryOperation(Box::new(BinaryOperation::AND(e, Expression::Number(bit)))),
        "==",
        Expression::Number(bit),
    )
}

/// Whether the table needs the rule dropping flows blocked in conntrack: kernel drop rules
/// block flows, and so does the engine on flows with a bypassed direction.
fn blocks_flows(plan: &KernelPlan) -> bool {
    plan.blocks_flows() || plan.steers()
}

/// The bypass chain and its rules (see the module docs), as JSON objects: `steered` adds the
/// engine's flow block.
fn bypass_chain_json(steered: bool, bypass_list: bool) -> Vec<nftables::schema::NfObject<'static>> {
    use nftables::schema::NfObject::CmdObject;
    let chain = CmdObject(NfCmd::Add(NfListObject::Chain(Chain {
        family: NfFamily::INet,
        table: TABLE.into(),
        name: BYPASS_CHAIN.into(),
        newname: None,
        handle: None,
        _type: Some(NfChainType::Filter),
        hook: Some(NfHook::Forward),
        prio: Some(BYPASS_PRIORITY),
        dev: None,
        policy: Some(NfChainPolicy::Accept),
    })));
    let expr = vec![
        has_bit(meta_mark(), FLOW_BYPASS_MARK),
        set_bit(ct_mark, FLOW_BYPASS_MARK),
        clear_bit(meta_mark, FLOW_BYPASS_MARK),
        counter(),
    ];
    let mut out = vec![chain];
    if steered {
        let block = vec![
            has_bit(meta_mark(), FLOW_BLOCK_MARK),
            set_bit(ct_mark, FLOW_BLOCK_MARK),
            counter(),
            Statement::Drop(None),
        ];
        out.push(rule_in(
            BYPASS_CHAIN,
            block,
            ENGINE_BLOCK_RECORD.to_string(),
        ));
    }
    out.push(rule_in(BYPASS_CHAIN, expr, BYPASS_RECORD.to_string()));
    for d in &CT_DIRECTIONS {
        let expr = vec![
            has_bit(meta_mark(), DIRECTION_BYPASS_MARK),
            ct_direction(d),
            set_bit(ct_mark, d.mark),
            clear_bit(meta_mark, DIRECTION_BYPASS_MARK),
            counter(),
        ];
        out.push(rule_in(
            BYPASS_CHAIN,
            expr,
            DIRECTION_BYPASS_RECORD.to_string(),
        ));
    }
    if bypass_list {
        let expr = vec![
            has_bit(meta_mark(), BYPASS_LIST_MARK),
            clear_bit(meta_mark, BYPASS_LIST_MARK),
            counter(),
        ];
        out.push(rule_in(BYPASS_CHAIN, expr, BYPASS_LIST_CLEARED.to_string()));
    }
    out
}

/// The rules accepting bypass-list traffic (both sides of each family's set), as JSON.
fn bypass_list_json(sets: &ListSets) -> Vec<nftables::schema::NfObject<'static>> {
    let mut out = Vec::new();
    for set in sets.bypass() {
        for side in [Side::Src, Side::Dst] {
            let expr = vec![
                mat(
                    field(family_kw(set.family), side_kw(side, true)),
                    "==",
                    Expression::String(format!("@{}", set.name).into()),
                ),
                set_bit(meta_mark, BYPASS_LIST_MARK),
                counter(),
                Statement::Accept(None),
            ];
            out.push(rule_obj(expr, BYPASS_LISTED.to_string()));
        }
    }
    out
}

fn counter() -> Statement<'static> {
    Statement::Counter(Counter::Anonymous(None))
}

fn action_json(r: &KernelRule, log_group: u16) -> Vec<Statement<'static>> {
    let mut v = vec![counter()];
    if r.action.logs() {
        let mut l = Log::new(Some(log_group as u32));
        l.prefix = Some(log_prefix(r).into());
        v.push(Statement::Log(Some(l)));
    }
    match r.action {
        KernelAction::Alert => {}
        KernelAction::Drop { .. } => {
            v.push(set_bit(ct_mark, FLOW_BLOCK_MARK));
            v.push(Statement::Drop(None));
        }
        KernelAction::RejectTcpReset { .. } => v.push(Statement::Reject(Some(Reject::new(
            Some(nftables::stmt::RejectType::TCPReset),
            None,
        )))),
        KernelAction::RejectIcmpx { .. } => v.push(Statement::Reject(Some(Reject::new(
            Some(nftables::stmt::RejectType::ICMPX),
            Some(RejectCode::PortUnreach),
        )))),
    }
    v
}

fn rule_obj(expr: Vec<Statement<'static>>, comment: String) -> nftables::schema::NfObject<'static> {
    rule_in(CHAIN, expr, comment)
}

fn rule_in(
    chain: &'static str,
    expr: Vec<Statement<'static>>,
    comment: String,
) -> nftables::schema::NfObject<'static> {
    nftables::schema::NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(Rule {
        family: NfFamily::INet,
        table: TABLE.into(),
        chain: chain.into(),
        expr: expr.into(),
        handle: None,
        index: None,
        comment: Some(comment.into()),
    })))
}

/// A named address list as a JSON `add set` object, its elements included.
fn set_json(set: &ListSet) -> nftables::schema::NfObject<'static> {
    let ty = match set.family {
        Family::V4 => SetType::Ipv4Addr,
        Family::V6 => SetType::Ipv6Addr,
    };
    let elem: Vec<Expression<'static>> = set
        .ranges
        .iter()
        .map(|&r| addr_expr(set.family, r))
        .collect();
    nftables::schema::NfObject::CmdObject(NfCmd::Add(NfListObject::Set(Box::new(
        nftables::schema::Set {
            family: NfFamily::INet,
            table: TABLE.into(),
            name: set.name.clone().into(),
            handle: None,
            set_type: SetTypeValue::Single(ty),
            policy: None,
            flags: Some(HashSet::from([SetFlag::Interval])),
            elem: Some(elem.into()),
            timeout: None,
            gc_interval: None,
            size: None,
            comment: None,
        },
    ))))
}

/// The same ruleset as [`render_text`], as nftables JSON (`nft -j -f`).
pub fn render_json(plan: &KernelPlan, opts: &RenderOptions) -> Nftables<'static> {
    let opts = &crate::prefilter::effective(plan, opts);
    use nftables::schema::NfObject::CmdObject;
    let table = || {
        NfListObject::Table(Table {
            family: NfFamily::INet,
            name: TABLE.into(),
            handle: None,
        })
    };
    let mut objects = vec![
        CmdObject(NfCmd::Add(table())),
        CmdObject(NfCmd::Delete(table())),
        CmdObject(NfCmd::Add(table())),
        CmdObject(NfCmd::Add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: TABLE.into(),
            name: CHAIN.into(),
            newname: None,
            handle: None,
            _type: Some(NfChainType::Filter),
            hook: Some(NfHook::Forward),
            prio: Some(PRIORITY),
            dev: None,
            policy: Some(NfChainPolicy::Accept),
        }))),
    ];
    let sets = ListSets::of(plan);
    objects.extend(sets.bypass().iter().chain(sets.sets()).map(set_json));
    objects.extend(bypass_list_json(&sets));
    if blocks_flows(plan) {
        let expr = vec![
            mat(
                Expression::BinaryOperation(Box::new(BinaryOperation::AND(
                    ct_mark(),
                    Expression::Number(FLOW_BLOCK_MARK),
                ))),
                "==",
                Expression::Number(FLOW_BLOCK_MARK),
            ),
            counter(),
            Statement::Drop(None),
        ];
        objects.push(rule_obj(expr, FLOW_BLOCKED.to_string()));
    }
    for r in &plan.rules {
        let mut expr: Vec<Statement> = r.matches.iter().map(|m| match_json(m, &sets)).collect();
        expr.extend(action_json(r, opts.log_group));
        objects.push(rule_obj(expr, sanitize(&r.comment(), MAX_COMMENT)));
    }
    if opts.queue == QueueMechanism::NftQueue && !plan.steering.is_empty() {
        let expr = vec![
            has_bit(ct_mark(), FLOW_BYPASS_MARK),
            counter(),
            Statement::Accept(None),
        ];
        objects.push(rule_obj(expr, FLOW_BYPASSED.to_string()));
        for d in &CT_DIRECTIONS {
            let expr = vec![
                ct_direction(d),
                has_bit(ct_mark(), d.mark),
                counter(),
                Statement::Accept(None),
            ];
            objects.push(rule_obj(expr, d.comment.to_string()));
        }
    }
    if opts.queue == QueueMechanism::NftQueue {
        for st in &plan.steering {
            let mut expr = Vec::new();
            if let Some(p) = st.proto {
                expr.push(match_json(&KMatch::L4Proto(p), &sets));
                if let Some((side, r)) = &st.ports {
                    expr.push(mat(
                        field(p.name(), side_kw(*side, false)),
                        "==",
                        ports_expr(r),
                    ));
                }
            }
            expr.push(counter());
            let (a, b) = opts.queues;
            let mut flags = HashSet::new();
            if opts.fail_open {
                flags.insert(QueueFlag::Bypass);
            }
            if a != b {
                flags.insert(QueueFlag::Fanout);
            }
            expr.push(Statement::Queue(Queue {
                num: if a == b {
                    num(a as u64)
                } else {
                    range(num(a as u64), num(b as u64))
                },
                flags: (!flags.is_empty()).then_some(flags),
            }));
            objects.push(rule_obj(expr, steer_comment(st)));
        }
    }
    if plan.steers() || plan.has_bypass() {
        objects.extend(bypass_chain_json(plan.steers(), plan.has_bypass()));
    }
    Nftables {
        objects: objects.into(),
    }
}

// ---- iptables-nft ----

pub(crate) fn xt_bin(f: Family) -> &'static str {
    match f {
        Family::V4 => "iptables-nft",
        Family::V6 => "ip6tables-nft",
    }
}

pub(crate) fn multiport_chunks(r: &[(u16, u16)]) -> Vec<String> {
    // multiport takes at most 15 ports per rule, a range counting as two
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut cost = 0;
    for &(a, b) in r {
        let (item, c) = if a == b {
            (a.to_string(), 1)
        } else {
            (format!("{a}:{b}"), 2)
        };
        if cost + c > 15 {
            out.push(cur.join(","));
            cur.clear();
            cost = 0;
        }
        cur.push(item);
        cost += c;
    }
    if !cur.is_empty() {
        out.push(cur.join(","));
    }
    out
}

/// `base` + `-m multiport --sports|--dports CHUNK` + `tail`, one rule per `multiport` chunk of
/// `ports`; `base` + `tail` alone for any port.
pub(crate) fn with_ports(
    base: Vec<String>,
    ports: Option<&(Side, Vec<(u16, u16)>)>,
    tail: &[String],
) -> Vec<Vec<String>> {
    let Some((side, r)) = ports else {
        let mut v = base;
        v.extend_from_slice(tail);
        return vec![v];
    };
    let flag = if *side == Side::Src {
        "--sports"
    } else {
        "--dports"
    };
    multiport_chunks(r)
        .into_iter()
        .map(|chunk| {
            let mut v = base.clone();
            v.extend(argv(&["-m", "multiport", flag, &chunk]));
            v.extend_from_slice(tail);
            v
        })
        .collect()
}

pub(crate) fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn nfqueue_target(o: &RenderOptions) -> Vec<String> {
    let (a, b) = o.queues;
    let mut v = argv(&["-j", "NFQUEUE"]);
    if a == b {
        v.extend(argv(&["--queue-num", &a.to_string()]));
    } else {
        v.extend(argv(&["--queue-balance", &format!("{a}:{b}")]));
    }
    if o.fail_open {
        v.push("--queue-bypass".into());
    }
    v
}

/// The conntrack and TCP flag matches of a rule's `flow` (`FlowConds::matches` for xt).
pub(crate) fn xt_flow(f: &FlowConds) -> Vec<String> {
    let mut v = Vec::new();
    if f.established.is_some() || f.original.is_some() {
        v.extend(argv(&["-m", "conntrack"]));
        if let Some(e) = f.established {
            v.extend(argv(&["--ctstate", if e { "ESTABLISHED" } else { "NEW" }]));
        }
        if let Some(o) = f.original {
            v.extend(argv(&["--ctdir", if o { "ORIGINAL" } else { "REPLY" }]));
        }
    }
    if f.no_syn_rst {
        v.extend(argv(&["-m", "tcp", "--tcp-flags", "SYN,RST", "NONE"]));
    }
    v
}

/// iptables-nft commands (argv lists) for the xt NFQUEUE steering (with
/// [`QueueMechanism::XtNfqueue`]) and the `--xt-string` rules, in a dedicated chain
/// `VERDICT` hooked first in `FORWARD` (the string rules in its `VERDICT-*` sub-chains, see
/// `xt_string.rs`); empty when neither is needed. Chains are declared (`-N`) before any rule.
/// Removal is `-D FORWARD -j VERDICT`, then `-F` and `-X` of every `VERDICT*` chain.
pub fn xt_commands(plan: &KernelPlan, opts: &RenderOptions) -> Vec<Vec<String>> {
    let opts = &crate::prefilter::effective(plan, opts);
    let steer = opts.queue == QueueMechanism::XtNfqueue
        && (!plan.steering.is_empty() || !plan.prefilter.is_empty());
    let strings = opts.xt_string && !plan.xt_string.is_empty();
    if !steer && !strings {
        return Vec::new();
    }
    let mut out = Vec::new();
    for fam in [Family::V4, Family::V6] {
        let bin = xt_bin(fam);
        out.push(argv(&[bin, "-w", "-N", XT_CHAIN]));
        if opts.xt_string {
            out.extend(crate::xt_string::declare_chains(fam));
        }
        if plan.has_bypass() {
            // verdict's chain accepted these, but this hook is a separate one: neither the
            // string rules nor the steering may see them.
            out.push(xt_return_on(
                bin,
                &[],
                "mark",
                BYPASS_LIST_MARK,
                BYPASS_LISTED,
            ));
        }
        if strings {
            out.extend(crate::xt_string::string_rules(plan, opts, fam));
        }
        if steer {
            // Bypassed flows leave the chain before any steering rule (RETURN, so the
            // operator's own FORWARD rules still see them).
            out.push(xt_return_on(
                bin,
                &[],
                "connmark",
                FLOW_BYPASS_MARK,
                FLOW_BYPASSED,
            ));
            // A bypassed direction: its own packets only, the other direction is still queued.
            for d in &CT_DIRECTIONS {
                let dir = ["-m", "conntrack", "--ctdir", d.xt];
                out.push(xt_return_on(bin, &dir, "connmark", d.mark, d.comment));
            }
            out.extend(crate::prefilter::xt_continuation(plan, bin, opts));
            for st in &plan.steering {
                let proto = match (st.proto, fam) {
                    (Some(L4Proto::Icmp), Family::V6) | (Some(L4Proto::Icmpv6), Family::V4) => {
                        continue
                    }
                    (p, _) => p,
                };
                let mut base = argv(&[bin, "-w", "-A", XT_CHAIN]);
                if let Some(p) = proto {
                    base.extend(argv(&["-p", p.name()]));
                }
                let mut tail = argv(&["-m", "comment", "--comment", &steer_comment(st)]);
                tail.extend(nfqueue_target(opts));
                out.extend(with_ports(base, st.ports.as_ref(), &tail));
            }
            out.extend(crate::prefilter::xt_pattern_rules(plan, bin));
        }
        // Hooked last, so FORWARD never jumps to a half-filled chain.
        out.push(argv(&[bin, "-w", "-I", "FORWARD", "1", "-j", XT_CHAIN]));
    }
    out
}

/// `-A VERDICT [PRE...] -m MATCH --mark BIT/BIT -j RETURN`: `match` is `connmark` (conntrack
/// mark) or `mark` (packet mark); `pre` are matches before it.
fn xt_return_on(bin: &str, pre: &[&str], match_: &str, bit: u32, comment: &str) -> Vec<String> {
    let mut v = argv(&[bin, "-w", "-A", XT_CHAIN]);
    v.extend(argv(pre));
    v.extend(argv(&[
        "-m",
        match_,
        "--mark",
        &format!("0x{bit:x}/0x{bit:x}"),
        "-m",
        "comment",
        "--comment",
        comment,
        "-j",
        "RETURN",
    ]));
    v
}

pub use crate::xt_string::review as xt_string_review;

/// The xt commands as a shell script (`xt.sh`), one command per line, arguments quoted.
pub fn xt_script(cmds: &[Vec<String>]) -> String {
    let mut s = String::from("#!/bin/sh\n# Generated by `verdict compile`: iptables-nft rules in chain VERDICT.\nset -e\n");
    for c in cmds {
        let line: Vec<String> = c
            .iter()
            .map(|a| {
                if a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:,=".contains(c))
                {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', "'\\''"))
                }
            })
            .collect();
        s.push_str(&line.join(" "));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_quoted_safely_and_bounded() {
        assert_eq!(sanitize("say \"hi\"\tü", 128), "say 'hi'??");
        let long = "é".repeat(100);
        let s = sanitize(&format!("ab{long}"), 10);
        assert_eq!(s, "ab????????");
        assert!(sanitize(&"x".repeat(500), MAX_COMMENT).len() <= MAX_COMMENT);
    }

    #[test]
    fn multiport_takes_at_most_fifteen_ports_per_rule() {
        let ports: Vec<(u16, u16)> = (1..=20).map(|p| (p, p)).collect();
        let chunks = multiport_chunks(&ports);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].split(',').count(), 15);
        // a range counts as two
        let ranges: Vec<(u16, u16)> = (0..8).map(|i| (i * 10, i * 10 + 5)).collect();
        assert_eq!(
            multiport_chunks(&ranges),
            ["0:5,10:15,20:25,30:35,40:45,50:55,60:65", "70:75"]
        );
    }

    #[test]
    fn xt_script_quotes_what_the_shell_would_split() {
        let s = xt_script(&[vec![
            "iptables-nft".into(),
            "--comment".into(),
            "it's a test".into(),
        ]]);
        assert!(
            s.ends_with("iptables-nft --comment 'it'\\''s a test'\n"),
            "{s}"
        );
    }

    #[test]
    fn json_operators_serialize_to_their_symbols() {
        for sym in ["<", ">", "<=", ">=", "==", "!="] {
            assert_eq!(serde_json::to_value(op(sym)).unwrap(), sym);
        }
    }
}

//! `--xt-string` mode (fwsnort parity, opt-in): rules whose only kernel obstacle is an
//! unanchored content become iptables-nft rules with the xt `string` match, kept exact:
//! - contents without a relative modifier are independent in Snort and Suricata (each is
//!   searched from the buffer start within its own offset/depth), so each becomes its own
//!   `-m string`; a negated one becomes `-m string ! --string` (not found in its window,
//!   which is also Snort's and Suricata's answer when the window lies past the payload end);
//! - a relative content that must follow the previous one immediately (`distance:0;
//!   within:LEN`) is merged into the previous pattern: "A then B right after" is "AB";
//! - any other order or distance the kernel cannot keep, and the rule stays queued with
//!   [`XT_RELATIVE`];
//! - address sets iptables cannot list in `-s`/`-d` (`$EXTERNAL_NET` = `!$HOME_NET`, long
//!   lists) are written as their complement with negated `u32` matches ([`XtAddr::NotIn`]);
//! - `--from`/`--to` count from the network header, so the renderer dispatches packets by
//!   their exact IP + transport header length (`u32` on IHL and the TCP data offset) into
//!   one chain per length, where each content gets its exact window ([`XtContent::window`]).

use crate::ir::{
    Direction, FastPattern, HeaderTest, IpSet, NumCmp, Operand, PortSet, Position, Protocol, Rule,
    Sid, Track,
};
use crate::kernel::{
    cidrs, kernel_action, lower_flow, widen, AddrRange, Family, FlowConds, KernelAction,
    KernelCaps, L4Proto, QueueReason,
};
use serde::{Deserialize, Serialize};

/// Queue reason of a relative content whose order or distance the xt string match cannot keep.
pub const XT_RELATIVE: &str = "relative content the kernel cannot order";

/// Queue reason of a TCP `dsize` on the nft path, which the per-header-length chains of this
/// mode can answer (the payload length is the IP total length minus a known header length).
pub const DSIZE_NON_UDP: &str = "dsize on non-UDP needs the engine";

/// Queue reason of a rule whose contents are all negated (xt needs one to find).
pub const XT_ONLY_NEGATED: &str = "no positive content for the kernel string match";

/// Largest offset the xt string match takes (`--from`/`--to` are 16-bit).
const XT_MAX_OFFSET: u32 = u16::MAX as u32;

/// Longest pattern the xt string match takes (`XT_STRING_MAX_PATTERN_SIZE`).
const XT_MAX_PATTERN: usize = 128;

/// Excluded IPv4 intervals at most: a `u32` test holds 10 ranges, so 4 negated matches.
const MAX_V4_EXCLUDED: usize = 40;

/// Prefixes at most in `-s`/`-d` (each one is a separate kernel rule) or excluded over IPv6
/// (each one a negated `u32` match).
const MAX_PREFIXES: usize = 16;

/// One side's addresses of an xt rule, for one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum XtAddr {
    /// every address
    Any,
    /// one of these prefixes (`-s`/`-d` list)
    In(Vec<(u128, u8)>),
    /// none of these intervals (negated `u32` matches on the address field)
    NotIn(Vec<AddrRange>),
}

/// One `-m string` of an xt rule, with its window relative to the transport payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XtContent {
    /// bytes searched
    pub pattern: Vec<u8>,
    /// `--icase`
    pub nocase: bool,
    /// `! --string`: the rule matches when the pattern is not in the window
    pub negated: bool,
    /// payload bytes skipped before the window (Snort `offset`)
    pub offset: u32,
    /// window length from `offset` (Snort `depth`), `None` = to the payload end
    pub depth: Option<u32>,
}

impl XtContent {
    /// `--from`/`--to` for a packet whose IP and transport headers take `hdr` bytes: the xt
    /// match finds a pattern only when it lies wholly inside `[from, to)` counted from the
    /// network header, which is Snort's `offset`/`depth` shifted by the headers. `None` when
    /// the window starts past what the 16-bit `--from` can say (no packet is that long).
    pub fn window(&self, hdr: u32) -> Option<(u16, u16)> {
        let from = hdr.checked_add(self.offset)?;
        let to = match self.depth {
            Some(d) => from.saturating_add(d).min(XT_MAX_OFFSET),
            None => XT_MAX_OFFSET,
        };
        Some((u16::try_from(from).ok()?, to as u16))
    }
}

/// A `dsize` as an inclusive payload length range (possibly negated: `dsize:!N`), which the
/// renderer turns into `-m length` on the IP total length of each header-length chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XtDsize {
    /// smallest payload length
    pub lo: u32,
    /// largest payload length
    pub hi: u32,
    /// `dsize:!N`: any length but these
    pub negated: bool,
}

impl XtDsize {
    /// The `dsize` among a rule's header tests (its only one), or why not.
    fn of(header: &[HeaderTest]) -> Result<Option<XtDsize>, QueueReason> {
        let mut it = header.iter();
        let Some(h) = it.next() else {
            return Ok(None);
        };
        let (HeaderTest::Dsize(c), None) = (h, it.next()) else {
            let other = (header.iter())
                .find(|h| !matches!(h, HeaderTest::Dsize(_)))
                .unwrap_or(h);
            return Err(format!(
                "{} with --xt-string needs the engine",
                crate::kernel::header_keyword(other)
            ));
        };
        const MAX: u64 = u16::MAX as u64;
        let never = || Err::<Option<XtDsize>, _>("dsize that no packet has".to_string());
        let (lo, hi, negated) = match *c {
            NumCmp::Eq(n) => (n, n, false),
            NumCmp::Ne(n) => (n, n, true),
            NumCmp::Lt(0) => return never(),
            NumCmp::Lt(n) => (0, n - 1, false),
            NumCmp::Le(n) => (0, n, false),
            NumCmp::Gt(n) => (n.saturating_add(1), MAX, false),
            NumCmp::Ge(n) => (n, MAX, false),
            NumCmp::RangeExclusive(a, b) if b > a.saturating_add(1) => (a + 1, b - 1, false),
            NumCmp::RangeInclusive(a, b) if a <= b => (a, b, false),
            NumCmp::RangeExclusive(..) | NumCmp::RangeInclusive(..) => return never(),
        };
        let clamp = |v: u64| v.min(MAX) as u32;
        Ok(Some(XtDsize {
            lo: clamp(lo),
            hi: clamp(hi),
            negated,
        }))
    }

    /// `-m length` bounds (IP total length) for `hdr` header bytes, `None` when the range
    /// starts past the 16-bit length.
    pub fn total(&self, hdr: u32) -> Option<(u16, u16)> {
        let lo = u16::try_from(hdr.checked_add(self.lo)?).ok()?;
        let hi = hdr.saturating_add(self.hi).min(u32::from(u16::MAX)) as u16;
        Some((lo, hi))
    }
}

/// A `--xt-string` rule (fwsnort parity mode), for one address family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XtStringRule {
    /// sid of the IR rule
    pub sid: Sid,
    /// rev
    pub rev: u32,
    /// msg
    pub msg: String,
    /// family (iptables vs ip6tables)
    pub family: Family,
    /// transport
    pub proto: L4Proto,
    /// source addresses
    pub src: XtAddr,
    /// destination addresses
    pub dst: XtAddr,
    /// source port intervals (`None` = any)
    pub sports: Option<Vec<(u16, u16)>>,
    /// destination port intervals (`None` = any)
    pub dports: Option<Vec<(u16, u16)>>,
    /// the string matches, all of which must hold; at least one is positive
    pub contents: Vec<XtContent>,
    /// `dsize`, checked per header length as the IP total length
    #[serde(default)]
    pub dsize: Option<XtDsize>,
    /// The rule's `flow` as conntrack matches (all `None` without `flow`).
    #[serde(default)]
    pub flow: FlowConds,
    /// action
    pub action: KernelAction,
}

/// Whether the string chains are the answer for a rule the nft path queued for `reason`:
/// only when everything that holds it back is an unanchored content or a TCP `dsize`.
pub fn answers(
    rule: &Rule,
    reason: &str,
    caps: KernelCaps,
    ctx: &crate::kernel::SetContext,
) -> bool {
    let xt_can = |b: &str| b == crate::kernel::UNANCHORED || b == DSIZE_NON_UDP;
    xt_can(reason)
        && crate::kernel::blockers(rule, caps, ctx)
            .iter()
            .all(|b| xt_can(b))
}

/// `--xt-string` translation of a rule whose kernel obstacle is its unanchored contents, or
/// why iptables cannot evaluate it exactly (the report's queue reason in this mode).
pub fn lower_xt_string(rule: &Rule, caps: KernelCaps) -> Result<Vec<XtStringRule>, QueueReason> {
    let action = kernel_action(rule)?;
    options_allow(rule, action)?;
    let dsize = XtDsize::of(&rule.header)?;
    let symmetric = rule.src == rule.dst && rule.src_ports == rule.dst_ports;
    if rule.direction != Direction::To && !(rule.direction == Direction::Both && symmetric) {
        return Err("bidirectional rule with --xt-string needs the engine".into());
    }
    let proto = match rule.proto {
        Protocol::Tcp => L4Proto::Tcp,
        Protocol::Udp => L4Proto::Udp,
        _ => return Err("--xt-string takes TCP and UDP rules only".into()),
    };
    let contents = lower_contents(rule)?;
    // At least one content is positive, so the rule needs payload.
    let flow = lower_flow(rule, caps, true)?;
    let sports = xt_ports(&rule.src_ports)?;
    let dports = xt_ports(&rule.dst_ports)?;
    let action = match (action, proto) {
        (KernelAction::RejectIcmpx { log }, L4Proto::Tcp) => KernelAction::RejectTcpReset { log },
        (a, _) => a,
    };
    let mut out = Vec::new();
    for family in [Family::V4, Family::V6] {
        let (Some(src), Some(dst)) = (xt_addr(&rule.src, family)?, xt_addr(&rule.dst, family)?)
        else {
            continue;
        };
        out.push(XtStringRule {
            sid: rule.meta.sid,
            rev: rule.meta.rev,
            msg: rule.meta.msg.clone(),
            family,
            proto,
            src,
            dst,
            sports: sports.clone(),
            dports: dports.clone(),
            contents: contents.clone(),
            dsize,
            flow,
            action,
        });
    }
    if out.is_empty() {
        return Err("no address of either family".into());
    }
    Ok(out)
}

/// Why a rule's non-payload options keep it from the string chains, if they do.
fn options_allow(rule: &Rule, action: KernelAction) -> Result<(), QueueReason> {
    if !rule.flowbits.is_empty()
        || !rule.state.is_empty()
        || rule.block.is_some()
        || !rule.tags.is_empty()
    {
        return Err("flowbits, tags and state with --xt-string need the engine".into());
    }
    // As for nft rules: the NFLOG reader applies a threshold, or an alert rule's
    // detection_filter, to the kernel's alerts; a blocking rule's detection_filter decides
    // its action, and a per-flow one needs the flow table.
    if rule.threshold.is_some_and(|t| t.track == Track::ByFlow) {
        return Err("threshold by_flow needs the engine".into());
    }
    if let Some(f) = rule.detection_filter {
        if rule.action.blocks() || action != KernelAction::Alert || f.track == Track::ByFlow {
            return Err("detection_filter on a blocking or per-flow rule needs the engine".into());
        }
    }
    Ok(())
}

/// The rule's payload tests as string matches (see the module doc for what is exact).
fn lower_contents(rule: &Rule) -> Result<Vec<XtContent>, QueueReason> {
    let mut out: Vec<XtContent> = Vec::new();
    // Whether the previous content is one a relative content may be merged into: positive,
    // evaluated in the rule tree (not `fast_pattern:only`).
    let mut prev_mergeable = false;
    // Where the previous content ends when it can only sit at one place (then so does a
    // relative content with `within` equal to its length, at any distance).
    let mut prev_end: Option<i64> = None;
    for t in &rule.payload {
        let c = crate::kernel::packet_content(t)?;
        let len = c.pattern().len() as i64;
        let (offset, depth) = match c.position() {
            Position::Absolute {
                offset: Operand::Lit(o),
                depth,
            } => {
                let depth = match depth {
                    None => None,
                    Some(Operand::Lit(d)) => Some(u32::try_from(d).map_err(|_| XT_RELATIVE)?),
                    Some(Operand::Var(_)) => {
                        return Err("a byte_extract variable needs the engine".into())
                    }
                };
                (u32::try_from(o).map_err(|_| XT_RELATIVE)?, depth)
            }
            Position::StartsWith => (0, Some(len as u32)),
            // Right after the previous one: "A then B" is "AB".
            Position::Relative {
                distance: Operand::Lit(0),
                within: Some(Operand::Lit(w)),
            } if w == len
                && prev_mergeable
                && !c.negated()
                && out.last().is_some_and(|p| same_case(p, c)) =>
            {
                let Some(prev) = out.last_mut() else {
                    return Err(XT_RELATIVE.into());
                };
                prev.pattern.extend_from_slice(c.pattern());
                prev.nocase |= c.nocase();
                prev.depth = prev.depth.map(|d| d.saturating_add(len as u32));
                prev_end = prev_end.map(|e| e + len);
                continue;
            }
            // At a fixed distance from a content at a fixed place: at a fixed place too.
            Position::Relative {
                distance: Operand::Lit(d),
                within: Some(Operand::Lit(w)),
            } if w == len && prev_end.is_some() => {
                let start = prev_end.unwrap_or(0).saturating_add(d);
                (
                    u32::try_from(start).map_err(|_| XT_RELATIVE)?,
                    Some(len as u32),
                )
            }
            Position::Relative { .. } => return Err(XT_RELATIVE.into()),
            Position::Absolute { .. } => {
                return Err("a byte_extract variable needs the engine".into())
            }
        };
        let referable = !c.negated() && c.fast_pattern() != Some(FastPattern::Only);
        prev_mergeable = referable;
        prev_end = (referable && depth == Some(len as u32)).then(|| i64::from(offset) + len);
        out.push(XtContent {
            pattern: c.pattern().to_vec(),
            nocase: c.nocase(),
            negated: c.negated(),
            offset,
            depth,
        });
    }
    if out.iter().all(|c| c.negated) {
        return Err(XT_ONLY_NEGATED.into());
    }
    if out.iter().any(|c| c.pattern.len() > XT_MAX_PATTERN) {
        return Err("content longer than the xt string match's 128 bytes needs the engine".into());
    }
    // Positive contents first: a packet without them is rejected before any negated search.
    out.sort_by_key(|c| c.negated);
    Ok(out)
}

/// Whether content `c` can join `prev` under one `--icase` setting: the same setting, or the
/// case-sensitive part has no letter (for which case folding changes nothing).
fn same_case(prev: &XtContent, c: &crate::ir::Content) -> bool {
    let no_letters = |b: &[u8]| !b.iter().any(u8::is_ascii_alphabetic);
    prev.nocase == c.nocase()
        || (!prev.nocase && no_letters(&prev.pattern))
        || (!c.nocase() && no_letters(c.pattern()))
}

/// A port set as multiport intervals (`None` = any), or why multiport cannot hold it.
fn xt_ports(s: &PortSet) -> Result<Option<Vec<(u16, u16)>>, QueueReason> {
    if s.is_full() {
        return Ok(None);
    }
    // multiport takes at most 15 entries, a range counting as two
    let cost: usize = s
        .ranges()
        .iter()
        .map(|(a, b)| if a == b { 1 } else { 2 })
        .sum();
    if cost > 15 {
        return Err("port list too long for iptables multiport".into());
    }
    Ok(Some(s.ranges().to_vec()))
}

/// One family's side of an address set as iptables writes it: `None` when the set has no
/// address of that family (the rule does not apply to it).
fn xt_addr(s: &IpSet, family: Family) -> Result<Option<XtAddr>, QueueReason> {
    let (ranges, excluded, bits): (Vec<AddrRange>, Vec<AddrRange>, u32) = match family {
        Family::V4 => (widen(&s.v4), widen(&s.v4.complement()), 32),
        Family::V6 => (
            s.v6.ranges().to_vec(),
            s.v6.complement().ranges().to_vec(),
            128,
        ),
    };
    if ranges.is_empty() {
        return Ok(None);
    }
    if excluded.is_empty() {
        return Ok(Some(XtAddr::Any));
    }
    let list: Vec<(u128, u8)> = ranges
        .iter()
        .flat_map(|&(a, b)| cidrs(a, b, bits))
        .collect();
    if list.len() <= MAX_PREFIXES {
        return Ok(Some(XtAddr::In(list)));
    }
    let fits = match family {
        Family::V4 => excluded.len() <= MAX_V4_EXCLUDED,
        Family::V6 => {
            excluded
                .iter()
                .map(|&(a, b)| cidrs(a, b, bits).len())
                .sum::<usize>()
                <= MAX_PREFIXES
        }
    };
    if fits {
        Ok(Some(XtAddr::NotIn(excluded)))
    } else {
        Err("address list too long for iptables".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_shift_by_the_header_and_stop_at_sixteen_bits() {
        let c = XtContent {
            pattern: b"DEEP".to_vec(),
            nocase: false,
            negated: false,
            offset: 2,
            depth: Some(10),
        };
        assert_eq!(c.window(40), Some((42, 52)));
        assert_eq!(c.window(120), Some((122, 132)));
        let far = XtContent {
            offset: 70_000,
            depth: None,
            ..c
        };
        assert_eq!(far.window(40), None);
    }

    #[test]
    fn dsize_becomes_an_inclusive_payload_range() {
        let d = |c: NumCmp| XtDsize::of(&[HeaderTest::Dsize(c)]);
        let range = |lo, hi, negated| Ok(Some(XtDsize { lo, hi, negated }));
        assert_eq!(d(NumCmp::Eq(5)), range(5, 5, false));
        assert_eq!(d(NumCmp::Ne(8)), range(8, 8, true));
        assert_eq!(d(NumCmp::Lt(3)), range(0, 2, false));
        assert_eq!(d(NumCmp::Gt(10)), range(11, 65535, false));
        assert_eq!(d(NumCmp::RangeExclusive(2, 6)), range(3, 5, false));
        assert!(d(NumCmp::Lt(0)).is_err());
        assert!(d(NumCmp::RangeExclusive(2, 3)).is_err());
        let total = XtDsize {
            lo: 11,
            hi: 65535,
            negated: false,
        };
        assert_eq!(total.total(52), Some((63, 65535)));
    }
}

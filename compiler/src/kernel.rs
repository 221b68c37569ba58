//! The kernel plan: what verdict asks nftables to do, as small typed values the `nft` crate
//! renders (text and JSON) without knowing anything about rules.
//!
//! Two parts: [`KernelRule`]s, the rules nft can evaluate *exactly* (header matches and
//! contents pinned to a fixed place in the payload), and [`SteerRule`]s, the minimal matches
//! that send to NFQUEUE every packet some queued rule could match. The translation of one IR
//! rule lives here too ([`lower_rule`]) so that "can the kernel do it?" and "what does the
//! kernel do?" are answered by the same code and cannot drift apart.

use crate::ir::{
    Action, Buffer, Direction, FlagMode, FlowbitCmd, HeaderTest, IpSet, NumCmp, PayloadTest,
    PortSet, Position, Protocol, RangeSet, RejectTarget, Rule, Sid, Track,
};
use crate::steer::{SteerMode, SteerPolicy};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Largest raw payload compare nft/the kernel accept in one expression (16 bytes = 128 bits).
pub const MAX_COMPARE_BYTES: usize = 16;
/// Conntrack mark bit a kernel drop sets on the connection, so the rest of the flow is dropped
/// too (Snort/Suricata drop semantics) by the first rule of verdict's chain. One high bit,
/// OR-ed in, so operators' own uses of the mark's other bits are left alone. The engine sets
/// it in the packet mark of a packet it drops on a flow with a bypassed direction (whose
/// packets no longer reach it): the chain after the queue records it and drops the packet.
pub const FLOW_BLOCK_MARK: u32 = 0x8000_0000;
/// Conntrack mark bit of a bypassed flow: the engine decided nothing more can match it (past
/// the stream depth, or a `pass` rule), so the kernel accepts its packets instead of queueing
/// them. The worker cannot write conntrack itself, so it sets this bit in the packet mark with
/// its verdict and a chain after the queue copies it into the conntrack mark.
pub const FLOW_BYPASS_MARK: u32 = 0x4000_0000;
/// Packet-mark bit of a packet from or to a bypass-list address (verdict.toml `[bypass]`):
/// verdict's chain accepts it at once, but the xt steering hooks on its own, so it returns on
/// this bit; the bypass chain clears it again after the queue hook.
pub const BYPASS_LIST_MARK: u32 = 0x2000_0000;
/// Packet-mark bit the worker sets with its verdict to hand back only the packet's own
/// direction of its flow (`bypass = "direction"`: that direction is past the stream depth, the
/// other is still inspected). The engine never needs conntrack's orientation: the chain after
/// the queue turns it into [`ORIGINAL_BYPASS_MARK`] or [`REPLY_BYPASS_MARK`] by the packet's
/// `ct direction`.
pub const DIRECTION_BYPASS_MARK: u32 = 0x1000_0000;
/// Conntrack mark bit of a flow whose original direction (the connection's initiator to its
/// responder) is bypassed: the kernel accepts that direction's packets instead of queueing them.
pub const ORIGINAL_BYPASS_MARK: u32 = 0x0800_0000;
/// Conntrack mark bit of a flow whose reply direction is bypassed, as [`ORIGINAL_BYPASS_MARK`].
pub const REPLY_BYPASS_MARK: u32 = 0x0400_0000;
/// Largest start offset (bytes) of one raw payload load: the kernel keeps it in a `u8`.
pub const MAX_PAYLOAD_OFFSET: u32 = 255;

/// IP family of a kernel rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// IPv4
    V4,
    /// IPv6
    V6,
}

/// Transport protocol as nft names it (`meta l4proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum L4Proto {
    /// tcp
    Tcp,
    /// udp
    Udp,
    /// icmp (IPv4)
    Icmp,
    /// ipv6-icmp
    Icmpv6,
    /// sctp
    Sctp,
    /// GRE (47): a tunnel the engine looks into (steering only).
    Gre,
    /// IPv4 in IP (4) (steering only).
    IpIp,
    /// IPv6 in IP (41) (steering only).
    Ipv6InIp,
}

impl L4Proto {
    /// The nft / iptables name. The tunnel protocols go by number: their names depend on
    /// the host's /etc/protocols, which a minimal system may not have.
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Icmp => "icmp",
            L4Proto::Icmpv6 => "ipv6-icmp",
            L4Proto::Sctp => "sctp",
            L4Proto::Gre => "47",
            L4Proto::IpIp => "4",
            L4Proto::Ipv6InIp => "41",
        }
    }
}

/// Which address/port of the packet a match looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    /// source
    Src,
    /// destination
    Dst,
}

/// A header field nft can load by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Field {
    /// `ip ttl`
    Ip4Ttl,
    /// `ip6 hoplimit`
    Ip6Hoplimit,
    /// `meta l4proto` (ip_proto)
    L4Proto,
    /// `tcp sequence`
    TcpSeq,
    /// `tcp ackseq`
    TcpAck,
    /// `tcp window`
    TcpWindow,
    /// `icmp type`
    IcmpType,
    /// `icmp code`
    IcmpCode,
    /// `icmpv6 type`
    Icmp6Type,
    /// `icmpv6 code`
    Icmp6Code,
    /// `udp length` (dsize + 8)
    UdpLength,
}

impl Field {
    /// nft (protocol, field) names; `meta` for meta keys.
    pub fn nft_name(self) -> (&'static str, &'static str) {
        match self {
            Field::Ip4Ttl => ("ip", "ttl"),
            Field::Ip6Hoplimit => ("ip6", "hoplimit"),
            Field::L4Proto => ("meta", "l4proto"),
            Field::TcpSeq => ("tcp", "sequence"),
            Field::TcpAck => ("tcp", "ackseq"),
            Field::TcpWindow => ("tcp", "window"),
            Field::IcmpType => ("icmp", "type"),
            Field::IcmpCode => ("icmp", "code"),
            Field::Icmp6Type => ("icmpv6", "type"),
            Field::Icmp6Code => ("icmpv6", "code"),
            Field::UdpLength => ("udp", "length"),
        }
    }
    /// Largest value the field can hold.
    pub fn max(self) -> u64 {
        match self {
            Field::Ip4Ttl
            | Field::Ip6Hoplimit
            | Field::L4Proto
            | Field::IcmpType
            | Field::IcmpCode
            | Field::Icmp6Type
            | Field::Icmp6Code => u8::MAX as u64,
            Field::TcpWindow | Field::UdpLength => u16::MAX as u64,
            Field::TcpSeq | Field::TcpAck => u32::MAX as u64,
        }
    }
}

/// A comparison nft can express on one field. Values always fit the field (checked when the
/// plan is built).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cmp {
    /// `== v`
    Eq(u64),
    /// `!= v`
    Ne(u64),
    /// `< v`
    Lt(u64),
    /// `<= v`
    Le(u64),
    /// `> v`
    Gt(u64),
    /// `>= v`
    Ge(u64),
    /// `lo-hi` (inclusive)
    Range(u64, u64),
}

/// One contiguous address interval of a family (as big-endian integers).
pub type AddrRange = (u128, u128);

/// One match expression of a kernel rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Match {
    /// `meta nfproto ipv4|ipv6`
    NfProto(Family),
    /// `meta l4proto P`
    L4Proto(L4Proto),
    /// `ip saddr [!=] { ... }`; an interval set, negated when that is shorter.
    Addr {
        /// family
        family: Family,
        /// which address
        side: Side,
        /// `!=`
        negate: bool,
        /// intervals (v4 in the low 32 bits)
        ranges: Vec<AddrRange>,
    },
    /// `tcp dport [!=] { ... }`
    Port {
        /// protocol whose header holds the port
        proto: L4Proto,
        /// which port
        side: Side,
        /// `!=`
        negate: bool,
        /// intervals
        ranges: Vec<(u16, u16)>,
    },
    /// A named header field comparison.
    Field {
        /// the field
        field: Field,
        /// the comparison
        cmp: Cmp,
    },
    /// `tcp flags & mask ==|!= value`
    TcpFlags {
        /// bits compared
        mask: u8,
        /// expected value after masking
        value: u8,
        /// `!=` instead of `==`
        negate: bool,
    },
    /// `ct state established|new`: the packet's connection has (not) seen a reply, the kernel
    /// form of `flow:established`/`not_established` (see [`lower_flow`] for where they agree).
    CtState {
        /// `established` rather than `new`
        established: bool,
    },
    /// `ct direction original|reply`: sent by the connection's initiator or its responder, the
    /// kernel form of `flow:to_server`/`to_client`.
    CtDir {
        /// `original` (to_server) rather than `reply` (to_client)
        original: bool,
    },
    /// `@ih,OFF,LEN [& mask] ==|!= value`: payload bytes after the TCP/UDP header.
    Payload {
        /// start in bytes (≤ [`MAX_PAYLOAD_OFFSET`])
        offset: u32,
        /// expected bytes (1..=16)
        value: Vec<u8>,
        /// per-byte mask (0xdf on letters for nocase), `None` for an exact compare
        mask: Option<Vec<u8>>,
        /// `!=`
        negate: bool,
    },
}

/// What a kernel rule does when everything matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KernelAction {
    /// log to the NFLOG group, let the packet continue
    Alert,
    /// drop and block the rest of the flow ([`FLOW_BLOCK_MARK`]), logging first when `log`
    Drop {
        /// emit an alert
        log: bool,
    },
    /// `reject with tcp reset` to the sender
    RejectTcpReset {
        /// emit an alert
        log: bool,
    },
    /// `reject with icmpx type port-unreachable` to the sender
    RejectIcmpx {
        /// emit an alert
        log: bool,
    },
}

impl KernelAction {
    /// Whether this action writes an NFLOG alert.
    pub fn logs(self) -> bool {
        match self {
            KernelAction::Alert => true,
            KernelAction::Drop { log }
            | KernelAction::RejectTcpReset { log }
            | KernelAction::RejectIcmpx { log } => log,
        }
    }
    /// Evaluation rank in the chain: blocking rules first so a packet that is dropped is not
    /// also reported by alert-only rules below it (Snort's drop-before-alert order).
    fn rank(self) -> u8 {
        match self {
            KernelAction::Alert => 1,
            _ => 0,
        }
    }
}

/// One nft rule of verdict's table, derived from one IR rule (an IR rule may need several:
/// one per IP family, one per direction of `<>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KernelRule {
    /// sid of the IR rule
    pub sid: Sid,
    /// rev of the IR rule
    pub rev: u32,
    /// msg of the IR rule (the renderer truncates and sanitises it for the comment)
    pub msg: String,
    /// matches, all of which must hold
    pub matches: Vec<Match>,
    /// action
    pub action: KernelAction,
}

impl KernelRule {
    /// The rule comment: `sid:N rev:R msg`.
    pub fn comment(&self) -> String {
        format!("sid:{} rev:{} {}", self.sid, self.rev, self.msg)
    }
}

/// A queue steering rule: matching packets go to NFQUEUE.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SteerRule {
    /// transport, `None` = every IP packet
    pub proto: Option<L4Proto>,
    /// port constraint, `None` = any port of `proto`
    pub ports: Option<(Side, Vec<(u16, u16)>)>,
}

/// Everything the nft back end needs: kernel rules in evaluation order, queue steering, and
/// the xt-string rules of `--xt-string` mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelPlan {
    /// NFLOG group kernel alerts are logged to.
    pub log_group: u16,
    /// Kernel rules, blocking ones first, then alert-only ones, each group in rule order.
    pub rules: Vec<KernelRule>,
    /// Steering to NFQUEUE for the queued rules.
    pub steering: Vec<SteerRule>,
    /// xt string-match rules (empty unless `--xt-string`).
    pub xt_string: Vec<XtStringRule>,
    /// Prefilter steering (`--kernel-prefilter`, [`crate::prefilter`]): queued rules steered by
    /// their patterns instead of their ports; empty when the prefilter is off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefilter: Vec<crate::prefilter::PatternSteer>,
    /// Bytes of a connection's direction (as conntrack counts them) after which the prefilter
    /// stops searching it: the engine's stream depth when it hands directions past it back to
    /// the kernel, where it would not look either. `None`: searched to the end. Set by the
    /// caller, like the bypass lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefilter_depth: Option<u64>,
    /// IPv4 addresses never inspected (verdict.toml `[bypass]`), as merged intervals: their
    /// packets, as source or destination, are accepted before the kernel rules and steering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bypass_v4: Vec<AddrRange>,
    /// IPv6 addresses never inspected, as for `bypass_v4`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bypass_v6: Vec<AddrRange>,
}

impl KernelPlan {
    /// Whether some kernel rule (nft or xt string) drops, so the flow-block rule is needed.
    pub fn blocks_flows(&self) -> bool {
        let drops = |a: &KernelAction| matches!(a, KernelAction::Drop { .. });
        self.rules.iter().any(|r| drops(&r.action))
            || self.xt_string.iter().any(|r| drops(&r.action))
    }
    /// Whether anything is steered to the queue (port or prefilter steering).
    pub fn steers(&self) -> bool {
        !self.steering.is_empty() || !self.prefilter.is_empty()
    }
    /// Whether a bypass list is set.
    pub fn has_bypass(&self) -> bool {
        !self.bypass_v4.is_empty() || !self.bypass_v6.is_empty()
    }
    /// Sorts rules into evaluation order (stable, so rule-file order is kept inside a group).
    pub fn order(&mut self) {
        self.rules.sort_by_key(|r| r.action.rank());
        self.xt_string.sort_by_key(|r| r.action.rank());
    }
}

/// Why a rule cannot be put in the kernel: the report's key for queued rules. Stable strings.
pub type QueueReason = String;

/// Queue reason of rules whose only obstacle may be an unanchored content (xt-string mode).
pub const UNANCHORED: &str = "unanchored content needs the engine";

pub use crate::xt::{lower_xt_string, XtAddr, XtContent, XtDsize, XtStringRule};

/// Options that change what the kernel may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelCaps {
    /// `@ih` raw payload loads are available (kernel ≥ 6.2).
    pub ih_payload: bool,
    /// `flow` may be answered by conntrack (`[kernel] flow = "conntrack"`, the default);
    /// `false` keeps every rule with a flow condition in the queue (`"queue"`,
    /// `--flow-in-queue`) for operators who want none of [`lower_flow`]'s edge cases.
    pub ct_flow: bool,
}

impl Default for KernelCaps {
    fn default() -> Self {
        KernelCaps {
            ih_payload: true,
            ct_flow: true,
        }
    }
}

/// Queue reason of flow rules when `[kernel] flow = "queue"`.
pub const FLOW_QUEUED: &str = "flow state needs the engine ([kernel] flow = \"queue\")";

/// A rule's `flow` as conntrack conditions, shared by the nft and the xt renderings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlowConds {
    /// `ct state established` (`true`) or `ct state new` (`false`).
    pub established: Option<bool>,
    /// `ct direction original` (`true`) or `reply` (`false`).
    pub original: Option<bool>,
    /// Neither SYN nor RST set: a TCP packet the stream engine counts as established.
    pub no_syn_rst: bool,
}

impl FlowConds {
    /// The conditions as kernel matches, state first.
    pub fn matches(self) -> Vec<Match> {
        let mut m = Vec::new();
        if let Some(established) = self.established {
            m.push(Match::CtState { established });
        }
        if let Some(original) = self.original {
            m.push(Match::CtDir { original });
        }
        if self.no_syn_rst {
            m.push(Match::TcpFlags {
                mask: TCP_SYN | TCP_RST,
                value: 0,
                negate: false,
            });
        }
        m
    }
}

const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;

/// `flow` as conntrack conditions, or why conntrack cannot answer it exactly. `needs_payload`:
/// the rule only matches packets with at least one payload byte.
///
/// Where conntrack and the stream engine agree, and the edge cases where they do not (the
/// README's "flow in the kernel" lists them; `[kernel] flow = "queue"` avoids them all):
/// - TCP `established`: the engine's state is established from the handshake's last ACK on
///   (a bare one excepted, as Suricata 7.0.7+), until a RST; conntrack's ESTABLISHED starts
///   one packet earlier, at the SYN-ACK, and outlives a RST. `tcp flags & (syn|rst) == 0`
///   removes the SYN-ACK and the RST, and requiring payload removes the bare ACK. Left: a
///   data packet after a RST (the engine: closed), a SYN-ACK retransmitted after the
///   handshake (the engine: established, carries no data in practice), packets conntrack
///   finds out of window (`ct state invalid`), and midstream pickup: the engine takes the
///   first packet of a flow it has not seen open as established at once, conntrack only
///   once the other side answered.
/// - TCP `not_established` is queued: what the engine calls not established (SYN-ACK,
///   after RST, unsynced) is not one conntrack state.
/// - UDP: both call a flow established from the first packet of the other side on, and its
///   first sender the client; they differ only for flows older than the engine or timed out
///   on one side alone.
/// - Direction: the flow's first sender is the client for both, except a flow the engine
///   turns round from its content (a response seen first, midstream) or whose first packet
///   is a SYN-ACK (the engine: sent by the server; conntrack: invalid, no direction).
pub fn lower_flow(
    rule: &Rule,
    caps: KernelCaps,
    needs_payload: bool,
) -> Result<FlowConds, QueueReason> {
    let f = rule.flow;
    if f == Default::default() || is_stateless_only(rule) {
        return Ok(FlowConds::default());
    }
    if !caps.ct_flow {
        return Err(FLOW_QUEUED.into());
    }
    if f.stream.is_some() {
        return Err("flow:only_stream/no_stream needs the engine".into());
    }
    if f.frag.is_some() {
        return Err("flow:only_frag/no_frag needs the engine".into());
    }
    let tcp = match rule.proto {
        Protocol::Tcp => true,
        Protocol::Udp => false,
        _ => return Err("flow on other than TCP or UDP needs the engine".into()),
    };
    let mut c = FlowConds {
        original: f.to_server,
        ..Default::default()
    };
    match (f.established, tcp) {
        (None, _) => {}
        (Some(true), true) if !needs_payload => {
            return Err("flow:established without a payload content needs the engine".into())
        }
        (Some(true), true) => {
            c.established = Some(true);
            c.no_syn_rst = true;
        }
        (Some(false), true) => return Err("flow:not_established on TCP needs the engine".into()),
        (Some(e), false) => c.established = Some(e),
    }
    Ok(c)
}

/// What kernel placement needs to know about the whole loaded rule set, not just one rule:
/// the flowbits some rule tests. A kernel rule cannot set an engine flowbit, so a
/// `flowbits:set` may only be left to the kernel when no loaded rule ever tests that bit (ET's
/// IP lists set `ET.Evil`/`ET.DROPIP`, which its public categories never test).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetContext {
    tested_flowbits: HashSet<String>,
}

impl SetContext {
    /// Collects the flowbits the rules test (`isset`/`isnotset`, any name of an `&`/`|` list).
    pub fn of<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> SetContext {
        let tested_flowbits = rules
            .into_iter()
            .flat_map(|r| &r.flowbits)
            .filter(|f| matches!(f.cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet))
            .flat_map(|f| f.names.iter().cloned())
            .collect();
        SetContext { tested_flowbits }
    }

    /// Whether some loaded rule tests flowbit `name`.
    pub fn tests_flowbit(&self, name: &str) -> bool {
        self.tested_flowbits.contains(name)
    }
}

/// Translates one rule to kernel rules, or says why the kernel cannot evaluate it exactly
/// (the first blocker found; [`blockers`] lists them all).
pub fn lower_rule(
    rule: &Rule,
    caps: KernelCaps,
    ctx: &SetContext,
) -> Result<Vec<KernelRule>, QueueReason> {
    lower_all(rule, caps, ctx).map_err(|mut why| why.swap_remove(0))
}

/// Every reason the kernel cannot take `rule` (empty when it can), in the order
/// [`lower_rule`] meets them: what the report counts per blocker.
pub fn blockers(rule: &Rule, caps: KernelCaps, ctx: &SetContext) -> Vec<QueueReason> {
    lower_all(rule, caps, ctx).err().unwrap_or_default()
}

/// Options outside the header and payload that keep a rule out of the kernel.
fn option_blockers(
    rule: &Rule,
    action: Option<KernelAction>,
    ctx: &SetContext,
) -> Vec<QueueReason> {
    let mut why: Vec<QueueReason> = Vec::new();
    if rule.flowbits.iter().any(|f| f.cmd != FlowbitCmd::Set) {
        why.push("flowbits need the engine".into());
    } else if rule
        .flowbits
        .iter()
        .flat_map(|f| &f.names)
        .any(|n| ctx.tests_flowbit(n))
    {
        why.push("flowbits:set of a bit a loaded rule tests needs the engine".into());
    }
    if !rule.state.is_empty() {
        why.push("stream_size, xbits, flowint and app-layer-protocol need the engine".into());
    }
    // Thresholds gate alerts only (the engine's semantics too), so the NFLOG listener applies
    // them to the kernel's alert stream; a per-flow tracker needs the engine's flow table.
    if rule.threshold.is_some_and(|t| t.track == Track::ByFlow) {
        why.push("threshold by_flow needs the engine".into());
    }
    if let Some(f) = rule.detection_filter {
        // A detection_filter decides the action too: the kernel would block from the first
        // match on, not from the count + 1-th.
        if rule.action.blocks() || action.is_some_and(|a| a != KernelAction::Alert) {
            why.push("detection_filter on a blocking rule needs the engine".into());
        } else if f.track == Track::ByFlow {
            why.push("detection_filter by_flow needs the engine".into());
        }
    }
    if rule.block.is_some() {
        why.push("block on match needs the engine".into());
    }
    if !rule.tags.is_empty() {
        why.push("tag needs the engine".into());
    }
    why
}

/// The (family, transport) pairs a rule's protocol covers in the kernel.
fn transports(rule: &Rule) -> Result<Vec<(Family, Option<L4Proto>)>, QueueReason> {
    Ok(match rule.proto {
        Protocol::Ip => vec![(Family::V4, None), (Family::V6, None)],
        Protocol::Tcp => vec![
            (Family::V4, Some(L4Proto::Tcp)),
            (Family::V6, Some(L4Proto::Tcp)),
        ],
        Protocol::Udp => vec![
            (Family::V4, Some(L4Proto::Udp)),
            (Family::V6, Some(L4Proto::Udp)),
        ],
        Protocol::Sctp => {
            vec![
                (Family::V4, Some(L4Proto::Sctp)),
                (Family::V6, Some(L4Proto::Sctp)),
            ]
        }
        Protocol::Icmp => {
            vec![
                (Family::V4, Some(L4Proto::Icmp)),
                (Family::V6, Some(L4Proto::Icmpv6)),
            ]
        }
        Protocol::Icmpv6 => vec![(Family::V6, Some(L4Proto::Icmpv6))],
        Protocol::App(a) => return Err(format!("app protocol {} needs the engine", a.name())),
    })
}

/// The rule's directions as `swap` flags (one nft rule set per flag), or why not.
fn directions(rule: &Rule, action: Option<KernelAction>) -> Result<Vec<bool>, QueueReason> {
    // `<>` emits the rule twice; for alert-only rules a packet matching both forms would be
    // logged twice, so that is exact only for blocking actions or symmetric headers.
    let symmetric = rule.src == rule.dst && rule.src_ports == rule.dst_ports;
    let logs = action.is_some_and(|a| a.logs());
    Ok(match rule.direction {
        Direction::To => vec![false],
        Direction::Both if symmetric => vec![false],
        Direction::Both if logs && !rule.action.blocks() => {
            return Err("bidirectional alert rule needs the engine".into())
        }
        Direction::Both => vec![false, true],
        Direction::Tx => return Err("a transactional rule needs the engine".into()),
    })
}

/// Records a blocker once; the value when there is none.
fn note<T>(r: Result<T, QueueReason>, why: &mut Vec<QueueReason>) -> Option<T> {
    r.map_err(|e| {
        if !why.contains(&e) {
            why.push(e);
        }
    })
    .ok()
}

fn lower_all(
    rule: &Rule,
    caps: KernelCaps,
    ctx: &SetContext,
) -> Result<Vec<KernelRule>, Vec<QueueReason>> {
    let mut why: Vec<QueueReason> = Vec::new();
    let action = note(kernel_action(rule), &mut why);
    for w in option_blockers(rule, action, ctx) {
        note::<()>(Err(w), &mut why);
    }
    let l4s = note(transports(rule), &mut why).unwrap_or_default();
    let payload = note(lower_payload(rule, caps), &mut why).unwrap_or_default();
    // From the rule, not `payload`: the blocker list stays right when a content cannot be lowered.
    let needs_payload = rule
        .payload
        .iter()
        .any(|t| matches!(t, PayloadTest::Content(c) if !c.negated()));
    // An app-layer rule is held back by its protocol already: its flow is no extra blocker.
    let flow = if matches!(rule.proto, Protocol::App(_)) {
        FlowConds::default()
    } else {
        note(lower_flow(rule, caps, needs_payload), &mut why).unwrap_or_default()
    };
    if !payload.is_empty() && !matches!(rule.proto, Protocol::Tcp | Protocol::Udp) {
        note::<()>(
            Err("payload content on non-TCP/UDP needs the engine".into()),
            &mut why,
        );
    }
    if matches!(rule.action, Action::Reject(_)) && matches!(rule.proto, Protocol::Ip) {
        note::<()>(Err("reject on ip rules needs the engine".into()), &mut why);
    }
    let directions = note(directions(rule, action), &mut why).unwrap_or_default();
    if let Some(e) = l4s
        .iter()
        .find_map(|&(family, l4)| lower_header(rule, family, l4).err())
    {
        note::<()>(Err(e), &mut why);
    }
    let Some(action) = action.filter(|_| why.is_empty()) else {
        return Err(why);
    };
    let mut out = Vec::new();
    for &swap in &directions {
        let (src, dst, sp, dp) = if swap {
            (&rule.dst, &rule.src, &rule.dst_ports, &rule.src_ports)
        } else {
            (&rule.src, &rule.dst, &rule.src_ports, &rule.dst_ports)
        };
        let mut per_family = Vec::new();
        for &(family, l4) in &l4s {
            let (src_m, dst_m) = match (
                addr_match(src, family, Side::Src),
                addr_match(dst, family, Side::Dst),
            ) {
                (Some(s), Some(d)) => (s, d),
                // The rule cannot match this family at all.
                _ => continue,
            };
            let header = lower_header(rule, family, l4).map_err(|e| vec![e])?;
            let family_specific =
                src_m.is_some() || dst_m.is_some() || !header.is_empty() || l4s.len() == 1;
            per_family.push((family, l4, src_m, dst_m, header, family_specific));
        }
        // One inet rule covers both families when nothing in it is family specific and the
        // transport is named the same way in both.
        let merge = per_family.len() == 2
            && per_family.iter().all(|p| !p.5)
            && per_family[0].1 == per_family[1].1;
        let families: Vec<_> = if merge {
            per_family.into_iter().take(1).collect()
        } else {
            per_family
        };
        for (family, l4, src_m, dst_m, header, _) in families {
            let mut matches = Vec::new();
            if !merge {
                matches.push(Match::NfProto(family));
            }
            if let Some(p) = l4 {
                matches.push(Match::L4Proto(p));
            }
            matches.extend(src_m);
            matches.extend(dst_m);
            if let Some(p) = l4.filter(|p| matches!(p, L4Proto::Tcp | L4Proto::Udp | L4Proto::Sctp))
            {
                matches.extend(port_match(sp, p, Side::Src));
                matches.extend(port_match(dp, p, Side::Dst));
            }
            matches.extend(flow.matches());
            matches.extend(header);
            matches.extend(payload.iter().cloned());
            let action = match (action, l4) {
                (KernelAction::RejectIcmpx { log }, Some(L4Proto::Tcp)) => {
                    KernelAction::RejectTcpReset { log }
                }
                (a, _) => a,
            };
            out.push(KernelRule {
                sid: rule.meta.sid,
                rev: rule.meta.rev,
                msg: rule.meta.msg.clone(),
                matches,
                action,
            });
        }
    }
    if out.is_empty() {
        return Err(vec!["address sets are empty, nothing to match".into()]);
    }
    Ok(out)
}

/// `flow:stateless` alone means "no flow condition".
fn is_stateless_only(rule: &Rule) -> bool {
    let f = rule.flow;
    f.stateless
        && f.established.is_none()
        && f.to_server.is_none()
        && f.stream.is_none()
        && f.frag.is_none()
}

pub(crate) fn kernel_action(rule: &Rule) -> Result<KernelAction, QueueReason> {
    Ok(match rule.action {
        Action::Alert | Action::Log => KernelAction::Alert,
        Action::Drop => KernelAction::Drop { log: true },
        Action::Sdrop => KernelAction::Drop { log: false },
        // nft rejects towards the sender only; `reject` resets both ends (engine's job).
        Action::Reject(RejectTarget::Src) => KernelAction::RejectIcmpx { log: true },
        Action::Reject(_) => return Err("reject to both ends needs the engine".into()),
        // A pass must override queued drops too, which only the engine sees.
        Action::Pass => return Err("pass needs the engine".into()),
    })
}

/// Address match for one family: `None` if the set is empty in this family (no rule),
/// `Some(None)` for "any", else the set or its complement, whichever is shorter.
fn addr_match(set: &IpSet, family: Family, side: Side) -> Option<Option<Match>> {
    let (ranges, comp): (Vec<AddrRange>, Vec<AddrRange>) = match family {
        Family::V4 => (widen(&set.v4), widen(&set.v4.complement())),
        Family::V6 => (
            set.v6.ranges().to_vec(),
            set.v6.complement().ranges().to_vec(),
        ),
    };
    if ranges.is_empty() {
        return None;
    }
    if comp.is_empty() {
        return Some(None);
    }
    let (negate, ranges) = if comp.len() < ranges.len() {
        (true, comp)
    } else {
        (false, ranges)
    };
    Some(Some(Match::Addr {
        family,
        side,
        negate,
        ranges,
    }))
}

pub(crate) fn widen(s: &RangeSet<u32>) -> Vec<AddrRange> {
    s.ranges()
        .iter()
        .map(|&(a, b)| (a as u128, b as u128))
        .collect()
}

fn port_match(set: &PortSet, proto: L4Proto, side: Side) -> Option<Match> {
    if set.is_full() {
        return None;
    }
    let comp = set.complement();
    let (negate, s) = if comp.ranges().len() < set.ranges().len() {
        (true, comp)
    } else {
        (false, set.clone())
    };
    Some(Match::Port {
        proto,
        side,
        negate,
        ranges: s.ranges().to_vec(),
    })
}

fn cmp_of(c: NumCmp, field: Field, add: u64) -> Result<Cmp, QueueReason> {
    let max = field.max();
    let fit = |v: u64| -> Result<u64, QueueReason> {
        v.checked_add(add)
            .filter(|&v| v <= max)
            .ok_or_else(|| "header value out of field range needs the engine".to_string())
    };
    Ok(match c {
        NumCmp::Eq(v) => Cmp::Eq(fit(v)?),
        NumCmp::Ne(v) => Cmp::Ne(fit(v)?),
        NumCmp::Lt(v) => Cmp::Lt(fit(v)?),
        NumCmp::Le(v) => Cmp::Le(fit(v)?),
        NumCmp::Gt(v) => Cmp::Gt(fit(v)?),
        NumCmp::Ge(v) => Cmp::Ge(fit(v)?),
        NumCmp::RangeInclusive(a, b) => Cmp::Range(fit(a)?, fit(b)?),
        NumCmp::RangeExclusive(a, b) => {
            let (lo, hi) = (a.checked_add(1), b.checked_sub(1));
            match (lo, hi) {
                (Some(lo), Some(hi)) if lo <= hi => Cmp::Range(fit(lo)?, fit(hi)?),
                _ => return Err("empty range needs the engine".into()),
            }
        }
    })
}

fn lower_header(
    rule: &Rule,
    family: Family,
    l4: Option<L4Proto>,
) -> Result<Vec<Match>, QueueReason> {
    let mut out = Vec::new();
    for h in &rule.header {
        let m = match (h, l4) {
            (HeaderTest::Ttl(c), _) => {
                let f = if family == Family::V4 {
                    Field::Ip4Ttl
                } else {
                    Field::Ip6Hoplimit
                };
                Match::Field {
                    field: f,
                    cmp: cmp_of(*c, f, 0)?,
                }
            }
            (HeaderTest::IpProto(c), None) => Match::Field {
                field: Field::L4Proto,
                cmp: cmp_of(*c, Field::L4Proto, 0)?,
            },
            (HeaderTest::Seq(c), Some(L4Proto::Tcp)) => Match::Field {
                field: Field::TcpSeq,
                cmp: cmp_of(*c, Field::TcpSeq, 0)?,
            },
            (HeaderTest::Ack(c), Some(L4Proto::Tcp)) => Match::Field {
                field: Field::TcpAck,
                cmp: cmp_of(*c, Field::TcpAck, 0)?,
            },
            (HeaderTest::Window(c), Some(L4Proto::Tcp)) => Match::Field {
                field: Field::TcpWindow,
                cmp: cmp_of(*c, Field::TcpWindow, 0)?,
            },
            (HeaderTest::Itype(c), Some(L4Proto::Icmp)) => Match::Field {
                field: Field::IcmpType,
                cmp: cmp_of(*c, Field::IcmpType, 0)?,
            },
            (HeaderTest::Icode(c), Some(L4Proto::Icmp)) => Match::Field {
                field: Field::IcmpCode,
                cmp: cmp_of(*c, Field::IcmpCode, 0)?,
            },
            (HeaderTest::Itype(c), Some(L4Proto::Icmpv6)) => Match::Field {
                field: Field::Icmp6Type,
                cmp: cmp_of(*c, Field::Icmp6Type, 0)?,
            },
            (HeaderTest::Icode(c), Some(L4Proto::Icmpv6)) => Match::Field {
                field: Field::Icmp6Code,
                cmp: cmp_of(*c, Field::Icmp6Code, 0)?,
            },
            // The UDP length field is exactly header (8) + payload.
            (HeaderTest::Dsize(c), Some(L4Proto::Udp)) => Match::Field {
                field: Field::UdpLength,
                cmp: cmp_of(*c, Field::UdpLength, 8)?,
            },
            (HeaderTest::Dsize(_), _) => return Err(crate::xt::DSIZE_NON_UDP.into()),
            (HeaderTest::Flags(f), Some(L4Proto::Tcp)) => {
                let care = !f.ignore;
                match f.mode {
                    FlagMode::Exact => Match::TcpFlags {
                        mask: care,
                        value: f.flags & care,
                        negate: false,
                    },
                    // Snort's `!`: none of the bits set (what the VM does too), not "the
                    // flags differ" — found by the differential test (`tests/e2e_diff.rs`).
                    FlagMode::Not if f.flags & care != 0 => Match::TcpFlags {
                        mask: f.flags & care,
                        value: 0,
                        negate: false,
                    },
                    FlagMode::Not => return Err("empty tcp flag set needs the engine".into()),
                    FlagMode::All => Match::TcpFlags {
                        mask: f.flags,
                        value: f.flags,
                        negate: false,
                    },
                    FlagMode::Any if f.flags != 0 => Match::TcpFlags {
                        mask: f.flags,
                        value: 0,
                        negate: true,
                    },
                    FlagMode::Any => return Err("empty tcp flag set needs the engine".into()),
                }
            }
            (h, _) => return Err(format!("{} needs the engine", header_keyword(h))),
        };
        out.push(m);
    }
    Ok(out)
}

/// The rule keyword of a header test (report key).
pub fn header_keyword(h: &HeaderTest) -> &'static str {
    match h {
        HeaderTest::Dsize(_) => "dsize",
        HeaderTest::Ttl(_) => "ttl",
        HeaderTest::Tos(_) => "tos",
        HeaderTest::IpId(_) => "id",
        HeaderTest::IpProto(_) => "ip_proto",
        HeaderTest::Flags(_) => "flags",
        HeaderTest::Seq(_) => "seq",
        HeaderTest::Ack(_) => "ack",
        HeaderTest::Window(_) => "window",
        HeaderTest::Itype(_) => "itype",
        HeaderTest::Icode(_) => "icode",
        HeaderTest::IcmpId(_) => "icmp_id",
        HeaderTest::IcmpSeq(_) => "icmp_seq",
        HeaderTest::Fragbits { .. } => "fragbits",
        HeaderTest::FragOffset(_) => "fragoffset",
        HeaderTest::SameIp => "sameip",
        HeaderTest::IpOpts(_) => "ipopts",
        HeaderTest::TcpMss(_) => "tcp.mss",
        HeaderTest::Icmpv6Mtu(_) => "icmpv6.mtu",
    }
}

/// A payload test as a content of the packet payload that only has to be found (the kernel's
/// forms of contents, `@ih` compares and xt string matches, take nothing else), or why not.
pub(crate) fn packet_content(t: &PayloadTest) -> Result<&crate::ir::Content, QueueReason> {
    let c = match t {
        PayloadTest::Content(c) => c,
        t => {
            return Err(format!(
                "{} needs the engine",
                crate::classify::test_keyword(t)
            ))
        }
    };
    if !matches!(c.buffer(), Buffer::Payload | Buffer::Raw) {
        return Err("content in a non-payload buffer needs the engine".into());
    }
    if c.replace().is_some() {
        return Err("replace needs the engine".into());
    }
    if c.ends_with() {
        return Err("endswith needs the engine".into());
    }
    Ok(c)
}

/// Contents pinned to fixed offsets of the TCP/UDP payload, as `@ih` compares.
fn lower_payload(rule: &Rule, caps: KernelCaps) -> Result<Vec<Match>, QueueReason> {
    let mut out = Vec::new();
    // End of the previous positive content when it sits at a fixed place: a relative content
    // with `within` equal to its length right after it is then at a fixed place too.
    let mut prev_end: Option<i64> = None;
    // Bytes the payload must hold for the rule to match (from positive contents); a negated
    // compare is only exact where the payload is known to be long enough, because nft treats
    // a load past the end as "no match" while Snort treats it as "not found" (= match).
    let mut guaranteed_len: u64 = 0;
    let mut negated: Vec<(u32, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for t in &rule.payload {
        let c = packet_content(t)?;
        let len = c.pattern().len() as i64;
        let start: i64 = match (c.fixed_offset(), c.position()) {
            (Some(o), _) => o as i64,
            (
                None,
                Position::Relative {
                    distance: crate::ir::Operand::Lit(d),
                    within: Some(crate::ir::Operand::Lit(w)),
                },
            ) if w == len && prev_end.is_some() => {
                let s = prev_end.unwrap_or(0) + d;
                if s < 0 {
                    return Err(UNANCHORED.into());
                }
                s
            }
            _ => return Err(UNANCHORED.into()),
        };
        if !caps.ih_payload {
            return Err("kernel lacks @ih payload matching".into());
        }
        let mut chunks = Vec::new();
        for (i, part) in c.pattern().chunks(MAX_COMPARE_BYTES).enumerate() {
            let off = start as u64 + (i * MAX_COMPARE_BYTES) as u64;
            if off > MAX_PAYLOAD_OFFSET as u64 {
                return Err("content offset beyond 255 bytes needs the engine".into());
            }
            let mask = if c.nocase() && part.iter().any(|b| b.is_ascii_alphabetic()) {
                Some(
                    part.iter()
                        .map(|b| if b.is_ascii_alphabetic() { 0xdf } else { 0xff })
                        .collect::<Vec<u8>>(),
                )
            } else {
                None
            };
            let value: Vec<u8> = match &mask {
                Some(m) => part.iter().zip(m).map(|(b, m)| b & m).collect(),
                None => part.to_vec(),
            };
            chunks.push((off as u32, value, mask));
        }
        if c.negated() {
            if chunks.len() != 1 {
                return Err("negated content longer than 16 bytes needs the engine".into());
            }
            negated.push(chunks.pop().expect("one chunk"));
            // A negated content does not move the cursor.
            continue;
        }
        guaranteed_len = guaranteed_len.max((start + len) as u64);
        prev_end = Some(start + len);
        for (offset, value, mask) in chunks {
            out.push(Match::Payload {
                offset,
                value,
                mask,
                negate: false,
            });
        }
    }
    for (offset, value, mask) in negated {
        if offset as u64 + value.len() as u64 > guaranteed_len {
            return Err("negated content past the known payload length needs the engine".into());
        }
        out.push(Match::Payload {
            offset,
            value,
            mask,
            negate: true,
        });
    }
    Ok(out)
}

/// Builds the steering rules covering every given queued rule: per transport, the union of
/// the service ports (the rule's destination ports, or its source ports when only those are
/// constrained; for an app-layer rule with any port, its protocol's ports from `policy`),
/// steered in both directions so the engine's flow table sees both halves of a connection; a
/// transport with an any-port rule is steered whole, as is every transport a rule needs when
/// `policy` says so ([`SteerMode::AllTcp`], [`SteerMode::All`]).
pub fn steering<'a>(
    queued: impl IntoIterator<Item = &'a Rule>,
    policy: &SteerPolicy,
) -> Vec<SteerRule> {
    let mut all_ip = false;
    // per proto: None = all ports of the proto, Some(set) = these service ports
    let mut per: std::collections::BTreeMap<L4Proto, Option<PortSet>> = Default::default();
    for r in queued {
        let protos: &[L4Proto] = match r.proto {
            Protocol::Ip => {
                all_ip = true;
                continue;
            }
            Protocol::Tcp => &[L4Proto::Tcp],
            Protocol::Udp => &[L4Proto::Udp],
            Protocol::Sctp => &[L4Proto::Sctp],
            Protocol::Icmp => &[L4Proto::Icmp, L4Proto::Icmpv6],
            Protocol::Icmpv6 => &[L4Proto::Icmpv6],
            Protocol::App(a) => {
                for t in a.transports() {
                    let p = if *t == Protocol::Udp {
                        L4Proto::Udp
                    } else {
                        L4Proto::Tcp
                    };
                    let ports = header_ports(r).or_else(|| policy.app_ports.get(&a).cloned());
                    add_steer(p, ports, &mut per);
                }
                continue;
            }
        };
        for &p in protos {
            let ports = if matches!(p, L4Proto::Tcp | L4Proto::Udp | L4Proto::Sctp) {
                header_ports(r)
            } else {
                None
            };
            add_steer(p, ports, &mut per);
        }
    }
    if all_ip {
        return vec![SteerRule {
            proto: None,
            ports: None,
        }];
    }
    let whole = |p: L4Proto| match policy.mode {
        SteerMode::Ports => false,
        SteerMode::AllTcp => p == L4Proto::Tcp,
        SteerMode::All => matches!(p, L4Proto::Tcp | L4Proto::Udp),
    };
    let mut out = Vec::new();
    for (p, ports) in per {
        match ports {
            _ if whole(p) => out.push(SteerRule {
                proto: Some(p),
                ports: None,
            }),
            None => out.push(SteerRule {
                proto: Some(p),
                ports: None,
            }),
            Some(s) if s.is_empty() => {}
            Some(s) => {
                let r = s.ranges().to_vec();
                out.push(SteerRule {
                    proto: Some(p),
                    ports: Some((Side::Dst, r.clone())),
                });
                out.push(SteerRule {
                    proto: Some(p),
                    ports: Some((Side::Src, r)),
                });
            }
        }
    }
    out
}

/// The service ports a rule's header names: its destination ports, or its source ports when
/// only those (or fewer ranges of them) are constrained; `None` when both are any.
pub fn header_ports(r: &Rule) -> Option<PortSet> {
    if !r.dst_ports.is_full()
        && (r.src_ports.is_full() || r.dst_ports.ranges().len() <= r.src_ports.ranges().len())
    {
        Some(r.dst_ports.clone())
    } else if !r.src_ports.is_full() {
        Some(r.src_ports.clone())
    } else {
        None
    }
}

/// The steering of the tunnels the engine looks into ([`crate::steer::TunnelSteer`]), unless
/// `steering` already queues all IP traffic.
pub fn tunnel_steering(steering: &[SteerRule], t: &crate::steer::TunnelSteer) -> Vec<SteerRule> {
    if steering.iter().any(|s| s.proto.is_none()) {
        return Vec::new();
    }
    let mut out: Vec<SteerRule> = t
        .protos
        .iter()
        .map(|&p| SteerRule {
            proto: Some(p),
            ports: None,
        })
        .collect();
    let udp_all = SteerRule {
        proto: Some(L4Proto::Udp),
        ports: None,
    };
    if t.udp_all {
        out.push(udp_all.clone());
    } else if !t.udp_ports.is_empty() {
        let r: Vec<(u16, u16)> = t.udp_ports.iter().map(|&p| (p, p)).collect();
        for side in [Side::Dst, Side::Src] {
            out.push(SteerRule {
                proto: Some(L4Proto::Udp),
                ports: Some((side, r.clone())),
            });
        }
    }
    // What the rules steer already (all UDP, say) needs no second rule.
    let all_udp_steered = steering.contains(&udp_all);
    out.retain(|r| {
        let covered = steering.contains(r) || (r.proto == udp_all.proto && all_udp_steered);
        !covered
    });
    out
}

/// Adds `ports` (`None` = all) of transport `p` to the steering being built.
fn add_steer(
    p: L4Proto,
    ports: Option<PortSet>,
    per: &mut std::collections::BTreeMap<L4Proto, Option<PortSet>>,
) {
    let e = per.entry(p).or_insert_with(|| Some(PortSet::empty()));
    match (e.as_mut(), ports) {
        (None, _) => {}
        (Some(_), None) => *e = None,
        (Some(s), Some(p)) => *s = s.union(&p),
    }
}

/// The prefix length if `lo..=hi` is exactly one CIDR block of a `bits`-bit family.
pub fn prefix_len(lo: u128, hi: u128, bits: u32) -> Option<u8> {
    let size = hi.checked_sub(lo)?.checked_add(1);
    let host_bits = match size {
        // The whole 128-bit space.
        None => 128,
        Some(n) if n.is_power_of_two() => n.trailing_zeros(),
        Some(_) => return None,
    };
    if host_bits > bits || (host_bits < 128 && lo & ((1u128 << host_bits) - 1) != 0) {
        return None;
    }
    Some((bits - host_bits) as u8)
}

/// One address as text.
pub fn fmt_addr(family: Family, v: u128) -> String {
    match family {
        Family::V4 => std::net::Ipv4Addr::from(v as u32).to_string(),
        Family::V6 => std::net::Ipv6Addr::from(v).to_string(),
    }
}

/// An address interval as nft writes it: `a.b.c.d`, `a.b.c.d/len` or `lo-hi`.
pub fn fmt_addr_range(family: Family, (lo, hi): AddrRange) -> String {
    let bits = if family == Family::V4 { 32 } else { 128 };
    match prefix_len(lo, hi, bits) {
        Some(l) if l as u32 == bits => fmt_addr(family, lo),
        Some(l) => format!("{}/{}", fmt_addr(family, lo), l),
        None => format!("{}-{}", fmt_addr(family, lo), fmt_addr(family, hi)),
    }
}

/// Splits an interval into the CIDR blocks covering it exactly (for iptables, which has no
/// address ranges in `-s`).
pub fn cidrs(lo: u128, hi: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // Largest aligned block starting at `cur` that stays within `hi`.
        let mut host = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while host > 0 {
            let last = if host >= 128 {
                u128::MAX
            } else {
                cur + ((1u128 << host) - 1)
            };
            if last <= hi {
                break;
            }
            host -= 1;
        }
        out.push((cur, (bits - host) as u8));
        let last = if host >= 128 {
            u128::MAX
        } else {
            cur + ((1u128 << host) - 1)
        };
        if last >= hi {
            break;
        }
        cur = last + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_ranges_format_like_nft() {
        assert_eq!(prefix_len(0x0a00_0000, 0x0aff_ffff, 32), Some(8));
        assert_eq!(prefix_len(0x0a00_0001, 0x0aff_ffff, 32), None);
        assert_eq!(prefix_len(0, u32::MAX as u128, 32), Some(0));
        assert_eq!(prefix_len(0, u128::MAX, 128), Some(0));
        assert_eq!(
            fmt_addr_range(Family::V4, (0x0a00_0000, 0x0aff_ffff)),
            "10.0.0.0/8"
        );
        assert_eq!(
            fmt_addr_range(Family::V4, (0xc000_0202, 0xc000_0202)),
            "192.0.2.2"
        );
        assert_eq!(fmt_addr_range(Family::V4, (1, 3)), "0.0.0.1-0.0.0.3");
        assert_eq!(cidrs(1, 6, 32), vec![(1, 32), (2, 31), (4, 31), (6, 32)]);
        assert_eq!(cidrs(0, u32::MAX as u128, 32), vec![(0, 0)]);
    }
}

//! Kernel prefilter for queued rules (fwsnort's `-N` idea, opt-in): instead of queueing every
//! packet of the ports a queued rule names, the kernel queues only packets that carry one of
//! the queued rules' fast patterns (the xt `string` match, Boyer-Moore), and from then on the
//! rest of that connection, both directions (a conntrack-mark bit, [`PREFILTER_FLOW_MARK`]),
//! so the stream and HTTP engines see what follows the steering packet. The engine picks such
//! a flow up midstream, as it does the connections open when it starts.
//!
//! # Which rules
//! A rule is steered by a pattern when one of the contents it cannot match without (its
//! `fast_pattern`, else the longest; [`kernel_pattern`]) sits in a buffer whose bytes are the
//! packet's own bytes ([`verbatim`]): the payload/stream, `rawbytes`, and the raw HTTP/1
//! buffers (raw URI, raw headers, method, request and response lines, status), and has at
//! least [`MIN_PATTERN`] bytes. Normalised or decoded buffers
//! (`http_uri`, `http_header`, bodies, base64, transforms, TLS/DNS fields whose records can
//! be split or encoded) are not: an attacker could encode around the kernel, so such rules
//! keep their port steering. `nocase` becomes `--icase`.
//!
//! # The trade-off
//! The kernel looks at one packet at a time: a pattern split across two TCP segments steers
//! nothing (the stream engine alone would have found it), and the bytes before the steering
//! packet never reach the engine (a rule needing them, or a flowbit set by an earlier packet
//! of a rule without a pattern, cannot match). That is why the mode is opt-in.
//!
//! # `auto`
//! The kernel pays one string search per steering rule for every packet of the steered ports,
//! while plain steering pays one queue round trip per packet. `auto` chooses the prefilter when
//! every queued rule that needs steering has a kernel pattern (otherwise the port steering
//! queues those ports anyway, and a partial prefilter saves only part of the round trips while
//! still paying the searches) and there are at most a threshold of them (`[kernel]
//! prefilter_max_rules`, default [`AUTO_MAX_RULES`]: the crossover `bench/prefilter.sh`
//! measured, see README).

use crate::ir::{AppProto, Buffer, PayloadTest, PortSet, Protocol, Rule};
use crate::kernel::{header_ports, L4Proto, Side, SteerRule};
use crate::steer::{SteerMode, SteerPolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Conntrack-mark bit of a flow a prefilter pattern steered: the kernel queues the rest of the
/// connection, both directions. Set by the xt `CONNMARK` target of the steering rule that
/// matched; the bypass bits still hand the flow back once the engine is done with it.
pub const PREFILTER_FLOW_MARK: u32 = 0x0200_0000;

/// Packet-mark bit the prefilter's queue rules set on a packet of its connection's reply
/// direction, so the engine, picking the flow up from that packet, knows the receiver opened
/// the connection.
pub const REPLY_DIRECTION_MARK: u32 = 0x0100_0000;

/// Most prefilterable queued rules for which `auto` chooses the prefilter by default
/// (`[kernel] prefilter_max_rules` overrides it): the transactional crossover
/// `bench/prefilter.sh` measured on verdict's test gateway (README "Kernel prefilter"), the
/// largest count at which nginx/wrk transactions, kept alive and a connection per request,
/// were both faster with the prefilter than with plain queueing. A bulk download may still
/// lose at that count (every packet of an unsteered flow crosses the xt string matches).
pub const AUTO_MAX_RULES: usize = 16;

/// Shortest pattern worth steering by: a byte or two (a newline, `|00 01|`) occurs in nearly
/// every packet, and would queue everything a search per packet dearer than port steering.
pub const MIN_PATTERN: usize = 4;

/// Longest pattern iptables takes as a `--hex-string` (the match holds
/// `XT_STRING_MAX_PATTERN_SIZE` = 128 bytes, but the hex parser refuses the 128th when the
/// closing `|` follows); a longer fast pattern steers by its first bytes, which every packet
/// carrying it carries too.
pub const XT_MAX_PATTERN: usize = 127;

/// A rule's kernel pattern: the bytes searched and whether case is ignored
/// ([`kernel_pattern`]).
pub type KernelPattern = (Vec<u8>, bool);

/// Service ports on one side of a steering rule, `None` for any port.
type SidePorts = Option<(Side, Vec<(u16, u16)>)>;

/// Whether queued rules are steered by their patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PrefilterMode {
    /// Port steering only (the default).
    #[default]
    #[serde(rename = "off")]
    Off,
    /// Every rule with a kernel pattern is steered by it; the others keep port steering.
    #[serde(rename = "on")]
    On,
    /// As `On` when every queued rule has a kernel pattern and there are at most the
    /// threshold (default [`AUTO_MAX_RULES`]); else `Off`.
    #[serde(rename = "auto")]
    Auto,
}

impl PrefilterMode {
    /// The name used in the config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PrefilterMode::Off => "off",
            PrefilterMode::On => "on",
            PrefilterMode::Auto => "auto",
        }
    }
    /// Parses [`PrefilterMode::name`].
    pub fn from_name(s: &str) -> Option<PrefilterMode> {
        [PrefilterMode::Off, PrefilterMode::On, PrefilterMode::Auto]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// One prefilter steering rule: packets of `proto` (and `ports`) that contain `pattern` mark
/// their connection for the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PatternSteer {
    /// Transport.
    pub proto: L4Proto,
    /// Service ports on one side, `None` = any port.
    pub ports: Option<(Side, Vec<(u16, u16)>)>,
    /// Bytes searched (`--hex-string`).
    pub pattern: Vec<u8>,
    /// `--icase`.
    pub nocase: bool,
    /// The rules steered by it (for the comment).
    pub sids: Vec<u32>,
}

/// The kernel's side of the choice: the pattern steering and what it decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefilter {
    /// Pattern steering rules (empty when the prefilter is off or chose not to run).
    pub rules: Vec<PatternSteer>,
    /// Queued rules steered by a pattern.
    pub steered: usize,
    /// Queued rules left to port steering (no kernel-visible pattern).
    pub by_ports: usize,
    /// What was decided, for the report (`off`, `on`, `auto: on (12 <= 64)`, …).
    pub decision: String,
    /// sids of the queued rules that have a kernel pattern, steered by it or not (empty when
    /// the prefilter is off): what `on` could steer.
    pub with_pattern: Vec<u32>,
}

/// Buffers whose bytes are verbatim bytes of one packet's payload (see the module docs).
pub fn verbatim(b: Buffer) -> bool {
    use crate::ir::AppBuffer::*;
    matches!(
        b,
        Buffer::Payload
            | Buffer::Raw
            | Buffer::App(
                HttpRawUri
                    | HttpMethod
                    | HttpRawHeader
                    | HttpStatCode
                    | HttpStatMsg
                    | HttpRequestLine
                    | HttpResponseLine
                    | HttpProtocol
            )
    )
}

/// The pattern the kernel can steer `rule` by: one of the contents the rule cannot match
/// without, in a [`verbatim`] buffer no transform rewrites — the rule's explicit
/// `fast_pattern` when it is one, else the longest — for TCP and UDP rules; `None` when there
/// is none of at least [`MIN_PATTERN`] bytes.
///
/// Not simply the engine's fast pattern: that prefers a payload content to a longer one in
/// another buffer (`content:"/whois_raw.cgi?"; http_uri; content:"|0A|";` prefilters on the
/// newline in the engine), and a newline would steer every HTTP request.
pub fn kernel_pattern(rule: &Rule) -> Option<KernelPattern> {
    if !matches!(rule.proto, Protocol::Tcp | Protocol::Udp | Protocol::App(_)) {
        return None;
    }
    // A buffer that may be absent (`absent: or_else`) does not have to hold the content.
    let may_be_absent = |b: Buffer| {
        rule.payload
            .iter()
            .any(|t| matches!(t, PayloadTest::Absent { buffer, .. } if *buffer == b))
    };
    let transformed = |b: Buffer| {
        rule.transforms
            .iter()
            .any(|t| t.buffer == b && !t.chain.is_empty())
    };
    let usable: Vec<&crate::ir::Content> = rule
        .payload
        .iter()
        .filter_map(|t| match t {
            PayloadTest::Content(c) => Some(c),
            _ => None,
        })
        .filter(|c| {
            !c.negated()
                && verbatim(c.buffer())
                && !transformed(c.buffer())
                && !may_be_absent(c.buffer())
                && c.fast_pattern_bytes().len() >= MIN_PATTERN
        })
        .collect();
    let chosen = usable
        .iter()
        .find(|c| c.fast_pattern().is_some())
        .or_else(|| {
            usable
                .iter()
                .rev()
                .max_by_key(|c| c.fast_pattern_bytes().len())
        })?;
    let bytes = chosen.fast_pattern_bytes();
    let len = bytes.len().min(XT_MAX_PATTERN);
    Some((bytes.get(..len)?.to_vec(), chosen.nocase()))
}

/// The transports and service ports steering `rule` covers, as [`crate::kernel::steering`]
/// computes them: `(proto, None)` for any port.
fn service_ports(rule: &Rule, policy: &SteerPolicy) -> Vec<(L4Proto, Option<PortSet>)> {
    let whole = |p: L4Proto| match policy.mode {
        SteerMode::Ports => false,
        SteerMode::AllTcp => p == L4Proto::Tcp,
        SteerMode::All => true,
    };
    let l4 = |p: Protocol| {
        if p == Protocol::Udp {
            L4Proto::Udp
        } else {
            L4Proto::Tcp
        }
    };
    let (protos, app): (Vec<L4Proto>, Option<AppProto>) = match rule.proto {
        Protocol::Tcp => (vec![L4Proto::Tcp], None),
        Protocol::Udp => (vec![L4Proto::Udp], None),
        Protocol::App(a) => (a.transports().iter().map(|&t| l4(t)).collect(), Some(a)),
        _ => return Vec::new(),
    };
    protos
        .into_iter()
        .map(|p| {
            let ports = header_ports(rule)
                .or_else(|| app.and_then(|a| policy.app_ports.get(&a).cloned()))
                .filter(|_| !whole(p));
            (p, ports)
        })
        .collect()
}

/// Whether the port steering `steering` already queues every packet `proto`/`ports` selects.
fn covered(steering: &[SteerRule], proto: L4Proto, ports: &SidePorts) -> bool {
    steering.iter().any(|s| match (s.proto, &s.ports, ports) {
        (None, _, _) => true,
        (Some(p), None, _) => p == proto,
        (Some(p), Some((side, have)), Some((want_side, want))) => {
            p == proto
                && side == want_side
                && PortSet::from_ranges(want.clone())
                    .union(&PortSet::from_ranges(have.clone()))
                    .ranges()
                    == PortSet::from_ranges(have.clone()).ranges()
        }
        (Some(_), Some(_), None) => false,
    })
}

/// Splits the queued rules (each with its [`kernel_pattern`]) into pattern steering and the
/// rules left to port steering, as `mode` decides. Returns the prefilter and the rules whose
/// port steering the plan keeps; the pattern rules that the kept port steering (`port_steering`
/// of those rules) already covers are dropped, being redundant.
pub fn split<'a>(
    queued: &[(&'a Rule, Option<KernelPattern>)],
    (mode, max_rules): (PrefilterMode, usize),
    policy: &SteerPolicy,
    port_steering: impl Fn(&[&'a Rule]) -> Vec<SteerRule>,
) -> (Prefilter, Vec<&'a Rule>) {
    let all: Vec<&Rule> = queued.iter().map(|(r, _)| *r).collect();
    let with: Vec<&(&Rule, Option<KernelPattern>)> = queued
        .iter()
        .filter(|(r, p)| p.is_some() && !service_ports(r, policy).is_empty())
        .collect();
    let by_ports = queued.len() - with.len();
    let with_pattern: Vec<u32> = match mode {
        PrefilterMode::Off => Vec::new(),
        _ => with.iter().map(|(r, _)| r.meta.sid.0).collect(),
    };
    let (on, decision) = match mode {
        PrefilterMode::Off => (false, "off".to_string()),
        PrefilterMode::On => (true, "on".to_string()),
        PrefilterMode::Auto if by_ports > 0 => (
            false,
            format!("auto: off ({by_ports} queued rules have no kernel pattern)"),
        ),
        PrefilterMode::Auto if with.len() > max_rules => (
            false,
            format!("auto: off ({} rules > {max_rules})", with.len()),
        ),
        PrefilterMode::Auto => (
            true,
            format!("auto: on ({} rules <= {max_rules})", with.len()),
        ),
    };
    if !on || with.is_empty() {
        let off = Prefilter {
            decision,
            by_ports: queued.len(),
            with_pattern,
            ..Prefilter::default()
        };
        return (off, all);
    }
    let rest: Vec<&Rule> = queued
        .iter()
        .filter(|(r, p)| p.is_none() || service_ports(r, policy).is_empty())
        .map(|(r, _)| *r)
        .collect();
    let kept = port_steering(&rest);
    // (proto, ports, pattern, nocase) -> sids
    type Key = (L4Proto, SidePorts, Vec<u8>, bool);
    let mut rules: BTreeMap<Key, Vec<u32>> = BTreeMap::new();
    for (r, p) in &with {
        let Some((pattern, nocase)) = p else { continue };
        for (proto, ports) in service_ports(r, policy) {
            let sides: Vec<SidePorts> = match ports {
                None => vec![None],
                Some(s) => [Side::Dst, Side::Src]
                    .into_iter()
                    .map(|side| Some((side, s.ranges().to_vec())))
                    .collect(),
            };
            for ports in sides {
                if covered(&kept, proto, &ports) {
                    continue;
                }
                let key = (proto, ports, pattern.clone(), *nocase);
                let sids = rules.entry(key).or_default();
                if !sids.contains(&r.meta.sid.0) {
                    sids.push(r.meta.sid.0);
                }
            }
        }
    }
    let mut steered: Vec<u32> = rules.values().flatten().copied().collect();
    steered.sort_unstable();
    steered.dedup();
    let rules = rules
        .into_iter()
        .map(|((proto, ports, pattern, nocase), sids)| PatternSteer {
            proto,
            ports,
            pattern,
            nocase,
            sids,
        })
        .collect();
    // A rule whose pattern steering the port steering made redundant counts as port-steered.
    let pf = Prefilter {
        rules,
        steered: steered.len(),
        by_ports: queued.len() - steered.len(),
        decision,
        with_pattern,
    };
    (pf, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{load_str, LoadOptions};

    fn queued(text: &str) -> Vec<(Rule, Option<KernelPattern>)> {
        let (_, loaded) = load_str("t.rules", text, &LoadOptions::default());
        loaded
            .rules
            .into_iter()
            .map(|r| {
                let p = kernel_pattern(&r);
                (r, p)
            })
            .collect()
    }

    #[test]
    fn only_verbatim_untransformed_buffers_give_kernel_patterns() {
        let q = queued(concat!(
            "alert tcp any any -> any 80 (content:\"abc\"; content:\"longer-one\"; nocase; sid:1;)\n",
            "alert http any any -> any any (http.uri; content:\"/evil\"; sid:2;)\n",
            "alert http any any -> any any (http.method; content:\"PROPFIND\"; sid:3;)\n",
            "alert http any any -> any any (http.header; content:\"X-Evil\"; sid:4;)\n",
            "alert http any any -> any any (http.request_line; to_lowercase; content:\"get\"; sid:5;)\n",
            "alert ip any any -> any any (content:\"ipwide\"; sid:6;)\n",
            "alert tcp any any -> any 80 (flow:established; sid:7;)\n",
            "alert http any any -> any any (content:\"/whois_raw.cgi?\"; http_uri; content:\"|0A|\"; sid:8;)\n",
            "alert http any any -> any any (content:\"/admin.cgi\"; http_uri; content:\"|0A|CMD\"; sid:9;)\n",
            "alert tcp any any -> any 80 (content:\"shorter\"; fast_pattern; content:\"much-longer-one\"; sid:10;)\n",
        ));
        let got: Vec<_> = q.iter().map(|(r, p)| (r.meta.sid.0, p.clone())).collect();
        assert_eq!(
            got,
            vec![
                (1, Some((b"longer-one".to_vec(), true))),
                (2, None),
                (3, Some((b"PROPFIND".to_vec(), false))),
                (4, None),
                (5, None),
                (6, None),
                (7, None),
                (8, None),
                (9, Some((b"\nCMD".to_vec(), false))),
                (10, Some((b"shorter".to_vec(), false))),
            ]
        );
    }

    #[test]
    fn long_patterns_steer_by_what_iptables_takes() {
        let long = "x".repeat(200);
        let q = queued(&format!(
            "alert tcp any any -> any 80 (content:\"{long}\"; sid:1;)\n"
        ));
        assert_eq!(q[0].1, Some((vec![b'x'; XT_MAX_PATTERN], false)));
    }

    /// The threshold the tests give `auto`.
    const MAX: usize = 16;

    fn split_of(text: &str, mode: PrefilterMode) -> (Prefilter, Vec<u32>) {
        let q = queued(text);
        let refs: Vec<(&Rule, Option<KernelPattern>)> =
            q.iter().map(|(r, p)| (r, p.clone())).collect();
        let policy = SteerPolicy::default();
        let (pf, rest) = split(&refs, (mode, MAX), &policy, |rs| {
            crate::kernel::steering(rs.iter().copied(), &policy)
        });
        (pf, rest.iter().map(|r| r.meta.sid.0).collect())
    }

    #[test]
    fn pattern_rules_steer_both_sides_of_their_service_ports() {
        let (pf, rest) = split_of(
            "alert tcp any any -> any 8080 (content:\"evil\"; sid:1;)\n\
             alert tcp any any -> any 8080 (content:\"evil\"; sid:2;)\n",
            PrefilterMode::On,
        );
        assert!(rest.is_empty());
        assert_eq!(pf.steered, 2);
        assert_eq!(pf.rules.len(), 2);
        assert!(pf.rules.iter().all(|r| r.sids == vec![1, 2]));
        let sides: Vec<_> = pf.rules.iter().map(|r| r.ports.clone()).collect();
        assert!(sides.contains(&Some((Side::Dst, vec![(8080, 8080)]))));
        assert!(sides.contains(&Some((Side::Src, vec![(8080, 8080)]))));
    }

    #[test]
    fn port_steered_rules_make_covered_patterns_redundant() {
        let text = "alert tcp any any -> any 80 (content:\"evil\"; sid:1;)\n\
                    alert tcp any any -> any 80 (flow:established; sid:2;)\n\
                    alert tcp any any -> any 25 (content:\"mail\"; sid:3;)\n";
        let (pf, rest) = split_of(text, PrefilterMode::On);
        assert_eq!(rest, vec![2]);
        assert_eq!(pf.rules.len(), 2, "{:?}", pf.rules);
        assert!(pf.rules.iter().all(|r| r.sids == vec![3]));
        assert_eq!((pf.steered, pf.by_ports), (1, 2));
        // auto refuses: a rule without a pattern keeps its ports queued.
        let (pf, rest) = split_of(text, PrefilterMode::Auto);
        assert!(pf.rules.is_empty());
        assert_eq!(rest, vec![1, 2, 3]);
        assert!(pf.decision.starts_with("auto: off"), "{}", pf.decision);
    }

    #[test]
    fn auto_follows_the_rule_count() {
        let mut text = String::new();
        for i in 0..=MAX {
            text.push_str(&format!(
                "alert tcp any any -> any 80 (content:\"pat{i}x\"; sid:{};)\n",
                i + 1
            ));
        }
        let (pf, _) = split_of(&text, PrefilterMode::Auto);
        assert!(pf.rules.is_empty(), "{}", pf.decision);
        let first: String = text.lines().take(MAX).collect::<Vec<_>>().join("\n");
        let (pf, rest) = split_of(&first, PrefilterMode::Auto);
        assert_eq!(pf.steered, MAX, "{}", pf.decision);
        assert!(rest.is_empty());
        let (pf, _) = split_of(&first, PrefilterMode::Off);
        assert!(pf.rules.is_empty());
    }

    #[test]
    fn mode_names_round_trip() {
        for m in [PrefilterMode::Off, PrefilterMode::On, PrefilterMode::Auto] {
            assert_eq!(PrefilterMode::from_name(m.name()), Some(m));
        }
        assert_eq!(PrefilterMode::from_name("yes"), None);
    }
}

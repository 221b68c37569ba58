//! Syntax tree to typed IR: variables and address/port lists resolved into interval sets,
//! every option turned into a typed value, content modifiers attached to the right content,
//! and invalid combinations reported with the span of the offending option.

use crate::ast::{ListExpr, Node, OptionAst, RuleAst, Span};
use crate::diag::{Code, Diagnostic};
use crate::ir::*;
use crate::keywords::buffers::{self, Form};
use crate::keywords::{
    self, absent, byte, byte_math, content, dataset, flow, fwsam, header, meta, numeric, pcre,
    state, transform, txdir, txpred, KwError, Status,
};
use crate::parse::{Rule as G, RuleParser};
use crate::vars::Vars;
use pest::Parser as _;
use std::collections::HashMap;

/// Most byte_extract variables one rule may define (Snort's limit).
pub const MAX_RULE_VARS: usize = 8;

/// Lowers rules; caches resolved variables across rules (every community rule uses
/// `$EXTERNAL_NET`, so resolving it once matters for throughput).
pub struct Lowerer<'v> {
    vars: &'v Vars,
    addr_cache: HashMap<String, Result<IpSet, String>>,
    port_cache: HashMap<String, Result<PortSet, String>>,
}

/// A lowered rule and where its sid was written (for duplicate-sid diagnostics).
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The rule.
    pub rule: Rule,
    /// Span of the `sid` option.
    pub sid_span: Span,
}

/// Content being built: the modifiers that follow it are collected here until the next
/// content or buffer switch, then validated by [`Content::new`].
struct Pending {
    slot: usize,
    span: Span,
    pattern: Vec<u8>,
    negated: bool,
    nocase: bool,
    buffer: Buffer,
    buffer_set: Option<(&'static str, Span)>,
    offset: Option<(Operand, Span)>,
    depth: Option<(Operand, Span)>,
    distance: Option<(Operand, Span)>,
    within: Option<(Operand, Span)>,
    starts: Option<Span>,
    ends: Option<Span>,
    fast_pattern: Option<(FastPattern, Span)>,
    replace: Option<(Vec<u8>, Span)>,
}

struct State {
    file: usize,
    diags: Vec<Diagnostic>,
    /// The header's protocol (None when it did not parse): header buffers check it.
    proto: Option<Protocol>,
    buffer: Buffer,
    legacy_sticky: bool,
    payload: Vec<Option<PayloadTest>>,
    pending: Option<Pending>,
    /// The last content failed to parse: its modifiers are not reported again.
    poisoned: bool,
    vars: Vec<String>,
    header: Vec<HeaderTest>,
    flow: Option<(FlowOpts, Span)>,
    flowbits: Vec<Flowbits>,
    /// stream_size, xbits, flowint in rule order.
    state: Vec<StateTest>,
    threshold: Option<Threshold>,
    detection_filter: Option<DetectionFilter>,
    block: Option<BlockOnMatch>,
    tags: Vec<crate::ir::Tag>,
    sid: Option<(u32, Span)>,
    gid: Option<u32>,
    rev: Option<u32>,
    msg: Option<String>,
    classtype: Option<String>,
    priority: Option<u32>,
    references: Vec<Reference>,
    metadata: Vec<(String, String)>,
    target: Option<String>,
    alert: bool,
    /// Sticky buffer selections and their transforms.
    chains: transform::Chains,
    /// `=>` rules: the side each two-sided buffer selection reads.
    dirs: txdir::TxDirs,
    /// Each `absent`: its payload slot and option, checked once the rule is read.
    absents: Vec<(usize, Span)>,
    /// A `base64_decode` was written (even one whose value was refused): `base64_data` after
    /// it is not reported again.
    base64_decode_seen: bool,
}

/// A diagnostic already recorded in the rule state, still being filled in.
struct DiagRef<'a>(&'a mut Diagnostic);

impl DiagRef<'_> {
    fn label(self, l: impl Into<String>) -> Self {
        self.0.label = l.into();
        self
    }
    fn help(self, h: impl Into<String>) -> Self {
        self.0.help = Some(h.into());
        self
    }
    fn also(self, span: Span, l: impl Into<String>) -> Self {
        let file = self.0.file;
        self.0.secondary.push(crate::diag::Secondary {
            file,
            span,
            label: l.into(),
        });
        self
    }
}

impl State {
    fn err(&mut self, code: Code, span: Span, msg: impl Into<String>) -> DiagRef<'_> {
        self.diags.push(Diagnostic::new(code, self.file, span, msg));
        DiagRef(self.diags.last_mut().expect("just pushed"))
    }

    fn kw_err(&mut self, o: &OptionAst<'_>, e: KwError) {
        let span = match (o.value, e.at) {
            (Some(v), Some((s, t))) => v.span.sub(s, t),
            (Some(v), None) => v.span,
            (None, _) => o.name.span,
        };
        let name = o.name.text;
        let msg = if e.code == Code::BadValue {
            format!("{name}: {}", e.msg)
        } else {
            e.msg
        };
        let d =
            Diagnostic::new(e.code, self.file, span, msg).label(format!("invalid `{name}` value"));
        self.diags.push(match e.help {
            Some(h) => d.help(h),
            None => d,
        });
    }

    /// Builds the pending content into its slot.
    fn finish_pending(&mut self) {
        let Some(p) = self.pending.take() else { return };
        // Suricata: `startswith` is `depth` to the pattern's length from offset 0, so it takes
        // no other position; `endswith` only adds "and ends at the buffer's end" to whatever
        // position the content has (depth, distance, … or none; with startswith it is an
        // exact match of the whole buffer).
        let position = if let Some(s) = p.starts {
            if let Some((_, sp)) = p.offset.or(p.depth).or(p.distance).or(p.within) {
                self.err(
                    Code::Conflict,
                    sp,
                    "startswith cannot be combined with offset, depth, distance or within",
                )
                .label("conflicting modifier")
                .also(s, "anchored here")
                .help("startswith already means offset:0 and depth equal to the content's length");
                return;
            }
            Position::StartsWith
        } else if p.distance.is_some() || p.within.is_some() {
            if let Some((_, sp)) = p.offset.or(p.depth) {
                let rel = p.distance.or(p.within).map(|x| x.1).unwrap_or(sp);
                self.err(Code::Conflict, sp, "offset/depth (absolute) cannot be mixed with distance/within (relative) on one content")
                    .label("absolute modifier")
                    .also(rel, "relative modifier")
                    .help("use distance/within to anchor after the previous match, or offset/depth from the buffer start");
                return;
            }
            Position::Relative {
                distance: p.distance.map_or(Operand::Lit(0), |x| x.0),
                within: p.within.map(|x| x.0),
            }
        } else {
            Position::Absolute {
                offset: p.offset.map_or(Operand::Lit(0), |x| x.0),
                depth: p.depth.map(|x| x.0),
            }
        };
        let spec = ContentSpec {
            pattern: p.pattern,
            negated: p.negated,
            nocase: p.nocase,
            position,
            ends_with: p.ends.is_some(),
            buffer: p.buffer,
            fast_pattern: p.fast_pattern.map(|x| x.0),
            replace: p.replace.as_ref().map(|x| x.0.clone()),
        };
        match Content::new(spec) {
            Ok(c) => self.payload[p.slot] = Some(PayloadTest::Content(c)),
            Err(e) => {
                let (code, span, label) = match &e {
                    ContentError::DepthTooShort { .. } => (
                        Code::DepthTooShort,
                        p.depth.map_or(p.span, |x| x.1),
                        "too short",
                    ),
                    ContentError::WithinTooShort { .. } => (
                        Code::DepthTooShort,
                        p.within.map_or(p.span, |x| x.1),
                        "too short",
                    ),
                    ContentError::ReplaceLength { .. } => (
                        Code::ReplaceLength,
                        p.replace.as_ref().map_or(p.span, |x| x.1),
                        "different length",
                    ),
                    ContentError::FastPatternSlice { .. } => (
                        Code::BadValue,
                        p.fast_pattern.map_or(p.span, |x| x.1),
                        "outside the content",
                    ),
                    ContentError::Negative(_) => (
                        Code::BadValue,
                        p.offset.or(p.depth).or(p.within).map_or(p.span, |x| x.1),
                        "negative",
                    ),
                    ContentError::Empty => (Code::BadValue, p.span, "empty"),
                };
                let d = self.err(code, span, e.to_string()).label(label);
                if code != Code::BadValue {
                    d.also(p.span, "for this content");
                }
            }
        }
    }

    fn push_test(&mut self, t: PayloadTest) {
        self.payload.push(Some(t));
    }

    fn var_slot(&self, name: &str) -> Option<VarSlot> {
        self.vars
            .iter()
            .position(|v| v == name)
            .map(|i| VarSlot(i as u8))
    }
}

fn action_of(t: &str) -> Option<Action> {
    Some(match t {
        "alert" => Action::Alert,
        "log" => Action::Log,
        "pass" => Action::Pass,
        "drop" => Action::Drop,
        "sdrop" => Action::Sdrop,
        "reject" => Action::Reject(RejectTarget::Default),
        "rejectsrc" => Action::Reject(RejectTarget::Src),
        "rejectdst" => Action::Reject(RejectTarget::Dst),
        "rejectboth" => Action::Reject(RejectTarget::Both),
        _ => return None,
    })
}

fn protocol_of(t: &str) -> Option<Protocol> {
    Some(match t.to_ascii_lowercase().as_str() {
        // Suricata's family-only forms: `ip` on one address family (see `family_of_protocol`).
        "ip" | "ipv4" | "ip4" | "ipv6" | "ip6" => Protocol::Ip,
        // Suricata's packet-only / stream-only variants: the stream part is kept by
        // `stream_of_protocol` as the flow's `no_stream` / `only_stream`.
        "tcp" | "tcp-pkt" | "tcp-stream" => Protocol::Tcp,
        "udp" | "udp-pkt" => Protocol::Udp,
        "icmp" => Protocol::Icmp,
        "icmpv6" | "icmp6" => Protocol::Icmpv6,
        "sctp" => Protocol::Sctp,
        other => Protocol::App(AppProto::from_name(other)?),
    })
}

/// The addresses an `ipv4`/`ipv6` rule can see: a packet of the other family never matches,
/// which restricting the source addresses to the family says exactly (both addresses of a
/// packet are of one family), in the kernel and in the engine alike.
fn family_of_protocol(t: &str) -> Option<IpSet> {
    match t.to_ascii_lowercase().as_str() {
        "ipv4" | "ip4" => Some(IpSet {
            v4: RangeSet::full(),
            v6: RangeSet::empty(),
        }),
        "ipv6" | "ip6" => Some(IpSet {
            v4: RangeSet::empty(),
            v6: RangeSet::full(),
        }),
        _ => None,
    }
}

/// `tcp-pkt` inspects packets only (`flow:no_stream`), `tcp-stream` the reassembled stream
/// only (`flow:only_stream`).
fn stream_of_protocol(t: &str) -> Option<bool> {
    match t.to_ascii_lowercase().as_str() {
        "tcp-pkt" => Some(false),
        "tcp-stream" => Some(true),
        _ => None,
    }
}

/// Parses an IPv4/IPv6 address or CIDR into a closed interval of each family.
fn parse_cidr(t: &str) -> Result<IpSet, String> {
    let (addr, len) = match t.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (t, None),
    };
    let mut set = IpSet::empty();
    if let Ok(a) = addr.parse::<std::net::Ipv4Addr>() {
        let bits = match len {
            None => 32,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if n <= 32 => n,
                _ => match l.parse::<std::net::Ipv4Addr>() {
                    Ok(m)
                        if (!u32::from(m)).wrapping_add(1).is_power_of_two()
                            || u32::from(m) == 0 =>
                    {
                        u32::from(m).count_ones()
                    }
                    _ => return Err(format!("`/{l}` is not a valid IPv4 prefix length (0-32)")),
                },
            },
        };
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        let lo = u32::from(a) & mask;
        set.v4 = RangeSet::range(lo, lo | !mask);
        return Ok(set);
    }
    if let Ok(a) = addr.parse::<std::net::Ipv6Addr>() {
        let bits = match len {
            None => 128,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if n <= 128 => n,
                _ => return Err(format!("`/{l}` is not a valid IPv6 prefix length (0-128)")),
            },
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        let lo = u128::from(a) & mask;
        set.v6 = RangeSet::range(lo, lo | !mask);
        return Ok(set);
    }
    Err(format!(
        "`{t}` is not an IP address, CIDR block, `any` or $VARIABLE"
    ))
}

fn parse_port_atom(t: &str) -> Result<PortSet, String> {
    let num = |s: &str| -> Result<u16, String> {
        s.parse::<u16>()
            .map_err(|_| format!("`{s}` is not a port number (0-65535)"))
    };
    if let Some((a, b)) = t.split_once(':') {
        let lo = if a.is_empty() { 0 } else { num(a)? };
        let hi = if b.is_empty() { u16::MAX } else { num(b)? };
        if a.is_empty() && b.is_empty() {
            return Err("`:` needs at least one bound".into());
        }
        if lo > hi {
            return Err(format!(
                "port range `{t}` is empty (the first bound is larger)"
            ));
        }
        return Ok(RangeSet::range(lo, hi));
    }
    let p = num(t)?;
    Ok(RangeSet::range(p, p))
}

/// An address or port list (`what`) that lowered to an empty set or failed, as a diagnostic
/// (`bad` unless the failure is an undefined variable); `None` then.
fn checked_list<S>(
    r: Result<S, (String, Span)>,
    is_empty: fn(&S) -> bool,
    what: &str,
    bad: Code,
    file: usize,
    whole: Span,
    diags: &mut Vec<Diagnostic>,
) -> Option<S> {
    match r {
        Ok(s) if is_empty(&s) => {
            diags.push(
                Diagnostic::new(
                    bad,
                    file,
                    whole,
                    format!("{what} list matches no {what}, so the rule can never fire"),
                )
                .label(format!("empty {what} set")),
            );
            None
        }
        Ok(s) => Some(s),
        Err((msg, span)) => {
            diags.push(if msg.starts_with("undefined variable") {
                Diagnostic::new(Code::UndefinedVariable, file, span, msg)
                    .label("not defined")
                    .help("define it in the [vars] table of verdict.toml")
            } else {
                Diagnostic::new(bad, file, span, msg).label(format!("bad {what}"))
            });
            None
        }
    }
}

/// Combines list members Snort-style: the union of the positive members minus the union of
/// the negated ones (`[!a,!b]` alone means "anything but a and b").
/// The unions are taken in one sort (`union_all`): an IP reputation list of thousands of
/// members folded pairwise took quadratic time (3.3 s for 100,000 addresses).
fn combine<T: Clone>(
    pos: Vec<T>,
    neg: Vec<T>,
    any: T,
    union_all: impl Fn(&[T]) -> T,
    minus: impl Fn(&T, &T) -> T,
) -> T {
    let base = if pos.is_empty() { any } else { union_all(&pos) };
    if neg.is_empty() {
        base
    } else {
        minus(&base, &union_all(&neg))
    }
}

/// Which list a variable is resolved as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Addr,
    Port,
}

impl<'v> Lowerer<'v> {
    /// A lowerer resolving variables against `vars`.
    pub fn new(vars: &'v Vars) -> Self {
        Lowerer {
            vars,
            addr_cache: HashMap::new(),
            port_cache: HashMap::new(),
        }
    }

    fn resolve_var_addr(&mut self, name: &str, depth: usize) -> Result<IpSet, String> {
        if let Some(r) = self.addr_cache.get(name) {
            return r.clone();
        }
        let r = self
            .resolve_var_text(name, ListKind::Addr, depth)
            .map(|s| match s {
                Resolved::Addr(a) => a,
                Resolved::Port(_) => unreachable!("asked for addresses"),
            });
        self.addr_cache.insert(name.to_string(), r.clone());
        r
    }

    fn resolve_var_port(&mut self, name: &str, depth: usize) -> Result<PortSet, String> {
        if let Some(r) = self.port_cache.get(name) {
            return r.clone();
        }
        let r = self
            .resolve_var_text(name, ListKind::Port, depth)
            .map(|s| match s {
                Resolved::Port(p) => p,
                Resolved::Addr(_) => unreachable!("asked for ports"),
            });
        self.port_cache.insert(name.to_string(), r.clone());
        r
    }

    fn resolve_var_text(
        &mut self,
        name: &str,
        kind: ListKind,
        depth: usize,
    ) -> Result<Resolved, String> {
        if depth > 16 {
            return Err(format!(
                "variable ${name} refers to itself (through other variables)"
            ));
        }
        let Some(text) = self.vars.get(name) else {
            let best = self
                .vars
                .names()
                .map(|n| (keywords::levenshtein(name, n), n))
                .filter(|(d, _)| *d <= 3)
                .min_by_key(|(d, _)| *d)
                .map(|(_, n)| format!(" (did you mean ${n}?)"))
                .unwrap_or_default();
            return Err(format!("undefined variable ${name}{best}"));
        };
        let text = text.to_string();
        let entry = if kind == ListKind::Addr {
            G::address_only
        } else {
            G::ports_only
        };
        let mut pairs = RuleParser::parse(entry, &text).map_err(|_| {
            format!(
                "variable ${name} = \"{text}\" is not a valid {} list",
                if kind == ListKind::Addr {
                    "address"
                } else {
                    "port"
                }
            )
        })?;
        let top = pairs
            .next()
            .expect("entry rule")
            .into_inner()
            .next()
            .expect("list");
        let expr = crate::parse::list_expr(top, 0);
        let r = match kind {
            ListKind::Addr => self.addr_expr(&expr, depth + 1).map(Resolved::Addr),
            ListKind::Port => self.port_expr(&expr, depth + 1).map(Resolved::Port),
        };
        r.map_err(|(msg, _)| format!("in ${name} = \"{text}\": {msg}"))
    }

    fn addr_expr(&mut self, e: &ListExpr<'_>, depth: usize) -> Result<IpSet, (String, Span)> {
        match e {
            ListExpr::Atom(n) => {
                if n.text.eq_ignore_ascii_case("any") {
                    Ok(IpSet::any())
                } else if let Some(v) = n.text.strip_prefix('$') {
                    self.resolve_var_addr(v, depth).map_err(|m| (m, n.span))
                } else {
                    parse_cidr(n.text).map_err(|m| (m, n.span))
                }
            }
            ListExpr::Not(inner, _) => Ok(self.addr_expr(inner, depth)?.complement()),
            ListExpr::List(items, _) => {
                let (mut pos, mut neg) = (Vec::new(), Vec::new());
                for it in items {
                    match it {
                        ListExpr::Not(inner, _) => neg.push(self.addr_expr(inner, depth)?),
                        other => pos.push(self.addr_expr(other, depth)?),
                    }
                }
                Ok(combine(pos, neg, IpSet::any(), IpSet::union_all, |a, b| {
                    a.intersect(&b.complement())
                }))
            }
        }
    }

    fn port_expr(&mut self, e: &ListExpr<'_>, depth: usize) -> Result<PortSet, (String, Span)> {
        match e {
            ListExpr::Atom(n) => {
                if n.text.eq_ignore_ascii_case("any") {
                    Ok(PortSet::full())
                } else if let Some(v) = n.text.strip_prefix('$') {
                    self.resolve_var_port(v, depth).map_err(|m| (m, n.span))
                } else {
                    parse_port_atom(n.text).map_err(|m| (m, n.span))
                }
            }
            ListExpr::Not(inner, _) => Ok(self.port_expr(inner, depth)?.complement()),
            ListExpr::List(items, _) => {
                let (mut pos, mut neg) = (Vec::new(), Vec::new());
                for it in items {
                    match it {
                        ListExpr::Not(inner, _) => neg.push(self.port_expr(inner, depth)?),
                        other => pos.push(self.port_expr(other, depth)?),
                    }
                }
                Ok(combine(
                    pos,
                    neg,
                    PortSet::full(),
                    PortSet::union_all,
                    |a, b| a.difference(b),
                ))
            }
        }
    }

    fn addresses(
        &mut self,
        e: &ListExpr<'_>,
        file: usize,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<IpSet> {
        let r = self.addr_expr(e, 0);
        checked_list(
            r,
            IpSet::is_empty,
            "address",
            Code::BadAddress,
            file,
            e.span(),
            diags,
        )
    }

    fn ports(
        &mut self,
        e: &ListExpr<'_>,
        file: usize,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<PortSet> {
        let r = self.port_expr(e, 0);
        checked_list(
            r,
            PortSet::is_empty,
            "port",
            Code::BadPort,
            file,
            e.span(),
            diags,
        )
    }

    /// Lowers one parsed rule. On failure returns every problem found in it.
    pub fn lower(
        &mut self,
        ast: &RuleAst<'_>,
        file: usize,
        file_name: &str,
        line: u32,
    ) -> Result<Lowered, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let action = action_of(ast.action.text);
        if action.is_none() {
            diags.push(
                Diagnostic::new(
                    Code::Syntax,
                    file,
                    ast.action.span,
                    format!("unknown action `{}`", ast.action.text),
                )
                .label("not an action"),
            );
        }
        let proto = protocol_of(ast.protocol.text);
        if proto.is_none() {
            diags.push(
                Diagnostic::new(Code::BadValue, file, ast.protocol.span, format!("unknown protocol `{}`", ast.protocol.text))
                    .label("not a protocol")
                    .help("ip, tcp, udp, icmp, icmpv6, sctp, or an app-layer protocol such as http, dns, tls, smb"),
            );
        }
        let src = self.addresses(&ast.src, file, &mut diags).map(|s| {
            match family_of_protocol(ast.protocol.text) {
                Some(f) => s.intersect(&f),
                None => s,
            }
        });
        let src_ports = self.ports(&ast.src_ports, file, &mut diags);
        let dst = self.addresses(&ast.dst, file, &mut diags);
        let dst_ports = self.ports(&ast.dst_ports, file, &mut diags);
        let direction = match ast.direction.text {
            "<>" => Direction::Both,
            "=>" => Direction::Tx,
            _ => Direction::To,
        };
        if direction == Direction::Tx && proto.is_some_and(|p| !matches!(p, Protocol::App(_))) {
            diags.push(
                Diagnostic::new(
                    Code::BadValue,
                    file,
                    ast.direction.span,
                    "`=>` needs an app-layer protocol",
                )
                .label("transactional rule")
                .help("a transactional rule matches one request and its response: name the protocol (http, tls, dns, …) in the header"),
            );
        }

        let mut st = State {
            file,
            diags,
            proto,
            buffer: Buffer::Payload,
            legacy_sticky: legacy_is_sticky(ast),
            payload: Vec::new(),
            pending: None,
            poisoned: false,
            vars: Vec::new(),
            chains: Default::default(),
            dirs: txdir::TxDirs::new(direction == Direction::Tx),
            absents: Vec::new(),
            base64_decode_seen: false,
            header: Vec::new(),
            flow: None,
            flowbits: Vec::new(),
            state: Vec::new(),
            threshold: None,
            detection_filter: None,
            block: None,
            tags: Vec::new(),
            sid: None,
            gid: None,
            rev: None,
            msg: None,
            classtype: None,
            priority: None,
            references: Vec::new(),
            metadata: Vec::new(),
            target: None,
            alert: false,
        };
        for o in &ast.options {
            option(&mut st, o);
        }
        st.finish_pending();
        check_absents(&mut st);
        let transforms = std::mem::take(&mut st.chains).finish(st.payload.len());
        let tx_dirs = std::mem::take(&mut st.dirs).finish(st.payload.len());
        // A sid swallowed by a broken option (e.g. a missing `;`) was already reported.
        let sid_written = ast.options.iter().any(|o| {
            o.name.text == "sid"
                || (!st.diags.is_empty() && o.value.is_some_and(|v| v.text.contains("sid:")))
        });
        if st.sid.is_none() && !sid_written {
            let at = ast.options.last().map_or(ast.span, |o| o.span);
            let d = Diagnostic::new(
                Code::MissingSid,
                file,
                Span::new(ast.span.start, ast.action.span.end),
                "rule has no sid",
            )
            .label("this rule")
            .help("every rule needs a unique sid, e.g. `sid:1000001; rev:1;`");
            st.diags
                .push(d.also(file, Span::new(at.end, at.end), "add it to the options"));
        }
        if !st.diags.is_empty() {
            return Err(st.diags);
        }
        let (sid, sid_span) = st.sid.expect("checked above");
        let priority = st
            .priority
            .or_else(|| st.classtype.as_deref().and_then(meta::classtype_priority));
        let mut rule = Rule {
            action: action.expect("checked"),
            proto: proto.expect("checked"),
            src: src.expect("checked"),
            src_ports: src_ports.expect("checked"),
            direction,
            dst: dst.expect("checked"),
            dst_ports: dst_ports.expect("checked"),
            meta: Meta {
                sid: Sid(sid),
                gid: Gid(st.gid.unwrap_or(1)),
                rev: st.rev.unwrap_or(0),
                msg: st.msg.unwrap_or_default(),
                classtype: st.classtype,
                priority,
                references: st.references,
                metadata: st.metadata,
                target: st.target,
                alert: st.alert,
            },
            header: st.header,
            payload: st
                .payload
                .into_iter()
                .map(|t| t.expect("every slot filled when there are no errors"))
                .collect(),
            flow: {
                let mut f = st.flow.map(|f| f.0).unwrap_or_default();
                // An explicit flow:only_stream/no_stream wins over the protocol's variant.
                f.stream = f.stream.or(stream_of_protocol(ast.protocol.text));
                f
            },
            flowbits: st.flowbits,
            threshold: st.threshold,
            detection_filter: st.detection_filter,
            block: st.block,
            vars: st.vars,
            transforms,
            tx_dirs,
            state: st.state,
            tags: st.tags,
            origin: Origin {
                file: file_name.to_string(),
                line,
                commented: ast.commented,
            },
        };
        // Data set files are named relative to the rule file, as Suricata reads them.
        let dir = std::path::Path::new(file_name).parent();
        for t in &mut rule.payload {
            if let PayloadTest::Tx(TxPred::FileHash { path, .. }) = t {
                *path = crate::keywords::file::resolve_list(path, file_name);
                continue;
            }
            if let (PayloadTest::Dataset(d), Some(dir)) = (t, dir) {
                for l in [d.load.as_mut(), d.state.as_mut()].into_iter().flatten() {
                    if !std::path::Path::new(l).is_absolute() {
                        *l = dir.join(&*l).to_string_lossy().into_owned();
                    }
                }
            }
        }
        Ok(Lowered { rule, sid_span })
    }
}

enum Resolved {
    Addr(IpSet),
    Port(PortSet),
}

/// Decides how `http_uri`-style keywords behave in this rule. In Snort 2 they modify the
/// content before them; in Snort 3 (and Suricata when written first) they are sticky
/// buffers for what follows. The rule is read as sticky-style if one of them appears where
/// no content precedes it, or if the rule is otherwise written in Snort 3 syntax (a short
/// header, `service`, `rem`, `bufferlen`, `raw_data`, or inline content modifiers such as
/// `content:"a",nocase`). Otherwise they are Snort 2 modifiers: deciding per keyword ("sticky
/// if a content follows") would misread the common Snort 2 form
/// `content:"a"; http_uri; content:"b"; http_uri;`.
fn legacy_is_sticky(ast: &RuleAst<'_>) -> bool {
    if ast.short_header {
        return true;
    }
    let mut pending = false;
    for o in &ast.options {
        match o.name.text {
            "content" | "uricontent" => {
                pending = true;
                if o.value.is_some_and(|v| snort3_inline_content(v.text)) {
                    return true;
                }
            }
            "service" | "rem" | "bufferlen" | "raw_data" => return true,
            name => match buffers::lookup(name) {
                Some((_, Form::Sticky)) => pending = false,
                Some((_, Form::Legacy)) if !pending => return true,
                _ => {}
            },
        }
    }
    false
}

/// True for `"abc",nocase`: a comma after the closing quote (modifiers hold no quotes, so
/// the last quote is the closing one). Cheap, as it runs on every content of every rule.
fn snort3_inline_content(v: &str) -> bool {
    v.rfind('"')
        .is_some_and(|i| v[i + 1..].trim_start().starts_with(','))
}

/// `app-layer-protocol`: parsed, then checked against the header's protocol and the rule's
/// earlier such keywords as Suricata's setup does.
fn lower_app_proto(st: &mut State, o: &OptionAst<'_>) {
    use crate::keywords::app_proto;
    let Some(v) = need_value(st, o) else { return };
    let a = match app_proto::parse(v.text) {
        Ok(a) => a,
        Err(e) => return st.kw_err(o, e),
    };
    if let Some(Protocol::App(p)) = st.proto {
        st.kw_err(
            o,
            KwError::code(
                Code::Conflict,
                format!("the header already names the protocol {}", p.name()),
            )
            .help("write the rule on tcp or udp to test the detected protocol"),
        );
        return;
    }
    let clash = st.state.iter().find_map(|t| match t {
        StateTest::AppProto(earlier) => app_proto::conflict(earlier, &a),
        _ => None,
    });
    match clash {
        Some(why) => st.kw_err(o, KwError::code(Code::Conflict, why)),
        None => st.state.push(StateTest::AppProto(a)),
    }
}

fn need_value<'a>(st: &mut State, o: &OptionAst<'a>) -> Option<Node<'a>> {
    match o.value {
        Some(v) if !v.text.is_empty() => Some(v),
        _ => {
            st.err(
                Code::BadValue,
                o.name.span,
                format!("`{}` needs a value", o.name.text),
            )
            .label("missing `:value`")
            .help(format!("write {}:<value>;", o.name.text));
            None
        }
    }
}

fn no_value(st: &mut State, o: &OptionAst<'_>) -> bool {
    if let Some(v) = o.value {
        st.err(
            Code::BadValue,
            v.span,
            format!("`{}` takes no value", o.name.text),
        )
        .label("unexpected value");
        return false;
    }
    true
}

/// Parses a number that may be a byte_extract variable (for offset/depth/distance/within).
fn operand(
    st: &mut State,
    o: &OptionAst<'_>,
    v: Node<'_>,
    allow_negative: bool,
) -> Option<Operand> {
    let t = v.text;
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        match numeric::parse_i64(t) {
            Ok(n) if n < 0 && !allow_negative => {
                st.err(
                    Code::BadValue,
                    v.span,
                    format!("{} must not be negative", o.name.text),
                )
                .label("negative");
                None
            }
            Ok(n) if n.unsigned_abs() > 65535 * 16 => {
                st.err(
                    Code::BadValue,
                    v.span,
                    format!("{} {n} is out of range", o.name.text),
                )
                .label("too large");
                None
            }
            Ok(n) => Some(Operand::Lit(n)),
            Err(e) => {
                st.kw_err(o, e);
                None
            }
        }
    } else if let Some(s) = st.var_slot(t) {
        Some(Operand::Var(s))
    } else {
        st.err(
            Code::UndefinedVariable,
            v.span,
            format!("`{t}` is neither a number nor a byte_extract variable"),
        )
        .label("unknown name")
        .help("define it first with byte_extract:<count>,<offset>,<name>");
        None
    }
}

fn u32_value(st: &mut State, o: &OptionAst<'_>) -> Option<u32> {
    let v = need_value(st, o)?;
    match numeric::parse_u64(v.text)
        .ok()
        .and_then(|n| u32::try_from(n).ok())
    {
        Some(n) => Some(n),
        None => {
            st.err(
                Code::BadValue,
                v.span,
                format!("{} must be a number 0-4294967295", o.name.text),
            )
            .label("not a number");
            None
        }
    }
}

/// `absent`: right after a sticky buffer that can be missing (see [`absent`]).
fn lower_absent(st: &mut State, o: &OptionAst<'_>) {
    st.finish_pending();
    let or_else = match absent::parse(o.value.map(|v| v.text)) {
        Ok(x) => x,
        Err(e) => return st.kw_err(o, e),
    };
    let buffer = st.buffer;
    if !absent::buffer_can_be_absent(buffer) {
        st.err(
            Code::BadValue,
            o.name.span,
            "absent needs a sticky buffer before it",
        )
        .label("no buffer that could be absent")
        .help("write it right after a buffer keyword, e.g. `http.request_body; absent;`");
        return;
    }
    let tested = st
        .payload
        .iter()
        .flatten()
        .any(|t| crate::classify::test_buffer(t) == Some(buffer));
    if tested {
        st.err(
            Code::BadValue,
            o.name.span,
            "absent must come first right after its buffer",
        )
        .label("the buffer was already tested")
        .help("move `absent` before the buffer's other tests");
        return;
    }
    st.absents.push((st.payload.len(), o.span));
    st.push_test(PayloadTest::Absent { or_else, buffer });
}

/// Suricata's checks of each `absent` against the rest of its buffer's tests.
fn check_absents(st: &mut State) {
    for (slot, span) in std::mem::take(&mut st.absents) {
        let Some(Some(PayloadTest::Absent { or_else, buffer })) = st.payload.get(slot).cloned()
        else {
            continue;
        };
        let others: Vec<&PayloadTest> = st
            .payload
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != slot)
            .filter_map(|(_, t)| t.as_ref())
            .filter(|t| crate::classify::test_buffer(t) == Some(buffer))
            .collect();
        let fast = others
            .iter()
            .any(|t| matches!(t, PayloadTest::Content(c) if c.fast_pattern().is_some()));
        if let Err(e) = absent::check(or_else, others.len(), fast) {
            let d = Diagnostic::new(Code::BadValue, st.file, span, format!("absent: {}", e.msg))
                .label("invalid `absent`");
            st.diags.push(match e.help {
                Some(h) => d.help(h),
                None => d,
            });
        }
    }
}

/// Lowers one option into the rule state.
fn option(st: &mut State, o: &OptionAst<'_>) {
    let name = o.name.text;
    match name {
        "tls.subject" | "tls.issuerdn" | "tls.fingerprint" => legacy_tls(st, o),
        "filename" | "fileext" | "filemagic" => legacy_file(st, o),
        t if txpred::lookup(t).is_some() => {
            let Some(k) = txpred::lookup(t) else { return };
            match (k.parse)(o.value.map(|v| v.text)) {
                Ok(p) => st.push_test(PayloadTest::Tx(p)),
                Err(e) => st.kw_err(o, e),
            }
        }
        t if transform::NAMES.contains(&t) => {
            let r = transform::parse(t, o.value.map(|v| v.text))
                .and_then(|tr| st.chains.push(st.buffer, tr, st.payload.len()));
            if let Err(e) = r {
                st.kw_err(o, e);
            }
        }
        "absent" => lower_absent(st, o),
        "content" | "uricontent" => {
            st.finish_pending();
            st.poisoned = false;
            let Some(v) = need_value(st, o) else {
                st.poisoned = true;
                return;
            };
            match content::parse_content(v.text) {
                Ok(c) => {
                    let slot = st.payload.len();
                    st.payload.push(None);
                    let mut p = Pending {
                        slot,
                        span: o.span,
                        pattern: c.bytes,
                        negated: c.negated,
                        nocase: false,
                        buffer: st.buffer,
                        buffer_set: None,
                        offset: None,
                        depth: None,
                        distance: None,
                        within: None,
                        starts: None,
                        ends: None,
                        fast_pattern: None,
                        replace: None,
                    };
                    if name == "uricontent" {
                        p.buffer = Buffer::App(AppBuffer::HttpUri);
                        p.buffer_set = Some(("uricontent", o.name.span));
                    }
                    st.pending = Some(p);
                    // Snort 3 inline modifiers: `content:"a",nocase,depth 4;`
                    for (k, val, at) in c.inline {
                        let kspan = v.span.sub(at, at + k.len());
                        let vnode = val.map(|t| {
                            let off = v.text[at..].find(t).map_or(at, |i| at + i);
                            Node {
                                text: t,
                                span: v.span.sub(off, off + t.len()),
                            }
                        });
                        let sub = OptionAst {
                            name: Node {
                                text: k,
                                span: kspan,
                            },
                            value: vnode,
                            span: kspan,
                        };
                        if matches!(
                            k,
                            "nocase" | "offset" | "depth" | "distance" | "within" | "fast_pattern"
                        ) {
                            modifier(st, &sub);
                        } else {
                            st.err(
                                Code::BadValue,
                                kspan,
                                format!("`{k}` is not a content modifier"),
                            )
                            .label("here");
                        }
                    }
                }
                Err(e) => {
                    st.poisoned = true;
                    st.kw_err(o, e);
                }
            }
        }
        "nocase" | "rawbytes" | "depth" | "offset" | "distance" | "within" | "fast_pattern"
        | "replace" | "startswith" | "endswith" => modifier(st, o),
        "pcre" => {
            let Some(v) = need_value(st, o) else { return };
            match pcre::parse_pcre(v.text, st.buffer) {
                Ok(p) => st.push_test(PayloadTest::Pcre(p)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "byte_test" | "byte_jump" | "isdataat" => {
            let Some(v) = need_value(st, o) else { return };
            let vars = st.vars.clone();
            let lookup = move |n: &str| vars.iter().position(|x| x == n).map(|i| VarSlot(i as u8));
            let r = match name {
                "byte_test" => {
                    byte::parse_byte_test(v.text, st.buffer, &lookup).map(PayloadTest::ByteTest)
                }
                "byte_jump" => {
                    byte::parse_byte_jump(v.text, st.buffer, &lookup).map(PayloadTest::ByteJump)
                }
                _ => byte::parse_isdataat(v.text, st.buffer, &lookup).map(PayloadTest::Isdataat),
            };
            match r {
                Ok(t) => st.push_test(t),
                Err(e) => st.kw_err(o, e),
            }
        }
        "byte_extract" => {
            let Some(v) = need_value(st, o) else { return };
            if st.vars.len() >= MAX_RULE_VARS {
                st.err(
                    Code::BadValue,
                    o.span,
                    format!("more than {MAX_RULE_VARS} byte_extract variables in one rule"),
                )
                .label("one too many");
                return;
            }
            match byte::parse_byte_extract(v.text, st.buffer, VarSlot(st.vars.len() as u8)) {
                Ok(e) => {
                    if st.vars.contains(&e.name) {
                        st.err(
                            Code::Conflict,
                            v.span,
                            format!("variable `{}` is already defined in this rule", e.name),
                        )
                        .label("redefined");
                        return;
                    }
                    st.vars.push(e.name.clone());
                    st.push_test(PayloadTest::ByteExtract(e));
                }
                Err(e) => st.kw_err(o, e),
            }
        }
        "byte_math" => {
            let Some(v) = need_value(st, o) else { return };
            if st.vars.len() >= MAX_RULE_VARS {
                st.err(
                    Code::BadValue,
                    o.span,
                    format!(
                        "more than {MAX_RULE_VARS} byte_extract/byte_math variables in one rule"
                    ),
                )
                .label("one too many");
                return;
            }
            let vars = st.vars.clone();
            let lookup = move |n: &str| vars.iter().position(|x| x == n).map(|i| VarSlot(i as u8));
            let slot = VarSlot(st.vars.len() as u8);
            match byte_math::parse_byte_math(v.text, st.buffer, slot, &lookup) {
                Ok(m) => {
                    if st.vars.contains(&m.name) {
                        st.err(
                            Code::Conflict,
                            v.span,
                            format!("variable `{}` is already defined in this rule", m.name),
                        )
                        .label("redefined");
                        return;
                    }
                    st.vars.push(m.name.clone());
                    st.push_test(PayloadTest::ByteMath(m));
                }
                Err(e) => st.kw_err(o, e),
            }
        }
        "dataset" | "datarep" => {
            let Some(v) = need_value(st, o) else { return };
            let parse = if name == "dataset" {
                dataset::parse_dataset
            } else {
                dataset::parse_datarep
            };
            match parse(v.text, st.buffer) {
                Ok(d) => st.push_test(PayloadTest::Dataset(d)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "stream_size" | "xbits" | "flowint" => {
            let Some(v) = need_value(st, o) else { return };
            let r = match name {
                "stream_size" => state::parse_stream_size(v.text).map(StateTest::StreamSize),
                "xbits" => state::parse_xbits(v.text).map(StateTest::Xbits),
                _ => state::parse_flowint(v.text).map(StateTest::Flowint),
            };
            match r {
                Ok(t) => st.state.push(t),
                Err(e) => st.kw_err(o, e),
            }
        }
        "app-layer-protocol" => lower_app_proto(st, o),
        "bsize" | "bufferlen" | "urilen" => {
            let Some(v) = need_value(st, o) else { return };
            let (cmp_text, buffer) = if name == "urilen" {
                match v.text.split_once(',') {
                    Some((c, "norm")) | Some((c, " norm")) => (c, Buffer::App(AppBuffer::HttpUri)),
                    Some((c, m)) if m.trim() == "norm" => (c, Buffer::App(AppBuffer::HttpUri)),
                    Some((c, m)) if m.trim() == "raw" => (c, Buffer::App(AppBuffer::HttpRawUri)),
                    Some((_, m)) => {
                        let at = v.text.len() - m.len();
                        st.kw_err(
                            o,
                            KwError::value(format!("`{}` is not norm or raw", m.trim()))
                                .at(at, v.text.len()),
                        );
                        return;
                    }
                    None => (v.text, Buffer::App(AppBuffer::HttpUri)),
                }
            } else {
                (v.text, st.buffer)
            };
            match numeric::parse_cmp(cmp_text, 65535 * 16, name) {
                Ok(cmp) => st.push_test(PayloadTest::BufferSize { cmp, buffer }),
                Err(e) => st.kw_err(o, e),
            }
        }
        "base64_decode" => {
            st.base64_decode_seen = true;
            let buffer = base64_source(st);
            match keywords::base64::parse(o.value.map(|v| v.text), buffer) {
                Ok(d) => st.push_test(PayloadTest::Base64Decode(d)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "asn1" => {
            let Some(v) = need_value(st, o) else { return };
            match keywords::asn1::parse(v.text, st.buffer) {
                Ok(a) => st.push_test(PayloadTest::Asn1(a)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "flow" => {
            let Some(v) = need_value(st, o) else { return };
            if let Some((_, first)) = st.flow {
                st.err(Code::Conflict, o.span, "flow given twice")
                    .label("second flow")
                    .also(first, "first flow");
                return;
            }
            match flow::parse_flow(v.text) {
                Ok(f) => st.flow = Some((f, o.span)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "flowbits" => {
            let Some(v) = need_value(st, o) else { return };
            match flow::parse_flowbits(v.text) {
                Ok(f) => st.flowbits.push(f),
                Err(e) => st.kw_err(o, e),
            }
        }
        "noalert" => {
            if no_value(st, o) {
                st.flowbits.push(Flowbits {
                    cmd: FlowbitCmd::NoAlert,
                    names: Vec::new(),
                    op: BitsOp::All,
                    group: None,
                });
            }
        }
        "flags" | "tcp.flags" => {
            let Some(v) = need_value(st, o) else { return };
            match header::parse_flags(v.text) {
                Ok(f) => st.header.push(HeaderTest::Flags(f)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "fragbits" => {
            let Some(v) = need_value(st, o) else { return };
            match header::parse_fragbits(v.text) {
                Ok((bits, mode)) => st.header.push(HeaderTest::Fragbits { bits, mode }),
                Err(e) => st.kw_err(o, e),
            }
        }
        "ip_proto" => {
            let Some(v) = need_value(st, o) else { return };
            match header::parse_ip_proto(v.text) {
                Ok(c) => st.header.push(HeaderTest::IpProto(c)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "ipopts" => {
            let Some(v) = need_value(st, o) else { return };
            match header::parse_ipopts(v.text) {
                Ok(s) => st.header.push(HeaderTest::IpOpts(s)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "tcp.mss" => {
            let Some(v) = need_value(st, o) else { return };
            match keywords::tcp_opt::parse_tcp_mss(v.text) {
                Ok(h) => st.header.push(h),
                Err(e) => st.kw_err(o, e),
            }
        }
        "icmpv6.mtu" => {
            let Some(v) = need_value(st, o) else { return };
            match keywords::icmpv6::parse_icmpv6_mtu(v.text) {
                Ok(h) => st.header.push(h),
                Err(e) => st.kw_err(o, e),
            }
        }
        "sameip" => {
            if no_value(st, o) {
                st.header.push(HeaderTest::SameIp);
            }
        }
        "threshold" => {
            let Some(v) = need_value(st, o) else { return };
            if st.threshold.is_some() {
                st.err(Code::Conflict, o.span, "threshold given twice")
                    .label("second threshold");
                return;
            }
            match meta::parse_threshold(v.text) {
                Ok(t) => st.threshold = Some(t),
                Err(e) => st.kw_err(o, e),
            }
        }
        "tag" => {
            let Some(v) = need_value(st, o) else { return };
            match crate::keywords::tag::parse_tag(v.text) {
                Ok(t) => st.tags.push(t),
                Err(e) => st.kw_err(o, e),
            }
        }
        "detection_filter" => {
            let Some(v) = need_value(st, o) else { return };
            if st.detection_filter.is_some() {
                st.err(Code::Conflict, o.span, "detection_filter given twice")
                    .label("second detection_filter");
                return;
            }
            match meta::parse_detection_filter(v.text) {
                Ok(t) => st.detection_filter = Some(t),
                Err(e) => st.kw_err(o, e),
            }
        }
        "fwsam" => {
            let Some(v) = need_value(st, o) else { return };
            if st.block.is_some() {
                st.err(Code::Conflict, o.span, "fwsam given twice")
                    .label("second fwsam");
                return;
            }
            match fwsam::parse_fwsam(v.text) {
                Ok(b) => st.block = Some(b),
                Err(e) => st.kw_err(o, e),
            }
        }
        "sid" => {
            let Some(n) = u32_value(st, o) else { return };
            if let Some((_, first)) = st.sid {
                st.err(Code::Conflict, o.span, "sid given twice in one rule")
                    .label("second sid")
                    .also(first, "first sid");
                return;
            }
            if n == 0 {
                st.err(
                    Code::BadValue,
                    o.value.map_or(o.span, |v| v.span),
                    "sid must be positive",
                )
                .label("zero");
                return;
            }
            st.sid = Some((n, o.span));
        }
        "gid" => {
            if let Some(n) = u32_value(st, o) {
                st.gid = Some(n);
            }
        }
        "rev" => {
            if let Some(n) = u32_value(st, o) {
                st.rev = Some(n);
            }
        }
        "priority" => {
            if let Some(n) = u32_value(st, o) {
                st.priority = Some(n);
            }
        }
        "msg" => {
            let Some(v) = need_value(st, o) else { return };
            match content::parse_string(v.text) {
                Ok(s) => st.msg = Some(s),
                Err(e) => st.kw_err(o, e),
            }
        }
        "classtype" => {
            let Some(v) = need_value(st, o) else { return };
            let t = v.text.trim();
            if meta::classtype_priority(t).is_none() {
                let best = meta::CLASSTYPES
                    .iter()
                    .map(|(n, _)| (keywords::levenshtein(t, n), *n))
                    .min_by_key(|(d, _)| *d)
                    .filter(|(d, _)| *d <= 4)
                    .map(|(_, n)| n);
                let d = st
                    .err(
                        Code::UnknownClasstype,
                        v.span,
                        format!("unknown classtype `{t}`"),
                    )
                    .label("not in classification.config");
                if let Some(b) = best {
                    d.help(format!("did you mean `{b}`?"));
                }
                return;
            }
            st.classtype = Some(t.to_string());
        }
        "reference" => {
            let Some(v) = need_value(st, o) else { return };
            match meta::parse_reference(v.text) {
                Ok(r) => st.references.push(r),
                Err(e) => st.kw_err(o, e),
            }
        }
        "metadata" => {
            let Some(v) = need_value(st, o) else { return };
            match meta::parse_metadata(v.text) {
                Ok(m) => st.metadata.extend(m),
                Err(e) => st.kw_err(o, e),
            }
        }
        "service" => {
            let Some(v) = need_value(st, o) else { return };
            for (_, s) in keywords::split_args(v.text) {
                st.metadata.push(("service".into(), s.to_string()));
            }
        }
        "rem" => {
            let Some(v) = need_value(st, o) else { return };
            match content::parse_string(v.text) {
                Ok(s) => st.metadata.push(("rem".into(), s)),
                Err(e) => st.kw_err(o, e),
            }
        }
        "alert" => {
            if no_value(st, o) {
                st.alert = true;
            }
        }
        "target" => {
            let Some(v) = need_value(st, o) else { return };
            match v.text.trim() {
                t @ ("src_ip" | "dest_ip") => st.target = Some(t.to_string()),
                t => {
                    st.err(
                        Code::BadValue,
                        v.span,
                        format!("target must be src_ip or dest_ip, not `{t}`"),
                    )
                    .label("here");
                }
            }
        }
        _ => {
            if let Some((n, _)) = header::numeric(name) {
                let _ = n;
                numeric_header(st, o);
            } else if let Some((buf, form)) = buffers::lookup(name) {
                buffer_keyword(st, o, buf, form);
            } else {
                unknown(st, o);
            }
        }
    }
}

fn numeric_header(st: &mut State, o: &OptionAst<'_>) {
    let (make, max) = header::numeric(o.name.text).expect("caller checked");
    let Some(v) = need_value(st, o) else { return };
    match numeric::parse_cmp(v.text, max, o.name.text) {
        Ok(c) => st.header.push(make(c)),
        Err(e) => st.kw_err(o, e),
    }
}

/// The buffer a `base64_decode` reads: the sticky buffer; with none selected yet, the
/// buffer of the test before it (Suricata appends it to the list of the last content, pcre or
/// byte keyword, so Snort 2's `content:"x"; http_header; base64_decode:relative;` decodes
/// the header after "x").
fn base64_source(st: &State) -> Buffer {
    if st.buffer != Buffer::Payload || st.chains.selected() {
        return st.buffer;
    }
    st.pending
        .as_ref()
        .map(|p| p.buffer)
        .or_else(|| {
            st.payload
                .iter()
                .rev()
                .flatten()
                .find_map(crate::classify::test_buffer)
        })
        .unwrap_or(Buffer::Payload)
}

/// Suricata's rules for the `base64_data` buffer: it needs a `base64_decode` before it, and no
/// buffer may be selected after it. False when `buf` may not be selected here.
fn base64_data_order(st: &mut State, o: &OptionAst<'_>, buf: Buffer) -> bool {
    if st.buffer == Buffer::Base64Data && buf != Buffer::Base64Data {
        st.err(
            Code::Conflict,
            o.name.span,
            "no buffer can be selected after base64_data",
        )
        .label("buffer switch")
        .help("base64_data reads what base64_decode decoded; put its tests last in the rule");
        return false;
    }
    if buf == Buffer::Base64Data && !st.base64_decode_seen {
        st.err(
            Code::ModifierWithoutContent,
            o.name.span,
            "base64_data without a base64_decode before it",
        )
        .label("nothing decoded")
        .help("e.g. content:\"auth=\"; base64_decode:relative; base64_data; content:\"admin\";");
        return false;
    }
    true
}

fn buffer_keyword(st: &mut State, o: &OptionAst<'_>, buf: Buffer, form: Form) {
    // A sticky buffer takes a value only to name its side in a `=>` rule.
    if form != Form::Sticky && !no_value(st, o) {
        return;
    }
    if !base64_data_order(st, o, buf) {
        return;
    }
    let name: &'static str = buffers::canonical_keyword(o.name.text);
    if form == Form::Legacy && !st.legacy_sticky {
        // Snort 2: modifies the content before it.
        match st.pending.as_mut() {
            Some(p) => {
                if let Some((prev, ps)) = p.buffer_set {
                    if prev != name {
                        st.err(
                            Code::Conflict,
                            o.name.span,
                            format!("content already has buffer modifier `{prev}`"),
                        )
                        .label("second buffer")
                        .also(ps, "first buffer");
                    }
                    return;
                }
                p.buffer = buf;
                p.buffer_set = Some((name, o.name.span));
            }
            None => {
                if !st.poisoned {
                    st.err(
                        Code::ModifierWithoutContent,
                        o.name.span,
                        format!(
                            "`{}` modifies a content, but no content comes before it",
                            o.name.text
                        ),
                    )
                    .label("nothing to modify");
                }
            }
        }
        return;
    }
    st.finish_pending();
    if let (Buffer::Hdr(h), Some(p)) = (buf, st.proto) {
        if !h.fits(p) {
            st.err(
                Code::Conflict,
                o.name.span,
                format!("`{name}` cannot match in a rule on this protocol"),
            )
            .label("header buffer of another protocol")
            .help("use a rule protocol that carries this header (or `ip`)");
            return;
        }
    }
    if let Err(e) = st
        .dirs
        .select(buf, o.value.map(|v| v.text), st.payload.len())
    {
        st.kw_err(o, e);
        return;
    }
    st.buffer = buf;
    st.chains.select(buf, st.payload.len());
}

/// Suricata's legacy TLS keywords as the content they mean: `tls.subject` and
/// `tls.issuerdn` are "contains" on the certificate's subject/issuer, `tls.fingerprint` is
/// "equals" (case-insensitive) on its fingerprint; `!` negates. The sticky buffer is left
/// as it was: these keywords never selected one.
fn legacy_tls(st: &mut State, o: &OptionAst<'_>) {
    let Some(v) = need_value(st, o) else { return };
    let parsed = match content::parse_content(v.text) {
        Ok(c) => c,
        Err(e) => {
            st.kw_err(o, e);
            return;
        }
    };
    st.finish_pending();
    let exact = o.name.text == "tls.fingerprint";
    let buffer = Buffer::App(match o.name.text {
        "tls.subject" => AppBuffer::TlsCertSubject,
        "tls.issuerdn" => AppBuffer::TlsCertIssuer,
        _ => AppBuffer::TlsCertFingerprint,
    });
    let spec = ContentSpec {
        pattern: parsed.bytes,
        negated: parsed.negated,
        nocase: exact,
        position: if exact {
            Position::StartsWith
        } else {
            Position::Absolute {
                offset: Operand::Lit(0),
                depth: None,
            }
        },
        ends_with: exact,
        buffer,
        fast_pattern: None,
        replace: None,
    };
    match Content::new(spec) {
        Ok(c) => st.push_test(PayloadTest::Content(c)),
        Err(e) => {
            st.err(Code::BadValue, v.span, e.to_string()).label("here");
        }
    }
}

/// Suricata 7's legacy file string keywords as the content they mean on a per-file buffer:
/// `filename` is "contains" on `file.name`, `fileext` is "ends with `.ext`" on it,
/// `filemagic` is "contains" on `file.magic`; all case-insensitive, quotes optional, `!`
/// negates. The sticky buffer is left as it was, as Suricata resets it after them.
fn legacy_file(st: &mut State, o: &OptionAst<'_>) {
    let Some(v) = need_value(st, o) else { return };
    let t = v.text.trim();
    let (neg, body) = match t.strip_prefix('!') {
        Some(b) => (true, b.trim_start()),
        None => (false, t),
    };
    // Quotes are optional for these keywords: an unquoted value is the literal text.
    let quoted;
    let text = if body.starts_with('"') {
        v.text
    } else {
        quoted = format!("{}\"{body}\"", if neg { "!" } else { "" });
        &quoted
    };
    let parsed = match content::parse_content(text) {
        Ok(c) => c,
        Err(e) => {
            st.kw_err(o, e);
            return;
        }
    };
    st.finish_pending();
    let (pattern, ends_with) = crate::keywords::file::legacy_pattern(o.name.text, parsed.bytes);
    let buffer = Buffer::App(if o.name.text == "filemagic" {
        AppBuffer::FileMagic
    } else {
        AppBuffer::FileName
    });
    let spec = ContentSpec {
        pattern,
        negated: parsed.negated,
        nocase: true,
        position: Position::Absolute {
            offset: Operand::Lit(0),
            depth: None,
        },
        ends_with,
        buffer,
        fast_pattern: None,
        replace: None,
    };
    match Content::new(spec) {
        Ok(c) => st.push_test(PayloadTest::Content(c)),
        Err(e) => {
            st.err(Code::BadValue, v.span, e.to_string()).label("here");
        }
    }
}

/// A content modifier: applies to the most recent content.
fn modifier(st: &mut State, o: &OptionAst<'_>) {
    let name = o.name.text;
    if st.pending.is_none() {
        if !st.poisoned {
            let code = if matches!(name, "distance" | "within") {
                Code::RelativeWithoutContent
            } else {
                Code::ModifierWithoutContent
            };
            st.err(
                code,
                o.name.span,
                format!("`{name}` without a previous content"),
            )
            .label(format!("`{name}` modifies the content before it"))
            .help(format!(
                "put `{name}` after the content it modifies, e.g. content:\"abc\"; {name}{};",
                if matches!(
                    name,
                    "nocase" | "rawbytes" | "startswith" | "endswith" | "fast_pattern"
                ) {
                    ""
                } else {
                    ":4"
                }
            ));
        }
        return;
    }
    let dup = |st: &mut State, first: Span| {
        st.err(
            Code::Conflict,
            o.span,
            format!("`{name}` given twice for one content"),
        )
        .label("second")
        .also(first, "first");
    };
    match name {
        "nocase" => {
            if no_value(st, o) {
                st.pending.as_mut().expect("checked").nocase = true;
            }
        }
        "startswith" | "endswith" => {
            if no_value(st, o) {
                let p = st.pending.as_mut().expect("checked");
                if name == "startswith" {
                    p.starts = Some(o.span);
                } else {
                    p.ends = Some(o.span);
                }
            }
        }
        "rawbytes" => {
            if !no_value(st, o) {
                return;
            }
            let p = st.pending.as_mut().expect("checked");
            if let Some((prev, ps)) = p.buffer_set {
                st.err(
                    Code::Conflict,
                    o.name.span,
                    format!("content already has buffer modifier `{prev}`"),
                )
                .label("rawbytes")
                .also(ps, "first buffer");
                return;
            }
            p.buffer = Buffer::Raw;
            p.buffer_set = Some(("rawbytes", o.name.span));
        }
        "depth" | "offset" | "distance" | "within" => {
            let Some(v) = need_value(st, o) else { return };
            let Some(op) = operand(st, o, v, matches!(name, "distance" | "offset")) else {
                return;
            };
            let p = st.pending.as_mut().expect("checked");
            let slot = match name {
                "depth" => &mut p.depth,
                "offset" => &mut p.offset,
                "distance" => &mut p.distance,
                _ => &mut p.within,
            };
            if let Some((_, first)) = *slot {
                dup(st, first);
                return;
            }
            *slot = Some((op, o.span));
        }
        "fast_pattern" => {
            let fp = match o.value.map(|v| v.text.trim()) {
                None | Some("") => FastPattern::Whole,
                Some("only") => FastPattern::Only,
                Some(t) => {
                    let v = o.value.expect("some");
                    let parsed = t.split_once(',').and_then(|(a, b)| {
                        Some((numeric::parse_u64(a).ok()?, numeric::parse_u64(b).ok()?))
                    });
                    match parsed {
                        Some((off, len)) if off <= u16::MAX as u64 && len <= u16::MAX as u64 => {
                            FastPattern::Slice {
                                offset: off as u16,
                                len: len as u16,
                            }
                        }
                        _ => {
                            st.err(
                                Code::BadValue,
                                v.span,
                                format!(
                                    "fast_pattern value `{t}` is not `only` or `offset,length`"
                                ),
                            )
                            .label("here");
                            return;
                        }
                    }
                }
            };
            let p = st.pending.as_mut().expect("checked");
            if let Some((_, first)) = p.fast_pattern {
                dup(st, first);
                return;
            }
            p.fast_pattern = Some((fp, o.span));
        }
        "replace" => {
            let Some(v) = need_value(st, o) else { return };
            match content::parse_content(v.text) {
                Ok(c) if c.negated || !c.inline.is_empty() => {
                    st.err(Code::BadValue, v.span, "replace takes a plain string")
                        .label("here");
                }
                Ok(c) => {
                    let p = st.pending.as_mut().expect("checked");
                    if let Some((_, first)) = &p.replace {
                        let first = *first;
                        dup(st, first);
                        return;
                    }
                    if p.negated {
                        st.err(
                            Code::Conflict,
                            o.span,
                            "replace on a negated content: there is nothing to rewrite",
                        )
                        .label("replace");
                        return;
                    }
                    p.replace = Some((c.bytes, o.span));
                }
                Err(e) => st.kw_err(o, e),
            }
        }
        _ => unreachable!("modifier names are matched by the caller"),
    }
}

fn unknown(st: &mut State, o: &OptionAst<'_>) {
    let name = o.name.text;
    match keywords::lookup(name).map(|k| k.status) {
        Some(Status::Unsupported(why)) => {
            st.err(Code::UnsupportedKeyword, o.name.span, format!("`{name}` is not supported: {why}"))
                .label("unsupported keyword")
                .help("the rule is rejected rather than loaded with a different meaning; disable or rewrite it");
        }
        Some(Status::Obsolete(instead)) => {
            st.err(
                Code::ObsoleteKeyword,
                o.name.span,
                format!("`{name}` is obsolete"),
            )
            .label("obsolete keyword")
            .help(instead.to_string());
        }
        Some(Status::Supported) => {
            // Registry and lowering disagree; a unit test keeps this unreachable.
            st.err(
                Code::UnsupportedKeyword,
                o.name.span,
                format!("`{name}` is registered but not lowered"),
            )
            .label("internal error");
        }
        None => {
            let d = st
                .err(
                    Code::UnknownKeyword,
                    o.name.span,
                    format!("unknown keyword `{name}`"),
                )
                .label("unknown keyword");
            if let Some(s) = keywords::suggest(name) {
                d.help(format!("did you mean `{s}`?"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{load_str, LoadOptions};
    use crate::keywords::{Status, KEYWORDS};

    fn one(vars: crate::vars::Vars, rule: &str) -> Result<crate::ir::Rule, String> {
        let opts = LoadOptions {
            include_commented: false,
            vars,
        };
        let (_, l) = load_str("v.rules", rule, &opts);
        match l.diagnostics.first() {
            Some(d) => Err(d.message.clone()),
            None => Ok(l.rules[0].clone()),
        }
    }

    #[test]
    fn variables_resolve_and_report_precisely() {
        let mut v = crate::vars::Vars::default();
        v.set("HOME_NET", "[192.0.2.0/24, 2001:db8::/32]");
        v.set("BAD", "[10.0.0.0/33]");
        v.set("WEB", "[80,8080:8089,!8081]");
        let r = one(
            v.clone(),
            "alert tcp $EXTERNAL_NET any -> $HOME_NET $WEB (sid:1;)",
        )
        .unwrap();
        assert!(
            r.dst.contains("192.0.2.9".parse().unwrap())
                && r.dst.contains("2001:db8::1".parse().unwrap())
        );
        assert!(
            !r.src.contains("192.0.2.9".parse().unwrap())
                && r.src.contains("198.51.100.1".parse().unwrap())
        );
        assert_eq!(
            r.dst_ports.ranges(),
            &[(80, 80), (8080, 8080), (8082, 8089)]
        );
        let e = one(v.clone(), "alert tcp $BAD any -> any any (sid:1;)").unwrap_err();
        assert!(
            e.contains("in $BAD = \"[10.0.0.0/33]\"") && e.contains("/33"),
            "{e}"
        );
        let e = one(v.clone(), "alert tcp $WEB any -> any any (sid:1;)").unwrap_err();
        assert!(e.contains("in $WEB"), "{e}");
        let e = one(v, "alert tcp any $HOME_NET -> any any (sid:1;)").unwrap_err();
        assert!(e.contains("not a valid port list"), "{e}");
    }

    /// Every keyword the registry calls supported is handled by the lowering (a wrong value
    /// may be rejected, but never as "unknown" or "not lowered").
    #[test]
    fn every_supported_keyword_is_lowered() {
        for k in KEYWORDS.iter().filter(|k| k.status == Status::Supported) {
            for opt in [format!("{};", k.name), format!("{}:1;", k.name)] {
                let text = format!("alert tcp any any -> any any (content:\"abcd\"; {opt} sid:1;)");
                let (_, l) = load_str("k.rules", &text, &LoadOptions::default());
                for d in &l.diagnostics {
                    assert!(
                        !d.message.contains("not lowered")
                            && !d.message.starts_with("unknown keyword"),
                        "{}: {}",
                        k.name,
                        d.message
                    );
                }
            }
        }
    }
}

//! Human-readable listings of bytecode programs, for snapshots and `--explain`: a header
//! block (what the program applies to, its prefilter and strategy), then one instruction per
//! line, numbered as `FastPatternRef::op_index` counts.

use crate::bytecode::{Insn, Program, L4};
use crate::classify::buffer_name;
use crate::ir::{
    BitsOp, Endian, FlagMode, FlowOpts, FlowbitCmd, HeaderTest, IpSet, NumBase, NumCmp, Operand,
    PortSet, Position, Track,
};
use crate::kernel::{fmt_addr_range, Family};
use crate::keywords::{byte, content, numeric, pcre};
use std::fmt::Write as _;

/// Snort-style byte string: printable ASCII as is, the rest as `|hex|` runs (`:` stays plain,
/// unlike in rule text).
pub fn escape_bytes(b: &[u8]) -> String {
    content::hex_escape(b, b"")
}

/// Text of an address set: `any`, its intervals, or `!` and the complement's when shorter
/// (`$EXTERNAL_NET` reads as `![10.0.0.0/8,...]`).
pub fn ipset(s: &IpSet) -> String {
    if s.is_any() {
        return "any".into();
    }
    let c = s.complement();
    let len = |s: &IpSet| s.v4.ranges().len() + s.v6.ranges().len();
    if !c.is_empty() && len(&c) < len(s) {
        return format!("!{}", ranges(&c));
    }
    ranges(s)
}

fn ranges(s: &IpSet) -> String {
    let mut parts: Vec<String> = Vec::new();
    if s.v4.is_full() {
        parts.push("0.0.0.0/0".into());
    } else {
        parts.extend(
            s.v4.ranges()
                .iter()
                .map(|&(a, b)| fmt_addr_range(Family::V4, (a as u128, b as u128))),
        );
    }
    if s.v6.is_full() {
        parts.push("::/0".into());
    } else {
        parts.extend(s.v6.ranges().iter().map(|&r| fmt_addr_range(Family::V6, r)));
    }
    if parts.is_empty() {
        return "none".into();
    }
    format!("[{}]", parts.join(","))
}

/// Text of a port set: `any`, `80`, `[80,1000:2000]`.
pub fn portset(s: &PortSet) -> String {
    if s.is_full() {
        return "any".into();
    }
    let parts: Vec<String> = s
        .ranges()
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(","))
    }
}

fn cmp(c: &NumCmp) -> String {
    match c {
        NumCmp::Eq(n) => format!("=={n}"),
        NumCmp::Ne(n) => format!("!={n}"),
        _ => numeric::cmp_text(*c),
    }
}

fn operand(o: &Operand) -> String {
    match o {
        Operand::Lit(n) => n.to_string(),
        Operand::Var(v) => format!("${}", v.0),
    }
}

fn position(p: &Position) -> String {
    match p {
        Position::Absolute { offset, depth } => match depth {
            Some(d) => format!("offset {} depth {}", operand(offset), operand(d)),
            None => format!("offset {}", operand(offset)),
        },
        Position::Relative { distance, within } => match within {
            Some(w) => format!("distance {} within {}", operand(distance), operand(w)),
            None => format!("distance {}", operand(distance)),
        },
        Position::StartsWith => "startswith".into(),
    }
}

fn flow(f: &FlowOpts) -> String {
    let mut v = Vec::new();
    match f.established {
        Some(true) => v.push("established"),
        Some(false) => v.push("not_established"),
        None => {}
    }
    if f.stateless {
        v.push("stateless");
    }
    match f.to_server {
        Some(true) => v.push("to_server"),
        Some(false) => v.push("to_client"),
        None => {}
    }
    match f.stream {
        Some(true) => v.push("only_stream"),
        Some(false) => v.push("no_stream"),
        None => {}
    }
    match f.frag {
        Some(true) => v.push("only_frag"),
        Some(false) => v.push("no_frag"),
        None => {}
    }
    v.join(",")
}

fn mode(m: FlagMode) -> &'static str {
    match m {
        FlagMode::Exact => "==",
        FlagMode::All => "+",
        FlagMode::Any => "*",
        FlagMode::Not => "!",
    }
}

fn header(h: &HeaderTest) -> String {
    let kw = crate::kernel::header_keyword(h);
    match h {
        HeaderTest::Dsize(c)
        | HeaderTest::Ttl(c)
        | HeaderTest::Tos(c)
        | HeaderTest::IpId(c)
        | HeaderTest::IpProto(c)
        | HeaderTest::Seq(c)
        | HeaderTest::Ack(c)
        | HeaderTest::Window(c)
        | HeaderTest::Itype(c)
        | HeaderTest::Icode(c)
        | HeaderTest::IcmpId(c)
        | HeaderTest::IcmpSeq(c)
        | HeaderTest::FragOffset(c) => format!("{kw} {}", cmp(c)),
        HeaderTest::Flags(f) => {
            format!(
                "flags {} 0x{:02x} ignore 0x{:02x}",
                mode(f.mode),
                f.flags,
                f.ignore
            )
        }
        HeaderTest::Fragbits { bits, mode: m } => format!("fragbits {} 0x{:x}", mode(*m), bits),
        HeaderTest::SameIp => "sameip".into(),
        HeaderTest::IpOpts(o) => format!("ipopts {o}"),
        HeaderTest::TcpMss(c) => format!("tcp.mss {}", crate::keywords::tcp_opt::tcp_mss_text(*c)),
        HeaderTest::Icmpv6Mtu(c) => {
            format!(
                "icmpv6.mtu {}",
                crate::keywords::icmpv6::icmpv6_mtu_text(*c)
            )
        }
    }
}

fn endian(e: Endian) -> &'static str {
    match e {
        Endian::Big => "be",
        Endian::Little => "le",
        Endian::Dce => "dce",
    }
}

fn base(b: NumBase) -> &'static str {
    match b {
        NumBase::Binary => "bin",
        NumBase::Dec => "dec",
        NumBase::Hex => "hex",
        NumBase::Oct => "oct",
    }
}

fn rel(r: bool) -> &'static str {
    if r {
        " relative"
    } else {
        ""
    }
}

fn bits(b: &[crate::bytecode::FlowbitId], op: BitsOp) -> String {
    let sep = if op == BitsOp::Any { "|" } else { "&" };
    b.iter()
        .map(|i| format!("#{}", i.0))
        .collect::<Vec<_>>()
        .join(sep)
}

fn track(t: Track) -> &'static str {
    match t {
        Track::BySrc => "by_src",
        Track::ByDst => "by_dst",
        Track::ByRule => "by_rule",
        Track::ByBoth => "by_both",
        Track::ByFlow => "by_flow",
    }
}

/// One instruction as text.
pub fn insn(i: &Insn) -> String {
    match i {
        Insn::Header(h) => format!("header    {}", header(h)),
        Insn::Tx(p) => format!(
            "tx        {}",
            crate::keywords::txpred::tx_option_text(p).trim_end_matches(';')
        ),
        Insn::FlowbitsTest { set, bits: b, op } => {
            format!(
                "flowbits  {} {}",
                if *set { "isset" } else { "isnotset" },
                bits(b, *op)
            )
        }
        Insn::Content {
            pattern,
            nocase,
            negated,
            buffer,
            position: p,
            ends_with,
            replace,
        } => {
            let mut s = format!(
                "content   {}\"{}\" {}{} in {}",
                if *negated { "!" } else { "" },
                escape_bytes(pattern),
                position(p),
                if *ends_with { " endswith" } else { "" },
                buffer_name(*buffer)
            );
            if *nocase {
                s.push_str(" nocase");
            }
            if let Some(r) = replace {
                let _ = write!(s, " replace \"{}\"", escape_bytes(r));
            }
            s
        }
        Insn::Pcre(p) => {
            let flags = pcre::pcre_flags(p);
            format!(
                "pcre      {}/{}/{} in {}",
                if p.negated { "!" } else { "" },
                p.pattern,
                flags,
                buffer_name(p.buffer)
            )
        }
        Insn::ByteTest(b) => format!(
            "byte_test {} {}{} {} at {}{} {} {}{}{}",
            operand(&b.count),
            if b.negated { "!" } else { "" },
            byte::byte_op_text(b.op),
            operand(&b.value),
            operand(&b.offset),
            rel(b.relative),
            endian(b.endian),
            base(b.base),
            b.bitmask
                .map(|m| format!(" mask 0x{m:x}"))
                .unwrap_or_default(),
            if b.buffer == crate::ir::Buffer::Payload {
                String::new()
            } else {
                format!(" in {}", buffer_name(b.buffer))
            }
        ),
        Insn::ByteJump(b) => format!(
            "byte_jump {} at {}{} x{} {} {}{}{}{}{}",
            operand(&b.count),
            operand(&b.offset),
            rel(b.relative),
            b.multiplier,
            endian(b.endian),
            base(b.base),
            if b.align { " align" } else { "" },
            if b.from_beginning {
                " from_beginning"
            } else if b.from_end {
                " from_end"
            } else {
                ""
            },
            if b.post_offset != 0 {
                format!(" post_offset {}", b.post_offset)
            } else {
                String::new()
            },
            b.bitmask
                .map(|m| format!(" mask 0x{m:x}"))
                .unwrap_or_default(),
        ),
        Insn::ByteExtract(b) => format!(
            "byte_extract {} at {}{} -> ${} ({}) x{} {} {}{}",
            b.count,
            b.offset,
            rel(b.relative),
            b.slot.0,
            b.name,
            b.multiplier,
            endian(b.endian),
            base(b.base),
            b.align.map(|a| format!(" align {a}")).unwrap_or_default(),
        ),
        Insn::Isdataat(d) => format!(
            "isdataat  {}{}{} in {}",
            if d.negated { "!" } else { "" },
            operand(&d.offset),
            rel(d.relative),
            buffer_name(d.buffer)
        ),
        Insn::Absent { or_else, buffer } => format!(
            "absent    {}in {}",
            if *or_else { "or_else " } else { "" },
            buffer_name(*buffer)
        ),
        Insn::BufferSize { cmp: c, buffer } => {
            format!("bsize     {} in {}", cmp(c), buffer_name(*buffer))
        }
        Insn::FlowbitsSet { cmd, bits: b } => {
            format!("effect    flowbits {:?} {}", cmd, bits(b, BitsOp::All)).to_lowercase()
        }
        Insn::FlowbitsReset => "effect    flowbits reset".into(),
        Insn::NoAlert => "effect    noalert".into(),
        Insn::PassAlert => "effect    alert".into(),
        Insn::StreamSize(st) => format!(
            "stream_size {} {}",
            crate::keywords::state::stream_size_text(st)
                .split(',')
                .next()
                .unwrap_or_default(),
            cmp(&st.cmp)
        ),
        Insn::AppProto { test, pd_only } => format!(
            "app-layer-protocol {}{}",
            crate::keywords::app_proto::text(test),
            if *pd_only {
                " (detection packet only)"
            } else {
                ""
            }
        ),
        Insn::Xbits(x) => {
            let test = matches!(x.cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet);
            format!(
                "{}xbits {}",
                if test { "" } else { "effect    " },
                crate::keywords::state::xbits_text(x)
            )
        }
        Insn::Flowint(f) => format!(
            "{}flowint {}",
            if f.op.is_effect() { "effect    " } else { "" },
            crate::keywords::state::flowint_text(f)
        ),
        Insn::Dataset(d) => format!(
            "dataset   {} in {}",
            crate::keywords::dataset::dataset_text(d),
            buffer_name(d.buffer)
        ),
        Insn::ByteMath(b) => format!(
            "byte_math {} at {}{} {:?} {} -> ${} ({}) {} {}{}",
            operand(&b.count),
            b.offset,
            rel(b.relative),
            b.oper,
            operand(&b.rvalue),
            b.slot.0,
            b.name,
            endian(b.endian),
            base(b.base),
            b.bitmask
                .map(|m| format!(" mask 0x{m:x}"))
                .unwrap_or_default(),
        )
        .to_lowercase(),
        Insn::Base64Decode(d) => format!(
            "base64_decode {} bytes at {}{} of {} -> base64_data",
            crate::keywords::base64::decode_len(d),
            d.offset,
            rel(d.relative),
            buffer_name(d.buffer)
        ),
        Insn::Asn1(a) => format!(
            "asn1      {} in {}",
            crate::keywords::asn1::text(a),
            buffer_name(a.buffer)
        ),
    }
}

fn l4(l: L4) -> &'static str {
    match l {
        L4::Any => "ip",
        L4::Tcp => "tcp",
        L4::Udp => "udp",
        L4::Icmp => "icmp",
        L4::Icmpv6 => "icmpv6",
        L4::Sctp => "sctp",
    }
}

/// A readable listing of one program.
pub fn program(p: &Program) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "program {}:{}:{} {} {}{}",
        p.gid,
        p.sid,
        p.rev,
        p.action.keyword(),
        l4(p.l4),
        p.app
            .map(|a| format!(" app {}", a.name()))
            .unwrap_or_default()
    );
    let _ = writeln!(s, "  msg       {:?}", p.msg);
    let _ = writeln!(
        s,
        "  match     {} {} {} {} {}",
        ipset(&p.src),
        portset(&p.src_ports),
        if p.bidirectional {
            "<>"
        } else if p.transactional {
            "=>"
        } else {
            "->"
        },
        ipset(&p.dst),
        portset(&p.dst_ports)
    );
    let f = flow(&p.flow);
    if !f.is_empty() {
        let _ = writeln!(s, "  flow      {f}");
    }
    if let Some(fp) = &p.fast_pattern {
        let _ = writeln!(
            s,
            "  prefilter \"{}\"{}{} in {} (op {})",
            escape_bytes(&fp.bytes),
            if fp.nocase { " nocase" } else { "" },
            if fp.only { " only" } else { "" },
            buffer_name(fp.buffer),
            fp.op_index
        );
    }
    let _ = writeln!(s, "  strategy  {}", p.strategy);
    // The payload tests a chain covers are numbered among the payload ops, in rule order.
    for t in &p.transforms {
        let mut chain: Vec<String> = t
            .chain
            .iter()
            .map(crate::keywords::transform::text)
            .collect();
        if chain.is_empty() {
            chain.push("(new instance)".into());
        }
        let _ = writeln!(
            s,
            "  transform {} (payload tests {}..{}): {}",
            buffer_name(t.buffer),
            t.tests.start,
            t.tests.end,
            chain.join(", ")
        );
    }
    for d in &p.tx_dirs {
        let _ = writeln!(
            s,
            "  side      {} (payload tests {}..{}): the {}",
            buffer_name(d.buffer),
            d.tests.start,
            d.tests.end,
            if d.to_server { "request" } else { "response" }
        );
    }
    if let Some(t) = &p.threshold {
        let _ = writeln!(
            s,
            "  threshold {} {} count {} seconds {}",
            match t.kind {
                crate::ir::ThresholdKind::Limit => "limit",
                crate::ir::ThresholdKind::Threshold => "threshold",
                crate::ir::ThresholdKind::Both => "both",
            },
            track(t.track),
            t.count,
            t.seconds
        );
    }
    for t in &p.tags {
        let _ = writeln!(s, "  tag       {}", crate::keywords::tag::tag_text(t));
    }
    if let Some(d) = &p.detection_filter {
        let _ = writeln!(
            s,
            "  detection_filter {} count {} seconds {}{}",
            track(d.track),
            d.count,
            d.seconds,
            match d.unique_on {
                Some(u) => format!(" unique_on {}", crate::keywords::meta::unique_on_text(u)),
                None => String::new(),
            }
        );
    }
    if let Some(b) = &p.block {
        let _ = writeln!(
            s,
            "  block     {} for {}s",
            if b.src { "src" } else { "dst" },
            b.seconds
        );
    }
    for (i, op) in p.ops.iter().enumerate() {
        let _ = writeln!(s, "  {i:04}  {}", insn(op));
    }
    s
}

//! Canonical rule text: one rule per line that re-parses to the same IR (apart from its
//! origin). Addresses and ports are written as explicit CIDR/range lists, buffers as sticky
//! buffer keywords, numbers in one form. Used by the round-trip test and by tools that
//! show what verdict understood.

use crate::ir::*;
use crate::keywords::{
    buffers, byte, byte_math, content, dataset, flow, fwsam, header, meta, numeric, pcre, state,
};
use std::fmt::Write as _;

/// CIDR blocks covering `lo..=hi` exactly (largest blocks first), for a domain of `bits` bits.
fn cidrs(lo: u128, hi: u128, bits: u32) -> Vec<(u128, u32)> {
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // Largest block aligned at `cur` that stays within `hi`.
        let mut size_log = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while size_log > 0 {
            let span = if size_log >= 128 {
                u128::MAX
            } else {
                (1u128 << size_log) - 1
            };
            if cur.checked_add(span).is_some_and(|end| end <= hi) {
                break;
            }
            size_log -= 1;
        }
        out.push((cur, bits - size_log));
        let span = if size_log >= 128 {
            u128::MAX
        } else {
            (1u128 << size_log) - 1
        };
        match cur.checked_add(span) {
            Some(end) if end < hi => cur = end + 1,
            _ => break,
        }
    }
    out
}

/// `any`, or the shorter of the explicit CIDR list and the negated list of its complement
/// (so `$EXTERNAL_NET` comes out as `![192.168.0.0/16,...]`).
fn ipset_text(s: &IpSet) -> String {
    if s.is_any() {
        return "any".into();
    }
    let direct = cidr_list(s);
    let comp = s.complement();
    if !comp.is_empty() {
        let negated = cidr_list(&comp);
        if negated.len() < direct.len() {
            return format!("!{negated}");
        }
    }
    direct
}

fn cidr_list(s: &IpSet) -> String {
    let mut parts = Vec::new();
    for &(lo, hi) in s.v4.ranges() {
        for (net, len) in cidrs(lo as u128, hi as u128, 32) {
            parts.push(format!("{}/{len}", std::net::Ipv4Addr::from(net as u32)));
        }
    }
    for &(lo, hi) in s.v6.ranges() {
        for (net, len) in cidrs(lo, hi, 128) {
            parts.push(format!("{}/{len}", std::net::Ipv6Addr::from(net)));
        }
    }
    format!("[{}]", parts.join(","))
}

fn ports_text(s: &PortSet) -> String {
    if s.is_full() {
        return "any".into();
    }
    let parts: Vec<String> = s
        .ranges()
        .iter()
        .map(|&(a, b)| match (a, b) {
            (a, b) if a == b => a.to_string(),
            (a, u16::MAX) => format!("{a}:"),
            (a, b) => format!("{a}:{b}"),
        })
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(","))
    }
}

/// The canonical text of a rule.
pub fn to_text(r: &Rule) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "{} {} {} {} {} {} {} (",
        r.action.keyword(),
        r.proto.name(),
        ipset_text(&r.src),
        ports_text(&r.src_ports),
        match r.direction {
            Direction::Both => "<>",
            Direction::Tx => "=>",
            Direction::To => "->",
        },
        ipset_text(&r.dst),
        ports_text(&r.dst_ports),
    );
    let m = &r.meta;
    let _ = write!(s, "msg:{}; ", content::string_text(&m.msg));
    if let Some(f) = flow::flow_text(&r.flow) {
        let _ = write!(s, "flow:{f}; ");
    }
    for fb in &r.flowbits {
        let _ = write!(s, "flowbits:{}; ", flow::flowbits_text(fb));
    }
    for t in &r.state {
        let _ = match t {
            StateTest::StreamSize(x) => write!(s, "stream_size:{}; ", state::stream_size_text(x)),
            StateTest::Xbits(x) => write!(s, "xbits:{}; ", state::xbits_text(x)),
            StateTest::Flowint(x) => write!(s, "flowint:{}; ", state::flowint_text(x)),
            StateTest::AppProto(x) => write!(
                s,
                "app-layer-protocol:{}; ",
                crate::keywords::app_proto::text(x)
            ),
        };
    }
    for h in &r.header {
        let (k, v) = match h {
            HeaderTest::Dsize(c) => ("dsize", numeric::cmp_text(*c)),
            HeaderTest::Ttl(c) => ("ttl", numeric::cmp_text(*c)),
            HeaderTest::Tos(c) => ("tos", numeric::cmp_text(*c)),
            HeaderTest::IpId(c) => ("id", numeric::cmp_text(*c)),
            HeaderTest::IpProto(c) => ("ip_proto", numeric::cmp_text(*c)),
            HeaderTest::Flags(f) => ("flags", header::flags_text(f)),
            HeaderTest::Seq(c) => ("seq", numeric::cmp_text(*c)),
            HeaderTest::Ack(c) => ("ack", numeric::cmp_text(*c)),
            HeaderTest::Window(c) => ("window", numeric::cmp_text(*c)),
            HeaderTest::Itype(c) => ("itype", numeric::cmp_text(*c)),
            HeaderTest::Icode(c) => ("icode", numeric::cmp_text(*c)),
            HeaderTest::IcmpId(c) => ("icmp_id", numeric::cmp_text(*c)),
            HeaderTest::IcmpSeq(c) => ("icmp_seq", numeric::cmp_text(*c)),
            HeaderTest::Fragbits { bits, mode } => {
                ("fragbits", header::fragbits_text(*bits, *mode))
            }
            HeaderTest::FragOffset(c) => ("fragoffset", numeric::cmp_text(*c)),
            HeaderTest::SameIp => {
                s.push_str("sameip; ");
                continue;
            }
            HeaderTest::IpOpts(o) => ("ipopts", o.clone()),
            HeaderTest::TcpMss(c) => ("tcp.mss", crate::keywords::tcp_opt::tcp_mss_text(*c)),
            HeaderTest::Icmpv6Mtu(c) => {
                ("icmpv6.mtu", crate::keywords::icmpv6::icmpv6_mtu_text(*c))
            }
        };
        let _ = write!(s, "{k}:{v}; ");
    }
    // The buffer and transform selection the previous test read.
    let mut cur: (Buffer, Option<usize>, Option<usize>) = (Buffer::Payload, None, None);
    let mut switch = |s: &mut String, i: usize, b: Buffer| {
        let sel = r.transforms.iter().position(|t| t.covers(i, b));
        let dir = r.tx_dirs.iter().position(|d| d.covers(i, b));
        if (b, sel, dir) != cur {
            match dir.and_then(|x| r.tx_dirs.get(x)) {
                Some(d) => {
                    let side = if d.to_server {
                        "to_server"
                    } else {
                        "to_client"
                    };
                    let _ = write!(s, "{}:{side}; ", buffers::sticky_name(b));
                }
                None => {
                    let _ = write!(s, "{}; ", buffers::sticky_name(b));
                }
            }
            if let Some(t) = sel.and_then(|x| r.transforms.get(x)) {
                for x in &t.chain {
                    let _ = write!(s, "{}; ", crate::keywords::transform::text(x));
                }
            }
            cur = (b, sel, dir);
        }
    };
    for (i, t) in r.payload.iter().enumerate() {
        match t {
            PayloadTest::Content(c) => {
                switch(&mut s, i, c.buffer());
                let _ = write!(
                    s,
                    "content:{}{}; ",
                    if c.negated() { "!" } else { "" },
                    content::content_text(c.pattern())
                );
                if c.nocase() {
                    s.push_str("nocase; ");
                }
                match c.position() {
                    Position::Absolute { offset, depth } => {
                        if offset != Operand::Lit(0) {
                            let _ = write!(s, "offset:{}; ", byte::op_text(offset, &r.vars));
                        }
                        if let Some(d) = depth {
                            let _ = write!(s, "depth:{}; ", byte::op_text(d, &r.vars));
                        }
                    }
                    Position::Relative { distance, within } => {
                        let _ = write!(s, "distance:{}; ", byte::op_text(distance, &r.vars));
                        if let Some(w) = within {
                            let _ = write!(s, "within:{}; ", byte::op_text(w, &r.vars));
                        }
                    }
                    Position::StartsWith => s.push_str("startswith; "),
                }
                if c.ends_with() {
                    s.push_str("endswith; ");
                }
                match c.fast_pattern() {
                    None => {}
                    Some(FastPattern::Whole) => s.push_str("fast_pattern; "),
                    Some(FastPattern::Only) => s.push_str("fast_pattern:only; "),
                    Some(FastPattern::Slice { offset, len }) => {
                        let _ = write!(s, "fast_pattern:{offset},{len}; ");
                    }
                }
                if let Some(rep) = c.replace() {
                    let _ = write!(s, "replace:{}; ", content::content_text(rep));
                }
            }
            PayloadTest::Pcre(p) => {
                switch(&mut s, i, p.buffer);
                let _ = write!(s, "pcre:{}; ", pcre::pcre_text(p));
            }
            PayloadTest::ByteTest(b) => {
                switch(&mut s, i, b.buffer);
                let _ = write!(s, "byte_test:{}; ", byte::byte_test_text(b, &r.vars));
            }
            PayloadTest::ByteJump(b) => {
                switch(&mut s, i, b.buffer);
                let _ = write!(s, "byte_jump:{}; ", byte::byte_jump_text(b, &r.vars));
            }
            PayloadTest::ByteExtract(b) => {
                switch(&mut s, i, b.buffer);
                let _ = write!(s, "byte_extract:{}; ", byte::byte_extract_text(b));
            }
            PayloadTest::ByteMath(b) => {
                switch(&mut s, i, b.buffer);
                let var = |v: VarSlot| r.vars.get(usize::from(v.0)).cloned().unwrap_or_default();
                let _ = write!(s, "byte_math:{}; ", byte_math::byte_math_text(b, &var));
            }
            PayloadTest::Dataset(d) => {
                switch(&mut s, i, d.buffer);
                let kw = match d.cmd {
                    crate::ir::DatasetCmd::Rep(_) => "datarep",
                    _ => "dataset",
                };
                let _ = write!(s, "{kw}:{}; ", dataset::dataset_text(d));
            }
            PayloadTest::Isdataat(d) => {
                switch(&mut s, i, d.buffer);
                let _ = write!(s, "isdataat:{}; ", byte::isdataat_text(d, &r.vars));
            }
            PayloadTest::Absent { or_else, buffer } => {
                switch(&mut s, i, *buffer);
                s.push_str(if *or_else {
                    "absent:or_else; "
                } else {
                    "absent; "
                });
            }
            PayloadTest::BufferSize { cmp, buffer } => {
                switch(&mut s, i, *buffer);
                let _ = write!(s, "bsize:{}; ", numeric::cmp_text(*cmp));
            }
            PayloadTest::Base64Decode(d) => {
                switch(&mut s, i, d.buffer);
                match crate::keywords::base64::text(d) {
                    Some(v) => {
                        let _ = write!(s, "base64_decode:{v}; ");
                    }
                    None => s.push_str("base64_decode; "),
                }
            }
            PayloadTest::Asn1(a) => {
                switch(&mut s, i, a.buffer);
                let _ = write!(s, "asn1:{}; ", crate::keywords::asn1::text(a));
            }
            PayloadTest::Tx(p) => {
                s.push_str(&crate::keywords::txpred::tx_option_text(p));
                s.push(' ');
            }
        }
    }
    if let Some(t) = &r.threshold {
        let _ = write!(s, "threshold:{}; ", meta::threshold_text(t));
    }
    for t in &r.tags {
        let _ = write!(s, "tag:{}; ", crate::keywords::tag::tag_text(t));
    }
    if let Some(d) = &r.detection_filter {
        let _ = write!(
            s,
            "detection_filter:track {}, count {}, seconds {}",
            meta::track_text(d.track),
            d.count,
            d.seconds
        );
        if let Some(u) = d.unique_on {
            let _ = write!(s, ", unique_on {}", meta::unique_on_text(u));
        }
        s.push_str("; ");
    }
    if let Some(b) = &r.block {
        let _ = write!(s, "fwsam:{}; ", fwsam::fwsam_text(b));
    }
    for rf in &m.references {
        let _ = write!(s, "reference:{},{}; ", rf.system, rf.id);
    }
    if !m.metadata.is_empty() {
        let items: Vec<String> = m
            .metadata
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k} {v}")
                }
            })
            .collect();
        let _ = write!(s, "metadata:{}; ", items.join(", "));
    }
    if let Some(c) = &m.classtype {
        let _ = write!(s, "classtype:{c}; ");
    }
    if let Some(p) = m.priority {
        if m.classtype.as_deref().and_then(meta::classtype_priority) != Some(p) {
            let _ = write!(s, "priority:{p}; ");
        }
    }
    if m.alert {
        s.push_str("alert; ");
    }
    if let Some(t) = &m.target {
        let _ = write!(s, "target:{t}; ");
    }
    if m.gid.0 != 1 {
        let _ = write!(s, "gid:{}; ", m.gid.0);
    }
    let _ = write!(s, "sid:{}; rev:{};)", m.sid.0, m.rev);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_cover_is_exact() {
        assert_eq!(cidrs(0, u32::MAX as u128, 32), vec![(0, 0)]);
        assert_eq!(cidrs(10 << 24, (11 << 24) - 1, 32), vec![(10 << 24, 8)]);
        assert_eq!(cidrs(1, 6, 32), vec![(1, 32), (2, 31), (4, 31), (6, 32)]);
        assert_eq!(cidrs(0, u128::MAX, 128), vec![(0, 0)]);
    }
}

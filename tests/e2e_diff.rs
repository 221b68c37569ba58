//! Differential test of the two back ends: random rules the compiler classifies `kernel`
//! (addresses, ports, ttl/hop limit, ip_proto, TCP flags/window/seq/ack, ICMP type/code, UDP
//! dsize, contents pinned to fixed payload offsets, nocase, negated and relative ones) and
//! random packets built to match or just miss them.
//!
//! - Kernel: the compiled nft table is loaded on the gateway (every rule an `alert`, so every
//!   rule sees every packet); the packets are sent raw from cli one at a time, and after each
//!   one the per-rule nft counters say which sids it matched (a last counter rule in the chain
//!   says the packet went by).
//! - VM: tcpdump records the packets as the gateway forwarded them (TTL already decremented,
//!   as the forward hook and NFQUEUE see them), and `verdict replay` runs the same rule file
//!   over that capture, where every rule is bytecode; the EVE alerts' `pcap_cnt` names the
//!   packet.
//!
//! Both must give the same set of sids for every packet. Seeded (`VERDICT_DIFF_SEED`, printed
//! on failure); `VERDICT_DIFF_RULES`/`VERDICT_DIFF_PACKETS` raise the budget. Disagreements
//! found so far are kept in `tests/fixtures/diff.txt` (a rule and the packets it disagreed
//! on) and go through both back ends on every run. Root only; every wait is bounded.

mod common;
mod live;
#[path = "common/packet.rs"]
mod packet;

use common::netns::{Topology, SRV4, SRV6};
use live::*;
use packet::{flags, mute, Icmp, Ipv4, Ipv6, Link, Tcp, Udp, ICMP, ICMPV6, TCP, UDP};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::classify::Fate;
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::ir::NumCmp;
use verdict_compiler::keywords::numeric::cmp_text;
use verdict_nft::render::{render_text, RenderOptions, CHAIN, TABLE};

/// Counter rule appended to verdict's chain: it counts each packet after every kernel rule.
const SENTINEL: &str = "vddiff-sentinel";
/// First sid of the generated rules (fixtures use their own, below it).
const FIRST_SID: u32 = 3_000_000;
const FIXTURES: &str = include_str!("fixtures/diff.txt");

/// xorshift64*: small, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed: neighbouring seeds start far apart.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// A comparison of a rule option, in each of the forms the keywords accept.
fn random_cmp(r: &mut Rng, lo: u64, hi: u64) -> NumCmp {
    let a = r.range(lo, hi);
    let b = a + r.range(2, 4);
    match r.below(8) {
        0 | 1 => NumCmp::Eq(a),
        2 => NumCmp::Ne(a),
        3 => NumCmp::Lt(a.max(1)),
        4 => NumCmp::Le(a),
        5 => NumCmp::Gt(a),
        6 => NumCmp::Ge(a),
        _ if r.chance(50) => NumCmp::RangeInclusive(a, b),
        _ => NumCmp::RangeExclusive(a, b),
    }
}

/// A value on or next to one of the comparison's edges: about half of them match.
fn near(c: NumCmp, r: &mut Rng) -> u64 {
    let edge = match c {
        NumCmp::RangeInclusive(a, b) | NumCmp::RangeExclusive(a, b) => *r.pick(&[a, b]),
        NumCmp::Eq(v)
        | NumCmp::Ne(v)
        | NumCmp::Lt(v)
        | NumCmp::Le(v)
        | NumCmp::Gt(v)
        | NumCmp::Ge(v) => v,
    };
    (edge + r.below(3)).saturating_sub(1)
}

/// A port set of a rule header.
#[derive(Debug, Clone, Copy)]
enum Ports {
    Any,
    One(u16),
    Not(u16),
    List(u16, u16),
    Range(u16, u16),
    Upto(u16),
    From(u16),
}

impl Ports {
    fn random(r: &mut Rng) -> Ports {
        let p = r.range(1000, 1008) as u16;
        match r.below(10) {
            0..=3 => Ports::Any,
            4 | 5 => Ports::One(p),
            6 => Ports::Not(p),
            7 => Ports::List(p, p + 2),
            8 => Ports::Range(p, p + 3),
            _ if r.chance(50) => Ports::Upto(p),
            _ => Ports::From(p),
        }
    }
    fn text(self) -> String {
        match self {
            Ports::Any => "any".into(),
            Ports::One(p) => p.to_string(),
            Ports::Not(p) => format!("!{p}"),
            Ports::List(a, b) => format!("[{a},{b}]"),
            Ports::Range(a, b) => format!("{a}:{b}"),
            Ports::Upto(p) => format!(":{p}"),
            Ports::From(p) => format!("{p}:"),
        }
    }
    fn near(self, r: &mut Rng) -> u16 {
        let edge = match self {
            Ports::Any => r.range(999, 1010) as u16,
            Ports::One(p) | Ports::Not(p) | Ports::Upto(p) | Ports::From(p) => p,
            Ports::List(a, b) | Ports::Range(a, b) => *r.pick(&[a, b]),
        };
        edge + r.below(3) as u16 - 1
    }
}

/// Rule addresses, with the family they name (`None`: both).
const SRC_ADDRS: &[(&str, Option<bool>)] = &[
    ("192.0.2.2", Some(false)),
    ("192.0.2.0/25", Some(false)),
    ("!192.0.2.3", None),
    ("[192.0.2.2,192.0.2.130]", Some(false)),
    ("2001:db8:1::2", Some(true)),
    ("2001:db8:1::/120", Some(true)),
    ("![192.0.2.0/26,2001:db8:1::3]", None),
];
const DST_ADDRS: &[(&str, Option<bool>)] = &[
    ("198.51.100.2", Some(false)),
    ("198.51.100.0/24", Some(false)),
    ("!198.51.100.2", None),
    ("2001:db8:2::2", Some(true)),
    ("[198.51.100.0/30,2001:db8:2::/64]", None),
];
/// Sources the packets come from (all on cli's link, so the gateway forwards them).
const SRC4: &[&str] = &["192.0.2.2", "192.0.2.3", "192.0.2.130"];
const SRC6: &[&str] = &["2001:db8:1::2", "2001:db8:1::3", "2001:db8:1::1:2"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Proto {
    Tcp,
    Udp,
    Icmp,
    Ip,
}

/// A content pinned to `at` in the payload; `relative`: written as `distance`/`within` from
/// the end of the content before it.
#[derive(Debug, Clone)]
struct Content {
    bytes: Vec<u8>,
    at: usize,
    nocase: bool,
    negated: bool,
    relative: Option<usize>,
    startswith: bool,
}

/// What a generated rule says, kept to build packets that (nearly) match it.
#[derive(Debug, Clone)]
struct Spec {
    proto: Proto,
    src: (&'static str, Option<bool>),
    dst: (&'static str, Option<bool>),
    sport: Ports,
    dport: Ports,
    ttl: Option<NumCmp>,
    ip_proto: Option<NumCmp>,
    /// flags text and the flag bits a packet needs to match it
    flags: Option<(String, u8)>,
    window: Option<NumCmp>,
    seq: Option<NumCmp>,
    ack: Option<NumCmp>,
    itype: Option<NumCmp>,
    icode: Option<NumCmp>,
    dsize: Option<NumCmp>,
    contents: Vec<Content>,
}

const FLAG_LETTERS: &[(char, u8)] = &[
    ('F', flags::FIN),
    ('S', flags::SYN),
    ('R', flags::RST),
    ('P', flags::PSH),
    ('A', flags::ACK),
    ('U', flags::URG),
    ('E', flags::ECE),
    ('C', flags::CWR),
];

fn flag_letters(bits: u8) -> String {
    FLAG_LETTERS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(c, _)| *c)
        .collect()
}

/// `flags:` in its four modes (exact with an ignore mask, `+` all, `*` any, `!` not), and
/// the bits of a packet that matches it.
fn random_flags(r: &mut Rng) -> (String, u8) {
    let common = [
        flags::SYN,
        flags::SYN | flags::ACK,
        flags::ACK,
        flags::PSH | flags::ACK,
        flags::FIN | flags::ACK,
        flags::RST,
    ];
    let f = *r.pick(&common);
    let letters = flag_letters(f);
    match r.below(5) {
        0 => (letters, f),
        1 => (format!("{letters},CE"), f | (r.below(4) as u8) << 6),
        2 => (format!("+{letters}"), f | flags::PSH),
        3 => (format!("*{letters}"), f & f.wrapping_neg()),
        _ => (format!("!{letters}"), f ^ flags::ACK),
    }
}

fn random_bytes(r: &mut Rng, n: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abAB01\x00\xff";
    (0..n).map(|_| *r.pick(ALPHABET)).collect()
}

fn random_contents(r: &mut Rng) -> Vec<Content> {
    let mut out: Vec<Content> = Vec::new();
    for _ in 0..r.range(1, 3) {
        let len = if r.chance(10) {
            r.range(17, 20)
        } else {
            r.range(1, 5)
        } as usize;
        let prev_end = out
            .iter()
            .rev()
            .find(|c| !c.negated)
            .map(|c| c.at + c.bytes.len());
        let negated = !out.is_empty() && r.chance(25);
        let relative = match prev_end {
            Some(_) if !negated && r.chance(30) => Some(r.below(4) as usize),
            _ => None,
        };
        let startswith = out.is_empty() && relative.is_none() && r.chance(15);
        let at = match (relative, prev_end) {
            (Some(d), Some(end)) => end + d,
            _ if startswith => 0,
            _ if r.chance(5) => r.range(240, 250) as usize,
            _ => r.below(12) as usize,
        };
        out.push(Content {
            bytes: random_bytes(r, len),
            at,
            nocase: r.chance(30),
            negated,
            relative,
            startswith,
        });
    }
    out
}

fn random_spec(r: &mut Rng) -> Spec {
    let proto = *r.pick(&[
        Proto::Tcp,
        Proto::Tcp,
        Proto::Udp,
        Proto::Udp,
        Proto::Icmp,
        Proto::Ip,
    ]);
    let l4 = matches!(proto, Proto::Tcp | Proto::Udp);
    let mut s = Spec {
        proto,
        src: if r.chance(35) {
            *r.pick(SRC_ADDRS)
        } else {
            ("any", None)
        },
        dst: if r.chance(25) {
            *r.pick(DST_ADDRS)
        } else {
            ("any", None)
        },
        sport: if l4 && r.chance(30) {
            Ports::random(r)
        } else {
            Ports::Any
        },
        dport: if l4 { Ports::random(r) } else { Ports::Any },
        ttl: r.chance(25).then(|| random_cmp(r, 1, 8)),
        ip_proto: None,
        flags: None,
        window: None,
        seq: None,
        ack: None,
        itype: None,
        icode: None,
        dsize: None,
        contents: Vec::new(),
    };
    match proto {
        Proto::Tcp => {
            s.flags = r.chance(40).then(|| random_flags(r));
            s.window = r.chance(15).then(|| random_cmp(r, 1000, 1004));
            s.seq = r.chance(10).then(|| random_cmp(r, 5000, 5004));
            s.ack = r.chance(10).then(|| random_cmp(r, 7000, 7004));
        }
        Proto::Udp => s.dsize = r.chance(30).then(|| random_cmp(r, 0, 12)),
        Proto::Icmp => {
            s.itype = r.chance(70).then(|| random_cmp(r, 0, 12));
            s.icode = r.chance(40).then(|| random_cmp(r, 0, 3));
        }
        Proto::Ip => {
            let c = *r.pick(&[
                NumCmp::Eq(u64::from(TCP)),
                NumCmp::Eq(u64::from(UDP)),
                NumCmp::Ne(u64::from(TCP)),
                NumCmp::Lt(u64::from(UDP)),
                NumCmp::Gt(u64::from(ICMP)),
            ]);
            s.ip_proto = r.chance(60).then_some(c);
        }
    }
    if l4 && r.chance(60) {
        s.contents = random_contents(r);
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rule_text(s: &Spec, sid: u32) -> String {
    let proto = match s.proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        Proto::Icmp => "icmp",
        Proto::Ip => "ip",
    };
    let mut o = String::new();
    for c in &s.contents {
        let bang = if c.negated { "!" } else { "" };
        let bytes: Vec<String> = c.bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = write!(o, " content:{bang}\"|{}|\";", bytes.join(" "));
        if c.nocase {
            o.push_str(" nocase;");
        }
        match c.relative {
            Some(d) => {
                let _ = write!(o, " distance:{d}; within:{};", c.bytes.len());
            }
            None if c.startswith => o.push_str(" startswith;"),
            None => {
                let _ = write!(o, " offset:{}; depth:{};", c.at, c.bytes.len());
            }
        }
    }
    let opts: [(&str, Option<String>); 9] = [
        ("ttl", s.ttl.map(cmp_text)),
        ("ip_proto", s.ip_proto.map(cmp_text)),
        ("flags", s.flags.as_ref().map(|f| f.0.clone())),
        ("window", s.window.map(cmp_text)),
        ("seq", s.seq.map(cmp_text)),
        ("ack", s.ack.map(cmp_text)),
        ("itype", s.itype.map(cmp_text)),
        ("icode", s.icode.map(cmp_text)),
        ("dsize", s.dsize.map(cmp_text)),
    ];
    for (k, v) in opts {
        if let Some(v) = v {
            let _ = write!(o, " {k}:{v};");
        }
    }
    format!(
        "alert {proto} {} {} -> {} {} (msg:\"diff {sid}\";{o} sid:{sid}; rev:1;)",
        s.src.0,
        s.sport.text(),
        s.dst.0,
        s.dport.text()
    )
}

fn flip_case(r: &mut Rng, b: u8) -> u8 {
    if b.is_ascii_alphabetic() && r.chance(50) {
        b ^ 0x20
    } else {
        b
    }
}

/// The payload: random, then each content written at its place most of the time (its
/// letters' case flipped when nocase, one byte changed now and then), to the length `dsize`
/// aims at when the rule has one.
fn payload_for(s: &Spec, r: &mut Rng) -> Vec<u8> {
    let base = if r.chance(5) {
        r.range(240, 270)
    } else {
        r.below(24)
    } as usize;
    let fixed_len = s
        .dsize
        .filter(|_| r.chance(70))
        .map(|c| near(c, r) as usize);
    let mut p = random_bytes(r, fixed_len.unwrap_or(base));
    for c in &s.contents {
        let keep = if c.negated { 50 } else { 85 };
        if !r.chance(keep) {
            continue;
        }
        let mut bytes: Vec<u8> = c
            .bytes
            .iter()
            .map(|&b| if c.nocase { flip_case(r, b) } else { b })
            .collect();
        if r.chance(10) {
            let i = r.below(bytes.len() as u64) as usize;
            bytes[i] ^= 1;
        }
        let end = c.at + bytes.len();
        if fixed_len.is_none() && p.len() < end {
            let n = end - p.len() + r.below(3) as usize;
            let more = random_bytes(r, n);
            p.extend_from_slice(&more);
        }
        for (i, b) in bytes.into_iter().enumerate() {
            if let Some(slot) = p.get_mut(c.at + i) {
                *slot = b;
            }
        }
    }
    p
}

/// One packet aimed at `s`: each of its conditions met most of the time, or missed by a hair.
fn packet_for(s: &Spec, r: &mut Rng) -> Vec<u8> {
    let v6 = match (s.src.1, s.dst.1) {
        (Some(f), _) | (None, Some(f)) if r.chance(85) => f,
        _ => r.chance(25),
    };
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        (
            r.pick(SRC6).parse::<Ipv6Addr>().unwrap().into(),
            SRV6.parse::<Ipv6Addr>().unwrap().into(),
        )
    } else {
        (
            r.pick(SRC4).parse::<Ipv4Addr>().unwrap().into(),
            SRV4.parse::<Ipv4Addr>().unwrap().into(),
        )
    };
    let proto = match s.proto {
        Proto::Ip => *r.pick(&[Proto::Tcp, Proto::Udp, Proto::Icmp]),
        p => p,
    };
    let aim = |c: Option<NumCmp>, r: &mut Rng, lo: u64, hi: u64| match c {
        Some(c) if r.chance(90) => near(c, r),
        _ => r.range(lo, hi),
    };
    let payload = payload_for(s, r);
    let (num, l4) = match proto {
        Proto::Tcp => {
            let (sport, dport) = (s.sport.near(r), s.dport.near(r));
            let mut t = Tcp::new(sport, dport)
                .seq(aim(s.seq, r, 4990, 5010) as u32)
                .ack(aim(s.ack, r, 6990, 7010) as u32);
            t.window = aim(s.window, r, 990, 1010) as u16;
            t.flags = match &s.flags {
                Some((_, f)) if r.chance(75) => *f,
                Some((_, f)) => f ^ (1 << r.below(8)),
                None => *r.pick(&[flags::SYN, flags::ACK, flags::PSH | flags::ACK, 0]),
            };
            (TCP, t.segment(src, dst, &payload))
        }
        Proto::Udp => {
            let (sport, dport) = (s.sport.near(r), s.dport.near(r));
            (UDP, Udp::new(sport, dport).datagram(src, dst, &payload))
        }
        _ => {
            let (kind, code) = (aim(s.itype, r, 0, 12), aim(s.icode, r, 0, 3));
            let mut m = Icmp::new(kind as u8, code as u8);
            m.rest = [0, 1, 0, r.below(255) as u8];
            let num = if v6 { ICMPV6 } else { ICMP };
            (num, m.message(src, dst, &payload))
        }
    };
    // The gateway's forward hook sees the TTL one lower than sent; below 2 it is not forwarded.
    let ttl = (aim(s.ttl, r, 1, 10) + 1).clamp(2, 255) as u8;
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mut h = Ipv4::new(a, b);
            h.ttl = ttl;
            h.id = r.below(65536) as u16;
            h.packet(num, &l4)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mut h = Ipv6::new(a, b);
            h.hop_limit = ttl;
            h.packet(num, &l4)
        }
        _ => unreachable!("one family per packet"),
    }
}

/// The fixtures: `rule:` lines and the `packet:` lines (hex, as sent from cli) after them.
fn fixtures() -> (Vec<String>, Vec<Vec<u8>>) {
    let (mut rules, mut packets) = (Vec::new(), Vec::new());
    for line in FIXTURES.lines().map(str::trim) {
        if let Some(rule) = line.strip_prefix("rule:") {
            rules.push(rule.trim().to_string());
        } else if let Some(h) = line.strip_prefix("packet:") {
            let h = h.trim();
            let bytes = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("fixture hex"))
                .collect();
            packets.push(bytes);
        }
    }
    (rules, packets)
}

/// The rules the compiler sends to the kernel, by sid, and how many of `rules` it did not.
fn kernel_rules(rules: &[String]) -> (BTreeMap<u32, String>, usize) {
    let text = rules.join("\n");
    let (_, loaded) = load_str("diff.rules", &text, &LoadOptions::default());
    let c = compile(&loaded.rules, &CompileOptions::default());
    let kernel: BTreeSet<u32> = c
        .fates
        .iter()
        .filter(|(_, f)| *f == Fate::Kernel)
        .map(|(sid, _)| sid.0)
        .collect();
    assert_eq!(
        loaded.rules.len(),
        rules.len(),
        "every generated rule must load: {:?}",
        loaded.diagnostics
    );
    let mut out = BTreeMap::new();
    for (rule, ir) in rules.iter().zip(&loaded.rules) {
        if kernel.contains(&ir.meta.sid.0) {
            out.insert(ir.meta.sid.0, rule.clone());
        }
    }
    (out, rules.len() - kernel.len())
}

/// Packets counted by each sid's nft rules, and by the sentinel.
fn counters(t: &Topology) -> (u64, BTreeMap<u32, u64>) {
    let out = t.exec_ok(&t.gw, &["nft", "-j", "list", "chain", "inet", TABLE, CHAIN]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft -j");
    let (mut sentinel, mut by_sid) = (0, BTreeMap::new());
    for item in v["nftables"].as_array().expect("nftables array") {
        let rule = &item["rule"];
        let Some(comment) = rule["comment"].as_str() else {
            continue;
        };
        let packets: u64 = rule["expr"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["counter"]["packets"].as_u64())
            .sum();
        if comment == SENTINEL {
            sentinel = packets;
        } else if let Some(sid) = comment
            .strip_prefix("sid:")
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<u32>().ok())
        {
            *by_sid.entry(sid).or_insert(0) += packets;
        }
    }
    (sentinel, by_sid)
}

/// Sends each packet and reads which sids' counters it moved.
fn kernel_verdicts(t: &Topology, packets: &[Vec<u8>]) -> Vec<BTreeSet<u32>> {
    let mut link = Link::towards_gw(t, &t.cli, "c0");
    let mut prev = counters(t);
    let mut out = Vec::with_capacity(packets.len());
    for (i, p) in packets.iter().enumerate() {
        link.send(p).expect("send");
        let deadline = Instant::now() + Duration::from_secs(2);
        let now = loop {
            // nft reads the rules one after the other while the packet may still be on its
            // way through them: once the sentinel has counted it, it passed them all, so
            // the next read is whole.
            if counters(t).0 > prev.0 {
                break counters(t);
            }
            assert!(
                Instant::now() < deadline,
                "packet {i} never reached the gateway's forward hook: {}",
                hex(p)
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        assert_eq!(now.0, prev.0 + 1, "one packet at a time through the chain");
        out.push(
            now.1
                .iter()
                .filter(|(sid, n)| **n > prev.1.get(sid).copied().unwrap_or(0))
                .map(|(sid, _)| *sid)
                .collect(),
        );
        prev = now;
    }
    out
}

/// For each frame of the capture (Ethernet, tcpdump's pcap), the index of the sent packet it
/// is, matched in order; a sent packet the gateway did not put on the wire has none.
fn captured_indices(path: &std::path::Path, sent: &[Vec<u8>]) -> Vec<usize> {
    let data = std::fs::read(path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&data[..]).expect("pcap header");
    let keys: Vec<Vec<u8>> = sent.iter().map(|p| forwarding_invariant(p)).collect();
    let (mut out, mut next) = (Vec::new(), 0);
    while let Some(frame) = reader.next_packet() {
        let frame = frame.expect("pcap record");
        let key = forwarding_invariant(frame.data.get(14..).unwrap_or_default());
        let i = (next..keys.len())
            .find(|&i| keys[i] == key)
            .expect("every captured frame is a packet the test sent, in order");
        out.push(i);
        next = i + 1;
    }
    out
}

/// Which packets are TCP segments carrying data out of step with their connection: not at
/// the byte after what it sent before (overlapping earlier data, or past a hole), or on a
/// connection where that happened before. The two back ends see those differently by design:
/// nft matches each packet as it is, the engine inspects the stream as reassembled (the first
/// copy of a byte wins, data behind a hole waits for it), so their verdicts are not compared.
fn out_of_step_tcp(packets: &[Vec<u8>]) -> Vec<bool> {
    // Per connection: the sequence number after the data sent so far, and whether the
    // stream went out of step.
    let mut conns: BTreeMap<Vec<u8>, (u64, bool)> = BTreeMap::new();
    packets
        .iter()
        .map(|p| {
            let (addrs, l4) = match p.first().map(|b| b >> 4) {
                Some(4) if p.get(9) == Some(&TCP) => (&p[12..20], &p[usize::from(p[0] & 15) * 4..]),
                Some(6) if p.get(6) == Some(&TCP) => (&p[8..40], &p[40..]),
                _ => return false,
            };
            let data = l4.len().saturating_sub(usize::from(l4[12] >> 4) * 4) as u64;
            let seq = u64::from(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]));
            let syn = u64::from(l4[13] & flags::SYN != 0);
            let fin = u64::from(l4[13] & flags::FIN != 0);
            let end = seq + syn + data + fin;
            let key = [addrs, &l4[..4]].concat();
            match conns.get_mut(&key) {
                None => {
                    conns.insert(key, (end, false));
                    false
                }
                Some((next, broken)) => {
                    *broken |= data > 0 && seq + syn != *next;
                    *next = (*next).max(end);
                    *broken && data > 0
                }
            }
        })
        .collect()
}

fn budget(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn nft_table_and_vm_agree_on_random_kernel_rules_and_packets() {
    require_netns!();
    let seed = std::env::var("VERDICT_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("VERDICT_DIFF_SEED={seed}");
    let mut r = Rng::new(seed);
    let (n_rules, n_packets) = (
        budget("VERDICT_DIFF_RULES", 200),
        budget("VERDICT_DIFF_PACKETS", 300),
    );

    let specs: Vec<Spec> = (0..n_rules).map(|_| random_spec(&mut r)).collect();
    let (mut texts, mut packets) = fixtures();
    let fixture_rules = texts.len();
    texts.extend(
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| rule_text(s, FIRST_SID + i as u32)),
    );
    let fixture_packets = packets.len();
    packets.extend((0..n_packets).map(|_| packet_for(r.pick(&specs), &mut r)));
    let (kernel, queued) = kernel_rules(&texts);
    assert!(
        kernel.len() * 10 >= texts.len() * 8,
        "seed {seed}: the generator must make kernel rules: {queued} of {} were not",
        texts.len()
    );

    let t = Topology::new();
    let dir = std::env::temp_dir().join(format!("verdict-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules_file: String = kernel.values().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("diff.rules"), &rules_file).unwrap();
    let (_, loaded) = load_str("diff.rules", &rules_file, &LoadOptions::default());
    let c = compile(&loaded.rules, &CompileOptions::default());
    assert!(c.kernel.steering.is_empty(), "kernel rules only, no queue");
    let script = dir.join("diff.nft");
    std::fs::write(&script, render_text(&c.kernel, &RenderOptions::default())).unwrap();
    t.exec_ok(&t.gw, &["nft", "-f", script.to_str().unwrap()]);
    t.exec_ok(
        &t.gw,
        &[
            "nft",
            &format!("add rule inet {TABLE} {CHAIN} iifname \"c0\" counter comment \"{SENTINEL}\""),
        ],
    );
    // srv must not answer (no RST, no ICMP): the gateway forwards only what the test sends.
    mute(
        &t,
        &t.srv,
        &["ip saddr 192.0.2.0/24", "ip6 saddr 2001:db8:1::/64"],
    );
    let pcap = dir.join("fwd.pcap");
    let mut dump = t.spawn(
        &t.gw,
        &[
            "tcpdump",
            "-i",
            "s0",
            "-Q",
            "out",
            "-n",
            "-U",
            "--immediate-mode",
            "-w",
            pcap.to_str().unwrap(),
            "src net 192.0.2.0/24 or src net 2001:db8:1::/64",
        ],
    );
    dump.wait_for("listening on", Duration::from_secs(10))
        .unwrap();

    let started = Instant::now();
    let kernel_says = kernel_verdicts(&t, &packets);
    std::thread::sleep(Duration::from_millis(300));
    dump.signal(libc::SIGINT);
    dump.wait_exit(Duration::from_secs(5))
        .expect("tcpdump stops");
    let sent = started.elapsed();
    let captured = captured_indices(&pcap, &packets);
    let lost: Vec<usize> = (0..packets.len())
        .filter(|i| !captured.contains(i))
        .collect();
    for &i in &lost {
        eprintln!(
            "packet {i} passed the forward hook but was not captured: {}",
            hex(&packets[i])
        );
    }
    assert!(
        lost.len() * 20 <= packets.len(),
        "seed {seed}: {} of {} packets did not leave the gateway",
        lost.len(),
        packets.len()
    );
    let vm_says = replay_sids_per_frame(
        &pcap,
        &dir.join("diff.rules"),
        &[],
        &dir.join("replay"),
        captured.len(),
    );

    let out_of_step = out_of_step_tcp(&packets);
    let mut report = String::new();
    let mut disagreements = 0;
    for (&i, v) in captured.iter().zip(&vm_says) {
        if out_of_step[i] {
            continue;
        }
        let k = &kernel_says[i];
        for sid in k.symmetric_difference(v) {
            disagreements += 1;
            let side = if k.contains(sid) {
                "kernel only"
            } else {
                "VM only"
            };
            let _ = writeln!(
                report,
                "# packet {i}: {side}\nrule: {}\npacket: {}\n",
                kernel[sid],
                hex(&packets[i])
            );
        }
    }
    let matched: usize = kernel_says.iter().map(BTreeSet::len).sum();
    let hit_packets = kernel_says.iter().filter(|s| !s.is_empty()).count();
    let hit_rules: BTreeSet<&u32> = kernel_says.iter().flatten().collect();
    eprintln!(
        "seed {seed}: {} kernel rules ({fixture_rules} fixtures, {queued} generated rules not kernel), \
         {} packets ({fixture_packets} fixtures) in {sent:?}: {matched} (packet, rule) matches, \
         {hit_packets} packets matched something, {} rules matched something; {} not forwarded, \
         {} TCP segments out of step with their stream not compared; {disagreements} disagreements",
        kernel.len(),
        packets.len(),
        hit_rules.len(),
        lost.len(),
        out_of_step.iter().filter(|o| **o).count()
    );
    std::fs::write(dir.join("disagreements.txt"), &report).unwrap();
    assert!(
        disagreements == 0,
        "seed {seed} (VERDICT_DIFF_SEED={seed} reproduces it): {disagreements} disagreements \
         between the nft table and the VM; fixtures for tests/fixtures/diff.txt:\n{report}"
    );
    // The test must exercise matching, not just agree on "nothing matched".
    assert!(
        hit_packets * 5 >= packets.len() && hit_rules.len() * 4 >= kernel.len(),
        "seed {seed}: too few matches to compare ({hit_packets} packets, {} rules)",
        hit_rules.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

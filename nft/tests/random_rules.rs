//! Bad input never produces a script that fails to load: hundreds of randomly built rules
//! (odd address and port sets, out-of-range header values, contents at random places, long,
//! nocase, negated, relative) are classified, rendered and checked with `nft -c` (text and
//! JSON) against the kernel, per seed.

mod common;

use common::*;
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::ir::*;
use verdict_nft::render::{render_json, render_text, QueueMechanism, RenderOptions};

/// xorshift64*: deterministic, no dependency, good enough to spread test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn cmp(r: &mut Rng, max: u64) -> NumCmp {
    let v = r.below(max + 40);
    let w = v + r.below(30);
    match r.below(8) {
        0 => NumCmp::Eq(v),
        1 => NumCmp::Ne(v),
        2 => NumCmp::Lt(v),
        3 => NumCmp::Le(v),
        4 => NumCmp::Gt(v),
        5 => NumCmp::Ge(v),
        6 => NumCmp::RangeExclusive(v, w),
        _ => NumCmp::RangeInclusive(v, w),
    }
}

fn ipset(r: &mut Rng) -> IpSet {
    if r.chance(40) {
        return IpSet::any();
    }
    let mut v4 = Vec::new();
    for _ in 0..r.below(4) {
        let a = r.next() as u32;
        let len = r.below(33) as u32;
        let host = if len == 0 {
            u32::MAX
        } else {
            (1u32 << (32 - len)).wrapping_sub(1)
        };
        if r.chance(80) {
            v4.push((a & !host, a | host));
        } else {
            v4.push((a, a.saturating_add(r.below(1000) as u32)));
        }
    }
    let mut v6 = Vec::new();
    for _ in 0..r.below(3) {
        let a = ((r.next() as u128) << 64) | r.next() as u128;
        let len = r.below(129) as u32;
        let host = if len == 0 {
            u128::MAX
        } else {
            (1u128 << (128 - len)).wrapping_sub(1)
        };
        v6.push((a & !host, a | host));
    }
    let s = IpSet {
        v4: RangeSet::from_ranges(v4),
        v6: RangeSet::from_ranges(v6),
    };
    if r.chance(30) {
        s.complement()
    } else {
        s
    }
}

fn ports(r: &mut Rng) -> PortSet {
    if r.chance(40) {
        return PortSet::full();
    }
    let mut v = Vec::new();
    for _ in 0..1 + r.below(5) {
        let a = r.below(65536) as u16;
        let b = if r.chance(50) {
            a
        } else {
            a.saturating_add(r.below(5000) as u16)
        };
        v.push((a, b));
    }
    let s = PortSet::from_ranges(v);
    if r.chance(30) {
        s.complement()
    } else {
        s
    }
}

fn bytes(r: &mut Rng) -> Vec<u8> {
    let max = if r.chance(20) { 40 } else { 8 };
    let n = 1 + r.below(max) as usize;
    (0..n)
        .map(|_| match r.below(4) {
            0 => b'a' + r.below(26) as u8,
            1 => b'A' + r.below(26) as u8,
            _ => r.next() as u8,
        })
        .collect()
}

fn content(r: &mut Rng, first: bool) -> Option<PayloadTest> {
    let pattern = bytes(r);
    let len = pattern.len() as i64;
    let position = match r.below(4) {
        0 => Position::Absolute {
            offset: Operand::Lit(r.below(300) as i64),
            depth: Some(Operand::Lit(len)),
        },
        1 => Position::Absolute {
            offset: Operand::Lit(r.below(20) as i64),
            depth: Some(Operand::Lit(len + r.below(3) as i64)),
        },
        2 if !first => Position::Relative {
            distance: Operand::Lit(r.below(10) as i64 - 3),
            within: Some(Operand::Lit(len + r.below(2) as i64)),
        },
        _ => Position::Absolute {
            offset: Operand::Lit(0),
            depth: None,
        },
    };
    Content::new(ContentSpec {
        pattern,
        negated: r.chance(20),
        nocase: r.chance(40),
        position,
        ends_with: false,
        buffer: if r.chance(10) {
            Buffer::Raw
        } else {
            Buffer::Payload
        },
        fast_pattern: None,
        replace: None,
    })
    .ok()
    .map(PayloadTest::Content)
}

fn random_rule(r: &mut Rng, sid: u32) -> Rule {
    let proto = match r.below(6) {
        0 => Protocol::Ip,
        1 | 2 => Protocol::Tcp,
        3 => Protocol::Udp,
        4 => Protocol::Icmp,
        _ => Protocol::Icmpv6,
    };
    let action = match r.below(7) {
        0 => Action::Alert,
        1 => Action::Drop,
        2 => Action::Sdrop,
        3 => Action::Reject(RejectTarget::Src),
        4 => Action::Reject(RejectTarget::Default),
        5 => Action::Log,
        _ => Action::Pass,
    };
    let mut rule = rule(sid, action, proto);
    rule.src = ipset(r);
    rule.dst = ipset(r);
    rule.src_ports = ports(r);
    rule.dst_ports = ports(r);
    if r.chance(15) {
        rule.direction = Direction::Both;
    }
    let mut msg: String = (0..r.below(200))
        .map(|_| (0x20 + r.below(95) as u8) as char)
        .collect();
    if r.chance(10) {
        msg.push_str("\"quoted\" ünïcode\ttab");
    }
    rule.meta.msg = msg;
    for _ in 0..r.below(3) {
        rule.header.push(match r.below(9) {
            0 => HeaderTest::Ttl(cmp(r, 255)),
            1 => HeaderTest::Dsize(cmp(r, 65535)),
            2 => HeaderTest::Itype(cmp(r, 255)),
            3 => HeaderTest::Icode(cmp(r, 255)),
            4 => HeaderTest::Window(cmp(r, 65535)),
            5 => HeaderTest::Seq(cmp(r, u32::MAX as u64)),
            6 => HeaderTest::IpProto(cmp(r, 255)),
            7 => HeaderTest::Flags(TcpFlags {
                flags: r.next() as u8,
                mode: [FlagMode::Exact, FlagMode::All, FlagMode::Any, FlagMode::Not]
                    [r.below(4) as usize],
                ignore: if r.chance(50) { 0 } else { r.next() as u8 },
            }),
            _ => HeaderTest::Tos(cmp(r, 255)),
        });
    }
    for i in 0..r.below(4) {
        if let Some(c) = content(r, i == 0) {
            rule.payload.push(c);
        }
    }
    rule
}

#[test]
fn random_rules_always_render_scripts_the_kernel_accepts() {
    require_netns!();
    let t = Topology::new();
    let ns = &t.gw;
    let mut kernel_total = 0;
    for seed in 1..=6u64 {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let rules: Vec<Rule> = (0..400)
            .map(|i| random_rule(&mut r, 1_000_000 + i))
            .collect();
        let c = compile(&rules, &CompileOptions::default());
        assert_eq!(c.fates.len(), rules.len(), "exactly one fate per rule");
        assert_eq!(c.report.fates.total(), rules.len());
        kernel_total += c.report.fates.kernel;
        let opts = RenderOptions {
            queue: QueueMechanism::XtNfqueue,
            ..Default::default()
        };
        let text = render_text(&c.kernel, &opts);
        if let Err(e) = t.nft_check(ns, &text, false) {
            panic!("seed {seed}: nft -c rejected the script: {e}");
        }
        let json = serde_json::to_string(&render_json(&c.kernel, &opts)).unwrap();
        if let Err(e) = t.nft_check(ns, &json, true) {
            panic!("seed {seed}: nft -j -c rejected the JSON: {e}");
        }
    }
    assert!(
        kernel_total > 100,
        "the generator should reach the kernel often: {kernel_total}"
    );
}

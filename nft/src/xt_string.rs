//! iptables-nft rendering of `--xt-string` rules with exact windows.
//!
//! The xt `string` match counts `--from`/`--to` from the network header, while a Snort
//! `offset`/`depth` counts from the transport payload, whose start depends on the IP and
//! TCP option lengths of each packet. So `VERDICT` sends TCP (UDP) packets to
//! `VERDICT-TCP` (`VERDICT-UDP`), which dispatches them with `u32` on the IPv4 IHL and the
//! TCP data offset to one chain per total header length (`VERDICT-TCP-52`: 52 bytes of
//! headers), where every rule is written with the windows of that length: no match can
//! start inside header options or run past its depth. IPv6 is dispatched only when the
//! transport header follows the fixed header directly; packets with extension headers (and
//! IPv4 fragments, which conntrack's defragmentation otherwise removes first) are not seen
//! by xt-string rules. The searches use `--algo kmp`: the kernel's Boyer-Moore misses a
//! match that spans two blocks of a non-linear skb, KMP does not.

use crate::render::{
    argv, hex, multiport_chunks, sanitize, xt_bin, xt_flow, RenderOptions, XT_CHAIN,
};
use verdict_compiler::kernel::{
    cidrs, fmt_addr, Family, KernelAction, KernelPlan, L4Proto, XtAddr, XtStringRule,
    FLOW_BLOCK_MARK,
};

/// One header-length class: the `u32` test selecting its packets and the header bytes.
struct HdrClass {
    test: String,
    len: u32,
}

/// The dispatch chain of a transport (`VERDICT-TCP`).
fn dispatch_chain(proto: L4Proto) -> String {
    format!("{XT_CHAIN}-{}", proto.name().to_uppercase())
}

/// The chain of packets with `len` bytes of IP and transport headers (`VERDICT-TCP-52`).
fn length_chain(proto: L4Proto, len: u32) -> String {
    format!("{}-{len}", dispatch_chain(proto))
}

/// Every header-length class of a family and transport, the common ones first (no IP
/// options; TCP without options, then with timestamps).
fn classes(fam: Family, proto: L4Proto) -> Vec<HdrClass> {
    // Not a fragment (MF clear, offset 0): only a first fragment holds the transport header.
    const UNFRAGMENTED: &str = "4&0x3FFF=0";
    let mut doffs: Vec<u32> = vec![5, 8];
    doffs.extend((5..=15).filter(|d| *d != 5 && *d != 8));
    match (fam, proto) {
        (Family::V4, L4Proto::Tcp) => (5..=15u32)
            .flat_map(|ihl| doffs.iter().map(move |&d| (ihl, d)))
            .map(|(ihl, d)| HdrClass {
                test: format!(
                    "{UNFRAGMENTED}&&0>>22&0x3C={}&&0>>22&0x3C@12>>26&0x3C={}",
                    ihl * 4,
                    d * 4
                ),
                len: ihl * 4 + d * 4,
            })
            .collect(),
        (Family::V4, _) => (5..=15u32)
            .map(|ihl| HdrClass {
                test: format!("{UNFRAGMENTED}&&0>>22&0x3C={}", ihl * 4),
                len: ihl * 4 + 8,
            })
            .collect(),
        // Next header TCP right after the fixed header; its data offset at byte 40 + 12.
        (Family::V6, L4Proto::Tcp) => doffs
            .iter()
            .map(|&d| HdrClass {
                test: format!("4>>8&0xFF=6&&52>>26&0x3C={}", d * 4),
                len: 40 + d * 4,
            })
            .collect(),
        (Family::V6, _) => vec![HdrClass {
            test: "4>>8&0xFF=17".into(),
            len: 48,
        }],
    }
}

/// The distinct header lengths of a family and transport, ascending.
fn lengths(fam: Family, proto: L4Proto) -> Vec<u32> {
    let mut l: Vec<u32> = classes(fam, proto).iter().map(|c| c.len).collect();
    l.sort_unstable();
    l.dedup();
    l
}

/// `-N` for every chain of the xt-string mode in family `fam`: all of them whatever the
/// rules, so a reload refills the same chains and never leaves a stale one behind.
pub(crate) fn declare_chains(fam: Family) -> Vec<Vec<String>> {
    let bin = xt_bin(fam);
    let mut out = Vec::new();
    for proto in [L4Proto::Tcp, L4Proto::Udp] {
        out.push(argv(&[bin, "-w", "-N", &dispatch_chain(proto)]));
        for len in lengths(fam, proto) {
            out.push(argv(&[bin, "-w", "-N", &length_chain(proto, len)]));
        }
    }
    out
}

/// The jumps from `VERDICT`, the dispatch rules and the per-length copies of `plan`'s xt
/// string rules of family `fam` (`-A` commands; chains from [`declare_chains`]).
pub(crate) fn string_rules(
    plan: &KernelPlan,
    opts: &RenderOptions,
    fam: Family,
) -> Vec<Vec<String>> {
    let bin = xt_bin(fam);
    let mut names = std::collections::HashMap::new();
    let mut chains = Vec::new();
    let mut out = Vec::new();
    for proto in [L4Proto::Tcp, L4Proto::Udp] {
        let rules: Vec<(&XtStringRule, Vec<String>)> = (plan.xt_string.iter())
            .filter(|r| r.family == fam && r.proto == proto)
            .map(|r| {
                let (then, cmds) = action(r, opts, &mut names);
                chains.extend(cmds);
                (r, then)
            })
            .collect();
        if rules.is_empty() {
            continue;
        }
        let dispatch = dispatch_chain(proto);
        out.push(argv(&[
            bin,
            "-w",
            "-A",
            XT_CHAIN,
            "-p",
            proto.name(),
            "-j",
            &dispatch,
        ]));
        for c in classes(fam, proto) {
            // -g: the packet returns to VERDICT after its length chain, skipping the rest.
            out.push(argv(&[
                bin,
                "-w",
                "-A",
                &dispatch,
                "-m",
                "u32",
                "--u32",
                &c.test,
                "-g",
                &length_chain(proto, c.len),
            ]));
        }
        for len in lengths(fam, proto) {
            let chain = length_chain(proto, len);
            for (r, then) in &rules {
                out.extend(rule_at(r, then, &chain, len));
            }
        }
    }
    // Action chains first: declared before the rules that jump to them.
    chains.sort_by_key(|c| c.get(2).map(String::as_str) != Some("-N"));
    chains.extend(out);
    chains
}

/// The xt-string commands of `plan` an operator reviews (`--explain`, the translation
/// snapshots): each rule in the chain of its family's shortest headers, then one line per
/// family and transport saying how many other header lengths hold the same rules with shifted
/// windows.
pub fn review(plan: &KernelPlan, opts: &RenderOptions) -> Vec<String> {
    let mut out = Vec::new();
    for fam in [Family::V4, Family::V6] {
        for proto in [L4Proto::Tcp, L4Proto::Udp] {
            let lens = lengths(fam, proto);
            let chain = length_chain(proto, lens[0]);
            let mut names = std::collections::HashMap::new();
            let lines: Vec<String> = (plan.xt_string.iter())
                .filter(|r| r.family == fam && r.proto == proto)
                .flat_map(|r| {
                    let (then, cmds) = action(r, opts, &mut names);
                    let cmds = cmds
                        .into_iter()
                        .filter(|c| c.get(2).is_some_and(|a| a == "-A"));
                    cmds.chain(rule_at(r, &then, &chain, lens[0]))
                })
                .map(|a| a.join(" "))
                .collect();
            if !lines.is_empty() && lens.len() > 1 {
                out.extend(lines);
                out.push(format!(
                    "# and in {} more {} {} chains, one per header length ({}..{} bytes)",
                    lens.len() - 1,
                    xt_bin(fam),
                    proto.name(),
                    lens[1],
                    lens[lens.len() - 1]
                ));
            } else {
                out.extend(lines);
            }
        }
    }
    out
}

/// Rule `r` in the chain of packets with `hdr` header bytes, jumping to `then` (its action:
/// NFLOG, or its action chain); nothing when a positive content's window lies past any packet.
fn rule_at(r: &XtStringRule, then: &[String], chain: &str, hdr: u32) -> Option<Vec<String>> {
    let bin = xt_bin(r.family);
    let mut v = argv(&[bin, "-w", "-A", chain]);
    if let XtAddr::In(p) = &r.src {
        v.extend(argv(&["-s", &prefix_list(r.family, p)]));
    }
    if let XtAddr::In(p) = &r.dst {
        v.extend(argv(&["-d", &prefix_list(r.family, p)]));
    }
    v.extend(argv(&["-p", r.proto.name()]));
    // multiport takes one of --sports/--dports per match: one match each.
    for (flag, ports) in [("--sports", &r.sports), ("--dports", &r.dports)] {
        if let Some(p) = ports {
            v.extend(argv(&[
                "-m",
                "multiport",
                flag,
                &multiport_chunks(p).join(","),
            ]));
        }
    }
    v.extend(excluded(r.family, &r.src, true));
    v.extend(excluded(r.family, &r.dst, false));
    v.extend(xt_flow(&r.flow));
    if let Some(d) = r.dsize {
        match d.total(hdr) {
            Some((lo, hi)) => {
                v.extend(argv(&["-m", "length"]));
                if d.negated {
                    v.push("!".into());
                }
                v.extend(argv(&["--length", &format!("{lo}:{hi}")]));
            }
            // No packet is that long: `dsize:!N` holds, `dsize:N` never does.
            None if d.negated => {}
            None => return None,
        }
    }
    for c in &r.contents {
        match c.window(hdr) {
            Some(w) => v.extend(string_match(&c.pattern, c.nocase, c.negated, Some(w))),
            // "Not found" holds where the window starts past the 16-bit end.
            None if c.negated => {}
            None => return None,
        }
    }
    v.extend(argv(&[
        "-m",
        "comment",
        "--comment",
        &sanitize(&format!("sid:{} rev:{} {}", r.sid, r.rev, r.msg), 255),
    ]));
    v.extend(then.iter().cloned());
    Some(v)
}

/// The NFLOG target of a rule's alert.
fn nflog(r: &XtStringRule, o: &RenderOptions) -> Vec<String> {
    argv(&[
        "-j",
        "NFLOG",
        "--nflog-group",
        &o.log_group.to_string(),
        "--nflog-prefix",
        &format!("sid:{} ", r.sid),
    ])
}

/// What a matching packet jumps to, and for a blocking rule the commands of its action
/// chain (`VERDICT-D<sid>`: log, mark the flow blocked, drop or reject), so the strings are
/// searched once per packet however many targets the action has. `names` counts the chains
/// per sid, for rules sharing a sid.
fn action(
    r: &XtStringRule,
    o: &RenderOptions,
    names: &mut std::collections::HashMap<u32, u32>,
) -> (Vec<String>, Vec<Vec<String>>) {
    let Some(t) = target(r) else {
        return (nflog(r, o), Vec::new());
    };
    let bin = xt_bin(r.family);
    let n = names.entry(r.sid.0).or_default();
    *n += 1;
    let chain = match *n {
        1 => format!("{XT_CHAIN}-D{}", r.sid),
        n => format!("{XT_CHAIN}-D{}-{n}", r.sid),
    };
    let mut cmds = vec![argv(&[bin, "-w", "-N", &chain])];
    let add = |tail: Vec<String>| {
        let mut v = argv(&[bin, "-w", "-A", &chain]);
        v.extend(tail);
        v
    };
    if r.action.logs() {
        cmds.push(add(nflog(r, o)));
    }
    if matches!(r.action, KernelAction::Drop { .. }) {
        // As an nft drop rule: the table's first rule drops the rest of the flow.
        let mark = format!("0x{FLOW_BLOCK_MARK:x}");
        cmds.push(add(argv(&["-j", "CONNMARK", "--or-mark", &mark])));
    }
    cmds.push(add(t));
    (argv(&["-j", &chain]), cmds)
}

/// The blocking target of a rule, `None` for alert-only.
fn target(r: &XtStringRule) -> Option<Vec<String>> {
    match r.action {
        KernelAction::Alert => None,
        KernelAction::Drop { .. } => Some(argv(&["-j", "DROP"])),
        KernelAction::RejectTcpReset { .. } => {
            Some(argv(&["-j", "REJECT", "--reject-with", "tcp-reset"]))
        }
        KernelAction::RejectIcmpx { .. } => Some(argv(&[
            "-j",
            "REJECT",
            "--reject-with",
            if r.family == Family::V4 {
                "icmp-port-unreachable"
            } else {
                "icmp6-port-unreachable"
            },
        ])),
    }
}

/// `-m string` searching `pattern` with KMP (Boyer-Moore misses a match spread over two
/// blocks of a non-linear packet), within `window` (`--from`/`--to`, from the network
/// header) if given: the one form of the string match, for the xt-string rules and the
/// kernel prefilter's steering alike.
pub(crate) fn string_match(
    pattern: &[u8],
    nocase: bool,
    negated: bool,
    window: Option<(u16, u16)>,
) -> Vec<String> {
    let mut v = argv(&["-m", "string", "--algo", "kmp"]);
    if let Some((from, to)) = window {
        v.extend(argv(&[
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
        ]));
    }
    if nocase {
        v.push("--icase".into());
    }
    if negated {
        v.push("!".into());
    }
    v.extend(argv(&[
        "--hex-string",
        &format!("|{}|", hex(pattern).trim_start_matches("0x")),
    ]));
    v
}

/// `a/len,b/len` for `-s`/`-d`.
fn prefix_list(fam: Family, p: &[(u128, u8)]) -> String {
    p.iter()
        .map(|&(a, len)| format!("{}/{}", fmt_addr(fam, a), len))
        .collect::<Vec<_>>()
        .join(",")
}

/// Negated `u32` matches saying "the source (`src`) or destination address is in none of the
/// excluded intervals": IPv4 as value ranges, 10 per test (the most a `u32` test holds);
/// IPv6 as one test per prefix, comparing the address words the prefix covers.
fn excluded(fam: Family, a: &XtAddr, src: bool) -> Vec<String> {
    let XtAddr::NotIn(ranges) = a else {
        return Vec::new();
    };
    let mut v = Vec::new();
    let mut neg = |test: String| v.extend(argv(&["-m", "u32", "!", "--u32", &test]));
    match fam {
        Family::V4 => {
            let at = if src { 12 } else { 16 };
            for chunk in ranges.chunks(10) {
                let vals: Vec<String> = chunk
                    .iter()
                    .map(|&(lo, hi)| format!("0x{lo:x}:0x{hi:x}"))
                    .collect();
                neg(format!("{at}={}", vals.join(",")));
            }
        }
        Family::V6 => {
            let at: u32 = if src { 8 } else { 24 };
            for (net, len) in ranges.iter().flat_map(|&(lo, hi)| cidrs(lo, hi, 128)) {
                let words: Vec<String> = (0..4u32)
                    .filter(|i| u32::from(len) > i * 32)
                    .map(|i| {
                        let bits = (u32::from(len) - i * 32).min(32);
                        let mask = if bits == 32 {
                            u32::MAX
                        } else {
                            !(u32::MAX >> bits)
                        };
                        let word = (net >> (96 - i * 32)) as u32;
                        format!("{}&0x{mask:x}=0x{:x}", at + i * 4, word & mask)
                    })
                    .collect();
                neg(words.join("&&"));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_length_has_one_chain_and_the_common_ones_come_first() {
        let v4 = classes(Family::V4, L4Proto::Tcp);
        assert_eq!(v4.len(), 121);
        assert_eq!((v4[0].len, v4[1].len), (40, 52));
        assert_eq!(
            lengths(Family::V4, L4Proto::Tcp),
            (10..=30).map(|i| i * 4).collect::<Vec<_>>()
        );
        assert_eq!(lengths(Family::V4, L4Proto::Udp).len(), 11);
        assert_eq!(
            lengths(Family::V6, L4Proto::Tcp),
            (15..=25).map(|i| i * 4).collect::<Vec<_>>()
        );
        assert_eq!(lengths(Family::V6, L4Proto::Udp), [48]);
    }

    #[test]
    fn excluded_v6_prefixes_compare_the_words_they_cover() {
        let lo = 0x2001_0db8_u128 << 96;
        let hi = lo | ((1u128 << 96) - 1);
        let v = excluded(Family::V6, &XtAddr::NotIn(vec![(lo, hi)]), false);
        assert_eq!(v, ["-m", "u32", "!", "--u32", "24&0xffffffff=0x20010db8"]);
        let v = excluded(
            Family::V4,
            &XtAddr::NotIn(vec![(0xc0a8_0000, 0xc0a8_ffff)]),
            true,
        );
        assert_eq!(v, ["-m", "u32", "!", "--u32", "12=0xc0a80000:0xc0a8ffff"]);
    }
}

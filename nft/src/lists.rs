//! Address lists as named interval sets of verdict's table.
//!
//! IP reputation rules (ET's drop, compromised and botcc lists, CINS, Tor exits, …) name
//! hundreds of addresses each. Each such list becomes one `set` in `table inet verdict` (flags
//! interval), and the rule matches `ip saddr @set`: the kernel looks an address up in the
//! set's interval tree instead of reading an anonymous set out of a rule, the rule lines stay
//! readable, and an operator can list one (`nft list set inet verdict sid2400000_src4`). Two
//! rules naming the same list share one set. Short lists (`$HOME_NET`) stay inline, where they
//! read best. The sets are part of the table, so they load in its one transaction and a
//! reload replaces them atomically with it.

use std::collections::HashMap;
use std::fmt::Write as _;
use verdict_compiler::kernel::{
    fmt_addr_range, AddrRange, Family, KernelPlan, Match as KMatch, Side,
};

/// Address matches with at least this many intervals become named sets; fewer stay inline.
pub const LIST_SET_MIN: usize = 16;

/// One named set: its name, family and intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSet<'a> {
    /// Set name, from the first rule using it: `sid<SID>_<src|dst><4|6>`.
    pub name: String,
    /// Address family.
    pub family: Family,
    /// Intervals (v4 in the low 32 bits).
    pub ranges: &'a [AddrRange],
}

/// The plan's address lists, named in first-use order (so output is stable).
#[derive(Debug, Default)]
pub struct ListSets<'a> {
    sets: Vec<ListSet<'a>>,
    index: HashMap<(Family, &'a [AddrRange]), usize>,
    /// The bypass list's sets (`bypass4`, `bypass6`), whatever their size: the chain's first
    /// rules name them, so an operator can list them the same way.
    bypass: Vec<ListSet<'a>>,
}

/// Names of the bypass list's sets.
pub const BYPASS_SETS: [(Family, &str); 2] = [(Family::V4, "bypass4"), (Family::V6, "bypass6")];

impl<'a> ListSets<'a> {
    /// Collects the address lists of `plan`'s kernel rules.
    pub fn of(plan: &'a KernelPlan) -> ListSets<'a> {
        let mut out = ListSets::default();
        for ((family, name), ranges) in BYPASS_SETS.iter().zip([&plan.bypass_v4, &plan.bypass_v6]) {
            if !ranges.is_empty() {
                out.bypass.push(ListSet {
                    name: name.to_string(),
                    family: *family,
                    ranges,
                });
            }
        }
        for r in &plan.rules {
            for m in &r.matches {
                let KMatch::Addr {
                    family,
                    side,
                    ranges,
                    ..
                } = m
                else {
                    continue;
                };
                if ranges.len() < LIST_SET_MIN || out.index.contains_key(&(*family, &ranges[..])) {
                    continue;
                }
                let name = format!(
                    "sid{}_{}{}",
                    r.sid,
                    match side {
                        Side::Src => "src",
                        Side::Dst => "dst",
                    },
                    match family {
                        Family::V4 => 4,
                        Family::V6 => 6,
                    }
                );
                // A sid has at most one rule per family and side unless `<>` doubled it.
                let name = if out.sets.iter().any(|s| s.name == name) {
                    format!("{name}_{}", out.sets.len())
                } else {
                    name
                };
                out.index.insert((*family, &ranges[..]), out.sets.len());
                out.sets.push(ListSet {
                    name,
                    family: *family,
                    ranges,
                });
            }
        }
        out
    }

    /// The set holding exactly these intervals, if the list got one.
    pub fn name(&self, family: Family, ranges: &[AddrRange]) -> Option<&str> {
        self.index
            .get(&(family, ranges))
            .map(|&i| self.sets[i].name.as_str())
    }

    /// The sets, in first-use order.
    pub fn sets(&self) -> &[ListSet<'a>] {
        &self.sets
    }

    /// The bypass list's sets (none when the list is empty).
    pub fn bypass(&self) -> &[ListSet<'a>] {
        &self.bypass
    }

    /// Number of intervals over all sets.
    pub fn intervals(&self) -> usize {
        self.sets.iter().map(|s| s.ranges.len()).sum()
    }

    /// The `set NAME { … }` blocks of the nft script, indented for the table body.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for set in self.bypass.iter().chain(&self.sets) {
            let ty = match set.family {
                Family::V4 => "ipv4_addr",
                Family::V6 => "ipv6_addr",
            };
            let _ = writeln!(s, "\tset {} {{", set.name);
            let _ = writeln!(s, "\t\ttype {ty}");
            let _ = writeln!(s, "\t\tflags interval");
            let _ = writeln!(s, "\t\telements = {{");
            // Eight to a line: a list of thousands stays a readable (and diffable) block.
            let items: Vec<String> = set
                .ranges
                .iter()
                .map(|&r| fmt_addr_range(set.family, r))
                .collect();
            let chunks: Vec<&[String]> = items.chunks(8).collect();
            for (i, c) in chunks.iter().enumerate() {
                let sep = if i + 1 < chunks.len() { "," } else { "" };
                let _ = writeln!(s, "\t\t\t{}{sep}", c.join(", "));
            }
            let _ = writeln!(s, "\t\t}}");
            let _ = writeln!(s, "\t}}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::Sid;
    use verdict_compiler::kernel::{KernelAction, KernelRule};

    fn rule(sid: u32, ranges: Vec<AddrRange>) -> KernelRule {
        KernelRule {
            sid: Sid(sid),
            rev: 1,
            msg: "list".into(),
            matches: vec![KMatch::Addr {
                family: Family::V4,
                side: Side::Src,
                negate: false,
                ranges,
            }],
            action: KernelAction::Alert,
        }
    }

    #[test]
    fn long_lists_get_one_set_each_and_equal_lists_share_it() {
        let long: Vec<AddrRange> = (0..20u128).map(|i| (i * 4, i * 4 + 1)).collect();
        let other: Vec<AddrRange> = (0..20u128).map(|i| (i * 8, i * 8)).collect();
        let plan = KernelPlan {
            rules: vec![
                rule(7, long.clone()),
                rule(8, long.clone()),
                rule(9, other.clone()),
                rule(10, vec![(1, 1), (5, 9)]),
            ],
            ..Default::default()
        };
        let sets = ListSets::of(&plan);
        let names: Vec<&str> = sets.sets().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["sid7_src4", "sid9_src4"]);
        assert_eq!(sets.name(Family::V4, &long), Some("sid7_src4"));
        assert_eq!(
            sets.name(Family::V4, &[(1, 1), (5, 9)]),
            None,
            "short: inline"
        );
        assert_eq!(sets.intervals(), 40);
        let text = sets.text();
        assert!(text.contains("\tset sid7_src4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"));
        assert!(text.contains("0.0.0.0/31, 0.0.0.4/31, "), "{text}");
        assert!(
            !text.contains(",\n\t\t}"),
            "no comma after the last line: {text}"
        );
    }
}

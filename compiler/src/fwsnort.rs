//! The split compared with fwsnort's on the same rule file: which rules both put in iptables,
//! which only fwsnort does (and why verdict keeps each in the engine), which only verdict does.
//!
//! fwsnort translates a rule by approximating what iptables cannot say (flow as conntrack
//! ESTABLISHED, HTTP buffers as the whole packet, content order dropped), so "fwsnort only"
//! is where those approximations are; the reason verdict gives per rule names each of them.
//! The input is fwsnort's own output (`fwsnort.sh` or `fwsnort.save`), read as text.

use crate::classify::{classify, Decision, Fate};
use crate::ir::{Rule, Sid};
use crate::kernel::{KernelCaps, SetContext};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// The sids fwsnort put in iptables, from the rules its script appends. fwsnort names the
/// sid in the rule's comment (`sid:688;`) and, without comments, in its log prefix
/// (`SID688 `); lines that only route traffic (jumps, RETURNs for whitelists) name none.
pub fn translated_sids(script: &str) -> BTreeSet<u32> {
    let mut sids = BTreeSet::new();
    for line in script.lines() {
        let line = line.trim_start();
        if line.starts_with('#') || !line.contains("-A ") {
            continue;
        }
        if let Some(sid) = number_after(line, "sid:").or_else(|| number_after(line, " SID")) {
            sids.insert(sid);
        }
    }
    sids
}

/// The decimal number right after the first `tag` in `line`.
fn number_after(line: &str, tag: &str) -> Option<u32> {
    let rest = &line[line.find(tag)? + tag.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// How verdict's split of one rule file compares with fwsnort's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Rules fwsnort put in iptables.
    pub fwsnort: usize,
    /// Rules verdict put in the kernel (nft or xt string rules).
    pub verdict: usize,
    /// Rules both put in the kernel.
    pub both: usize,
    /// Rules only fwsnort put in iptables, per the reason verdict keeps them in the engine.
    pub fwsnort_only: BTreeMap<String, usize>,
    /// Rules only verdict put in the kernel.
    pub verdict_only: usize,
    /// Sids fwsnort translated that are not among the rules verdict loaded (commented out
    /// or failed to load), so neither side of the split.
    pub not_loaded: usize,
}

impl Comparison {
    /// Rules only fwsnort put in iptables.
    pub fn fwsnort_only_total(&self) -> usize {
        self.fwsnort_only.values().sum()
    }

    /// Appends the report's section on the comparison.
    pub fn write_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\nfwsnort comparison: fwsnort puts {} rules in iptables, verdict {} in the kernel",
            self.fwsnort, self.verdict
        );
        let _ = writeln!(s, "  {:>7}  in the kernel in both", self.both);
        let _ = writeln!(s, "  {:>7}  verdict only", self.verdict_only);
        let _ = writeln!(
            s,
            "  {:>7}  fwsnort only, by why verdict keeps them in the engine (what fwsnort approximates):",
            self.fwsnort_only_total()
        );
        let mut v: Vec<_> = self.fwsnort_only.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, n) in v {
            let _ = writeln!(s, "           {:>7}  {}", n, reason);
        }
        if self.not_loaded > 0 {
            let _ = writeln!(
                s,
                "  {:>7}  translated by fwsnort but not among the rules loaded here",
                self.not_loaded
            );
        }
    }
}

/// Compares fwsnort's translated `sids` with verdict's `fates` for `rules` (the loaded set,
/// in the order `fates` follows), classifying each fwsnort-only rule again for its reason
/// (with `xt_string`, the reason the string chains gave where they were tried).
pub fn compare(
    sids: &BTreeSet<u32>,
    rules: &[Rule],
    fates: &[(Sid, Fate)],
    caps: KernelCaps,
    ctx: &SetContext,
    xt_string: bool,
) -> Comparison {
    let rule_of: HashMap<u32, &Rule> = rules.iter().map(|r| (r.meta.sid.0, r)).collect();
    let fate_of: HashMap<u32, &Fate> = fates.iter().map(|(s, f)| (s.0, f)).collect();
    let mut c = Comparison {
        fwsnort: sids.len(),
        verdict: fates.iter().filter(|(_, f)| *f == Fate::Kernel).count(),
        ..Comparison::default()
    };
    for sid in sids {
        let (Some(rule), Some(fate)) = (rule_of.get(sid), fate_of.get(sid)) else {
            c.not_loaded += 1;
            continue;
        };
        if **fate == Fate::Kernel {
            c.both += 1;
            continue;
        }
        let reason = match classify(rule, caps, true, ctx) {
            Decision::Queue(r) if xt_string && crate::xt::answers(rule, &r, caps, ctx) => {
                crate::xt::lower_xt_string(rule, caps).err().unwrap_or(r)
            }
            Decision::Queue(r) => r,
            Decision::Rejected(r) => format!("rejected: {r}"),
            // Kernel by classification but not in the plan: moved to the engine by the
            // compile options (a threshold.config rate filter).
            Decision::Kernel(_) => "kept in the engine by the compile options".to_string(),
        };
        *c.fwsnort_only.entry(reason).or_default() += 1;
    }
    c.verdict_only = fates
        .iter()
        .filter(|(s, f)| *f == Fate::Kernel && !sids.contains(&s.0))
        .count();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{load_str, LoadOptions};
    use crate::codegen::{compile, CompileOptions};

    #[test]
    fn sids_come_from_appended_rules_in_either_output_form() {
        let script = r#"
### alert tcp any any -> any 1433 (msg:"x"; content:"a"; sid:688; rev:16;)
$IPTABLES -A FWSNORT_FORWARD -d 192.0.2.1 -j RETURN
$IPTABLES -A FWSNORT_FORWARD_ESTAB -p tcp -m string --hex-string "|41|" --algo bm -m comment --comment "sid:688; msg:x; rev:16; FWS:1.6.8;" -j LOG --log-prefix "[1] SID688 ESTAB "
-A FWSNORT_FORWARD -p udp -m udp --dport 53 -m string --hex-string "|9E98|" --algo bm -j LOG --log-prefix "[2] SID23492 "
# $IPTABLES -A FWSNORT_FORWARD ... sid:1;
"#;
        assert_eq!(
            translated_sids(script).into_iter().collect::<Vec<_>>(),
            vec![688, 23492]
        );
    }

    #[test]
    fn the_split_names_why_verdict_keeps_fwsnort_only_rules() {
        let text = r#"
alert udp any any -> any 53 (msg:"anchored"; content:"|01 00|"; offset:2; depth:2; sid:1;)
alert tcp any any -> any 80 (msg:"uri"; flow:to_server,established; content:"/x.php"; http_uri; sid:2;)
alert udp any any -> any 53 (msg:"verdict only"; content:"|00 01|"; depth:2; sid:3;)
"#;
        let (_, loaded) = load_str("t.rules", text, &LoadOptions::default());
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let opts = CompileOptions::default();
        let compiled = compile(&loaded.rules, &opts);
        let fwsnort: BTreeSet<u32> = [1, 2, 99].into_iter().collect();
        let ctx = SetContext::of(&loaded.rules);
        let c = compare(
            &fwsnort,
            &loaded.rules,
            &compiled.fates,
            opts.caps,
            &ctx,
            false,
        );
        assert_eq!(c.fwsnort, 3);
        assert_eq!(c.verdict, 2);
        assert_eq!(c.both, 1);
        assert_eq!(c.verdict_only, 1);
        assert_eq!(c.not_loaded, 1);
        assert_eq!(
            c.fwsnort_only.into_iter().collect::<Vec<_>>(),
            vec![(
                "content in a non-payload buffer needs the engine".to_string(),
                1
            )]
        );
    }
}

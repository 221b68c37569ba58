//! The translation report: how many rules went to the kernel, to the queue, were rejected
//! and why, per keyword; timing and output sizes. A human table and JSON (`report.json`).

use crate::classify::{buffer_name, test_buffer, test_keyword, Fate};
use crate::ir::{Action, Buffer, PayloadTest, Rule};
use crate::kernel::header_keyword;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Rule counts per fate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FateCounts {
    /// rules in the kernel
    pub kernel: usize,
    /// rules in the queue
    pub queue: usize,
    /// rules rejected
    pub rejected: usize,
}

impl FateCounts {
    /// Counts one fate.
    pub fn add(&mut self, fate: &Fate) {
        match fate {
            Fate::Kernel => self.kernel += 1,
            Fate::Queue => self.queue += 1,
            Fate::Rejected(_) => self.rejected += 1,
        }
    }
    /// Sum of all fates.
    pub fn total(&self) -> usize {
        self.kernel + self.queue + self.rejected
    }
}

/// How many queued rules one kernel blocker holds back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockerCount {
    /// Rules this blocker alone keeps out of the kernel: lifting it would move them there.
    pub only: usize,
    /// Rules it is one of several blockers of.
    pub among: usize,
}

/// What the kernel prefilter ([`crate::prefilter`]) did with the queued rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefilterCount {
    /// The mode and, for `auto`, its choice and why (empty: never asked).
    pub decision: String,
    /// Queued rules steered by their patterns.
    pub steered: usize,
    /// Queued rules steered by their ports (no kernel-visible pattern, or prefilter off).
    pub by_ports: usize,
    /// xt string-match steering rules (per family, before the `multiport` split).
    pub rules: usize,
    /// sids of the queued rules with a kernel pattern (steered by it, or made redundant by
    /// port steering, or left to ports by `auto`); empty when the prefilter is off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub with_pattern: Vec<u32>,
}

/// Wall-clock time spent per stage, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// parse + lower (`check::load`)
    pub load_ms: f64,
    /// classify + kernel plan + bytecode
    pub compile_ms: f64,
    /// nft text/JSON rendering
    pub render_ms: f64,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Counts per fate (rules that failed to parse count as rejected).
    pub fates: FateCounts,
    /// Rejected rules per reason.
    pub rejected_reasons: BTreeMap<String, usize>,
    /// Queued rules per reason the kernel could not take them (first reason found).
    pub queue_reasons: BTreeMap<String, usize>,
    /// Per kernel blocker, how many queued rules it holds back (see [`BlockerCount`]).
    #[serde(default)]
    pub kernel_blockers: BTreeMap<String, BlockerCount>,
    /// Per keyword, the fates of the rules using it.
    pub keywords: BTreeMap<String, FateCounts>,
    /// Per action, the fates of the rules using it.
    pub actions: BTreeMap<String, FateCounts>,
    /// Number of nft rules emitted for kernel rules (one IR rule may need several).
    pub nft_rules: usize,
    /// Number of queue steering rules.
    pub steering_rules: usize,
    /// Number of xt string-match rules (`--xt-string`), one per rule and address family.
    pub xt_string_rules: usize,
    /// Rules of the set that went to the kernel as xt string-match rules.
    #[serde(default)]
    pub xt_string_sids: usize,
    /// The kernel prefilter's split of the queued rules.
    #[serde(default)]
    pub prefilter: PrefilterCount,
    /// Queued programs in the bytecode image.
    pub programs: usize,
    /// Queued programs with a prefilter pattern.
    pub programs_with_fast_pattern: usize,
    /// Which queue mechanism the script steers with (`nft queue` / `xt NFQUEUE`).
    pub queue_mechanism: String,
    /// Timing.
    pub timing: Timing,
    /// Output file sizes in bytes.
    pub outputs: BTreeMap<String, u64>,
    /// The split compared with fwsnort's on the same rules (`--compare-fwsnort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwsnort: Option<crate::fwsnort::Comparison>,
}

/// The rule keywords a rule uses (report keys), deduplicated, in a fixed order.
pub fn keywords(rule: &Rule) -> Vec<String> {
    let mut k: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !k.iter().any(|x| x == s) {
            k.push(s.to_string());
        }
    };
    if rule.payload.is_empty() && rule.header.is_empty() && rule.flow == Default::default() {
        push("header-only");
    }
    for h in &rule.header {
        push(header_keyword(h));
    }
    for t in &rule.payload {
        let (kw, buf) = match t {
            PayloadTest::Content(c) => {
                if c.nocase() {
                    push("nocase");
                }
                if c.negated() {
                    push("content:!");
                }
                if c.replace().is_some() {
                    push("replace");
                }
                match c.position() {
                    crate::ir::Position::Relative { .. } => push("distance/within"),
                    crate::ir::Position::Absolute { offset, depth } => {
                        if offset != crate::ir::Operand::Lit(0) || depth.is_some() {
                            push("offset/depth")
                        }
                    }
                    crate::ir::Position::StartsWith => push("startswith"),
                }
                if c.ends_with() {
                    push("endswith");
                }
                ("content", c.buffer())
            }
            t => (test_keyword(t), test_buffer(t).unwrap_or(Buffer::Payload)),
        };
        push(kw);
        if !matches!(buf, Buffer::Payload) {
            push(buffer_name(buf));
        }
    }
    if rule.flow != Default::default() {
        push("flow");
    }
    if !rule.flowbits.is_empty() {
        push("flowbits");
    }
    if rule.threshold.is_some() {
        push("threshold");
    }
    if rule.detection_filter.is_some() {
        push("detection_filter");
    }
    if rule.block.is_some() {
        push("fwsam");
    }
    if !rule.tags.is_empty() {
        push("tag");
    }
    if let crate::ir::Protocol::App(a) = rule.proto {
        push(&format!("proto:{}", a.name()));
    }
    k
}

impl Report {
    /// Counts one rule and its fate.
    pub fn add_rule(&mut self, rule: &Rule, fate: &Fate, queue_reason: Option<&str>) {
        self.fates.add(fate);
        if let Fate::Rejected(r) = fate {
            *self.rejected_reasons.entry(r.clone()).or_default() += 1;
        }
        if let (Fate::Queue, Some(r)) = (fate, queue_reason) {
            *self.queue_reasons.entry(r.to_string()).or_default() += 1;
        }
        for k in keywords(rule) {
            self.keywords.entry(k).or_default().add(fate);
        }
        let a = match rule.action {
            Action::Reject(_) => "reject".to_string(),
            a => a.keyword().to_string(),
        };
        self.actions.entry(a).or_default().add(fate);
    }

    /// Counts the kernel blockers of one queued rule (all of them, in lowering order).
    pub fn add_blockers(&mut self, blockers: &[String]) {
        for b in blockers {
            let c = self.kernel_blockers.entry(b.clone()).or_default();
            if blockers.len() == 1 {
                c.only += 1;
            } else {
                c.among += 1;
            }
        }
    }

    /// The kernel's share of the enforced (kernel + queue) rules, in percent.
    pub fn kernel_share(&self) -> f64 {
        let enforced = self.fates.kernel + self.fates.queue;
        if enforced == 0 {
            return 0.0;
        }
        100.0 * self.fates.kernel as f64 / enforced as f64
    }

    /// Counts rules that could not be loaded at all (parse/lowering errors) as rejected.
    pub fn add_unloaded(&mut self, count: usize, reason: &str) {
        if count == 0 {
            return;
        }
        self.fates.rejected += count;
        *self.rejected_reasons.entry(reason.to_string()).or_default() += count;
    }

    /// The human table.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let total = self.fates.total().max(1) as f64;
        let pct = |n: usize| 100.0 * n as f64 / total;
        let _ = writeln!(s, "verdict compile report");
        let _ = writeln!(s, "======================");
        let _ = writeln!(s, "{:<10} {:>7} {:>7}", "fate", "rules", "%");
        for (name, n) in [
            ("kernel", self.fates.kernel),
            ("queue", self.fates.queue),
            ("rejected", self.fates.rejected),
            ("total", self.fates.total()),
        ] {
            let _ = writeln!(s, "{:<10} {:>7} {:>6.1}%", name, n, pct(n));
        }
        let _ = writeln!(
            s,
            "kernel share of enforced rules: {:.1}% ({} of {})",
            self.kernel_share(),
            self.fates.kernel,
            self.fates.kernel + self.fates.queue
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "kernel: {} nft rules, {} xt string rules; queue: {} programs ({} with a fast pattern), {} steering rules via {}",
            self.nft_rules,
            self.xt_string_rules,
            self.programs,
            self.programs_with_fast_pattern,
            self.steering_rules,
            if self.queue_mechanism.is_empty() { "-" } else { &self.queue_mechanism }
        );
        if self.xt_string_sids > 0 {
            let _ = writeln!(
                s,
                "xt-string: {} rules as {} xt rules (one per address family), each in one chain per header length (xt.sh)",
                self.xt_string_sids, self.xt_string_rules
            );
        }
        if self.prefilter.steered > 0 || self.prefilter.decision.starts_with("auto") {
            let _ = writeln!(
                s,
                "kernel prefilter ({}): {} queued rules steered by pattern ({} string-match rules), {} by ports",
                self.prefilter.decision,
                self.prefilter.steered,
                self.prefilter.rules,
                self.prefilter.by_ports
            );
        }
        let mut sorted = |title: &str, m: &BTreeMap<String, usize>| {
            if m.is_empty() {
                return;
            }
            let mut v: Vec<_> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let _ = writeln!(s, "\n{title}");
            for (k, n) in v {
                let _ = writeln!(s, "  {:>7}  {}", n, k);
            }
        };
        sorted("rejected, by reason:", &self.rejected_reasons);
        sorted(
            "queued, by why the kernel cannot take them:",
            &self.queue_reasons,
        );
        if !self.kernel_blockers.is_empty() {
            let mut v: Vec<_> = self.kernel_blockers.iter().collect();
            v.sort_by(|a, b| {
                (b.1.only, b.1.among)
                    .cmp(&(a.1.only, a.1.among))
                    .then(a.0.cmp(b.0))
            });
            let _ = writeln!(
                s,
                "\nkernel blockers, queued rules each holds back (alone / with others):"
            );
            for (k, c) in v {
                let _ = writeln!(s, "  {:>7}  {:>7}  {}", c.only, c.among, k);
            }
        }
        let _ = writeln!(
            s,
            "\n{:<22} {:>7} {:>7} {:>8}",
            "keyword", "kernel", "queue", "rejected"
        );
        let mut kw: Vec<_> = self.keywords.iter().collect();
        kw.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(b.0)));
        for (k, c) in kw {
            let _ = writeln!(
                s,
                "{:<22} {:>7} {:>7} {:>8}",
                k, c.kernel, c.queue, c.rejected
            );
        }
        let _ = writeln!(
            s,
            "\n{:<22} {:>7} {:>7} {:>8}",
            "action", "kernel", "queue", "rejected"
        );
        for (k, c) in &self.actions {
            let _ = writeln!(
                s,
                "{:<22} {:>7} {:>7} {:>8}",
                k, c.kernel, c.queue, c.rejected
            );
        }
        if let Some(f) = &self.fwsnort {
            f.write_table(&mut s);
        }
        let _ = writeln!(
            s,
            "\ntiming: load {:.1} ms, compile {:.1} ms, render {:.1} ms",
            self.timing.load_ms, self.timing.compile_ms, self.timing.render_ms
        );
        if !self.outputs.is_empty() {
            let _ = writeln!(s, "outputs:");
            for (k, n) in &self.outputs {
                let _ = writeln!(s, "  {:<14} {:>10} bytes", k, n);
            }
        }
        s
    }

    /// The JSON form (`report.json`).
    pub fn to_json(&self) -> String {
        // The share is derived, so it is added here rather than kept in sync as a field.
        let mut v = serde_json::to_value(self).expect("report is always serializable");
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "kernel_share_pct".into(),
                serde_json::json!((self.kernel_share() * 10.0).round() / 10.0),
            );
        }
        serde_json::to_string_pretty(&v).expect("report is always serializable")
    }
}

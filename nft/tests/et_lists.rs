//! ET Open's IP reputation lists (drop.rules, compromised.rules, botcc.rules) go to the kernel
//! when the whole public half is compiled: every list rule is a kernel rule, each list a named
//! interval set; the text and JSON scripts load, and loading again replaces the table in one
//! transaction (same sets, same elements, nothing left over). Checked in a fresh netns.

mod common;

use common::*;
use std::collections::HashSet;
use verdict_compiler::check::{self, LoadOptions, Source};
use verdict_compiler::classify::Fate;
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_nft::lists::ListSets;
use verdict_nft::render::{QueueMechanism, RenderOptions};

const ET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/rules/et-open");
const LISTS: [&str; 3] = ["drop.rules", "compromised.rules", "botcc.rules"];

fn load(paths: &[std::path::PathBuf]) -> Vec<verdict_compiler::ir::Rule> {
    let mut sources = Vec::new();
    for p in paths {
        sources.extend(Source::read(p).expect("read ET rules"));
    }
    check::load(&sources, &LoadOptions::default()).rules
}

#[test]
fn et_open_ip_lists_load_as_kernel_sets() {
    require_netns!();
    let dir = std::path::Path::new(ET);
    let Some(_ran) = must_run::require_shared(dir, module_path!()) else {
        return;
    };
    let list_sids: HashSet<u32> = load(&LISTS.map(|f| dir.join(f)))
        .iter()
        .map(|r| r.meta.sid.0)
        .collect();
    assert!(list_sids.len() >= 70, "{} list rules", list_sids.len());
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    all.sort();
    let rules = load(&all);
    let c = compile(&rules, &CompileOptions::default());
    let not_kernel: Vec<_> = c
        .fates
        .iter()
        .filter(|(s, f)| list_sids.contains(&s.0) && *f != Fate::Kernel)
        .collect();
    assert!(not_kernel.is_empty(), "list rules kept out: {not_kernel:?}");
    assert!(c.report.fates.kernel >= list_sids.len());
    let sets = ListSets::of(&c.kernel);
    assert!(sets.sets().len() >= 50, "{} sets", sets.sets().len());

    let t = Topology::new();
    let ns = &t.gw;
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    let text = t.nft_check_both(ns, &c.kernel, &opts);
    let listed_sets = |t: &Topology| {
        let out = t.ok(ns, &["nft", "-j", "list", "table", "inet", "verdict"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut n_sets = 0;
        let mut n_elems = 0;
        for o in v["nftables"].as_array().unwrap() {
            if let Some(s) = o.get("set") {
                n_sets += 1;
                n_elems += s["elem"].as_array().map_or(0, |a| a.len());
            }
        }
        (n_sets, n_elems)
    };
    for round in 0..2 {
        // The second load replaces the first in its one transaction.
        t.nft_load(ns, &text, false).expect("nft -f");
        let (n_sets, n_elems) = listed_sets(&t);
        assert_eq!(n_sets, sets.sets().len(), "round {round}");
        // The kernel may merge adjacent intervals; it never adds any.
        assert!(
            n_elems > 0 && n_elems <= sets.intervals(),
            "round {round}: {n_elems} elements for {} intervals",
            sets.intervals()
        );
    }
    let listed = t.ok(ns, &["nft", "list", "table", "inet", "verdict"]);
    let loaded = listed
        .lines()
        .filter(|l| l.contains("comment \"sid:"))
        .count();
    assert_eq!(loaded, c.kernel.rules.len());
}

//! Shared helpers for the kernel tests: the root package's netns harness, the compiler tests'
//! hand-built IR, and nft script loading inside a namespace.
#![allow(dead_code)]

#[path = "../../../tests/common/netns.rs"]
pub mod netns;

#[path = "../../../tests/common/must_run.rs"]
pub mod must_run;

#[path = "../../../compiler/tests/back_util/mod.rs"]
mod back_util;

#[allow(unused_imports)] // not every test uses the IR builders
pub use back_util::*;
pub use netns::Topology;

use std::sync::atomic::{AtomicU32, Ordering};

static SCRIPTS: AtomicU32 = AtomicU32::new(0);

/// nft-specific commands run inside one namespace of a [`Topology`].
pub trait NftNs {
    /// Runs a command inside `ns`, asserting success; returns its stdout.
    fn ok(&self, ns: &str, argv: &[&str]) -> String;
    /// Runs each argv list (e.g. the xt commands) inside `ns`, asserting success.
    fn ok_all(&self, ns: &str, cmds: &[Vec<String>]);
    /// `nft -c -f FILE` (with `-j` for JSON) in `ns`; Ok or nft's error output.
    fn nft_check(&self, ns: &str, text: &str, json: bool) -> Result<(), String>;
    /// `nft -f FILE` (with `-j` for JSON) in `ns`; Ok or nft's error output.
    fn nft_load(&self, ns: &str, text: &str, json: bool) -> Result<(), String>;
    /// `nft -c` accepts both renderings of `plan` (text and JSON) in `ns`; returns the text.
    fn nft_check_both(
        &self,
        ns: &str,
        plan: &verdict_compiler::kernel::KernelPlan,
        opts: &verdict_nft::render::RenderOptions,
    ) -> String;
}

impl NftNs for Topology {
    fn ok(&self, ns: &str, argv: &[&str]) -> String {
        String::from_utf8_lossy(&self.exec_ok(ns, argv).stdout).into_owned()
    }
    fn ok_all(&self, ns: &str, cmds: &[Vec<String>]) {
        for cmd in cmds {
            let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
            self.ok(ns, &argv);
        }
    }
    fn nft_check(&self, ns: &str, text: &str, json: bool) -> Result<(), String> {
        nft_file(self, ns, text, json, true)
    }
    fn nft_load(&self, ns: &str, text: &str, json: bool) -> Result<(), String> {
        nft_file(self, ns, text, json, false)
    }
    fn nft_check_both(
        &self,
        ns: &str,
        plan: &verdict_compiler::kernel::KernelPlan,
        opts: &verdict_nft::render::RenderOptions,
    ) -> String {
        let text = verdict_nft::render::render_text(plan, opts);
        self.nft_check(ns, &text, false)
            .unwrap_or_else(|e| panic!("nft -c -f rejected the script: {e}"));
        let json = serde_json::to_string(&verdict_nft::render::render_json(plan, opts)).unwrap();
        self.nft_check(ns, &json, true)
            .unwrap_or_else(|e| panic!("nft -j -c -f rejected the JSON: {e}"));
        text
    }
}

fn nft_file(t: &Topology, ns: &str, text: &str, json: bool, check: bool) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "{ns}-{}.{}",
        SCRIPTS.fetch_add(1, Ordering::SeqCst),
        if json { "json" } else { "nft" }
    ));
    std::fs::write(&path, text).expect("write script");
    let p = path.to_string_lossy().into_owned();
    let mut argv = vec!["nft"];
    if json {
        argv.push("-j");
    }
    if check {
        argv.push("-c");
    }
    argv.extend(["-f", &p]);
    let o = t.exec(ns, &argv);
    let _ = std::fs::remove_file(&path);
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

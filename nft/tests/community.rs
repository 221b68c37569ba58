//! `nft -c -f` (text and JSON) accepts the script generated for the whole Snort community rule
//! set, commented-out rules included, in every rendering mode; iptables-nft accepts the xt
//! commands (steering and --xt-string rules). Checked against the kernel in a fresh netns.

mod common;

use common::*;
use verdict_compiler::check::{self, LoadOptions, Source};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_nft::render::{xt_commands, QueueMechanism, RenderOptions};

const COMMUNITY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rules/snort-community/community.rules"
);

fn community() -> Vec<verdict_compiler::ir::Rule> {
    let path = std::path::Path::new(COMMUNITY);
    let sources = Source::read(path).expect("read community rules");
    let loaded = check::load(
        &sources,
        &LoadOptions {
            include_commented: true,
            ..Default::default()
        },
    );
    assert!(
        loaded.rules.len() > 3000,
        "only {} rules loaded",
        loaded.rules.len()
    );
    loaded.rules
}

#[test]
fn whole_community_set_loads_in_the_kernel_in_every_mode() {
    require_netns!();
    let Some(_ran) = must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let rules = community();
    let t = Topology::new();
    let ns = &t.gw;
    for xt_string in [false, true] {
        let c = compile(
            &rules,
            &CompileOptions {
                xt_string,
                ..Default::default()
            },
        );
        assert!(c.report.fates.kernel > 0);
        assert_eq!(c.report.xt_string_rules, c.kernel.xt_string.len());
        let opts = RenderOptions {
            queue: QueueMechanism::XtNfqueue,
            queues: (0, 1),
            xt_string,
            ..Default::default()
        };
        let text = t.nft_check_both(ns, &c.kernel, &opts);
        // Load for real: the kernel holds one rule per planned rule.
        t.nft_load(ns, &text, false).expect("nft -f");
        let listed = t.ok(ns, &["nft", "list", "table", "inet", "verdict"]);
        let loaded = listed
            .lines()
            .filter(|l| l.contains("comment \"sid:"))
            .count();
        assert_eq!(loaded, c.kernel.rules.len());
        // xt commands (steering, string matches) are accepted by iptables-nft, loaded as
        // `verdict run` loads them (one restore transaction per family), and removed.
        let cmds = xt_commands(&c.kernel, &opts);
        in_netns(ns, move || {
            verdict_nft::apply::load(&text, &cmds).expect("load");
            verdict_nft::apply::remove().expect("remove");
        });
    }
}

/// Runs `f` on a thread inside network namespace `ns` (what `apply` acts on).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).expect("netns file");
        // SAFETY: setns on a namespace file just opened; affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}");
        f()
    })
    .join()
    .expect("netns thread")
}

/// `--xt-string` on the enabled community rules, loaded as `verdict run` loads it: the nft
/// table, then one `iptables-nft-restore --noflush` transaction per family holding the
/// steering and every string chain; a reload refills the same chains (no stale copies), and
/// removal leaves no `VERDICT*` chain. Prints the load times (README's numbers).
#[test]
fn community_xt_string_chains_load_reload_and_go_in_one_transaction_per_family() {
    require_netns!();
    let Some(_ran) = must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let sources = Source::read(std::path::Path::new(COMMUNITY)).expect("read community rules");
    let rules = check::load(&sources, &LoadOptions::default()).rules;
    let c = compile(
        &rules,
        &CompileOptions {
            xt_string: true,
            ..Default::default()
        },
    );
    assert!(
        c.kernel.xt_string.len() > 40,
        "{}",
        c.kernel.xt_string.len()
    );
    let opts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        queues: (0, 1),
        xt_string: true,
        ..Default::default()
    };
    let script = verdict_nft::render::render_text(&c.kernel, &opts);
    let cmds = xt_commands(&c.kernel, &opts);
    let appended = cmds
        .iter()
        .filter(|a| a.contains(&"-A".to_string()))
        .count();
    let t = Topology::new();
    let listing = in_netns(&t.gw, move || {
        let mut times = Vec::new();
        for _ in 0..2 {
            let start = std::time::Instant::now();
            verdict_nft::apply::load(&script, &cmds).expect("load");
            times.push(start.elapsed());
        }
        let listing = |bin: &str| {
            let out = std::process::Command::new(bin).arg("-S").output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let after = (listing("iptables-nft"), listing("ip6tables-nft"));
        let start = std::time::Instant::now();
        verdict_nft::apply::remove().expect("remove");
        eprintln!(
            "community --xt-string: {appended} xt commands; load {:?}, reload {:?}, remove {:?}",
            times[0],
            times[1],
            start.elapsed()
        );
        (after, listing("iptables-nft") + &listing("ip6tables-nft"))
    });
    let ((v4, v6), gone) = listing;
    // Kernel rules: `-s` lists expand, so at least one per command.
    let rules4 = v4.lines().filter(|l| l.starts_with("-A VERDICT")).count();
    assert!(rules4 + v6.lines().filter(|l| l.starts_with("-A VERDICT")).count() >= appended);
    assert_eq!(
        v4.matches("-A FORWARD -j VERDICT").count(),
        1,
        "hooked once"
    );
    assert!(v4.contains("-N VERDICT-TCP-120") && v6.contains("-N VERDICT-TCP-100"));
    assert!(!gone.contains("VERDICT"), "{gone}");
}

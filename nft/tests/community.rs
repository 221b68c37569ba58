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
        // xt commands (steering, string matches) are accepted by iptables-nft.
        let cmds = xt_commands(&c.kernel, &opts);
        t.ok_all(ns, &cmds);
        for bin in ["iptables-nft", "ip6tables-nft"] {
            t.ok(ns, &[bin, "-D", "FORWARD", "-j", "VERDICT"]);
            t.ok(ns, &[bin, "-F", "VERDICT"]);
            t.ok(ns, &[bin, "-X", "VERDICT"]);
        }
    }
}

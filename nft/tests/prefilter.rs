//! Snapshots of the kernel prefilter's steering (`--kernel-prefilter`): the nft script (which
//! then has no queue rule: the steering is all xt) and the iptables-nft commands, for a small
//! rule set with rules steered by their patterns (an HTTP method, a payload content with
//! `nocase`, binary UDP bytes) and one without a kernel pattern that keeps its port steering.
//! Review changes to `snapshots/prefilter/` like code: they say which traffic leaves the kernel.

use verdict_compiler::check::{self, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::prefilter::PrefilterMode;
use verdict_nft::render::{render_text, xt_commands, QueueMechanism, RenderOptions};

const RULES: &str = "\
alert http any any -> any any (msg:\"method\"; flow:established,to_server; http.method; content:\"PROPFIND\"; sid:1; rev:1;)
drop tcp any any -> any 8443 (msg:\"payload\"; flow:established; content:\"evil\"; nocase; sid:2; rev:1;)
alert udp any any -> any 53 (msg:\"udp\"; content:\"|00 01 00 00|\"; sid:3; rev:1;)
";
const NO_PATTERN: &str = "\
alert tcp any any -> any 110 (msg:\"no pattern\"; flow:to_server,established; dsize:>1000; sid:4; rev:1;)
";

/// `auto`'s threshold in these snapshots, fixed so they do not follow a re-measured default.
const MAX_RULES: usize = 8;

fn emitted(rules: &str, mode: PrefilterMode) -> String {
    emitted_with(rules, mode, MAX_RULES)
}

fn emitted_with(rules: &str, mode: PrefilterMode, max_rules: usize) -> String {
    let (_, loaded) = check::load_str("prefilter.rules", rules, &LoadOptions::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let mut c = compile(
        &loaded.rules,
        &CompileOptions {
            prefilter: mode,
            prefilter_max_rules: max_rules,
            ..Default::default()
        },
    );
    // As `verdict run` sets it by default: the 1 MiB stream depth, directions handed back.
    c.kernel.prefilter_depth = Some(1 << 20);
    // Asked for the nft queue statement: the prefilter renders xt steering all the same.
    let opts = RenderOptions {
        queue: QueueMechanism::NftQueue,
        ..Default::default()
    };
    let nft = render_text(&c.kernel, &opts);
    let xt: Vec<String> = xt_commands(&c.kernel, &opts)
        .into_iter()
        .filter(|a| a[0] == "iptables-nft")
        .map(|a| a.join(" "))
        .collect();
    format!(
        "## decision: {} ({} by pattern, {} by ports)\n## nft\n{nft}\n## xt (IPv4)\n{}\n",
        c.report.prefilter.decision,
        c.report.prefilter.steered,
        c.report.prefilter.by_ports,
        xt.join("\n")
    )
}

fn snap(name: &str, body: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../snapshots/prefilter"
    ));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, body));
}

#[test]
fn on_steers_patterns_and_keeps_port_steering_for_the_rest() {
    snap(
        "on",
        emitted(&format!("{RULES}{NO_PATTERN}"), PrefilterMode::On),
    );
}

#[test]
fn auto_chooses_the_prefilter_for_a_small_set_with_patterns_only() {
    snap("auto", emitted(RULES, PrefilterMode::Auto));
}

#[test]
fn auto_keeps_port_steering_when_a_rule_has_no_kernel_pattern() {
    let body = emitted(&format!("{RULES}{NO_PATTERN}"), PrefilterMode::Auto);
    assert!(
        body.starts_with("## decision: auto: off (1 queued rules have no kernel pattern)"),
        "{body}"
    );
    assert!(!body.contains("-m string"), "{body}");
    assert!(body.contains("queue num 0"), "{body}");
}

#[test]
fn auto_with_the_default_threshold_follows_the_measured_crossover() {
    let max = verdict_compiler::prefilter::AUTO_MAX_RULES;
    let body = emitted_with(RULES, PrefilterMode::Auto, max);
    assert!(
        body.starts_with(&format!("## decision: auto: on (3 rules <= {max})")),
        "{body}"
    );
    assert!(body.contains("-m string"), "{body}");
    // One prefilterable rule more than the default: port steering.
    let over: String = (0..=max)
        .map(|i| {
            format!(
                "drop tcp any any -> any 8443 (msg:\"n\"; flow:established; content:\"pattern{i}x\"; sid:{}; rev:1;)\n",
                100 + i
            )
        })
        .collect();
    let body = emitted_with(&over, PrefilterMode::Auto, max);
    assert!(
        body.starts_with(&format!(
            "## decision: auto: off ({} rules > {max})",
            max + 1
        )),
        "{body}"
    );
    assert!(!body.contains("-m string"), "{body}");
}

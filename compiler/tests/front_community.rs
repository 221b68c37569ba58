//! The real Snort community rule set: every enabled rule lowers, ≥ 99% of all rules
//! (commented-out included) lower, and every lowered rule survives
//! rule → IR → canonical text → IR unchanged.

use verdict_compiler::canon;
use verdict_compiler::check::{load, load_str, LoadOptions, Loaded, Source};
use verdict_compiler::diag;
use verdict_compiler::ir::Rule;

mod common;

const COMMUNITY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rules/snort-community/community.rules"
);

fn community() -> Vec<Source> {
    Source::read(std::path::Path::new(COMMUNITY)).expect("read the community rules")
}

#[test]
fn syntax_tree_spans_nest() {
    let Some(_ran) = common::must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let sources = community();
    common::check_ast_nesting(&sources[0].text);
}

#[test]
fn every_enabled_rule_lowers() {
    let Some(_ran) = common::must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let sources = community();
    let loaded = load(&sources, &LoadOptions::default());
    let s = &loaded.summary;
    println!("enabled: {} parsed, {} ok", s.rules_parsed, s.ok);
    if !loaded.diagnostics.is_empty() {
        print!("{}", diag::render(&loaded.diagnostics, &sources, false));
    }
    assert!(
        s.rules_parsed > 800,
        "the community file has ~887 enabled rules"
    );
    assert_eq!(s.ok, s.rules_parsed, "every enabled rule must lower");
    assert!(!loaded.has_errors());
}

/// Loads the enabled and the commented-out rules.
fn load_with_commented(sources: &[Source]) -> Loaded {
    load(
        sources,
        &LoadOptions {
            include_commented: true,
            ..LoadOptions::default()
        },
    )
}

#[test]
fn commented_rules_lower_too() {
    let Some(_ran) = common::must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let sources = community();
    let loaded = load_with_commented(&sources);
    let s = &loaded.summary;
    let frac = s.ok as f64 / s.rules_parsed as f64;
    println!(
        "all rules: {}/{} lower ({:.2}%); commented: {}/{}; rejected by reason: {:?}",
        s.ok,
        s.rules_parsed,
        frac * 100.0,
        s.commented_ok,
        s.commented_parsed,
        s.by_reason
    );
    for d in &loaded.diagnostics {
        let (line, col) = diag::line_col(&sources[0].text, d.span.start);
        println!("  {line}:{col}: {}", d.message);
    }
    assert!(
        s.commented_parsed > 2000,
        "the community file ships ~2600 commented rules"
    );
    assert!(
        frac >= 0.99,
        "at least 99% of all rules must lower, got {:.2}%",
        frac * 100.0
    );
    assert!(
        !loaded.has_errors(),
        "problems in commented-out rules are warnings"
    );
}

/// The IR without its origin (file/line differ between the two loads).
fn sans_origin(r: &Rule) -> Rule {
    let mut r = r.clone();
    r.origin = verdict_compiler::ir::Origin {
        file: String::new(),
        line: 0,
        commented: false,
    };
    r
}

#[test]
fn canonical_text_round_trips_for_every_rule() {
    let Some(_ran) = common::must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let sources = community();
    let loaded = load_with_commented(&sources);
    let mut checked = 0;
    for rule in &loaded.rules {
        let text = canon::to_text(rule);
        let (srcs, again) = load_str("canon.rules", &text, &LoadOptions::default());
        assert!(
            again.diagnostics.is_empty(),
            "canonical text of sid {} does not load:\n{text}\n{}",
            rule.meta.sid,
            diag::render(&again.diagnostics, &srcs, false)
        );
        assert_eq!(again.rules.len(), 1);
        assert_eq!(
            sans_origin(&again.rules[0]),
            sans_origin(rule),
            "sid {} changed through\n{text}",
            rule.meta.sid
        );
        // Canonical text is a fixed point.
        assert_eq!(canon::to_text(&again.rules[0]), text);
        checked += 1;
    }
    println!("round-tripped {checked} rules");
    assert!(checked > 3400);
}

//! Bad input never panics: arbitrary bytes, truncated and mutated community rules, huge
//! lines, deep nesting. Every diagnostic's spans stay inside the source, and rendering
//! them works; whatever lowers also goes through classify and codegen.

#[path = "../../tests/common/must_run.rs"]
mod must_run;

use proptest::prelude::*;
use verdict_compiler::check::{load, LoadOptions, Source};
use verdict_compiler::diag::{self, Code};

const COMMUNITY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rules/snort-community/community.rules"
);

fn check(text: String) -> verdict_compiler::check::Loaded {
    let sources = vec![Source {
        name: "fuzz.rules".into(),
        text,
    }];
    let loaded = load(
        &sources,
        &LoadOptions {
            include_commented: true,
            ..LoadOptions::default()
        },
    );
    let len = sources[0].text.len();
    for d in &loaded.diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= len, "{d:?}");
        for s in &d.secondary {
            assert!(s.span.start <= s.span.end && s.span.end <= len, "{d:?}");
        }
    }
    let _ = diag::render(&loaded.diagnostics, &sources, false);
    let _ = serde_json::to_string(&diag::to_json(&loaded.diagnostics, &sources)).unwrap();
    assert_eq!(
        loaded.summary.ok + loaded.summary.with_errors,
        loaded.summary.rules_parsed
    );
    // The back end too: whatever lowered must classify, generate code and render.
    let c = verdict_compiler::codegen::compile(&loaded.rules, &Default::default());
    assert_eq!(c.fates.len(), loaded.rules.len());
    loaded
}

fn community_rules() -> Vec<String> {
    std::fs::read_to_string(COMMUNITY)
        .map(|t| {
            t.lines()
                .filter(|l| l.starts_with("alert") || l.starts_with("# alert"))
                .map(|l| l.trim_start_matches("# ").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Characters that matter to the grammar, to mutate rules where it hurts.
const NASTY: &[char] = &[
    '"', '|', ';', '\\', '(', ')', ':', ',', '!', '$', '[', ']', '-', '>', '<', ' ', '0', 'x',
    '\n', '#', '/', '\u{0}', 'é',
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(String::from_utf8_lossy(&bytes).into_owned());
    }

    #[test]
    fn rule_shaped_noise_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("alert ".to_string()), Just("tcp ".to_string()), Just("any ".to_string()), Just("-> ".to_string()),
        Just("(".to_string()), Just(")".to_string()), Just("content:\"".to_string()), Just("|0d".to_string()),
        Just("; ".to_string()), Just("sid:1".to_string()), Just("[".to_string()), Just("]".to_string()),
        Just("!".to_string()), Just("$HOME_NET ".to_string()), Just("\\\n".to_string()), Just("pcre:\"/".to_string()),
        Just("byte_test:4,>,".to_string()), Just("within:".to_string()), Just("-1".to_string()), Just("#".to_string()),
        "[a-z_:,0-9 ]{0,8}",
    ], 0..40)) {
        check(parts.concat());
    }
}

#[test]
fn truncated_and_mutated_community_rules_never_panic() {
    let Some(_ran) = must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let rules = community_rules();
    assert!(!rules.is_empty(), "no rules read from {COMMUNITY}");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..rules.len(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(i, cut, what, truncate)| {
            let r = &rules[i];
            let at = cut.index(r.len() + 1);
            let at = (0..=at).rev().find(|&k| r.is_char_boundary(k)).unwrap_or(0);
            let text = if truncate {
                r[..at].to_string()
            } else {
                let mut t = r.clone();
                t.insert(at, *what.get(NASTY));
                t
            };
            check(text);
            Ok(())
        })
        .unwrap();
    // Every proper prefix of a rule is an error, never a panic and never accepted.
    for r in rules.iter().take(200) {
        let cut = r.len() - 1;
        let loaded = check(r[..cut].to_string());
        assert!(
            loaded.rules.is_empty(),
            "truncated rule accepted: {}",
            &r[..cut]
        );
    }
}

#[test]
fn huge_lines_and_deep_nesting_are_reported() {
    let huge = format!(
        "alert tcp any any -> any any (msg:\"{}\"; sid:1;)\n",
        "a".repeat(100_000)
    );
    let l = check(huge);
    assert_eq!(l.diagnostics[0].code, Code::LineTooLong);
    let deep = format!(
        "alert tcp {}1.2.3.4{} any -> any any (sid:1;)",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let l = check(deep);
    assert_eq!(l.diagnostics[0].code, Code::Syntax);
    assert!(l.diagnostics[0].message.contains("nested"));
    let nested_ok = format!(
        "alert tcp {}1.2.3.4{} any -> any any (sid:1;)",
        "[".repeat(20),
        "]".repeat(20)
    );
    assert_eq!(check(nested_ok).rules.len(), 1);
    // A variable that refers to itself is an error, not a stack overflow.
    let mut vars = verdict_compiler::vars::Vars::default();
    vars.set("LOOP", "[$LOOP,1.2.3.4]");
    let sources = vec![Source {
        name: "v.rules".into(),
        text: "alert tcp $LOOP any -> any any (sid:1;)".into(),
    }];
    let l = load(
        &sources,
        &LoadOptions {
            include_commented: false,
            vars,
        },
    );
    assert_eq!(l.diagnostics.len(), 1);
    assert!(
        l.diagnostics[0].message.contains("refers to itself"),
        "{}",
        l.diagnostics[0].message
    );
}

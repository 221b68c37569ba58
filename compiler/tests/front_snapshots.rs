//! Data-driven snapshots: one per file under `rules/valid` and `rules/invalid`, with the IR
//! of every rule that lowered (canonical text + compact JSON) and the rendered diagnostics.
//! Invariants are checked before each snapshot: spans lie inside the source on character
//! boundaries, valid files have no diagnostics, invalid files report one or more problems
//! for each rule but the last "still checked" one.

use std::fmt::Write as _;
use std::path::Path;
use verdict_compiler::check::{load, LoadOptions, Source};
use verdict_compiler::diag::{self, Diagnostic};
use verdict_compiler::{canon, ir};

mod common;
use common::check_ast_nesting;

fn check_spans(d: &Diagnostic, sources: &[Source]) {
    let text = &sources[d.file].text;
    let spans =
        std::iter::once((d.file, d.span)).chain(d.secondary.iter().map(|s| (s.file, s.span)));
    for (file, span) in spans {
        let t = &sources[file].text;
        assert!(
            span.start <= span.end && span.end <= t.len(),
            "span {span:?} outside the source: {d:?}"
        );
        assert!(
            t.is_char_boundary(span.start) && t.is_char_boundary(span.end),
            "span {span:?} splits a character"
        );
    }
    assert!(d.span.end <= text.len());
}

fn snapshot(path: &Path) -> (String, Vec<Diagnostic>, Vec<ir::Rule>) {
    let text = std::fs::read(path).unwrap();
    let name = format!(
        "rules/{}/{}",
        path.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap(),
        path.file_name().unwrap().to_str().unwrap()
    );
    let text = String::from_utf8_lossy(&text).into_owned();
    check_ast_nesting(&text);
    let sources = vec![Source { name, text }];
    let loaded = load(&sources, &LoadOptions::default());
    for d in &loaded.diagnostics {
        check_spans(d, &sources);
    }
    let mut out = String::from("## IR\n");
    for r in &loaded.rules {
        // JSON without the origin (u128 addresses rule out serde_json::Value).
        let mut bare = r.clone();
        bare.origin = ir::Origin {
            file: String::new(),
            line: 0,
            commented: false,
        };
        let json = serde_json::to_string(&bare).unwrap();
        let json = json.split(",\"origin\"").next().unwrap();
        let _ = writeln!(
            out,
            "line {}: {}\n  {}}}",
            r.origin.line,
            canon::to_text(r),
            json
        );
    }
    out.push_str("\n## diagnostics\n");
    out.push_str(&diag::render(&loaded.diagnostics, &sources, false));
    (out, loaded.diagnostics, loaded.rules)
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/front"));
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn valid_rules() {
    settings().bind(|| {
        insta::glob!("../../rules", "valid/*.rules", |path| {
            let (out, diags, rules) = snapshot(path);
            assert!(
                diags.is_empty(),
                "{} has diagnostics:\n{out}",
                path.display()
            );
            assert!(!rules.is_empty());
            // The hand-written corpus round-trips through canonical text too.
            for r in &rules {
                let text = canon::to_text(r);
                let (_, again) = verdict_compiler::check::load_str(
                    "canon.rules",
                    &text,
                    &LoadOptions::default(),
                );
                assert!(
                    again.diagnostics.is_empty(),
                    "{text}: {:?}",
                    again.diagnostics
                );
                let mut a = again.rules[0].clone();
                a.origin = r.origin.clone();
                assert_eq!(&a, r, "round trip changed {text}");
            }
            insta::assert_snapshot!(out);
        });
    });
}

#[test]
fn invalid_rules() {
    settings().bind(|| {
        insta::glob!("../../rules", "invalid/*.rules", |path| {
            let (out, diags, _) = snapshot(path);
            assert!(!diags.is_empty(), "{} has no diagnostics", path.display());
            insta::assert_snapshot!(out);
        });
    });
}

//! Parse + lower throughput on the Snort community rule set (all rules, commented-out ones
//! included). Prints a table; run with `cargo bench -p verdict-compiler --bench parse`.
//! Each stage is timed as the best of repeated runs for 3 s on one core.

mod common;

use std::time::{Duration, Instant};
use verdict_compiler::check::{load, LoadOptions};
use verdict_compiler::lower::Lowerer;
use verdict_compiler::parse;

/// `cargo bench` passes `--bench`; under `cargo test --all-targets` each stage runs once, as
/// a smoke test, instead of for 3 s.
fn budget() -> Duration {
    if std::env::args().any(|a| a == "--bench") {
        Duration::from_secs(3)
    } else {
        Duration::ZERO
    }
}

fn measure(f: &dyn Fn()) -> Duration {
    let mut best = Duration::MAX;
    let start = Instant::now();
    let budget = budget();
    while best == Duration::MAX || start.elapsed() < budget {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}

fn main() {
    let Some(sources) = common::community() else {
        return;
    };
    let opts = LoadOptions {
        include_commented: true,
        ..LoadOptions::default()
    };
    let t = &sources[0].text;
    let bytes = t.len();
    let loaded = load(&sources, &opts);
    let n = loaded.summary.rules_parsed;
    let asts: Vec<_> = parse::split(t, true)
        .into_iter()
        .filter_map(|c| parse::parse_rule(&t[c.span.range()], c.span.start, 0, c.commented).ok())
        .collect();

    let stages: Vec<(&str, Duration)> = vec![
        (
            "split into rules",
            measure(&|| {
                std::hint::black_box(parse::split(t, true));
            }),
        ),
        (
            "pest: headers only",
            measure(&|| {
                for c in parse::split(t, true) {
                    std::hint::black_box(parse::looks_like_rule(&t[c.span.range()]));
                }
            }),
        ),
        (
            "pest: whole rules",
            measure(&|| {
                for c in parse::split(t, true) {
                    let _ = std::hint::black_box(parse::parse_rule(
                        &t[c.span.range()],
                        c.span.start,
                        0,
                        c.commented,
                    ));
                }
            }),
        ),
        (
            "lower (from AST)",
            measure(&|| {
                let mut lw = Lowerer::new(&opts.vars);
                for a in &asts {
                    let _ = std::hint::black_box(lw.lower(a, 0, "community.rules", 1));
                }
            }),
        ),
        (
            "parse + lower, streamed",
            measure(&|| {
                let mut lw = Lowerer::new(&opts.vars);
                for c in parse::split(t, true) {
                    if let Ok(a) =
                        parse::parse_rule(&t[c.span.range()], c.span.start, 0, c.commented)
                    {
                        let _ = std::hint::black_box(lw.lower(&a, 0, "community.rules", 1));
                    }
                }
            }),
        ),
        (
            "check::load (keeps IR)",
            measure(&|| {
                std::hint::black_box(load(&sources, &opts));
            }),
        ),
    ];
    println!(
        "community.rules: {n} rules ({} lower), {:.1} KiB, one core, best of 3 s",
        loaded.summary.ok,
        bytes as f64 / 1024.0
    );
    println!("| stage                    | time (ms) | rules/s    | MB/s   |");
    println!("|--------------------------|-----------|------------|--------|");
    for (name, d) in stages {
        let secs = d.as_secs_f64();
        println!(
            "| {name:<24} | {:>9.2} | {:>10.0} | {:>6.1} |",
            secs * 1e3,
            n as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
}

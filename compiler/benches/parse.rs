//! Parse + lower throughput on the Snort community rule set (all rules, commented ones
//! included). Prints a table; run with `cargo bench -p verdict-compiler --bench parse`.

use std::time::{Duration, Instant};
use verdict_compiler::check::{load, LoadOptions, Source};
use verdict_compiler::parse;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/rules/snort-community/community.rules"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        println!("skipped: {path} not found");
        return;
    };
    let sources = vec![Source {
        name: "community.rules".into(),
        text,
    }];
    let opts = LoadOptions {
        include_commented: true,
        ..LoadOptions::default()
    };
    let bytes = sources[0].text.len();

    // Warm up, and count the rules once.
    let loaded = load(&sources, &opts);
    let n = loaded.summary.rules_parsed;

    let measure = |f: &dyn Fn()| -> Duration {
        let mut best = Duration::MAX;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed());
        }
        best
    };
    let split = measure(&|| {
        std::hint::black_box(parse::split(&sources[0].text, true));
    });
    let parse_only = measure(&|| {
        let t = &sources[0].text;
        for c in parse::split(t, true) {
            let _ = std::hint::black_box(parse::parse_rule(
                &t[c.span.range()],
                c.span.start,
                0,
                c.commented,
            ));
        }
    });
    let full = measure(&|| {
        std::hint::black_box(load(&sources, &opts));
    });
    println!(
        "community.rules: {n} rules ({} ok), {:.1} KiB, one core, best of 3 s",
        loaded.summary.ok,
        bytes as f64 / 1024.0
    );
    println!("| stage                  | time (ms) | rules/s    | MB/s   |");
    println!("|------------------------|-----------|------------|--------|");
    for (name, d) in [
        ("split into rules", split),
        ("split + pest parse", parse_only),
        ("split + parse + lower", full),
    ] {
        let secs = d.as_secs_f64();
        println!(
            "| {name:<22} | {:>9.2} | {:>10.0} | {:>6.1} |",
            secs * 1e3,
            n as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
}

//! Compile throughput on the Snort community rule set: parse+lower, classify+plan+codegen,
//! nft rendering (text and JSON), bytecode serialization; output sizes. Prints a table; run
//! with `cargo bench -p verdict-compiler --bench compile`.
//! Targets (DESIGN.md): whole set well under 0.5 s, ≥ 100k rules/s for lowering + emit.

mod common;

use std::time::{Duration, Instant};
use verdict_compiler::check::{load, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_nft::render::{render_json, render_text, xt_commands, QueueMechanism, RenderOptions};

/// Median wall time of `runs` calls.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[runs / 2], last.expect("at least one run"))
}

fn main() {
    let Some(sources) = common::community() else {
        return;
    };
    const RUNS: usize = 15;
    println!("verdict compile benchmark: Snort community rules, median of {RUNS} runs\n");
    println!(
        "{:<22} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11} {:>12}",
        "set", "rules", "load ms", "compile ms", "render ms", "image ms", "total ms", "rules/s"
    );
    let mut sizes = Vec::new();
    for (label, include_commented) in [("enabled", false), ("incl. commented", true)] {
        let opts = LoadOptions {
            include_commented,
            ..LoadOptions::default()
        };
        let (t_load, loaded) = median(RUNS, || load(&sources, &opts));
        let rules = loaded.rules;
        let copts = CompileOptions::default();
        let (t_compile, compiled) = median(RUNS, || compile(&rules, &copts));
        let ropts = RenderOptions {
            queue: QueueMechanism::XtNfqueue,
            ..Default::default()
        };
        let (t_render, (nft, json, xt)) = median(RUNS, || {
            (
                render_text(&compiled.kernel, &ropts),
                serde_json::to_string(&render_json(&compiled.kernel, &ropts)).expect("json"),
                xt_commands(&compiled.kernel, &ropts),
            )
        });
        let (t_image, vbc) = median(RUNS, || compiled.image.to_bytes());
        let total = t_load + t_compile + t_render + t_image;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<22} {:>7} {:>11.2} {:>11.2} {:>11.2} {:>11.2} {:>11.2} {:>12.0}",
            label,
            rules.len(),
            ms(t_load),
            ms(t_compile),
            ms(t_render),
            ms(t_image),
            ms(total),
            rules.len() as f64 / total.as_secs_f64()
        );
        let emit = t_compile + t_render + t_image;
        sizes.push((
            label,
            rules.len() as f64 / emit.as_secs_f64(),
            compiled.report.fates,
            nft.len(),
            json.len(),
            vbc.len(),
            xt.len(),
        ));
    }
    println!(
        "\n{:<22} {:>14} {:>8} {:>8} {:>9} {:>12} {:>12} {:>12} {:>9}",
        "set",
        "emit rules/s",
        "kernel",
        "queue",
        "rejected",
        "verdict.nft",
        "verdict.json",
        "rules.vbc",
        "xt cmds"
    );
    for (label, emit, f, nft, json, vbc, xt) in sizes {
        println!(
            "{:<22} {:>14.0} {:>8} {:>8} {:>9} {:>12} {:>12} {:>12} {:>9}",
            label, emit, f.kernel, f.queue, f.rejected, nft, json, vbc, xt
        );
    }
    println!("\n(emit = classify + plan + codegen + render + serialize, without parsing)");
}

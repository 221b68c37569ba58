//! Compile throughput end to end, what `verdict compile` does short of writing files: read
//! the rule files, parse + lower, classify + plan + codegen, nft rendering (text, pretty JSON,
//! xt commands), bytecode serialization and the report; output sizes. Sets: the Snort
//! community rules (enabled, and with the commented-out ones) and the ET Open half
//! (`../shared/rules/et-open`, every `*.rules` file). Prints a table; run with
//! `cargo bench -p verdict-compiler --bench compile`.
//! Targets: whole community set well under 0.5 s (DESIGN.md); ≥ 50k rules/s end to end on
//! the ET Open half (issue 10).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};
use verdict_compiler::check::{load, LoadOptions, Source};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_nft::render::{render_json, render_text, xt_commands, QueueMechanism, RenderOptions};

/// CPU time of the whole process (all threads), in seconds.
fn process_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Median wall time and least CPU time (all threads) of `runs` calls. On a shared machine
/// the wall time counts the other builds' time slices too; the CPU time does not, but it
/// does not show what parallel stages gain either: both are printed.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, f64, T) {
    let mut times = Vec::with_capacity(runs);
    let mut cpu = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let c = process_cpu();
        let out = f();
        cpu = cpu.min(process_cpu() - c);
        times.push(t.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[runs / 2], cpu, last.expect("at least one run"))
}

/// Under `cargo test --all-targets` (no `--bench`) each stage runs once, as a smoke test.
fn runs() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        15
    } else {
        1
    }
}

/// Output sizes and fates of one set.
struct Sizes {
    label: &'static str,
    emit_rules_s: f64,
    fates: verdict_compiler::report::FateCounts,
    nft: usize,
    json: usize,
    vbc: usize,
    xt: usize,
}

fn bench_set(label: &'static str, path: &Path, include_commented: bool, runs: usize) -> Sizes {
    let (t_read, c_read, sources) =
        median(runs, || Source::read(path).expect("reading the rule set"));
    let opts = LoadOptions {
        include_commented,
        ..LoadOptions::default()
    };
    let (t_load, c_load, loaded) = median(runs, || load(&sources, &opts));
    let rules = loaded.rules;
    let copts = CompileOptions::default();
    let (t_compile, c_compile, compiled) = median(runs, || compile(&rules, &copts));
    let ropts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        ..Default::default()
    };
    let (t_render, c_render, (nft, json, xt)) = median(runs, || {
        (
            render_text(&compiled.kernel, &ropts),
            serde_json::to_string_pretty(&render_json(&compiled.kernel, &ropts)).expect("json"),
            xt_commands(&compiled.kernel, &ropts),
        )
    });
    let (t_image, c_image, vbc) = median(runs, || compiled.image.to_bytes());
    let (t_report, c_report, _) = median(runs, || {
        (compiled.report.to_table(), compiled.report.to_json())
    });
    let total = t_read + t_load + t_compile + t_render + t_image + t_report;
    let cpu = c_read + c_load + c_compile + c_render + c_image + c_report;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // Rules read, as `verdict compile` counts them: the ones that failed to load took their
    // parse time too.
    let n = loaded.summary.rules_parsed;
    println!(
        "{:<20} {:>6} {:>7.1} {:>7.1} {:>10.1} {:>9.1} {:>8.1} {:>9.1} {:>8.1} {:>8.0} {:>8.1} {:>8.0}",
        label,
        n,
        ms(t_read),
        ms(t_load),
        ms(t_compile),
        ms(t_render),
        ms(t_image),
        ms(t_report),
        ms(total),
        n as f64 / total.as_secs_f64(),
        cpu * 1e3,
        n as f64 / cpu
    );
    let emit = t_compile + t_render + t_image;
    Sizes {
        label,
        emit_rules_s: n as f64 / emit.as_secs_f64(),
        fates: compiled.report.fates,
        nft: nft.len(),
        json: json.len(),
        vbc: vbc.len(),
        xt: xt.len(),
    }
}

fn main() {
    let runs = runs();
    let sets = [
        (
            "community, enabled",
            "snort-community/community.rules",
            false,
        ),
        ("community, all", "snort-community/community.rules", true),
        ("ET Open half", "et-open", false),
    ];
    println!(
        "verdict compile benchmark, end to end without writing files, median of {runs} runs\n"
    );
    println!(
        "{:<20} {:>6} {:>7} {:>7} {:>10} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "set",
        "rules",
        "read",
        "load",
        "compile",
        "render",
        "image",
        "report",
        "wall ms",
        "rules/s",
        "CPU ms",
        "rules/s"
    );
    let mut sizes = Vec::new();
    for (label, rel, include_commented) in sets {
        let path = common::shared_rules(rel);
        if !path.exists() {
            common::must_run::skip(&format!("{} not found", path.display()));
            continue;
        }
        sizes.push(bench_set(label, &path, include_commented, runs));
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
    for s in sizes {
        println!(
            "{:<22} {:>14.0} {:>8} {:>8} {:>9} {:>12} {:>12} {:>12} {:>9}",
            s.label,
            s.emit_rules_s,
            s.fates.kernel,
            s.fates.queue,
            s.fates.rejected,
            s.nft,
            s.json,
            s.vbc,
            s.xt
        );
    }
    println!(
        "\n(rules = rules read, loaded or not; stages in wall ms (median); read = the files from \
         disk; CPU = all threads, least of the runs; emit = classify + plan + codegen + render + \
         serialize, without parsing)"
    );
}

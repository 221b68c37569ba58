//! `verdict compile RULES... -o DIR`: load rules, classify them, write the nft script (text
//! and JSON), the bytecode image, the xt commands when needed, and the translation report.

use anyhow::{bail, Context};
use std::path::PathBuf;
use std::time::Instant;
use verdict_compiler::check::{self, LoadOptions, Source};
use verdict_compiler::codegen::{self, CompileOptions};
use verdict_compiler::kernel::KernelCaps;
use verdict_compiler::prefilter::PrefilterMode;
use verdict_compiler::steer::{SteerMode, SteerPolicy};
use verdict_compiler::{diag, disasm};
use verdict_nft::render::{self, QueueMechanism, RenderOptions};

/// Queue mechanism as given on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Mechanism {
    /// nft's `queue` statement (needs CONFIG_NFT_QUEUE).
    Nft,
    /// iptables-nft's xt NFQUEUE target (works everywhere iptables-nft does).
    Xt,
}

/// Parses `--steer`.
pub fn parse_steer(s: &str) -> Result<SteerMode, String> {
    SteerMode::from_name(s).ok_or_else(|| format!("`{s}`: expected ports, all-tcp or all"))
}

/// Parses `--kernel-prefilter`.
pub fn parse_prefilter(s: &str) -> Result<PrefilterMode, String> {
    PrefilterMode::from_name(s).ok_or_else(|| format!("`{s}`: expected auto, on or off"))
}

/// Arguments of `verdict compile`.
#[derive(clap::Args)]
pub struct Args {
    /// Rule files or directories (their `*.rules`, recursively).
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Output directory (created if missing).
    #[arg(short, long)]
    pub out: PathBuf,
    /// verdict.toml whose `[vars]` table sets HOME_NET, ports, …
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// fwsnort parity: unanchored single contents as iptables-nft `-m string` rules.
    #[arg(long)]
    pub xt_string: bool,
    /// Keep every rule with a `flow` condition in the queue instead of answering it with
    /// conntrack state and direction (as `[kernel] flow = "queue"`).
    #[arg(long)]
    pub flow_in_queue: bool,
    /// How to steer packets to NFQUEUE. `xt` is the default because the nft queue
    /// statement is missing on some kernels; `verdict run` probes and re-renders.
    #[arg(long, value_enum, default_value = "xt")]
    pub queue_mechanism: Mechanism,
    /// Queue numbers `A:B` (balanced over A..=B).
    #[arg(long, default_value = "0:0", value_parser = parse_queues)]
    pub queues: (u16, u16),
    /// NFLOG group kernel alerts are logged to.
    #[arg(long, default_value_t = 1)]
    pub log_group: u16,
    /// Also compile rules that are commented out (`# alert ...`).
    #[arg(long)]
    pub include_commented: bool,
    /// Fail closed: no queue bypass when no engine listens.
    #[arg(long)]
    pub fail_closed: bool,
    /// Print what became of one sid: fate, nft rules, bytecode listing.
    #[arg(long, value_name = "SID")]
    pub explain: Option<u32>,
    /// What the steering queues: `ports` (the rules' ports and the app protocols' ports, the
    /// default), `all-tcp` (every TCP packet, for content-based protocol detection on any
    /// port) or `all` (every TCP and UDP packet).
    #[arg(long, value_parser = parse_steer)]
    pub steer: Option<SteerMode>,
    /// fwsnort's output for the same rules (`fwsnort.sh` or `fwsnort.save`): the report then
    /// compares the kernel split with fwsnort's, rule by rule.
    #[arg(long, value_name = "FILE")]
    pub compare_fwsnort: Option<PathBuf>,
    /// Kernel prefilter for queued rules (default `off`, or `[kernel] prefilter`): `on`
    /// steers a queued rule whose fast pattern is verbatim packet bytes by an xt string match
    /// instead of its ports (the rest of a steered flow is queued too); `auto` does so when
    /// every queued rule has such a pattern and there are few enough (README "Kernel
    /// prefilter"). A pattern split across two packets then steers nothing.
    #[arg(long, value_parser = parse_prefilter)]
    pub kernel_prefilter: Option<PrefilterMode>,
    /// Do not print the report table.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_queues(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once(':').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|e| format!("queue number {a:?}: {e}"))?;
    let b: u16 = b.parse().map_err(|e| format!("queue number {b:?}: {e}"))?;
    if a > b {
        return Err(format!("queue range {a}:{b} is empty"));
    }
    Ok((a, b))
}

/// Runs `verdict compile`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let mut sources: Vec<Source> = Vec::new();
    for p in &args.rules {
        sources.extend(Source::read(p).with_context(|| format!("reading {}", p.display()))?);
    }
    // The whole file is validated, so a typo in any key is refused here too.
    let cfg = crate::config::Config::load_opt(args.config.as_deref())?;
    let steer_mode = args.steer.or(cfg.engine.steer).unwrap_or_default();
    // As `verdict run` with this config would search (its stream depth and bypass).
    let prefilter_depth = crate::cmd::live::prefilter_depth(None, None, &cfg)?;
    let vars = cfg.vars;
    // The config's bypass list is part of the table `verdict run` loads: shown here too.
    let bypass = cfg.bypass.ranges().map_err(|e| anyhow::anyhow!("{e}"))?;
    let steer_vars = vars.clone();
    let opts = LoadOptions {
        include_commented: args.include_commented,
        vars,
    };
    let loaded = check::load(&sources, &opts);
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    if !loaded.diagnostics.is_empty() {
        eprint!("{}", diag::render(&loaded.diagnostics, &sources, false));
    }
    let unloaded = loaded.summary.with_errors;
    if loaded.rules.is_empty() {
        bail!(
            "no rule could be loaded from {} file(s) ({} failed)",
            sources.len(),
            unloaded
        );
    }

    let copts = CompileOptions {
        log_group: args.log_group,
        caps: KernelCaps {
            ih_payload: true,
            ct_flow: !args.flow_in_queue && cfg.kernel.flow == crate::config::KernelFlow::Conntrack,
        },
        kernel: true,
        xt_string: args.xt_string,
        image_all: false,
        steer: SteerPolicy::new(steer_mode, &steer_vars),
        prefilter: args
            .kernel_prefilter
            .or(cfg.kernel.prefilter)
            .unwrap_or_default(),
        prefilter_max_rules: cfg
            .kernel
            .prefilter_max_rules
            .unwrap_or(verdict_compiler::prefilter::AUTO_MAX_RULES),
        ..Default::default()
    };
    let mut compiled = codegen::compile(&loaded.rules, &copts);
    (compiled.kernel.bypass_v4, compiled.kernel.bypass_v6) = bypass;
    compiled.kernel.prefilter_depth = prefilter_depth;
    let ropts = RenderOptions {
        queue: match args.queue_mechanism {
            Mechanism::Nft => QueueMechanism::NftQueue,
            Mechanism::Xt => QueueMechanism::XtNfqueue,
        },
        queues: args.queues,
        log_group: args.log_group,
        xt_string: args.xt_string,
        fail_open: !args.fail_closed,
    };
    let t1 = Instant::now();
    let nft_text = render::render_text(&compiled.kernel, &ropts);
    let nft_json = serde_json::to_string_pretty(&render::render_json(&compiled.kernel, &ropts))?;
    let xt = render::xt_commands(&compiled.kernel, &ropts);
    let render_ms = t1.elapsed().as_secs_f64() * 1e3;
    // The kernel half goes into the image too: `verdict run -r rules.vbc` renders its table
    // from it with the run's own queues, log group and bypass list.
    compiled.attach_live(&loaded.rules, steer_mode);
    let vbc = compiled.image.to_bytes();

    let fwsnort = match &args.compare_fwsnort {
        Some(path) => Some(compare_fwsnort(path, &loaded.rules, &compiled, &copts)?),
        None => None,
    };
    let report = &mut compiled.report;
    report.fwsnort = fwsnort;
    // Rules that did not load are rejected too, keyed by their first diagnostic.
    let mut counted = 0;
    for (code, n) in &loaded.summary.by_reason {
        report.add_unloaded(*n, &format!("load error: {code}"));
        counted += n;
    }
    report.add_unloaded(unloaded.saturating_sub(counted), "load error");
    report.queue_mechanism = verdict_nft::prefilter::effective(&compiled.kernel, &ropts)
        .queue
        .name()
        .to_string();
    report.timing.load_ms = load_ms;
    report.timing.render_ms = render_ms;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let write = |name: &str, data: &[u8]| -> anyhow::Result<u64> {
        let p = args.out.join(name);
        std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
        Ok(data.len() as u64)
    };
    report.outputs.insert(
        "verdict.nft".into(),
        write("verdict.nft", nft_text.as_bytes())?,
    );
    report.outputs.insert(
        "verdict.json".into(),
        write("verdict.json", nft_json.as_bytes())?,
    );
    report
        .outputs
        .insert("rules.vbc".into(), write("rules.vbc", &vbc)?);
    let xt_path = args.out.join("xt.sh");
    if xt.is_empty() {
        // A stale xt.sh from an earlier compile would install rules this plan does not have.
        let _ = std::fs::remove_file(&xt_path);
    } else {
        report.outputs.insert(
            "xt.sh".into(),
            write("xt.sh", render::xt_script(&xt).as_bytes())?,
        );
    }
    let table = report.to_table();
    write("report.txt", table.as_bytes())?;
    write("report.json", report.to_json().as_bytes())?;

    if let Some(sid) = args.explain {
        explain(sid, &loaded.rules, &compiled, &copts, &ropts);
    }
    if !args.quiet {
        print!("{table}");
        println!("wrote {}", args.out.display());
    }
    // The process ends here: freeing the sources, the IR and the image allocation by
    // allocation took ~15 % of a compile of ET Open, for memory the exit returns anyway.
    std::mem::forget((sources, loaded, compiled));
    Ok(0)
}

/// The split of `compiled` compared with fwsnort's output at `path` for the same rules.
fn compare_fwsnort(
    path: &std::path::Path,
    rules: &[verdict_compiler::ir::Rule],
    compiled: &codegen::Compiled,
    copts: &CompileOptions,
) -> anyhow::Result<verdict_compiler::fwsnort::Comparison> {
    let script = std::fs::read_to_string(path)
        .with_context(|| format!("reading fwsnort's output {}", path.display()))?;
    let sids = verdict_compiler::fwsnort::translated_sids(&script);
    if sids.is_empty() {
        bail!(
            "{}: no rule in it names a sid (expected fwsnort's fwsnort.sh or fwsnort.save)",
            path.display()
        );
    }
    let ctx = verdict_compiler::kernel::SetContext::of(rules);
    Ok(verdict_compiler::fwsnort::compare(
        &sids,
        rules,
        &compiled.fates,
        copts.caps,
        &ctx,
        copts.xt_string,
    ))
}

/// Prints the fate (with the reason), kernel rules and bytecode of one sid.
fn explain(
    sid: u32,
    rules: &[verdict_compiler::ir::Rule],
    compiled: &codegen::Compiled,
    copts: &CompileOptions,
    ropts: &RenderOptions,
) {
    use verdict_compiler::classify::{classify, Decision, Fate};
    let sid = verdict_compiler::ir::Sid(sid);
    let Some(rule) = rules.iter().find(|r| r.meta.sid == sid) else {
        println!("sid {sid}: not loaded (see the diagnostics)");
        return;
    };
    println!("sid {sid}: {}", verdict_compiler::canon::to_text(rule));
    let fate = compiled
        .fates
        .iter()
        .find(|(s, _)| *s == sid)
        .map(|(_, f)| f);
    let ctx = verdict_compiler::kernel::SetContext::of(rules);
    let why = match classify(rule, copts.caps, copts.kernel, &ctx) {
        Decision::Kernel(_) => "kernel".to_string(),
        Decision::Queue(r) if fate == Some(&Fate::Kernel) => {
            format!("kernel via --xt-string (the nft path says: {r})")
        }
        // In xt-string mode, why the string-match form could not take it either.
        Decision::Queue(r) if copts.xt_string && r == verdict_compiler::kernel::UNANCHORED => {
            match verdict_compiler::kernel::lower_xt_string(rule, copts.caps) {
                Err(xt) => format!("queue ({r}; --xt-string: {xt})"),
                Ok(_) => format!("queue ({r}; --xt-string: another blocker above)"),
            }
        }
        Decision::Queue(r) => format!("queue ({r})"),
        Decision::Rejected(r) => format!("rejected ({r})"),
    };
    println!("fate: {why}");
    let mut plan = compiled.kernel.clone();
    plan.rules.retain(|r| r.sid == sid);
    plan.xt_string.retain(|r| r.sid == sid);
    plan.steering.clear();
    for line in verdict_nft::lists::ListSets::of(&plan).text().lines() {
        println!("set: {}", line.trim());
    }
    for line in render::rule_lines(&plan, ropts) {
        println!("nft: {line}");
    }
    if !plan.xt_string.is_empty() {
        let xt = RenderOptions {
            xt_string: true,
            ..*ropts
        };
        for line in render::xt_string_review(&plan, &xt) {
            println!("xt: {line}");
        }
    }
    for p in compiled.image.programs.iter().filter(|p| p.sid == sid) {
        print!("{}", disasm::program(p));
    }
}

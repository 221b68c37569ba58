//! `verdict replay`: run the engine over capture files offline, with the same detection code
//! as `verdict run`, writing the same EVE JSON / fast.log / evidence pcap, and a summary.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use verdict_compiler::bytecode::{RuleSetImage, IMAGE_MAGIC};
use verdict_engine::detect::threshold::ThresholdConfig;
use verdict_engine::detect::{DetectConfig, Detector};
use verdict_engine::output::{OutputConfig, Writer};
use verdict_engine::replay::{ChecksumPolicy, ReplayOptions, ReplaySummary, Replayer};

/// Checksum policy names (`-k`, as Suricata's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Checksums {
    /// Inspect packets whatever their checksums (default: offloading makes bad ones common).
    None,
    /// Skip packets with a bad IPv4/TCP/UDP checksum, as the receiving host would.
    All,
}

/// Arguments of `verdict replay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Capture files (pcap or pcapng), replayed in order as one traffic stream.
    // Not `required` for clap: when `-r` swallowed the captures, `run` explains that.
    #[arg(value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Rule files or directories (`*.rules`), or a compiled bytecode image.
    #[arg(short = 'r', long = "rules", required = true, num_args = 1.., value_name = "RULES")]
    pub rules: Vec<PathBuf>,
    /// Directory for eve.json, fast.log and evidence.pcap.
    #[arg(short = 'o', long = "output", default_value = ".", value_name = "DIR")]
    pub output: PathBuf,
    /// TCP flows first seen mid-way count as established (as after an engine restart).
    #[arg(long)]
    pub midstream: bool,
    /// Snort/Suricata threshold.config (threshold, event_filter, suppress, rate_filter).
    #[arg(long, value_name = "FILE")]
    pub threshold_file: Option<PathBuf>,
    /// Act as if inline: drops/rejects/replaces take effect, the rest of a dropped flow is
    /// dropped, and the resulting traffic is written to this pcap (default DIR/ips.pcap).
    #[arg(long, value_name = "OUT_PCAP", num_args = 0..=1)]
    pub simulate_ips: Option<Option<PathBuf>>,
    /// Checksum policy.
    #[arg(
        short = 'k',
        long = "checksum-policy",
        value_enum,
        default_value = "none"
    )]
    pub checksum_policy: Checksums,
    /// verdict.toml: `[vars]` for the rules and the `disabled = [sids]` list.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A suricata.yaml to take `action-order`, the exception policies, `stream.midstream` and
    /// the address/port groups from (default: `suricata.yaml` beside the first rule file,
    /// when there is one). verdict.toml settings win over it.
    #[arg(long, value_name = "FILE")]
    pub suricata_config: Option<PathBuf>,
    /// Do not look for a suricata.yaml beside the rules.
    #[arg(long, conflicts_with = "suricata_config")]
    pub no_suricata_config: bool,
    /// Do not write the evidence pcap.
    #[arg(long)]
    pub no_evidence: bool,
    /// No progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// After the replay, explain why this sid (gid 1) did or did not fire: how the engine
    /// reaches it, and on which packets each of its options held, up to the first that
    /// failed (rule text only).
    #[arg(long, value_name = "SID")]
    pub explain: Option<u32>,
}

/// Loads rules: bytecode images directly, rule text through the compiler (every rule the
/// engine can run, including those the kernel would enforce live, since there is no kernel
/// here). Returns the image and a one-line description.
pub fn load_rules(
    paths: &[PathBuf],
    config: Option<&Path>,
    extra_vars: &[(String, String)],
) -> anyhow::Result<(RuleSetImage, String)> {
    let mut images = Vec::new();
    let mut text_paths = Vec::new();
    for p in paths {
        if p.is_file() {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let capture_magic: [&[u8]; 5] = [
                &[0xa1, 0xb2, 0xc3, 0xd4],
                &[0xd4, 0xc3, 0xb2, 0xa1],
                &[0xa1, 0xb2, 0x3c, 0x4d],
                &[0x4d, 0x3c, 0xb2, 0xa1],
                &[0x0a, 0x0d, 0x0d, 0x0a],
            ];
            if capture_magic.iter().any(|m| bytes.starts_with(m)) {
                // `-r` takes several values: `verdict replay -r x.rules cap.pcap` swallows the
                // capture. Say so instead of reporting rule syntax errors in binary data.
                bail!(
                    "{} is a capture, not rules: list captures before -r (verdict replay CAPTURE... -r RULES...)",
                    p.display()
                );
            }
            if bytes.starts_with(IMAGE_MAGIC) {
                images.push(
                    RuleSetImage::from_bytes(&bytes)
                        .with_context(|| format!("loading {}", p.display()))?,
                );
                continue;
            }
        } else if !p.exists() {
            bail!("{}: no such rule file or directory", p.display());
        }
        text_paths.push(p.clone());
    }
    let mut desc = Vec::new();
    if !text_paths.is_empty() {
        let (img, d) = compile_text(&text_paths, config, extra_vars)?;
        images.push(img);
        desc.push(d);
    }
    let mut merged = images.pop().expect("at least one rules argument");
    for img in images {
        // Images intern flowbits separately: renumber when merging.
        let offset = merged.flowbits.len() as u16;
        merged.flowbits.extend(img.flowbits.iter().cloned());
        for mut p in img.programs {
            for op in &mut p.ops {
                use verdict_compiler::bytecode::Insn;
                if let Insn::FlowbitsTest { bits, .. } | Insn::FlowbitsSet { bits, .. } = op {
                    bits.iter_mut().for_each(|b| b.0 += offset);
                }
            }
            merged.programs.push(p);
        }
    }
    desc.push(format!("{} programs", merged.programs.len()));
    Ok((merged, desc.join(", ")))
}

fn compile_text(
    paths: &[PathBuf],
    config: Option<&Path>,
    extra_vars: &[(String, String)],
) -> anyhow::Result<(RuleSetImage, String)> {
    let mut sources = Vec::new();
    for p in paths {
        sources.extend(
            verdict_compiler::check::Source::read(p)
                .with_context(|| format!("reading {}", p.display()))?,
        );
    }
    let vars = rule_vars(config, extra_vars)?;
    let c = compile_sources(sources, vars);
    if !c.diagnostics.is_empty() {
        eprint!(
            "{}",
            verdict_compiler::diag::render(&c.diagnostics, &c.sources, false)
        );
    }
    Ok((c.image, c.desc))
}

/// Rule sources compiled for the engine alone.
pub struct CompiledSources {
    /// Every rule the engine can run, including those the kernel would enforce live.
    pub image: RuleSetImage,
    /// Problems found, indexing `sources`.
    pub diagnostics: Vec<verdict_compiler::diag::Diagnostic>,
    /// The sources compiled.
    pub sources: Vec<verdict_compiler::check::Source>,
    /// One line: rules parsed, diagnostics, rules the engine cannot run.
    pub desc: String,
}

/// Compiles `sources` with `vars` into an image the engine runs whole (there is no kernel in
/// a replay).
pub fn compile_sources(
    sources: Vec<verdict_compiler::check::Source>,
    vars: verdict_compiler::vars::Vars,
) -> CompiledSources {
    use verdict_compiler::{check, codegen};
    let opts = check::LoadOptions {
        vars,
        ..Default::default()
    };
    let loaded = check::load(&sources, &opts);
    let compiled = codegen::compile(
        &loaded.rules,
        &codegen::CompileOptions {
            image_all: true,
            ..Default::default()
        },
    );
    let rejected = compiled
        .fates
        .iter()
        .filter(|(_, f)| matches!(f, verdict_compiler::classify::Fate::Rejected(_)))
        .count();
    let desc = format!(
        "{} rules parsed ({} diagnostics), {} not runnable by the engine",
        loaded.rules.len(),
        loaded.diagnostics.len(),
        rejected
    );
    CompiledSources {
        image: compiled.image,
        diagnostics: loaded.diagnostics,
        sources,
        desc,
    }
}

/// Whether any of the rule paths is a compiled image.
fn image_paths(paths: &[PathBuf]) -> bool {
    paths.iter().filter(|p| p.is_file()).any(|p| {
        let mut magic = vec![0u8; IMAGE_MAGIC.len()];
        std::fs::File::open(p)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok_and(|()| magic == IMAGE_MAGIC)
    })
}

/// The rule variables: the defaults, then a suricata.yaml's groups, then verdict.toml's
/// `[vars]` (the operator's own file wins).
fn rule_vars(
    config: Option<&Path>,
    extra_vars: &[(String, String)],
) -> anyhow::Result<verdict_compiler::vars::Vars> {
    let mut vars = verdict_compiler::vars::Vars::default();
    for (k, v) in extra_vars {
        vars.set(k.clone(), v.clone());
    }
    if let Some(path) = config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let own = toml::from_str::<toml::Table>(&text)
            .ok()
            .and_then(|t| t.get("vars").cloned());
        if own.is_some() {
            let from_toml = crate::config::Config::load(path)?.vars;
            if let Some(toml::Value::Table(t)) = own {
                for k in t.keys() {
                    if let Some(v) = from_toml.get(k) {
                        vars.set(k.clone(), v.to_string());
                    }
                }
            }
        }
    }
    Ok(vars)
}

/// The suricata.yaml to read: the one given, else one beside the first rule file.
fn suricata_yaml(args: &Args) -> Option<PathBuf> {
    if args.no_suricata_config {
        return None;
    }
    if let Some(p) = &args.suricata_config {
        return Some(p.clone());
    }
    let first = args.rules.first()?;
    let dir = if first.is_dir() {
        first.as_path()
    } else {
        first.parent()?
    };
    let p = dir.join("suricata.yaml");
    p.is_file().then_some(p)
}

/// Prints the summary table.
pub fn print_summary(out: &mut impl Write, s: &ReplaySummary, inline: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "packets {}  bytes {}  inspected {}  flows {}  non-ip {}  bad {}  reassembled {}",
        s.packets, s.bytes, s.inspected, s.flows, s.non_ip, s.bad, s.reassembled
    )?;
    writeln!(
        out,
        "time {:.3} s  throughput {:.3} Gbit/s  {:.0} packets/s",
        s.elapsed.as_secs_f64(),
        s.gbps(),
        s.pps()
    )?;
    if s.bad_checksums > 0 {
        writeln!(out, "skipped for bad checksums: {}", s.bad_checksums)?;
    }
    if inline {
        writeln!(
            out,
            "inline (simulated): dropped {}  rejected {}  replaced {}",
            s.dropped, s.rejected, s.replaced
        )?;
    }
    if s.bypassed > 0 || s.half_bypassed > 0 {
        writeln!(
            out,
            "bypassed flows {}  half-bypassed flows {} (later packets not inspected, as live)",
            s.bypassed, s.half_bypassed
        )?;
    }
    for (name, n) in &s.anomalies {
        writeln!(out, "anomaly {name}: {n}")?;
    }
    writeln!(out, "alerts {}", s.total_alerts())?;
    if !s.alerts.is_empty() {
        writeln!(
            out,
            "{:>10} {:>4} {:>8}  {:<24} msg",
            "sid", "gid", "alerts", "first packets"
        )?;
        let mut rows: Vec<_> = s.alerts.iter().collect();
        rows.sort_by(|a, b| b.1.alerts.cmp(&a.1.alerts).then(a.0.cmp(b.0)));
        for ((gid, sid), c) in rows {
            let firsts: Vec<String> = c
                .first_packets
                .iter()
                .take(5)
                .map(|p| p.to_string())
                .collect();
            writeln!(
                out,
                "{:>10} {:>4} {:>8}  {:<24} {}",
                sid,
                gid,
                c.alerts,
                firsts.join(","),
                c.msg
            )?;
        }
    }
    Ok(())
}

/// Runs `verdict replay`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    // Validated first, whole, whatever the rules are (text or a compiled image).
    let config = crate::config::Config::load_opt(args.config.as_deref())?;
    let yaml_path = suricata_yaml(&args);
    let suri = match &yaml_path {
        Some(p) => crate::suricata_yaml::SuricataSettings::load(p)?,
        None => Default::default(),
    };
    if let (Some(p), false) = (&yaml_path, args.quiet) {
        eprintln!("suricata settings: {}", p.display());
    }
    let (image, desc) = load_rules(&args.rules, args.config.as_deref(), &suri.vars)?;
    if args.captures.is_empty() {
        bail!("no capture given: verdict replay CAPTURE... -r RULES...");
    }
    let thresholds = match &args.threshold_file {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let vars = rule_vars(args.config.as_deref(), &suri.vars)?;
            let lookup = |n: &str| vars.get(n).map(str::to_string);
            ThresholdConfig::parse_with_vars(&text, &lookup)
                .with_context(|| format!("{}", p.display()))?
        }
        None => ThresholdConfig::default(),
    };
    let inline = args.simulate_ips.is_some();
    let midstream = args.midstream || suri.midstream == Some(true);
    let exceptions = config
        .exception_policy
        .or(suri.exceptions)
        .resolve(inline, midstream)
        .context("exception policies")?;
    // The stream settings of `verdict run` (depth, limits, bypass policy), so a replay of a
    // live capture hits the same limits and inspects what the live engine would.
    let session = crate::cmd::run::session_config(None, &config)?;
    let cfg = DetectConfig {
        flow: crate::cmd::run::flow_config(&config, midstream)?,
        session,
        inline,
        thresholds,
        disabled: config.disabled,
        action_order: config
            .engine
            .action_order
            .or(suri.action_order)
            .unwrap_or_default(),
        exceptions,
        tunnels: config.decoder.or(suri.decoder).unwrap_or_default(),
        bypass: config.engine.bypass.unwrap_or_default(),
        ..Default::default()
    };
    if args.explain.is_some() && image_paths(&args.rules) {
        bail!("--explain needs the rules as text: a compiled image has no options to cut");
    }
    let det =
        Arc::new(Detector::from_image(image, &cfg).context("loading the rules into the engine")?);
    if !args.quiet {
        eprintln!("rules: {desc}");
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let out_cfg = OutputConfig {
        pcap: !args.no_evidence,
        ..OutputConfig::all(&args.output)
    };
    let (tx, handle) = Writer::spawn(out_cfg);
    let simulate_output = args
        .simulate_ips
        .as_ref()
        .map(|p| p.clone().unwrap_or_else(|| args.output.join("ips.pcap")));
    let opts = ReplayOptions {
        simulate_output: simulate_output.clone(),
        checksums: match args.checksum_policy {
            Checksums::None => ChecksumPolicy::None,
            Checksums::All => ChecksumPolicy::All,
        },
        progress_over: (!args.quiet).then_some(16 << 20),
    };
    let mut rp = Replayer::new(det, Some(tx), opts.clone())?;
    let mut failed = false;
    for c in &args.captures {
        let seen = rp.warnings().len();
        if let Err(e) = rp.run_file(c) {
            // Keep going: alerts found so far (and in the other files) are still written.
            eprintln!("error: {e}");
            failed = true;
        }
        // A damaged but readable capture is replayed in full: say what was wrong, and let
        // the exit status speak only of captures that could not be read.
        for w in rp.warnings().get(seen..).unwrap_or(&[]) {
            eprintln!("warning: {w}");
        }
    }
    let summary = rp.finish()?;
    let stats = handle
        .join()
        .with_context(|| format!("writing alerts to {}", args.output.display()))?;
    let mut stdout = std::io::stdout().lock();
    print_summary(&mut stdout, &summary, inline)?;
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    files.insert("eve.json", format!("{} lines", stats.eve_lines));
    files.insert("fast.log", format!("{} lines", stats.fast_lines));
    if !args.no_evidence {
        files.insert("evidence.pcap", format!("{} packets", stats.pcap_packets));
    }
    let list: Vec<String> = files.iter().map(|(k, v)| format!("{k} ({v})")).collect();
    writeln!(
        stdout,
        "wrote {} in {}",
        list.join(", "),
        args.output.display()
    )?;
    if let Some(p) = simulate_output {
        writeln!(stdout, "simulated IPS output: {}", p.display())?;
    }
    if let Some(sid) = args.explain {
        let vars = rule_vars(args.config.as_deref(), &suri.vars)?;
        let compile = move |sources| {
            let c = compile_sources(sources, vars.clone());
            Ok((c.image, c.diagnostics, c.sources))
        };
        let report = super::explain_sid::explain(super::explain_sid::Request {
            sid,
            rules: &args.rules,
            compile: &compile,
            cfg: &cfg,
            // The copies' pass writes nothing: its alerts are only counted.
            opts: ReplayOptions {
                simulate_output: None,
                progress_over: None,
                ..opts
            },
            captures: &args.captures,
        })?;
        writeln!(stdout, "\nexplain sid {sid}:\n{report}")?;
    }
    Ok(if failed { 1 } else { 0 })
}

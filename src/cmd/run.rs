//! `verdict run`: compile the rules, apply verdict's nft table and queue steering, serve the
//! queues until SIGINT/SIGTERM, then remove everything so traffic flows as before.

use crate::config::{self, Config};
use anyhow::Context;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use verdict_compiler::bytecode::Program;
use verdict_compiler::check::{self, LoadOptions, Source};
use verdict_compiler::classify::Fate;
use verdict_compiler::codegen::{self, CompileOptions};
use verdict_compiler::diag::{self, Severity};
use verdict_compiler::ir::{Action, Rule};
use verdict_compiler::kernel::KernelCaps;
use verdict_compiler::steer::{SteerMode, SteerPolicy};
use verdict_engine::active::{Active, ActiveOptions};
use verdict_engine::bypass::BypassPolicy;
use verdict_engine::control::{ControlConfig, Hooks};
use verdict_engine::detect::{Counters, DetectConfig, Detector, Worker};
use verdict_engine::nfq::{Decision, Inspect, PacketInfo, QueueConfig, QueueNum};
use verdict_engine::output::{OutputConfig, Writer};
use verdict_engine::run::{
    self as engine_run, DetectInspect, KernelAlerts, KernelRuleInfo, Mode, OutputHealth, RuleHits,
    RunConfig,
};
use verdict_nft::apply;
use verdict_nft::render::{self, QueueMechanism, RenderOptions};

/// Default log directory when neither the command line nor the config names one.
pub const DEFAULT_LOG_DIR: &str = "/var/log/verdict";

/// Arguments of `verdict run`.
#[derive(clap::Args)]
pub struct Args {
    /// Config file (verdict.toml); optional.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Rule files or directories (override the config's `rules`).
    #[arg(long = "rules", short = 'r', num_args = 1..)]
    pub rules: Vec<PathBuf>,
    /// Directory for eve.json, fast.log, evidence pcaps and stats.json.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Number of workers, one NFQUEUE each (default: one per core).
    #[arg(long)]
    pub workers: Option<u16>,
    /// First queue number.
    #[arg(long)]
    pub queue_base: Option<u16>,
    /// Detection only: alert, never drop, reject or rewrite.
    #[arg(long)]
    pub ids: bool,
    /// Payload bytes inspected per flow direction (like Suricata's stream depth; header and
    /// flow tests go on past it). Default: everything.
    #[arg(long)]
    pub inspect_depth: Option<u64>,
    /// TCP bytes reassembled per flow direction (default 1 MiB, Suricata's stream depth; 0 =
    /// unlimited). Past it stream and HTTP inspection stop, and the flow is bypassed.
    #[arg(long)]
    pub stream_depth: Option<u64>,
    /// When a flow is handed back to the kernel (no more queueing): `both` directions past the
    /// stream depth (default), `either` direction, or `off`.
    #[arg(long, value_parser = parse_bypass)]
    pub bypass: Option<BypassPolicy>,
    /// What the steering queues: `ports` (default: the rules' ports and the app protocols'
    /// ports), `all-tcp` (content-based protocol detection on any TCP port) or `all`.
    #[arg(long, value_parser = crate::cmd::compile::parse_steer)]
    pub steer: Option<SteerMode>,
    /// Start even when no rule is loaded (all rejected, disabled or none given). Without it
    /// such an engine refuses to start, since it would inspect nothing while looking on.
    #[arg(long)]
    pub allow_empty: bool,
    /// Benchmark: no rules, accept every queued packet (all forwarded traffic is queued).
    #[arg(long, hide = true)]
    pub accept_all: bool,
    /// Benchmark: do not ask for GSO super-packets.
    #[arg(long, hide = true)]
    pub no_gso: bool,
    /// Kernel queue length in packets (beyond it the queue fails open).
    #[arg(long, hide = true)]
    pub queue_max_len: Option<u32>,
    /// Test hook: inspection panics on every packet that contains these bytes, to test how
    /// the engine survives a bug in inspection.
    #[arg(long, hide = true)]
    pub debug_panic_on: Option<String>,
    /// Control socket path (default: the config's `[control] socket`, else
    /// /run/verdict/control.sock, or /run/verdict/net-INODE/control.sock in a network
    /// namespace other than the host's).
    #[arg(long)]
    pub control_socket: Option<PathBuf>,
    /// Stats snapshot interval in milliseconds.
    #[arg(long, hide = true, default_value_t = 1000)]
    pub stats_interval_ms: u64,
}

fn parse_bypass(s: &str) -> Result<BypassPolicy, String> {
    match s {
        "off" => Ok(BypassPolicy::Off),
        "both" => Ok(BypassPolicy::Both),
        "either" => Ok(BypassPolicy::Either),
        _ => Err(format!("`{s}`: expected off, both or either")),
    }
}

/// Runs `verdict run`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let cfg = Config::load_opt(args.config.as_deref())?;
    let mode = if args.ids || cfg.engine.mode == Some(config::Mode::Ids) {
        Mode::Ids
    } else {
        Mode::Ips
    };
    let workers = args.workers.or(cfg.engine.workers).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u16)
            .unwrap_or(1)
    });
    anyhow::ensure!(workers >= 1, "--workers must be at least 1");
    let base = args.queue_base.or(cfg.engine.queue).unwrap_or(0);
    let last = base
        .checked_add(workers - 1)
        .context("queue numbers past 65535: lower --queue-base or --workers")?;
    let queues: Vec<QueueNum> = (base..=last).map(QueueNum).collect();
    let log_dir = args
        .log_dir
        .clone()
        .or(cfg.log_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOG_DIR));
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create log directory {}", log_dir.display()))?;

    let caps = apply::probe();
    let stop = Arc::new(AtomicBool::new(false));
    // Every signal whose default would kill us without cleanup stops the engine cleanly
    // instead (a closed terminal included); only SIGKILL cannot, hence the bypass flags.
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handler")?;
    }
    let mut queue_cfg = QueueConfig {
        gso: !args.no_gso,
        ..QueueConfig::default()
    };
    if let Some(n) = args.queue_max_len {
        queue_cfg.max_len = n.max(1);
    }
    let panic_marker = match args.debug_panic_on.as_deref() {
        Some("") => anyhow::bail!("--debug-panic-on needs at least one byte"),
        m => m.map(|m| m.as_bytes().to_vec()),
    };
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "verdict: {line}");
        let _ = out.flush();
    };

    let stats_path = Some(log_dir.join("stats.json"));
    let stats_interval = Duration::from_millis(args.stats_interval_ms.max(10));
    let mode_name = if mode == Mode::Ips { "ips" } else { "ids" };
    let queue_line = |mechanism: QueueMechanism| {
        format!(
            "queues {base}-{last} ({workers} workers), steering: {}, @ih: {}, mode: {mode_name}, GSO: {}",
            mechanism.name(),
            if caps.ih_payload { "yes" } else { "no" },
            if queue_cfg.gso { "on" } else { "off" },
        )
    };

    if args.accept_all {
        let (script, xt) = engine_run::steer_everything(&queues, caps.queue);
        say("accept-all: no rules, every forwarded packet is queued and accepted".into());
        say(queue_line(caps.queue));
        let run_cfg = RunConfig {
            script,
            xt,
            queues,
            queue: queue_cfg,
            mode,
            mechanism: caps.queue,
            stats_path,
            stats_interval,
            stop,
            kernel_alerts: None,
            output: None,
        };
        let summary = engine_run::run(
            run_cfg,
            |_| PanicOn::new(|_: &mut [u8], _: &_| Decision::Accept, panic_marker.clone()),
            Vec::new,
            || say(format!("ready ({} ms)", t0.elapsed().as_millis())),
        )?;
        let total: u64 = summary.queues.iter().map(|q| q.received).sum();
        say(format!(
            "stopped; {total} packets inspected; verdict's rules removed"
        ));
        return Ok(0);
    }

    // Rules: the command line overrides the config.
    let rule_paths = if args.rules.is_empty() {
        cfg.rules.clone()
    } else {
        args.rules.clone()
    };
    anyhow::ensure!(
        !rule_paths.is_empty(),
        "no rules: give -r FILE|DIR or `rules = [...]` in the config"
    );
    let mut sources = Vec::new();
    for p in &rule_paths {
        sources.extend(
            Source::read(p).with_context(|| format!("cannot read rules from {}", p.display()))?,
        );
    }
    let vars = cfg.vars.clone();
    let steer = SteerPolicy::new(args.steer.or(cfg.engine.steer).unwrap_or_default(), &vars);
    let t_parse = Instant::now();
    let loaded = check::load(
        &sources,
        &LoadOptions {
            include_commented: false,
            vars,
        },
    );
    let parse_rejected = loaded.summary.with_errors;
    if parse_rejected > 0 {
        let errors: Vec<_> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .cloned()
            .collect();
        if errors.len() <= 5 {
            eprint!("{}", diag::render(&errors, &sources, false));
        }
        say(format!(
            "{parse_rejected} rules have errors and are not loaded (see `verdict check`)"
        ));
    }
    let disabled: HashSet<u32> = cfg.disabled.iter().copied().collect();
    let parsed = loaded.rules.len();
    let rules: Vec<Rule> = loaded
        .rules
        .into_iter()
        .filter(|r| !disabled.contains(&r.meta.sid.0))
        .collect();
    let disabled_count = parsed - rules.len();
    let parse_ms = t_parse.elapsed().as_millis();
    let t_compile = Instant::now();
    let compiled = codegen::compile(
        &rules,
        &CompileOptions {
            caps: KernelCaps {
                ih_payload: caps.ih_payload,
            },
            steer,
            ..Default::default()
        },
    );
    let f = &compiled.report.fates;
    say(format!(
        "{} rules from {} files: {} in kernel, {} in queue, {} rejected{}",
        rules.len() + parse_rejected,
        sources.len(),
        f.kernel,
        f.queue,
        f.rejected + parse_rejected,
        if disabled.is_empty() {
            String::new()
        } else {
            format!(", {} disabled", disabled.len())
        },
    ));
    let active = f.kernel + f.queue;
    if active == 0 && !args.allow_empty {
        anyhow::bail!(
            "no rule is loaded ({} read: {} rejected, {} disabled), so the engine would inspect \
             nothing; fix the rules (`verdict check`, `verdict compile` say why they are \
             rejected) or pass --allow-empty to run an empty engine anyway",
            rules.len() + parse_rejected + disabled_count,
            f.rejected + parse_rejected,
            disabled_count,
        );
    }
    let ropts = RenderOptions {
        queue: caps.queue,
        queues: (base, last),
        log_group: compiled.kernel.log_group,
        xt_string: false,
        fail_open: true,
    };
    let mut script = render::render_text(&compiled.kernel, &ropts);
    let xt = render::xt_commands(&compiled.kernel, &ropts);
    let compile_ms = t_compile.elapsed().as_millis();
    let t_engine = Instant::now();
    let detector = Arc::new(
        Detector::new(
            &compiled.image,
            &DetectConfig {
                inline: mode == Mode::Ips,
                disabled: cfg.disabled.clone(),
                inspect_depth: args.inspect_depth.or(cfg.engine.inspect_depth),
                session: session_config(&args, &cfg)?,
                bypass: args.bypass.or(cfg.engine.bypass).unwrap_or_default(),
                ..Default::default()
            },
        )
        .context("loading the compiled rules into the engine")?,
    );
    let engine_ms = t_engine.elapsed().as_millis();
    let (writer_tx, writer) = Writer::spawn(OutputConfig::all(&log_dir));
    // Active response sits between the workers and the writer (alerts may ask for blocks).
    let block_settings = cfg
        .block
        .resolve(mode == Mode::Ips)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let scan_settings = cfg.scan.resolve().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut active = Active::start(
        ActiveOptions {
            block: block_settings,
            scan: scan_settings.clone(),
            programs: compiled.image.programs.clone(),
            stop: Arc::clone(&stop),
        },
        writer_tx,
    )
    .context("starting active response")?;
    let events = active.events();
    active
        .serve_control(
            ControlConfig::new(cfg.socket(args.control_socket.as_deref())),
            control_hooks(
                &args,
                &cfg,
                mode,
                &detector,
                &compiled.fates,
                &active,
                &log_dir,
            ),
        )
        .context("opening the control socket")?;

    // Kernel rules that log: their alerts come back over NFLOG.
    let fates: HashMap<u32, &Fate> = compiled.fates.iter().map(|(s, f)| (s.0, f)).collect();
    let kernel_rules: HashMap<u32, KernelRuleInfo> = rules
        .iter()
        .filter(|r| matches!(fates.get(&r.meta.sid.0), Some(Fate::Kernel)))
        .filter(|r| !matches!(r.action, Action::Sdrop | Action::Pass))
        .map(|r| {
            let info = KernelRuleInfo {
                gid: r.meta.gid.0,
                rev: r.meta.rev,
                msg: r.meta.msg.as_str().into(),
                classtype: r
                    .meta
                    .classtype
                    .as_deref()
                    .map(|c| verdict_engine::output::eve::classification(c).into()),
                severity: r.meta.priority.unwrap_or(3),
                action: r.action.keyword(),
                blocks: r.action.blocks() && mode == Mode::Ips,
            };
            (r.meta.sid.0, info)
        })
        .collect();
    let kernel_alerts = (!kernel_rules.is_empty()).then(|| KernelAlerts {
        group: compiled.kernel.log_group,
        rules: kernel_rules,
        events: events.clone(),
        lost: writer.counters(),
    });

    if let Some(d) = args.inspect_depth.or(cfg.engine.inspect_depth) {
        say(format!(
            "payload inspected up to {d} bytes per flow direction"
        ));
    }
    let dc = detector.config();
    say(format!(
        "stream depth {} bytes per direction, bypass: {}",
        dc.session.stream.depth,
        match dc.bypass {
            BypassPolicy::Off => "off",
            BypassPolicy::Both => "both directions past the depth",
            BypassPolicy::Either => "either direction past the depth",
        }
    ));
    say(queue_line(caps.queue));
    say(format!(
        "logging to {} (eve.json, fast.log, evidence.pcap, stats.json)",
        log_dir.display()
    ));
    script.push_str(active.nft_script());
    if let Some(s) = &scan_settings {
        say(format!(
            "scan detection: weight {} within {} s (NFLOG group {}){}",
            s.threshold,
            s.window.as_secs_f64(),
            s.nflog_group,
            if s.block.is_some() {
                ", scanners are blocked"
            } else {
                ""
            }
        ));
    }
    say(format!(
        "control socket {}",
        cfg.socket(args.control_socket.as_deref()).display()
    ));
    let counters: Arc<Mutex<Vec<Arc<Counters>>>> = Arc::default();
    let programs = compiled.image.programs.clone();
    let output = OutputHealth {
        counters: writer.counters(),
        workers_lost: Box::new({
            let counters = Arc::clone(&counters);
            move || {
                counters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|c| Counters::get(&c.events_lost))
                    .sum()
            }
        }),
    };
    let run_cfg = RunConfig {
        script,
        xt,
        queues,
        queue: queue_cfg,
        mode,
        mechanism: caps.queue,
        stats_path,
        stats_interval,
        stop,
        kernel_alerts,
        output: Some(output),
    };
    let t_kernel = Instant::now();
    let result = engine_run::run(
        run_cfg,
        |_| {
            let w = Worker::new(Arc::clone(&detector), events.clone());
            counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(w.counters());
            PanicOn::new(DetectInspect::new(w), panic_marker.clone())
        },
        || {
            rule_hits(
                &programs,
                &counters.lock().unwrap_or_else(|e| e.into_inner()),
            )
        },
        || {
            say(format!(
                "ready ({} ms: parse {parse_ms}, compile {compile_ms}, engine {engine_ms}, kernel {} ms)",
                t0.elapsed().as_millis(),
                t_kernel.elapsed().as_millis()
            ))
        },
    );
    // The writer finishes once every sender is gone: the workers' went with their threads.
    drop(events);
    active.finish();
    let written = writer.join().context("writing alerts")?;
    let summary = result?;
    let total: u64 = summary.queues.iter().map(|q| q.received).sum();
    say(format!(
        "stopped; {total} packets inspected, {} alerts written; verdict's rules removed",
        written.eve_lines
    ));
    Ok(0)
}

/// Wraps an inspector with the `--debug-panic-on` test hook (a no-op without a marker).
struct PanicOn<I> {
    inner: I,
    marker: Option<Vec<u8>>,
}

impl<I: Inspect> PanicOn<I> {
    fn new(inner: I, marker: Option<Vec<u8>>) -> Self {
        PanicOn { inner, marker }
    }
}

impl<I: Inspect> Inspect for PanicOn<I> {
    fn inspect(&mut self, pkt: &mut [u8], info: &PacketInfo) -> Decision {
        if let Some(m) = &self.marker {
            // `m` is never empty (checked at start), so `windows` cannot panic by itself.
            if pkt.windows(m.len()).any(|w| w == m.as_slice()) {
                panic!("--debug-panic-on: marker seen in a packet");
            }
        }
        self.inner.inspect(pkt, info)
    }
}

/// What the control socket may do to the running engine: read its stats, switch queued
/// rules on and off, reload the active-response settings from the config file.
fn control_hooks(
    args: &Args,
    cfg: &Config,
    mode: Mode,
    detector: &Arc<Detector>,
    fates: &[(verdict_compiler::ir::Sid, Fate)],
    active: &Active,
    log_dir: &std::path::Path,
) -> Hooks {
    let stats_path = log_dir.join("stats.json");
    let det = Arc::clone(detector);
    let kernel_sids: HashSet<u32> = fates
        .iter()
        .filter(|(_, f)| matches!(f, Fate::Kernel))
        .map(|(s, _)| s.0)
        .collect();
    let blocker = active.blocker();
    let config_path = args.config.clone();
    let block_cfg = cfg.block.clone();
    Hooks {
        stats: Box::new(move || {
            engine_run::read_stats(&stats_path)
                .ok()
                .and_then(|s| serde_json::to_value(s).ok())
                .unwrap_or(serde_json::Value::Null)
        }),
        set_enabled: Box::new(move |sid, on| {
            let n = det.set_enabled(sid, on);
            let verb = if on { "enabled" } else { "disabled" };
            if n > 0 {
                Ok(format!("sid {sid} {verb}"))
            } else if kernel_sids.contains(&sid) {
                Err(format!(
                    "sid {sid} runs in the kernel; list it in `disabled` in the config and restart"
                ))
            } else {
                Err(format!("no loaded rule has sid {sid}"))
            }
        }),
        reload: Box::new(move || {
            let block = match &config_path {
                Some(p) => Config::load(p).map_err(|e| format!("{e:#}"))?.block,
                None => block_cfg.clone(),
            };
            let settings = block.resolve(mode == Mode::Ips)?;
            let n = settings.whitelist.len();
            blocker.set_settings(settings);
            Ok(format!(
                "active-response settings reloaded ({n} whitelisted networks); rules are not reloaded"
            ))
        }),
    }
}

/// Hits per rule, summed over the workers.
fn rule_hits(programs: &[Program], workers: &[Arc<Counters>]) -> Vec<RuleHits> {
    programs
        .iter()
        .enumerate()
        .map(|(i, p)| RuleHits {
            gid: p.gid.0,
            sid: p.sid.0,
            hits: workers
                .iter()
                .map(|c| c.rule_hits.get(i).map(Counters::get).unwrap_or(0))
                .sum(),
            msg: p.msg.clone(),
        })
        .collect()
}

/// Session settings with the configured stream depth, checked before anything touches the
/// kernel.
fn session_config(
    args: &Args,
    cfg: &Config,
) -> anyhow::Result<verdict_engine::session::SessionConfig> {
    let mut session = verdict_engine::session::SessionConfig::default();
    if let Some(d) = args.stream_depth.or(cfg.engine.stream_depth) {
        session.stream.depth = d;
    }
    session
        .stream
        .validate()
        .context("stream settings ([engine] stream_depth)")?;
    Ok(session)
}

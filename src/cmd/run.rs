//! `verdict run`: compile the rules, apply verdict's nft table and queue steering, serve the
//! queues until SIGINT/SIGTERM, then remove everything so traffic flows as before.

use crate::config::{self, Config};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use verdict_engine::nfq::{Decision, QueueConfig, QueueNum};
use verdict_engine::run::{self as engine_run, Mode, RunConfig};
use verdict_nft::apply;

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
    /// Benchmark: no rules, accept every queued packet (all forwarded traffic is queued).
    #[arg(long, hide = true)]
    pub accept_all: bool,
    /// Benchmark: do not ask for GSO super-packets.
    #[arg(long, hide = true)]
    pub no_gso: bool,
    /// Stats snapshot interval in milliseconds.
    #[arg(long, hide = true, default_value_t = 1000)]
    pub stats_interval_ms: u64,
}

/// Runs `verdict run`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
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
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handler")?;
    }
    let queue_cfg = QueueConfig {
        gso: !args.no_gso,
        ..QueueConfig::default()
    };
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "verdict: {line}");
        let _ = out.flush();
    };

    if !args.accept_all {
        anyhow::bail!("rule sets need the compiler back end (not merged yet); use --accept-all");
    }
    let (script, xt) = engine_run::steer_everything(&queues, caps.queue);
    say("accept-all: no rules, every forwarded packet is queued and accepted".into());
    say(format!(
        "queues {base}-{last} ({workers} workers), steering: {}, @ih: {}, mode: {}, GSO: {}",
        engine_run::mechanism_name(caps.queue),
        if caps.ih_payload { "yes" } else { "no" },
        if mode == Mode::Ips { "ips" } else { "ids" },
        if queue_cfg.gso { "on" } else { "off" },
    ));
    let run_cfg = RunConfig {
        script,
        xt,
        queues,
        queue: queue_cfg,
        mode,
        mechanism: caps.queue,
        stats_path: Some(log_dir.join("stats.json")),
        stats_interval: Duration::from_millis(args.stats_interval_ms.max(10)),
        stop,
    };
    let summary = engine_run::run(
        run_cfg,
        |_| |_: &mut [u8], _: &_| Decision::Accept,
        Vec::new,
        || say(format!("ready ({} ms)", t0.elapsed().as_millis())),
    )?;
    let total: u64 = summary.queues.iter().map(|q| q.received).sum();
    say(format!(
        "stopped; {total} packets inspected; verdict's rules removed"
    ));
    Ok(0)
}

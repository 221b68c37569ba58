//! `verdict run`: compile the rules, apply verdict's nft table and queue steering, serve the
//! queues until SIGINT/SIGTERM, then remove everything so traffic flows as before.

use super::live::{self, Modes, RuleInputs};
use super::ops::Operator;
use crate::config::Config;
use anyhow::Context;
use arc_swap::ArcSwap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use verdict_compiler::steer::SteerMode;
use verdict_engine::active::{Active, ActiveOptions};
use verdict_engine::bypass::BypassPolicy;
use verdict_engine::control::ControlConfig;
use verdict_engine::detect::{Counters, InspectStats, Worker};
use verdict_engine::flow::FlowConfig;
use verdict_engine::metrics::{Published, Server as MetricsServer};
use verdict_engine::nfq::{Decision, Inspect, PacketInfo, QueueConfig, QueueNum};
use verdict_engine::ops::{Live, State};
use verdict_engine::output::redis::RedisMode;
use verdict_engine::output::{OutputConfig, Writer};
use verdict_engine::run::{
    self as engine_run, DetectInspect, KernelAlerts, Mode, OutputHealth, RunConfig,
};
use verdict_nft::apply;
use verdict_nft::render::QueueMechanism;

/// Default log directory when neither the command line nor the config names one.
pub const DEFAULT_LOG_DIR: &str = "/var/log/verdict";

/// Arguments of `verdict run`.
#[derive(clap::Args)]
pub struct Args {
    /// Config file (verdict.toml); optional.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Rule files or directories (override the config's `rules`), or one `rules.vbc` that
    /// `verdict compile` wrote (loaded without compiling, its kernel half included).
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
    /// unlimited). Past it stream and HTTP inspection stop, and the direction is bypassed
    /// (see `--bypass`).
    #[arg(long)]
    pub stream_depth: Option<u64>,
    /// When a flow, or one direction, is handed back to the kernel (no more queueing):
    /// `direction` (default: a direction past the stream depth leaves alone, the whole flow when
    /// both are done), `both` (the whole flow once both directions are past the depth),
    /// `either` (the whole flow once one direction is), or `off`.
    #[arg(long, value_parser = parse_bypass)]
    pub bypass: Option<BypassPolicy>,
    /// What the steering queues: `ports` (default: the rules' ports and the app protocols'
    /// ports), `all-tcp` (content-based protocol detection on any TCP port) or `all`.
    #[arg(long, value_parser = crate::cmd::compile::parse_steer)]
    pub steer: Option<SteerMode>,
    /// Kernel prefilter for queued rules: `off`, `on` or `auto` (overrides `[kernel]
    /// prefilter`; see `verdict compile --kernel-prefilter`). Steering is then xt NFQUEUE.
    #[arg(long, value_parser = crate::cmd::compile::parse_prefilter)]
    pub kernel_prefilter: Option<verdict_compiler::prefilter::PrefilterMode>,
    /// Start even when no rule is loaded (all rejected, disabled or none given). Without it
    /// such an engine refuses to start, since it would inspect nothing while looking on.
    #[arg(long)]
    pub allow_empty: bool,
    /// Rules held back only by unanchored contents run as iptables-nft string matches where
    /// their order and windows stay exact (as the config's `[kernel] xt_string = true`).
    #[arg(long)]
    pub xt_string: bool,
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
    /// Where `verdict disable`/`enable` switches are kept across restarts (default: the
    /// config's `state_file`, else /var/lib/verdict/state.json).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (overrides the config's `[metrics] listen`).
    #[arg(long)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Snort/Suricata threshold.config (threshold, event_filter, suppress, rate_filter);
    /// overrides the config's `threshold_file`, and is read again on every reload.
    #[arg(long)]
    pub threshold_file: Option<PathBuf>,
    /// Stats snapshot interval in milliseconds.
    #[arg(long, hide = true, default_value_t = 1000)]
    pub stats_interval_ms: u64,
}

fn parse_bypass(s: &str) -> Result<BypassPolicy, String> {
    BypassPolicy::from_name(s)
        .ok_or_else(|| format!("`{s}`: expected direction, both, either or off"))
}

/// Runs `verdict run`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let cfg = Config::load_opt(args.config.as_deref())?;
    // Inline as soon as any rule may act; rules in IDS mode then only log (`Modes::dry`).
    let mode = if Modes::of(&cfg, args.ids).inline() {
        Mode::Ips
    } else {
        Mode::Ids
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
    // The prefilter's string match is xt only, so its steering is all xt NFQUEUE
    // (`verdict_nft::prefilter`); the queue counters are read there too.
    let prefilter_on = args
        .kernel_prefilter
        .or(cfg.kernel.prefilter)
        .is_some_and(|m| m != verdict_compiler::prefilter::PrefilterMode::Off);
    let steer_mechanism = if prefilter_on {
        QueueMechanism::XtNfqueue
    } else {
        caps.queue
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Every signal whose default would kill us without cleanup stops the engine cleanly
    // instead (a closed terminal included); only SIGKILL cannot, hence the bypass flags.
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    for sig in [SIGINT, SIGTERM, SIGQUIT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handler")?;
    }
    // SIGHUP reloads (rules, settings, log files), as daemons do; SIGUSR1 only reopens the
    // log files (logrotate's postrotate); see `spawn_signal_thread`.
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, Arc::clone(&hup)).context("installing signal handler")?;
    let usr1 = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&usr1))
        .context("installing signal handler")?;
    let mut queue_cfg = QueueConfig {
        gso: !args.no_gso,
        // Prefilter-steered flows start mid-way: conntrack tells their client, through a mark
        // only the prefilter's steering sets (read always, so a reload may switch it on).
        reply_mark: Some(verdict_compiler::prefilter::REPLY_DIRECTION_MARK),
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

    let metrics = Metrics::start(args.metrics.or(cfg.metrics.listen), &stop)?;
    if let Some(addr) = metrics.addr() {
        say(format!("metrics on http://{addr}/metrics"));
    }
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
            ops: None,
            published: metrics.published(),
            inspect: None,
            steered_carry: Arc::default(),
        };
        let summary = engine_run::run(
            run_cfg,
            |_| PanicOn::new(|_: &mut [u8], _: &_| Decision::Accept, panic_marker.clone()),
            Vec::new,
            || say(format!("ready ({} ms)", t0.elapsed().as_millis())),
        )?;
        metrics.join();
        let total: u64 = summary.queues.iter().map(|q| q.received).sum();
        say(format!(
            "stopped; {total} packets inspected; verdict's rules removed"
        ));
        return Ok(0);
    }

    // Rules: the command line overrides the config; the operator's switches (state file)
    // apply from the first packet on.
    let state_path = cfg.state_file(args.state_file.as_deref());
    let state = State::load(&state_path)?;
    let mut inputs = RuleInputs {
        config_path: args.config.clone(),
        arg_rules: args.rules.clone(),
        ih_payload: caps.ih_payload,
        mechanism: steer_mechanism,
        queues: (base, last),
        force_ids: args.ids,
        inspect_depth: args.inspect_depth,
        stream_depth: args.stream_depth,
        bypass: args.bypass,
        steer: args.steer,
        prefilter: args.kernel_prefilter,
        extra_script: String::new(),
        threshold_file: args.threshold_file.clone(),
        xt_string: args.xt_string,
    };
    let built = live::build(&inputs, &cfg, &state.sids(), false)?;
    if built.counts.1 > 0 && !built.errors.is_empty() {
        eprint!("{}", built.errors);
    }
    say(built.summary.clone());
    if built.active == 0 && !args.allow_empty {
        let (read, rejected, disabled_count) = built.counts;
        anyhow::bail!(
            "no rule is loaded ({read} read: {rejected} rejected, {disabled_count} disabled), so the engine would inspect \
             nothing; fix the rules (`verdict check`, `verdict compile` say why they are \
             rejected) or pass --allow-empty to run an empty engine anyway",
        );
    }
    let (parse_ms, compile_ms, engine_ms) = built.timings;
    let live = Live::new(
        Arc::clone(&built.det),
        built.flowbits.clone(),
        state,
        Some(state_path.clone()),
    );
    let redis = cfg
        .output
        .redis()
        .map_err(|(key, e)| anyhow::anyhow!("output.redis.{key}: {e}"))?;
    let (writer_tx, writer) = Writer::spawn(OutputConfig {
        eve: cfg.output.eve_file(),
        syslog: cfg.output.syslog(),
        redis: redis.clone(),
        ..OutputConfig::all(&log_dir)
    });
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
            programs: built.det.programs().to_vec(),
            stop: Arc::clone(&stop),
        },
        writer_tx,
    )
    .context("starting active response")?;
    let events = active.events();
    let script = format!("{}{}", built.script, active.nft_script());
    inputs.extra_script = active.nft_script().to_string();
    let xt = built.xt.clone();
    // Kernel rules that log: their alerts come back over NFLOG. Bound even when no kernel
    // rule logs yet, so a reload that adds one has its alerts read.
    let kernel_rules = Arc::new(ArcSwap::from_pointee(built.kernel_rules));
    let kernel_alerts = Some(KernelAlerts {
        group: built.log_group,
        rules: Arc::clone(&kernel_rules),
        events: events.clone(),
        lost: writer.counters(),
    });
    let operator = Arc::new(Operator {
        live: Arc::clone(&live),
        inputs,
        kernel_rules,
        kernel_sids: ArcSwap::from_pointee(built.kernel_sids),
        table: Mutex::new((script.clone(), xt.clone())),
        mode,
        blocker: active.blocker(),
        output: writer.counters(),
        start_cfg: cfg.clone(),
        stop: Arc::clone(&stop),
        steered_carry: Arc::default(),
    });
    active
        .serve_control(
            ControlConfig::new(cfg.socket(args.control_socket.as_deref())),
            operator.hooks(log_dir.join("stats.json")),
        )
        .context("opening the control socket")?;
    spawn_signal_thread(Arc::clone(&operator), [hup, usr1], Arc::clone(&stop));

    if let Some(d) = args.inspect_depth.or(cfg.engine.inspect_depth) {
        say(format!(
            "payload inspected up to {d} bytes per flow direction"
        ));
    }
    let dc = built.det.config();
    say(format!(
        "stream depth {} bytes per direction, bypass: {}",
        dc.session.stream.depth,
        match dc.bypass {
            BypassPolicy::Off => "off",
            BypassPolicy::Both => "both directions past the depth",
            BypassPolicy::Either => "either direction past the depth",
            BypassPolicy::Direction => "each direction past the depth on its own",
        }
    ));
    say(queue_line(steer_mechanism));
    say(format!(
        "logging to {} ({}fast.log, evidence.pcap, stats.json)",
        log_dir.display(),
        if cfg.output.eve_file() {
            "eve.json, "
        } else {
            ""
        }
    ));
    if let Some(t) = cfg.output.syslog() {
        say(format!(
            "EVE to syslog {} (facility {}, identity {})",
            t.socket.display(),
            t.facility,
            t.identity
        ));
    }
    if let Some(t) = &redis {
        say(format!(
            "EVE to redis {} ({} {})",
            t.server,
            match t.mode {
                RedisMode::Lpush => "LPUSH",
                RedisMode::Rpush => "RPUSH",
                RedisMode::Publish => "PUBLISH",
            },
            t.key
        ));
    }
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
    say(format!("state file {}", state_path.display()));
    if !cfg.bypass.addresses.is_empty() {
        say(format!(
            "bypass list: {} never inspected (nft sets bypass4/bypass6)",
            cfg.bypass.addresses.join(", ")
        ));
    }
    if let Some(p) = args.threshold_file.as_ref().or(cfg.threshold_file.as_ref()) {
        say(format!("thresholds from {}", p.display()));
    }
    let output = OutputHealth {
        counters: writer.counters(),
        workers_lost: Box::new({
            let live = Arc::clone(&live);
            move || {
                live.counters()
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
        mechanism: steer_mechanism,
        stats_path,
        stats_interval,
        stop,
        kernel_alerts,
        output: Some(output),
        ops: Some(Box::new({
            let live = Arc::clone(&live);
            move || live.snapshot()
        })),
        published: metrics.published(),
        inspect: Some(Box::new({
            let live = Arc::clone(&live);
            move || {
                let mut total = InspectStats::default();
                for c in live.counters() {
                    total.add(&c.inspect_stats());
                }
                total
            }
        })),
        steered_carry: Arc::clone(&operator.steered_carry),
    };
    let t_kernel = Instant::now();
    let result = engine_run::run(
        run_cfg,
        |_| {
            let w = Worker::new(Arc::clone(&live.current().det), events.clone());
            let slot = live.slot(&w);
            PanicOn::new(DetectInspect::new(w).with_live(slot), panic_marker.clone())
        },
        || live.rule_hits(),
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
    metrics.join();
    let summary = result?;
    let total: u64 = summary.queues.iter().map(|q| q.received).sum();
    say(format!(
        "stopped; {total} packets inspected, {} alerts written; verdict's rules removed",
        written
            .eve_lines
            .max(written.syslog_lines)
            .max(written.redis_lines)
    ));
    Ok(0)
}

/// The optional Prometheus endpoint and the snapshot it serves.
struct Metrics(Option<(Arc<Published>, MetricsServer)>);

impl Metrics {
    /// Binds `addr` (before the kernel is touched, so a taken port fails the start cleanly).
    fn start(addr: Option<std::net::SocketAddr>, stop: &Arc<AtomicBool>) -> anyhow::Result<Self> {
        let Some(addr) = addr else {
            return Ok(Metrics(None));
        };
        let published = Arc::new(Published::default());
        let server = MetricsServer::spawn(addr, Arc::clone(&published), Arc::clone(stop))?;
        Ok(Metrics(Some((published, server))))
    }

    fn published(&self) -> Option<Arc<Published>> {
        self.0.as_ref().map(|(p, _)| Arc::clone(p))
    }

    fn addr(&self) -> Option<std::net::SocketAddr> {
        self.0.as_ref().map(|(_, s)| s.addr)
    }

    /// Waits for the server thread (it ends with the stop flag).
    fn join(self) {
        if let Some((_, s)) = self.0 {
            s.join();
        }
    }
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

/// Reloads on SIGHUP and reopens the log files on SIGUSR1, on a thread of its own so the
/// signal handlers only set flags.
fn spawn_signal_thread(
    op: Arc<Operator>,
    [hup, usr1]: [Arc<AtomicBool>; 2],
    stop: Arc<AtomicBool>,
) {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if hup.swap(false, Ordering::Relaxed) {
                    match op.reload() {
                        Ok(m) => tracing::info!("SIGHUP: {m}"),
                        Err(e) => tracing::error!("SIGHUP: {e}"),
                    }
                }
                if usr1.swap(false, Ordering::Relaxed) {
                    match op.reopen() {
                        Ok(m) => tracing::info!("SIGUSR1: {m}"),
                        Err(e) => tracing::error!("SIGUSR1: {e}"),
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    if let Err(e) = spawned {
        tracing::error!(
            "no SIGHUP reload or SIGUSR1 reopen (cannot start their thread: {e}); \
             `verdict reload` and `verdict ctl reopen` work"
        );
    }
}

/// Flow table settings: `midstream` pickup and the configured table size.
pub fn flow_config(cfg: &Config, midstream: bool) -> anyhow::Result<FlowConfig> {
    let mut flow = FlowConfig {
        midstream,
        ..FlowConfig::default()
    };
    if let Some(n) = cfg.engine.max_flows {
        anyhow::ensure!(n > 0, "[engine] max_flows must be at least 1");
        flow.max_flows = n;
    }
    Ok(flow)
}

/// Session settings with the configured stream depth and reassembly limits, checked before
/// anything touches the kernel.
pub fn session_config(
    stream_depth: Option<u64>,
    cfg: &Config,
) -> anyhow::Result<verdict_engine::session::SessionConfig> {
    let mut session = verdict_engine::session::SessionConfig::default();
    let (e, st) = (&cfg.engine, &mut session.stream);
    if let Some(d) = stream_depth.or(e.stream_depth) {
        st.depth = d;
    }
    st.memcap = e.stream_memcap.unwrap_or(st.memcap);
    st.max_ooo_bytes = e.stream_max_ooo_bytes.unwrap_or(st.max_ooo_bytes);
    st.max_ooo_segments = e.stream_max_ooo_segments.unwrap_or(st.max_ooo_segments);
    st.validate().context(
        "stream settings ([engine] stream_depth, stream_memcap, stream_max_ooo_bytes, \
         stream_max_ooo_segments)",
    )?;
    Ok(session)
}

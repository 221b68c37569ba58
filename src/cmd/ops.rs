//! Operating the running engine: `verdict disable`/`enable`, `verdict list --disabled`,
//! `verdict reload`, and the engine side of those commands (the control-socket hooks and the
//! reload that SIGHUP triggers).

use super::block::{print_reply, Target};
use super::live::{self, RuleInputs};
use crate::config::Config;
use arc_swap::ArcSwap;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use verdict_engine::block::Blocker;
use verdict_engine::control::{self, Hooks};
use verdict_engine::ops::{Live, State};
use verdict_engine::output::OutputCounters;
use verdict_engine::run::{self as engine_run, KernelRuleInfo, Mode};
use verdict_nft::apply;

/// Arguments of `verdict disable`.
#[derive(clap::Args)]
pub struct DisableArgs {
    /// The rule's sid.
    pub sid: u32,
    /// Why (kept with the switch, shown by `verdict list --disabled`).
    #[arg(long)]
    pub reason: Option<String>,
    /// State file to change when no engine runs (default: the config's `state_file`, else
    /// /var/lib/verdict/state.json).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `verdict enable`.
#[derive(clap::Args)]
pub struct EnableArgs {
    /// The rule's sid.
    pub sid: u32,
    /// State file to change when no engine runs.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `verdict reload`.
#[derive(clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub target: Target,
}

/// Runs `verdict disable`: through the engine (effective on its next packet), or, with no
/// engine running, in the state file the next start reads.
pub fn disable(a: DisableArgs) -> anyhow::Result<i32> {
    let mut line = format!("disable {}", a.sid);
    if let Some(r) = &a.reason {
        line.push_str(&format!(
            " --reason {}",
            r.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    switch(&a.target, a.state_file, &line, |s| {
        s.disable(a.sid, a.reason.as_deref());
        format!("sid {} disabled", a.sid)
    })
}

/// Runs `verdict enable`.
pub fn enable(a: EnableArgs) -> anyhow::Result<i32> {
    let line = format!("enable {}", a.sid);
    switch(&a.target, a.state_file, &line, |s| {
        if s.enable(a.sid) {
            format!("sid {} enabled", a.sid)
        } else {
            format!("sid {} was not disabled", a.sid)
        }
    })
}

/// Runs `verdict reload`.
pub fn reload(a: ReloadArgs) -> anyhow::Result<i32> {
    let (_, socket) = target(&a.target)?;
    let line = if a.target.json {
        "reload --json"
    } else {
        "reload"
    };
    let reply = control::request(&socket, line, Duration::from_secs(120)).map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the engine on {}: {e} (is `verdict run` running?)",
            socket.display()
        )
    })?;
    Ok(print_reply(&reply))
}

/// `verdict list --disabled`: the running engine's list, or the state file's.
pub fn list_disabled(t: &Target, state_file: Option<PathBuf>) -> anyhow::Result<i32> {
    let (cfg, socket) = target(t)?;
    let line = if t.json {
        "disabled --json"
    } else {
        "disabled"
    };
    match control::request(&socket, line, Duration::from_secs(30)) {
        Ok(reply) => Ok(print_reply(&reply)),
        Err(e) if no_engine(&e) => {
            let path = cfg.state_file(state_file.as_deref());
            let state = State::load(&path)?;
            eprintln!(
                "verdict: no engine on {}; from the state file {}",
                socket.display(),
                path.display()
            );
            if t.json {
                println!("{}", json!({ "ok": true, "disabled": state.disabled }));
            } else {
                for d in &state.disabled {
                    if d.reason.is_empty() {
                        println!("sid {}", d.sid);
                    } else {
                        println!("sid {}  {}", d.sid, d.reason);
                    }
                }
            }
            Ok(0)
        }
        Err(e) => anyhow::bail!("cannot reach the engine on {}: {e}", socket.display()),
    }
}

fn target(t: &Target) -> anyhow::Result<(Config, PathBuf)> {
    let cfg = match &t.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let socket = cfg.socket(t.socket.as_deref());
    Ok((cfg, socket))
}

fn no_engine(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}

fn switch(
    t: &Target,
    state_file: Option<PathBuf>,
    line: &str,
    offline: impl FnOnce(&mut State) -> String,
) -> anyhow::Result<i32> {
    let (cfg, socket) = target(t)?;
    let line = if t.json {
        format!("{line} --json")
    } else {
        line.to_string()
    };
    match control::request(&socket, &line, Duration::from_secs(60)) {
        Ok(reply) => Ok(print_reply(&reply)),
        Err(e) if no_engine(&e) => {
            let path = cfg.state_file(state_file.as_deref());
            let mut state = State::load(&path)?;
            let msg = offline(&mut state);
            state.save(&path)?;
            eprintln!(
                "verdict: no engine on {}; recorded in {} for the next start",
                socket.display(),
                path.display()
            );
            println!("{msg}");
            Ok(0)
        }
        Err(e) => anyhow::bail!("cannot reach the engine on {}: {e}", socket.display()),
    }
}

/// The engine side of reload and the switches, shared by the control socket and SIGHUP.
pub struct Operator {
    /// The running rule set and the operator's state.
    pub live: Arc<Live>,
    /// How to rebuild the rules.
    pub inputs: RuleInputs,
    /// The kernel rules' alert metadata the NFLOG reader uses.
    pub kernel_rules: Arc<ArcSwap<HashMap<u32, KernelRuleInfo>>>,
    /// sids currently in the kernel table.
    pub kernel_sids: ArcSwap<HashSet<u32>>,
    /// The last table loaded (script, xt): an unchanged table is not loaded again.
    pub table: Mutex<(String, Vec<Vec<String>>)>,
    /// The engine's mode (the active-response settings depend on it).
    pub mode: Mode,
    /// The blocker whose settings a reload refreshes.
    pub blocker: Arc<Blocker>,
    /// The output writer, asked to reopen its files on reload (logrotate).
    pub output: Arc<OutputCounters>,
    /// The config as of start, for a run without a config file.
    pub start_cfg: Config,
    /// Set when the engine stops: no reload after that.
    pub stop: Arc<AtomicBool>,
    /// What the steering rules had counted before reloads replaced them (see
    /// `RunConfig::steered_carry`).
    pub steered_carry: Arc<AtomicU64>,
}

impl Operator {
    /// Recompiles the rules and swaps them in; on any error the running set stays.
    pub fn reload(&self) -> Result<String, String> {
        let cfg = match &self.inputs.config_path {
            Some(p) => Config::load(p).map_err(|e| format!("{e:#}"))?,
            None => self.start_cfg.clone(),
        };
        // Active response first: it does not depend on the rules.
        let settings = cfg.block.clone().resolve(self.mode == Mode::Ips)?;
        self.blocker.set_settings(settings);
        self.output.request_reopen();
        let mut msg = String::new();
        let took = self
            .live
            .reload(|off| {
                let built = live::build(&self.inputs, &cfg, off, true)?;
                let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
                // Each step replaces in one transaction; the steering, when it did not
                // change, is not touched at all (see `apply`).
                let loaded = if table.1 != built.xt {
                    apply::load(&built.script, &built.xt)
                } else if table.0 != built.script {
                    apply::replace_table(&built.script)
                } else {
                    Ok(0)
                };
                let counted =
                    loaded.map_err(|e| anyhow::anyhow!("loading the new nft table: {e}"))?;
                // The new steering rules count from zero: what the old ones counted is carried.
                self.steered_carry.fetch_add(counted, Ordering::Relaxed);
                *table = (built.script.clone(), built.xt.clone());
                self.kernel_rules.store(Arc::new(built.kernel_rules));
                self.kernel_sids.store(Arc::new(built.kernel_sids));
                msg = built.summary;
                Ok::<_, anyhow::Error>((built.det, built.flowbits))
            })
            .map_err(|e| format!("reload failed, the previous rules keep running: {e:#}"))?;
        Ok(format!("reloaded in {} ms: {msg}", took.as_millis()))
    }

    /// Switches a sid: at once for a queued rule, through a reload for a kernel rule.
    pub fn set_enabled(&self, sid: u32, on: bool, reason: Option<&str>) -> Result<String, String> {
        let verb = if on { "enabled" } else { "disabled" };
        let n = self
            .live
            .set_enabled(sid, on, reason)
            .map_err(|e| format!("{e:#}"))?;
        if n > 0 {
            return Ok(format!("sid {sid} {verb}"));
        }
        let in_state = self.live.disabled().iter().any(|d| d.sid == sid);
        if self.kernel_sids.load().contains(&sid) || (on && in_state) {
            self.live
                .record(sid, on, reason)
                .map_err(|e| format!("{e:#}"))?;
            let r = self.reload().map_err(|e| {
                format!("sid {sid} recorded as {verb}, but the kernel table was not reloaded: {e}")
            })?;
            return Ok(format!("sid {sid} {verb} (kernel rule; {r})"));
        }
        Err(format!("no loaded rule has sid {sid}"))
    }

    /// The control-socket hooks of this engine.
    pub fn hooks(self: &Arc<Self>, stats_path: PathBuf) -> Hooks {
        let (a, b, c, d) = (
            Arc::clone(self),
            Arc::clone(self),
            Arc::clone(self),
            Arc::clone(self),
        );
        Hooks {
            stats: Box::new(move || {
                engine_run::read_stats(&stats_path)
                    .ok()
                    .and_then(|s| serde_json::to_value(s).ok())
                    .unwrap_or(serde_json::Value::Null)
            }),
            set_enabled: Box::new(move |sid: u32, on: bool, reason: Option<&str>| {
                a.set_enabled(sid, on, reason)
            }),
            disabled: Box::new(move || json!(b.live.disabled())),
            reload: Box::new(move || {
                if c.stop.load(Ordering::Relaxed) {
                    return Err("the engine is stopping".into());
                }
                c.reload()
            }),
            reopen: Box::new(move || d.reopen()),
        }
    }

    /// Reopens the log files (logrotate renamed them), without touching the rules.
    pub fn reopen(&self) -> Result<String, String> {
        self.output.reopen_and_wait(Duration::from_secs(5))?;
        Ok("log files reopened".into())
    }
}

//! `verdict config check [FILE]`: validates a `verdict.toml` the way `verdict run` reads it
//! (unknown keys and bad values with key path and line, `[vars]`, `[block]`, `[scan]`), plus
//! a warning for rule paths that do not exist, without touching the kernel or a running engine.

use crate::config::Config;
use std::path::PathBuf;

/// Where the systemd unit and the README install the config.
const DEFAULT_CONFIG: &str = "/etc/verdict/verdict.toml";

/// Arguments of `verdict config`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Validate a config file (default /etc/verdict/verdict.toml); exit 1 on any error.
    Check {
        /// The config file.
        file: Option<PathBuf>,
    },
}

/// Runs `verdict config …`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.cmd {
        Sub::Check { file } => check(&file.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))),
    }
}

fn check(path: &std::path::Path) -> anyhow::Result<i32> {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    // Limits that cannot work together (a memcap below one packet) would stop `run`.
    let limits =
        super::run::session_config(None, &cfg).and_then(|_| super::run::flow_config(&cfg, true));
    if let Err(e) = limits {
        eprintln!("error: {}: {e:#}", path.display());
        return Ok(1);
    }
    // A rule path with a typo would only show at start, as "no rules": say it now. Only a
    // warning, since a config is often checked before the rules are installed beside it.
    for p in cfg.rules.iter().filter(|p| !p.exists()) {
        eprintln!(
            "warning: {}: `rules`: {} does not exist (yet)",
            path.display(),
            p.display()
        );
    }
    // The threshold file is read at start and on reload: a bad line would fail both.
    match &cfg.threshold_file {
        Some(p) if !p.exists() => eprintln!(
            "warning: {}: `threshold_file`: {} does not exist (yet)",
            path.display(),
            p.display()
        ),
        Some(p) => {
            if let Err(e) = super::live::load_thresholds(Some(p), &cfg.vars) {
                eprintln!("error: {e:#}");
                return Ok(1);
            }
        }
        None => {}
    }
    println!(
        "{}: ok ({} rule paths, mode {}, metrics {})",
        path.display(),
        cfg.rules.len(),
        match cfg.engine.mode.unwrap_or_default() {
            crate::config::Mode::Ips => "ips",
            crate::config::Mode::Ids => "ids",
        },
        cfg.metrics
            .listen
            .map_or("off".to_string(), |a| a.to_string())
    );
    Ok(0)
}

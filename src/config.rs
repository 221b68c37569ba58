//! `verdict.toml`, the parts `verdict run` reads (the `[vars]` table belongs to the compiler's
//! `vars` module and is read there).
//!
//! ```toml
//! rules = ["/etc/verdict/rules"]      # files or directories of *.rules; a single string works too
//! log_dir = "/var/log/verdict"
//! disabled = [2100498, 2013028]       # sids never loaded
//! [engine]
//! workers = 2                         # one NFQUEUE per worker; default: one per core
//! queue = 0                           # first queue number
//! mode = "ips"                        # or "ids": alert only, never drop
//! inspect_depth = 1048576             # payload bytes inspected per flow direction (default: all)
//! [control]
//! socket = "/run/verdict/control.sock"
//! [block]                             # active response, see verdict_engine::block::BlockConfig
//! whitelist = ["192.0.2.53"]
//! [scan]                              # scan detection, see verdict_engine::scan::ScanConfig
//! enabled = true
//! ```
//!
//! Every field is optional: the command line overrides or supplies it. Errors name the file
//! and the offending key before anything touches the kernel.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use verdict_engine::block::BlockConfig;
use verdict_engine::control::default_socket;
use verdict_engine::scan::ScanConfig;

/// Whether verdicts are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Inline prevention: drop, reject and replace are applied.
    #[default]
    Ips,
    /// Detection only: every packet is accepted unchanged; alerts are still written.
    Ids,
}

/// The `[engine]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Number of workers (= queues).
    pub workers: Option<u16>,
    /// First queue number.
    pub queue: Option<u16>,
    /// ips or ids.
    pub mode: Option<Mode>,
    /// Payload bytes inspected per flow direction (like Suricata's stream depth); absent:
    /// everything.
    pub inspect_depth: Option<u64>,
}

/// The `[control]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Control socket path (default: `control::default_socket`, per network namespace).
    pub socket: Option<PathBuf>,
}

/// One or several paths.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Paths {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

#[derive(Debug, Default, Deserialize)]
struct Raw {
    rules: Option<Paths>,
    log_dir: Option<PathBuf>,
    #[serde(default)]
    disabled: Vec<u32>,
    #[serde(default)]
    engine: EngineSection,
    #[serde(default)]
    control: ControlSection,
    #[serde(default)]
    block: BlockConfig,
    #[serde(default)]
    scan: ScanConfig,
    // Read by the compiler's vars module; accepted here so the file validates as a whole.
    #[serde(default)]
    #[allow(dead_code)]
    vars: toml::Table,
}

/// The settings of `verdict run` from a config file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Rule files or directories.
    pub rules: Vec<PathBuf>,
    /// Log directory.
    pub log_dir: Option<PathBuf>,
    /// Disabled sids.
    pub disabled: Vec<u32>,
    /// `[engine]`.
    pub engine: EngineSection,
    /// `[control]`.
    pub control: ControlSection,
    /// `[block]`: whitelist, guard, per-sid and per-classtype block durations.
    pub block: BlockConfig,
    /// `[scan]`: scan detection.
    pub scan: ScanConfig,
}

/// Top-level keys verdict knows; anything else is most likely a typo.
const KNOWN_KEYS: &[&str] = &[
    "rules", "log_dir", "disabled", "engine", "control", "block", "scan", "vars",
];

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Config::parse(&text, path)
    }

    /// Parses config text; `path` is used for messages and to resolve relative paths.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Config> {
        let table: toml::Table =
            toml::from_str(text).with_context(|| format!("{}: invalid TOML", path.display()))?;
        for key in table.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                bail!(
                    "{}: unknown key `{key}` (known: {})",
                    path.display(),
                    KNOWN_KEYS.join(", ")
                );
            }
        }
        let raw: Raw = toml::from_str(text).with_context(|| format!("{}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        let rules = match raw.rules {
            None => Vec::new(),
            Some(Paths::One(p)) => vec![resolve(p)],
            Some(Paths::Many(v)) => v.into_iter().map(resolve).collect(),
        };
        // Checked now so a bad whitelist or duration fails before anything touches the kernel.
        raw.block
            .resolve(true)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        raw.scan
            .resolve()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if raw.engine.workers == Some(0) {
            bail!("{}: [engine] workers must be at least 1", path.display());
        }
        Ok(Config {
            rules,
            log_dir: raw.log_dir.map(resolve),
            disabled: raw.disabled,
            engine: raw.engine,
            control: ControlSection {
                socket: raw.control.socket.map(resolve),
            },
            block: raw.block,
            scan: raw.scan,
        })
    }

    /// The control socket path: the command line's, the config's, or the default.
    pub fn socket(&self, arg: Option<&Path>) -> PathBuf {
        arg.map(Path::to_path_buf)
            .or_else(|| self.control.socket.clone())
            .unwrap_or_else(default_socket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse(text, Path::new("/etc/verdict/verdict.toml"))
    }

    #[test]
    fn full_config() {
        let c = parse(
            "rules = [\"rules\", \"/abs/x.rules\"]\nlog_dir = \"log\"\ndisabled = [1, 2]\n\
             [engine]\nworkers = 3\nqueue = 10\nmode = \"ids\"\ninspect_depth = 1048576\n[vars]\nHOME_NET = \"[10.0.0.0/8]\"\n",
        )
        .unwrap();
        assert_eq!(
            c.rules,
            vec![
                PathBuf::from("/etc/verdict/rules"),
                PathBuf::from("/abs/x.rules")
            ]
        );
        assert_eq!(c.log_dir, Some(PathBuf::from("/etc/verdict/log")));
        assert_eq!(c.disabled, vec![1, 2]);
        assert_eq!(c.engine.workers, Some(3));
        assert_eq!(c.engine.queue, Some(10));
        assert_eq!(c.engine.mode, Some(Mode::Ids));
        assert_eq!(c.engine.inspect_depth, Some(1 << 20));
    }

    #[test]
    fn single_rules_path_and_empty_file() {
        assert_eq!(
            parse("rules = \"/r\"").unwrap().rules,
            vec![PathBuf::from("/r")]
        );
        let c = parse("").unwrap();
        assert!(c.rules.is_empty() && c.log_dir.is_none() && c.engine.mode.is_none());
    }

    #[test]
    fn errors_name_the_problem() {
        let e = format!("{:#}", parse("rule = \"x\"").unwrap_err());
        assert!(e.contains("unknown key `rule`"), "{e}");
        let e = format!("{:#}", parse("[engine]\nworker = 2").unwrap_err());
        assert!(e.contains("worker"), "{e}");
        let e = format!("{:#}", parse("[engine]\nmode = \"panic\"").unwrap_err());
        assert!(e.contains("panic") || e.contains("variant"), "{e}");
        let e = format!("{:#}", parse("[engine]\nworkers = 0").unwrap_err());
        assert!(e.contains("at least 1"), "{e}");
        let e = format!(
            "{:#}",
            parse("[block]\nwhitelist = [\"10.0.0.0/33\"]").unwrap_err()
        );
        assert!(e.contains("whitelist"), "{e}");
        let e = format!("{:#}", parse("[block.sids]\n1 = \"soon\"").unwrap_err());
        assert!(e.contains("duration"), "{e}");
        let e = format!("{:#}", parse("rules = [").unwrap_err());
        assert!(e.contains("invalid TOML"), "{e}");
    }
}

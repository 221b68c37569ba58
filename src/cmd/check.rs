//! `verdict check FILE|DIR...`: diagnostics (rustc-style or JSON) then a summary; exit 0
//! when no enabled rule has an error, 1 otherwise.

use anyhow::Context as _;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use verdict_compiler::check::{load, LoadOptions, Source};
use verdict_compiler::diag;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-style code frames and a summary table.
    Human,
    /// One JSON document: diagnostics and summary.
    Json,
}

/// Arguments of `verdict check`.
#[derive(clap::Args)]
pub struct Args {
    /// Rule files or directories (their `*.rules` files, recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also parse commented-out rules (`# alert ...`); their problems are warnings.
    #[arg(long)]
    pub include_commented: bool,
    /// verdict.toml whose `[vars]` table defines $HOME_NET, $HTTP_PORTS, ...
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Colour: auto (when stdout is a terminal), always, never.
    #[arg(long, default_value = "auto")]
    pub color: String,
}

/// Runs `verdict check`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    // The whole file is validated, so a typo in any key is refused here too.
    let vars = crate::config::Config::load_opt(args.config.as_deref())?.vars;
    let mut sources = Vec::new();
    for p in &args.paths {
        sources.extend(Source::read(p).with_context(|| format!("cannot read {}", p.display()))?);
    }
    let opts = LoadOptions {
        include_commented: args.include_commented,
        vars,
    };
    let loaded = load(&sources, &opts);
    let code = i32::from(loaded.has_errors());
    let s = &loaded.summary;
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "diagnostics": diag::to_json(&loaded.diagnostics, &sources),
                "summary": s,
                "exit_code": code,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Human => {
            let color = match args.color.as_str() {
                "always" => true,
                "never" => false,
                _ => std::io::stdout().is_terminal(),
            };
            print!("{}", diag::render(&loaded.diagnostics, &sources, color));
            println!(
                "checked {} file(s): {} rule(s) parsed, {} ok, {} with errors",
                s.files, s.rules_parsed, s.ok, s.with_errors
            );
            if args.include_commented {
                let pct = |a: usize, b: usize| {
                    if b == 0 {
                        100.0
                    } else {
                        100.0 * a as f64 / b as f64
                    }
                };
                println!(
                    "  enabled rules: {}/{} ok ({:.2}%); commented-out rules parsed: {}, {} ok ({:.2}%)",
                    s.enabled_ok(),
                    s.enabled(),
                    pct(s.enabled_ok(), s.enabled()),
                    s.commented_parsed,
                    s.commented_ok,
                    pct(s.commented_ok, s.commented_parsed)
                );
            }
            if !s.by_reason.is_empty() {
                println!("  rejected by reason:");
                for (reason, n) in &s.by_reason {
                    println!("    {reason:<26} {n}");
                }
            }
        }
    }
    Ok(code)
}

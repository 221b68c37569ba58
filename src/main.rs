//! `verdict`: one binary, subcommands wired to the crates. Everything else lives in the
//! library crates; this file only parses the command line and reports errors once.

mod cmd;
mod config;
mod suricata_yaml;

use clap::{Parser, Subcommand};

/// Inline intrusion prevention for Linux gateways.
#[derive(Parser)]
#[command(name = "verdict", version, about, propagate_version = true)]
struct Cli {
    /// Log filter (tracing-subscriber EnvFilter syntax), e.g. `info` or `verdict_engine=debug`.
    #[arg(long, global = true, env = "VERDICT_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check rule files: diagnostics with file:line:col and a summary.
    Check(cmd::check::Args),
    /// Compile rules into an nft script, bytecode and a translation report.
    Compile(cmd::compile::Args),
    /// Run inline on this gateway: apply the nft table, bind NFQUEUE workers.
    Run(cmd::run::Args),
    /// Run the engine over pcap files offline.
    Replay(cmd::replay::Args),
    /// Print counters from the running engine.
    Stats(cmd::stats::Args),
    /// Block an address or network in the kernel (through the engine, or directly).
    Block(cmd::block::BlockArgs),
    /// Remove a block.
    Unblock(cmd::block::UnblockArgs),
    /// List blocked addresses with direction, time left and reason.
    List(cmd::block::ListArgs),
    /// Top sources, destination ports and signatures of the alert log over a time range.
    Top(cmd::top::Args),
    /// Send one command to the running engine's control socket (`verdict ctl help`).
    Ctl(cmd::block::CtlArgs),
    /// Switch a rule off in the running engine at once (kept across restarts).
    Disable(cmd::ops::DisableArgs),
    /// Switch a rule back on.
    Enable(cmd::ops::EnableArgs),
    /// Recompile the rules and swap them into the running engine (like SIGHUP).
    Reload(cmd::ops::ReloadArgs),
    /// Validate verdict.toml without touching the kernel (`verdict config check [FILE]`).
    Config(cmd::config_check::Args),
    /// Show why an alert fired: rule text, evidence packet with matched bytes, each option.
    Explain(cmd::explain::Args),
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.cmd {
        Cmd::Check(a) => cmd::check::run(a),
        Cmd::Compile(a) => cmd::compile::run(a),
        Cmd::Run(a) => cmd::run::run(a),
        Cmd::Replay(a) => cmd::replay::run(a),
        Cmd::Stats(a) => cmd::stats::run(a),
        Cmd::Block(a) => cmd::block::block(a),
        Cmd::Unblock(a) => cmd::block::unblock(a),
        Cmd::List(a) => cmd::block::list(a),
        Cmd::Ctl(a) => cmd::block::ctl(a),
        Cmd::Top(a) => cmd::top::run(a),
        Cmd::Disable(a) => cmd::ops::disable(a),
        Cmd::Enable(a) => cmd::ops::enable(a),
        Cmd::Reload(a) => cmd::ops::reload(a),
        Cmd::Config(a) => cmd::config_check::run(a),
        Cmd::Explain(a) => cmd::explain::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

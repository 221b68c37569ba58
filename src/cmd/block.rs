//! `verdict block`, `unblock`, `list` and `ctl`: talk to the running engine through its
//! control socket; with no engine running, the block commands act on the kernel's block sets
//! directly, through the same interpreter (so the whitelist is honoured either way).

use crate::config::Config;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use verdict_engine::block::{Blocker, NftBackend};
use verdict_engine::control::{self, Control};

/// Where to find the engine (shared by the commands of this file).
#[derive(clap::Args)]
pub struct Target {
    /// Config file (for `[control] socket` and the `[block]` whitelist).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Control socket of the running engine.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// One-line JSON reply.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `verdict block`.
#[derive(clap::Args)]
pub struct BlockArgs {
    /// Address or network (ADDR[/PREFIX]).
    pub addr: String,
    /// How long: 30s, 10m, 1h, 2d, or `permanent` (default 1h).
    #[arg(long = "for")]
    pub duration: Option<String>,
    /// Which packets: src (from it), dst (to it) or both.
    #[arg(long)]
    pub dir: Option<String>,
    /// Why (kept with the block, shown by `verdict list`).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `verdict unblock`.
#[derive(clap::Args)]
pub struct UnblockArgs {
    /// Address or network, as it was blocked.
    pub addr: String,
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `verdict list`.
#[derive(clap::Args)]
pub struct ListArgs {
    /// List the switched-off sids (`verdict disable`) instead of the blocks.
    #[arg(long)]
    pub disabled: bool,
    /// State file to read with --disabled when no engine runs.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `verdict ctl`.
#[derive(clap::Args)]
pub struct CtlArgs {
    /// The command line to send (e.g. `disable 2100498`, `stats`); see `verdict ctl help`.
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub target: Target,
}

/// The protocol splits on whitespace: keep the user's words apart but on one line.
fn word(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `verdict block`.
pub fn block(a: BlockArgs) -> anyhow::Result<i32> {
    let mut line = format!("block {}", word(&a.addr));
    if let Some(d) = &a.duration {
        line.push_str(&format!(" --for {}", word(d)));
    }
    if let Some(d) = &a.dir {
        line.push_str(&format!(" --dir {}", word(d)));
    }
    if let Some(r) = &a.reason {
        line.push_str(&format!(" --reason {}", word(r)));
    }
    send(&a.target, &line, true)
}

/// Runs `verdict unblock`.
pub fn unblock(a: UnblockArgs) -> anyhow::Result<i32> {
    send(&a.target, &format!("unblock {}", word(&a.addr)), true)
}

/// Runs `verdict list`.
pub fn list(a: ListArgs) -> anyhow::Result<i32> {
    if a.disabled {
        return super::ops::list_disabled(&a.target, a.state_file);
    }
    send(&a.target, "list", true)
}

/// Runs `verdict ctl`.
pub fn ctl(mut a: CtlArgs) -> anyhow::Result<i32> {
    // The command takes hyphenated words (`block X --for 1h`), so clap leaves our own
    // options in it when they come after the command: take them out here.
    let mut words = Vec::new();
    let mut it = a.command.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "--socket" => a.target.socket = it.next().map(PathBuf::from),
            "--config" | "-c" => a.target.config = it.next().map(PathBuf::from),
            _ => words.push(word(w)),
        }
    }
    send(&a.target, &words.join(" "), false)
}

/// Sends `line` to the engine, or (for block commands, `direct`) runs it here on the kernel's
/// sets when no engine listens. Prints the reply; exit code 1 on an `error:` reply.
fn send(t: &Target, line: &str, direct: bool) -> anyhow::Result<i32> {
    let cfg = match &t.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let socket = cfg.socket(t.socket.as_deref());
    let line = if t.json {
        format!("{line} --json")
    } else {
        line.to_string()
    };
    let reply = match control::request(&socket, &line, Duration::from_secs(30)) {
        Ok(r) => r,
        Err(e) if direct && no_engine(&e) => {
            eprintln!(
                "verdict: no engine on {}; acting on the kernel's block sets directly",
                socket.display()
            );
            direct_reply(&cfg, &line)?
        }
        Err(e) => {
            anyhow::bail!(
                "cannot reach the engine on {}: {e} (is `verdict run` running?)",
                socket.display()
            )
        }
    };
    Ok(print_reply(&reply))
}

fn no_engine(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused)
}

fn direct_reply(cfg: &Config, line: &str) -> anyhow::Result<String> {
    let settings = cfg
        .block
        .resolve(true)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let blocker = Arc::new(Blocker::new(settings, Box::new(NftBackend), None));
    let (reply, json) = Control::new(blocker, None).execute(line);
    Ok(reply.render(json))
}

/// Prints a reply: errors to stderr. Returns the exit code.
pub(crate) fn print_reply(reply: &str) -> i32 {
    let failed = reply.lines().any(|l| l.starts_with("error: "))
        || reply.starts_with("{\"") && reply.contains("\"ok\":false");
    if failed && !reply.starts_with('{') {
        eprint!("{reply}");
        return 1;
    }
    // The trailing `ok` is for scripts reading the socket; the CLI's exit code says it.
    let body = reply.strip_suffix("ok\n").unwrap_or(reply);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), body.as_bytes());
    i32::from(failed)
}

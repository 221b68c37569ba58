//! Applying verdict's ruleset to the running kernel.
//!
//! Everything goes through the `nft` and `iptables-nft` command line tools, so what we load is
//! exactly what an operator could type (and debug) by hand:
//! - [`probe`] asks the kernel (with `nft -c`, which validates a batch in the kernel without
//!   committing it) whether nft's `queue` statement and `@ih` payload matches exist;
//! - [`load`] checks the script with `nft -c -f`, commits it with one `nft -f` transaction, then
//!   installs the xt steering rules (if the kernel has no nft `queue`) with one
//!   `iptables-nft-restore --noflush` transaction per family; if anything fails the previous
//!   verdict table is restored, so a failed load never leaves traffic half-steered;
//! - [`replace_table`] is the reload's form of it when the steering did not change: the table
//!   alone, one transaction, the xt chains untouched. Neither ever leaves a moment in which
//!   the table or the steering is missing (a packet then would pass uninspected);
//! - [`remove`] deletes `table inet verdict` and the xt chains whose names start with
//!   [`XT_CHAIN_PREFIX`], and nothing else.
//!
//! The functions act on the network namespace of the calling thread (child processes inherit
//! it), which is how the tests run them inside throwaway namespaces.

use crate::render::QueueMechanism;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of verdict's own nft table (family inet).
pub const TABLE: &str = "verdict";

/// Every xt chain verdict creates starts with this, so [`remove`] finds them (and only them)
/// even after a crash.
pub const XT_CHAIN_PREFIX: &str = "VERDICT";

/// The xt tools verdict drives, one per address family.
const XT_TOOLS: [&str; 2] = ["iptables-nft", "ip6tables-nft"];

/// What the running kernel supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The queue mechanism to steer with: nft's own when the kernel has it, else xt NFQUEUE.
    pub queue: QueueMechanism,
    /// Whether `@ih` (inner header / payload) raw matches load.
    pub ih_payload: bool,
}

/// Why applying or removing the ruleset failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A tool could not be started at all (not installed, not in PATH).
    #[error("cannot run `{tool}`")]
    Spawn {
        /// the program
        tool: String,
        /// the OS error
        source: std::io::Error,
    },
    /// `nft -c` refused the script; nothing was changed.
    #[error("nft rejected the ruleset (nothing was changed):\n{stderr}")]
    Check {
        /// nft's error output, with line:column and the offending text
        stderr: String,
    },
    /// `nft -f` failed; the kernel rolled the transaction back.
    #[error("nft failed to load the ruleset (the previous ruleset is intact):\n{stderr}")]
    Load {
        /// nft's error output
        stderr: String,
    },
    /// An iptables-nft steering command failed; the previous verdict table was restored.
    #[error("`{command}` failed (the previous ruleset was restored):\n{stderr}")]
    Xt {
        /// the command line that failed
        command: String,
        /// its error output
        stderr: String,
    },
    /// Removing verdict's table or chains failed.
    #[error("could not remove verdict's rules: `{command}`: {stderr}")]
    Remove {
        /// the command line that failed
        command: String,
        /// its error output
        stderr: String,
    },
    /// The temporary script file could not be written.
    #[error("cannot write the temporary nft script {path}")]
    TempFile {
        /// where
        path: PathBuf,
        /// the OS error
        source: std::io::Error,
    },
}

/// Probes what this kernel supports, without changing any ruleset.
pub fn probe() -> Capabilities {
    // A throwaway table name, so even a kernel that ignored -c would not touch ours.
    let probe_table = |stmt: &str| {
        format!(
            "table inet verdict_probe {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    {stmt}\n  }}\n}}\n"
        )
    };
    let queue_ok = nft_check_text(&probe_table("meta l4proto tcp queue num 0 bypass"));
    let ih_ok = nft_check_text(&probe_table("meta l4proto tcp @ih,0,32 0x41424344 counter"));
    Capabilities {
        queue: if queue_ok {
            QueueMechanism::NftQueue
        } else {
            QueueMechanism::XtNfqueue
        },
        ih_payload: ih_ok,
    }
}

/// Checks then loads `script` (an `nft -f` script that creates/replaces `table inet verdict`)
/// as one transaction replacing any previous verdict table, then replaces the xt steering
/// with the `xt` argv lists (each starting with the tool name), one transaction per family.
///
/// On any failure the ruleset verdict had before the call is back in place (the previous
/// table, without xt steering). Returns what [`replace_table`] and the steering replacement
/// say the replaced queue rules had counted.
pub fn load(script: &str, xt: &[Vec<String>]) -> Result<u64, ApplyError> {
    // Saved before committing so a failing xt step can put the old table back.
    let previous = saved_table()?;
    let counted = replace_table(script)?;
    // The new table is committed: from here on every failure, whichever step and error kind,
    // must put the previous table back before it is returned.
    let steered = steer(xt).inspect_err(|_| restore(previous.as_deref()))?;
    Ok(counted.saturating_add(steered))
}

/// Checks `script` with `nft -c`, then replaces verdict's table with it in one `nft -f`
/// transaction, leaving the xt steering as it is. A failure changes nothing: the check
/// refuses a bad script before the commit, and the kernel rolls a failed commit back.
///
/// Returns the packets the replaced table's queue rules had counted, read just before the
/// commit: the new rules count from zero, and [`steered_packets`] only sees those.
pub fn replace_table(script: &str) -> Result<u64, ApplyError> {
    // Declaring then deleting the table first makes the script replace verdict's table in the
    // same transaction, whatever was there before (a stale table from a crashed run included).
    let file = TempScript::new(&format!(
        "table inet {TABLE}\ndelete table inet {TABLE}\n{script}"
    ))?;
    let out = run_tool(
        "nft",
        ["-c", "-f"]
            .iter()
            .map(|s| s.to_string())
            .chain([file.arg()]),
    )?;
    if !out.status.success() {
        return Err(ApplyError::Check {
            stderr: stderr_of(&out),
        });
    }
    let counted = queue_packets_in(["inet", TABLE, "forward"]).unwrap_or(0);
    let out = run_tool("nft", ["-f".to_string(), file.arg()])?;
    if !out.status.success() {
        return Err(ApplyError::Load {
            stderr: stderr_of(&out),
        });
    }
    Ok(counted)
}

/// Replaces verdict's xt steering with `xt`. Command by command (delete the old chain, add
/// each rule, hook it) would leave the forward hook without steering for tens of
/// milliseconds, and what passes then is never inspected; so each family's chain is
/// refilled, and hooked if it was not, by one `iptables-nft-restore --noflush` transaction.
/// Returns the packets the replaced queue rules had counted (read just before each commit).
fn steer(xt: &[Vec<String>]) -> Result<u64, ApplyError> {
    if xt.is_empty() {
        let counted = xt_chains()
            .iter()
            .filter_map(|c| queue_packets_in(*c))
            .sum();
        remove_xt()?;
        return Ok(counted);
    }
    let mut counted = 0u64;
    let mut tools: Vec<&str> = Vec::new();
    for argv in xt {
        if let Some(tool) = argv.first().filter(|t| !tools.contains(&t.as_str())) {
            tools.push(tool);
        }
    }
    for tool in tools {
        let hooked = run_tool(tool, ["-t", "filter", "-S", "FORWARD"].map(String::from))
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())?;
        let batch = restore_batch(
            xt.iter()
                .filter(|a| a.first().map(String::as_str) == Some(tool)),
            &hooked,
        )
        .map_err(|stderr| ApplyError::Xt {
            command: format!("{tool}-restore --noflush"),
            stderr,
        })?;
        let restore_tool = format!("{tool}-restore");
        let family = if tool.starts_with("ip6") { "ip6" } else { "ip" };
        let before = queue_packets_in([family, "filter", XT_CHAIN_PREFIX]).unwrap_or(0);
        let out = run_tool_with_input(&restore_tool, &["--noflush"], &batch)?;
        if !out.status.success() {
            return Err(ApplyError::Xt {
                command: format!("{restore_tool} --noflush <<EOF\n{batch}EOF"),
                stderr: stderr_of(&out),
            });
        }
        counted = counted.saturating_add(before);
        let declared: Vec<&str> = (xt.iter())
            .filter(|a| a.first().map(String::as_str) == Some(tool))
            .filter_map(
                |a| match a.iter().map(String::as_str).collect::<Vec<_>>()[1..] {
                    [.., "-N", chain] => Some(chain),
                    _ => None,
                },
            )
            .collect();
        drop_stale_chains(tool, &declared)?;
    }
    Ok(counted)
}

/// Deletes verdict's chains that the batch just committed no longer declares (a reload that
/// dropped an xt-string drop rule leaves its action chain unreferenced): they are flushed and
/// deleted one by one, which is safe since nothing jumps to them any more.
fn drop_stale_chains(tool: &str, declared: &[&str]) -> Result<(), ApplyError> {
    let out = run_tool(tool, ["-t", "filter", "-S"].map(String::from))?;
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let stale: Vec<&str> = (listing.lines())
        .filter_map(|l| l.strip_prefix("-N "))
        .map(str::trim)
        .filter(|c| c.starts_with(XT_CHAIN_PREFIX) && !declared.contains(c))
        .collect();
    for op in ["-F", "-X"] {
        for chain in &stale {
            let args = ["-w", "-t", "filter", op, chain].map(String::from);
            let out = run_tool(tool, args.clone())?;
            if !out.status.success() {
                return Err(ApplyError::Xt {
                    command: format!("{tool} {}", args.join(" ")),
                    stderr: stderr_of(&out),
                });
            }
        }
    }
    Ok(())
}

/// The `iptables-restore` text of one tool's argv lists (`TOOL -w -N C`, `-A C …`,
/// `-I FORWARD 1 -j C`): a chain declaration flushes the chain under `--noflush` (or creates
/// it), and a jump that `hooked` (the `-S FORWARD` listing) already has is not added twice.
fn restore_batch<'a>(
    argvs: impl Iterator<Item = &'a Vec<String>>,
    hooked: &str,
) -> Result<String, String> {
    let mut batch = String::from("*filter\n");
    for argv in argvs {
        let args: Vec<&str> = argv
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(|a| *a != "-w")
            .collect();
        match args.as_slice() {
            ["-N", chain] => batch.push_str(&format!(":{chain} - [0:0]\n")),
            ["-I", hook, rest @ ..] if is_hooked(hook, rest, hooked) => {}
            ["-I", ..] | ["-A", ..] => {
                let words: Result<Vec<String>, String> =
                    args.iter().map(|a| restore_word(a)).collect();
                batch.push_str(&words?.join(" "));
                batch.push('\n');
            }
            _ => return Err(format!("not a steering command: {}", argv.join(" "))),
        }
    }
    batch.push_str("COMMIT\n");
    Ok(batch)
}

/// Whether `-I HOOK [POS] -j CHAIN` (`rest` is what follows HOOK) is a jump that the `-S`
/// listing `hooked` already has.
fn is_hooked(hook: &str, rest: &[&str], hooked: &str) -> bool {
    let rest = match rest {
        [pos, tail @ ..] if pos.parse::<u32>().is_ok() => tail,
        _ => rest,
    };
    match rest {
        ["-j", chain] => hooked
            .lines()
            .any(|l| l.trim() == format!("-A {hook} -j {chain}")),
        _ => false,
    }
}

/// One argument in `iptables-restore` syntax: double-quoted (with `\"` and `\\` escaped) when
/// it holds anything but plain characters. A line break cannot be written at all.
fn restore_word(a: &str) -> Result<String, String> {
    if a.contains(['\n', '\r']) {
        return Err(format!("argument with a line break: {a:?}"));
    }
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,=!+@%".contains(c))
    {
        return Ok(a.to_string());
    }
    Ok(format!(
        "\"{}\"",
        a.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// Deletes `table inet verdict` and verdict's xt chains (and the jumps to them). Idempotent.
pub fn remove() -> Result<(), ApplyError> {
    // xt first: its rules queue traffic, and without a reader they would fail open anyway
    // thanks to --queue-bypass, but there is no reason to keep steering a moment longer.
    let xt = remove_xt();
    let nft = remove_table();
    xt.and(nft)
}

/// Whether `table inet verdict` currently exists.
pub fn table_exists() -> Result<bool, ApplyError> {
    let out = run_tool("nft", ["list", "table", "inet", TABLE].map(String::from))?;
    Ok(out.status.success())
}

fn remove_table() -> Result<(), ApplyError> {
    if !table_exists()? {
        return Ok(());
    }
    let args = ["delete", "table", "inet", TABLE].map(String::from);
    let out = run_tool("nft", args.clone())?;
    if !out.status.success() {
        return Err(ApplyError::Remove {
            command: format!("nft {}", args.join(" ")),
            stderr: stderr_of(&out),
        });
    }
    Ok(())
}

/// Removes every rule jumping to a `VERDICT*` chain, then those chains, in every table of
/// both xt families.
fn remove_xt() -> Result<(), ApplyError> {
    for tool in XT_TOOLS {
        for table in ["filter", "mangle", "raw"] {
            let out = match run_tool(tool, ["-t", table, "-S"].map(String::from)) {
                Ok(out) => out,
                // No iptables-nft installed: there is nothing of ours to remove.
                Err(ApplyError::Spawn { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            if !out.status.success() {
                // The table does not exist in this family: nothing to remove.
                continue;
            }
            let listing = String::from_utf8_lossy(&out.stdout).into_owned();
            let plan = xt_removal_plan(&listing);
            for args in plan {
                let mut argv = vec!["-t".to_string(), table.to_string()];
                argv.extend(args);
                let out = run_tool(tool, argv.iter().cloned())?;
                if !out.status.success() {
                    return Err(ApplyError::Remove {
                        command: format!("{tool} {}", argv.join(" ")),
                        stderr: stderr_of(&out),
                    });
                }
            }
        }
    }
    Ok(())
}

/// From `iptables -S` output, the commands that delete verdict's rules and chains: jumps into
/// verdict chains from other chains, then a flush and delete of each verdict chain.
fn xt_removal_plan(listing: &str) -> Vec<Vec<String>> {
    let is_ours = |name: &str| name.starts_with(XT_CHAIN_PREFIX);
    let mut deletes = Vec::new();
    let mut chains = Vec::new();
    for line in listing.lines() {
        let words = split_xt_words(line);
        match words.first().map(String::as_str) {
            Some("-N") if words.len() >= 2 && is_ours(&words[1]) => chains.push(words[1].clone()),
            Some("-A") if words.len() >= 2 && !is_ours(&words[1]) => {
                let target = words
                    .windows(2)
                    .find(|w| w[0] == "-j" || w[0] == "-g")
                    .map(|w| w[1].as_str());
                if target.is_some_and(is_ours) {
                    let mut d = words.clone();
                    d[0] = "-D".into();
                    deletes.push(d);
                }
            }
            _ => {}
        }
    }
    for c in &chains {
        deletes.push(vec!["-F".into(), c.clone()]);
    }
    for c in &chains {
        deletes.push(vec!["-X".into(), c.clone()]);
    }
    deletes
}

/// Splits an `iptables -S` line into words, honouring the double quotes it puts around
/// comments and strings with spaces.
fn split_xt_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut has = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                has = true;
            }
            '\\' if in_quotes => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !in_quotes => {
                if has {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        words.push(cur);
    }
    words
}

/// The current verdict table as an nft script that recreates it, or None if there is none.
fn saved_table() -> Result<Option<String>, ApplyError> {
    let out = run_tool("nft", ["list", "table", "inet", TABLE].map(String::from))?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Best effort: put back the table saved by [`saved_table`] (or none), without xt steering.
fn restore(previous: Option<&str>) {
    let _ = remove_xt();
    let mut script = String::new();
    // `table` + `delete table` makes the delete valid whether or not the table exists, all in
    // one transaction with the re-creation.
    script.push_str(&format!("table inet {TABLE}\ndelete table inet {TABLE}\n"));
    if let Some(prev) = previous {
        script.push_str(prev);
    }
    if let Ok(file) = TempScript::new(&script) {
        if let Ok(out) = run_tool("nft", ["-f".to_string(), file.arg()]) {
            if !out.status.success() {
                tracing::error!(
                    "restoring the previous verdict table failed: {}",
                    stderr_of(&out)
                );
            }
        }
    }
}

/// Runs `nft -c` on a script text; true when the kernel accepts it.
fn nft_check_text(script: &str) -> bool {
    let Ok(file) = TempScript::new(script) else {
        return false;
    };
    matches!(
        run_tool("nft", ["-c".to_string(), "-f".to_string(), file.arg()]),
        Ok(out) if out.status.success()
    )
}

/// Packets verdict's steering rules have handed to NFQUEUE so far, from the `counter` on each
/// queue rule (`None` when no such chain could be listed). The kernel itself counts nothing a
/// fail-open queue or `bypass` lets through (`/proc/net/netfilter/nfnetlink_queue` counts drops
/// only without fail-open), so this minus what the engine received is what went uninspected.
pub fn steered_packets(m: QueueMechanism) -> Option<u64> {
    let chains = match m {
        QueueMechanism::NftQueue => vec![["inet", TABLE, "forward"]],
        QueueMechanism::XtNfqueue => xt_chains().to_vec(),
    };
    let mut total = None;
    for chain in chains {
        if let Some(n) = queue_packets_in(chain) {
            total = Some(total.unwrap_or(0u64).saturating_add(n));
        }
    }
    total
}

/// The nft chains of verdict's xt steering: iptables-nft keeps them in the nft tables
/// `ip filter` and `ip6 filter`.
fn xt_chains() -> [[&'static str; 3]; 2] {
    [
        ["ip", "filter", XT_CHAIN_PREFIX],
        ["ip6", "filter", XT_CHAIN_PREFIX],
    ]
}

/// The packets the queue rules of one chain (`[family, table, chain]`) counted, or None when
/// the chain cannot be listed (not there).
fn queue_packets_in([family, table, chain]: [&str; 3]) -> Option<u64> {
    let args = ["-j", "list", "chain", family, table, chain].map(String::from);
    let out = run_tool("nft", args).ok()?;
    out.status
        .success()
        .then(|| queue_rule_packets(&String::from_utf8_lossy(&out.stdout)))
}

/// Sums the `counter` packets of the rules in an `nft -j list` answer that queue: nft's own
/// `queue` statement, or an xt `NFQUEUE` target (how iptables-nft stores it).
fn queue_rule_packets(json: &str) -> u64 {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return 0;
    };
    let items = v["nftables"].as_array().map_or(&[][..], Vec::as_slice);
    items
        .iter()
        .filter_map(|item| item["rule"]["expr"].as_array())
        .filter(|expr| {
            expr.iter()
                .any(|e| e.get("queue").is_some() || e["xt"]["name"] == "NFQUEUE")
        })
        .filter_map(|expr| expr.iter().find_map(|e| e["counter"]["packets"].as_u64()))
        .fold(0u64, u64::saturating_add)
}

/// Runs `tool args` with `input` on its standard input.
fn run_tool_with_input(tool: &str, args: &[&str], input: &str) -> Result<Output, ApplyError> {
    tracing::debug!("running {tool} {} with:\n{input}", args.join(" "));
    let spawn_err = |source| ApplyError::Spawn {
        tool: tool.to_string(),
        source,
    };
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    // The batch is small (one line per steering rule), far below a pipe's buffer, so writing
    // it all before reading the output cannot deadlock.
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(spawn_err)?;
    if let Some(Err(e)) = written {
        if out.status.success() {
            return Err(spawn_err(e));
        }
    }
    Ok(out)
}

fn run_tool<I>(tool: &str, args: I) -> Result<Output, ApplyError>
where
    I: IntoIterator<Item = String>,
{
    let args: Vec<String> = args.into_iter().collect();
    tracing::debug!("running {tool} {}", args.join(" "));
    Command::new(tool)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ApplyError::Spawn {
            tool: tool.to_string(),
            source,
        })
}

fn stderr_of(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    if s.is_empty() {
        s = format!("(no error output; {})", out.status);
    }
    s
}

/// A script in a private temporary file, deleted on drop. nft reads files, and error messages
/// then point at line:column in it.
struct TempScript {
    path: PathBuf,
}

impl TempScript {
    fn new(text: &str) -> Result<TempScript, ApplyError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "verdict-{}-{}.nft",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let write = |p: &Path| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)?;
            f.write_all(text.as_bytes())
        };
        write(&path).map_err(|source| ApplyError::TempFile {
            path: path.clone(),
            source,
        })?;
        Ok(TempScript { path })
    }

    fn arg(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for TempScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_plan_deletes_only_our_jumps_and_chains() {
        let listing = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-N VERDICT\n-N OTHER\n\
            -A FORWARD -j OTHER\n-A FORWARD -m comment --comment \"verdict steering\" -j VERDICT\n\
            -A VERDICT -j NFQUEUE --queue-balance 0:1 --queue-bypass\n-A OTHER -j ACCEPT\n";
        let plan = xt_removal_plan(listing);
        let plan: Vec<String> = plan.iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            plan,
            vec![
                "-D FORWARD -m comment --comment verdict steering -j VERDICT",
                "-F VERDICT",
                "-X VERDICT",
            ]
        );
    }

    #[test]
    fn queue_counters_are_summed_from_nft_and_xt_queue_rules_only() {
        let json = r#"{"nftables": [{"metainfo": {"json_schema_version": 1}},
            {"chain": {"family": "ip", "table": "filter", "name": "VERDICT", "handle": 1}},
            {"rule": {"chain": "VERDICT", "expr": [{"counter": {"packets": 40, "bytes": 1}},
                {"xt": {"type": "target", "name": "NFQUEUE"}}]}},
            {"rule": {"chain": "VERDICT", "expr": [{"counter": {"packets": 7, "bytes": 1}},
                {"xt": {"type": "match", "name": "string"}}, {"drop": null}]}},
            {"rule": {"chain": "forward", "expr": [{"match": {}}, {"counter": {"packets": 2, "bytes": 1}},
                {"queue": {"num": 0, "flags": "bypass"}}]}},
            {"rule": {"chain": "forward", "expr": [{"queue": {"num": 1}}]}}]}"#;
        assert_eq!(queue_rule_packets(json), 42);
        assert_eq!(queue_rule_packets("not json"), 0);
        assert_eq!(queue_rule_packets(r#"{"nftables": 3}"#), 0);
    }

    #[test]
    fn restore_batch_refills_the_chain_and_hooks_it_once() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let xt = [
            argv("iptables-nft -w -N VERDICT"),
            argv("iptables-nft -w -A VERDICT -p udp -m multiport --dports 53,80"),
            vec![
                "iptables-nft".into(),
                "-A".into(),
                "VERDICT".into(),
                "--comment".into(),
                "a \"b\" c\\".into(),
            ],
            argv("iptables-nft -w -I FORWARD 1 -j VERDICT"),
        ];
        let batch = restore_batch(xt.iter(), "-P FORWARD ACCEPT\n").unwrap();
        assert_eq!(
            batch,
            "*filter\n:VERDICT - [0:0]\n-A VERDICT -p udp -m multiport --dports 53,80\n\
             -A VERDICT --comment \"a \\\"b\\\" c\\\\\"\n-I FORWARD 1 -j VERDICT\nCOMMIT\n"
        );
        // Already hooked: the chain is refilled in place, the jump stays the one it was.
        let again = restore_batch(xt.iter(), "-P FORWARD ACCEPT\n-A FORWARD -j VERDICT\n").unwrap();
        assert!(!again.contains("FORWARD"), "{again}");
        let bad = [argv("iptables-nft -F VERDICT")];
        assert!(restore_batch(bad.iter(), "").is_err());
        assert!(restore_word("a\nb").is_err());
    }

    #[test]
    fn split_keeps_quoted_words_together() {
        assert_eq!(
            split_xt_words(r#"-A X -m string --string "a b\"c" -j VERDICT"#),
            vec!["-A", "X", "-m", "string", "--string", "a b\"c", "-j", "VERDICT"]
        );
    }
}

//! `verdict replay --explain SID`: why one rule did or did not fire on a capture.
//!
//! The rule is cut into steps, each a testing option with its modifiers (and the buffer or
//! transforms selected before it). For every k, a copy of the rule holding the header and the
//! first k steps runs beside the whole rule set, over the same capture, with the same engine
//! settings; the packets on which copy k alerts are those where the first k steps held. The
//! first step on which no packet got further is the option that failed, and the packets that
//! got furthest are the near misses. Nothing in the VM is instrumented: every option is
//! judged by the very code that runs it live, with flow, stream and app-layer state included.
//! Options that do not test the packet but change state or output (`flowbits:set`, `noalert`,
//! `threshold`, …) stay out of the copies, so the copies change nothing the other rules see.

use super::explain::{find_rule, META, MODIFIERS};
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use verdict_compiler::check::Source;
use verdict_compiler::diag::Severity;
use verdict_compiler::keywords::{buffers, transform};
use verdict_compiler::parse::parse_rule;
use verdict_engine::detect::{DetectConfig, Detector};
use verdict_engine::output::Event;
use verdict_engine::replay::{ReplayOptions, Replayer};

/// The gid of the step copies: outside what rule sets use (Snort's generators stay below
/// 1000), so their alerts are told apart from every real rule's.
pub const EXPLAIN_GID: u32 = 4_000_000_000;

/// The rule's testing options, grouped into steps, and what stays out of the copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps {
    /// `alert PROTO SRC SPORTS DIR DST DPORTS`: the rule's header with the action made `alert`.
    pub header: String,
    /// Each step's options as written (`content:"a"; nocase;`).
    pub steps: Vec<String>,
    /// Options that do not test the packet (`flowbits:set,x;`, `threshold:…;`).
    pub left_out: Vec<String>,
}

/// Options that change state or output instead of testing: they stay out of the copies.
fn side_effect(name: &str, value: &str) -> bool {
    let first = value.split(',').next().unwrap_or_default().trim();
    match name {
        "flowbits" | "xbits" => matches!(first, "set" | "unset" | "toggle" | "noalert"),
        "flowint" => {
            let op = value.split(',').nth(1).unwrap_or_default().trim();
            matches!(op, "=" | "+" | "-")
        }
        _ => matches!(
            name,
            "noalert" | "threshold" | "detection_filter" | "tag" | "fwsam" | "replace"
        ),
    }
}

impl Steps {
    /// Cuts `rule` into steps.
    pub fn of(rule: &str) -> anyhow::Result<Steps> {
        let ast = parse_rule(rule, 0, 0, false)
            .map_err(|d| anyhow::anyhow!("the rule does not parse: {}", d.message))?;
        let open = rule
            .get(ast.action.span.end..)
            .and_then(|rest| rest.find('('))
            .map(|i| ast.action.span.end + i)
            .context("the rule has no option list")?;
        let header = format!("alert{}", rule[ast.action.span.end..open].trim_end());
        let (mut steps, mut left_out) = (Vec::<String>::new(), Vec::new());
        // Buffer selections and transforms wait for the option they apply to.
        let mut pending = String::new();
        let mut last_was_match = false;
        for opt in &ast.options {
            let (name, value) = (opt.name.text, opt.value.map_or("", |v| v.text));
            let text = rule[opt.span.start..opt.span.end].trim();
            let text = if text.ends_with(';') {
                text.to_string()
            } else {
                format!("{text};")
            };
            let legacy_modifier =
                matches!(buffers::lookup(name), Some((_, buffers::Form::Legacy))) && last_was_match;
            if META.contains(&name) {
                continue;
            }
            if side_effect(name, value) {
                left_out.push(text);
                continue;
            }
            if MODIFIERS.contains(&name) || legacy_modifier {
                match steps.last_mut() {
                    Some(s) if pending.is_empty() => {
                        s.push(' ');
                        s.push_str(&text);
                    }
                    _ => pending_push(&mut pending, &text),
                }
                continue;
            }
            if buffers::lookup(name).is_some() || transform::NAMES.contains(&name) {
                pending_push(&mut pending, &text);
                last_was_match = false;
                continue;
            }
            pending_push(&mut pending, &text);
            steps.push(std::mem::take(&mut pending));
            last_was_match = matches!(name, "content" | "uricontent" | "pcre");
        }
        if !pending.is_empty() {
            // A trailing buffer selection without a test after it: it belongs to the last
            // step (a rule the compiler accepts never ends so, but the copies must parse).
            match steps.last_mut() {
                Some(s) => {
                    s.push(' ');
                    s.push_str(&pending);
                }
                None => steps.push(pending),
            }
        }
        Ok(Steps {
            header,
            steps,
            left_out,
        })
    }

    /// The copy of the rule with the header and the first `k` steps, as sid `k + 1` of
    /// [`EXPLAIN_GID`].
    pub fn copy(&self, sid: u32, k: usize) -> String {
        let opts: Vec<&str> = self.steps.iter().take(k).map(String::as_str).collect();
        let sep = if opts.is_empty() { "" } else { " " };
        format!(
            "{} (msg:\"explain sid {sid} step {k}\";{sep}{} gid:{EXPLAIN_GID}; sid:{}; rev:1;)\n",
            self.header,
            opts.join(" "),
            step_sid(k)
        )
    }
}

/// The sid (of [`EXPLAIN_GID`]) of the copy cut after `k` steps.
fn step_sid(k: usize) -> u32 {
    u32::try_from(k).map_or(u32::MAX, |k| k.saturating_add(1))
}

fn pending_push(pending: &mut String, text: &str) {
    if !pending.is_empty() {
        pending.push(' ');
    }
    pending.push_str(text);
}

/// One alert of the explained rule or of a copy.
#[derive(Debug, Clone)]
struct Hit {
    packet: u64,
    flow: Option<u64>,
    tuple: String,
    app: bool,
}

/// Compiles rule sources into an image (with the replay's variables); returns it with the
/// diagnostics and the sources they index.
pub type Compile = dyn Fn(
    Vec<Source>,
) -> anyhow::Result<(
    verdict_compiler::bytecode::RuleSetImage,
    Vec<verdict_compiler::diag::Diagnostic>,
    Vec<Source>,
)>;

/// What the explain pass needs besides the captures.
pub struct Request<'a> {
    /// The sid to explain (gid 1).
    pub sid: u32,
    /// The rule files (rule text only: a compiled image has no options to cut).
    pub rules: &'a [PathBuf],
    /// Compiles rule sources into an image, with the replay's variables.
    pub compile: &'a Compile,
    /// The replay's engine settings.
    pub cfg: &'a DetectConfig,
    /// The replay's checksum policy and the like (no output pcap).
    pub opts: ReplayOptions,
    /// The captures.
    pub captures: &'a [PathBuf],
}

/// Runs the explain pass and returns its report.
pub fn explain(r: Request<'_>) -> anyhow::Result<String> {
    let (origin, text) = find_rule(r.rules, u64::from(r.sid))?;
    let steps = Steps::of(&text)?;
    let mut sources = Vec::new();
    for p in r.rules {
        sources.extend(Source::read(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let copies: String = (0..=steps.steps.len())
        .map(|k| steps.copy(r.sid, k))
        .collect();
    let name = format!("<explain sid {}>", r.sid);
    sources.push(Source {
        name: name.clone(),
        text: copies,
    });
    let (image, diags, sources) = (r.compile)(sources)?;
    let copy_errors: Vec<_> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error && d.file + 1 == sources.len())
        .cloned()
        .collect();
    if !copy_errors.is_empty() {
        anyhow::bail!(
            "the step copies of sid {} do not compile:\n{}",
            r.sid,
            verdict_compiler::diag::render(&copy_errors, &sources, false)
        );
    }
    if !image
        .programs
        .iter()
        .any(|p| p.gid.0 == 1 && p.sid.0 == r.sid)
    {
        anyhow::bail!(
            "sid {} ({origin}) is not among the rules the engine runs (`verdict compile \
             --explain {}` says why)",
            r.sid,
            r.sid
        );
    }
    // A step the engine cannot run (rejected with the reason `verdict compile` gives) would
    // look as if it never held: say so instead.
    let runnable: BTreeSet<u32> = image
        .programs
        .iter()
        .filter(|p| p.gid.0 == EXPLAIN_GID)
        .map(|p| p.sid.0)
        .collect();
    if let Some(k) = (0..=steps.steps.len()).find(|&k| !runnable.contains(&step_sid(k))) {
        anyhow::bail!(
            "the rule cut after step {k} is not runnable by the engine, so its steps cannot be \
             told apart (see `verdict compile --explain {}`)",
            r.sid
        );
    }
    let det = Arc::new(Detector::from_image(image, r.cfg).context("loading the explain rule set")?);
    let reach = det
        .explain()
        .lines()
        .find(|l| l.starts_with(&format!("sid {} (", r.sid)))
        .map(|l| l.split_once("): ").map_or(l, |(_, rest)| rest).to_string());
    let seen = replay(det, r.sid, r.opts, r.captures)?;
    Ok(report(
        &origin,
        &text,
        &steps,
        reach,
        &seen.steps,
        &seen.fired,
    ))
}

/// The alerts of the explain pass.
#[derive(Default)]
struct Seen {
    /// The copies' alerts, by the number of steps they hold.
    steps: BTreeMap<usize, Vec<Hit>>,
    /// The explained rule's own alerts.
    fired: Vec<Hit>,
}

/// Replays the captures through `det`, collecting the copies' alerts by step and the rule's.
fn replay(
    det: Arc<Detector>,
    sid: u32,
    opts: ReplayOptions,
    captures: &[PathBuf],
) -> anyhow::Result<Seen> {
    let (tx, rx) = crossbeam_channel::bounded::<Event>(verdict_engine::output::CHANNEL_CAPACITY);
    let collector = std::thread::spawn(move || {
        let mut seen = Seen::default();
        for ev in rx {
            let Event::Alert(a) = ev else { continue };
            let hit = Hit {
                packet: a.pkt.pcap_cnt.unwrap_or(0),
                flow: a.pkt.flow_id,
                tuple: format!(
                    "{}:{} -> {}:{}",
                    a.pkt.src_ip, a.pkt.src_port, a.pkt.dest_ip, a.pkt.dest_port
                ),
                app: a.app.is_some(),
            };
            if a.gid == EXPLAIN_GID {
                let k = usize::try_from(a.sid.saturating_sub(1)).unwrap_or(usize::MAX);
                seen.steps.entry(k).or_default().push(hit);
            } else if a.gid == 1 && a.sid == sid {
                seen.fired.push(hit);
            }
        }
        seen
    });
    let mut rp = Replayer::new(det, Some(tx), opts)?;
    for c in captures {
        // The main pass already reported what is wrong with a capture.
        let _ = rp.run_file(c);
    }
    rp.finish()?;
    collector
        .join()
        .map_err(|_| anyhow::anyhow!("the explain collector panicked"))
}

/// Packet numbers, the first few of them.
fn packets(hits: &[Hit]) -> String {
    let set: BTreeSet<u64> = hits.iter().map(|h| h.packet).collect();
    let shown: Vec<String> = set.iter().take(8).map(u64::to_string).collect();
    let more = if set.len() > 8 { ", …" } else { "" };
    match set.len() {
        0 => "0 packets".into(),
        1 => format!("1 packet ({})", shown.join(", ")),
        n => format!("{n} packets ({}{more})", shown.join(", ")),
    }
}

fn describe(h: &Hit) -> String {
    let flow = h.flow.map_or(String::new(), |f| format!(", flow {f}"));
    let tx = if h.app { ", in a transaction" } else { "" };
    format!("packet {} ({}{flow}{tx})", h.packet, h.tuple)
}

fn report(
    origin: &str,
    text: &str,
    steps: &Steps,
    reach: Option<String>,
    hits: &BTreeMap<usize, Vec<Hit>>,
    fired: &[Hit],
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "rule ({origin}):\n  {text}");
    if let Some(r) = reach {
        let _ = writeln!(o, "reached by: {r}");
    }
    if fired.is_empty() {
        let _ = writeln!(o, "fired: no");
    } else {
        let _ = writeln!(
            o,
            "fired: {} alert(s), first on {}",
            fired.len(),
            describe(&fired[0])
        );
    }
    let _ = writeln!(
        o,
        "steps (each with the ones above it), and where they held:"
    );
    let none = Vec::new();
    let at = |k: usize| hits.get(&k).unwrap_or(&none);
    let _ = writeln!(o, "  0  header: {:<40}  {}", steps.header, packets(at(0)));
    for (i, s) in steps.steps.iter().enumerate() {
        let _ = writeln!(o, "  {}  {s:<48}  {}", i + 1, packets(at(i + 1)));
    }
    if !steps.left_out.is_empty() {
        let _ = writeln!(
            o,
            "not steps (they change state or output, not the match): {}",
            steps.left_out.join(" ")
        );
    }
    let deepest = (0..=steps.steps.len()).rev().find(|&k| !at(k).is_empty());
    match deepest {
        None => {
            let _ = writeln!(
                o,
                "why: no packet matched the header (protocol, addresses, ports, direction)"
            );
        }
        Some(k) if k < steps.steps.len() => {
            let _ = writeln!(
                o,
                "why: step {} failed on every packet that got that far: {}",
                k + 1,
                steps.steps[k]
            );
            let _ = writeln!(o, "nearest miss: {} held steps 0..{k}", describe(&at(k)[0]));
        }
        Some(_) if fired.is_empty() => {
            let _ = writeln!(
                o,
                "why: every step held on {}, but the rule did not alert: what gated it is among \
                 the options that are not steps, its threshold or suppression, or a disabled sid",
                describe(&at(steps.steps.len())[0])
            );
        }
        Some(_) => {}
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_modifiers_and_buffers_with_their_option_and_leave_side_effects_out() {
        let s = Steps::of(
            "drop tcp $HOME_NET any -> any 80 (msg:\"m\"; flow:established,to_server; \
             content:\"GET\"; depth:3; http.uri; to_lowercase; content:\"/a\"; \
             content:\"x\"; http_header; flowbits:set,seen; pcre:\"/b/\"; \
             threshold:type limit, track by_src, count 1, seconds 60; sid:7; rev:2;)",
        )
        .unwrap();
        assert_eq!(s.header, "alert tcp $HOME_NET any -> any 80");
        assert_eq!(
            s.steps,
            vec![
                "flow:established,to_server;",
                "content:\"GET\"; depth:3;",
                "http.uri; to_lowercase; content:\"/a\";",
                "content:\"x\"; http_header;",
                "pcre:\"/b/\";",
            ]
        );
        assert_eq!(
            s.left_out,
            vec![
                "flowbits:set,seen;",
                "threshold:type limit, track by_src, count 1, seconds 60;"
            ]
        );
        assert_eq!(
            s.copy(7, 2),
            "alert tcp $HOME_NET any -> any 80 (msg:\"explain sid 7 step 2\"; \
             flow:established,to_server; content:\"GET\"; depth:3; gid:4000000000; sid:3; rev:1;)\n"
        );
        assert_eq!(
            s.copy(7, 0),
            "alert tcp $HOME_NET any -> any 80 (msg:\"explain sid 7 step 0\"; gid:4000000000; sid:1; rev:1;)\n"
        );
    }
}

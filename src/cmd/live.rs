//! The part of `verdict run` that start-up and a hot reload share: read the configured rules,
//! compile them with the operator's switches applied, and produce what the kernel and the
//! workers load. A reload (SIGHUP or `reload` on the control socket) runs the same steps, then
//! replaces the nft table in one transaction and hands the new set to the workers.

use crate::config::{self, Config};
use anyhow::Context;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use verdict_compiler::bytecode::{KernelRuleMeta, RuleSetImage, IMAGE_MAGIC};
use verdict_compiler::check::{self, LoadOptions, Source};
use verdict_compiler::classify::Fate;
use verdict_compiler::codegen::{self, CompileOptions, Compiled};
use verdict_compiler::diag::{self, Severity};
use verdict_compiler::ir::{Action, Rule, Sid};
use verdict_compiler::kernel::KernelCaps;
use verdict_compiler::kernel::{KernelAction, KernelPlan, Match};
use verdict_compiler::vars::Vars;
use verdict_engine::detect::threshold::ThresholdConfig;
use verdict_engine::detect::{rate, DetectConfig, Detector};
use verdict_engine::run::KernelRuleInfo;
use verdict_nft::render::{self, QueueMechanism, RenderOptions};

/// What does not change between reloads: where the rules come from and how the engine runs.
pub struct RuleInputs {
    /// The config file, re-read on reload (rules, vars, `disabled`, per-sid modes).
    pub config_path: Option<PathBuf>,
    /// `-r` paths, which override the config's `rules`.
    pub arg_rules: Vec<PathBuf>,
    /// Whether the kernel takes `@ih` payload matches.
    pub ih_payload: bool,
    /// The steering mechanism.
    pub mechanism: QueueMechanism,
    /// First and last queue.
    pub queues: (u16, u16),
    /// `--ids` on the command line (the whole engine in IDS mode).
    pub force_ids: bool,
    /// `--inspect-depth` on the command line.
    pub inspect_depth: Option<u64>,
    /// `--stream-depth` on the command line.
    pub stream_depth: Option<u64>,
    /// `--bypass` on the command line.
    pub bypass: Option<verdict_engine::bypass::BypassPolicy>,
    /// `--steer` on the command line.
    pub steer: Option<verdict_compiler::steer::SteerMode>,
    /// `--kernel-prefilter` on the command line (overrides `[kernel] prefilter`).
    pub prefilter: Option<verdict_compiler::prefilter::PrefilterMode>,
    /// nft script of active response (scan chain), appended to every table load.
    pub extra_script: String,
    /// `--threshold-file` on the command line (overrides the config's `threshold_file`).
    pub threshold_file: Option<PathBuf>,
    /// `--xt-string` on the command line (or'ed with the config's `[kernel] xt_string`).
    pub xt_string: bool,
}

/// Per-rule modes resolved from the config: which sids run in IDS mode. A sid list wins over
/// a rule-set list, which wins over the engine's mode; `--ids` makes everything IDS.
#[derive(Debug, Clone)]
pub struct Modes {
    /// The engine's global mode.
    pub global: config::Mode,
    /// sids that act (`ips_sids`).
    pub ips: HashSet<u32>,
    /// sids that only alert (`ids_sids`).
    pub ids: HashSet<u32>,
    /// Rule files or directories in IPS / IDS mode (`ips_rules`, `ids_rules`).
    ips_rules: Vec<PathBuf>,
    ids_rules: Vec<PathBuf>,
    /// sids of the rules read from those files ([`Modes::note_rules`]).
    set_ips: HashSet<u32>,
    set_ids: HashSet<u32>,
}

impl Modes {
    /// Resolves the config's `[engine]` mode and per-sid and per-rule-set lists.
    pub fn of(cfg: &Config, force_ids: bool) -> Modes {
        let global = if force_ids {
            config::Mode::Ids
        } else {
            cfg.engine.mode.unwrap_or_default()
        };
        let list = |v: &Option<Vec<u32>>| v.iter().flatten().copied().collect::<HashSet<u32>>();
        let paths = |v: &Option<Vec<PathBuf>>| v.iter().flatten().cloned().collect::<Vec<_>>();
        Modes {
            global,
            ips: if force_ids {
                HashSet::new()
            } else {
                list(&cfg.engine.ips_sids)
            },
            ids: list(&cfg.engine.ids_sids),
            ips_rules: if force_ids {
                Vec::new()
            } else {
                paths(&cfg.engine.ips_rules)
            },
            ids_rules: paths(&cfg.engine.ids_rules),
            set_ips: HashSet::new(),
            set_ids: HashSet::new(),
        }
    }

    /// Files each rule of `rules` to its rule set's mode, by the file it was read from
    /// (`files`: every rule file read). A configured rule set that holds none of the files is
    /// an error: a mode that silently applies to nothing is the "I switched it but it still
    /// drops" kind of surprise.
    pub fn note_rules<'a>(
        &mut self,
        files: impl Iterator<Item = &'a str>,
        rules: &'a [Rule],
    ) -> anyhow::Result<()> {
        self.note_origins(
            files,
            rules.iter().map(|r| (r.meta.sid.0, r.origin.file.as_str())),
        )
    }

    /// [`Modes::note_rules`] from (sid, rule file) pairs, as a `rules.vbc` keeps them.
    pub fn note_origins<'a>(
        &mut self,
        files: impl Iterator<Item = &'a str>,
        origins: impl Iterator<Item = (u32, &'a str)>,
    ) -> anyhow::Result<()> {
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let sets: Vec<(PathBuf, bool)> = (self.ids_rules.iter().map(|p| (canon(p), true)))
            .chain(self.ips_rules.iter().map(|p| (canon(p), false)))
            .collect();
        if sets.is_empty() {
            return Ok(());
        }
        // The most specific set wins (a file listed inside a listed directory).
        let set_of = |file: &str| {
            let path = canon(Path::new(file));
            sets.iter()
                .enumerate()
                .filter(|(_, (p, _))| path.starts_with(p))
                .max_by_key(|(_, (p, _))| p.components().count())
                .map(|(i, _)| i)
        };
        let of_file: HashMap<&str, Option<usize>> = files.map(|f| (f, set_of(f))).collect();
        for (i, (p, ids)) in sets.iter().enumerate() {
            if !of_file.values().any(|s| *s == Some(i)) {
                let key = if *ids { "ids_rules" } else { "ips_rules" };
                anyhow::bail!(
                    "[engine] {key}: {} holds none of the rule files read",
                    p.display()
                );
            }
        }
        for (sid, file) in origins {
            let set = match of_file.get(file) {
                Some(s) => *s,
                None => set_of(file),
            };
            if let Some(i) = set {
                if sets[i].1 {
                    self.set_ids.insert(sid);
                } else {
                    self.set_ips.insert(sid);
                }
            }
        }
        Ok(())
    }

    /// Whether this sid's drops, rejects and rewrites are only logged.
    pub fn dry(&self, sid: u32) -> bool {
        if self.ids.contains(&sid) {
            true
        } else if self.ips.contains(&sid) {
            false
        } else if self.set_ids.contains(&sid) {
            true
        } else if self.set_ips.contains(&sid) {
            false
        } else {
            self.global == config::Mode::Ids
        }
    }

    /// Whether any rule acts inline (the queues then enforce verdicts).
    pub fn inline(&self) -> bool {
        self.global == config::Mode::Ips || !self.ips.is_empty() || !self.ips_rules.is_empty()
    }
}

/// One compiled rule set, ready to load.
pub struct Built {
    /// The engine's rule set.
    pub det: Arc<Detector>,
    /// Flowbit names by id.
    pub flowbits: Vec<String>,
    /// The nft script for verdict's table.
    pub script: String,
    /// xt steering.
    pub xt: Vec<Vec<String>>,
    /// Kernel rules that log, by sid.
    pub kernel_rules: HashMap<u32, KernelRuleInfo>,
    /// sids that run in the kernel (switching them needs a reload).
    pub kernel_sids: HashSet<u32>,
    /// NFLOG group of the kernel rules.
    pub log_group: u16,
    /// The one-line summary (`N rules from M files: …`).
    pub summary: String,
    /// Rules that run (kernel + queue).
    pub active: usize,
    /// Rules read, rejected, disabled: for the refusal of an empty engine.
    pub counts: (usize, usize, usize),
    /// Milliseconds for parse, compile, engine load.
    pub timings: (u128, u128, u128),
    /// Rendered diagnostics of rules with errors (start-up prints them and goes on).
    pub errors: String,
}

/// Reads and compiles the rules with `off` (the operator's switched-off sids) applied. With
/// `strict` (a reload), a rule with an error fails the whole build, so that a typo never
/// silently unloads a rule that ran before.
pub fn build(inp: &RuleInputs, cfg: &Config, off: &[u32], strict: bool) -> anyhow::Result<Built> {
    let rule_paths = if inp.arg_rules.is_empty() {
        cfg.rules.clone()
    } else {
        inp.arg_rules.clone()
    };
    anyhow::ensure!(
        !rule_paths.is_empty(),
        "no rules: give -r FILE|DIR or `rules = [...]` in the config"
    );
    if let Some(vbc) = rule_paths.iter().find(|p| is_image(p)) {
        anyhow::ensure!(
            rule_paths.len() == 1,
            "{} is a precompiled rule set: it must be the only rule source",
            vbc.display()
        );
        return build_from_image(inp, cfg, off, vbc);
    }
    let mut sources = Vec::new();
    for p in &rule_paths {
        sources.extend(
            Source::read(p).with_context(|| format!("cannot read rules from {}", p.display()))?,
        );
    }
    let t_parse = Instant::now();
    let loaded = check::load(
        &sources,
        &LoadOptions {
            include_commented: false,
            vars: cfg.vars.clone(),
        },
    );
    let parse_rejected = loaded.summary.with_errors;
    // Read with the rules, so that a broken file fails a reload the same way.
    let thresholds = load_thresholds(
        inp.threshold_file
            .as_deref()
            .or(cfg.threshold_file.as_deref()),
        &cfg.vars,
    )?;
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .cloned()
        .collect();
    let rendered = diag::render(&errors, &sources, false);
    if strict && parse_rejected > 0 {
        anyhow::bail!("{parse_rejected} rules have errors; the running rules stay:\n{rendered}");
    }
    let config_off: HashSet<u32> = cfg.disabled.iter().copied().collect();
    let parsed = loaded.rules.len();
    let mut rules: Vec<Rule> = loaded
        .rules
        .into_iter()
        .filter(|r| !config_off.contains(&r.meta.sid.0))
        .collect();
    // threshold.config's thresholds replace the rules' own before the kernel/queue split, so a
    // by_flow one keeps its rule queued and a kernel rule's alerts are gated by the right one.
    for r in &mut rules {
        r.threshold = thresholds.threshold_for(r.meta.gid.0, r.meta.sid.0, r.threshold);
    }
    let disabled_count = parsed - rules.len();
    let parse_ms = t_parse.elapsed().as_millis();

    let t_compile = Instant::now();
    let mut modes = Modes::of(cfg, inp.force_ids);
    modes.note_rules(sources.iter().map(|s| s.name.as_str()), &rules)?;
    let tunnels = cfg.decoder.clone().unwrap_or_default();
    let tunnel_steer = tunnels.steer();
    // The kernel sees only the outer headers of a tunnel packet: its rules run in the engine
    // too, on the packets inside tunnels only (`DetectConfig::inner_only`).
    let looks_into_tunnels = tunnel_steer != Default::default();
    let opts = CompileOptions {
        caps: KernelCaps {
            ih_payload: inp.ih_payload,
            ct_flow: cfg.kernel.flow == config::KernelFlow::Conntrack,
        },
        steer: verdict_compiler::steer::SteerPolicy {
            tunnels: tunnel_steer,
            ..verdict_compiler::steer::SteerPolicy::new(
                inp.steer.or(cfg.engine.steer).unwrap_or_default(),
                &cfg.vars,
            )
        },
        image_all: looks_into_tunnels,
        xt_string: inp.xt_string || cfg.kernel.xt_string,
        prefilter: inp.prefilter.or(cfg.kernel.prefilter).unwrap_or_default(),
        prefilter_max_rules: cfg
            .kernel
            .prefilter_max_rules
            .unwrap_or(verdict_compiler::prefilter::AUTO_MAX_RULES),
        engine_sids: rules
            .iter()
            .filter(|r| rate::rate_for(&thresholds.rates, r.meta.gid.0, r.meta.sid.0).is_some())
            .map(|r| r.meta.sid.0)
            .collect(),
        ..Default::default()
    };
    let mut compiled = codegen::compile(&rules, &opts);
    let kernel_sids = kernel_sids(&compiled);
    // Kernel rules answer to the operator's switches and modes only through the table itself:
    // a switched-off one is left out, and one in IDS mode logs instead of dropping.
    let original: HashMap<u32, Action> = rules.iter().map(|r| (r.meta.sid.0, r.action)).collect();
    let before = rules.len();
    rules.retain(|r| !(kernel_sids.contains(&r.meta.sid.0) && off.contains(&r.meta.sid.0)));
    let mut changed = rules.len() != before;
    for r in &mut rules {
        if kernel_sids.contains(&r.meta.sid.0) && r.action.blocks() && modes.dry(r.meta.sid.0) {
            r.action = Action::Alert;
            changed = true;
        }
    }
    if changed {
        compiled = codegen::compile(&rules, &opts);
    }
    let f = compiled.report.fates;
    let pf = &compiled.report.prefilter;
    let summary = format!(
        "{} rules from {} files: {} in kernel, {} in queue, {} rejected{}{}",
        rules.len() + parse_rejected + (before - rules.len()),
        sources.len(),
        f.kernel,
        f.queue,
        f.rejected + parse_rejected,
        if config_off.is_empty() && off.is_empty() {
            String::new()
        } else {
            format!(", {} disabled", disabled_count + off.len())
        },
        if pf.decision.is_empty() || pf.decision == "off" {
            String::new()
        } else {
            format!(
                "; kernel prefilter {}: {} queued rules steered by pattern, {} by ports",
                pf.decision, pf.steered, pf.by_ports
            )
        },
    );
    // Checked when the config was read; rendered into the table so a reload swaps it with
    // the rules in the one transaction.
    compiled.kernel.prefilter_depth = prefilter_depth(inp.stream_depth, inp.bypass, cfg)?;
    (compiled.kernel.bypass_v4, compiled.kernel.bypass_v6) = cfg
        .bypass
        .ranges()
        .map_err(|e| anyhow::anyhow!("[bypass] addresses: {e}"))?;
    let (script, xt) = render_plan(&compiled.kernel, inp, opts.xt_string);
    let compile_ms = t_compile.elapsed().as_millis();

    let kernel_rules = rules
        .iter()
        .filter(|r| kernel_sids.contains(&r.meta.sid.0))
        .filter(|r| {
            !matches!(
                original.get(&r.meta.sid.0),
                Some(Action::Sdrop | Action::Pass)
            )
        })
        .map(|r| {
            let meta = KernelRuleMeta {
                action: original.get(&r.meta.sid.0).copied().unwrap_or(r.action),
                ..KernelRuleMeta::of(r, 0)
            };
            (r.meta.sid.0, kernel_info(&meta, &modes, &thresholds))
        })
        .collect();
    let log_group = compiled.kernel.log_group;
    let flowbits = std::mem::take(&mut compiled.image.flowbits);
    // The IR and the plan are done with: freed before the engine builds its own form of the
    // rules, so that the start-up peak holds one copy of the rule set, not three.
    let queued: Vec<u32> = compiled.image.programs.iter().map(|p| p.sid.0).collect();
    let image = RuleSetImage {
        version: compiled.image.version,
        programs: std::mem::take(&mut compiled.image.programs),
        flowbits: flowbits.clone(),
        live: None,
    };
    drop(compiled);
    drop(rules);
    let (det, engine_ms) = load_engine(
        image,
        (inp, cfg, &modes, off),
        queued,
        &kernel_sids,
        (tunnels, thresholds),
    )?;

    Ok(Built {
        det: Arc::new(det),
        flowbits,
        script,
        xt,
        kernel_rules,
        kernel_sids,
        log_group,
        summary,
        active: f.kernel + f.queue,
        counts: (
            before + parse_rejected + disabled_count,
            f.rejected + parse_rejected,
            disabled_count + off.len(),
        ),
        timings: (parse_ms, compile_ms, engine_ms),
        errors: if errors.len() <= 5 {
            rendered
        } else {
            String::new()
        },
    })
}

/// Where the kernel prefilter stops searching a direction ([`KernelPlan::prefilter_depth`]):
/// at the stream depth (`stream_depth`, else the config's), when the bypass policy (`bypass`,
/// else the config's) hands a direction past it back to the kernel on its own or with the
/// whole flow; `None` (search everything) when the engine keeps inspecting past it.
pub fn prefilter_depth(
    stream_depth: Option<u64>,
    bypass: Option<verdict_engine::bypass::BypassPolicy>,
    cfg: &Config,
) -> anyhow::Result<Option<u64>> {
    use verdict_engine::bypass::BypassPolicy as B;
    let bypass = bypass.or(cfg.engine.bypass).unwrap_or_default();
    let depth = crate::cmd::run::session_config(stream_depth, cfg)?
        .stream
        .depth;
    Ok(matches!(bypass, B::Direction | B::Either)
        .then_some(depth)
        .filter(|d| *d > 0))
}

/// The nft script (with the active-response chains) and the xt commands of `plan` (steering
/// and, with `xt_string`, the string-match chains), with this run's queue mechanism, queue
/// numbers and the plan's log group.
fn render_plan(plan: &KernelPlan, inp: &RuleInputs, xt_string: bool) -> (String, Vec<Vec<String>>) {
    let ropts = RenderOptions {
        queue: inp.mechanism,
        queues: inp.queues,
        log_group: plan.log_group,
        xt_string,
        fail_open: true,
    };
    let mut script = render::render_text(plan, &ropts);
    script.push_str(&inp.extra_script);
    (script, render::xt_commands(plan, &ropts))
}

/// What an alert of a kernel rule says and does, with the operator's mode for its sid and
/// threshold.config's suppressions.
fn kernel_info(m: &KernelRuleMeta, modes: &Modes, thresholds: &ThresholdConfig) -> KernelRuleInfo {
    KernelRuleInfo {
        gid: m.gid.0,
        rev: m.rev,
        msg: m.msg.as_str().into(),
        classtype: m
            .classtype
            .as_deref()
            .map(|c| verdict_engine::output::eve::classification(c).into()),
        severity: m.priority.unwrap_or(3),
        action: m.action.keyword(),
        blocks: m.action.blocks() && !modes.dry(m.sid.0),
        threshold: m.threshold,
        detection_filter: m.detection_filter,
        // In IDS mode too: the engine's dry-run drop still ends its flow's inspection.
        drops_flow: m.action.blocks() && m.drops_flow,
        suppress: thresholds.suppress_of(m.gid.0, m.sid.0),
    }
}

/// Whether `p` is a file that starts as a `rules.vbc` does.
fn is_image(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == IMAGE_MAGIC)
}

/// [`build`] from a `rules.vbc` that `verdict compile` wrote: its programs go to the engine as
/// they are, its kernel plan is rendered with this run's queues, log group and bypass list.
/// The operator's switches apply as from text where the plan allows: disabled sids leave the
/// table and the engine, a kernel rule in IDS mode logs instead of blocking (and moves among
/// the alert-only rules, in rule order, as a recompile would put it), threshold.config's
/// thresholds and suppressions apply to kernel alerts. What would need a recompile is said:
/// a `rate_filter` on a kernel rule, tunnels (the kernel rules have no programs to run
/// inside them), and the steering, which stays as compiled.
fn build_from_image(
    inp: &RuleInputs,
    cfg: &Config,
    off: &[u32],
    path: &Path,
) -> anyhow::Result<Built> {
    let t_parse = Instant::now();
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read rules from {}", path.display()))?;
    let mut image =
        RuleSetImage::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    drop(bytes);
    let live = image.live.take().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: this image has no kernel plan; write it with `verdict compile RULES -o DIR`",
            path.display()
        )
    })?;
    let thresholds = load_thresholds(
        inp.threshold_file
            .as_deref()
            .or(cfg.threshold_file.as_deref()),
        &cfg.vars,
    )?;
    let parse_ms = t_parse.elapsed().as_millis();

    let t_compile = Instant::now();
    let file = |i: u32| live.files.get(i as usize).map_or("", String::as_str);
    let mut modes = Modes::of(cfg, inp.force_ids);
    modes.note_origins(
        live.files.iter().map(String::as_str),
        (image.programs.iter().zip(&live.program_files))
            .map(|(p, f)| (p.sid.0, file(*f)))
            .chain(live.kernel_rules.iter().map(|k| (k.sid.0, file(k.file)))),
    )?;
    let cannot = |what: String| eprintln!("verdict: {}: {what}", path.display());
    for k in &live.kernel_rules {
        if rate::rate_for(&thresholds.rates, k.gid.0, k.sid.0).is_some() {
            cannot(format!(
                "the rate_filter on sid {} is not applied: it runs in the kernel in this \
                 image (start from the rule text, which queues it)",
                k.sid.0
            ));
        }
    }
    let steer = inp.steer.or(cfg.engine.steer).unwrap_or_default();
    anyhow::ensure!(
        steer.name() == live.steer,
        "{}: compiled for `--steer {}`, this run steers `{}`: compile with `--steer {}`",
        path.display(),
        live.steer,
        steer.name(),
        steer.name()
    );
    // The compile assumed `@ih` payload matches; text would queue those rules on a kernel
    // without them, an image cannot.
    let payload_sid = (live.rules.iter())
        .find(|r| (r.matches.iter()).any(|m| matches!(m, Match::Payload { .. })))
        .map(|r| r.sid.0);
    if let (false, Some(sid)) = (inp.ih_payload, payload_sid) {
        anyhow::bail!(
            "{}: sid {sid} matches payload in the kernel (`@ih`), which this kernel cannot; \
             start from the rule text, which queues such rules",
            path.display()
        );
    }
    let tunnels = cfg.decoder.clone().unwrap_or_default();
    let tunnel_steer = tunnels.steer();
    let config_off: HashSet<u32> = cfg.disabled.iter().copied().collect();
    let gone = |sid: u32| config_off.contains(&sid) || off.contains(&sid);
    anyhow::ensure!(
        !live.xt_string,
        "{}: compiled with --xt-string, whose string-match rules a precompiled image does not \
         carry; compile without it, or run the rule text with `--xt-string`",
        path.display()
    );
    let before = live.kernel_rules.len();
    // Counted as from text, where `disabled` rules are left out of the compile and
    // switched-off ones only out of the kernel (the engine skips them).
    let kernel_config_off = (live.kernel_rules.iter())
        .filter(|k| config_off.contains(&k.sid.0))
        .count();
    let metas: Vec<KernelRuleMeta> = (live.kernel_rules.into_iter())
        .filter(|k| !gone(k.sid.0))
        .map(|k| KernelRuleMeta {
            threshold: thresholds.threshold_for(k.gid.0, k.sid.0, k.threshold),
            ..k
        })
        .collect();
    let mut plan = KernelPlan {
        log_group: live.log_group,
        rules: live.rules,
        steering: live.steering,
        prefilter: live.prefilter,
        ..KernelPlan::default()
    };
    plan.rules.retain(|r| !gone(r.sid.0));
    let dry = |sid: u32, a: &mut KernelAction| {
        if *a != KernelAction::Alert && modes.dry(sid) {
            *a = KernelAction::Alert;
        }
    };
    plan.rules
        .iter_mut()
        .for_each(|r| dry(r.sid.0, &mut r.action));
    // Blocking rules first, each group in rule order, as the compiler orders them.
    let order: HashMap<u32, usize> = metas
        .iter()
        .enumerate()
        .map(|(i, k)| (k.sid.0, i))
        .collect();
    let rank = |sid: Sid, a: KernelAction| {
        (
            a == KernelAction::Alert,
            order.get(&sid.0).copied().unwrap_or(usize::MAX),
        )
    };
    plan.rules.sort_by_key(|r| rank(r.sid, r.action));
    let queued_on = image.programs.iter().any(|p| !gone(p.sid.0));
    // As the compiler adds it, for the tunnels this run's `[decoder]` looks into; the kernel
    // rules then run in the engine too, on the packets inside tunnels only.
    let looks_into_tunnels = tunnel_steer != Default::default();
    if looks_into_tunnels && (queued_on || !plan.rules.is_empty()) {
        let extra = verdict_compiler::kernel::tunnel_steering(&plan.steering, &tunnel_steer);
        plan.steering.extend(extra);
    }
    plan.prefilter_depth = prefilter_depth(inp.stream_depth, inp.bypass, cfg)?;
    (plan.bypass_v4, plan.bypass_v6) = cfg
        .bypass
        .ranges()
        .map_err(|e| anyhow::anyhow!("[bypass] addresses: {e}"))?;
    let (script, xt) = render_plan(&plan, inp, false);
    let kernel_sids: HashSet<u32> = metas.iter().map(|k| k.sid.0).collect();
    let kernel_rules = metas
        .iter()
        .filter(|k| !matches!(k.action, Action::Sdrop | Action::Pass))
        .map(|k| (k.sid.0, kernel_info(k, &modes, &thresholds)))
        .collect();
    let compile_ms = t_compile.elapsed().as_millis();

    let queued: Vec<u32> = image.programs.iter().map(|p| p.sid.0).collect();
    let programs = queued.len();
    let queued_config_off = queued.iter().filter(|s| config_off.contains(s)).count();
    if looks_into_tunnels {
        image
            .programs
            .extend((live.kernel_programs.into_iter()).filter(|p| kernel_sids.contains(&p.sid.0)));
    }
    let flowbits = image.flowbits.clone();
    let (det, engine_ms) = load_engine(
        image,
        (inp, cfg, &modes, off),
        queued,
        &kernel_sids,
        (tunnels, thresholds),
    )?;
    let disabled = kernel_config_off + queued_config_off + off.len();
    let in_queue = programs - queued_config_off;
    let active = metas.len() + in_queue;
    Ok(Built {
        det: Arc::new(det),
        flowbits,
        script,
        xt,
        kernel_rules,
        kernel_sids,
        log_group: plan.log_group,
        summary: format!(
            "{} rules from {} (precompiled): {} in kernel, {} in queue{}",
            before + programs,
            path.display(),
            metas.len(),
            in_queue,
            if disabled > 0 {
                format!(", {disabled} disabled")
            } else {
                String::new()
            }
        ),
        active,
        counts: (before + programs, 0, disabled),
        timings: (parse_ms, compile_ms, engine_ms),
        errors: String::new(),
    })
}

/// The engine for `image` (and how long loading it took, in ms), with the operator's
/// switches and modes applied to the `queued` sids, the run's depths, stream and flow limits
/// and policies.
fn load_engine(
    image: RuleSetImage,
    (inp, cfg, modes, off): (&RuleInputs, &Config, &Modes, &[u32]),
    queued: Vec<u32>,
    kernel_sids: &HashSet<u32>,
    (tunnels, thresholds): (verdict_engine::wire::tunnel::TunnelConfig, ThresholdConfig),
) -> anyhow::Result<(Detector, u128)> {
    let t_engine = Instant::now();
    let dc = DetectConfig {
        inline: modes.inline(),
        disabled: cfg.disabled.iter().chain(off).copied().collect(),
        dry_run: queued.into_iter().filter(|s| modes.dry(*s)).collect(),
        inspect_depth: inp.inspect_depth.or(cfg.engine.inspect_depth),
        session: crate::cmd::run::session_config(inp.stream_depth, cfg)?,
        bypass: inp.bypass.or(cfg.engine.bypass).unwrap_or_default(),
        action_order: cfg.engine.action_order.unwrap_or_default(),
        flow: crate::cmd::run::flow_config(
            cfg,
            verdict_engine::flow::FlowConfig::default().midstream,
        )?,
        // The live flow table picks sessions up midstream (an engine restart must not cut
        // the connections already open), which the policies are resolved for.
        exceptions: cfg
            .exception_policy
            .resolve(
                modes.inline(),
                verdict_engine::flow::FlowConfig::default().midstream,
            )
            .context("[exception_policy]")?,
        tunnels,
        inner_only: kernel_sids.iter().copied().collect(),
        thresholds,
        ..Default::default()
    };
    let det = Detector::from_image(image, &dc).context("loading the rules into the engine")?;
    Ok((det, t_engine.elapsed().as_millis()))
}

/// A threshold.config (none: empty), its `$VARS` resolved with the config's `[vars]`.
/// Errors carry the file and the line.
pub fn load_thresholds(path: Option<&Path>, vars: &Vars) -> anyhow::Result<ThresholdConfig> {
    let Some(path) = path else {
        return Ok(ThresholdConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read thresholds from {}", path.display()))?;
    let lookup = |n: &str| vars.get(n).map(str::to_string);
    ThresholdConfig::parse_with_vars(&text, &lookup)
        .map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), e.line, e.message))
}

fn kernel_sids(c: &Compiled) -> HashSet<u32> {
    c.fates
        .iter()
        .filter(|(_, f)| matches!(f, Fate::Kernel))
        .map(|(s, _)| s.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_from(files: &[(&str, &str)]) -> Vec<Rule> {
        let sources: Vec<Source> = files
            .iter()
            .map(|(name, text)| Source {
                name: name.to_string(),
                text: text.to_string(),
            })
            .collect();
        check::load(&sources, &LoadOptions::default()).rules
    }

    fn modes(config: &str, dir: &Path, files: &[(&str, &str)]) -> anyhow::Result<Modes> {
        let cfg = Config::parse(config, &dir.join("verdict.toml"))?;
        let mut m = Modes::of(&cfg, false);
        m.note_rules(files.iter().map(|f| f.0), &rules_from(files))?;
        Ok(m)
    }

    /// `verdict compile RULES -o DIR` as the command line runs it.
    fn compile_to(rules: &Path, out: &Path) {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: crate::cmd::compile::Args,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "compile".as_ref(),
            rules.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
        ])
        .unwrap();
        crate::cmd::compile::run(cli.args).unwrap();
    }

    fn inputs(rules: &Path) -> RuleInputs {
        RuleInputs {
            config_path: None,
            arg_rules: vec![rules.to_path_buf()],
            ih_payload: true,
            mechanism: QueueMechanism::NftQueue,
            queues: (3, 4),
            force_ids: false,
            inspect_depth: None,
            stream_depth: None,
            bypass: None,
            steer: None,
            prefilter: None,
            extra_script: String::new(),
            threshold_file: None,
            xt_string: false,
        }
    }

    /// What the kernel and the NFLOG alerts get from a build.
    fn kernel_side(b: &Built) -> (String, Vec<Vec<String>>, String, Vec<u32>, usize) {
        let mut infos: Vec<_> = b.kernel_rules.iter().collect();
        infos.sort_by_key(|(s, _)| **s);
        let mut sids: Vec<u32> = b.kernel_sids.iter().copied().collect();
        sids.sort_unstable();
        (
            b.script.clone(),
            b.xt.clone(),
            format!("{infos:?}"),
            sids,
            b.active,
        )
    }

    #[test]
    fn a_compiled_image_runs_as_its_rule_text_does() {
        let dir = std::env::temp_dir().join(format!("verdict-vbc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("local")).unwrap();
        let (main, local) = (dir.join("main.rules"), dir.join("local/mine.rules"));
        std::fs::write(
            &main,
            "drop udp any any -> any 7401 (msg:\"kernel drop\"; classtype:trojan-activity; sid:1; rev:2;)\n\
             alert udp any any -> any 7402 (msg:\"kernel alert\"; sid:2;)\n\
             drop udp any any -> any 7403 (msg:\"queued drop\"; content:\"EVIL\"; sid:3;)\n\
             drop tcp any any -> any 7404 (msg:\"dry kernel drop\"; sid:4;)\n\
             reject tcp any any -> any 7405 (msg:\"switched off\"; sid:5;)\n\
             alert udp any any -> any 7406 (msg:\"off in config\"; sid:6;)\n",
        )
        .unwrap();
        std::fs::write(
            &local,
            "drop udp any any -> any 7407 (msg:\"set in ids mode\"; sid:7;)\n",
        )
        .unwrap();
        compile_to(&dir, &dir.join("out"));
        let vbc = dir.join("out/rules.vbc");
        let cfg = Config::parse(
            "disabled = [6]\n[engine]\nids_sids = [4]\nids_rules = [\"local\"]\n\
             [bypass]\naddresses = [\"192.0.2.20\"]\n",
            &dir.join("verdict.toml"),
        )
        .unwrap();
        let text = build(&inputs(&dir), &cfg, &[5], false).unwrap();
        let image = build(&inputs(&vbc), &cfg, &[5], false).unwrap();
        assert_eq!(kernel_side(&image), kernel_side(&text));
        assert!(text.script.contains("192.0.2.20"), "{}", text.script);
        assert!(
            image
                .summary
                .contains("(precompiled): 4 in kernel, 2 in queue, 2 disabled"),
            "{}",
            image.summary
        );
        // Sid 4 (ids_sids) and 7 (ids_rules) only log in the kernel; 1 drops.
        let info = |s: u32| image.kernel_rules.get(&s).map(|i| i.blocks);
        assert_eq!(
            (info(1), info(4), info(7)),
            (Some(true), Some(false), Some(false))
        );
        // The same programs (the kernel rules' too, for the packets inside tunnels), the
        // kernel rules' after the queued ones.
        let sids = |b: &Built| {
            let mut v: Vec<u32> = b.det.programs().iter().map(|p| p.sid.0).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(sids(&image), sids(&text));

        // An image from another version is refused, saying what to do.
        let mut bytes = std::fs::read(&vbc).unwrap();
        bytes[IMAGE_MAGIC.len()..IMAGE_MAGIC.len() + 4].copy_from_slice(&9u32.to_le_bytes());
        let old = dir.join("old.vbc");
        std::fs::write(&old, &bytes).unwrap();
        let e = format!(
            "{:#}",
            build(&inputs(&old), &cfg, &[], false).err().unwrap()
        );
        assert!(
            e.contains("old.vbc: bytecode version 9 is not supported") && e.contains("recompile"),
            "{e}"
        );
        // A .vbc beside rule text is refused too: one or the other.
        let mut both = inputs(&vbc);
        both.arg_rules.push(main.clone());
        let e = format!("{:#}", build(&both, &cfg, &[], false).err().unwrap());
        assert!(e.contains("must be the only rule source"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sid_lists_win_over_rule_sets_which_win_over_the_mode() {
        let dir = std::env::temp_dir().join(format!("verdict-modes-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("local")).unwrap();
        let (a, b, c) = (
            dir.join("policy.rules"),
            dir.join("local/mine.rules"),
            dir.join("other.rules"),
        );
        let rule =
            |sid: u32| format!("drop tcp any any -> any 80 (content:\"x{sid}\"; sid:{sid};)\n");
        let files = [
            (a.to_str().unwrap(), rule(1) + &rule(2)),
            (b.to_str().unwrap(), rule(3) + &rule(4)),
            (c.to_str().unwrap(), rule(5)),
        ];
        for (f, t) in &files {
            std::fs::write(f, t).unwrap();
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
        // An ips engine with one file in ids mode, one sid of it acting after all.
        let m = modes(
            "[engine]\nmode = \"ips\"\nids_rules = [\"policy.rules\"]\nips_sids = [2]\n",
            &dir,
            &files,
        )
        .unwrap();
        assert_eq!(
            (1..=5).map(|s| m.dry(s)).collect::<Vec<_>>(),
            [true, false, false, false, false]
        );
        assert!(m.inline());
        // An ids engine with a directory acting, one sid of it only alerting.
        let m = modes(
            "[engine]\nmode = \"ids\"\nips_rules = [\"local\"]\nids_sids = [4]\n",
            &dir,
            &files,
        )
        .unwrap();
        assert_eq!(
            (1..=5).map(|s| m.dry(s)).collect::<Vec<_>>(),
            [true, true, false, true, true]
        );
        assert!(m.inline(), "a rule set that acts makes the queues inline");
        // A set that holds no file read is refused, naming the key.
        let e = modes("[engine]\nids_rules = [\"nope.rules\"]\n", &dir, &files).unwrap_err();
        assert!(
            e.to_string().contains("ids_rules") && e.to_string().contains("nope.rules"),
            "{e}"
        );
        // So is a sid or a set in both lists.
        let e = modes("[engine]\nids_sids = [1]\nips_sids = [1]\n", &dir, &files).unwrap_err();
        assert!(e.to_string().contains("sid 1 is in both"), "{e}");
        let both = "[engine]\nids_rules = [\"local\"]\nips_rules = [\"local\"]\n";
        assert!(modes(both, &dir, &files).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Code generation: classify every rule, build the kernel plan for the kernel rules and the
//! queue steering, and one bytecode [`Program`] per queued rule.
//!
//! Programs hold the rule's tests cheapest first (header, flowbit checks, then payload tests
//! in rule order, which carries the cursor semantics), then the effects. The prefilter
//! pattern honours `fast_pattern`, else takes the longest non-negated payload content; the
//! chosen strategy is recorded per program so snapshots show regressions.

use crate::bytecode::{
    FastPatternRef, FlowbitId, Insn, KernelRuleMeta, LiveSection, Program, RuleSetImage,
    BYTECODE_VERSION, L4,
};
use crate::classify::{classify, Decision, Fate};
use crate::disasm::escape_bytes;
use crate::ir::{Buffer, FastPattern, FlowbitCmd, PayloadTest, Protocol, Rule, Sid, StateTest};
use crate::kernel::{self, KernelCaps, KernelPlan, SetContext};
use crate::prefilter::PrefilterMode;
use crate::report::Report;
use crate::steer::SteerPolicy;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Knobs of [`compile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// NFLOG group kernel alerts are logged to.
    pub log_group: u16,
    /// What the kernel can do (probed at run time; assumed present when compiling offline).
    pub caps: KernelCaps,
    /// Use the kernel fast path at all; `false` queues every rule the engine can run.
    pub kernel: bool,
    /// fwsnort parity: unanchored single contents as xt `string` matches.
    pub xt_string: bool,
    /// Also compile kernel rules to bytecode, for offline replay where there is no kernel.
    pub image_all: bool,
    /// Which traffic the steering queues (`crate::steer`).
    pub steer: SteerPolicy,
    /// Steer queued rules by their patterns ([`crate::prefilter`]).
    pub prefilter: PrefilterMode,
    /// `auto`'s threshold: most rules with a kernel pattern it steers by pattern.
    pub prefilter_max_rules: usize,
    /// sids kept out of the kernel whatever they need: a threshold.config `rate_filter`
    /// changes their action match by match, which only the engine can do.
    pub engine_sids: HashSet<u32>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            log_group: 1,
            caps: KernelCaps::default(),
            kernel: true,
            xt_string: false,
            image_all: false,
            steer: SteerPolicy::default(),
            prefilter: PrefilterMode::Off,
            prefilter_max_rules: crate::prefilter::AUTO_MAX_RULES,
            engine_sids: HashSet::new(),
        }
    }
}

/// Everything `compile` produces.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Bytecode for the engine.
    pub image: RuleSetImage,
    /// Kernel rules and queue steering.
    pub kernel: KernelPlan,
    /// One fate per input rule, in input order.
    pub fates: Vec<(Sid, Fate)>,
    /// The translation report (timing of this stage filled in).
    pub report: Report,
}

impl Compiled {
    /// Puts the kernel plan and what `verdict run` needs of `rules` (the compiled ones) into
    /// the image, for `rules.vbc`; `steer` is the mode the plan was compiled with.
    pub fn attach_live(&mut self, rules: &[Rule], steer: crate::steer::SteerMode) {
        let mut files: Vec<String> = Vec::new();
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut file_of = |f: &str| -> u32 {
            if let Some(i) = index.get(f) {
                return *i;
            }
            let i = u32::try_from(files.len()).unwrap_or(u32::MAX);
            files.push(f.to_string());
            index.insert(f.to_string(), i);
            i
        };
        let by_sid: HashMap<u32, &Rule> = rules.iter().rev().map(|r| (r.meta.sid.0, r)).collect();
        let program_files = self
            .image
            .programs
            .iter()
            .map(|p| {
                by_sid
                    .get(&p.sid.0)
                    .map_or(u32::MAX, |r| file_of(&r.origin.file))
            })
            .collect();
        let in_kernel: Vec<&Rule> = self
            .fates
            .iter()
            .filter(|(_, f)| matches!(f, Fate::Kernel))
            .filter_map(|(sid, _)| by_sid.get(&sid.0).copied())
            .collect();
        // Interned after the queued programs' flowbits, whose ids stay as they are.
        let mut interner = Interner {
            ids: (self.image.flowbits.iter().enumerate())
                .map(|(i, n)| (n.clone(), FlowbitId(u16::try_from(i).unwrap_or(u16::MAX))))
                .collect(),
            names: std::mem::take(&mut self.image.flowbits),
        };
        let kernel_programs = in_kernel
            .iter()
            .map(|r| program(r, &mut interner))
            .collect();
        self.image.flowbits = interner.names;
        let kernel_rules = in_kernel
            .iter()
            .map(|r| KernelRuleMeta::of(r, file_of(&r.origin.file)))
            .collect();
        self.image.live = Some(LiveSection {
            log_group: self.kernel.log_group,
            rules: self.kernel.rules.clone(),
            steering: self.kernel.steering.clone(),
            prefilter: self.kernel.prefilter.clone(),
            xt_string: !self.kernel.xt_string.is_empty(),
            steer: steer.name().to_string(),
            kernel_programs,
            kernel_rules,
            files,
            program_files,
        });
    }
}

/// Compiles rules into the kernel plan and the bytecode image.
pub fn compile(rules: &[Rule], opts: &CompileOptions) -> Compiled {
    compile_in(rules, opts, &SetContext::of(rules))
}

/// [`compile`] for rules that are part of a larger loaded set `ctx` describes (a test that
/// shows one rule of a file at a time still places it as the whole file would).
pub fn compile_in(rules: &[Rule], opts: &CompileOptions, ctx: &SetContext) -> Compiled {
    let start = Instant::now();
    let mut report = Report::default();
    let mut plan = KernelPlan {
        log_group: opts.log_group,
        ..Default::default()
    };
    let mut interner = Interner::default();
    let mut programs = Vec::new();
    let mut fates = Vec::with_capacity(rules.len());
    let mut queued: Vec<(&Rule, Option<crate::prefilter::KernelPattern>)> = Vec::new();
    for rule in rules {
        let mut decision = classify(rule, opts.caps, opts.kernel, ctx);
        if matches!(decision, Decision::Kernel(_)) && opts.engine_sids.contains(&rule.meta.sid.0) {
            decision = Decision::Queue("a threshold.config rate_filter needs the engine".into());
        }
        if opts.xt_string {
            if let Decision::Queue(reason) = &decision {
                if crate::xt::answers(rule, reason, opts.caps, ctx) {
                    decision = match kernel::lower_xt_string(rule, opts.caps) {
                        Ok(xt) => {
                            report.xt_string_rules += xt.len();
                            report.xt_string_sids += 1;
                            plan.xt_string.extend(xt);
                            Decision::Kernel(Vec::new())
                        }
                        Err(why) => Decision::Queue(why),
                    };
                }
            }
        }
        let fate = decision.fate();
        let queue_reason = match &decision {
            Decision::Queue(r) => Some(r.as_str()),
            _ => None,
        };
        report.add_rule(rule, &fate, queue_reason);
        if fate == Fate::Queue && opts.kernel {
            report.add_blockers(&kernel::blockers(rule, opts.caps, ctx));
        }
        match &decision {
            Decision::Kernel(k) => {
                report.nft_rules += k.len();
                plan.rules.extend(k.iter().cloned());
                if opts.image_all {
                    programs.push(program(rule, &mut interner));
                }
            }
            Decision::Queue(_) => {
                let p = program(rule, &mut interner);
                queued.push((rule, crate::prefilter::kernel_pattern(rule)));
                programs.push(p);
            }
            Decision::Rejected(_) => {}
        }
        fates.push((rule.meta.sid, fate));
    }
    let (prefilter, port_steered) = crate::prefilter::split(
        &queued,
        (opts.prefilter, opts.prefilter_max_rules),
        &opts.steer,
        |rs: &[&Rule]| kernel::steering(rs.iter().copied(), &opts.steer),
    );
    plan.steering = kernel::steering(port_steered, &opts.steer);
    plan.prefilter = prefilter.rules;
    report.prefilter = crate::report::PrefilterCount {
        decision: prefilter.decision,
        steered: prefilter.steered,
        by_ports: prefilter.by_ports,
        rules: plan.prefilter.len(),
        with_pattern: prefilter.with_pattern,
    };
    if !queued.is_empty() || !plan.rules.is_empty() {
        let extra = kernel::tunnel_steering(&plan.steering, &opts.steer.tunnels);
        plan.steering.extend(extra);
    }
    plan.order();
    report.steering_rules = plan.steering.len();
    report.programs = programs.len();
    report.programs_with_fast_pattern = programs
        .iter()
        .filter(|p: &&Program| p.fast_pattern.is_some())
        .count();
    report.timing.compile_ms = start.elapsed().as_secs_f64() * 1e3;
    Compiled {
        image: RuleSetImage {
            version: BYTECODE_VERSION,
            programs,
            flowbits: interner.names,
            live: None,
        },
        kernel: plan,
        fates,
        report,
    }
}

/// Flowbit name interning, so the VM compares indices, not strings.
#[derive(Default)]
struct Interner {
    names: Vec<String>,
    ids: HashMap<String, FlowbitId>,
}

impl Interner {
    fn id(&mut self, name: &str) -> FlowbitId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = FlowbitId(u16::try_from(self.names.len()).unwrap_or(u16::MAX));
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
    fn ids(&mut self, names: &[String]) -> Vec<FlowbitId> {
        names.iter().map(|n| self.id(n)).collect()
    }
}

fn l4_of(p: Protocol) -> L4 {
    match p {
        Protocol::Ip => L4::Any,
        Protocol::Tcp => L4::Tcp,
        Protocol::Udp => L4::Udp,
        Protocol::Icmp => L4::Icmp,
        Protocol::Icmpv6 => L4::Icmpv6,
        Protocol::Sctp => L4::Sctp,
        Protocol::App(a) => match a.transports() {
            [Protocol::Udp] => L4::Udp,
            [Protocol::Tcp] => L4::Tcp,
            _ => L4::Any,
        },
    }
}

/// Compiles one rule to a program. Only for rules `classify` does not reject: tests the VM
/// has no instruction for (preprocessor state) are left out.
pub fn program(rule: &Rule, flowbits: &mut impl FlowbitNames) -> Program {
    let mut ops: Vec<Insn> = rule.header.iter().cloned().map(Insn::Header).collect();
    for fb in &rule.flowbits {
        match fb.cmd {
            FlowbitCmd::IsSet | FlowbitCmd::IsNotSet => ops.push(Insn::FlowbitsTest {
                set: fb.cmd == FlowbitCmd::IsSet,
                bits: flowbits.ids(&fb.names),
                op: fb.op,
            }),
            _ => {}
        }
    }
    // State tests are as cheap as flowbits; their effects run with the flowbit effects.
    let is_effect = |t: &StateTest| match t {
        StateTest::StreamSize(_) | StateTest::AppProto(_) => false,
        StateTest::Xbits(x) => !matches!(x.cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet),
        StateTest::Flowint(f) => f.op.is_effect(),
    };
    let state_insn = |t: &StateTest| match t {
        StateTest::StreamSize(s) => Insn::StreamSize(*s),
        StateTest::Xbits(x) => Insn::Xbits(x.clone()),
        StateTest::Flowint(f) => Insn::Flowint(f.clone()),
        StateTest::AppProto(a) => Insn::AppProto {
            test: a.clone(),
            pd_only: crate::keywords::app_proto::pd_only(rule),
        },
    };
    ops.extend(rule.state.iter().filter(|t| !is_effect(t)).map(state_insn));
    // (op index, payload test index, content)
    let mut candidates: Vec<(usize, usize, &crate::ir::Content)> = Vec::new();
    let mut has_pcre = false;
    // A buffer that may be absent (`absent: or_else`) cannot hold the fast pattern: the
    // rule must also run when the buffer and so the pattern are missing.
    let may_be_absent: Vec<Buffer> = rule
        .payload
        .iter()
        .filter_map(|t| match t {
            PayloadTest::Absent { buffer, .. } => Some(*buffer),
            _ => None,
        })
        .collect();
    for (ti, t) in rule.payload.iter().enumerate() {
        let i = ops.len();
        ops.push(match t {
            PayloadTest::Content(c) => {
                if !c.negated()
                    && c.buffer() != Buffer::Base64Data
                    && !may_be_absent.contains(&c.buffer())
                {
                    candidates.push((i, ti, c));
                }
                Insn::Content {
                    pattern: c.pattern().to_vec(),
                    nocase: c.nocase(),
                    negated: c.negated(),
                    buffer: c.buffer(),
                    position: c.position(),
                    ends_with: c.ends_with(),
                    replace: c.replace().map(<[u8]>::to_vec),
                }
            }
            PayloadTest::Pcre(p) => {
                has_pcre = true;
                Insn::Pcre(p.clone())
            }
            PayloadTest::ByteTest(b) => Insn::ByteTest(b.clone()),
            PayloadTest::ByteJump(b) => Insn::ByteJump(b.clone()),
            PayloadTest::ByteExtract(b) => Insn::ByteExtract(b.clone()),
            PayloadTest::ByteMath(b) => Insn::ByteMath(b.clone()),
            PayloadTest::Dataset(d) => Insn::Dataset(d.clone()),
            PayloadTest::Tx(p) => Insn::Tx(p.clone()),
            PayloadTest::Isdataat(d) => Insn::Isdataat(d.clone()),
            PayloadTest::Absent { or_else, buffer } => Insn::Absent {
                or_else: *or_else,
                buffer: *buffer,
            },
            PayloadTest::BufferSize { cmp, buffer } => Insn::BufferSize {
                cmp: *cmp,
                buffer: *buffer,
            },
            PayloadTest::Base64Decode(d) => Insn::Base64Decode(*d),
            PayloadTest::Asn1(a) => Insn::Asn1(*a),
        });
    }
    let tests = ops.len();
    // An explicit fast_pattern wins; else the longest content (first on ties), which is the
    // cheapest proxy for "rarest" without traffic statistics.
    // A content in a transformed buffer feeds the prefilter with what its pattern implies
    // about the raw buffer (the prefilter scans raw bytes), or not at all.
    let chain_of = |ti: usize, c: &crate::ir::Content| {
        // An empty chain only marks a repeated per-file selection: the bytes are raw.
        rule.transforms
            .iter()
            .find(|t| t.covers(ti, c.buffer()) && !t.chain.is_empty())
    };
    let searched: Vec<(usize, &crate::ir::Content, Vec<u8>, bool, bool)> = candidates
        .iter()
        .filter_map(|&(i, ti, c)| {
            let chain = chain_of(ti, c);
            let (bytes, nocase) = match chain {
                Some(t) => crate::keywords::transform::prefilter_through(
                    &t.chain,
                    c.fast_pattern_bytes(),
                    c.nocase(),
                )?,
                None => (c.fast_pattern_bytes().to_vec(), c.nocase()),
            };
            Some((i, c, bytes, nocase, chain.is_some()))
        })
        .collect();
    let fast = searched
        .iter()
        .find(|(_, c, _, _, _)| c.fast_pattern().is_some())
        .or_else(|| {
            searched
                .iter()
                .rev()
                .max_by_key(|(_, c, b, _, _)| (c.buffer() == Buffer::Payload, b.len()))
        });
    for fb in &rule.flowbits {
        match fb.cmd {
            FlowbitCmd::Set | FlowbitCmd::Unset | FlowbitCmd::Toggle => {
                ops.push(Insn::FlowbitsSet {
                    cmd: fb.cmd.clone(),
                    bits: flowbits.ids(&fb.names),
                })
            }
            FlowbitCmd::Reset => ops.push(Insn::FlowbitsReset),
            FlowbitCmd::NoAlert => ops.push(Insn::NoAlert),
            FlowbitCmd::IsSet | FlowbitCmd::IsNotSet => {}
        }
    }
    ops.extend(rule.state.iter().filter(|t| is_effect(t)).map(state_insn));
    if rule.meta.alert {
        ops.push(Insn::PassAlert);
    }
    let fast_pattern = fast.map(|(i, c, bytes, nocase, transformed)| FastPatternRef {
        bytes: bytes.clone(),
        nocase: *nocase,
        buffer: c.buffer(),
        // `only` lets the VM skip the content as proven: not when the prefilter searched
        // the raw bytes of a transformed buffer.
        only: c.fast_pattern() == Some(FastPattern::Only) && !transformed,
        op_index: u16::try_from(*i).unwrap_or(u16::MAX),
    });
    let strategy = match &fast_pattern {
        Some(fp) => {
            let confirm = if fp.only { tests - 1 } else { tests };
            let mut s = format!(
                "prefilter \"{}\"{} -> confirm {} ops",
                escape_bytes(&fp.bytes),
                if fp.nocase { "/i" } else { "" },
                confirm
            );
            if has_pcre {
                s.push_str(" -> pcre");
            }
            s
        }
        None if rule.payload.is_empty() => format!("header {} ops", tests),
        None => format!(
            "scan {} ops{}",
            tests,
            if has_pcre { " -> pcre" } else { "" }
        ),
    };
    Program {
        sid: rule.meta.sid,
        gid: rule.meta.gid,
        rev: rule.meta.rev,
        action: rule.action,
        msg: rule.meta.msg.clone(),
        classtype: rule.meta.classtype.clone(),
        priority: rule.meta.priority,
        l4: l4_of(rule.proto),
        app: match rule.proto {
            Protocol::App(a) => Some(a),
            _ => None,
        },
        src: rule.src.clone(),
        src_ports: rule.src_ports.clone(),
        dst: rule.dst.clone(),
        dst_ports: rule.dst_ports.clone(),
        bidirectional: rule.direction == crate::ir::Direction::Both,
        transactional: rule.direction == crate::ir::Direction::Tx,
        tx_dirs: rule.tx_dirs.clone(),
        flow: rule.flow,
        fast_pattern,
        ops,
        transforms: rule.transforms.clone(),
        threshold: rule.threshold,
        detection_filter: rule.detection_filter,
        block: rule.block,
        tags: rule.tags.clone(),
        strategy,
    }
}

/// Where flowbit names are interned.
pub trait FlowbitNames {
    /// Ids for the names, interning new ones.
    fn ids(&mut self, names: &[String]) -> Vec<FlowbitId>;
}

impl FlowbitNames for Interner {
    fn ids(&mut self, names: &[String]) -> Vec<FlowbitId> {
        Interner::ids(self, names)
    }
}

/// A throwaway interner for compiling single rules (`--explain`, snapshots).
#[derive(Default)]
pub struct LocalFlowbits(Interner);

impl FlowbitNames for LocalFlowbits {
    fn ids(&mut self, names: &[String]) -> Vec<FlowbitId> {
        self.0.ids(names)
    }
}

impl LocalFlowbits {
    /// The interned names, by id.
    pub fn names(&self) -> &[String] {
        &self.0.names
    }
}

//! The detection VM: runs a compiled rule's tests over one packet with Snort/Suricata cursor
//! semantics.
//!
//! - `offset`/`depth` are absolute from the buffer start; `distance`/`within` are relative to
//!   the end of the previous match (`within` counts from the point `distance` leads to, and a
//!   negative distance may reach back, clamped at the buffer start), as in Suricata's
//!   `DetectEngineContentInspection`.
//! - `byte_jump` and `byte_extract` move the cursor; `byte_test`, `isdataat` and negated
//!   contents do not. `byte_extract` variables are operands of later tests.
//! - When a later test fails and the test right after a content (or pcre) is relative to it,
//!   the content is retried at its next occurrence — Snort's and Suricata's recursion — bounded
//!   by [`RECURSION_LIMIT`] steps per rule and packet (Suricata's `inspection-recursion-limit`).
//! - pcre runs through PCRE2 with JIT; every pattern carries `(*LIMIT_MATCH=…)` and
//!   `(*LIMIT_DEPTH=…)`, so a pathological regex fails to match instead of hanging the worker.
//!
//! Buffers: a program's payload ops are cut into [`Segment`]s, one per run of ops on the same
//! buffer. `pkt_data`/`raw_data` segments read the packet payload (or the reassembled stream
//! around it); app-layer segments (`http.uri`, `file.data`, …) read a [`BufferSource`], an
//! app-layer transaction. Each segment starts with the cursor at its buffer's start.

pub mod asn1;
pub mod base64_decode;
pub mod byte_math;
pub mod transform;

use crate::detect::LoadError;
use crate::flow::Flow;
use crate::wire::{IpInfo, L4Hdr, Packet};
use verdict_compiler::bytecode::{FlowbitId, Insn, Program};
use verdict_compiler::caps::EngineCaps;
use verdict_compiler::ir::{
    BitsOp, Buffer, ByteExtract, ByteJump, ByteMath, ByteOp, ByteTest, Endian, FlagMode,
    FlowbitCmd, HdrBuffer, HeaderTest, Isdataat, NumBase, NumCmp, Operand, Position,
};
use verdict_compiler::keywords::byte;

/// Steps (content/pcre attempts) allowed per rule and packet, as Suricata's default
/// `inspection-recursion-limit`.
pub const RECURSION_LIMIT: u32 = 3000;
/// PCRE2 match limit put into every pattern.
pub const PCRE_MATCH_LIMIT: u32 = 100_000;
/// PCRE2 depth (backtracking memory) limit put into every pattern.
pub const PCRE_DEPTH_LIMIT: u32 = 10_000;
/// byte_extract variables per rule.
pub const MAX_VARS: usize = 8;

/// A case-(in)sensitive substring searcher.
#[derive(Debug, Clone)]
pub struct Finder {
    needle: Vec<u8>,
    nocase: bool,
    cs: memchr::memmem::Finder<'static>,
}

impl Finder {
    /// Builds a searcher for `needle`.
    pub fn new(needle: &[u8], nocase: bool) -> Finder {
        let needle = if nocase {
            needle.to_ascii_lowercase()
        } else {
            needle.to_vec()
        };
        Finder {
            cs: memchr::memmem::Finder::new(&needle).into_owned(),
            needle,
            nocase,
        }
    }
    /// Length of the needle.
    pub fn len(&self) -> usize {
        self.needle.len()
    }
    /// True for an empty needle (never built by the compiler).
    pub fn is_empty(&self) -> bool {
        self.needle.is_empty()
    }
    /// First occurrence in `hay`, as a start offset.
    pub fn find(&self, hay: &[u8]) -> Option<usize> {
        if !self.nocase {
            return self.cs.find(hay);
        }
        let n = self.needle.len();
        if hay.len() < n {
            return None;
        }
        let first = self.needle[0];
        let last_start = hay.len() - n;
        let mut i = 0;
        while i <= last_start {
            let rel = if first.is_ascii_lowercase() {
                memchr::memchr2(first, first.to_ascii_uppercase(), &hay[i..=last_start])
            } else {
                memchr::memchr(first, &hay[i..=last_start])
            }?;
            let s = i + rel;
            if hay[s..s + n].eq_ignore_ascii_case(&self.needle) {
                return Some(s);
            }
            i = s + 1;
        }
        None
    }
}

/// A compiled payload test.
// Built once per rule set and only borrowed per packet, so variant sizes cost nothing on
// the hot path; boxing would add an indirection instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum PayloadOp {
    /// content
    Content {
        /// searcher
        finder: Finder,
        /// `!`
        negated: bool,
        /// anchoring
        position: Position,
        /// `endswith`: the match also ends at the buffer's end
        ends_with: bool,
        /// replace bytes
        replace: Option<Vec<u8>>,
        /// already proven by the prefilter (`fast_pattern:only`)
        skip: bool,
    },
    /// pcre
    Pcre {
        /// compiled regex
        re: Box<pcre2::bytes::Regex>,
        /// `R`
        relative: bool,
        /// `!`
        negated: bool,
    },
    /// byte_test
    ByteTest(ByteTest),
    /// byte_jump
    ByteJump(ByteJump),
    /// byte_extract
    ByteExtract(ByteExtract),
    /// isdataat
    Isdataat(Isdataat),
    /// bsize
    BufferSize(NumCmp),
    /// `absent`: decided in [`CompiledProgram::run_segment`] before the buffer is read;
    /// with `or_else` a present buffer goes on to the next op.
    Absent {
        /// `or_else`
        or_else: bool,
    },
    /// byte_math
    ByteMath(verdict_compiler::ir::ByteMath),
    /// dataset
    Dataset {
        /// set, isset, isnotset or a datarep comparison
        cmd: verdict_compiler::ir::DatasetCmd,
        /// the named set, shared with every rule naming it
        set: std::sync::Arc<crate::detect::datasets::Set>,
        /// exact or subdomain
        matching: verdict_compiler::ir::DatasetMatch,
        /// `context_key`: the alert carries the matched entry's JSON under this name.
        context_key: Option<std::sync::Arc<str>>,
    },
    /// base64_decode: the program's `base64_data` ops run on what it decodes.
    Base64Decode(verdict_compiler::ir::Base64Decode),
    /// asn1: BER checks from a position; the cursor stays.
    Asn1(verdict_compiler::ir::Asn1),
}

impl PayloadOp {
    fn relative(&self) -> bool {
        match self {
            PayloadOp::Content { position, .. } => matches!(position, Position::Relative { .. }),
            PayloadOp::Pcre { relative, .. } => *relative,
            PayloadOp::ByteTest(b) => b.relative,
            PayloadOp::ByteJump(b) => b.relative,
            PayloadOp::ByteExtract(b) => b.relative,
            PayloadOp::Isdataat(i) => i.relative,
            PayloadOp::BufferSize(_) => false,
            PayloadOp::ByteMath(b) => b.relative,
            PayloadOp::Dataset { .. } => false,
            PayloadOp::Absent { .. } => false,
            PayloadOp::Base64Decode(d) => d.relative,
            PayloadOp::Asn1(a) => a.relative,
        }
    }
}

/// A post-match effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// set/unset/toggle bits
    Bits(FlowbitCmd, Vec<usize>),
    /// clear all bits
    Reset,
}

/// A rule compiled for the VM.
#[derive(Debug)]
pub struct CompiledProgram {
    /// Header tests.
    pub header: Vec<HeaderTest>,
    /// flowbits isset/isnotset tests: (isset, bits, op).
    pub bit_tests: Vec<(bool, Vec<usize>, BitsOp)>,
    /// Payload tests in rule order.
    pub payload: Vec<PayloadOp>,
    /// retry[i]: on failure after op i, try op i at its next occurrence.
    retry: Vec<bool>,
    /// Effects after a match.
    pub effects: Vec<Effect>,
    /// flowbits:noalert
    pub noalert: bool,
    /// `alert` on a pass rule: its pass is logged as an alert.
    pub pass_alerts: bool,
    /// Has a content with `replace`.
    pub has_replace: bool,
    /// Sets flowbits (evaluated before rules that only test them).
    pub sets_bits: bool,
    /// Runs of payload ops per buffer, in rule order.
    pub segments: Vec<Segment>,
    /// Transform chains, indexed by [`Segment::chain`].
    chains: Vec<Vec<transform::Compiled>>,
    /// stream_size, xbits, flowint and app-layer-protocol tests (before the payload) and effects (after a match).
    pub state: crate::detect::state::StateOps,
    /// True if no payload op pins a position from the buffer start (absolute offset or
    /// depth, startswith/endswith, absolute byte ops, bsize): such a program means the same
    /// on any stream window, not only on one that starts at the stream's first byte.
    pub stream_anywhere: bool,
    /// Transaction predicates (`dns.opcode`, `tls.version`, …): they make the program a
    /// transaction program even without a buffer op.
    pub tx_preds: Vec<verdict_compiler::ir::TxPred>,
    /// The buffers (and `=>` sides) of `absent` segments: the program waits until each is
    /// present or can no longer appear.
    pub absent: Vec<(Buffer, Option<bool>)>,
    /// File predicates (`filesize`, `filemd5`, …): one file must satisfy them all.
    pub files: Vec<crate::detect::pred::file::FileTest>,
    /// The `base64_data` ops (`start..end` in `payload`): not a segment of their own, as
    /// they run on what the program's `base64_decode` op decodes, from inside it.
    pub base64_data: Option<(usize, usize)>,
}

fn check_buffer(b: Buffer, sid: u32) -> Result<(), LoadError> {
    if EngineCaps::CURRENT.runs_buffer(b) {
        Ok(())
    } else {
        Err(LoadError::UnsupportedBuffer {
            sid,
            buffer: verdict_compiler::classify::buffer_name(b).to_string(),
        })
    }
}

/// `pkt_data` and `raw_data` name the same bytes (the packet, or the stream around it), so
/// they form one segment and the cursor carries over between them.
fn segment_key(b: Buffer) -> Buffer {
    match b {
        Buffer::Raw => Buffer::Payload,
        other => other,
    }
}

/// Where a program's ops read: a run of consecutive payload ops on one buffer. Each segment
/// is inspected on its own with the cursor at the buffer start, as Suricata inspects each
/// sticky buffer of a rule independently; byte_extract variables carry over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The buffer (`Raw` folded into `Payload`).
    pub buffer: Buffer,
    /// First op index in `CompiledProgram::payload`.
    pub start: usize,
    /// One past the last op index.
    pub end: usize,
    /// The transform chain the buffer goes through first, if any.
    pub chain: Option<u16>,
    /// In a `=>` rule, the side a two-sided buffer is read from (true: the request);
    /// `None`: the side of the packet being inspected.
    pub dir: Option<bool>,
}

/// How many instances of a multi-buffer (DNS names, certificates, …) one segment tries:
/// a bound on the work a crafted message with thousands of names can cause.
pub const MAX_BUFFER_INSTANCES: usize = 64;

/// Supplies the non-packet buffers of a rule (an HTTP transaction's fields, …); `None`
/// means the buffer is absent, so the segment on it fails.
pub trait BufferSource {
    /// Instance `i` of buffer `b`, if present. A multi-buffer (`dns.answers.rrname`,
    /// `tls.certs`, …) has several: a segment on it matches if one instance satisfies all
    /// its ops, as Suricata inspects each instance on its own. Single buffers have
    /// instance 0 only.
    fn buffer_n(&self, b: Buffer, i: usize) -> Option<&[u8]>;
    /// Instance `i` of the request's (`to_server`) or the response's copy of a buffer both
    /// sides have, for `=>` rules; sources with one side only read `buffer_n`.
    fn buffer_side_n(&self, b: Buffer, i: usize, to_server: bool) -> Option<&[u8]> {
        let _ = to_server;
        self.buffer_n(b, i)
    }
    /// The bytes of `b` (its first instance), if present.
    fn buffer(&self, b: Buffer) -> Option<&[u8]> {
        self.buffer_n(b, 0)
    }
    /// Whether buffer `b` (of side `to_server`, `None`: the packet's side) is present or can
    /// no longer appear on this transaction, so `absent` may judge it. Sources whose
    /// buffers are complete when seen say true.
    fn settled(&self, b: Buffer, to_server: Option<bool>) -> bool {
        let _ = (b, to_server);
        true
    }
    /// The byte order of `dce` byte options: the DCE/RPC request's data representation is
    /// big-endian (sources other than DCE/RPC say little-endian, DCE2's default).
    fn dce_big_endian(&self) -> bool {
        false
    }
    /// The decoded transaction that transaction predicates read (`TxView::None` when the source
    /// has none: its rules' predicates are false).
    fn view(&self) -> crate::detect::pred::TxView<'_> {
        crate::detect::pred::TxView::None
    }
    /// File `i` of the transaction: of the side `to_server` names, else of the packet's
    /// direction (`None` for sources without files).
    fn file(&self, to_server: Option<bool>, i: usize) -> Option<crate::app::http::File<'_>> {
        let _ = (to_server, i);
        None
    }
}

fn build_pcre(p: &verdict_compiler::ir::Pcre, sid: u32) -> Result<pcre2::bytes::Regex, LoadError> {
    let mut pat = format!("(*LIMIT_MATCH={PCRE_MATCH_LIMIT})(*LIMIT_DEPTH={PCRE_DEPTH_LIMIT})");
    if p.ungreedy {
        pat.push_str("(?U)");
    }
    if p.anchored {
        // `A`: anchored at the search start, which \G expresses for a search at an offset.
        pat.push_str("\\G(?:");
        pat.push_str(&p.pattern);
        pat.push(')');
    } else {
        pat.push_str(&p.pattern);
    }
    pcre2::bytes::RegexBuilder::new()
        .caseless(p.caseless)
        .dotall(p.dotall)
        .multi_line(p.multiline)
        .extended(p.extended)
        .jit_if_available(true)
        .build(&pat)
        .map_err(|e| LoadError::Pcre {
            sid,
            pattern: p.pattern.clone(),
            error: e.to_string(),
        })
}

impl CompiledProgram {
    /// Compiles a bytecode program.
    pub fn new(p: &Program) -> Result<CompiledProgram, LoadError> {
        let sid = p.sid.0;
        let only_op = p
            .fast_pattern
            .as_ref()
            .filter(|f| f.only)
            .map(|f| usize::from(f.op_index));
        let mut cp = CompiledProgram {
            header: Vec::new(),
            bit_tests: Vec::new(),
            payload: Vec::new(),
            retry: Vec::new(),
            effects: Vec::new(),
            noalert: false,
            pass_alerts: false,
            has_replace: false,
            sets_bits: false,
            segments: Vec::new(),
            chains: Vec::new(),
            state: Default::default(),
            stream_anywhere: true,
            tx_preds: Vec::new(),
            absent: Vec::new(),
            files: Vec::new(),
            base64_data: None,
        };
        let mut bufs: Vec<Buffer> = Vec::new();
        let bits = |v: &[FlowbitId]| v.iter().map(|b| usize::from(b.0)).collect::<Vec<_>>();
        for (i, insn) in p.ops.iter().enumerate() {
            match insn {
                Insn::Header(h) => cp.header.push(h.clone()),
                Insn::FlowbitsTest { set, bits: b, op } => cp.bit_tests.push((*set, bits(b), *op)),
                Insn::Content {
                    pattern,
                    nocase,
                    negated,
                    buffer,
                    position,
                    ends_with,
                    replace,
                } => {
                    check_buffer(*buffer, sid)?;
                    if pattern.is_empty() {
                        return Err(LoadError::Invalid {
                            sid,
                            reason: "empty content".into(),
                        });
                    }
                    cp.has_replace |= replace.is_some();
                    // Only when the prefilter really searched this pattern (long enough).
                    let skip = only_op == Some(i)
                        && pattern.len() >= crate::prefilter::MIN_PATTERN_LEN
                        && p.fast_pattern.as_ref().is_some_and(|f| f.bytes == *pattern)
                        && !negated
                        && replace.is_none()
                        && !ends_with
                        && matches!(
                            position,
                            Position::Absolute {
                                offset: Operand::Lit(0),
                                depth: None
                            }
                        );
                    bufs.push(*buffer);
                    cp.payload.push(PayloadOp::Content {
                        finder: Finder::new(pattern, *nocase),
                        negated: *negated,
                        position: *position,
                        ends_with: *ends_with,
                        replace: replace.clone(),
                        skip,
                    });
                }
                Insn::Pcre(pc) => {
                    check_buffer(pc.buffer, sid)?;
                    bufs.push(pc.buffer);
                    cp.payload.push(PayloadOp::Pcre {
                        re: Box::new(build_pcre(pc, sid)?),
                        relative: pc.relative,
                        negated: pc.negated,
                    });
                }
                Insn::ByteTest(b) => {
                    check_buffer(b.buffer, sid)?;
                    bufs.push(b.buffer);
                    cp.payload.push(PayloadOp::ByteTest(b.clone()))
                }
                Insn::ByteJump(b) => {
                    check_buffer(b.buffer, sid)?;
                    bufs.push(b.buffer);
                    cp.payload.push(PayloadOp::ByteJump(b.clone()))
                }
                Insn::ByteExtract(b) => {
                    check_buffer(b.buffer, sid)?;
                    if usize::from(b.slot.0) >= MAX_VARS {
                        return Err(LoadError::Invalid {
                            sid,
                            reason: "byte_extract slot out of range".into(),
                        });
                    }
                    bufs.push(b.buffer);
                    cp.payload.push(PayloadOp::ByteExtract(b.clone()))
                }
                Insn::Isdataat(d) => {
                    check_buffer(d.buffer, sid)?;
                    bufs.push(d.buffer);
                    cp.payload.push(PayloadOp::Isdataat(d.clone()))
                }
                Insn::Absent { or_else, buffer } => {
                    check_buffer(*buffer, sid)?;
                    bufs.push(*buffer);
                    cp.payload.push(PayloadOp::Absent { or_else: *or_else })
                }
                Insn::BufferSize { cmp, buffer } => {
                    check_buffer(*buffer, sid)?;
                    bufs.push(*buffer);
                    cp.payload.push(PayloadOp::BufferSize(*cmp))
                }
                Insn::FlowbitsSet { cmd, bits: b } => {
                    cp.sets_bits = true;
                    cp.effects.push(Effect::Bits(cmd.clone(), bits(b)))
                }
                Insn::FlowbitsReset => {
                    cp.sets_bits = true;
                    cp.effects.push(Effect::Reset)
                }
                Insn::NoAlert => cp.noalert = true,
                Insn::PassAlert => cp.pass_alerts = true,
                Insn::Tx(t) => {
                    if let verdict_compiler::ir::TxPred::AppEvent(e) = t {
                        if !e.is_valid() {
                            return Err(LoadError::Invalid {
                                sid,
                                reason: "app-layer-event index out of range".into(),
                            });
                        }
                    }
                    match crate::detect::pred::file::FileTest::from_pred(t)
                        .map_err(|reason| LoadError::Invalid { sid, reason })?
                    {
                        Some(f) => cp.files.push(f),
                        None => cp.tx_preds.push(t.clone()),
                    }
                }
                Insn::StreamSize(_) | Insn::Xbits(_) | Insn::Flowint(_) | Insn::AppProto { .. } => {
                    cp.sets_bits |= cp.state.push(insn);
                }
                Insn::Dataset(d) => {
                    check_buffer(d.buffer, sid)?;
                    let set = crate::detect::datasets::open(d)
                        .map_err(|reason| LoadError::Invalid { sid, reason })?;
                    bufs.push(d.buffer);
                    let context_key = match &d.format {
                        verdict_compiler::ir::DatasetFormat::Json(j)
                        | verdict_compiler::ir::DatasetFormat::Ndjson(j) => {
                            j.context_key.as_deref().map(std::sync::Arc::from)
                        }
                        verdict_compiler::ir::DatasetFormat::Csv => None,
                    };
                    cp.payload.push(PayloadOp::Dataset {
                        cmd: d.cmd,
                        set,
                        matching: d.matching,
                        context_key,
                    })
                }
                Insn::Base64Decode(d) => {
                    check_buffer(d.buffer, sid)?;
                    bufs.push(d.buffer);
                    cp.payload.push(PayloadOp::Base64Decode(*d))
                }
                Insn::Asn1(a) => {
                    check_buffer(a.buffer, sid)?;
                    bufs.push(a.buffer);
                    cp.payload.push(PayloadOp::Asn1(*a))
                }
                Insn::ByteMath(b) => {
                    check_buffer(b.buffer, sid)?;
                    if usize::from(b.slot.0) >= MAX_VARS {
                        return Err(LoadError::Invalid {
                            sid,
                            reason: "byte_math slot out of range".into(),
                        });
                    }
                    bufs.push(b.buffer);
                    cp.payload.push(PayloadOp::ByteMath(b.clone()))
                }
            }
        }
        for t in &p.transforms {
            let chain = transform::compile(&t.chain)
                .map_err(|reason| LoadError::Invalid { sid, reason })?;
            cp.chains.push(chain);
        }
        // Payload op `i` is the rule's payload test `i`: the chain that covers it, if any.
        let chain_of = |i: usize, b: Buffer| {
            p.transforms
                .iter()
                .position(|t| t.covers(i, b))
                .and_then(|c| u16::try_from(c).ok())
        };
        let dir_of = |i: usize, b: Buffer| {
            p.tx_dirs
                .iter()
                .find(|d| d.covers(i, b))
                .map(|d| d.to_server)
        };
        for (i, b) in bufs.iter().enumerate() {
            let (k, chain, dir) = (segment_key(*b), chain_of(i, *b), dir_of(i, *b));
            match cp.segments.last_mut() {
                Some(s) if s.buffer == k && s.chain == chain && s.dir == dir => s.end = i + 1,
                _ => cp.segments.push(Segment {
                    buffer: k,
                    start: i,
                    end: i + 1,
                    chain,
                    dir,
                }),
            }
        }
        cp.stream_anywhere = cp.payload.iter().all(|op| match op {
            PayloadOp::Content { position, .. } => matches!(
                position,
                Position::Relative { .. }
                    | Position::Absolute {
                        offset: Operand::Lit(0),
                        depth: None
                    }
            ),
            PayloadOp::Pcre { .. } => true,
            PayloadOp::ByteTest(b) => b.relative,
            PayloadOp::ByteJump(b) => b.relative,
            PayloadOp::ByteExtract(b) => b.relative,
            PayloadOp::Isdataat(d) => d.relative,
            PayloadOp::BufferSize(_) => false,
            PayloadOp::ByteMath(b) => b.relative,
            PayloadOp::Dataset { .. } => false,
            PayloadOp::Absent { .. } => true,
            PayloadOp::Base64Decode(d) => d.relative,
            PayloadOp::Asn1(a) => a.relative,
        });
        cp.absent = cp
            .segments
            .iter()
            .filter(|s| matches!(cp.payload.get(s.start), Some(PayloadOp::Absent { .. })))
            .map(|s| (s.buffer, s.dir))
            .collect();
        cp.retry = (0..cp.payload.len())
            .map(|i| {
                cp.payload.get(i + 1).is_some_and(|n| n.relative())
                    && cp.segments.iter().any(|s| s.start <= i && i + 1 < s.end)
            })
            .collect();
        cp.base64_data = base64_data_ops(&mut cp.segments, &cp.payload)
            .map_err(|reason| LoadError::Invalid { sid, reason })?;
        // Pushed one by one, the vectors keep up to twice their length (at least four
        // entries): with ET Open's 9,330 programs that slack was ~15 MB, kept for the life
        // of the rule set.
        cp.header.shrink_to_fit();
        cp.bit_tests.shrink_to_fit();
        cp.payload.shrink_to_fit();
        cp.effects.shrink_to_fit();
        cp.segments.shrink_to_fit();
        cp.chains.shrink_to_fit();
        cp.tx_preds.shrink_to_fit();
        cp.files.shrink_to_fit();
        Ok(cp)
    }

    /// Header tests against the packet.
    pub fn header_ok(&self, pkt: &Packet<'_>) -> bool {
        self.header.iter().all(|h| header_test(h, pkt))
    }

    /// flowbit tests against the flow (no flow: nothing is set).
    pub fn bits_ok(&self, flow: Option<&Flow>) -> bool {
        self.bit_tests.iter().all(|(isset, bits, op)| {
            let is = |b: &usize| flow.is_some_and(|f| f.bit(*b));
            match (isset, op) {
                (true, BitsOp::All) => bits.iter().all(is),
                (true, BitsOp::Any) => bits.iter().any(is),
                (false, BitsOp::All) => !bits.iter().any(is),
                (false, BitsOp::Any) => !bits.iter().all(is),
            }
        })
    }

    /// True if every payload op reads the packet (or stream) payload: the program is
    /// decided per packet, not per app-layer transaction.
    pub fn packet_only(&self) -> bool {
        self.tx_preds.is_empty()
            && self.files.is_empty()
            && self.segments.iter().all(|s| {
                matches!(
                    s.buffer,
                    Buffer::Payload | Buffer::IpSrc | Buffer::IpDst | Buffer::Hdr(_)
                )
            })
    }

    /// True if a segment reads a packet header buffer: Suricata then requires a packet
    /// (`SIG_FLAG_REQUIRE_PACKET`), so the rule never runs on the reassembled stream.
    pub fn reads_headers(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s.buffer, Buffer::Hdr(_)))
    }

    /// Transaction predicates against the transaction `src` (none: only a program without
    /// predicates passes); `now` is the packet's time in unix seconds.
    pub fn tx_ok(&self, src: Option<&dyn BufferSource>, now: i64) -> bool {
        let files_ok = || {
            self.files.is_empty()
                || src.is_some_and(|s| {
                    // A `=>` rule's filesize names its side; else the packet's side.
                    let side = self.files.iter().find_map(|f| f.side());
                    crate::detect::pred::file::any_file_holds(&self.files, |i| s.file(side, i))
                })
        };
        let preds = self.tx_preds.is_empty()
            || src.is_some_and(|s| crate::detect::pred::all_hold(&self.tx_preds, s.view(), now));
        // An `absent` buffer is judged only once it could no longer arrive.
        preds
            && self
                .absent
                .iter()
                .all(|&(b, dir)| src.is_some_and(|s| s.settled(b, dir)))
            && files_ok()
    }

    /// Runs the payload tests of a packet-only program over `buf`; on success `st.path`
    /// holds the matches of the successful path.
    pub fn payload_ok(&self, buf: &[u8], st: &mut VmState) -> bool {
        st.dce_big = false;
        self.run(st, |_, i, _| (i == 0).then_some(buf))
    }

    /// Runs the payload tests with `Payload` segments on `payload` and every other buffer
    /// from `src`. `st.path` holds the hits of all segments (op indices tell which).
    pub fn payload_ok_in(&self, payload: &[u8], src: &dyn BufferSource, st: &mut VmState) -> bool {
        st.dce_big = src.dce_big_endian();
        self.run(st, |b, i, dir| match (b, dir) {
            (Buffer::Payload, _) => (i == 0).then_some(payload),
            (_, Some(to_server)) => src.buffer_side_n(b, i, to_server),
            (_, None) => src.buffer_n(b, i),
        })
    }

    /// Runs the payload tests of the packet `pkt`: `Payload` segments on `payload` (the
    /// packet's or the stream's), header buffers on `pkt`'s headers, and app-layer buffers
    /// from `tx` when there is one.
    pub fn payload_ok_pkt(
        &self,
        payload: &[u8],
        pkt: &Packet<'_>,
        tx: Option<&dyn BufferSource>,
        st: &mut VmState,
    ) -> bool {
        st.dce_big = tx.is_some_and(|t| t.dce_big_endian());
        self.run(st, |b, i, dir| match (b, dir, tx) {
            (Buffer::Payload, _, _) => (i == 0).then_some(payload),
            (Buffer::Hdr(h), _, _) => header_buffer(pkt, h).filter(|_| i == 0),
            (_, Some(to_server), Some(src)) => src.buffer_side_n(b, i, to_server),
            (_, None, Some(src)) => src.buffer_n(b, i),
            (_, _, None) => None,
        })
    }

    fn run<'a>(
        &self,
        st: &mut VmState,
        get: impl Fn(Buffer, usize, Option<bool>) -> Option<&'a [u8]>,
    ) -> bool {
        st.path.clear();
        st.context.clear();
        st.vars = [0; MAX_VARS];
        self.segments
            .iter()
            .all(|seg| self.run_segment(seg, st, &get))
    }

    /// One segment over each instance of its buffer (transformed first) until one passes;
    /// a failed instance leaves no hits and no extracted variables behind.
    fn run_segment<'a>(
        &self,
        seg: &Segment,
        st: &mut VmState,
        get: &impl Fn(Buffer, usize, Option<bool>) -> Option<&'a [u8]>,
    ) -> bool {
        let (path_len, ctx_len, vars) = (st.path.len(), st.context.len(), st.vars);
        let chain = seg
            .chain
            .and_then(|c| self.chains.get(usize::from(c)))
            .filter(|c| !c.is_empty());
        // The packet's addresses live in the state, not in a buffer source.
        let addr = match seg.buffer {
            Buffer::IpSrc => Some(st.addrs[0]),
            Buffer::IpDst => Some(st.addrs[1]),
            _ => None,
        };
        if let Some(PayloadOp::Absent { or_else }) = self.payload.get(seg.start) {
            let present = addr.is_some() || get(seg.buffer, 0, seg.dir).is_some();
            if !present {
                return true;
            }
            if !or_else {
                return false;
            }
        }
        for i in 0..MAX_BUFFER_INSTANCES {
            let raw = match &addr {
                Some((a, n)) if i == 0 => a.get(..usize::from(*n)),
                Some(_) => None,
                None => get(seg.buffer, i, seg.dir),
            };
            let Some(raw) = raw else {
                return false;
            };
            let owned;
            let buf = match chain {
                Some(c) => {
                    owned = transform::apply(c, raw);
                    &owned[..]
                }
                None => raw,
            };
            // The recursion budget is per buffer, as Suricata's is per inspection.
            st.steps = 0;
            st.seg_end = seg.end;
            if self.eval(seg.start, buf, 0, st) {
                return true;
            }
            st.path.truncate(path_len);
            st.context.truncate(ctx_len);
            st.vars = vars;
        }
        false
    }

    /// Stores a byte_extract/byte_math result in its variable slot and goes on from the
    /// cursor it left (`None`: the op failed).
    fn extracted(
        &self,
        i: usize,
        r: Option<(i64, usize)>,
        slot: u8,
        buf: &[u8],
        st: &mut VmState,
    ) -> bool {
        match r {
            Some((v, c)) => {
                st.vars[usize::from(slot) % MAX_VARS] = v;
                self.eval(i + 1, buf, c, st)
            }
            None => false,
        }
    }

    fn eval(&self, i: usize, buf: &[u8], cursor: usize, st: &mut VmState) -> bool {
        if i >= st.seg_end {
            return true;
        }
        let Some(op) = self.payload.get(i) else {
            return true;
        };
        let len = buf.len() as i64;
        match op {
            PayloadOp::Content {
                finder,
                negated,
                position,
                ends_with,
                skip,
                ..
            } => {
                if *skip {
                    return self.eval(i + 1, buf, cursor, st);
                }
                let Some((lo, hi)) = window(
                    *position,
                    *ends_with,
                    cursor,
                    buf.len(),
                    finder.len(),
                    &st.vars,
                ) else {
                    return *negated && self.eval(i + 1, buf, cursor, st);
                };
                if *negated {
                    st.steps += 1;
                    return finder.find(&buf[lo..hi]).is_none()
                        && self.eval(i + 1, buf, cursor, st);
                }
                let mut from = lo;
                while from < hi {
                    st.steps += 1;
                    if st.steps > RECURSION_LIMIT {
                        return false;
                    }
                    let Some(rel) = finder.find(&buf[from..hi]) else {
                        return false;
                    };
                    let s = from + rel;
                    let e = s + finder.len();
                    st.path.push(Hit {
                        op: i as u16,
                        start: s as u32,
                        end: e as u32,
                    });
                    if self.eval(i + 1, buf, e, st) {
                        return true;
                    }
                    st.path.pop();
                    if !self.retry[i] {
                        return false;
                    }
                    from = s + 1;
                }
                false
            }
            PayloadOp::Pcre {
                re,
                relative,
                negated,
            } => {
                let base = if *relative { cursor.min(buf.len()) } else { 0 };
                let hay = &buf[base..];
                if *negated {
                    st.steps += 1;
                    // A limit hit is no match for the negated form too, as in Suricata
                    // (only PCRE2_ERROR_NOMATCH makes a negated pcre true).
                    return match re.find(hay) {
                        Ok(None) => self.eval(i + 1, buf, cursor, st),
                        Ok(Some(_)) => false,
                        Err(_) => {
                            st.pcre_limit_hits = st.pcre_limit_hits.saturating_add(1);
                            false
                        }
                    };
                }
                let mut from = 0;
                while from <= hay.len() {
                    st.steps += 1;
                    if st.steps > RECURSION_LIMIT {
                        return false;
                    }
                    // A match-limit error counts as no match (bounded work beats a verdict),
                    // and is counted so an operator sees the rule that needs it.
                    let m = match re.find_at(hay, from) {
                        Ok(Some(m)) => m,
                        Ok(None) => return false,
                        Err(_) => {
                            st.pcre_limit_hits = st.pcre_limit_hits.saturating_add(1);
                            return false;
                        }
                    };
                    let (s, e) = (base + m.start(), base + m.end());
                    st.path.push(Hit {
                        op: i as u16,
                        start: s as u32,
                        end: e as u32,
                    });
                    if self.eval(i + 1, buf, e, st) {
                        return true;
                    }
                    st.path.pop();
                    if !self.retry[i] {
                        return false;
                    }
                    from = m.start() + 1;
                }
                false
            }
            PayloadOp::ByteTest(b) if st.dce_big && b.endian == Endian::Dce => {
                let b = ByteTest {
                    endian: Endian::Big,
                    ..b.clone()
                };
                byte_test(&b, buf, cursor, &st.vars) && self.eval(i + 1, buf, cursor, st)
            }
            PayloadOp::ByteJump(b) if st.dce_big && b.endian == Endian::Dce => {
                let b = ByteJump {
                    endian: Endian::Big,
                    ..b.clone()
                };
                match byte_jump(&b, buf, cursor, &st.vars) {
                    Some(c) => self.eval(i + 1, buf, c, st),
                    None => false,
                }
            }
            PayloadOp::ByteExtract(b) if st.dce_big && b.endian == Endian::Dce => {
                let b = ByteExtract {
                    endian: Endian::Big,
                    ..b.clone()
                };
                self.extracted(i, byte_extract(&b, buf, cursor), b.slot.0, buf, st)
            }
            PayloadOp::ByteMath(b) if st.dce_big && b.endian == Endian::Dce => {
                let b = ByteMath {
                    endian: Endian::Big,
                    ..b.clone()
                };
                let r = byte_math::byte_math(&b, buf, cursor, &st.vars);
                self.extracted(i, r, b.slot.0, buf, st)
            }
            PayloadOp::ByteTest(b) => {
                let ok = byte_test(b, buf, cursor, &st.vars);
                ok && self.eval(i + 1, buf, cursor, st)
            }
            PayloadOp::ByteJump(b) => match byte_jump(b, buf, cursor, &st.vars) {
                Some(c) => self.eval(i + 1, buf, c, st),
                None => false,
            },
            PayloadOp::ByteExtract(b) => {
                self.extracted(i, byte_extract(b, buf, cursor), b.slot.0, buf, st)
            }
            PayloadOp::Isdataat(d) => {
                let present = isdataat_present(d, len, cursor, &st.vars);
                present != d.negated && self.eval(i + 1, buf, cursor, st)
            }
            PayloadOp::BufferSize(cmp) => {
                cmp.test(buf.len() as u64) && self.eval(i + 1, buf, cursor, st)
            }
            // Reached only for a present buffer under `or_else` (see `run_segment`).
            PayloadOp::Absent { .. } => self.eval(i + 1, buf, cursor, st),
            PayloadOp::Dataset {
                cmd,
                set,
                matching,
                context_key,
            } => {
                use verdict_compiler::ir::DatasetCmd;
                let ok = match cmd {
                    DatasetCmd::IsSet => match set.lookup(buf, *matching) {
                        Some(m) => {
                            if let (Some(k), Some(c)) = (context_key, m.context) {
                                st.context.push((k.clone(), c));
                            }
                            true
                        }
                        None => false,
                    },
                    DatasetCmd::IsNotSet => set.lookup(buf, *matching).is_none(),
                    DatasetCmd::Set => set.insert(buf),
                    DatasetCmd::Rep(c) => set
                        .lookup(buf, *matching)
                        .and_then(|m| m.rep)
                        .is_some_and(|r| c.test(r)),
                };
                ok && self.eval(i + 1, buf, cursor, st)
            }
            PayloadOp::ByteMath(b) => {
                let r = byte_math::byte_math(b, buf, cursor, &st.vars);
                self.extracted(i, r, b.slot.0, buf, st)
            }
            PayloadOp::Base64Decode(d) => self.base64_decode(i, d, buf, cursor, st),
            PayloadOp::Asn1(a) => {
                st.steps += 1;
                asn1::matches(a, buf, cursor) && self.eval(i + 1, buf, cursor, st)
            }
        }
    }

    /// Decodes as Suricata's `base64_decode` and runs the `base64_data` ops on the result.
    /// A match ends the buffer's inspection: the ops after the decode in its segment are not
    /// run (the compiler rejects rules that have any). The path holds the encoded bytes read
    /// as the decode op's hit (evidence, and how far into the stream the match reached).
    fn base64_decode(
        &self,
        i: usize,
        d: &verdict_compiler::ir::Base64Decode,
        buf: &[u8],
        cursor: usize,
        st: &mut VmState,
    ) -> bool {
        let Some((start, end)) = self.base64_data else {
            return false;
        };
        st.steps += 1;
        let from = if d.relative { cursor.min(buf.len()) } else { 0 };
        let rest = &buf[from..];
        let offset = usize::try_from(d.offset).unwrap_or(usize::MAX);
        // Suricata: an offset at or past the end decodes nothing, and nothing decoded fails.
        let Some(input) = rest.get(offset..).filter(|r| !r.is_empty()) else {
            return false;
        };
        let take = usize::try_from(verdict_compiler::keywords::base64::decode_len(d))
            .unwrap_or(usize::MAX)
            .min(input.len());
        let mut decoded = std::mem::take(&mut st.decoded);
        let read = base64_decode::decode_rfc4648(&input[..take], &mut decoded);
        let at = from.saturating_add(offset);
        st.path.push(Hit {
            op: i as u16,
            start: at as u32,
            end: at.saturating_add(read) as u32,
        });
        let seg_end = st.seg_end;
        st.seg_end = end;
        let ok = !decoded.is_empty() && self.eval(start, &decoded, 0, st);
        st.seg_end = seg_end;
        st.decoded = decoded;
        if !ok {
            st.path.pop();
        }
        ok
    }

    /// True if payload op `op` reads the decoded bytes of `base64_decode` (its hits are
    /// offsets in them, not in the buffer).
    pub fn reads_decoded(&self, op: u16) -> bool {
        self.base64_data
            .is_some_and(|(s, e)| (s..e).contains(&usize::from(op)))
    }
}

/// Takes the `base64_data` segment out of `segments`: its ops run from the `base64_decode`
/// op. A program with base64_data ops needs exactly one decode op, outside them.
fn base64_data_ops(
    segments: &mut Vec<Segment>,
    payload: &[PayloadOp],
) -> Result<Option<(usize, usize)>, String> {
    let data: Vec<Segment> = segments
        .iter()
        .filter(|s| s.buffer == Buffer::Base64Data)
        .copied()
        .collect();
    let decodes: Vec<usize> = payload
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, PayloadOp::Base64Decode(_)))
        .map(|(i, _)| i)
        .collect();
    let range = match (data.as_slice(), decodes.as_slice()) {
        ([], []) => return Ok(None),
        ([s], [d]) if !(s.start..s.end).contains(d) => (s.start, s.end),
        _ => return Err("base64_data needs one base64_decode outside its ops".into()),
    };
    segments.retain(|s| s.buffer != Buffer::Base64Data);
    Ok(Some(range))
}

/// One match on the successful path: payload op index and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Index into `CompiledProgram::payload`.
    pub op: u16,
    /// Start offset in the buffer.
    pub start: u32,
    /// End offset (exclusive).
    pub end: u32,
}

/// Per-worker VM scratch (reused, so no allocation per packet).
#[derive(Debug, Default)]
pub struct VmState {
    /// byte_extract variables.
    pub vars: [i64; MAX_VARS],
    /// Matches on the current path.
    pub path: Vec<Hit>,
    /// Data set contexts (`context_key`, JSON) of the entries the path matched.
    pub context: Vec<(std::sync::Arc<str>, std::sync::Arc<str>)>,
    /// The packet's source and destination address (`ip.src`, `ip.dst`): 4 or 16 bytes.
    addrs: [([u8; 16], u8); 2],
    steps: u32,
    seg_end: usize,
    /// `base64_decode`'s output, reused across packets.
    decoded: Vec<u8>,
    /// pcre evaluations stopped by the match or depth limit since the owner last took them
    /// (the worker moves them into its counters after each packet).
    pub pcre_limit_hits: u64,
    /// `dce` byte options read big-endian in the current run (the DCE/RPC request's data
    /// representation).
    dce_big: bool,
}

impl VmState {
    /// Sets what `ip.src` and `ip.dst` read for the next run.
    pub fn set_addrs(&mut self, src: std::net::IpAddr, dst: std::net::IpAddr) {
        for (slot, a) in self.addrs.iter_mut().zip([src, dst]) {
            *slot = match a {
                std::net::IpAddr::V4(v) => {
                    let mut b = [0u8; 16];
                    b[..4].copy_from_slice(&v.octets());
                    (b, 4)
                }
                std::net::IpAddr::V6(v) => (v.octets(), 16),
            };
        }
    }
}

fn operand(o: Operand, vars: &[i64; MAX_VARS]) -> i64 {
    match o {
        Operand::Lit(v) => v,
        Operand::Var(s) => vars[usize::from(s.0) % MAX_VARS],
    }
}

/// `cursor + off`, or None when the sum does not fit in i64. Rule constants and extracted
/// values reach i64::MAX, so every relative position goes through this: such a position lies
/// past the end of any buffer, and must never wrap to a small or negative one.
fn relative_pos(cursor: usize, off: i64) -> Option<i64> {
    i64::try_from(cursor).ok()?.checked_add(off)
}

/// The search window `[lo, hi)` of a content, or None if it lies outside the buffer (also when
/// `cursor + distance` does not fit in i64: that start is past the end). With `ends_with` the
/// window shrinks to the buffer's last `plen` bytes, if the position allows them.
fn window(
    p: Position,
    ends_with: bool,
    cursor: usize,
    len: usize,
    plen: usize,
    vars: &[i64; MAX_VARS],
) -> Option<(usize, usize)> {
    let len_i = len as i64;
    let (lo, hi) = match p {
        Position::Absolute { offset, depth } => {
            let lo = operand(offset, vars).max(0);
            let hi = depth.map_or(len_i, |d| lo.saturating_add(operand(d, vars)));
            (lo, hi)
        }
        Position::Relative { distance, within } => {
            let start = relative_pos(cursor, operand(distance, vars))?;
            let hi = within.map_or(len_i, |w| start.saturating_add(operand(w, vars)));
            (start.max(0), hi)
        }
        Position::StartsWith => (0, plen as i64),
    };
    let hi = hi.min(len_i);
    if lo < 0 || hi < lo || hi - lo < plen as i64 {
        return None;
    }
    if ends_with {
        // Any window that reaches the end and holds a pattern holds the last `plen` bytes.
        return (hi == len_i).then(|| (len - plen, len));
    }
    Some((lo as usize, hi as usize))
}

fn apply_mask(v: u64, mask: u64) -> u64 {
    if mask == 0 {
        return 0;
    }
    (v & mask) >> mask.trailing_zeros()
}

/// Reads `count` bytes at `pos` as a number (binary in `endian`, or an ASCII string in `base`).
pub fn read_num(buf: &[u8], pos: i64, count: u8, endian: Endian, base: NumBase) -> Option<u64> {
    if pos < 0 || count == 0 {
        return None;
    }
    let pos = pos as usize;
    let bytes = buf.get(pos..pos.checked_add(usize::from(count))?)?;
    match base {
        NumBase::Binary => {
            if bytes.len() > 8 {
                return None;
            }
            let little = matches!(endian, Endian::Little | Endian::Dce);
            let mut v = 0u64;
            if little {
                for b in bytes.iter().rev() {
                    v = (v << 8) | u64::from(*b);
                }
            } else {
                for b in bytes {
                    v = (v << 8) | u64::from(*b);
                }
            }
            Some(v)
        }
        NumBase::Dec | NumBase::Hex | NumBase::Oct => {
            let radix = match base {
                NumBase::Dec => 10,
                NumBase::Hex => 16,
                _ => 8,
            };
            // strtoul-like: digits from the start, stop at the first non-digit, need one.
            let mut v: u64 = 0;
            let mut any = false;
            for b in bytes {
                match (*b as char).to_digit(radix) {
                    Some(d) => {
                        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
                        any = true;
                    }
                    None => break,
                }
            }
            any.then_some(v)
        }
    }
}

/// Evaluates a byte_test at the cursor (false when the bytes are not there, whatever the
/// negation: Snort's and Suricata's byte_test fails on a short buffer).
pub fn byte_test(b: &ByteTest, buf: &[u8], cursor: usize, vars: &[i64; MAX_VARS]) -> bool {
    let off = operand(b.offset, vars);
    let pos = if b.relative {
        relative_pos(cursor, off)
    } else {
        Some(off)
    };
    let string = b.base != NumBase::Binary;
    let Some(count) = byte::count_ok(operand(b.count, vars), string) else {
        return false;
    };
    let Some(mut v) = pos.and_then(|pos| read_num(buf, pos, count, b.endian, b.base)) else {
        return false;
    };
    if let Some(m) = b.bitmask {
        v = apply_mask(v, m);
    }
    let t = operand(b.value, vars) as u64;
    let r = match b.op {
        ByteOp::Lt => v < t,
        ByteOp::Gt => v > t,
        ByteOp::Le => v <= t,
        ByteOp::Ge => v >= t,
        ByteOp::Eq => v == t,
        ByteOp::And => v & t != 0,
        ByteOp::Xor => v ^ t != 0,
    };
    r != b.negated
}

/// Evaluates a byte_jump: the new cursor, or None if it fails. As Suricata 7's
/// `DetectBytejumpDoMatch`: a relative read must start inside the buffer (one of 0 bytes may
/// start at its end); a count of 0 reads
/// nothing (binary) or fails (a string needs a digit); a target before the buffer start is
/// clamped to it (so a negative `post_offset` can rewind to the start), one at or past the
/// end fails. A jump whose value or target does not fit in 64 bits fails; it never wraps.
pub fn byte_jump(b: &ByteJump, buf: &[u8], cursor: usize, vars: &[i64; MAX_VARS]) -> Option<usize> {
    let off = operand(b.offset, vars);
    let len = i64::try_from(buf.len()).ok()?;
    let string = b.base != NumBase::Binary;
    let count = match operand(b.count, vars) {
        0 if !string => 0,
        n => byte::count_ok(n, string)?,
    };
    let pos = if b.relative {
        // A count of 0 reads nothing, so it may start right at the end (bug 4623).
        relative_pos(cursor, off).filter(|&p| p < len || (count == 0 && p == len))?
    } else {
        off
    };
    if pos < 0 {
        return None;
    }
    let mut v = if count == 0 {
        0
    } else {
        read_num(buf, pos, count, b.endian, b.base)?
    };
    if let Some(m) = b.bitmask {
        v = apply_mask(v, m);
    }
    if b.multiplier > 1 {
        v = v.checked_mul(u64::from(b.multiplier))?;
    }
    if b.align {
        v = v.checked_next_multiple_of(4)?;
    }
    let v = i64::try_from(v).ok()?;
    let base = if b.from_beginning {
        0
    } else if b.from_end {
        len
    } else {
        pos.checked_add(i64::from(count))?
    };
    let c = base.checked_add(v)?.checked_add(b.post_offset)?.max(0);
    (c < len).then_some(c as usize)
}

/// Runs a byte_extract at the cursor: the value for its variable and the cursor after the
/// bytes read. None (the test fails) when the bytes are not there or the value, after
/// multiplier and alignment, does not fit in i64: a clamped value would be a number the
/// packet never held, and a later relative test would add it to the cursor.
pub fn byte_extract(b: &ByteExtract, buf: &[u8], cursor: usize) -> Option<(i64, usize)> {
    let pos = if b.relative {
        relative_pos(cursor, b.offset)?
    } else {
        b.offset
    };
    let mut v = read_num(buf, pos, b.count, b.endian, b.base)?;
    if let Some(m) = b.bitmask {
        v = apply_mask(v, m);
    }
    if b.multiplier > 1 {
        v = v.checked_mul(u64::from(b.multiplier))?;
    }
    if let Some(a) = b.align.filter(|a| *a > 1) {
        v = v.checked_next_multiple_of(u64::from(a))?;
    }
    let end = pos.checked_add(i64::from(b.count))?;
    Some((i64::try_from(v).ok()?, usize::try_from(end).ok()?))
}

/// Whether an isdataat's data is there: a byte at `n` (absolute), or `n` bytes after the
/// cursor (relative). A negative `n`, or a position past i64, holds no data.
fn isdataat_present(d: &Isdataat, len: i64, cursor: usize, vars: &[i64; MAX_VARS]) -> bool {
    let n = operand(d.offset, vars);
    if n < 0 {
        return false;
    }
    if d.relative {
        relative_pos(cursor, n).is_some_and(|end| end <= len)
    } else {
        n < len
    }
}

fn flags_match(have: u8, want: u8, mode: FlagMode, ignore: u8) -> bool {
    let have = have & !ignore;
    match mode {
        FlagMode::Exact => have == want,
        FlagMode::All => have & want == want,
        FlagMode::Any => have & want != 0,
        FlagMode::Not => have & want == 0,
    }
}

fn ipopt_present(data: &[u8], ip: &IpInfo, name: &str) -> bool {
    if ip.version != 4 || !ip.has_options {
        return false;
    }
    if name == "any" {
        return true;
    }
    let want: u8 = match name {
        "eol" => 0,
        "nop" => 1,
        "rr" => 7,
        "ts" => 68,
        "sec" => 130,
        "lsrr" | "lsrre" => 131,
        "esec" => 133,
        "satid" => 136,
        "ssrr" => 137,
        _ => return false,
    };
    let ihl = usize::from(data[0] & 0x0f) * 4;
    let mut opts = data.get(20..ihl).unwrap_or(&[]);
    while let Some(&t) = opts.first() {
        if t == want {
            return true;
        }
        if t == 0 {
            break;
        }
        if t == 1 {
            opts = &opts[1..];
            continue;
        }
        let l = usize::from(*opts.get(1).unwrap_or(&0)).max(2);
        opts = opts.get(l..).unwrap_or(&[]);
    }
    false
}

/// Evaluates one header test.
pub fn header_test(h: &HeaderTest, pkt: &Packet<'_>) -> bool {
    let ip = pkt.ip();
    let tcp = match pkt.l4() {
        L4Hdr::Tcp {
            seq,
            ack,
            flags,
            window,
            ..
        } => Some((*seq, *ack, *flags, *window)),
        _ => None,
    };
    let icmp = match pkt.l4() {
        L4Hdr::Icmp {
            typ, code, id, seq, ..
        } => Some((*typ, *code, *id, *seq)),
        _ => None,
    };
    match h {
        HeaderTest::Dsize(c) => c.test(pkt.payload().len() as u64),
        HeaderTest::Ttl(c) => c.test(u64::from(ip.ttl)),
        HeaderTest::Tos(c) => c.test(u64::from(ip.tos)),
        HeaderTest::IpId(c) => c.test(u64::from(ip.id)),
        HeaderTest::IpProto(c) => c.test(u64::from(ip.proto)),
        HeaderTest::Flags(f) => tcp.is_some_and(|t| flags_match(t.2, f.flags, f.mode, f.ignore)),
        HeaderTest::Seq(c) => tcp.is_some_and(|t| c.test(u64::from(t.0))),
        HeaderTest::Ack(c) => tcp.is_some_and(|t| c.test(u64::from(t.1))),
        HeaderTest::Window(c) => tcp.is_some_and(|t| c.test(u64::from(t.3))),
        HeaderTest::Itype(c) => icmp.is_some_and(|i| c.test(u64::from(i.0))),
        HeaderTest::Icode(c) => icmp.is_some_and(|i| c.test(u64::from(i.1))),
        HeaderTest::IcmpId(c) => icmp.is_some_and(|i| c.test(u64::from(i.2))),
        HeaderTest::IcmpSeq(c) => icmp.is_some_and(|i| c.test(u64::from(i.3))),
        HeaderTest::Fragbits { bits, mode } => flags_match(ip.frag_bits, *bits, *mode, 0),
        HeaderTest::FragOffset(c) => c.test(u64::from(ip.frag_offset)),
        HeaderTest::SameIp => ip.src == ip.dst,
        HeaderTest::IpOpts(name) => ipopt_present(pkt.data(), ip, name),
        // The MTU is the 32 bits after the checksum, which the view splits into id and seq.
        HeaderTest::Icmpv6Mtu(c) => match pkt.l4() {
            L4Hdr::Icmp {
                v6: true,
                typ: ICMPV6_PACKET_TOO_BIG,
                code: 0,
                id,
                seq,
            } => c.matches((u64::from(*id) << 16) | u64::from(*seq)),
            _ => false,
        },
        HeaderTest::TcpMss(c) => {
            tcp.is_some()
                && crate::wire::tcpopt::mss(pkt.tcp_options())
                    .is_some_and(|m| c.matches(u64::from(m)))
        }
    }
}

/// ICMPv6 type of Packet Too Big (RFC 4443), the one message that carries an MTU.
const ICMPV6_PACKET_TOO_BIG: u8 = 2;

/// The bytes of header buffer `h` in `pkt`, if the packet has that header.
pub fn header_buffer<'a>(pkt: &Packet<'a>, h: HdrBuffer) -> Option<&'a [u8]> {
    match h {
        HdrBuffer::Ipv4 => (pkt.ip().version == 4).then(|| pkt.ip_header()),
        HdrBuffer::Ipv6 => (pkt.ip().version == 6).then(|| pkt.ip_header()),
        HdrBuffer::Tcp => pkt.tcp_header(),
        HdrBuffer::Udp => pkt.udp_header(),
        HdrBuffer::Icmpv4 => pkt.icmp_header(false),
        HdrBuffer::Icmpv6 => pkt.icmp_header(true),
    }
}

/// `insn` reading `base64_data` instead of its buffer (contents and byte_test), for the
/// VM's unit tests and its fuzz.
#[cfg(test)]
pub(crate) fn on_base64_data(insn: Insn) -> Insn {
    match insn {
        Insn::Content {
            pattern,
            nocase,
            negated,
            position,
            ends_with,
            ..
        } => Insn::Content {
            pattern,
            nocase,
            negated,
            buffer: Buffer::Base64Data,
            position,
            ends_with,
            replace: None,
        },
        Insn::ByteTest(b) => Insn::ByteTest(ByteTest {
            buffer: Buffer::Base64Data,
            ..b
        }),
        other => other,
    }
}

/// A plain alert program around `ops`, for the VM's unit tests and its fuzz.
#[cfg(test)]
pub(crate) fn test_program(ops: Vec<Insn>) -> Program {
    use verdict_compiler::bytecode::L4;
    use verdict_compiler::ir::{Action, FlowOpts, Gid, IpSet, PortSet, Sid};
    Program {
        sid: Sid(1),
        gid: Gid(1),
        rev: 1,
        action: Action::Alert,
        msg: "t".into(),
        classtype: None,
        priority: None,
        l4: L4::Any,
        app: None,
        src: IpSet::any(),
        src_ports: PortSet::full(),
        dst: IpSet::any(),
        dst_ports: PortSet::full(),
        bidirectional: false,
        transactional: false,
        tx_dirs: Vec::new(),
        flow: FlowOpts::default(),
        fast_pattern: None,
        ops,
        transforms: Vec::new(),
        threshold: None,
        detection_filter: None,
        block: None,
        tags: vec![],
        strategy: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::VarSlot;

    fn prog(ops: Vec<Insn>) -> CompiledProgram {
        CompiledProgram::new(&super::test_program(ops)).unwrap()
    }

    fn content(p: &[u8], position: Position) -> Insn {
        Insn::Content {
            pattern: p.to_vec(),
            nocase: false,
            negated: false,
            buffer: Buffer::Payload,
            position,
            ends_with: false,
            replace: None,
        }
    }
    fn abs(o: i64, d: Option<i64>) -> Position {
        Position::Absolute {
            offset: Operand::Lit(o),
            depth: d.map(Operand::Lit),
        }
    }
    fn rel(d: i64, w: Option<i64>) -> Position {
        Position::Relative {
            distance: Operand::Lit(d),
            within: w.map(Operand::Lit),
        }
    }
    fn run(p: &CompiledProgram, buf: &[u8]) -> bool {
        p.payload_ok(buf, &mut VmState::default())
    }

    #[test]
    fn offset_depth_distance_within() {
        let p = prog(vec![
            content(b"abc", abs(2, Some(5))),
            content(b"xyz", rel(1, Some(4))),
        ]);
        assert!(run(&p, b"..abc.xyz"));
        assert!(!run(&p, b"..abc...xyz")); // window after abc is [6,10): xyz ends at 11
        assert!(!run(&p, b"abc.xyz")); // abc before offset 2
        assert!(!run(&p, b"..abcxyz")); // distance 1 skips the x
                                        // negative distance reaches back
        let n = prog(vec![
            content(b"world", abs(0, None)),
            content(b"hello ", rel(-11, Some(6))),
        ]);
        assert!(run(&n, b"hello world"));
    }

    #[test]
    fn relative_failure_retries_the_previous_content() {
        // First "a=" is followed by "x", the second by "1": Snort/Suricata find the match by
        // retrying the first content at its next occurrence.
        let p = prog(vec![
            content(b"a=", abs(0, None)),
            content(b"1", rel(0, Some(1))),
        ]);
        assert!(run(&p, b"a=x a=1"));
        assert!(!run(&p, b"a=x a=2"));
        // No retry when the next test is absolute.
        let q = prog(vec![
            content(b"a=", abs(0, None)),
            content(b"zz", abs(0, Some(2))),
        ]);
        assert!(!run(&q, b"a=zz"));
    }

    #[test]
    fn negation_nocase_startswith_endswith() {
        let mut neg = content(b"bad", abs(0, None));
        if let Insn::Content { negated, .. } = &mut neg {
            *negated = true;
        }
        let p = prog(vec![content(b"GET", Position::StartsWith), neg]);
        assert!(run(&p, b"GET /good"));
        assert!(!run(&p, b"GET /bad"));
        assert!(!run(&p, b" GET /good"));
        let mut nc = content(b"UsEr", abs(0, None));
        if let Insn::Content { nocase, .. } = &mut nc {
            *nocase = true;
        }
        assert!(run(&prog(vec![nc.clone()]), b"xxuser"));
        assert!(run(&prog(vec![nc]), b"xxUSER"));
        let mut ends = content(b"end", abs(0, None));
        if let Insn::Content { ends_with, .. } = &mut ends {
            *ends_with = true;
        }
        let e = prog(vec![ends.clone()]);
        assert!(run(&e, b"the end") && !run(&e, b"the end."));
        // endswith with depth (Suricata allows it): in the first 7 bytes and at the end.
        let mut d = ends.clone();
        if let Insn::Content { position, .. } = &mut d {
            *position = abs(0, Some(7));
        }
        let d = prog(vec![d]);
        assert!(run(&d, b"the end") && !run(&d, b"at the end"));
        // endswith after distance: relative to the previous match, ending the buffer.
        let mut r = ends.clone();
        if let Insn::Content { position, .. } = &mut r {
            *position = rel(0, None);
        }
        let r = prog(vec![content(b"/api/", Position::StartsWith), r]);
        assert!(run(&r, b"/api/x/end") && !run(&r, b"/api/x/end/") && !run(&r, b"x/api/end"));
        // startswith + endswith: the buffer is exactly the pattern.
        let mut exact = content(b"end", Position::StartsWith);
        if let Insn::Content { ends_with, .. } = &mut exact {
            *ends_with = true;
        }
        let exact = prog(vec![exact]);
        assert!(run(&exact, b"end") && !run(&exact, b"endend"));
    }

    struct Names(Vec<&'static [u8]>);
    impl BufferSource for Names {
        fn buffer_n(&self, _: Buffer, i: usize) -> Option<&[u8]> {
            self.0.get(i).copied()
        }
    }

    #[test]
    fn multi_buffers_match_per_instance_through_transforms() {
        use verdict_compiler::ir::{AppBuffer, BufferTransforms, Transform};
        // Any runnable buffer: the source decides how many instances it has.
        let q = Buffer::App(AppBuffer::HttpHost);
        let mut c = content(b".evil.com", abs(0, None));
        if let Insn::Content {
            buffer, ends_with, ..
        } = &mut c
        {
            *buffer = q;
            *ends_with = true;
        }
        let mut p = super::test_program(vec![c]);
        p.transforms = vec![BufferTransforms {
            buffer: q,
            chain: vec![Transform::DotPrefix],
            tests: 0..1,
        }];
        let cp = CompiledProgram::new(&p).unwrap();
        let mut st = VmState::default();
        let hit =
            |names: Vec<&'static [u8]>, st: &mut VmState| cp.payload_ok_in(b"", &Names(names), st);
        // The second name is the one: each instance is inspected on its own.
        assert!(hit(vec![b"example.org", b"www.evil.com"], &mut st));
        assert!(hit(vec![b"evil.com"], &mut st));
        assert!(!hit(vec![b"notevil.com", b"evil.com.example"], &mut st));
        assert!(!hit(vec![], &mut st));
        // Two ops must hold in the same instance, not one in each.
        let mut a = content(b"a", abs(0, None));
        let mut b = content(b"b", abs(0, None));
        for x in [&mut a, &mut b] {
            if let Insn::Content { buffer, .. } = x {
                *buffer = q;
            }
        }
        let two = CompiledProgram::new(&super::test_program(vec![a, b])).unwrap();
        assert!(!two.payload_ok_in(b"", &Names(vec![b"a", b"b"]), &mut st));
        assert!(two.payload_ok_in(b"", &Names(vec![b"a", b"ab"]), &mut st));
    }

    fn bt(count: u8, op: ByteOp, value: i64, offset: i64, relative: bool, base: NumBase) -> Insn {
        Insn::ByteTest(ByteTest {
            count: Operand::Lit(i64::from(count)),
            op,
            negated: false,
            value: Operand::Lit(value),
            offset: Operand::Lit(offset),
            relative,
            endian: Endian::Big,
            base,
            bitmask: None,
            buffer: Buffer::Payload,
        })
    }

    #[test]
    fn byte_test_binary_string_and_relative() {
        assert!(run(
            &prog(vec![bt(2, ByteOp::Gt, 0x100, 0, false, NumBase::Binary)]),
            &[0x01, 0x01]
        ));
        assert!(!run(
            &prog(vec![bt(2, ByteOp::Gt, 0x101, 0, false, NumBase::Binary)]),
            &[0x01, 0x01]
        ));
        assert!(run(
            &prog(vec![bt(3, ByteOp::Eq, 123, 0, false, NumBase::Dec)]),
            b"123"
        ));
        assert!(run(
            &prog(vec![bt(2, ByteOp::Eq, 0xff, 0, false, NumBase::Hex)]),
            b"ff"
        ));
        let p = prog(vec![
            content(b"len=", abs(0, None)),
            bt(1, ByteOp::Lt, 10, 0, true, NumBase::Dec),
        ]);
        assert!(run(&p, b"len=5"));
        assert!(!run(&p, b"len=x"));
        // cut short: fails, no panic
        assert!(!run(
            &prog(vec![bt(4, ByteOp::Eq, 0, 2, false, NumBase::Binary)]),
            &[0, 0, 0]
        ));
        let mut le = ByteTest {
            endian: Endian::Little,
            ..match bt(2, ByteOp::Eq, 0x0201, 0, false, NumBase::Binary) {
                Insn::ByteTest(b) => b,
                _ => unreachable!(),
            }
        };
        assert!(byte_test(&le, &[1, 2], 0, &[0; 8]));
        le.bitmask = Some(0xff00);
        le.value = Operand::Lit(2);
        assert!(byte_test(&le, &[1, 2], 0, &[0; 8]));
        // A count from a variable reads that many bytes; one a literal could not be fails.
        let mut v = match bt(1, ByteOp::Eq, 0x0102, 0, false, NumBase::Binary) {
            Insn::ByteTest(b) => b,
            _ => unreachable!(),
        };
        v.count = Operand::Var(VarSlot(1));
        let mut vars = [0i64; MAX_VARS];
        vars[1] = 2;
        assert!(byte_test(&v, &[1, 2, 3], 0, &vars));
        for bad in [0, 9, -1, i64::MAX] {
            vars[1] = bad;
            assert!(
                !byte_test(&v, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0, &vars),
                "{bad}"
            );
        }
    }

    #[test]
    fn byte_jump_bounds_follow_suricata() {
        let j = |count: i64, offset: i64, relative: bool, post_offset: i64| ByteJump {
            count: Operand::Lit(count),
            offset: Operand::Lit(offset),
            relative,
            multiplier: 1,
            endian: Endian::Big,
            base: NumBase::Binary,
            align: false,
            from_beginning: false,
            from_end: false,
            post_offset,
            bitmask: None,
            buffer: Buffer::Payload,
        };
        let vars = [0i64; MAX_VARS];
        let buf = b"NSLO\x0a\x95\x00\x20rest";
        // A jump before the buffer start lands on the start.
        assert_eq!(byte_jump(&j(0, 0, true, -8), buf, 8, &vars), Some(0));
        assert_eq!(byte_jump(&j(0, 0, true, -10), buf, 8, &vars), Some(0));
        assert_eq!(byte_jump(&j(1, 0, false, -100), buf, 0, &vars), Some(0));
        // A jump to the end (or past it) fails.
        assert_eq!(byte_jump(&j(0, 0, true, 4), buf, 8, &vars), None);
        assert_eq!(byte_jump(&j(0, 0, true, 3), buf, 8, &vars), Some(11));
        // A relative read must start inside the buffer; one of 0 bytes may start at its end.
        assert_eq!(byte_jump(&j(0, 0, true, -4), buf, 12, &vars), Some(8));
        assert_eq!(byte_jump(&j(1, 0, true, -4), buf, 12, &vars), None);
        assert_eq!(byte_jump(&j(0, 0, true, -4), buf, 13, &vars), None);
        // A string of 0 digits holds no number.
        let mut s = j(0, 0, false, 0);
        s.base = NumBase::Dec;
        assert_eq!(byte_jump(&s, b"12", 0, &vars), None);
    }

    #[test]
    fn byte_jump_and_extract_move_the_cursor() {
        // [len=3][abc][marker]
        let jump = Insn::ByteJump(ByteJump {
            count: Operand::Lit(1),
            offset: Operand::Lit(0),
            relative: false,
            multiplier: 1,
            endian: Endian::Big,
            base: NumBase::Binary,
            align: false,
            from_beginning: false,
            from_end: false,
            post_offset: 0,
            bitmask: None,
            buffer: Buffer::Payload,
        });
        let p = prog(vec![jump.clone(), content(b"MK", rel(0, Some(2)))]);
        assert!(run(&p, b"\x03abcMK"));
        assert!(!run(&p, b"\x02abcMK"));
        assert!(!run(&p, b"\x7fabcMK")); // jumps outside
                                         // The count from a variable: 2 bytes hold the length.
        let Insn::ByteJump(mut vj) = jump.clone() else {
            unreachable!()
        };
        vj.count = Operand::Var(VarSlot(0));
        let mut vars = [0i64; MAX_VARS];
        vars[0] = 2;
        assert_eq!(byte_jump(&vj, b"\x00\x03abcMK", 0, &vars), Some(5));
        // A count of 0 reads nothing: the jump stays where the read would start.
        vars[0] = 0;
        assert_eq!(byte_jump(&vj, b"\x00\x03abcMK", 0, &vars), Some(0));
        vars[0] = 9;
        assert_eq!(byte_jump(&vj, b"\x00\x03abcMK", 0, &vars), None);
        let ex = Insn::ByteExtract(ByteExtract {
            count: 1,
            offset: 0,
            slot: VarSlot(0),
            name: "n".into(),
            relative: false,
            multiplier: 1,
            endian: Endian::Big,
            base: NumBase::Binary,
            align: None,
            bitmask: None,
            buffer: Buffer::Payload,
        });
        // byte_extract n, then content at offset n (a variable operand)
        let p = prog(vec![
            ex.clone(),
            content(
                b"MK",
                Position::Absolute {
                    offset: Operand::Var(VarSlot(0)),
                    depth: Some(Operand::Lit(2)),
                },
            ),
        ]);
        assert!(run(&p, b"\x04abcMK"));
        assert!(!run(&p, b"\x03abcMK"));
        let isd = |n: i64, relative: bool, negated: bool| {
            Insn::Isdataat(Isdataat {
                offset: Operand::Lit(n),
                relative,
                negated,
                buffer: Buffer::Payload,
            })
        };
        assert!(run(
            &prog(vec![content(b"ab", abs(0, None)), isd(2, true, false)]),
            b"abcd"
        ));
        assert!(!run(
            &prog(vec![content(b"ab", abs(0, None)), isd(3, true, false)]),
            b"abcd"
        ));
        assert!(run(&prog(vec![isd(10, false, true)]), b"abcd"));
        assert!(run(&prog(vec![isd(3, false, false)]), b"abcd"));
    }

    fn pcre(pat: &str, relative: bool, caseless: bool) -> Insn {
        Insn::Pcre(verdict_compiler::ir::Pcre {
            pattern: pat.into(),
            caseless,
            dotall: false,
            multiline: false,
            extended: false,
            anchored: false,
            dollar_endonly: false,
            ungreedy: false,
            relative,
            negated: false,
            buffer: Buffer::Payload,
        })
    }

    #[test]
    fn pcre_relative_caseless_and_match_limit() {
        assert!(run(
            &prog(vec![pcre("^user\\s+\\w{3}", false, true)]),
            b"USER bob"
        ));
        // R: ^ anchors at the cursor
        let p = prog(vec![
            content(b"cmd=", abs(0, None)),
            pcre("^rm\\b", true, false),
        ]);
        assert!(run(&p, b"x cmd=rm -rf"));
        assert!(!run(&p, b"x cmd=ls; rm"));
        // Catastrophic backtracking is cut off by the match limit: no hang, no match.
        let evil = prog(vec![pcre("^(a+)+$", false, false)]);
        let mut hay = vec![b'a'; 40];
        hay.push(b'!');
        let t = std::time::Instant::now();
        let mut st = VmState::default();
        assert!(!evil.payload_ok(&hay, &mut st));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(st.pcre_limit_hits, 1, "the limit hit is counted");
        // Negated, a limit hit is no match either (Suricata: only "no match" negates).
        let mut not_evil = pcre("^(a+)+$", false, false);
        if let Insn::Pcre(p) = &mut not_evil {
            p.negated = true;
        }
        let not_evil = prog(vec![not_evil]);
        assert!(!not_evil.payload_ok(&hay, &mut st));
        assert_eq!(st.pcre_limit_hits, 2);
        assert!(not_evil.payload_ok(b"ab", &mut st));
        assert!(!not_evil.payload_ok(b"aa", &mut st));
        assert_eq!(
            st.pcre_limit_hits, 2,
            "ordinary (non-)matches are not limit hits"
        );
    }

    #[test]
    fn recursion_is_bounded() {
        // 2000 "a" then no "b": every retry fails; the step limit keeps it bounded.
        let p = prog(vec![
            content(b"a", abs(0, None)),
            content(b"a", rel(0, None)),
            content(b"b", rel(0, Some(1))),
        ]);
        let hay = vec![b'a'; 2000];
        assert!(!run(&p, &hay));
        assert!(run(&p, b"aab"));
    }

    #[test]
    fn dsize_and_flags() {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
            .tcp(1, 2, 3, 4)
            .syn()
            .write(&mut v, b"12345")
            .unwrap();
        let pkt = Packet::parse(&v).unwrap();
        assert!(header_test(&HeaderTest::Dsize(NumCmp::Eq(5)), &pkt));
        assert!(!header_test(&HeaderTest::Dsize(NumCmp::Gt(5)), &pkt));
        let f = |flags, mode| {
            HeaderTest::Flags(verdict_compiler::ir::TcpFlags {
                flags,
                mode,
                ignore: 0,
            })
        };
        assert!(header_test(&f(2, FlagMode::Exact), &pkt));
        assert!(!header_test(&f(0x12, FlagMode::Exact), &pkt));
        assert!(header_test(&f(0x12, FlagMode::Any), &pkt));
        assert!(header_test(&HeaderTest::Ttl(NumCmp::Eq(64)), &pkt));
    }

    fn decode(bytes: Option<u32>, offset: u32, relative: bool) -> Insn {
        Insn::Base64Decode(verdict_compiler::ir::Base64Decode {
            bytes,
            offset,
            relative,
            buffer: Buffer::Payload,
        })
    }
    fn decoded(p: &[u8], position: Position) -> Insn {
        super::on_base64_data(content(p, position))
    }

    #[test]
    fn base64_data_runs_on_what_base64_decode_decoded() {
        let p = prog(vec![
            content(b"auth=", abs(0, None)),
            decode(None, 0, true),
            decoded(b"admin", abs(0, Some(5))),
        ]);
        // "admin:pw" in base64 after "auth=".
        let mut st = VmState::default();
        assert!(p.payload_ok(b"x auth=YWRtaW46cHc=\r\nrest", &mut st));
        // The path holds the anchor, the encoded bytes read (up to the line break), and the
        // decoded match, which only `reads_decoded` tells apart.
        let hits: Vec<(u16, u32, u32)> = st.path.iter().map(|h| (h.op, h.start, h.end)).collect();
        assert_eq!(hits, vec![(0, 2, 7), (1, 7, 19), (2, 0, 5)]);
        assert!(!p.reads_decoded(1) && p.reads_decoded(2));
        // "guest:pw", and nothing decodable, fail.
        assert!(!run(&p, b"auth=Z3Vlc3Q6cHc="));
        assert!(!run(&p, b"auth=%%%%"));
        // The first "auth=" fails, the relative decode retries at the next one.
        assert!(run(&p, b"auth=Z3Vlc3Q6cHc= auth=YWRtaW46cHc="));
        // `bytes` bounds what is decoded: 4 characters are "adm" only.
        let short = prog(vec![
            content(b"auth=", abs(0, None)),
            decode(Some(4), 0, true),
            decoded(b"admin", abs(0, None)),
        ]);
        assert!(!run(&short, b"auth=YWRtaW46cHc="));
        // `offset` past the end decodes nothing.
        let far = prog(vec![decode(None, 40, false), decoded(b"a", abs(0, None))]);
        assert!(!run(&far, b"YWRtaW46cHc="));
    }

    #[test]
    fn base64_data_needs_one_decode_outside_it() {
        let load = |ops: Vec<Insn>| CompiledProgram::new(&super::test_program(ops)).is_ok();
        assert!(!load(vec![decoded(b"a", abs(0, None))]));
        assert!(!load(vec![
            decode(None, 0, false),
            decode(None, 0, false),
            decoded(b"a", abs(0, None)),
        ]));
        assert!(load(vec![
            decode(None, 0, false),
            decoded(b"a", abs(0, None))
        ]));
    }

    #[test]
    fn asn1_reads_from_the_cursor() {
        let a = |relative, offset| {
            Insn::Asn1(verdict_compiler::ir::Asn1 {
                bitstring_overflow: true,
                double_overflow: false,
                oversize_length: None,
                offset,
                relative,
                buffer: Buffer::Payload,
            })
        };
        let p = prog(vec![content(b"AA", abs(0, None)), a(true, 0)]);
        assert!(run(&p, b"xAA\x03\x01\xFF"));
        assert!(!run(&p, b"xAA\x03\x01\x07"));
        // Retried at the next "AA" when the element after the first is well formed.
        assert!(run(&p, b"AA\x03\x01\x07AA\x03\x01\xFF"));
        let abs_p = prog(vec![a(false, 1)]);
        assert!(run(&abs_p, b"x\x03\x01\xFF"));
        assert!(!run(&abs_p, b"\x03\x01\xFF"));
    }
}

#[cfg(test)]
mod fuzz;

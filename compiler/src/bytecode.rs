//! The bytecode the engine's VM runs for queued rules: one [`Program`] per rule, in a
//! versioned, serde-serialized [`RuleSetImage`].
//!
//! A program is the rule's tests in evaluation order, cheapest first: header tests, flow
//! state, flowbit checks, then the payload tests in rule order (their order carries the
//! Snort/Suricata cursor semantics of distance/within/relative), then the post-match
//! effects (flowbit set/unset/toggle, noalert). Strings are interned where the VM would
//! otherwise compare them per packet (flowbit names become indices).

use crate::ir::{
    Action, AppProto, BitsOp, BlockOnMatch, Buffer, ByteExtract, ByteJump, ByteMath, ByteTest,
    DetectionFilter, FlowOpts, Gid, HeaderTest, IpSet, Isdataat, NumCmp, Pcre, PortSet, Position,
    Sid, StreamSize, Threshold,
};
use serde::{Deserialize, Serialize};

/// Format version; bump on any incompatible change to these types.
pub const BYTECODE_VERSION: u32 = 11;

/// Index of a flowbit name in [`RuleSetImage::flowbits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlowbitId(pub u16);

/// Transport the program applies to (app protocols are carried separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum L4 {
    /// any IP packet
    Any,
    /// TCP
    Tcp,
    /// UDP
    Udp,
    /// ICMP v4 or v6
    Icmp,
    /// ICMPv6 only
    Icmpv6,
    /// SCTP
    Sctp,
}

/// The content the prefilter looks for on behalf of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FastPatternRef {
    /// Bytes fed to the multi-pattern matcher.
    pub bytes: Vec<u8>,
    /// Case-insensitive.
    pub nocase: bool,
    /// Buffer it must be found in.
    pub buffer: Buffer,
    /// `fast_pattern:only`: no confirmation of this content is needed after the prefilter hit.
    pub only: bool,
    /// Index into `Program::ops` of the content this came from.
    pub op_index: u16,
}

/// One VM instruction. Tests fail the program when false; effects run only after every test
/// passed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Insn {
    /// A header field test.
    Header(HeaderTest),
    /// `flowbits:isset`/`isnotset` with one or more bits.
    FlowbitsTest {
        /// true: isset, false: isnotset
        set: bool,
        /// bits
        bits: Vec<FlowbitId>,
        /// how bits combine
        op: BitsOp,
    },
    /// content test (cursor semantics per `position`).
    Content {
        /// bytes
        pattern: Vec<u8>,
        /// case-insensitive
        nocase: bool,
        /// `!`
        negated: bool,
        /// buffer
        buffer: Buffer,
        /// anchoring
        position: Position,
        /// the match must end at the buffer's end (`endswith`)
        ends_with: bool,
        /// replace bytes, equal length
        replace: Option<Vec<u8>>,
    },
    /// pcre test.
    Pcre(Pcre),
    /// byte_test.
    ByteTest(ByteTest),
    /// byte_jump (moves the cursor).
    ByteJump(ByteJump),
    /// byte_extract (writes a variable, moves the cursor).
    ByteExtract(ByteExtract),
    /// isdataat.
    Isdataat(Isdataat),
    /// `absent`: the buffer is absent, or with `or_else` present and the next ops match.
    Absent {
        /// `or_else`
        or_else: bool,
        /// buffer
        buffer: Buffer,
    },
    /// bsize/urilen on a buffer.
    BufferSize {
        /// comparison
        cmp: NumCmp,
        /// buffer
        buffer: Buffer,
    },
    /// Effect: `flowbits:set|unset|toggle`.
    FlowbitsSet {
        /// `Set`, `Unset` or `Toggle` (as ir::FlowbitCmd)
        cmd: crate::ir::FlowbitCmd,
        /// bits
        bits: Vec<FlowbitId>,
    },
    /// Effect: `flowbits:reset` (clear every bit of the flow).
    FlowbitsReset,
    /// Effect: `flowbits:noalert`: the rule's effects happen, but no alert/action.
    NoAlert,
    /// Effect: `alert` on a `pass` rule: the pass is logged as an alert too.
    PassAlert,
    /// `stream_size`: a test on the TCP session's sequence progress.
    StreamSize(StreamSize),
    /// `xbits`: isset/isnotset among the tests, set/unset/toggle among the effects.
    Xbits(crate::ir::Xbits),
    /// `flowint`: comparisons among the tests, `=`/`+`/`-` among the effects.
    Flowint(crate::ir::Flowint),
    /// `app-layer-protocol`: a test on the flow's protocol detection.
    AppProto {
        /// The keyword.
        test: crate::keywords::app_proto::AppLayerProtocol,
        /// The rule tests nothing else: it matches only on the packet that completed a
        /// direction's detection.
        pd_only: bool,
    },
    /// byte_math (writes a variable, moves the cursor).
    ByteMath(ByteMath),
    /// dataset: membership of the whole (transformed) buffer; `set` adds it.
    Dataset(crate::ir::Dataset),
    /// A transaction predicate on a decoded app-layer value (`dns.opcode`, `tls.version`, …).
    Tx(crate::ir::TxPred),
    /// `base64_decode`: decodes part of its buffer; the program's `base64_data` ops then run
    /// on the decoded bytes, and the buffer's inspection ends there.
    Base64Decode(crate::ir::Base64Decode),
    /// `asn1`: BER checks on the buffer from an absolute or cursor-relative position.
    Asn1(crate::ir::Asn1),
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Program {
    /// sid
    pub sid: Sid,
    /// gid
    pub gid: Gid,
    /// rev
    pub rev: u32,
    /// action
    pub action: Action,
    /// msg
    pub msg: String,
    /// classtype
    pub classtype: Option<String>,
    /// priority (severity)
    pub priority: Option<u32>,
    /// transport
    pub l4: L4,
    /// app-layer protocol, if the header named one
    pub app: Option<AppProto>,
    /// source addresses
    pub src: IpSet,
    /// source ports
    pub src_ports: PortSet,
    /// destination addresses
    pub dst: IpSet,
    /// destination ports
    pub dst_ports: PortSet,
    /// `<>`
    pub bidirectional: bool,
    /// `=>`: the header names the client as source and the server as destination whatever
    /// the direction of the packet that completes the transaction.
    pub transactional: bool,
    /// `=>`: the side each selection of a two-sided buffer reads.
    pub tx_dirs: Vec<crate::ir::TxDirSelection>,
    /// flow options
    pub flow: FlowOpts,
    /// prefilter pattern, if any
    pub fast_pattern: Option<FastPatternRef>,
    /// instructions, tests first, then effects
    pub ops: Vec<Insn>,
    /// transform chains on buffers the ops read (applied before the ops run)
    pub transforms: Vec<crate::ir::BufferTransforms>,
    /// threshold
    pub threshold: Option<Threshold>,
    /// detection_filter
    pub detection_filter: Option<DetectionFilter>,
    /// block the attacker on match
    pub block: Option<BlockOnMatch>,
    /// `tag`: packets to log after the program fires
    #[serde(default)]
    pub tags: Vec<crate::ir::Tag>,
    /// human-readable strategy, e.g. "prefilter \"GET\" -> confirm 3 ops -> pcre"
    pub strategy: String,
}

/// A whole compiled rule set for the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSetImage {
    /// Must equal [`BYTECODE_VERSION`].
    pub version: u32,
    /// Programs, in rule-file order.
    pub programs: Vec<Program>,
    /// Interned flowbit names.
    pub flowbits: Vec<String>,
    /// What `verdict run` needs besides the programs (the kernel half and the rules' files):
    /// written by `verdict compile`, absent from images built in memory.
    pub live: Option<LiveSection>,
}

/// The kernel half of a compiled rule set and what the operator's switches need of the
/// rules, so that `verdict run -r rules.vbc` loads the same table and detection as from text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSection {
    /// The kernel plan's NFLOG group.
    pub log_group: u16,
    /// The kernel plan's rules, in evaluation order. (The plan is kept by its parts: its
    /// bypass lists are `run`'s config, and skipped when empty, which bincode cannot read.)
    pub rules: Vec<crate::kernel::KernelRule>,
    /// The kernel plan's steering.
    pub steering: Vec<crate::kernel::SteerRule>,
    /// The kernel plan's prefilter steering (`--kernel-prefilter`).
    pub prefilter: Vec<crate::prefilter::PatternSteer>,
    /// Compiled with `--xt-string`: some rules became string-match rules, not programs.
    pub xt_string: bool,
    /// The steering mode compiled for (`ports`, `all-tcp`, `all`).
    pub steer: String,
    /// Programs of the kernel rules, which the engine runs on the packets inside tunnels
    /// (the kernel sees only their outer headers).
    pub kernel_programs: Vec<Program>,
    /// One entry per rule that runs in the kernel.
    pub kernel_rules: Vec<KernelRuleMeta>,
    /// The rule files read, for per-rule-set modes.
    pub files: Vec<String>,
    /// Index into `files` of each program's rule, parallel to `programs`.
    pub program_files: Vec<u32>,
}

impl KernelRuleMeta {
    /// What a kernel rule's alerts need of `r`, read from rule file number `file`.
    pub fn of(r: &crate::ir::Rule, file: u32) -> KernelRuleMeta {
        KernelRuleMeta {
            sid: r.meta.sid,
            gid: r.meta.gid,
            rev: r.meta.rev,
            msg: r.meta.msg.clone(),
            classtype: r.meta.classtype.clone(),
            priority: r.meta.priority,
            action: r.action,
            threshold: r.threshold,
            detection_filter: r.detection_filter,
            drops_flow: r.header.is_empty() && r.payload.is_empty(),
            file,
        }
    }
}

/// What the alerts of a kernel rule and the operator's switches need of its IR rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelRuleMeta {
    /// sid
    pub sid: Sid,
    /// gid
    pub gid: Gid,
    /// rev
    pub rev: u32,
    /// msg
    pub msg: String,
    /// classtype
    pub classtype: Option<String>,
    /// priority
    pub priority: Option<u32>,
    /// The rule's own action (the plan may show a weaker one for a rule in IDS mode).
    pub action: Action,
    /// The rule's own threshold (threshold.config may replace it at run time).
    pub threshold: Option<Threshold>,
    /// detection_filter
    pub detection_filter: Option<DetectionFilter>,
    /// The rule matches every packet of its header (no header or payload option): its drop
    /// ends the flow's inspection.
    pub drops_flow: bool,
    /// Index into [`LiveSection::files`].
    pub file: u32,
}

/// Why a bytecode image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Wrong version.
    #[error("bytecode version {found} is not supported (this build reads version {expected}); recompile the rules")]
    Version {
        /// found
        found: u32,
        /// expected
        expected: u32,
    },
    /// Corrupt data.
    #[error("bytecode image is corrupt: {0}")]
    Corrupt(String),
}

/// Magic prefix of a serialized image.
pub const IMAGE_MAGIC: &[u8; 8] = b"VRDCTBC\0";

impl RuleSetImage {
    /// Serializes the image (magic + bincode).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = IMAGE_MAGIC.to_vec();
        out.extend(bincode::serialize(self).expect("bytecode types are always serializable"));
        out
    }
    /// Deserializes and checks the version.
    pub fn from_bytes(bytes: &[u8]) -> Result<RuleSetImage, ImageError> {
        let body = bytes
            .strip_prefix(IMAGE_MAGIC.as_slice())
            .ok_or_else(|| ImageError::Corrupt("missing magic header".into()))?;
        // The version is the first field: read it alone first so an old image gives a clear
        // version error instead of a decode error.
        let version: u32 = bincode::deserialize(body.get(..4).unwrap_or(&[]))
            .map_err(|e| ImageError::Corrupt(e.to_string()))?;
        if version != BYTECODE_VERSION {
            return Err(ImageError::Version {
                found: version,
                expected: BYTECODE_VERSION,
            });
        }
        bincode::deserialize(body).map_err(|e| ImageError::Corrupt(e.to_string()))
    }
}

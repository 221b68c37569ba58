//! State a rule reads or writes outside the packet: `stream_size` (TCP sequence progress),
//! `xbits` (bits per host or host pair, with expiry) and `flowint` (integers per flow).
//! Tests run with the flowbit tests, before the payload; effects run after the rule matched,
//! with the flowbit effects — Suricata's match and post-match lists.
//!
//! - `stream_size` compares Suricata's `next_seq - isn` of the named direction: 1 for the SYN
//!   (or, for a flow picked up midstream, for the byte before the first one seen) plus the
//!   bytes the reassembler has delivered in order, truncated to 32 bits as sequence numbers
//!   are. A direction that has sent nothing has 0. Unlike Suricata, the FIN's sequence number
//!   is not counted. A packet not tracked as a TCP stream (UDP, a flow without its handshake
//!   while midstream pickup is off) never matches.
//! - `xbits` live per worker. The kernel's queue balancing hashes a packet's address pair
//!   (source xor destination) and protocol, so every packet between two hosts over one
//!   transport reaches the same worker: `ip_pair` bits behave as Suricata's within a
//!   protocol, and a host bit (`ip_src`/`ip_dst`) is seen by the traffic of the address
//!   pairs that share the worker that set it. The store holds at most
//!   [`MAX_XBITS`] live bits per worker; when it is full, expired bits are purged and a new
//!   bit that still does not fit is not set.
//! - `flowint` values are `u32` and wrap as Suricata's do: `+` on an unset variable sets it,
//!   `-` on an unset one does nothing, comparisons with an unset variable fail, and a value
//!   naming an unset variable reads 0.
//!
//! Names are interned process-wide, so a reloaded rule set keeps reading the bits and
//! integers the flows and hosts already carry.

use crate::flow::Flow;
use crate::session::{Detection, DirProto};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use verdict_compiler::bytecode::Insn;
use verdict_compiler::ir::{
    AppProto, FlowbitCmd, FlowintOp, FlowintValue, NumCmp, StreamSide, XbitTrack,
};
use verdict_compiler::keywords::app_proto::{AlpMode, AlpValue};

/// Most live xbits one worker keeps.
pub const MAX_XBITS: usize = 65_536;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Space {
    Xbit,
    Flowint,
}

/// The id of `name` in its namespace, stable for the life of the process.
fn intern(space: Space, name: &str) -> u32 {
    static NAMES: OnceLock<Mutex<HashMap<(Space, String), u32>>> = OnceLock::new();
    let mut m = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let next = u32::try_from(m.len()).unwrap_or(u32::MAX);
    *m.entry((space, name.to_string())).or_insert(next)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntVal {
    Lit(u32),
    Var(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StreamSize {
        side: StreamSide,
        cmp: NumCmp,
    },
    Xbit {
        cmd: XbitCmd,
        id: u32,
        track: XbitTrack,
        expire: Duration,
    },
    Flowint {
        id: u32,
        op: FlowintOp,
        value: Option<IntVal>,
    },
    AppProto {
        /// One bit per value ([`alp_bit`]).
        values: u64,
        negated: bool,
        mode: AlpMode,
        pd_only: bool,
    },
}

/// Bit of `Failed` and `Unknown` in a value set; protocols take the bits of their index
/// in [`AppProto::ALL`].
const ALP_FAILED: u64 = 1 << 62;
const ALP_UNKNOWN: u64 = 1 << 63;

fn proto_bit(p: AppProto) -> u64 {
    AppProto::ALL
        .iter()
        .position(|&a| a == p)
        .map_or(0, |i| 1u64 << (i & 63))
}

/// The bit a detection result sets.
fn alp_bit(d: DirProto) -> u64 {
    match d {
        DirProto::Unknown => ALP_UNKNOWN,
        DirProto::Failed => ALP_FAILED,
        DirProto::Known(p) => proto_bit(p),
    }
}

/// The bits a rule's values match; `http` also matches HTTP/2, as Suricata's umbrella.
fn alp_values(values: &[AlpValue]) -> u64 {
    values.iter().fold(0, |m, v| {
        m | match *v {
            AlpValue::Failed => ALP_FAILED,
            AlpValue::Unknown => ALP_UNKNOWN,
            AlpValue::Proto(AppProto::Http) => {
                proto_bit(AppProto::Http) | proto_bit(AppProto::Http2)
            }
            AlpValue::Proto(p) => proto_bit(p),
        }
    })
}

/// `app-layer-protocol` on one packet, as Suricata's `DetectAppLayerProtocolPacketMatch`.
fn alp_ok(values: u64, negated: bool, mode: AlpMode, pd_only: bool, a: &AlpFacts) -> bool {
    if pd_only && !a.pd_done {
        return false;
    }
    let det = if pd_only { a.pd_det } else { a.det };
    let [ts, tc] = det.dirs;
    let hit = |d: DirProto| values & alp_bit(d) != 0;
    let r = if mode == AlpMode::Either {
        // A negated test never matches before detection concluded.
        if negated && ts == DirProto::Unknown && tc == DirProto::Unknown {
            return false;
        }
        hit(ts) || hit(tc)
    } else {
        let d = match mode {
            AlpMode::Direction if a.to_server => ts,
            AlpMode::Direction => tc,
            AlpMode::ToServer => ts,
            AlpMode::ToClient => tc,
            AlpMode::Final => det.flow,
            // verdict never changes a flow's protocol: there is no earlier one.
            AlpMode::Original | AlpMode::Either => DirProto::Unknown,
        };
        if negated && d == DirProto::Unknown {
            return false;
        }
        hit(d)
    };
    r != negated
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XbitCmd {
    IsSet,
    IsNotSet,
    Set,
    Unset,
    Toggle,
}

/// A program's state tests and effects, names resolved to ids.
#[derive(Debug, Default)]
pub struct StateOps {
    tests: Vec<Op>,
    effects: Vec<Op>,
}

impl StateOps {
    /// Adds a `StreamSize`/`Xbits`/`Flowint` instruction (others are ignored); true if it is
    /// an effect, i.e. the program writes state that other rules may test.
    pub fn push(&mut self, insn: &Insn) -> bool {
        let op = match insn {
            Insn::StreamSize(s) => Op::StreamSize {
                side: s.side,
                cmp: s.cmp,
            },
            Insn::Xbits(x) => Op::Xbit {
                cmd: match x.cmd {
                    FlowbitCmd::IsSet => XbitCmd::IsSet,
                    FlowbitCmd::IsNotSet => XbitCmd::IsNotSet,
                    FlowbitCmd::Unset => XbitCmd::Unset,
                    FlowbitCmd::Toggle => XbitCmd::Toggle,
                    _ => XbitCmd::Set,
                },
                id: intern(Space::Xbit, &x.name),
                track: x.track,
                expire: Duration::from_secs(u64::from(x.expire)),
            },
            Insn::Flowint(f) => Op::Flowint {
                id: intern(Space::Flowint, &f.name),
                op: f.op,
                value: f.value.as_ref().map(|v| match v {
                    FlowintValue::Lit(n) => IntVal::Lit(*n),
                    FlowintValue::Var(n) => IntVal::Var(intern(Space::Flowint, n)),
                }),
            },
            Insn::AppProto { test, pd_only } => Op::AppProto {
                values: alp_values(&test.values),
                negated: test.negated,
                mode: test.mode,
                pd_only: *pd_only,
            },
            _ => return false,
        };
        let effect = match op {
            Op::StreamSize { .. } | Op::AppProto { .. } => false,
            Op::Xbit { cmd, .. } => !matches!(cmd, XbitCmd::IsSet | XbitCmd::IsNotSet),
            Op::Flowint { op, .. } => op.is_effect(),
        };
        if effect {
            self.effects.push(op);
        } else {
            self.tests.push(op);
        }
        effect
    }

    /// True if there is nothing to test or do.
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty() && self.effects.is_empty()
    }
}

/// What the state tests know about the packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    /// Sequence progress `[client, server]` of a tracked TCP stream.
    pub stream: Option<[u32; 2]>,
    /// Source address key.
    pub src: u128,
    /// Destination address key.
    pub dst: u128,
    /// Packet time.
    pub now: Duration,
    /// Protocol detection, for `app-layer-protocol`.
    pub alp: AlpFacts,
}

/// What `app-layer-protocol` reads about a packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlpFacts {
    /// Detection's results for the data this packet's inspection reads (the engine has run
    /// detection on every byte it inspects).
    pub det: Detection,
    /// The results as protocol-detection-only rules see them: as an IDS, those Suricata
    /// knows on this packet (a direction's once the peer acknowledged its data).
    pub pd_det: Detection,
    /// The packet goes client to server.
    pub to_server: bool,
    /// The packet completed some direction's detection in the `pd_det` view.
    pub pd_done: bool,
}

/// Suricata's `next_seq - isn` of one direction (see the module docs).
pub fn progress(session: &crate::session::Session, to_server: bool) -> u32 {
    let h = session.half(to_server);
    if !h.is_synchronized() {
        return 0;
    }
    // Sequence numbers are 32 bits: the progress wraps with them, as Suricata's does.
    (h.contiguous_end().wrapping_add(1) & u64::from(u32::MAX)) as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Host(u128),
    Pair(u128, u128),
}

fn key(track: XbitTrack, f: &Facts) -> Key {
    match track {
        XbitTrack::IpSrc => Key::Host(f.src),
        XbitTrack::IpDst => Key::Host(f.dst),
        XbitTrack::IpPair => Key::Pair(f.src.min(f.dst), f.src.max(f.dst)),
    }
}

/// One worker's xbits: (name id, host or pair) → expiry time.
#[derive(Debug, Default)]
pub struct XbitStore {
    live: HashMap<(u32, Key), Duration>,
}

impl XbitStore {
    fn is_set(&self, id: u32, k: Key, now: Duration) -> bool {
        self.live.get(&(id, k)).is_some_and(|exp| *exp > now)
    }

    fn set(&mut self, id: u32, k: Key, until: Duration, now: Duration) {
        if self.live.len() >= MAX_XBITS && !self.live.contains_key(&(id, k)) {
            self.live.retain(|_, exp| *exp > now);
            if self.live.len() >= MAX_XBITS {
                return;
            }
        }
        self.live.insert((id, k), until);
    }

    /// Bits held (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True if no bit is held.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

fn flowint(flow: &Flow, id: u32) -> Option<u32> {
    flow.ints.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
}

fn set_flowint(flow: &mut Flow, id: u32, v: u32) {
    match flow.ints.iter_mut().find(|(i, _)| *i == id) {
        Some(slot) => slot.1 = v,
        None => flow.ints.push((id, v)),
    }
}

fn operand(flow: &Flow, v: Option<IntVal>) -> u32 {
    match v {
        Some(IntVal::Lit(n)) => n,
        Some(IntVal::Var(id)) => flowint(flow, id).unwrap_or(0),
        None => 0,
    }
}

/// True if every state test of `ops` holds for this packet.
pub fn tests_ok(ops: &StateOps, flow: &Flow, xbits: &XbitStore, f: &Facts) -> bool {
    ops.tests.iter().all(|op| match *op {
        Op::StreamSize { side, cmp } => f.stream.is_some_and(|[c, s]| {
            let (c, s) = (cmp.test(u64::from(c)), cmp.test(u64::from(s)));
            match side {
                StreamSide::Client => c,
                StreamSide::Server => s,
                StreamSide::Both => c && s,
                StreamSide::Either => c || s,
            }
        }),
        Op::AppProto {
            values,
            negated,
            mode,
            pd_only,
        } => alp_ok(values, negated, mode, pd_only, &f.alp),
        Op::Xbit { cmd, id, track, .. } => {
            xbits.is_set(id, key(track, f), f.now) == (cmd == XbitCmd::IsSet)
        }
        Op::Flowint { id, op, value } => {
            let cur = flowint(flow, id);
            let t = operand(flow, value);
            match (op, cur) {
                (FlowintOp::IsSet, c) => c.is_some(),
                (FlowintOp::NotSet, c) => c.is_none(),
                (_, None) => false,
                (FlowintOp::Eq, Some(c)) => c == t,
                (FlowintOp::Ne, Some(c)) => c != t,
                (FlowintOp::Lt, Some(c)) => c < t,
                (FlowintOp::Le, Some(c)) => c <= t,
                (FlowintOp::Gt, Some(c)) => c > t,
                (FlowintOp::Ge, Some(c)) => c >= t,
                // Effects are never among the tests.
                (FlowintOp::Set | FlowintOp::Add | FlowintOp::Sub, Some(_)) => true,
            }
        }
    })
}

/// Runs the state effects of a matched rule.
pub fn apply(ops: &StateOps, flow: &mut Flow, xbits: &mut XbitStore, f: &Facts) {
    for op in &ops.effects {
        match *op {
            Op::StreamSize { .. } | Op::AppProto { .. } => {}
            Op::Xbit {
                cmd,
                id,
                track,
                expire,
            } => {
                let k = key(track, f);
                let until = f.now.saturating_add(expire);
                match cmd {
                    XbitCmd::Set => xbits.set(id, k, until, f.now),
                    XbitCmd::Unset => {
                        xbits.live.remove(&(id, k));
                    }
                    XbitCmd::Toggle => {
                        if xbits.is_set(id, k, f.now) {
                            xbits.live.remove(&(id, k));
                        } else {
                            xbits.set(id, k, until, f.now);
                        }
                    }
                    XbitCmd::IsSet | XbitCmd::IsNotSet => {}
                }
            }
            Op::Flowint { id, op, value } => {
                let t = operand(flow, value);
                let new = match (op, flowint(flow, id)) {
                    (FlowintOp::Set, _) => Some(t),
                    (FlowintOp::Add, Some(c)) => Some(c.wrapping_add(t)),
                    (FlowintOp::Add, None) => Some(t),
                    (FlowintOp::Sub, Some(c)) => Some(c.wrapping_sub(t)),
                    _ => None,
                };
                if let Some(v) = new {
                    set_flowint(flow, id, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::{Flowint, StreamSize, Xbits};

    fn ops(insns: &[Insn]) -> StateOps {
        let mut s = StateOps::default();
        for i in insns {
            s.push(i);
        }
        s
    }

    fn with_flow(f: impl FnOnce(&mut Flow)) {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
            .udp(1000, 53)
            .write(&mut v, b"x")
            .unwrap();
        let mut t = crate::flow::FlowTable::new(Default::default(), 0, 0);
        let p = crate::wire::Packet::parse(&v).unwrap();
        f(t.update(&p, Duration::ZERO).0)
    }

    fn fi(name: &str, op: FlowintOp, value: Option<FlowintValue>) -> Insn {
        Insn::Flowint(Flowint {
            name: name.into(),
            op,
            value,
        })
    }

    fn xb(cmd: FlowbitCmd, name: &str, track: XbitTrack, expire: u32) -> Insn {
        Insn::Xbits(Xbits {
            cmd,
            name: name.into(),
            track,
            expire,
        })
    }

    const A: Facts = Facts {
        stream: None,
        src: 1,
        dst: 2,
        now: Duration::from_secs(100),
        alp: AlpFacts {
            det: Detection {
                dirs: [DirProto::Unknown; 2],
                flow: DirProto::Unknown,
            },
            pd_det: Detection {
                dirs: [DirProto::Unknown; 2],
                flow: DirProto::Unknown,
            },
            to_server: true,
            pd_done: false,
        },
    };

    #[test]
    fn app_layer_protocol_follows_suricata() {
        use verdict_compiler::keywords::app_proto::parse;
        let raw = |text: &str, pd_only: bool, alp: AlpFacts| {
            let o = ops(&[Insn::AppProto {
                test: parse(text).unwrap(),
                pd_only,
            }]);
            let xs = XbitStore::default();
            let mut r = false;
            with_flow(|flow| r = tests_ok(&o, flow, &xs, &Facts { alp, ..A }));
            r
        };
        // Inline, protocol-only rules see what the others see.
        let t = |text: &str, pd_only: bool, alp: AlpFacts| {
            raw(
                text,
                pd_only,
                AlpFacts {
                    pd_det: alp.det,
                    ..alp
                },
            )
        };
        let http = DirProto::Known(AppProto::Http);
        let unknown = A.alp;
        // Client spoke HTTP; the server has not answered yet.
        let req = AlpFacts {
            det: Detection {
                dirs: [http, DirProto::Unknown],
                flow: http,
            },
            pd_det: Detection::default(),
            to_server: true,
            pd_done: true,
        };
        let reply = AlpFacts {
            to_server: false,
            pd_done: false,
            ..req
        };
        assert!(t("http", false, req) && t("http", true, req));
        assert!(!t(
            "http",
            true,
            AlpFacts {
                pd_done: false,
                ..req
            }
        ));
        // The packet's direction: the reply direction is not detected yet.
        assert!(!t("http", false, reply) && t("http,final", false, reply));
        assert!(t("http,either", false, reply) && t("http,to_server", false, reply));
        assert!(!t("http,to_client", false, reply) && !t("http,original", false, req));
        // Negation never matches an unconcluded result.
        assert!(!t("!tls", false, unknown) && !t("!tls", false, reply));
        assert!(t("!tls", false, req) && !t("!http", false, req) && t("!tls,either", false, reply));
        assert!(!t("!http,either", false, reply) && !t("!tls,either", false, unknown));
        assert!(t("unknown", false, unknown) && t("unknown", false, reply));
        assert!(t("tls,http,dns", false, req) && !t("!tls,http", false, req));
        let failed = AlpFacts {
            det: Detection {
                dirs: [DirProto::Failed; 2],
                flow: DirProto::Failed,
            },
            ..req
        };
        assert!(t("failed", true, failed) && t("!http", false, failed));
        assert!(!t("failed", false, req) && !t("!failed", false, unknown));
        // `http` covers HTTP/2, as Suricata's umbrella name.
        let h2 = DirProto::Known(AppProto::Http2);
        let h2 = AlpFacts {
            det: Detection {
                dirs: [h2, h2],
                flow: h2,
            },
            ..req
        };
        assert!(t("http", false, h2) && !t("http2", false, req));
        // As an IDS, protocol-only rules read what Suricata knows on the packet, the others
        // what the engine detected on the data they inspect.
        let ids = AlpFacts {
            pd_det: Detection {
                dirs: [DirProto::Unknown, http],
                flow: http,
            },
            ..req
        };
        assert!(raw("http", false, ids) && !raw("http", true, ids));
        assert!(raw("http,to_client", true, ids) && !raw("http,to_client", false, ids));
    }

    #[test]
    fn flowint_follows_suricata() {
        use FlowintOp::*;
        let lit = |n| Some(FlowintValue::Lit(n));
        let mut xs = XbitStore::default();
        with_flow(|flow| {
            let t = |insns: &[Insn], flow: &Flow| {
                tests_ok(&ops(insns), flow, &XbitStore::default(), &A)
            };
            assert!(t(&[fi("c", NotSet, None)], flow));
            assert!(!t(&[fi("c", IsSet, None)], flow));
            // A comparison with an unset variable fails, whatever the operator.
            assert!(!t(&[fi("c", Ne, lit(5))], flow));
            // `-` on an unset variable does nothing; `+` sets it.
            apply(&ops(&[fi("c", Sub, lit(1))]), flow, &mut xs, &A);
            assert!(t(&[fi("c", NotSet, None)], flow));
            apply(&ops(&[fi("c", Add, lit(3))]), flow, &mut xs, &A);
            apply(&ops(&[fi("c", Add, lit(4))]), flow, &mut xs, &A);
            assert!(t(&[fi("c", Eq, lit(7)), fi("c", IsSet, None)], flow));
            assert!(t(
                &[
                    fi("c", Gt, lit(6)),
                    fi("c", Le, lit(7)),
                    fi("c", Lt, lit(8))
                ],
                flow
            ));
            assert!(!t(&[fi("c", Ge, lit(8))], flow));
            // A variable operand reads 0 while unset.
            let var = Some(FlowintValue::Var("other".into()));
            assert!(t(&[fi("c", Gt, var.clone())], flow));
            apply(&ops(&[fi("other", Set, lit(7))]), flow, &mut xs, &A);
            assert!(t(&[fi("c", Eq, var.clone())], flow));
            // u32 wraps, as Suricata's does.
            apply(&ops(&[fi("c", Sub, lit(8))]), flow, &mut xs, &A);
            assert!(t(&[fi("c", Eq, lit(u32::MAX))], flow));
        });
    }

    #[test]
    fn xbits_by_host_and_pair_expire() {
        let mut xs = XbitStore::default();
        with_flow(|flow| {
            let set = ops(&[xb(FlowbitCmd::Set, "p", XbitTrack::IpSrc, 10)]);
            assert!(!set.is_empty());
            apply(&set, flow, &mut xs, &A);
            let isset_dst = ops(&[xb(FlowbitCmd::IsSet, "p", XbitTrack::IpDst, 30)]);
            let isset_src = ops(&[xb(FlowbitCmd::IsSet, "p", XbitTrack::IpSrc, 30)]);
            // The reply (source and destination swapped) sees the host bit on its destination.
            let reply = Facts {
                src: 2,
                dst: 1,
                ..A
            };
            assert!(tests_ok(&isset_dst, flow, &xs, &reply));
            assert!(!tests_ok(&isset_dst, flow, &xs, &A));
            assert!(tests_ok(&isset_src, flow, &xs, &A));
            // Other names are other bits; the bit is gone once it expires.
            assert!(!tests_ok(
                &ops(&[xb(FlowbitCmd::IsSet, "q", XbitTrack::IpSrc, 30)]),
                flow,
                &xs,
                &A
            ));
            let later = Facts {
                now: Duration::from_secs(110),
                ..A
            };
            assert!(!tests_ok(&isset_src, flow, &xs, &later));
            assert!(tests_ok(
                &ops(&[xb(FlowbitCmd::IsNotSet, "p", XbitTrack::IpSrc, 30)]),
                flow,
                &xs,
                &later
            ));
            // A pair bit is the same bit in both directions; toggle and unset clear it.
            let pair = |cmd| ops(&[xb(cmd, "pp", XbitTrack::IpPair, 30)]);
            apply(&pair(FlowbitCmd::Toggle), flow, &mut xs, &A);
            assert!(tests_ok(&pair(FlowbitCmd::IsSet), flow, &xs, &reply));
            apply(&pair(FlowbitCmd::Toggle), flow, &mut xs, &reply);
            assert!(tests_ok(&pair(FlowbitCmd::IsNotSet), flow, &xs, &A));
            apply(&pair(FlowbitCmd::Set), flow, &mut xs, &A);
            apply(&pair(FlowbitCmd::Unset), flow, &mut xs, &reply);
            assert!(tests_ok(&pair(FlowbitCmd::IsNotSet), flow, &xs, &A));
        });
    }

    #[test]
    fn xbit_store_is_bounded() {
        let mut xs = XbitStore::default();
        for i in 0..MAX_XBITS as u128 {
            xs.set(0, Key::Host(i), Duration::from_secs(5), Duration::ZERO);
        }
        // Full of live bits: a new one is not set.
        xs.set(
            0,
            Key::Host(u128::MAX),
            Duration::from_secs(5),
            Duration::ZERO,
        );
        assert_eq!(xs.len(), MAX_XBITS);
        assert!(!xs.is_set(0, Key::Host(u128::MAX), Duration::ZERO));
        // Once they expired, setting purges them first.
        xs.set(
            0,
            Key::Host(u128::MAX),
            Duration::from_secs(20),
            Duration::from_secs(10),
        );
        assert_eq!(xs.len(), 1);
        assert!(xs.is_set(0, Key::Host(u128::MAX), Duration::from_secs(10)));
    }

    #[test]
    fn stream_size_compares_each_side() {
        let ss = |side, cmp| ops(&[Insn::StreamSize(StreamSize { side, cmp })]);
        let f = Facts {
            stream: Some([1, 40]),
            ..A
        };
        let xs = XbitStore::default();
        with_flow(|flow| {
            assert!(tests_ok(
                &ss(StreamSide::Client, NumCmp::Eq(1)),
                flow,
                &xs,
                &f
            ));
            assert!(tests_ok(
                &ss(StreamSide::Server, NumCmp::Gt(39)),
                flow,
                &xs,
                &f
            ));
            assert!(!tests_ok(
                &ss(StreamSide::Both, NumCmp::Lt(5)),
                flow,
                &xs,
                &f
            ));
            assert!(tests_ok(
                &ss(StreamSide::Either, NumCmp::Lt(5)),
                flow,
                &xs,
                &f
            ));
            assert!(tests_ok(
                &ss(StreamSide::Both, NumCmp::Ne(0)),
                flow,
                &xs,
                &f
            ));
            // Not a tracked stream: no stream_size test holds.
            assert!(!tests_ok(
                &ss(StreamSide::Either, NumCmp::Ge(0)),
                flow,
                &xs,
                &A
            ));
        });
    }
}

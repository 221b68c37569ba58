//! Per-worker flow table: normalized 5-tuple → [`Flow`] (direction, TCP state, flowbits,
//! drop/pass flags). Bounded, with timeouts driven by packet time so a replay behaves like
//! the live run it recorded.
//!
//! Direction: the client is the sender of the first packet, except that a first packet that
//! is a SYN-ACK makes its receiver the client. TCP is `established` after the three-way
//! handshake (and stays so while closing with FIN) until a RST; UDP and other protocols are
//! `established` once packets went both ways (as Suricata does). With `midstream`, a TCP flow
//! first seen without a SYN counts as established at once — what a restarted live engine
//! needs for the connections already open — and so does one whose handshake is seen from one
//! side only (asymmetric routing: Suricata's `stream.async-oneside`), once that side sends
//! an ACK that only follows a completed handshake.

use crate::stream::StreamMem;
use crate::wire::{addr_key, tcp_flags, L4Hdr, Packet};
use std::collections::HashMap;
use std::time::Duration;
use verdict_compiler::ir::Sid;

/// Flow table settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Treat TCP flows picked up mid-way as established. On by default: a live engine that
    /// (re)starts must treat the connections already open as established, or it would stop
    /// matching `flow:established` rules on them. `verdict replay` turns it off unless
    /// `--midstream` is given, as Suricata does for captures. It also establishes a flow
    /// whose handshake is seen from one side only (asymmetric routing), which Suricata
    /// configures apart as `stream.async-oneside`: both are about connections whose start
    /// the engine could not see whole.
    pub midstream: bool,
    /// Maximum number of flows; the least recently seen are evicted beyond it.
    pub max_flows: usize,
    /// Idle timeout of flows that never got established.
    pub new_timeout: Duration,
    /// Idle timeout of established flows.
    pub established_timeout: Duration,
    /// Idle timeout after RST/FIN.
    pub closed_timeout: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            midstream: true,
            max_flows: 262_144,
            new_timeout: Duration::from_secs(30),
            established_timeout: Duration::from_secs(600),
            closed_timeout: Duration::from_secs(10),
        }
    }
}

/// Normalized 5-tuple: the lower (address, port) endpoint first, with the IP version (an
/// IPv4 flow and an IPv6 flow between the IPv4-mapped addresses are not one flow) and the
/// tunnel depth (a flow inside a tunnel is not the same flow outside it, as Suricata's
/// `decoder.recursion-level.use-for-tracking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: u128,
    hi: u128,
    lo_port: u16,
    hi_port: u16,
    proto: u8,
    version: u8,
    depth: u8,
}

/// TCP connection state, as much as the `flow` keyword needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// Client SYN seen.
    SynSent,
    /// Server SYN-ACK seen.
    SynAckSeen,
    /// Handshake completed (or midstream pickup).
    Established,
    /// FIN seen; data may still flow.
    Closing,
    /// RST seen.
    Closed,
    /// Picked up without a handshake and midstream is off: never established.
    Unsynced,
}

/// State of one flow.
#[derive(Debug)]
pub struct Flow {
    /// EVE `flow_id`.
    pub id: u64,
    client_is_lo: bool,
    tcp: Option<TcpState>,
    seen_to_server: bool,
    seen_to_client: bool,
    /// Flowbits, one bit per interned name.
    pub bits: Vec<u64>,
    /// Set by a drop/reject: the rest of the flow is dropped without inspection.
    pub dropped: Option<Sid>,
    /// The drop came from an exception policy, not a rule (its later packets are logged as
    /// Suricata's "exception policy flow drop" rather than "flow drop").
    pub dropped_by_policy: bool,
    /// Set by a pass rule: the rest of the flow is accepted without inspection.
    pub passed: bool,
    /// Handed back to the kernel (`bypass`): the rest of the flow is accepted uninspected.
    pub bypassed: bool,
    /// Directions handed back to the kernel alone (bit 0: client's, bit 1: server's): their
    /// packets are accepted uninspected, the other direction's still inspected.
    bypassed_dirs: u8,
    /// Directions that sent a FIN (bit 0: client, bit 1: server): with both, the connection
    /// is closing and the flow times out like a reset one (Suricata's `closed` timeout), so
    /// late retransmissions start a new flow.
    fins: u8,
    /// Packet time of the last packet.
    pub last_seen: Duration,
    /// Packets seen.
    pub packets: u64,
    /// Payload bytes seen so far: [to server, to client].
    pub payload_bytes: [u64; 2],
    /// (sid, TCP seq) of recent alerts: a retransmitted segment does not alert twice.
    recent_alerts: Option<Box<[(u32, u32, bool); 8]>>,
    recent_next: u8,
    /// Reassembly and app-layer state of a TCP flow (boxed: most flows never get one).
    pub session: Option<Box<crate::session::Session>>,
    /// `flowint` variables set on this flow: (interned name, value); empty for most flows,
    /// and never longer than the rule set has flowint names.
    pub ints: Vec<(u32, u32)>,
    /// What each direction's first datagram said of a UDP flow's protocol.
    pub udp_detect: crate::session::UdpDetect,
}

impl Flow {
    /// A flow with nothing seen yet: `client_is_lo` says which endpoint (the lower address and
    /// port) is the client, `tcp` its starting TCP state, `words` its flowbit words.
    pub(crate) fn new(
        id: u64,
        client_is_lo: bool,
        tcp: Option<TcpState>,
        words: usize,
        now: Duration,
    ) -> Flow {
        Flow {
            id,
            client_is_lo,
            tcp,
            seen_to_server: false,
            seen_to_client: false,
            bits: vec![0; words],
            dropped: None,
            dropped_by_policy: false,
            fins: 0,
            passed: false,
            bypassed: false,
            bypassed_dirs: 0,
            last_seen: now,
            packets: 0,
            payload_bytes: [0, 0],
            recent_alerts: None,
            recent_next: 0,
            session: None,
            udp_detect: crate::session::UdpDetect::default(),
            ints: Vec::new(),
        }
    }
    /// True if flowbit `i` is set.
    pub fn bit(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    /// Sets or clears flowbit `i` (ignored if out of range).
    pub fn set_bit(&mut self, i: usize, on: bool) {
        if let Some(w) = self.bits.get_mut(i / 64) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
    /// Records an alert of `sid` on the TCP segment whose data starts at `seq` in direction
    /// `to_server`; false if that same sid already alerted on a segment with that sequence
    /// number in that direction (a retransmission), in which case the alert is a duplicate.
    /// Detection and actions still run on retransmissions, so a retransmission with different
    /// bytes is inspected like any segment.
    pub fn note_alert(&mut self, sid: u32, seq: u32, to_server: bool) -> bool {
        let ring = self
            .recent_alerts
            .get_or_insert_with(|| Box::new([(0, 0, false); 8]));
        if ring
            .iter()
            .any(|&(s, q, d)| s == sid && q == seq && d == to_server && s != 0)
        {
            return false;
        }
        ring[usize::from(self.recent_next) % 8] = (sid, seq, to_server);
        self.recent_next = self.recent_next.wrapping_add(1);
        true
    }
    /// The app-layer protocol detected on this flow, if any.
    pub fn app_proto(&self) -> Option<verdict_compiler::ir::AppProto> {
        self.session.as_ref().and_then(|s| s.app_proto())
    }
    /// Swaps client and server: the first packet seen came from the server (a response on a
    /// flow picked up mid-way), which the app layer tells from its content. The seen-flags
    /// swap with the roles.
    pub fn reverse(&mut self) {
        self.client_is_lo = !self.client_is_lo;
        std::mem::swap(&mut self.seen_to_server, &mut self.seen_to_client);
        self.payload_bytes.swap(0, 1);
        self.fins = (self.fins >> 1) | ((self.fins & 1) << 1);
        self.bypassed_dirs = (self.bypassed_dirs >> 1) | ((self.bypassed_dirs & 1) << 1);
    }
    /// True if the direction sent by the client (`to_server`) or by the server was handed
    /// back to the kernel on its own ([`crate::bypass`]).
    pub fn direction_bypassed(&self, to_server: bool) -> bool {
        self.bypassed_dirs & dir_bit(to_server) != 0
    }
    /// Records that one direction was handed back to the kernel on its own.
    pub fn bypass_direction(&mut self, to_server: bool) {
        self.bypassed_dirs |= dir_bit(to_server);
    }
    /// Gives the session's stream memory back to the worker's account.
    fn release(&mut self, mem: &mut StreamMem) {
        if let Some(s) = &mut self.session {
            s.release(mem);
        }
    }
    /// Current TCP state (None for other protocols).
    pub fn tcp_state(&self) -> Option<TcpState> {
        self.tcp
    }
    fn established(&self) -> bool {
        match self.tcp {
            Some(s) => matches!(s, TcpState::Established | TcpState::Closing),
            None => self.seen_to_server && self.seen_to_client,
        }
    }
}

fn dir_bit(to_server: bool) -> u8 {
    if to_server {
        1
    } else {
        2
    }
}

/// Where a packet stands in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PktFlow {
    /// Sent by the client.
    pub to_server: bool,
    /// The flow is established (after this packet's state update).
    pub established: bool,
}

/// The per-worker table.
#[derive(Debug)]
pub struct FlowTable {
    map: HashMap<FlowKey, Flow>,
    cfg: FlowConfig,
    words: usize,
    next_id: u64,
    last_sweep: Duration,
    evicted: u64,
    created: u64,
    /// The stream memory account of every session in the table.
    stream_mem: StreamMem,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl FlowTable {
    /// A table for rule sets with `flowbits` interned names; `seed` makes flow ids differ per
    /// worker.
    pub fn new(cfg: FlowConfig, flowbits: usize, seed: u64) -> Self {
        FlowTable {
            map: HashMap::with_capacity(cfg.max_flows.min(65_536)),
            cfg,
            words: flowbits.div_ceil(64),
            next_id: seed.wrapping_mul(0x1_0000_0000),
            last_sweep: Duration::ZERO,
            evicted: 0,
            created: 0,
            stream_mem: StreamMem::new(),
        }
    }

    /// Number of live flows.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// True if no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Flows created since the table was made.
    pub fn created(&self) -> u64 {
        self.created
    }
    /// Flows evicted because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn timeout_of(&self, f: &Flow) -> Duration {
        match f.tcp {
            Some(TcpState::Closed) => self.cfg.closed_timeout,
            _ if f.fins == 3 => self.cfg.closed_timeout,
            _ if f.established() => self.cfg.established_timeout,
            _ => self.cfg.new_timeout,
        }
    }

    fn sweep(&mut self, now: Duration) {
        let (n, e, c) = (
            self.cfg.new_timeout,
            self.cfg.established_timeout,
            self.cfg.closed_timeout,
        );
        let mem = &mut self.stream_mem;
        self.map.retain(|_, f| {
            let t = match f.tcp {
                Some(TcpState::Closed) => c,
                _ if f.fins == 3 => c,
                _ if f.established() => e,
                _ => n,
            };
            let keep = now.saturating_sub(f.last_seen) <= t;
            if !keep {
                f.release(mem);
            }
            keep
        });
    }

    fn make_room(&mut self, now: Duration) {
        self.sweep(now);
        if self.map.len() < self.cfg.max_flows {
            return;
        }
        // Evict the least recently seen eighth in one pass, so eviction cost is amortized.
        let mut seen: Vec<Duration> = self.map.values().map(|f| f.last_seen).collect();
        let k = (seen.len() / 8).max(1);
        let (_, cut, _) = seen.select_nth_unstable(k - 1);
        let cut = *cut;
        let before = self.map.len();
        let mem = &mut self.stream_mem;
        self.map.retain(|_, f| {
            let keep = f.last_seen > cut;
            if !keep {
                f.release(mem);
            }
            keep
        });
        self.evicted += (before - self.map.len()) as u64;
    }

    /// Re-targets the table at a reloaded rule set with `flowbits` names: new flows get that
    /// many bits, and `f` rewrites each live flow's state (bits, per-transaction program
    /// lists) so flows in progress keep what they had.
    pub fn retarget(&mut self, flowbits: usize, mut f: impl FnMut(&mut Flow)) {
        self.words = flowbits.div_ceil(64);
        self.map.values_mut().for_each(&mut f);
    }

    /// The stream memory account (reassembly counters live in it).
    pub fn stream_mem(&self) -> &StreamMem {
        &self.stream_mem
    }

    /// Finds or creates the flow of `pkt` at packet time `now`, updates its state and returns
    /// it with the packet's direction and the stream memory account its session draws on.
    pub fn update_with_mem(
        &mut self,
        pkt: &Packet<'_>,
        now: Duration,
    ) -> (&mut Flow, PktFlow, &mut StreamMem) {
        self.update_at_depth(pkt, 0, now)
    }

    /// [`FlowTable::update_with_mem`] for a packet found `depth` tunnels deep.
    pub fn update_at_depth(
        &mut self,
        pkt: &Packet<'_>,
        depth: u8,
        now: Duration,
    ) -> (&mut Flow, PktFlow, &mut StreamMem) {
        if now.saturating_sub(self.last_sweep) >= Duration::from_secs(1) {
            self.last_sweep = now;
            self.sweep(now);
        }
        let ip = pkt.ip();
        let (sport, dport) = pkt.ports();
        let (s, d) = (addr_key(ip.src), addr_key(ip.dst));
        let src_is_lo = (s, sport) <= (d, dport);
        let key = if src_is_lo {
            FlowKey {
                lo: s,
                hi: d,
                lo_port: sport,
                hi_port: dport,
                proto: ip.proto,
                version: ip.version,
                depth,
            }
        } else {
            FlowKey {
                lo: d,
                hi: s,
                lo_port: dport,
                hi_port: sport,
                proto: ip.proto,
                version: ip.version,
                depth,
            }
        };
        let flags = match pkt.l4() {
            L4Hdr::Tcp { flags, .. } => Some(*flags),
            _ => None,
        };
        let syn_only =
            flags.is_some_and(|f| f & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN);
        // Port reuse: a fresh SYN on a finished or expired TCP flow starts a new flow.
        let stale = self.map.get(&key).is_some_and(|f| {
            now.saturating_sub(f.last_seen) > self.timeout_of(f)
                || (syn_only && matches!(f.tcp, Some(TcpState::Closed | TcpState::Closing)))
        });
        if stale {
            if let Some(mut f) = self.map.remove(&key) {
                f.release(&mut self.stream_mem);
            }
        }
        if !self.map.contains_key(&key) && self.map.len() >= self.cfg.max_flows {
            self.make_room(now);
        }
        let (midstream, words) = (self.cfg.midstream, self.words);
        let next_id = &mut self.next_id;
        let created = &mut self.created;
        let flow = self.map.entry(key).or_insert_with(|| {
            *next_id += 1;
            *created += 1;
            let synack = flags.is_some_and(|f| {
                f & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN | tcp_flags::ACK
            });
            let tcp = flags.map(|f| {
                if f & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN {
                    TcpState::SynSent
                } else if synack {
                    TcpState::SynAckSeen
                } else if midstream {
                    TcpState::Established
                } else {
                    TcpState::Unsynced
                }
            });
            Flow::new(
                // 53 bits: JSON consumers that read numbers as doubles keep it exact.
                splitmix(*next_id) & ((1 << 53) - 1),
                if synack { !src_is_lo } else { src_is_lo },
                tcp,
                words,
                now,
            )
        });
        let to_server = flow.client_is_lo == src_is_lo;
        flow.last_seen = flow.last_seen.max(now);
        flow.packets += 1;
        flow.payload_bytes[usize::from(!to_server)] += pkt.payload().len() as u64;
        if to_server {
            flow.seen_to_server = true;
        } else {
            flow.seen_to_client = true;
        }
        // Suricata tells a packet its flow state before the stream engine takes the packet in,
        // so a bare ACK completing the handshake is not yet `established`; one that carries
        // data is (Suricata 7.0.7, bug 7264: its data is inspected as the session's).
        let completes_handshake =
            flow.tcp == Some(TcpState::SynAckSeen) && to_server && pkt.payload().is_empty();
        if flags.is_some_and(|f| f & tcp_flags::FIN != 0) {
            flow.fins |= if to_server { 1 } else { 2 };
        }
        if let (Some(state), Some(f)) = (flow.tcp, flags) {
            let syn = f & tcp_flags::SYN != 0;
            let ack = f & tcp_flags::ACK != 0;
            flow.tcp = Some(if f & tcp_flags::RST != 0 {
                TcpState::Closed
            } else {
                match state {
                    TcpState::SynSent if !to_server && syn && ack => TcpState::SynAckSeen,
                    TcpState::SynAckSeen if to_server && ack && !syn => TcpState::Established,
                    // Asynchronous routing: the client acknowledges a SYN-ACK that went
                    // another way, or the server sends after the SYN-ACK while the client's
                    // ACK goes another way. Either side only does so once the handshake
                    // completed (Suricata's `stream.async-oneside`).
                    TcpState::SynSent | TcpState::SynAckSeen
                        if midstream
                            && ack
                            && !syn
                            && to_server == (state == TcpState::SynSent) =>
                    {
                        TcpState::Established
                    }
                    TcpState::Established if f & tcp_flags::FIN != 0 => TcpState::Closing,
                    s => s,
                }
            });
        }
        let established =
            flow.established() && !(completes_handshake && flow.tcp == Some(TcpState::Established));
        (
            flow,
            PktFlow {
                to_server,
                established,
            },
            &mut self.stream_mem,
        )
    }

    /// Finds or creates the flow of `pkt` at packet time `now`, updates its state and returns
    /// it with the packet's direction.
    pub fn update(&mut self, pkt: &Packet<'_>, now: Duration) -> (&mut Flow, PktFlow) {
        let (flow, pf, _) = self.update_with_mem(pkt, now);
        (flow, pf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp(c2s: bool, syn: bool, ack: bool, fin: bool) -> Vec<u8> {
        let (a, b, pa, pb) = if c2s {
            ([192, 0, 2, 2], [198, 51, 100, 2], 40000, 80)
        } else {
            ([198, 51, 100, 2], [192, 0, 2, 2], 80, 40000)
        };
        let mut t = PacketBuilder::ipv4(a, b, 64).tcp(pa, pb, 1, 1000);
        if syn {
            t = t.syn();
        }
        if ack {
            t = t.ack(1);
        }
        if fin {
            t = t.fin();
        }
        let mut v = Vec::new();
        t.write(&mut v, &[]).unwrap();
        v
    }

    fn step(t: &mut FlowTable, p: &[u8], s: u64) -> PktFlow {
        t.update(&Packet::parse(p).unwrap(), Duration::from_secs(s))
            .1
    }

    #[test]
    fn handshake_direction_and_establishment() {
        let mut t = FlowTable::new(FlowConfig::default(), 3, 0);
        assert_eq!(
            step(&mut t, &tcp(true, true, false, false), 1),
            PktFlow {
                to_server: true,
                established: false
            }
        );
        assert_eq!(
            step(&mut t, &tcp(false, true, true, false), 1),
            PktFlow {
                to_server: false,
                established: false
            }
        );
        // The bare ACK completing the handshake is not yet established (Suricata marks the
        // packet before the stream engine takes it in); the packets after it are.
        assert_eq!(
            step(&mut t, &tcp(true, false, true, false), 1),
            PktFlow {
                to_server: true,
                established: false
            }
        );
        assert_eq!(
            step(&mut t, &tcp(false, false, true, false), 2),
            PktFlow {
                to_server: false,
                established: true
            }
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn midstream_and_synack_first() {
        let off = FlowConfig {
            midstream: false,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(off, 0, 0);
        assert!(!step(&mut t, &tcp(true, false, true, false), 1).established);
        let mut m = FlowTable::new(
            FlowConfig {
                midstream: true,
                ..FlowConfig::default()
            },
            0,
            0,
        );
        assert_eq!(
            step(&mut m, &tcp(true, false, true, false), 1),
            PktFlow {
                to_server: true,
                established: true
            }
        );
        // A SYN-ACK first: its receiver is the client.
        let mut s = FlowTable::new(off, 0, 0);
        assert!(!step(&mut s, &tcp(false, true, true, false), 1).to_server);
        assert!(step(&mut s, &tcp(true, false, true, false), 1).to_server);
    }

    #[test]
    fn a_handshake_seen_from_one_side_establishes_with_midstream_only() {
        let on = FlowConfig {
            midstream: true,
            ..FlowConfig::default()
        };
        let off = FlowConfig {
            midstream: false,
            ..on
        };
        // Client side only: SYN, then the client's ACK of a SYN-ACK routed elsewhere.
        for (cfg, want) in [(on, true), (off, false)] {
            let mut t = FlowTable::new(cfg, 0, 0);
            assert!(!step(&mut t, &tcp(true, true, false, false), 1).established);
            assert_eq!(
                step(&mut t, &tcp(true, false, true, false), 1).established,
                want
            );
        }
        // Server side only: SYN-ACK, then the server's data while the client's ACK is
        // elsewhere.
        for (cfg, want) in [(on, true), (off, false)] {
            let mut t = FlowTable::new(cfg, 0, 0);
            assert!(!step(&mut t, &tcp(false, true, true, false), 1).established);
            let p = step(&mut t, &tcp(false, false, true, false), 1);
            assert!(!p.to_server);
            assert_eq!(p.established, want);
        }
        // A second SYN from the client does not complete anything.
        let mut t = FlowTable::new(on, 0, 0);
        step(&mut t, &tcp(true, true, false, false), 1);
        assert!(!step(&mut t, &tcp(true, true, false, false), 1).established);
    }

    #[test]
    fn timeouts_follow_packet_time_and_table_is_bounded() {
        let cfg = FlowConfig {
            max_flows: 16,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(cfg, 0, 0);
        step(&mut t, &tcp(true, true, false, false), 1);
        let id = t
            .update(
                &Packet::parse(&tcp(true, true, false, false)).unwrap(),
                Duration::from_secs(2),
            )
            .0
            .id;
        // 40 s later the unestablished flow has expired: a new flow (new id).
        let id2 = t
            .update(
                &Packet::parse(&tcp(true, true, false, false)).unwrap(),
                Duration::from_secs(42),
            )
            .0
            .id;
        assert_ne!(id, id2);
        for port in 0..100u16 {
            let mut v = Vec::new();
            PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
                .udp(port, 53)
                .write(&mut v, b"x")
                .unwrap();
            step(&mut t, &v, 50 + u64::from(port));
            assert!(t.len() <= 16);
        }
        assert!(t.evicted() > 0);
    }

    #[test]
    fn flowbits_words() {
        let mut t = FlowTable::new(FlowConfig::default(), 130, 0);
        let (f, _) = t.update(
            &Packet::parse(&tcp(true, true, false, false)).unwrap(),
            Duration::ZERO,
        );
        f.set_bit(129, true);
        assert!(f.bit(129) && !f.bit(128));
        f.set_bit(500, true);
        assert!(!f.bit(500));
    }
}

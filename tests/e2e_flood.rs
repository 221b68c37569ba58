//! Memory under a flood, live: `verdict run` in gw with small reassembly limits from
//! verdict.toml, and raw TCP crafted in cli and srv (AF_PACKET, both directions of each flow)
//! sent through the real NFQUEUE: thousands of half-open flows, flows that leave a hole and
//! send tens of kilobytes behind it, flows of one-byte pieces past the per-flow piece limit,
//! overlapping segments with conflicting bytes, and flows whose server acknowledges data the
//! gateway never saw. The engine's RSS must grow by no more than the memcap plus the flow
//! table's own cost — far less than the out-of-order data offered — its limit counters must
//! show the limits were hit, and afterwards it must still pass and drop traffic.
//!
//! The endpoints' kernels are muted for the flood port (an nft drop at prerouting in cli and
//! srv), so no RST closes a flow early: the engine sees exactly the crafted packets. Root
//! only; traffic and every wait are bounded.

mod common;
mod live;
#[path = "common/packet.rs"]
mod packet;

use common::netns::{Topology, CLI4, SRV4};
use live::*;
use packet::{flags, Barrier, Link, Pacer, Tcp, TCP};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const FLOOD_PORT: u16 = 7399;
const OK_PORT: u16 = 7401;
const DROP_PORT: u16 = 7400;
const MARK_PORT: u16 = 7398;

const MEMCAP: usize = 1 << 20;
const MAX_OOO_BYTES: usize = 64 << 10;
const MAX_OOO_SEGMENTS: usize = 32;

const HALF_OPEN: u16 = 3000;
const OOO_FLOWS: u16 = 400;
const OOO_SEGMENTS: u32 = 40;
const SEG: usize = 1400;
const PIECE_FLOWS: u16 = 20;
const PIECES: u32 = 60;
const OVERLAP_FLOWS: u16 = 50;
const GAP_FLOWS: u16 = 200;

const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;

const RULES: &str = "alert tcp any any -> any any (msg:\"flood stream\"; flow:established; content:\"never-in-this-flood\"; sid:940001; rev:1;)\n\
                     drop tcp any any -> any 7400 (msg:\"flood drop\"; content:\"BADTHING\"; sid:940002; rev:1;)\n\
                     alert udp any any -> any 7397 (msg:\"flood udp\"; content:\"never\"; sid:940003; rev:1;)\n";

/// What kind of flow a source port carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    HalfOpen,
    OutOfOrder,
    Pieces,
    Overlap,
    Gap,
}

/// Every flow of the flood: its client port and kind (ports do not collide across kinds).
fn flows() -> Vec<(u16, Kind)> {
    let mut v = Vec::new();
    let mut add = |base: u16, n: u16, k: Kind| v.extend((0..n).map(|i| (base + i, k)));
    // The big out-of-order flows last: once they fill the memcap, the others' segments
    // would be refused by it before reaching the limits they are there to test.
    add(20_000, HALF_OPEN, Kind::HalfOpen);
    add(31_000, PIECE_FLOWS, Kind::Pieces);
    add(32_000, OVERLAP_FLOWS, Kind::Overlap);
    add(33_000, GAP_FLOWS, Kind::Gap);
    add(30_000, OOO_FLOWS, Kind::OutOfOrder);
    v
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A client → server segment of the flow on `sport`.
fn c2s(sport: u16, tcp: impl FnOnce(Tcp) -> Tcp, payload: &[u8]) -> Vec<u8> {
    let (c, s) = (v4(CLI4), v4(SRV4));
    let seg = tcp(Tcp::new(sport, FLOOD_PORT)).segment(c.into(), s.into(), payload);
    packet::Ipv4::new(c, s).packet(TCP, &seg)
}

/// A server → client segment of the flow on `sport`.
fn s2c(sport: u16, tcp: impl FnOnce(Tcp) -> Tcp) -> Vec<u8> {
    let (c, s) = (v4(CLI4), v4(SRV4));
    let seg = tcp(Tcp::new(FLOOD_PORT, sport)).segment(s.into(), c.into(), &[]);
    packet::Ipv4::new(s, c).packet(TCP, &seg)
}

/// Phase 1 (cli): every flow's SYN.
fn syns() -> Vec<Vec<u8>> {
    flows()
        .into_iter()
        .map(|(p, _)| c2s(p, |t| t.seq(CLIENT_ISN).flags(flags::SYN), &[]))
        .collect()
}

/// Phase 2 (srv): the SYN-ACK of every flow but the half-open ones.
fn syn_acks() -> Vec<Vec<u8>> {
    flows()
        .into_iter()
        .filter(|(_, k)| *k != Kind::HalfOpen)
        .map(|(p, _)| {
            s2c(p, |t| {
                t.seq(SERVER_ISN).flags(flags::SYN).ack(CLIENT_ISN + 1)
            })
        })
        .collect()
}

/// Phase 3 (cli): the handshake's ACK and the data of each kind.
fn client_data() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let next = CLIENT_ISN + 1;
    let est = |t: Tcp| t.ack(SERVER_ISN + 1);
    for (p, k) in flows() {
        if k == Kind::HalfOpen {
            continue;
        }
        out.push(c2s(p, |t| est(t.seq(next)), &[]));
        match k {
            Kind::OutOfOrder => {
                // The first segment never comes: everything after it waits in the buffer.
                let body = vec![b'x'; SEG];
                for i in 1..=OOO_SEGMENTS {
                    let seq = next + i * SEG as u32;
                    out.push(c2s(p, |t| est(t.seq(seq).flags(flags::PSH)), &body));
                }
            }
            Kind::Pieces => {
                for i in 0..PIECES {
                    out.push(c2s(p, |t| est(t.seq(next + 100 + 2 * i)), b"y"));
                }
            }
            Kind::Overlap => {
                // Two out-of-order copies of the same range with different bytes, then a
                // third that overlaps both.
                out.push(c2s(p, |t| est(t.seq(next + 1000)), &[b'a'; 500]));
                out.push(c2s(p, |t| est(t.seq(next + 1000)), &[b'b'; 500]));
                out.push(c2s(p, |t| est(t.seq(next + 1200)), &[b'c'; 500]));
            }
            Kind::Gap => {
                out.push(c2s(p, |t| est(t.seq(next)), b"GET / HTTP/1.1\r\n"));
            }
            Kind::HalfOpen => {}
        }
    }
    out
}

/// Phase 4 (srv): the server acknowledges 100 kB of each gap flow the gateway never saw.
fn gap_acks() -> Vec<Vec<u8>> {
    flows()
        .into_iter()
        .filter(|(_, k)| *k == Kind::Gap)
        .map(|(p, _)| s2c(p, |t| t.seq(SERVER_ISN + 1).ack(CLIENT_ISN + 1 + 100_016)))
        .collect()
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port)
}

/// `verdict run` under `config`, with the flood port muted at both ends, raw links from cli
/// and srv, a barrier each way and a pacer on the queue.
struct Rig {
    // Dropped first: the engine stops before its namespaces go.
    e: Engine,
    cli: Link,
    srv: Link,
    to_srv: Barrier,
    to_cli: Barrier,
    pacer: Pacer,
    pid: u32,
    t: Topology,
}

impl Rig {
    fn start(tag: &str, config: &str) -> Rig {
        let t = Topology::new();
        let e = Engine::start_with_config(&t, tag, RULES, config);
        packet::mute(&t, &t.srv, &[&format!("tcp dport {FLOOD_PORT}")]);
        packet::mute(&t, &t.cli, &[&format!("tcp sport {FLOOD_PORT}")]);
        let mut cli = Link::towards_gw(&t, &t.cli, "c0");
        let srv = Link::towards_gw(&t, &t.srv, "s0");
        let (cli_mark, srv_mark) = (addr(CLI4, MARK_PORT), addr(SRV4, MARK_PORT));
        let mut to_srv = Barrier::bound_in(&t, &t.srv, cli_mark, srv_mark);
        let to_cli = Barrier::bound_in(&t, &t.cli, srv_mark, cli_mark);
        let queue = t
            .in_ns(&t.gw, || std::fs::File::open(Pacer::PATH))
            .join()
            .unwrap()
            .expect("nfnetlink_queue");
        // The engine has its rules loaded and a packet through it: the baseline.
        to_srv.pass(&mut cli, Duration::from_secs(5));
        let pid = e.stats().pid;
        Rig {
            e,
            cli,
            srv,
            to_srv,
            to_cli,
            pacer: Pacer::new(queue, 0),
            pid,
            t,
        }
    }

    /// Sends `pkts` from cli (or srv) as fast as the queue drains, then a barrier behind them;
    /// raises `peak` to the engine's RSS after each burst.
    fn send(&mut self, from_cli: bool, pkts: &[Vec<u8>], peak: &mut u64) {
        let (link, barrier) = if from_cli {
            (&mut self.cli, &mut self.to_srv)
        } else {
            (&mut self.srv, &mut self.to_cli)
        };
        let pid = self.pid;
        self.pacer
            .send_all(link, pkts, 256, || *peak = (*peak).max(rss_kib(pid)));
        barrier.pass(link, Duration::from_secs(10));
        *peak = (*peak).max(rss_kib(pid));
    }

    /// The first snapshot in which the engine received at least `n` packets.
    fn stats_after(&self, n: u64) -> verdict_engine::run::StatsSnapshot {
        wait_for(Duration::from_secs(5), || {
            let s = self.e.stats();
            let got: u64 = s.queues.iter().map(|q| q.received).sum();
            (got >= n).then_some(s)
        })
        .unwrap_or_else(|| {
            panic!(
                "the engine did not receive {n} packets: {:?}",
                self.e.stats()
            )
        })
    }
}

#[test]
fn a_flood_of_broken_flows_hits_the_limits_not_the_memory() {
    require_netns!();
    let config = format!(
        "[engine]\nworkers = 1\nqueue = 0\nsteer = \"all\"\n\
         stream_memcap = {MEMCAP}\nstream_max_ooo_bytes = {MAX_OOO_BYTES}\n\
         stream_max_ooo_segments = {MAX_OOO_SEGMENTS}\n\
         [scan]\nenabled = false\n\
         [exception_policy]\nstream_memcap = \"ignore\"\n"
    );
    let mut r = Rig::start("flood", &config);
    let before = rss_kib(r.pid);

    let started = Instant::now();
    let phases = [syns(), syn_acks(), client_data(), gap_acks()];
    let sent: usize = phases.iter().map(Vec::len).sum();
    let offered: usize = OOO_FLOWS as usize * OOO_SEGMENTS as usize * SEG;
    // RSS once every flow exists (after the handshakes), and the highest seen after that.
    let (mut flows_rss, mut peak) = (before, before);
    for (i, pkts) in phases.iter().enumerate() {
        r.send(i % 2 == 0, pkts, &mut peak);
        if i == 1 {
            flows_rss = rss_kib(r.pid);
            peak = flows_rss;
        }
    }
    let flood_time = started.elapsed();

    // The snapshot after the last barrier holds every packet of the flood.
    let s = r.stats_after(sent as u64);
    let i = s.inspect.expect("the engine's inspect counters");
    let st = i.stream;
    let n_flows = flows().len() as u64;
    let (flow_kib, data_kib) = (
        flows_rss.saturating_sub(before),
        peak.saturating_sub(flows_rss),
    );
    eprintln!(
        "{sent} packets in {flood_time:?}; RSS {before} KiB at start, +{flow_kib} KiB for {n_flows} flows \
         ({} B each), +{data_kib} KiB more under {} KiB of out-of-order data; flows {}, stream memory \
         peak {} KiB; {st:?}; uninspected {:?}",
        flow_kib * 1024 / n_flows,
        offered >> 10,
        i.flows,
        i.stream_memory_peak >> 10,
        s.uninspected()
    );
    assert_eq!(s.uninspected(), Some(0), "packets passed uninspected");
    assert!(
        i.flows_created >= n_flows,
        "flows created: {}",
        i.flows_created
    );
    assert!(i.stream_memory_peak <= MEMCAP as u64, "{i:?}");
    assert!(st.memcap_hits > 0, "the memcap was never hit: {st:?}");
    assert!(st.limit_hits > 0, "no per-flow limit was hit: {st:?}");
    assert!(
        st.out_of_order > 0 && st.gaps >= u64::from(GAP_FLOWS),
        "{st:?}"
    );
    assert!(st.overlaps > 0 && st.conflicts > 0, "{st:?}");
    assert_eq!(i.decode_errors, 0, "the flood is well-formed TCP");
    // A tracked flow costs a bounded amount, whatever it sends: its slot in the flow table
    // (a page touched at most) and a session.
    assert!(
        flow_kib <= n_flows * FLOW_KIB,
        "{n_flows} flows cost {flow_kib} KiB, over {FLOW_KIB} KiB each"
    );
    // The data: what the process grew by is the memcap plus allocator slack, not the
    // out-of-order bytes offered, which are many times more.
    let bound_kib = (MEMCAP >> 10) as u64 + SLACK_KIB;
    assert!(
        data_kib <= bound_kib,
        "RSS grew by {data_kib} KiB under the data, over the memcap plus slack ({bound_kib} KiB)"
    );
    assert!(
        (offered >> 10) as u64 >= 4 * bound_kib,
        "the flood offers too little data to tell a bound from no bound"
    );

    // `verdict stats` shows the limit counters.
    let human = r.t.exec(
        &r.t.gw,
        &[VERDICT, "stats", "--log-dir", r.e.dir.to_str().unwrap()],
    );
    let human = String::from_utf8_lossy(&human.stdout).to_string();
    assert!(
        human.contains(&format!("limits hit: memcap {}", st.memcap_hits)),
        "{human}"
    );

    assert_still_enforcing(&mut r.e, &r.t, OK_PORT, DROP_PORT, b"BADTHING");
    r.e.stop();
}

/// What one tracked flow may cost at most, in KiB: its flow-table slot lands on a page of the
/// preallocated table that may not have been touched yet (4 KiB), plus its session.
const FLOW_KIB: u64 = 6;
/// Allocator slack over the stream memcap (freed segments not yet returned, arena growth).
const SLACK_KIB: u64 = 3 << 10;

/// Flows the table holds in the SYN flood test.
const MAX_FLOWS: usize = 2_000;
/// SYNs of new flows sent after the table is full: five tables' worth.
const PAST_FULL: u16 = 10_000;

/// SYNs of new flows from cli ports `ports`.
fn syn_flood(ports: std::ops::Range<u16>) -> Vec<Vec<u8>> {
    ports
        .map(|p| c2s(p, |t| t.seq(CLIENT_ISN).flags(flags::SYN), &[]))
        .collect()
}

#[test]
fn a_syn_flood_past_the_flow_table_evicts_and_stays_bounded() {
    require_netns!();
    let config = format!(
        "[engine]\nworkers = 1\nqueue = 0\nsteer = \"all\"\nmax_flows = {MAX_FLOWS}\n\
         [scan]\nenabled = false\n"
    );
    let mut r = Rig::start("synflood", &config);
    let before = rss_kib(r.pid);
    let full = MAX_FLOWS as u16;
    let mut peak = before;
    // Fill the table, then send five times as many new flows as it holds.
    r.send(true, &syn_flood(20_000..20_000 + full), &mut peak);
    let filled = r.stats_after(u64::from(full));
    let full_rss = rss_kib(r.pid);
    peak = full_rss;
    let started = Instant::now();
    let flood = syn_flood(20_000 + full..20_000 + full + PAST_FULL);
    r.send(true, &flood, &mut peak);
    let flood_time = started.elapsed();
    let s = r.stats_after(u64::from(full + PAST_FULL));
    let i = s.inspect.expect("the engine's inspect counters");
    let busy =
        |s: &verdict_engine::run::StatsSnapshot| s.queues.iter().map(|q| q.busy_ns).sum::<u64>();
    let per_pkt = |ns: u64, n: u16| ns / u64::from(n);
    let (fill_kib, flood_kib) = (
        full_rss.saturating_sub(before),
        peak.saturating_sub(full_rss),
    );
    eprintln!(
        "{MAX_FLOWS}-flow table: filled with +{fill_kib} KiB RSS, {} ns/packet in the worker; \
         {PAST_FULL} more SYNs in {flood_time:?}: +{flood_kib} KiB RSS, {} ns/packet; \
         flows {} (created {}, evicted {})",
        per_pkt(busy(&filled), full),
        per_pkt(busy(&s).saturating_sub(busy(&filled)), PAST_FULL),
        i.flows,
        i.flows_created,
        i.flows_evicted
    );
    assert_eq!(s.uninspected(), Some(0), "packets passed uninspected");
    assert!(i.flows <= MAX_FLOWS as u64, "{i:?}");
    // Every new flow past a full table pushed an old one out (the barrier's flow stays).
    assert!(i.flows_evicted >= u64::from(PAST_FULL), "{i:?}");
    // Five tables' worth of new flows cost no more memory than the first table did: the
    // evicted flows' memory is reused.
    assert!(
        flood_kib <= (fill_kib / 2).max(1024),
        "RSS grew by {flood_kib} KiB past a full table (filling it took {fill_kib} KiB)"
    );
    assert_still_enforcing(&mut r.e, &r.t, OK_PORT, DROP_PORT, b"BADTHING");
    r.e.stop();
}

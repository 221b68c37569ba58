//! NFQUEUE workers: one thread and one kernel queue per worker.
//!
//! Each worker binds its queue with the flags that matter for an inline IPS (see DESIGN.md,
//! "Measured on these machines"):
//! - **GSO** (`NFQA_CFG_F_GSO`): the kernel hands over whole 64 KB super-packets instead of
//!   segmenting them first — about 8× the throughput. Such packets may carry a partial
//!   checksum ([`PacketInfo::checksum_ready`] is false); whoever rewrites them must know.
//! - **fail-open**: a full queue accepts instead of dropping, so overload degrades detection,
//!   not connectivity (the steering rules add `bypass` for a missing reader).
//! - a large queue length and a 6 MB netlink receive buffer (`SO_RCVBUFFORCE`; the nfq crate
//!   leaves ~208 KB, which overflows under load — overflows are counted as `enobufs`).
//!
//! The worker loop is generic over [`Inspect`], so the benchmark's bare accept-all loop and the
//! real engine run the very same code. The packet is copied into a worker-owned buffer before
//! inspection: handing the kernel's buffer out mutably would make the nfq crate send every
//! payload back with the verdict (and mark GSO packets' checksums as done), which is both slow
//! and wrong for packets nobody rewrote.

use crate::respond::Responder;
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};
use verdict_compiler::ir::RejectTarget;

/// An NFQUEUE number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueNum(pub u16);

/// What to do with one queued packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let it through unchanged.
    Accept,
    /// Drop it silently.
    Drop,
    /// Drop it and answer with resets / ICMP unreachable.
    Reject(RejectTarget),
    /// Let it through with the bytes the inspector rewrote (checksums already fixed).
    Replace,
    /// Drop it (answering as [`Decision::Reject`] with a target) and block its flow in the
    /// kernel, for a flow one direction of which no longer reaches the queue (bypassed): the
    /// verdict accepts the packet with `FLOW_BLOCK_MARK` in its mark, and the chain after the
    /// queue records the block in the conntrack mark and drops it (`verdict_nft::render`).
    DropFlow(Option<RejectTarget>),
    /// Let it through and hand its flow, or its own direction of it, back to the kernel: the
    /// verdict sets `FLOW_BYPASS_MARK` (or `DIRECTION_BYPASS_MARK`) in the packet mark, which
    /// the kernel moves into the conntrack mark and stops queueing the flow or that direction
    /// (`crate::bypass`). `first` counts a newly bypassed flow or direction.
    Bypass {
        /// The flow or direction was bypassed by this packet (not a packet already in flight).
        first: bool,
        /// Whole flow or the packet's direction.
        scope: crate::bypass::BypassScope,
    },
}

/// Per-packet facts from the kernel, besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct PacketInfo {
    /// When the worker received the packet.
    pub ts: SystemTime,
    /// The queue it came from.
    pub queue: QueueNum,
    /// Input interface index (0 when unknown).
    pub in_ifindex: u32,
    /// False when the transport checksum is partial (offloaded, to be completed on output).
    pub checksum_ready: bool,
    /// A GSO super-packet (several segments' worth of payload in one packet).
    pub gso: bool,
    /// The kernel marked the packet as travelling its connection's reply direction
    /// ([`QueueConfig::reply_mark`]).
    pub ct_reply: bool,
}

/// Something that decides on packets: the detection engine, or an accept-all loop.
pub trait Inspect {
    /// Decides on one L3 packet; may rewrite `pkt` in place when returning `Replace`.
    fn inspect(&mut self, pkt: &mut [u8], info: &PacketInfo) -> Decision;
}

impl<F: FnMut(&mut [u8], &PacketInfo) -> Decision> Inspect for F {
    fn inspect(&mut self, pkt: &mut [u8], info: &PacketInfo) -> Decision {
        self(pkt, info)
    }
}

/// How each queue is configured.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Receive GSO super-packets unsegmented.
    pub gso: bool,
    /// Accept (rather than drop) when the kernel queue is full.
    pub fail_open: bool,
    /// Kernel queue length in packets.
    pub max_len: u32,
    /// Netlink socket receive buffer in bytes.
    pub rcvbuf: usize,
    /// How often a blocked worker wakes up to look at the stop flag.
    pub poll: Duration,
    /// Packet-mark bit the steering sets on packets of a connection's reply direction (the
    /// kernel prefilter's, `verdict_nft::prefilter`): it queues flows from the middle, where
    /// only conntrack still knows which side opened the connection. (`NFQA_CFG_F_CONNTRACK`
    /// would say so too, but needs a kernel built with the nfnetlink conntrack glue.)
    pub reply_mark: Option<u32>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            gso: true,
            fail_open: true,
            max_len: 65536,
            rcvbuf: 6 * 1024 * 1024,
            poll: Duration::from_millis(100),
            reply_mark: None,
        }
    }
}

/// Counters of one queue; written by its worker, read by anyone.
#[derive(Debug, Default)]
pub struct QueueCounters {
    /// packets received
    pub received: AtomicU64,
    /// packets accepted unchanged
    pub accepted: AtomicU64,
    /// packets dropped (without reject)
    pub dropped: AtomicU64,
    /// packets dropped with a reject reply
    pub rejected: AtomicU64,
    /// packets accepted with a rewritten payload
    pub replaced: AtomicU64,
    /// receive/verdict/respond errors
    pub errors: AtomicU64,
    /// socket overflows (packets the kernel could not deliver to us)
    pub enobufs: AtomicU64,
    /// packets whose inspection panicked (each was accepted uninspected; the worker went on)
    pub panics: AtomicU64,
    /// flows handed back to the kernel (bypass mark set)
    pub bypassed: AtomicU64,
    /// flows one direction of which was handed back to the kernel alone
    pub half_bypassed: AtomicU64,
    /// Bytes (original packet lengths) by outcome, in the order of [`BYTE_OUTCOMES`].
    pub bytes: [AtomicU64; 4],
    /// Nanoseconds the worker spent on packets (from receipt to verdict), not waiting.
    pub busy_ns: AtomicU64,
}

/// The outcomes whose bytes a queue counts: accepted, dropped, rejected, replaced.
pub const BYTE_OUTCOMES: [&str; 4] = ["accepted", "dropped", "rejected", "replaced"];

/// A copy of one queue's counters, for stats output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// queue number
    pub queue: u16,
    /// packets received
    pub received: u64,
    /// accepted unchanged
    pub accepted: u64,
    /// dropped
    pub dropped: u64,
    /// rejected
    pub rejected: u64,
    /// replaced
    pub replaced: u64,
    /// errors
    pub errors: u64,
    /// socket overflows
    pub enobufs: u64,
    /// inspections that panicked (accepted uninspected)
    #[serde(default)]
    pub panics: u64,
    /// flows handed back to the kernel
    #[serde(default)]
    pub bypassed: u64,
    /// flows one direction of which was handed back to the kernel alone (a flow bypassed
    /// whole later counts in `bypassed` too)
    #[serde(default)]
    pub half_bypassed: u64,
    /// bytes accepted unchanged
    #[serde(default)]
    pub accepted_bytes: u64,
    /// bytes dropped
    #[serde(default)]
    pub dropped_bytes: u64,
    /// bytes rejected
    #[serde(default)]
    pub rejected_bytes: u64,
    /// bytes accepted rewritten
    #[serde(default)]
    pub replaced_bytes: u64,
    /// nanoseconds the worker spent on packets (receipt to verdict)
    #[serde(default)]
    pub busy_ns: u64,
}

impl QueueCounters {
    /// Reads every counter (each atomically; the set is not a single snapshot).
    pub fn snapshot(&self, queue: QueueNum) -> QueueStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        QueueStats {
            queue: queue.0,
            received: r(&self.received),
            accepted: r(&self.accepted),
            dropped: r(&self.dropped),
            rejected: r(&self.rejected),
            replaced: r(&self.replaced),
            errors: r(&self.errors),
            enobufs: r(&self.enobufs),
            panics: r(&self.panics),
            bypassed: r(&self.bypassed),
            half_bypassed: r(&self.half_bypassed),
            accepted_bytes: r(&self.bytes[0]),
            dropped_bytes: r(&self.bytes[1]),
            rejected_bytes: r(&self.bytes[2]),
            replaced_bytes: r(&self.bytes[3]),
            busy_ns: r(&self.busy_ns),
        }
    }
}

/// An error with its sources, for logs (Display alone stops at the outermost message).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The message of a panic payload (`panic!` with a literal or a formatted string).
fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Why a queue could not be set up or served.
#[derive(Debug, thiserror::Error)]
pub enum NfqError {
    /// Opening the netlink socket failed.
    #[error("cannot open an NFQUEUE netlink socket")]
    Open(#[source] io::Error),
    /// Binding the queue failed: most often another process (another verdict?) has it.
    #[error(
        "queue {queue}: cannot bind it (is another process, e.g. another verdict, bound to it?)"
    )]
    Bind {
        /// queue
        queue: u16,
        /// the OS error
        source: io::Error,
    },
    /// A configuration step on a queue failed.
    #[error("queue {queue}: {step} failed")]
    Config {
        /// queue
        queue: u16,
        /// what we were doing
        step: &'static str,
        /// the OS error
        source: io::Error,
    },
    /// The worker kept failing to receive.
    #[error("queue {queue}: receiving keeps failing")]
    Recv {
        /// queue
        queue: u16,
        /// last error
        source: io::Error,
    },
    /// A worker thread panicked.
    #[error("queue {0}: worker thread panicked")]
    Panicked(u16),
}

/// A queue bound and configured, ready to be served by a worker.
pub struct BoundQueue {
    queue: nfq::Queue,
    num: QueueNum,
    /// [`QueueConfig::reply_mark`].
    reply_mark: Option<u32>,
}

impl std::fmt::Debug for BoundQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundQueue")
            .field("num", &self.num)
            .finish()
    }
}

/// Opens a netlink socket and binds queue `num` with `cfg`'s flags.
pub fn bind(num: QueueNum, cfg: &QueueConfig) -> Result<BoundQueue, NfqError> {
    let (mut queue, fd) = open_with_fd()?;
    let q = num.0;
    let step = |step: &'static str| {
        move |source: io::Error| NfqError::Config {
            queue: q,
            step,
            source,
        }
    };
    queue
        .bind(q)
        .map_err(|source| NfqError::Bind { queue: q, source })?;
    queue
        .set_copy_range(q, 0xffff)
        .map_err(step("set copy range"))?;
    queue
        .set_queue_max_len(q, cfg.max_len)
        .map_err(step("set queue length"))?;
    queue
        .set_fail_open(q, cfg.fail_open)
        .map_err(step("set fail-open"))?;
    queue.set_recv_gso(q, cfg.gso).map_err(step("set GSO"))?;
    // Overflows are counted, not fatal: the kernel then fails open or drops per the flags.
    queue
        .set_recv_enobufs(true)
        .map_err(step("enable ENOBUFS reports"))?;
    set_rcvbuf(fd, cfg.rcvbuf).map_err(step("raise the receive buffer"))?;
    set_rcvtimeo(fd, cfg.poll).map_err(step("set the receive timeout"))?;
    Ok(BoundQueue {
        queue,
        num,
        reply_mark: cfg.reply_mark,
    })
}

/// The nfq crate does not expose its socket, but the buffer size and the receive timeout
/// (for a clean shutdown) need it: find the netlink socket that `Queue::open` just created.
fn open_with_fd() -> Result<(nfq::Queue, RawFd), NfqError> {
    static OPENING: Mutex<()> = Mutex::new(());
    let _guard = OPENING.lock().unwrap_or_else(|e| e.into_inner());
    // Compare netfilter sockets, not fd numbers: the fd that listed /proc/self/fd is closed
    // again and its number is the one the new socket gets.
    let before: Vec<RawFd> = open_fds()
        .into_iter()
        .filter(|&fd| is_netfilter_socket(fd))
        .collect();
    let queue = nfq::Queue::open().map_err(NfqError::Open)?;
    let fd = open_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .find(|&fd| is_netfilter_socket(fd))
        .ok_or_else(|| {
            NfqError::Open(io::Error::other(
                "cannot find the new NFQUEUE socket in /proc/self/fd",
            ))
        })?;
    Ok((queue, fd))
}

fn open_fds() -> Vec<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn getsockopt_int(fd: RawFd, opt: libc::c_int) -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given. Any fd number is fine:
    // a closed or non-socket fd makes getsockopt fail with an error, it touches no memory.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(v)
}

fn is_netfilter_socket(fd: RawFd) -> bool {
    getsockopt_int(fd, libc::SO_DOMAIN) == Some(libc::AF_NETLINK)
        && getsockopt_int(fd, libc::SO_PROTOCOL) == Some(libc::NETLINK_NETFILTER)
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` is a live `T` of exactly the length passed, and the kernel only reads it
    // during the call; a bad fd is an error return, not undefined behaviour.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_rcvbuf(fd: RawFd, bytes: usize) -> io::Result<()> {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    // FORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN, which binding a queue needs too).
    setsockopt(fd, libc::SO_RCVBUFFORCE, &v).or_else(|_| setsockopt(fd, libc::SO_RCVBUF, &v))
}

fn set_rcvtimeo(fd: RawFd, d: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    };
    setsockopt(fd, libc::SO_RCVTIMEO, &tv)
}

/// Serves one bound queue until `stop` is set, then unbinds it.
pub fn serve<I: Inspect>(
    mut bq: BoundQueue,
    mut inspector: I,
    responder: Option<&Responder>,
    counters: &QueueCounters,
    stop: &AtomicBool,
) -> Result<(), NfqError> {
    let (q, reply_mark) = (bq.num, bq.reply_mark);
    let mut buf: Vec<u8> = Vec::with_capacity(0x10000);
    let mut consecutive_errors = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let mut msg = match bq.queue.recv() {
            Ok(m) => m,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => {
                    bump(&counters.enobufs);
                    continue;
                }
                _ => {
                    bump(&counters.errors);
                    consecutive_errors += 1;
                    if consecutive_errors > 1000 {
                        let _ = bq.queue.unbind(q.0);
                        return Err(NfqError::Recv {
                            queue: q.0,
                            source: e,
                        });
                    }
                    continue;
                }
            },
        };
        consecutive_errors = 0;
        let started = std::time::Instant::now();
        bump(&counters.received);
        let payload = msg.get_payload();
        let wire_len = msg.get_original_len().max(payload.len()) as u64;
        // A packet longer than the copy range arrives cut: it can be inspected, but writing
        // it back would truncate it on the wire.
        let truncated = msg.get_original_len() > payload.len();
        buf.clear();
        buf.extend_from_slice(payload);
        let info = PacketInfo {
            // Not `get_timestamp`: nfq 0.2.5 reads that attribute through a misaligned pointer
            // (a debug-build abort, undefined behaviour in release).
            ts: SystemTime::now(),
            queue: q,
            in_ifindex: msg.get_indev(),
            checksum_ready: msg.is_checksum_ready(),
            gso: msg.is_seg_offloaded(),
            ct_reply: reply_mark.is_some_and(|bit| msg.get_nfmark() & bit != 0),
        };
        // A panic in inspection is a bug reachable from packet bytes. Ending the worker would
        // let that one packet switch inspection off for everyone (the queue fails open), so
        // the packet is accepted uninspected, like a bypassed one, counted, and the worker
        // goes on with the next packet.
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inspector.inspect(&mut buf, &info)
        }));
        let decision = decided.unwrap_or_else(|panic| {
            let n = counters.panics.fetch_add(1, Ordering::Relaxed) + 1;
            // Every panic is counted; the log says why for the first ones, then every 1000th.
            if n <= 10 || n.is_multiple_of(1000) {
                tracing::error!(
                    "queue {}: inspection panicked ({n} so far), packet accepted uninspected: {}",
                    q.0,
                    panic_message(panic.as_ref())
                );
            }
            Decision::Accept
        });
        let verdict = match decision {
            Decision::Accept => {
                bump(&counters.accepted);
                nfq::Verdict::Accept
            }
            Decision::Drop => {
                bump(&counters.dropped);
                nfq::Verdict::Drop
            }
            Decision::Reject(target) => {
                bump(&counters.rejected);
                reject(responder, &buf, target, q, counters);
                nfq::Verdict::Drop
            }
            Decision::DropFlow(target) => {
                match target {
                    Some(t) => {
                        bump(&counters.rejected);
                        reject(responder, &buf, t, q, counters);
                    }
                    None => bump(&counters.dropped),
                }
                // Accepted here, dropped by the kernel's rule after the queue, which also
                // blocks the flow in conntrack.
                msg.set_nfmark(msg.get_nfmark() | verdict_compiler::kernel::FLOW_BLOCK_MARK);
                nfq::Verdict::Accept
            }
            Decision::Replace if truncated => {
                bump(&counters.errors);
                bump(&counters.accepted);
                nfq::Verdict::Accept
            }
            Decision::Replace => {
                bump(&counters.replaced);
                msg.set_payload(buf.as_slice());
                nfq::Verdict::Accept
            }
            Decision::Bypass { first, scope } => {
                use crate::bypass::BypassScope;
                use verdict_compiler::kernel::{DIRECTION_BYPASS_MARK, FLOW_BYPASS_MARK};
                bump(&counters.accepted);
                let (count, bit) = match scope {
                    BypassScope::Flow => (&counters.bypassed, FLOW_BYPASS_MARK),
                    BypassScope::Direction => (&counters.half_bypassed, DIRECTION_BYPASS_MARK),
                };
                if first {
                    bump(count);
                }
                let mark = msg.get_nfmark() | bit;
                msg.set_nfmark(mark);
                nfq::Verdict::Accept
            }
        };
        let outcome = match decision {
            Decision::Accept | Decision::Bypass { .. } => 0,
            Decision::Drop | Decision::DropFlow(None) => 1,
            Decision::Reject(_) | Decision::DropFlow(Some(_)) => 2,
            Decision::Replace if truncated => 0,
            Decision::Replace => 3,
        };
        counters.bytes[outcome].fetch_add(wire_len, Ordering::Relaxed);
        msg.set_verdict(verdict);
        if let Err(e) = bq.queue.verdict(msg) {
            tracing::debug!("queue {}: verdict failed: {e}", q.0);
            bump(&counters.errors);
        }
        let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counters.busy_ns.fetch_add(busy, Ordering::Relaxed);
    }
    bq.queue.unbind(q.0).map_err(|source| NfqError::Config {
        queue: q.0,
        step: "unbind",
        source,
    })
}

/// Sends the reject reply for `pkt` (counted as an error when it fails or no responder runs).
fn reject(
    responder: Option<&Responder>,
    pkt: &[u8],
    target: RejectTarget,
    q: QueueNum,
    counters: &QueueCounters,
) {
    match responder.map(|r| r.reject(pkt, target)) {
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            tracing::debug!("queue {}: reject reply failed: {}", q.0, chain(&e));
            bump(&counters.errors);
        }
        None => bump(&counters.errors),
    }
}

/// A running set of workers, one per queue.
pub struct Pool {
    workers: Vec<(QueueNum, JoinHandle<Result<(), NfqError>>)>,
    counters: Vec<(QueueNum, Arc<QueueCounters>)>,
    stop: Arc<AtomicBool>,
}

impl Pool {
    /// Binds every queue in `queues` (all before any worker starts, so a bind error is
    /// reported before anything is served), then starts one worker thread per queue with the
    /// inspector `make(queue)` returns. With `respond`, each worker opens raw sockets to send
    /// reject replies.
    pub fn spawn<I, F>(
        queues: &[QueueNum],
        cfg: &QueueConfig,
        respond: bool,
        mut make: F,
        stop: Arc<AtomicBool>,
    ) -> Result<Pool, NfqError>
    where
        I: Inspect + Send + 'static,
        F: FnMut(QueueNum) -> I,
    {
        let mut bound = Vec::new();
        for &q in queues {
            bound.push(bind(q, cfg)?);
        }
        let mut workers = Vec::new();
        let mut counters = Vec::new();
        for bq in bound {
            let q = bq.num;
            let c = Arc::new(QueueCounters::default());
            counters.push((q, Arc::clone(&c)));
            let inspector = make(q);
            let stop = Arc::clone(&stop);
            let responder = if respond {
                Some(Responder::new().map_err(|source| NfqError::Config {
                    queue: q.0,
                    step: "open raw sockets for reject",
                    source,
                })?)
            } else {
                None
            };
            let handle = std::thread::Builder::new()
                .name(format!("nfq-{}", q.0))
                .spawn(move || serve(bq, inspector, responder.as_ref(), &c, &stop))
                .map_err(|source| NfqError::Config {
                    queue: q.0,
                    step: "spawn worker",
                    source,
                })?;
            workers.push((q, handle));
        }
        Ok(Pool {
            workers,
            counters,
            stop,
        })
    }

    /// The counters of each queue.
    pub fn counters(&self) -> &[(QueueNum, Arc<QueueCounters>)] {
        &self.counters
    }

    /// Snapshot of every queue's counters.
    pub fn stats(&self) -> Vec<QueueStats> {
        self.counters.iter().map(|(q, c)| c.snapshot(*q)).collect()
    }

    /// Whether any worker has exited (an error, or the stop flag).
    pub fn any_finished(&self) -> bool {
        self.workers.iter().any(|(_, h)| h.is_finished())
    }

    /// Sets the stop flag and waits for every worker; returns the first error.
    pub fn shutdown(self) -> Result<(), NfqError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut first = Ok(());
        for (q, h) in self.workers {
            let r = h.join().unwrap_or(Err(NfqError::Panicked(q.0)));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

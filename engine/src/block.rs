//! Active response: who gets blocked, for how long, and what stops a block.
//!
//! [`Blocker`] is the one place every block goes through — `verdict block` with no engine,
//! the control socket, `fwsam` rules, per-sid/per-classtype durations from the config and the
//! scan detector — so the safety checks cannot be bypassed by one path:
//! - the **whitelist** (configured networks, the gateway's own addresses and its DNS servers)
//!   is never blocked; an attempt is refused, counted and logged (an EVE alert for automatic
//!   attempts);
//! - the **rapid-block guard**: more than `max` *new automatic* blocks within `window` means
//!   someone may be spoofing sources to make us block the world, so the blocks of that burst
//!   are rolled back, automatic blocking pauses for `pause`, and an alert is written. Manual
//!   blocks are never counted or refused by the guard.
//!
//! The kernel side is a [`Backend`] (nft's block sets in production, a map in tests).
//! Automatic blocks come from the packet path, so they are queued to a thread
//! ([`Blocker::spawn_auto`]) and never make a worker or the alert writer wait on `nft`.

use crate::output::{AlertEvent, Event, PacketInfo};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use verdict_compiler::bytecode::Program;
use verdict_compiler::ir::BlockHow;
use verdict_nft::block::{self as nft_block, BlockError, Cidr, Direction, Entry, NewBlock};

/// gid of verdict's own alerts (scan detection, guard, whitelist), like a Snort preprocessor's.
pub const VERDICT_GID: u32 = 122;
/// sid of the rapid-block guard alert.
pub const SID_GUARD: u32 = 100;
/// sid of the "whitelisted address was not blocked" alert.
pub const SID_WHITELISTED: u32 = 101;

/// Default duration of a manual block without `--for`.
pub const DEFAULT_MANUAL: Duration = Duration::from_secs(3600);

/// Parses a duration: `90`, `90s`, `5m`, `1h`, `2d`, `1w`, `5 seconds`, `1 hour`;
/// `permanent` (or `0`) gives `None`, meaning no expiry.
pub fn parse_duration(s: &str) -> Result<Option<Duration>, String> {
    let t = s.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "0" | "permanent" | "perm" | "forever") {
        return Ok(None);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{}` is not a duration (e.g. 30s, 5m, 1h, 2d)", short(s)))?;
    let mult = match unit.trim() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        other => return Err(format!("unknown time unit `{}`", short(other))),
    };
    let secs = n
        .checked_mul(mult)
        .filter(|&s| s <= 10 * 365 * 86_400)
        .ok_or_else(|| format!("duration `{}` is out of range (max 10 years)", short(s)))?;
    Ok(Some(Duration::from_secs(secs)))
}

/// At most 40 characters of user text for an error message.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Formats a number of seconds as `1h02m03s`, `5m00s` or `42s`.
pub fn human_secs(s: u64) -> String {
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else if h > 0 {
        format!("{h}h{m:02}m{sec:02}s")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else {
        format!("{sec}s")
    }
}

/// The rapid-block guard's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// More new automatic blocks than this within `window` trips the guard.
    pub max: u32,
    /// The window.
    pub window: Duration,
    /// How long automatic blocking stays paused after a trip.
    pub pause: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max: 10,
            window: Duration::from_secs(10),
            pause: Duration::from_secs(300),
        }
    }
}

/// Everything the blocker decides with; replaced as a whole on reload.
#[derive(Debug, Clone, Default)]
pub struct BlockSettings {
    /// Never blocked (configured networks plus, usually, own addresses and DNS servers).
    pub whitelist: Vec<Cidr>,
    /// Whether automatic blocks are applied (false in IDS mode: they are only logged).
    pub enforce_auto: bool,
    /// Block the source of an alert of this sid for this long (`None`: permanent).
    pub sids: HashMap<u32, Option<Duration>>,
    /// Block the source of an alert of a rule with this classtype (short name).
    pub classtypes: HashMap<String, Option<Duration>>,
    /// The rapid-block guard.
    pub guard: GuardConfig,
}

/// The `[block]` table of verdict.toml, as written; [`BlockConfig::resolve`] turns it into
/// [`BlockSettings`] (at start-up, in `verdict block` without an engine, and on reload).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockConfig {
    /// Networks never blocked.
    pub whitelist: Vec<String>,
    /// Also never block the gateway's own addresses.
    pub whitelist_own_addresses: bool,
    /// Also never block the nameservers of /etc/resolv.conf.
    pub whitelist_dns: bool,
    /// Apply automatic blocks (fwsam, sids, classtypes, scans).
    pub auto: bool,
    /// Guard: more new automatic blocks than this within `guard_window` trips it.
    pub guard_max: u32,
    /// Guard window (a duration such as `10s`).
    pub guard_window: String,
    /// How long automatic blocking pauses after a trip.
    pub guard_pause: String,
    /// Block the source of these sids' alerts for a duration (`sid = "1h"`).
    pub sids: HashMap<String, String>,
    /// Block the source of alerts of rules with these classtypes (`attempted-recon = "10m"`).
    pub classtypes: HashMap<String, String>,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            whitelist: Vec::new(),
            whitelist_own_addresses: true,
            whitelist_dns: true,
            auto: true,
            guard_max: GuardConfig::default().max,
            guard_window: "10s".into(),
            guard_pause: "5m".into(),
            sids: HashMap::new(),
            classtypes: HashMap::new(),
        }
    }
}

impl BlockConfig {
    /// Validates and resolves the settings; `enforce` is false in IDS mode. The gateway's
    /// addresses are read now, so call it again on reload.
    pub fn resolve(&self, enforce: bool) -> Result<BlockSettings, String> {
        let mut whitelist = Vec::new();
        for w in &self.whitelist {
            whitelist.push(
                w.parse::<Cidr>()
                    .map_err(|e| format!("[block] whitelist: {e}"))?,
            );
        }
        if self.whitelist_own_addresses {
            whitelist.extend(own_addresses().into_iter().map(Cidr::host));
            // Loopback even when `lo` has no address yet: blocking it only breaks the box.
            whitelist.extend(
                ["127.0.0.0/8", "::1"]
                    .iter()
                    .filter_map(|s| s.parse::<Cidr>().ok()),
            );
        }
        if self.whitelist_dns {
            let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            whitelist.extend(dns_servers(&conf).into_iter().map(Cidr::host));
        }
        whitelist.sort();
        whitelist.dedup();
        let dur = |key: &str, v: &str| -> Result<Duration, String> {
            parse_duration(v)
                .map_err(|e| format!("[block] {key}: {e}"))?
                .ok_or_else(|| format!("[block] {key} cannot be permanent"))
        };
        let mut sids = HashMap::new();
        for (k, v) in &self.sids {
            let sid: u32 = k
                .parse()
                .map_err(|_| format!("[block.sids]: `{}` is not a sid", short(k)))?;
            sids.insert(
                sid,
                parse_duration(v).map_err(|e| format!("[block.sids] {sid}: {e}"))?,
            );
        }
        let mut classtypes = HashMap::new();
        for (k, v) in &self.classtypes {
            classtypes.insert(
                k.clone(),
                parse_duration(v).map_err(|e| format!("[block.classtypes] {k}: {e}"))?,
            );
        }
        if self.guard_max == 0 {
            return Err("[block] guard_max must be at least 1".into());
        }
        Ok(BlockSettings {
            whitelist,
            enforce_auto: enforce && self.auto,
            sids,
            classtypes,
            guard: GuardConfig {
                max: self.guard_max,
                window: dur("guard_window", &self.guard_window)?,
                pause: dur("guard_pause", &self.guard_pause)?,
            },
        })
    }
}

/// The gateway's own addresses (every interface), which must never be blocked.
pub fn own_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills ifap with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return out;
    }
    let mut cur = ifap;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned and has not been freed.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says which struct it is.
            let fam = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if fam == libc::AF_INET {
                // SAFETY: family AF_INET means a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::from(
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                ));
            } else if fam == libc::AF_INET6 {
                // SAFETY: family AF_INET6 means a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: ifap came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifap) };
    out.sort();
    out.dedup();
    out
}

/// The `nameserver` addresses of a resolv.conf text.
pub fn dns_servers(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then_some(())?;
            // Link-local IPv6 servers carry a zone (`fe80::1%eth0`).
            w.next()?.split('%').next()?.parse().ok()
        })
        .collect()
}

/// Where kernel blocks go: nft's block sets in production.
pub trait Backend: Send {
    /// Adds (or refreshes) blocks in one transaction.
    fn add(&mut self, blocks: &[NewBlock]) -> Result<(), BlockError>;
    /// Removes these networks; returns what was removed.
    fn delete(&mut self, nets: &[Cidr]) -> Result<Vec<Entry>, BlockError>;
    /// What is blocked now.
    fn list(&mut self) -> Result<Vec<Entry>, BlockError>;
}

/// The kernel's block sets ([`verdict_nft::block`]).
#[derive(Debug, Default)]
pub struct NftBackend;

impl Backend for NftBackend {
    fn add(&mut self, blocks: &[NewBlock]) -> Result<(), BlockError> {
        nft_block::add(blocks)
    }
    fn delete(&mut self, nets: &[Cidr]) -> Result<Vec<Entry>, BlockError> {
        nft_block::delete(nets)
    }
    fn list(&mut self) -> Result<Vec<Entry>, BlockError> {
        nft_block::list()
    }
}

/// Who asked for a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An operator (CLI or control socket): no guard.
    Manual,
    /// A rule's alert (`fwsam` or a configured sid/classtype duration).
    Rule {
        /// gid
        gid: u32,
        /// sid
        sid: u32,
    },
    /// The scan detector.
    Scan,
}

impl Origin {
    fn is_auto(self) -> bool {
        self != Origin::Manual
    }
}

/// One block request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The address or network.
    pub net: Cidr,
    /// Which packets to drop.
    pub dir: Direction,
    /// How long (`None`: permanent).
    pub duration: Option<Duration>,
    /// Why; becomes the set element's comment.
    pub reason: String,
    /// Who asked.
    pub origin: Origin,
    /// The packet that caused it, for the alerts the blocker writes.
    pub pkt: Option<Arc<PacketInfo>>,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Newly blocked.
    Blocked,
    /// Already blocked for at least as long: nothing changed.
    AlreadyBlocked,
    /// Refused: the address is (or covers) a whitelisted network.
    Whitelisted(Cidr),
    /// Refused: automatic blocking is paused by the guard for this many more seconds.
    Paused(u64),
    /// Automatic blocking is off (IDS mode): only logged.
    NotEnforced,
    /// This request tripped the guard: it and the burst's other blocks were rolled back.
    GuardTripped {
        /// How many blocks of the burst were removed again.
        rolled_back: usize,
    },
}

/// Counters shown by `stats`.
#[derive(Debug, Default)]
struct Counts {
    blocked_manual: AtomicU64,
    blocked_auto: AtomicU64,
    whitelisted: AtomicU64,
    paused_refusals: AtomicU64,
    guard_trips: AtomicU64,
    rolled_back: AtomicU64,
    auto_queue_full: AtomicU64,
    errors: AtomicU64,
}

/// The blocker's counters, for `stats`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BlockStats {
    /// Blocks made by operators.
    pub blocked_manual: u64,
    /// Blocks made by rules and the scan detector.
    pub blocked_auto: u64,
    /// Requests refused because of the whitelist.
    pub whitelisted: u64,
    /// Automatic requests refused while the guard paused blocking.
    pub paused_refusals: u64,
    /// Times the guard tripped.
    pub guard_trips: u64,
    /// Blocks rolled back by the guard.
    pub rolled_back: u64,
    /// Automatic requests lost because the block queue was full.
    pub auto_queue_full: u64,
    /// Kernel operations that failed.
    pub errors: u64,
    /// Seconds the guard still pauses automatic blocking (0: not paused).
    pub paused_secs: u64,
}

#[derive(Debug, Default)]
struct State {
    /// New automatic blocks within the guard window, oldest first.
    recent_auto: VecDeque<(Instant, Cidr)>,
    paused_until: Option<Instant>,
    /// Expiry of what this process blocked (`None`: permanent), to skip redundant nft calls.
    known: HashMap<Cidr, Option<Instant>>,
}

/// What a rule's alert asks for.
#[derive(Debug, Clone)]
struct RuleBlock {
    /// (block the source?, which packets, how long)
    fwsam: Option<(bool, Direction, Option<Duration>)>,
    classtype: Option<String>,
}

/// The one place every block goes through (see the module docs).
pub struct Blocker {
    settings: RwLock<Arc<BlockSettings>>,
    rules: RwLock<HashMap<(u32, u32), RuleBlock>>,
    state: Mutex<State>,
    backend: Mutex<Box<dyn Backend>>,
    /// Taken at shutdown so the alert writer can finish while control clients linger.
    events: Mutex<Option<Sender<Event>>>,
    counts: Counts,
}

impl Blocker {
    /// A blocker on `backend`; its own alerts (guard, whitelist) go to `events` if given.
    pub fn new(
        settings: BlockSettings,
        backend: Box<dyn Backend>,
        events: Option<Sender<Event>>,
    ) -> Blocker {
        Blocker {
            settings: RwLock::new(Arc::new(settings)),
            rules: RwLock::default(),
            state: Mutex::default(),
            backend: Mutex::new(backend),
            events: Mutex::new(events),
            counts: Counts::default(),
        }
    }

    /// Stops writing alerts (at shutdown, so the writer is not kept alive by a lingering
    /// control client).
    pub fn close_events(&self) {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Replaces the settings (reload); blocks already made stay.
    pub fn set_settings(&self, s: BlockSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<BlockSettings> {
        Arc::clone(&self.settings.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Learns each loaded rule's `fwsam` and classtype, so alerts can be mapped to blocks.
    pub fn set_rules(&self, programs: &[Program]) {
        let map = programs
            .iter()
            .filter_map(|p| {
                let rb = RuleBlock {
                    fwsam: p.block.map(|b| {
                        let dir = match b.how {
                            BlockHow::In => Direction::Src,
                            BlockHow::Out => Direction::Dst,
                            BlockHow::Both => Direction::Both,
                        };
                        (
                            b.src,
                            dir,
                            (b.seconds > 0).then(|| Duration::from_secs(b.seconds.into())),
                        )
                    }),
                    classtype: p.classtype.clone(),
                };
                (rb.fwsam.is_some() || rb.classtype.is_some()).then_some(((p.gid.0, p.sid.0), rb))
            })
            .collect();
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// The block an alert asks for (by `fwsam`, then the config's sid, then classtype
    /// durations), if any.
    pub fn request_for_alert(&self, a: &AlertEvent) -> Option<Request> {
        let settings = self.settings();
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        let rb = rules.get(&(a.gid, a.sid));
        let (src, dir, duration) = if let Some(f) = rb.and_then(|r| r.fwsam) {
            f
        } else if let Some(d) = settings.sids.get(&a.sid) {
            (true, Direction::Both, *d)
        } else {
            let ct = rb.and_then(|r| r.classtype.as_ref())?;
            (true, Direction::Both, *settings.classtypes.get(ct)?)
        };
        let addr = if src { a.pkt.src_ip } else { a.pkt.dest_ip };
        Some(Request {
            net: Cidr::host(addr),
            dir,
            duration,
            reason: format!("sid:{} {}", a.sid, a.signature),
            origin: Origin::Rule {
                gid: a.gid,
                sid: a.sid,
            },
            pkt: Some(Arc::clone(&a.pkt)),
        })
    }

    /// The whitelisted network `net` touches, if any.
    pub fn whitelisted(&self, net: &Cidr) -> Option<Cidr> {
        self.settings()
            .whitelist
            .iter()
            .find(|w| w.overlaps(net))
            .copied()
    }

    /// Applies one request (see [`Outcome`]); errors are the kernel's.
    pub fn block(&self, req: &Request) -> Result<Outcome, BlockError> {
        let settings = self.settings();
        if let Some(w) = self.whitelisted(&req.net) {
            self.counts.whitelisted.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "not blocking {} ({}): whitelisted by {w}",
                req.net,
                req.reason
            );
            if req.origin.is_auto() {
                self.alert(
                    req,
                    SID_WHITELISTED,
                    format!("verdict: block of whitelisted {} refused", req.net),
                );
            }
            return Ok(Outcome::Whitelisted(w));
        }
        if req.origin.is_auto() && !settings.enforce_auto {
            tracing::info!("would block {} ({}) in IPS mode", req.net, req.reason);
            return Ok(Outcome::NotEnforced);
        }
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // An expiry past what Instant can hold is as good as permanent.
        let until = req.duration.and_then(|d| now.checked_add(d));
        // Expired entries of our own bookkeeping: the kernel has dropped them too.
        st.known.retain(|_, exp| exp.is_none_or(|e| e > now));
        let known = st.known.get(&req.net).copied();
        let covered = match (known, until) {
            (Some(None), _) => true,
            // Re-blocking within a second of the same expiry is not worth an nft call.
            (Some(Some(k)), Some(u)) => k + Duration::from_secs(1) >= u,
            _ => false,
        };
        if covered && req.origin.is_auto() {
            return Ok(Outcome::AlreadyBlocked);
        }
        let is_new = known.is_none();
        if req.origin.is_auto() {
            if let Some(p) = st.paused_until {
                if p > now {
                    self.counts.paused_refusals.fetch_add(1, Ordering::Relaxed);
                    return Ok(Outcome::Paused(p.duration_since(now).as_secs().max(1)));
                }
                st.paused_until = None;
            }
            let window = settings.guard.window;
            while st
                .recent_auto
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > window)
            {
                st.recent_auto.pop_front();
            }
            if is_new && st.recent_auto.len() >= settings.guard.max as usize {
                return Ok(self.trip(&mut st, req, now, &settings));
            }
        }
        let nb = NewBlock {
            net: req.net,
            dir: req.dir,
            timeout: req.duration,
            reason: req.reason.clone(),
        };
        let res = self
            .backend
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(std::slice::from_ref(&nb));
        if let Err(e) = res {
            self.counts.errors.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        st.known.insert(req.net, until);
        if req.origin.is_auto() {
            if is_new {
                st.recent_auto.push_back((now, req.net));
            }
            self.counts.blocked_auto.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counts.blocked_manual.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(
            "blocked {} ({}) for {} ({})",
            req.net,
            req.dir.name(),
            req.duration
                .map(|d| human_secs(d.as_secs()))
                .unwrap_or_else(|| "ever".into()),
            req.reason
        );
        if is_new || !covered {
            Ok(Outcome::Blocked)
        } else {
            Ok(Outcome::AlreadyBlocked)
        }
    }

    /// The guard trips: roll back the burst, pause, alert loudly.
    fn trip(&self, st: &mut State, req: &Request, now: Instant, s: &BlockSettings) -> Outcome {
        let burst: Vec<Cidr> = st.recent_auto.drain(..).map(|(_, n)| n).collect();
        let removed = match self
            .backend
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .delete(&burst)
        {
            Ok(r) => r.len(),
            Err(e) => {
                self.counts.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("rapid-block guard could not roll back the burst: {e}");
                0
            }
        };
        for n in &burst {
            st.known.remove(n);
        }
        st.paused_until = Some(now.checked_add(s.guard.pause).unwrap_or(now));
        self.counts.guard_trips.fetch_add(1, Ordering::Relaxed);
        self.counts
            .rolled_back
            .fetch_add(removed as u64, Ordering::Relaxed);
        let list: Vec<String> = burst.iter().map(|n| n.to_string()).collect();
        tracing::error!(
            "RAPID-BLOCK GUARD: more than {} automatic blocks within {}s (last: {} for {}); \
             rolled back {removed} blocks [{}], automatic blocking paused for {}s — possible spoofing",
            s.guard.max,
            s.guard.window.as_secs(),
            req.net,
            req.reason,
            list.join(", "),
            s.guard.pause.as_secs()
        );
        self.alert(
            req,
            SID_GUARD,
            format!(
                "verdict: rapid-block guard tripped, {removed} blocks rolled back, automatic blocking paused {}s",
                s.guard.pause.as_secs()
            ),
        );
        Outcome::GuardTripped {
            rolled_back: removed,
        }
    }

    /// Removes every block of `net`; returns what was removed.
    pub fn unblock(&self, net: &Cidr) -> Result<Vec<Entry>, BlockError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.known.remove(net);
        st.recent_auto.retain(|(_, n)| n != net);
        drop(st);
        self.backend
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .delete(std::slice::from_ref(net))
    }

    /// What the kernel blocks now.
    pub fn list(&self) -> Result<Vec<Entry>, BlockError> {
        self.backend
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .list()
    }

    /// The counters.
    pub fn stats(&self) -> BlockStats {
        let c = &self.counts;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let paused_secs = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .paused_until
            .map(|p| p.saturating_duration_since(Instant::now()).as_secs())
            .unwrap_or(0);
        BlockStats {
            blocked_manual: g(&c.blocked_manual),
            blocked_auto: g(&c.blocked_auto),
            whitelisted: g(&c.whitelisted),
            paused_refusals: g(&c.paused_refusals),
            guard_trips: g(&c.guard_trips),
            rolled_back: g(&c.rolled_back),
            auto_queue_full: g(&c.auto_queue_full),
            errors: g(&c.errors),
            paused_secs,
        }
    }

    /// Writes one of verdict's own alerts about `req`.
    fn alert(&self, req: &Request, sid: u32, msg: String) {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = events.as_ref() else { return };
        let pkt = req.pkt.clone().unwrap_or_else(|| {
            let unspecified = if req.net.is_v4() {
                IpAddr::from([0u8; 4])
            } else {
                IpAddr::from([0u8; 16])
            };
            Arc::new(PacketInfo {
                ts: SystemTime::now(),
                flow_id: None,
                pcap_cnt: None,
                in_iface: None,
                src_ip: req.net.addr(),
                dest_ip: unspecified,
                src_port: 0,
                dest_port: 0,
                proto: 0,
                to_server: None,
                bytes: Vec::new(),
                ip_fields: (0, 0, 0),
                tunnel: None,
            })
        });
        let ev = AlertEvent {
            pkt,
            blocked: false,
            gid: VERDICT_GID,
            sid,
            rev: 1,
            signature: msg.into(),
            category: Some("Active Response".into()),
            severity: 1,
            rule_action: "alert",
            matches: Vec::new(),
            app: None,
            context: Vec::new(),
        };
        let _ = tx.try_send(Event::Alert(Box::new(ev)));
    }

    /// Starts the thread that applies automatic blocks; requests sent to the returned
    /// [`AutoBlocks`] are dropped (and counted) when it falls behind, never waited for. The
    /// thread ends once every `AutoBlocks` clone is dropped.
    pub fn spawn_auto(self: &Arc<Self>) -> (AutoBlocks, std::thread::JoinHandle<()>) {
        let (tx, rx): (Sender<Request>, Receiver<Request>) = crossbeam_channel::bounded(4096);
        let me = Arc::clone(self);
        let h = std::thread::Builder::new()
            .name("verdict-block".into())
            .spawn(move || {
                for req in rx {
                    if let Err(e) = me.block(&req) {
                        tracing::error!("cannot block {} ({}): {e}", req.net, req.reason);
                    }
                }
            })
            .expect("spawning a thread only fails when the process is out of resources");
        (
            AutoBlocks {
                tx,
                blocker: Arc::clone(self),
            },
            h,
        )
    }

    /// Starts a thread between the workers and the output writer: every event is passed on
    /// to `writer`, and alerts that ask for a block (fwsam, configured sids/classtypes) are
    /// handed to `auto`. Returns the sender the workers should use; the thread ends when
    /// every clone of it is dropped, and then drops its `writer` sender.
    pub fn tee(
        self: &Arc<Self>,
        writer: Sender<Event>,
        auto: AutoBlocks,
    ) -> (Sender<Event>, std::thread::JoinHandle<()>) {
        let (tx, rx) = crossbeam_channel::bounded::<Event>(crate::output::CHANNEL_CAPACITY);
        let me = Arc::clone(self);
        let h = std::thread::Builder::new()
            .name("verdict-respond".into())
            .spawn(move || {
                for ev in rx {
                    if let Event::Alert(a) = &ev {
                        if let Some(req) = me.request_for_alert(a) {
                            auto.submit(req);
                        }
                    }
                    if writer.send(ev).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning a thread only fails when the process is out of resources");
        (tx, h)
    }
}

/// A handle to submit automatic block requests without waiting.
#[derive(Clone)]
pub struct AutoBlocks {
    tx: Sender<Request>,
    blocker: Arc<Blocker>,
}

impl AutoBlocks {
    /// Queues a request; when the queue is full the request is counted and dropped.
    pub fn submit(&self, req: Request) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(req) {
            self.blocker
                .counts
                .auto_queue_full
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An in-memory [`Backend`] (tests, and a model of what the kernel does).
#[derive(Debug, Default, Clone)]
pub struct MemBackend {
    /// The current blocks.
    pub entries: Arc<Mutex<Vec<NewBlock>>>,
}

impl Backend for MemBackend {
    fn add(&mut self, blocks: &[NewBlock]) -> Result<(), BlockError> {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for b in blocks {
            e.retain(|x| x.net != b.net);
            e.push(b.clone());
        }
        Ok(())
    }
    fn delete(&mut self, nets: &[Cidr]) -> Result<Vec<Entry>, BlockError> {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (gone, keep): (Vec<_>, Vec<_>) = e.drain(..).partition(|x| nets.contains(&x.net));
        *e = keep;
        Ok(gone.into_iter().map(mem_entry).collect())
    }
    fn list(&mut self) -> Result<Vec<Entry>, BlockError> {
        let e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Ok(e.iter().cloned().map(mem_entry).collect())
    }
}

fn mem_entry(b: NewBlock) -> Entry {
    Entry {
        net: b.net,
        dir: b.dir,
        expires_secs: b.timeout.map(|d| d.as_secs()),
        timeout_secs: b.timeout.map(|d| d.as_secs()),
        reason: b.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(addr: &str, origin: Origin) -> Request {
        Request {
            net: addr.parse().unwrap(),
            dir: Direction::Both,
            duration: Some(Duration::from_secs(60)),
            reason: "test".into(),
            origin,
            pkt: None,
        }
    }

    fn blocker(max: u32) -> (Blocker, MemBackend, crossbeam_channel::Receiver<Event>) {
        let mem = MemBackend::default();
        let (tx, rx) = crossbeam_channel::unbounded();
        let s = BlockSettings {
            whitelist: vec![
                "198.51.100.53".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            enforce_auto: true,
            guard: GuardConfig {
                max,
                window: Duration::from_secs(10),
                pause: Duration::from_secs(60),
            },
            ..Default::default()
        };
        (Blocker::new(s, Box::new(mem.clone()), Some(tx)), mem, rx)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_duration("5 seconds").unwrap(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_duration("1h").unwrap(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_duration("2d").unwrap(),
            Some(Duration::from_secs(172_800))
        );
        assert_eq!(parse_duration("permanent").unwrap(), None);
        for bad in [
            "",
            "h",
            "5 fortnights",
            "99999999999999999999",
            "100000 weeks",
            "-1",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human_secs(3723), "1h02m03s");
        assert_eq!(human_secs(42), "42s");
    }

    #[test]
    fn resolv_conf() {
        let v = dns_servers(
            "# x\nnameserver 198.51.100.53\nnameserver fe80::1%eth0\nsearch a\nnameserver bogus\n",
        );
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn whitelist_is_never_blocked_and_logged() {
        let (b, mem, rx) = blocker(10);
        let o = b.block(&req("198.51.100.53", Origin::Scan)).unwrap();
        assert!(matches!(o, Outcome::Whitelisted(_)));
        // A network that covers a whitelisted address is refused too, manual or not.
        let o = b.block(&req("198.51.100.0/24", Origin::Manual)).unwrap();
        assert!(matches!(o, Outcome::Whitelisted(_)));
        assert!(mem.entries.lock().unwrap().is_empty());
        assert!(matches!(rx.try_recv(), Ok(Event::Alert(a)) if a.sid == SID_WHITELISTED));
        assert_eq!(b.stats().whitelisted, 2);
    }

    #[test]
    fn guard_rolls_back_a_burst_and_pauses_only_automatic_blocks() {
        let (b, mem, rx) = blocker(3);
        for i in 1..=3 {
            let o = b
                .block(&req(&format!("203.0.113.{i}"), Origin::Scan))
                .unwrap();
            assert_eq!(o, Outcome::Blocked);
        }
        // Repeating a known block does not count as a new one.
        assert_eq!(
            b.block(&req("203.0.113.1", Origin::Scan)).unwrap(),
            Outcome::AlreadyBlocked
        );
        let o = b.block(&req("203.0.113.4", Origin::Scan)).unwrap();
        assert_eq!(o, Outcome::GuardTripped { rolled_back: 3 });
        assert!(mem.entries.lock().unwrap().is_empty());
        assert!(matches!(
            b.block(&req("203.0.113.5", Origin::Scan)).unwrap(),
            Outcome::Paused(_)
        ));
        assert_eq!(
            b.block(&req("203.0.113.6", Origin::Manual)).unwrap(),
            Outcome::Blocked
        );
        assert_eq!(mem.entries.lock().unwrap().len(), 1);
        let s = b.stats();
        assert_eq!((s.guard_trips, s.rolled_back, s.paused_refusals), (1, 3, 1));
        assert!(s.paused_secs > 0);
        assert!(matches!(rx.try_recv(), Ok(Event::Alert(a)) if a.sid == SID_GUARD));
    }

    #[test]
    fn alerts_map_to_blocks_by_fwsam_then_sid_then_classtype() {
        use verdict_compiler::check::{load_str, LoadOptions};
        use verdict_compiler::codegen::{compile, CompileOptions};
        let rules = "alert udp any any -> any 1 (msg:\"a\"; content:\"x\"; fwsam:dst[out],1 minute; sid:1;)\n\
                     alert udp any any -> any 2 (msg:\"b\"; content:\"x\"; fwsam:src,permanent; sid:2;)\n\
                     alert udp any any -> any 3 (msg:\"c\"; content:\"x\"; classtype:attempted-recon; sid:3;)\n\
                     alert udp any any -> any 4 (msg:\"d\"; content:\"x\"; sid:4;)\n";
        let (_, loaded) = load_str("t.rules", rules, &LoadOptions::default());
        let opts = CompileOptions {
            image_all: true,
            ..Default::default()
        };
        let image = compile(&loaded.rules, &opts).image;
        let (b, _, _) = blocker(10);
        let mut s = (*b.settings()).clone();
        s.classtypes
            .insert("attempted-recon".into(), Some(Duration::from_secs(600)));
        b.set_settings(s);
        b.set_rules(&image.programs);
        let alert = |sid: u32| AlertEvent {
            pkt: Arc::new(PacketInfo {
                ts: SystemTime::now(),
                flow_id: None,
                pcap_cnt: None,
                in_iface: None,
                src_ip: "192.0.2.2".parse().unwrap(),
                dest_ip: "198.51.100.2".parse().unwrap(),
                src_port: 1000,
                dest_port: 1,
                proto: 17,
                to_server: None,
                bytes: Vec::new(),
                ip_fields: (64, 0, 0),
                tunnel: None,
            }),
            blocked: false,
            gid: 1,
            sid,
            rev: 1,
            signature: "m".into(),
            category: None,
            severity: 3,
            rule_action: "alert",
            matches: Vec::new(),
            app: None,
            context: Vec::new(),
        };
        let r = b.request_for_alert(&alert(1)).unwrap();
        assert_eq!(r.net.to_string(), "198.51.100.2");
        assert_eq!(
            (r.dir, r.duration),
            (Direction::Dst, Some(Duration::from_secs(60)))
        );
        let r = b.request_for_alert(&alert(2)).unwrap();
        assert_eq!(
            (r.net.to_string().as_str(), r.dir, r.duration),
            ("192.0.2.2", Direction::Both, None)
        );
        let r = b.request_for_alert(&alert(3)).unwrap();
        assert_eq!(r.duration, Some(Duration::from_secs(600)));
        assert!(b.request_for_alert(&alert(4)).is_none());
    }

    #[test]
    fn ids_mode_only_logs_automatic_blocks() {
        let (b, mem, _rx) = blocker(3);
        let mut s = (*b.settings()).clone();
        s.enforce_auto = false;
        b.set_settings(s);
        assert_eq!(
            b.block(&req("203.0.113.1", Origin::Scan)).unwrap(),
            Outcome::NotEnforced
        );
        assert_eq!(
            b.block(&req("203.0.113.1", Origin::Manual)).unwrap(),
            Outcome::Blocked
        );
        assert_eq!(mem.entries.lock().unwrap().len(), 1);
        assert_eq!(b.unblock(&"203.0.113.1".parse().unwrap()).unwrap().len(), 1);
    }
}

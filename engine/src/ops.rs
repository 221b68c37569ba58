//! Operating a running engine: which rule set runs now, which sids an operator switched off,
//! and how both change without a restart.
//!
//! - [`Live`] holds the running rule set ([`Loaded`]) behind an `ArcSwap`. A reload builds the
//!   next set off the packet path, stores it and bumps a generation number; each worker
//!   ([`LiveSlot::refresh`]) compares that number once per packet (one relaxed load, no lock)
//!   and, when it changed, moves itself to the new set between two packets, translating its
//!   flow state by identity (see `detect::reload`).
//! - The enable bits live outside the compiled programs (one atomic per program, which the
//!   workers read when a program matches), so `disable SID` is a store the next packet sees.
//!   The operator's choices are the [`State`], persisted to a small JSON file, so a restart
//!   or a reload keeps them: every rule set the engine loads is built with them applied.

use crate::detect::{Counters, Detector, Worker};
use crate::run::RuleHits;
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the operator's state (disabled sids) is kept when the config names no other file.
pub const DEFAULT_STATE_FILE: &str = "/var/lib/verdict/state.json";

/// A sid an operator switched off, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisabledSid {
    /// The rule's sid.
    pub sid: u32,
    /// The operator's reason (empty when none was given).
    #[serde(default)]
    pub reason: String,
    /// When it was switched off (seconds since the epoch).
    #[serde(default)]
    pub since_unix: u64,
}

/// What the operator changed at run time and a restart must keep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Switched-off sids, by sid.
    #[serde(default)]
    pub disabled: Vec<DisabledSid>,
}

/// Why the state file or a switch failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The state file exists but cannot be read.
    #[error("cannot read the state file {path}")]
    Read {
        /// where
        path: PathBuf,
        /// why
        #[source]
        source: std::io::Error,
    },
    /// The state file is not what verdict writes.
    #[error("the state file {path} is not valid: {msg} (fix or remove it)")]
    Parse {
        /// where
        path: PathBuf,
        /// serde's message, with line and column
        msg: String,
    },
    /// The state file cannot be written.
    #[error("cannot write the state file {path}")]
    Write {
        /// where
        path: PathBuf,
        /// why
        #[source]
        source: std::io::Error,
    },
}

impl State {
    /// Reads the state file; a missing file is an empty state (nothing switched off yet).
    pub fn load(path: &Path) -> Result<State, OpsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => {
                return Err(OpsError::Read {
                    path: path.into(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| OpsError::Parse {
            path: path.into(),
            msg: e.to_string(),
        })
    }

    /// Writes the state atomically (temp file + rename): a crash never leaves half a file.
    pub fn save(&self, path: &Path) -> Result<(), OpsError> {
        let err = |source| OpsError::Write {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| err(e.into()))?;
        bytes.push(b'\n');
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(err)
    }

    /// Records `sid` as switched off (or updates its reason); true if it was on before.
    pub fn disable(&mut self, sid: u32, reason: Option<&str>) -> bool {
        let since_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let reason = reason.unwrap_or_default().to_string();
        match self.disabled.iter_mut().find(|d| d.sid == sid) {
            Some(d) => {
                if !reason.is_empty() {
                    d.reason = reason;
                }
                false
            }
            None => {
                self.disabled.push(DisabledSid {
                    sid,
                    reason,
                    since_unix,
                });
                self.disabled.sort_by_key(|d| d.sid);
                true
            }
        }
    }

    /// Forgets `sid`; true if it was switched off.
    pub fn enable(&mut self, sid: u32) -> bool {
        let before = self.disabled.len();
        self.disabled.retain(|d| d.sid != sid);
        before != self.disabled.len()
    }

    /// The switched-off sids.
    pub fn sids(&self) -> Vec<u32> {
        self.disabled.iter().map(|d| d.sid).collect()
    }
}

/// One compiled rule set as the workers run it, with what a later reload must translate.
#[derive(Debug)]
pub struct Loaded {
    /// The detector the workers share.
    pub det: Arc<Detector>,
    /// Flowbit names by id (the image's table), to carry flow bits across a reload by name.
    pub flowbits: Vec<String>,
    /// Bumped by every reload; workers compare it to know they are behind.
    pub generation: u64,
}

/// Reload and switch counters, for `verdict stats` and the metrics endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpsSnapshot {
    /// Sids switched off in the running engine (queued rules whose enable bit is clear, and
    /// kernel rules left out of the kernel table).
    pub disabled: Vec<u32>,
    /// Programs in the running rule set.
    pub programs: usize,
    /// Successful reloads since start.
    pub reloads: u64,
    /// Reloads that failed (the previous rule set kept running).
    pub reload_failures: u64,
    /// Duration of the last reload in seconds (successful or not).
    pub last_reload_secs: f64,
    /// Sum of all reload durations in seconds.
    pub reload_secs_total: f64,
}

/// The running rule set, the operator's state and the workers' counters (see module docs).
pub struct Live {
    loaded: ArcSwap<Loaded>,
    generation: AtomicU64,
    state: Mutex<State>,
    state_path: Option<PathBuf>,
    /// Per worker: the detector it runs and its counters (replaced when it moves on).
    slots: Mutex<Vec<(Arc<Detector>, Arc<Counters>)>>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    last_reload_us: AtomicU64,
    reload_us_total: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (each update is one
    // assignment), so a poisoned lock is used as it is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Live {
    /// Starts with `det` (built with `state`'s sids switched off); `state_path`: where each
    /// change is persisted (None: kept in memory only).
    pub fn new(
        det: Arc<Detector>,
        flowbits: Vec<String>,
        state: State,
        state_path: Option<PathBuf>,
    ) -> Arc<Live> {
        Arc::new(Live {
            loaded: ArcSwap::from_pointee(Loaded {
                det,
                flowbits,
                generation: 0,
            }),
            generation: AtomicU64::new(0),
            state: Mutex::new(state),
            state_path,
            slots: Mutex::default(),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            last_reload_us: AtomicU64::new(0),
            reload_us_total: AtomicU64::new(0),
        })
    }

    /// The rule set running now.
    pub fn current(&self) -> Arc<Loaded> {
        self.loaded.load_full()
    }

    /// The state file in use, if any.
    pub fn state_path(&self) -> Option<&Path> {
        self.state_path.as_deref()
    }

    /// Switches the programs of `sid` on or off in the running set (the next packet sees it)
    /// and persists the choice. Returns how many programs carry the sid; with 0 nothing is
    /// changed (the caller decides whether the sid is a kernel rule, see [`Live::record`]).
    pub fn set_enabled(&self, sid: u32, on: bool, reason: Option<&str>) -> Result<usize, OpsError> {
        let mut state = lock(&self.state);
        let n = self.current().det.set_enabled(sid, on);
        if n > 0 {
            self.persist(&mut state, sid, on, reason)?;
        }
        Ok(n)
    }

    /// Persists a switch without touching the running set (for a rule that runs in the
    /// kernel: the next reload leaves it out of, or puts it back into, the kernel table).
    pub fn record(&self, sid: u32, on: bool, reason: Option<&str>) -> Result<(), OpsError> {
        let mut state = lock(&self.state);
        self.persist(&mut state, sid, on, reason)
    }

    fn persist(
        &self,
        state: &mut State,
        sid: u32,
        on: bool,
        reason: Option<&str>,
    ) -> Result<(), OpsError> {
        let mut next = state.clone();
        if on {
            next.enable(sid);
        } else {
            next.disable(sid, reason);
        }
        if let Some(p) = &self.state_path {
            next.save(p)?;
        }
        *state = next;
        Ok(())
    }

    /// The operator's switched-off sids with reasons.
    pub fn disabled(&self) -> Vec<DisabledSid> {
        lock(&self.state).disabled.clone()
    }

    /// Reloads: `build` gets the switched-off sids and returns the next rule set (or why not,
    /// leaving the running one in place). Switches wait for a reload in progress, so none is
    /// lost between building the next set and storing it.
    pub fn reload<E>(
        &self,
        build: impl FnOnce(&[u32]) -> Result<(Arc<Detector>, Vec<String>), E>,
    ) -> Result<Duration, E> {
        let t = Instant::now();
        let state = lock(&self.state);
        let result = build(&state.sids());
        let took = t.elapsed();
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.last_reload_us.store(us, Ordering::Relaxed);
        self.reload_us_total.fetch_add(us, Ordering::Relaxed);
        match result {
            Ok((det, flowbits)) => {
                let generation = self.generation.load(Ordering::Relaxed) + 1;
                self.loaded.store(Arc::new(Loaded {
                    det,
                    flowbits,
                    generation,
                }));
                // Release: a worker that sees the number also sees the stored set.
                self.generation.store(generation, Ordering::Release);
                self.reloads.fetch_add(1, Ordering::Relaxed);
                drop(state);
                Ok(took)
            }
            Err(e) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Registers a worker built on the current set; wrap its inspection with the slot's
    /// [`LiveSlot::refresh`].
    pub fn slot(self: &Arc<Self>, worker: &Worker) -> LiveSlot {
        let cur = self.current();
        let mut slots = lock(&self.slots);
        slots.push((Arc::clone(&cur.det), worker.counters()));
        LiveSlot {
            live: Arc::clone(self),
            seen: cur.generation,
            cur,
            index: slots.len() - 1,
        }
    }

    /// Every worker's counters (for totals that do not depend on the rule set).
    pub fn counters(&self) -> Vec<Arc<Counters>> {
        lock(&self.slots)
            .iter()
            .map(|(_, c)| Arc::clone(c))
            .collect()
    }

    /// Hits per rule summed over the workers, each counted against the set it runs.
    pub fn rule_hits(&self) -> Vec<RuleHits> {
        let mut by_rule: BTreeMap<(u32, u32), RuleHits> = BTreeMap::new();
        let cur = self.current();
        for p in cur.det.programs() {
            by_rule
                .entry((p.gid.0, p.sid.0))
                .or_insert_with(|| RuleHits {
                    gid: p.gid.0,
                    sid: p.sid.0,
                    hits: 0,
                    msg: p.msg.clone(),
                });
        }
        for (det, c) in lock(&self.slots).iter() {
            for (p, h) in det.programs().iter().zip(&c.rule_hits) {
                if let Some(r) = by_rule.get_mut(&(p.gid.0, p.sid.0)) {
                    r.hits = r.hits.saturating_add(Counters::get(h));
                }
            }
        }
        by_rule.into_values().collect()
    }

    /// Reload counters and what is switched off in the running set.
    pub fn snapshot(&self) -> OpsSnapshot {
        let cur = self.current();
        let mut disabled = cur.det.disabled_sids();
        let running: std::collections::HashSet<u32> =
            cur.det.programs().iter().map(|p| p.sid.0).collect();
        // A switched-off kernel rule is not in the running set at all.
        disabled.extend(
            lock(&self.state)
                .sids()
                .into_iter()
                .filter(|s| !running.contains(s)),
        );
        disabled.sort_unstable();
        disabled.dedup();
        let secs = |us: &AtomicU64| Duration::from_micros(us.load(Ordering::Relaxed)).as_secs_f64();
        OpsSnapshot {
            disabled,
            programs: cur.det.len(),
            reloads: self.reloads.load(Ordering::Relaxed),
            reload_failures: self.reload_failures.load(Ordering::Relaxed),
            last_reload_secs: secs(&self.last_reload_us),
            reload_secs_total: secs(&self.reload_us_total),
        }
    }
}

/// A worker's link to [`Live`]: notices a reload and moves the worker to the new set.
pub struct LiveSlot {
    live: Arc<Live>,
    seen: u64,
    cur: Arc<Loaded>,
    index: usize,
}

impl LiveSlot {
    /// Call before each packet: one atomic load when nothing changed.
    #[inline]
    pub fn refresh(&mut self, worker: &mut Worker) {
        if self.live.generation.load(Ordering::Acquire) != self.seen {
            self.switch(worker);
        }
    }

    #[cold]
    fn switch(&mut self, worker: &mut Worker) {
        let next = self.live.current();
        let bit_map: Vec<Option<usize>> = self
            .cur
            .flowbits
            .iter()
            .map(|name| next.flowbits.iter().position(|n| n == name))
            .collect();
        worker.swap_detector(Arc::clone(&next.det), &bit_map);
        if let Some(slot) = lock(&self.live.slots).get_mut(self.index) {
            *slot = (Arc::clone(&next.det), worker.counters());
        }
        self.seen = next.generation;
        self.cur = next;
    }
}

#[cfg(test)]
mod tests;

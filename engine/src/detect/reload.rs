//! Moving a running [`Worker`] to a reloaded [`Detector`] without losing what its flows know.
//!
//! Program indices and flowbit ids are positions in one compiled image, so they mean nothing
//! in the next one. Everything a worker keeps by index is translated by identity instead:
//! programs by `(gid, sid)` (threshold windows, per-rule hit counters, the programs a
//! transaction already fired or made candidates), flowbits by name. What has no counterpart
//! in the new set (a removed rule, a bit no rule uses any more) is dropped.

use super::{Counters, Detector, Scan, Worker};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

impl Detector {
    /// The sids whose programs are switched off right now (what actually runs, for stats).
    pub fn disabled_sids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .programs
            .iter()
            .zip(&self.info)
            .filter(|(_, i)| !i.enabled.load(std::sync::atomic::Ordering::Relaxed))
            .map(|(p, _)| p.sid.0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl Worker {
    /// Switches this worker to `det`, a reload of the rule set it runs. `bit_map[old]` is the
    /// new id of each old flowbit (by name). Called between two packets, on the worker's own
    /// thread: the hot path never waits for it.
    pub fn swap_detector(&mut self, det: Arc<Detector>, bit_map: &[Option<usize>]) {
        let by_id: HashMap<(u32, u32), u32> = det
            .programs
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.gid.0, p.sid.0), i as u32))
            .collect();
        let prog_map: Vec<Option<u32>> = self
            .det
            .programs
            .iter()
            .map(|p| by_id.get(&(p.gid.0, p.sid.0)).copied())
            .collect();
        let map = |p: u32| prog_map.get(p as usize).copied().flatten();

        self.thresholds.remap(map);
        self.rates.remap(map);
        let words = det.flowbits.div_ceil(64);
        self.flows.retarget(det.flowbits, |flow| {
            let mut bits = vec![0u64; words];
            for (old, new) in bit_map.iter().enumerate() {
                if let Some(new) = *new {
                    if flow.bit(old) {
                        if let Some(w) = bits.get_mut(new / 64) {
                            *w |= 1 << (new % 64);
                        }
                    }
                }
            }
            flow.bits = bits;
            if let Some(s) = flow.session.as_mut() {
                // The new set's patterns were never looked for in the bytes seen so far.
                for m in &mut s.stream_hits {
                    m.forget();
                }
                for txd in &mut s.txd {
                    txd.fired = txd.fired.iter().filter_map(|&p| map(p)).collect();
                    txd.sticky = txd.sticky.iter().filter_map(|&p| map(p)).collect();
                }
            }
        });
        self.counters = Arc::new(carry_counters(&self.counters, det.len(), &prog_map));
        // Scratch may be sized for the old set; it holds nothing between packets.
        self.scan = Scan::default();
        self.det = det;
    }
}

/// New counters for a set of `n` programs: the totals go on, hits follow their rule.
fn carry_counters(old: &Counters, n: usize, prog_map: &[Option<u32>]) -> Counters {
    let c = Counters::new(n);
    let copy = |from: &AtomicU64, to: &AtomicU64| to.store(Counters::get(from), Relaxed);
    use std::sync::atomic::Ordering::Relaxed;
    copy(&old.received, &c.received);
    copy(&old.accepted, &c.accepted);
    copy(&old.dropped, &c.dropped);
    copy(&old.rejected, &c.rejected);
    copy(&old.replaced, &c.replaced);
    copy(&old.alerts, &c.alerts);
    copy(&old.bad_packets, &c.bad_packets);
    copy(&old.events_lost, &c.events_lost);
    copy(&old.bypassed, &c.bypassed);
    copy(&old.half_bypassed, &c.half_bypassed);
    copy(&old.tunneled, &c.tunneled);
    copy(&old.pcre_limit_hits, &c.pcre_limit_hits);
    c.table.copy_from(&old.table);
    for (i, hits) in old.rule_hits.iter().enumerate() {
        if let Some(Some(new)) = prog_map.get(i) {
            if let Some(slot) = c.rule_hits.get(*new as usize) {
                slot.fetch_add(Counters::get(hits), Relaxed);
            }
        }
    }
    c
}

//! `rate_filter` from threshold.config: once a rule matches more than `count` times within
//! `seconds` for the tracked key, its action becomes `new_action` for `timeout` seconds.
//!
//! Semantics are Suricata's (`ThresholdHandlePacketRate`): the first `count` matches of a
//! window keep the rule's own action; the next one switches the key to `new_action` and
//! starts the timeout; every match while the timeout runs gets `new_action` too. A rate
//! filter never hides an alert (unlike `threshold`): it changes what the match *does*, so a
//! `drop` rate filter blocks like a `drop` rule and a `pass` one passes like a `pass` rule.
//! Windows and timeouts run on packet time, per worker, as the other thresholds do.

use std::collections::HashMap;
use std::time::Duration;
use verdict_compiler::ir::{Action, RejectTarget};

/// Which key a rate filter counts matches under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateTrack {
    /// `by_src`: the packet's source address.
    Src,
    /// `by_dst`: the packet's destination address.
    Dst,
    /// `by_rule`: one count for the rule.
    Rule,
    /// `by_both`: the address pair, whichever way the packet goes (Suricata's ippair).
    Both,
    /// `by_flow`: the packet's flow (Suricata 8).
    Flow,
}

/// A `rate_filter` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateFilter {
    /// gid (0 = any)
    pub gid: u32,
    /// sid (0 = any)
    pub sid: u32,
    /// The key counted.
    pub track: RateTrack,
    /// Matches allowed per window before `new_action` takes over.
    pub count: u32,
    /// Window length.
    pub seconds: u32,
    /// The action a match has while the filter is active.
    pub new_action: Action,
    /// How long the filter stays active once triggered (seconds).
    pub timeout: u32,
}

/// Parses the fields of a `rate_filter` statement (already split into `key value` pairs).
pub fn parse(
    gid: u32,
    sid: u32,
    field: impl Fn(&str) -> Option<String>,
) -> Result<RateFilter, String> {
    let num = |k: &str| -> Result<u32, String> {
        let v = field(k).ok_or_else(|| format!("`rate_filter` needs `{k}`"))?;
        v.parse::<u32>()
            .map_err(|_| format!("`{k}` must be a number, found `{v}`"))
    };
    let track = match field("track").as_deref() {
        Some("by_src") => RateTrack::Src,
        Some("by_dst") => RateTrack::Dst,
        Some("by_rule") => RateTrack::Rule,
        Some("by_both") => RateTrack::Both,
        Some("by_flow") => RateTrack::Flow,
        other => {
            return Err(format!(
                "rate_filter `track` must be by_src, by_dst, by_rule, by_both or by_flow, found {other:?}"
            ))
        }
    };
    let new_action = match field("new_action").as_deref() {
        Some("alert") => Action::Alert,
        Some("drop") => Action::Drop,
        Some("reject") => Action::Reject(RejectTarget::Default),
        Some("pass") => Action::Pass,
        other => {
            return Err(format!(
                "`new_action` must be alert, drop, reject or pass, found {other:?}"
            ))
        }
    };
    Ok(RateFilter {
        gid,
        sid,
        track,
        count: num("count")?,
        seconds: num("seconds")?,
        new_action,
        timeout: num("timeout")?,
    })
}

/// The rate filter of a rule: an exact sid wins over `sig_id 0` (every rule).
pub fn rate_for(filters: &[RateFilter], gid: u32, sid: u32) -> Option<RateFilter> {
    let hit = |s: u32| {
        filters
            .iter()
            .find(|f| f.sid == s && (f.gid == gid || f.gid == 0))
            .copied()
    };
    hit(sid).or_else(|| hit(0))
}

/// What a packet offers as keys.
#[derive(Debug, Clone, Copy)]
pub struct RateKeys {
    /// Source address key.
    pub src: u128,
    /// Destination address key.
    pub dst: u128,
    /// Flow id.
    pub flow: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Duration,
    count: u64,
    /// When the filter last triggered; None while inactive.
    active_since: Option<Duration>,
}

/// Per-worker rate filter state, keyed by program and tracked key.
#[derive(Debug, Default)]
pub struct RateState {
    map: HashMap<(u32, u128, u128), Entry>,
    last_sweep: Duration,
}

const MAX_ENTRIES: usize = 100_000;

impl RateState {
    /// Counts a match of `prog`; returns the action that replaces the rule's own, if the
    /// filter is (or just became) active for this key.
    pub fn on_match(
        &mut self,
        prog: u32,
        f: &RateFilter,
        k: RateKeys,
        now: Duration,
    ) -> Option<Action> {
        if self.map.len() > MAX_ENTRIES
            && now.saturating_sub(self.last_sweep) > Duration::from_secs(1)
        {
            self.last_sweep = now;
            let idle = Duration::from_secs(86_400);
            self.map.retain(|_, e| {
                now.saturating_sub(e.window_start) < idle
                    || e.active_since.is_some_and(|a| now.saturating_sub(a) < idle)
            });
        }
        let (a, b) = match f.track {
            RateTrack::Src => (k.src, 0),
            RateTrack::Dst => (k.dst, 0),
            RateTrack::Rule => (0, 0),
            RateTrack::Both => (k.src.min(k.dst), k.src.max(k.dst)),
            RateTrack::Flow => (u128::from(k.flow), 0),
        };
        let secs = |s: u32| Duration::from_secs(u64::from(s));
        let e = match self.map.entry((prog, a, b)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Entry {
                    window_start: now,
                    count: 1,
                    active_since: None,
                });
                // `count 0`: every match is over the rate.
                return (f.count == 0).then_some(f.new_action);
            }
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        };
        let mut action = None;
        if let Some(since) = e.active_since {
            if now.saturating_sub(since) > secs(f.timeout) {
                e.active_since = None;
            } else {
                action = Some(f.new_action);
            }
        }
        if now.saturating_sub(e.window_start) < secs(f.seconds) {
            e.count = e.count.saturating_add(1);
            if e.count > u64::from(f.count) {
                e.active_since = Some(now);
                action = Some(f.new_action);
            }
        } else {
            e.window_start = now;
            e.count = 1;
        }
        action
    }

    /// Renumbers programs after a reload (`map(old)` is the new index, None if gone).
    pub fn remap(&mut self, map: impl Fn(u32) -> Option<u32>) {
        let old = std::mem::take(&mut self.map);
        self.map = old
            .into_iter()
            .filter_map(|((p, a, b), e)| map(p).map(|q| ((q, a, b), e)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(track: RateTrack, count: u32, timeout: u32) -> RateFilter {
        RateFilter {
            gid: 1,
            sid: 7,
            track,
            count,
            seconds: 60,
            new_action: Action::Drop,
            timeout,
        }
    }

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    const K: RateKeys = RateKeys {
        src: 1,
        dst: 2,
        flow: 9,
    };

    #[test]
    fn switches_after_count_and_holds_for_the_timeout() {
        let mut st = RateState::default();
        let r = f(RateTrack::Src, 2, 10);
        let got: Vec<_> = (0..4).map(|i| st.on_match(0, &r, K, at(i))).collect();
        assert_eq!(got, [None, None, Some(Action::Drop), Some(Action::Drop)]);
        // Another source has its own count.
        assert_eq!(st.on_match(0, &r, RateKeys { src: 5, ..K }, at(4)), None);
        // Still active 10 s after the last trigger, then back to the rule's action in a
        // new window.
        assert_eq!(st.on_match(0, &r, K, at(13)), Some(Action::Drop));
        assert_eq!(st.on_match(0, &r, K, at(100)), None);
        assert_eq!(st.on_match(0, &r, K, at(101)), None);
    }

    #[test]
    fn by_both_ignores_direction_and_by_flow_the_addresses() {
        let mut st = RateState::default();
        let both = f(RateTrack::Both, 1, 100);
        assert_eq!(st.on_match(1, &both, K, at(0)), None);
        let back = RateKeys {
            src: 2,
            dst: 1,
            flow: 3,
        };
        assert_eq!(st.on_match(1, &both, back, at(1)), Some(Action::Drop));
        let flow = f(RateTrack::Flow, 1, 100);
        assert_eq!(st.on_match(2, &flow, K, at(0)), None);
        assert_eq!(st.on_match(2, &flow, back, at(0)), None);
        assert_eq!(
            st.on_match(2, &flow, RateKeys { src: 7, ..K }, at(0)),
            Some(Action::Drop)
        );
    }

    #[test]
    fn parses_and_picks_the_exact_sid_first() {
        let line = |s: &str| {
            let pairs: Vec<(String, String)> = s
                .split(',')
                .filter_map(|p| p.trim().split_once(' '))
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                .collect();
            move |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
        };
        let r = parse(
            1,
            7,
            line("track by_flow, count 3, seconds 60, new_action reject, timeout 5"),
        )
        .unwrap();
        assert_eq!(
            (r.track, r.count, r.new_action, r.timeout),
            (RateTrack::Flow, 3, Action::Reject(RejectTarget::Default), 5)
        );
        assert!(parse(
            1,
            7,
            line("track by_src, count 1, seconds 1, new_action sdrop, timeout 1")
        )
        .is_err());
        assert!(parse(
            1,
            7,
            line("track by_either, count 1, seconds 1, new_action drop, timeout 1")
        )
        .is_err());
        assert!(parse(
            1,
            7,
            line("track by_src, count 1, seconds 1, new_action drop")
        )
        .is_err());
        let any = RateFilter {
            sid: 0,
            gid: 0,
            ..r
        };
        let list = [any, r];
        assert_eq!(rate_for(&list, 1, 7), Some(r));
        assert_eq!(rate_for(&list, 1, 8), Some(any));
        assert_eq!(rate_for(&[r], 2, 7), None);
    }
}

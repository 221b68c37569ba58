//! Thresholds, `detection_filter` and Snort/Suricata `threshold.config`.
//!
//! Semantics (Suricata's, tracked per worker with packet time as the clock):
//! - `limit`: alert on the first `count` events of each `seconds` window;
//! - `threshold`: alert on every `count`-th event within the window;
//! - `both`: alert once per window, on the `count`-th event;
//! - `detection_filter`: the rule only matches (alert *and* action) from the `count + 1`-th
//!   event of the window on;
//! - `suppress`: no alert for that sid (optionally only for some source/destination IPs).
//!
//! Thresholds and suppressions gate alerts only: a `drop` rule whose alert is thresholded
//! still drops, because an IPS that stops blocking when an attacker repeats himself would be
//! worse than a noisy log.
//! `rate_filter` lines are the exception: they change the action itself (see [`super::rate`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use verdict_compiler::ir::{
    DetectionFilter, IpSet, RangeSet, Threshold, ThresholdKind, Track, UniqueOn,
};

/// A `suppress` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppress {
    /// gid (0 = any)
    pub gid: u32,
    /// sid (0 = any)
    pub sid: u32,
    /// Only when the tracked address is in this set (None: always).
    pub by: Option<(SuppressTrack, IpSet)>,
}

/// Which address a suppress entry looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressTrack {
    /// by_src
    Src,
    /// by_dst
    Dst,
    /// by_either
    Either,
}

/// A parsed threshold.config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThresholdConfig {
    /// (gid, sid) → threshold overriding the rule's own; sid 0 applies to every rule.
    pub thresholds: Vec<(u32, u32, Threshold)>,
    /// suppress entries.
    pub suppress: Vec<Suppress>,
    /// `rate_filter` entries (they change actions, see [`super::rate`]).
    pub rates: Vec<super::rate::RateFilter>,
}

/// A threshold.config error with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ThresholdParseError {
    /// 1-based line.
    pub line: usize,
    /// what is wrong
    pub message: String,
}

fn parse_track(v: &str) -> Option<Track> {
    Some(match v {
        "by_src" => Track::BySrc,
        "by_dst" => Track::ByDst,
        "by_rule" => Track::ByRule,
        "by_both" => Track::ByBoth,
        "by_flow" => Track::ByFlow,
        _ => return None,
    })
}

/// Parses one address, CIDR or bracketed list into a set.
pub fn parse_ip_set(s: &str) -> Option<IpSet> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let mut set = IpSet::empty();
        // Split on the commas of this level only: expanded variables nest lists.
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ',' if depth == 0 => {
                    set = set.union(&parse_ip_set(&inner[start..i])?);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return Some(set.union(&parse_ip_set(&inner[start..])?));
    }
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => {
            let len = len.unwrap_or(32);
            if len > 32 {
                return None;
            }
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let lo = u32::from(a) & mask;
            Some(IpSet {
                v4: RangeSet::range(lo, lo | !mask),
                v6: RangeSet::empty(),
            })
        }
        IpAddr::V6(a) => {
            let len = len.unwrap_or(128);
            if len > 128 {
                return None;
            }
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            let lo = u128::from(a) & mask;
            Some(IpSet {
                v4: RangeSet::empty(),
                v6: RangeSet::range(lo, lo | !mask),
            })
        }
    }
}

/// Replaces every `$NAME` in an address value with its definition, recursively (a variable
/// may name others); an unknown name or a definition cycle is an error.
fn expand_vars(
    v: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    depth: u8,
) -> Result<String, String> {
    if !v.contains('$') {
        return Ok(v.to_string());
    }
    if depth > 8 {
        return Err(format!(
            "address variables nest too deeply (a cycle?) in `{v}`"
        ));
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let name_len = rest[at + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len() - at - 1);
        let name = &rest[at + 1..at + 1 + name_len];
        let def = vars(name).ok_or_else(|| format!("unknown address variable `${name}`"))?;
        out.push_str(&expand_vars(&def, vars, depth + 1)?);
        rest = &rest[at + 1 + name_len..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ThresholdConfig {
    /// Parses threshold.config text (`threshold`, `event_filter`, `suppress`, `rate_filter`;
    /// `#` comments, `\` continuations). A `$NAME` in a suppress `ip` is an error here; see
    /// [`ThresholdConfig::parse_with_vars`].
    pub fn parse(text: &str) -> Result<ThresholdConfig, ThresholdParseError> {
        Self::parse_with_vars(text, &|_: &str| None)
    }

    /// Like [`ThresholdConfig::parse`], resolving `$NAME` in suppress `ip` values (alone or
    /// inside a bracketed list, possibly nested) with `vars` — the address groups of the
    /// configuration, as Suricata resolves them from its `vars`.
    pub fn parse_with_vars(
        text: &str,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ThresholdConfig, ThresholdParseError> {
        let mut cfg = ThresholdConfig::default();
        let mut pending = String::new();
        let mut start_line = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if pending.is_empty() {
                start_line = i + 1;
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
            }
            if let Some(body) = line.strip_suffix('\\') {
                pending.push_str(body);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let stmt = std::mem::take(&mut pending);
            cfg.parse_stmt(&stmt, vars)
                .map_err(|message| ThresholdParseError {
                    line: start_line,
                    message,
                })?;
        }
        if !pending.is_empty() {
            cfg.parse_stmt(&pending, vars)
                .map_err(|message| ThresholdParseError {
                    line: start_line,
                    message,
                })?;
        }
        Ok(cfg)
    }

    fn parse_stmt(
        &mut self,
        stmt: &str,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        let (kw, rest) = stmt.split_once(char::is_whitespace).unwrap_or((stmt, ""));
        let mut fields: HashMap<&str, &str> = HashMap::new();
        // Values may be bracketed lists containing commas: split on commas outside brackets.
        let mut depth = 0;
        let mut start = 0;
        let bytes = rest.as_bytes();
        let mut parts = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'[' => depth += 1,
                b']' => depth -= 1,
                b',' if depth == 0 => {
                    parts.push(&rest[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&rest[start..]);
        for p in parts {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let (k, v) = p
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("expected `key value`, found `{p}`"))?;
            fields.insert(k.trim(), v.trim());
        }
        let num = |k: &str| -> Result<u32, String> {
            let v = fields.get(k).ok_or_else(|| format!("`{kw}` needs `{k}`"))?;
            v.parse::<u32>()
                .map_err(|_| format!("`{k}` must be a number, found `{v}`"))
        };
        let gid = num("gen_id")?;
        let sid = num("sig_id")?;
        match kw {
            "threshold" | "event_filter" => {
                let kind = match fields.get("type").copied() {
                    Some("limit") => ThresholdKind::Limit,
                    Some("threshold") => ThresholdKind::Threshold,
                    Some("both") => ThresholdKind::Both,
                    other => {
                        return Err(format!(
                            "`type` must be limit, threshold or both, found {other:?}"
                        ))
                    }
                };
                let track = fields
                    .get("track")
                    .and_then(|t| parse_track(t))
                    .ok_or("`track` must be by_src, by_dst, by_rule, by_both or by_flow")?;
                self.thresholds.push((
                    gid,
                    sid,
                    Threshold {
                        kind,
                        track,
                        count: num("count")?,
                        seconds: num("seconds")?,
                    },
                ));
            }
            "suppress" => {
                let by = match fields.get("track") {
                    None => None,
                    Some(t) => {
                        let track = match *t {
                            "by_src" => SuppressTrack::Src,
                            "by_dst" => SuppressTrack::Dst,
                            "by_either" => SuppressTrack::Either,
                            _ => {
                                return Err(format!(
                                "suppress `track` must be by_src, by_dst or by_either, found `{t}`"
                            ))
                            }
                        };
                        let ip = fields.get("ip").ok_or("suppress with `track` needs `ip`")?;
                        let text = expand_vars(ip, vars, 0)?;
                        let set = parse_ip_set(&text).ok_or_else(|| {
                            format!("cannot read `{ip}` as an address, CIDR or list")
                        })?;
                        Some((track, set))
                    }
                };
                self.suppress.push(Suppress { gid, sid, by });
            }
            "rate_filter" => self.rates.push(super::rate::parse(gid, sid, |k| {
                fields.get(k).map(|v| v.to_string())
            })?),
            other => {
                return Err(format!(
                    "unknown statement `{other}` (expected threshold, event_filter, suppress or rate_filter)"
                ))
            }
        }
        Ok(())
    }

    /// The threshold for a rule: the config's (exact sid first, then sid 0), else the rule's.
    pub fn threshold_for(&self, gid: u32, sid: u32, own: Option<Threshold>) -> Option<Threshold> {
        let hit = |s: u32| {
            self.thresholds
                .iter()
                .find(|(g, si, _)| *si == s && (*g == gid || *g == 0))
                .map(|(_, _, t)| *t)
        };
        hit(sid).or(own).or_else(|| hit(0))
    }

    /// The `suppress` entries that name (gid, sid) or every rule: what one rule needs to
    /// answer [`ThresholdConfig::suppressed`] on its own.
    pub fn suppress_of(&self, gid: u32, sid: u32) -> ThresholdConfig {
        ThresholdConfig {
            suppress: self
                .suppress
                .iter()
                .filter(|s| (s.sid == sid || s.sid == 0) && (s.gid == gid || s.gid == 0))
                .cloned()
                .collect(),
            ..ThresholdConfig::default()
        }
    }

    /// True if the alert of (gid, sid) for this src/dst is suppressed.
    pub fn suppressed(&self, gid: u32, sid: u32, src: IpAddr, dst: IpAddr) -> bool {
        self.suppress.iter().any(|s| {
            (s.sid == sid || s.sid == 0)
                && (s.gid == gid || s.gid == 0)
                && match &s.by {
                    None => true,
                    Some((SuppressTrack::Src, set)) => set.contains(src),
                    Some((SuppressTrack::Dst, set)) => set.contains(dst),
                    Some((SuppressTrack::Either, set)) => set.contains(src) || set.contains(dst),
                }
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Duration,
    count: u64,
}

/// The ports a `unique_on` detection_filter has seen in its current window: a 65536-bit map
/// (8 KiB, as Suricata's) and how many bits are set.
#[derive(Debug)]
struct Distinct {
    start: Duration,
    seconds: u32,
    seen: Box<[u64; 1024]>,
    n: u64,
}

/// Per-worker threshold/detection_filter state.
#[derive(Debug, Default)]
pub struct ThresholdState {
    map: HashMap<(u32, u8, u128, u128), Window>,
    distinct: HashMap<(u32, u128, u128), Distinct>,
    last_sweep: Duration,
}

const MAX_ENTRIES: usize = 100_000;
/// Port maps are 8 KiB each: at most this many trackers (32 MiB) per worker.
const MAX_DISTINCT: usize = 4096;

fn key(track: Track, src: u128, dst: u128, flow: u64) -> (u128, u128) {
    match track {
        Track::ByFlow => (u128::from(flow), 0),
        Track::BySrc => (src, 0),
        Track::ByDst => (dst, 0),
        Track::ByRule => (0, 0),
        Track::ByBoth => (src, dst),
    }
}

impl ThresholdState {
    fn bump(&mut self, prog: u32, slot: u8, k: (u128, u128), seconds: u32, now: Duration) -> u64 {
        if self.map.len() > MAX_ENTRIES
            && now.saturating_sub(self.last_sweep) > Duration::from_secs(1)
        {
            self.last_sweep = now;
            // Windows are at most a day in practice; forget anything idle for longer.
            self.map
                .retain(|_, w| now.saturating_sub(w.start) < Duration::from_secs(86_400));
        }
        let w = self.map.entry((prog, slot, k.0, k.1)).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.saturating_sub(w.start) >= Duration::from_secs(u64::from(seconds)) {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        w.count += 1;
        w.count
    }

    /// Renumbers the per-program windows after a reload (`map(old)` is the program's new
    /// index, `None` if it is gone), so a threshold in progress keeps counting.
    pub fn remap(&mut self, map: impl Fn(u32) -> Option<u32>) {
        let old = std::mem::take(&mut self.map);
        self.map = old
            .into_iter()
            .filter_map(|((p, slot, a, b), w)| map(p).map(|q| ((q, slot, a, b), w)))
            .collect();
    }

    /// Counts a match of `prog` against its threshold; true if it may alert.
    pub fn alert_allowed(
        &mut self,
        prog: u32,
        t: Threshold,
        src: u128,
        dst: u128,
        flow: u64,
        now: Duration,
    ) -> bool {
        let n = self.bump(prog, 0, key(t.track, src, dst, flow), t.seconds, now);
        let c = u64::from(t.count.max(1));
        match t.kind {
            ThresholdKind::Limit => n <= c,
            ThresholdKind::Threshold => n.is_multiple_of(c),
            ThresholdKind::Both => n == c,
        }
    }

    /// Counts a match of `prog` against its detection_filter; true once past `count`. With
    /// `unique_on`, what is counted is the number of distinct ports (`ports` = source,
    /// destination) seen in the window, so repeats of one port do not add up.
    #[allow(clippy::too_many_arguments)]
    pub fn filter_passed(
        &mut self,
        prog: u32,
        f: DetectionFilter,
        src: u128,
        dst: u128,
        flow: u64,
        ports: (u16, u16),
        now: Duration,
    ) -> bool {
        let k = key(f.track, src, dst, flow);
        let n = match f.unique_on {
            None => self.bump(prog, 1, k, f.seconds, now),
            Some(u) => {
                let port = match u {
                    UniqueOn::SrcPort => ports.0,
                    UniqueOn::DstPort => ports.1,
                };
                self.distinct_ports(prog, k, f.seconds, port, now)
            }
        };
        n > u64::from(f.count)
    }

    fn distinct_ports(
        &mut self,
        prog: u32,
        k: (u128, u128),
        seconds: u32,
        port: u16,
        now: Duration,
    ) -> u64 {
        let window = |s: u32| Duration::from_secs(u64::from(s));
        if self.distinct.len() >= MAX_DISTINCT && !self.distinct.contains_key(&(prog, k.0, k.1)) {
            self.distinct
                .retain(|_, d| now.saturating_sub(d.start) < window(d.seconds));
            if self.distinct.len() >= MAX_DISTINCT {
                // Still full of live windows: start over rather than grow without bound.
                self.distinct.clear();
            }
        }
        let d = self
            .distinct
            .entry((prog, k.0, k.1))
            .or_insert_with(|| Distinct {
                start: now,
                seconds,
                seen: Box::new([0; 1024]),
                n: 0,
            });
        if now.saturating_sub(d.start) >= window(seconds) {
            d.start = now;
            d.seen.fill(0);
            d.n = 0;
        }
        let (w, bit) = (usize::from(port / 64), 1u64 << (port % 64));
        if d.seen[w] & bit == 0 {
            d.seen[w] |= bit;
            d.n += 1;
        }
        d.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn suppress_ip_variables_resolve_recursively() {
        let vars = |n: &str| match n {
            "SUPPRESS" => Some("[10.0.0.0/8,$OTHER]".to_string()),
            "OTHER" => Some("[145.0.0.0/8]".to_string()),
            "LOOP" => Some("$LOOP".to_string()),
            _ => None,
        };
        let text = "suppress gen_id 1, sig_id 7, track by_dst, ip $SUPPRESS\n";
        let cfg = ThresholdConfig::parse_with_vars(text, &vars).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cfg.suppressed(1, 7, ip("1.1.1.1"), ip("10.1.2.3")));
        assert!(cfg.suppressed(1, 7, ip("1.1.1.1"), ip("145.9.9.9")));
        assert!(!cfg.suppressed(1, 7, ip("10.1.2.3"), ip("1.1.1.1")));
        // Without the variables the same line is an error naming the variable.
        let e = ThresholdConfig::parse(text).unwrap_err();
        assert!(e.message.contains("$SUPPRESS"), "{e}");
        let e = ThresholdConfig::parse_with_vars(
            "suppress gen_id 1, sig_id 7, track by_src, ip $LOOP\n",
            &vars,
        )
        .unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn limit_threshold_both_and_detection_filter() {
        let mut st = ThresholdState::default();
        let t = |kind, count| Threshold {
            kind,
            track: Track::BySrc,
            count,
            seconds: 60,
        };
        let limit: Vec<bool> = (0..5)
            .map(|i| st.alert_allowed(0, t(ThresholdKind::Limit, 2), 1, 9, 0, secs(i)))
            .collect();
        assert_eq!(limit, [true, true, false, false, false]);
        // another source has its own window; after 60 s the window restarts
        assert!(st.alert_allowed(0, t(ThresholdKind::Limit, 2), 2, 9, 0, secs(5)));
        assert!(st.alert_allowed(0, t(ThresholdKind::Limit, 2), 1, 9, 0, secs(61)));
        let every: Vec<bool> = (0..6)
            .map(|i| st.alert_allowed(1, t(ThresholdKind::Threshold, 3), 1, 9, 0, secs(i)))
            .collect();
        assert_eq!(every, [false, false, true, false, false, true]);
        let both: Vec<bool> = (0..5)
            .map(|i| st.alert_allowed(2, t(ThresholdKind::Both, 2), 1, 9, 0, secs(i)))
            .collect();
        assert_eq!(both, [false, true, false, false, false]);
        let f = DetectionFilter {
            track: Track::ByDst,
            count: 2,
            seconds: 10,
            unique_on: None,
        };
        let df: Vec<bool> = (0..4)
            .map(|i| st.filter_passed(3, f, 1, 9, 0, (1, 2), secs(i)))
            .collect();
        assert_eq!(df, [false, false, true, true]);
        assert!(!st.filter_passed(3, f, 1, 9, 0, (1, 2), secs(30)));
        // unique_on: repeats of a port do not count; a second distinct port passes count 1.
        let u = DetectionFilter {
            track: Track::ByDst,
            count: 1,
            seconds: 60,
            unique_on: Some(UniqueOn::DstPort),
        };
        let by_port: Vec<bool> = [80, 80, 80, 81, 80]
            .iter()
            .enumerate()
            .map(|(i, &p)| st.filter_passed(4, u, 1, 9, 0, (5000, p), secs(i as u64)))
            .collect();
        assert_eq!(by_port, [false, false, false, true, true]);
        // A new window forgets the ports.
        assert!(!st.filter_passed(4, u, 1, 9, 0, (5000, 81), secs(70)));
        // by_flow: each flow has its own window, whatever its addresses.
        let fl = Threshold {
            kind: ThresholdKind::Limit,
            track: Track::ByFlow,
            count: 1,
            seconds: 60,
        };
        assert!(st.alert_allowed(4, fl, 1, 9, 7, secs(0)));
        assert!(!st.alert_allowed(4, fl, 2, 8, 7, secs(1)));
        assert!(st.alert_allowed(4, fl, 1, 9, 8, secs(1)));
    }

    #[test]
    fn parses_threshold_config() {
        let text = "# comment\n\
            threshold gen_id 1, sig_id 1000, type limit, track by_src, count 1, seconds 60\n\
            event_filter gen_id 1, sig_id 1001, type both, \\\n  track by_dst, count 3, seconds 10\n\
            suppress gen_id 1, sig_id 2000\n\
            suppress gen_id 1, sig_id 2001, track by_src, ip [192.0.2.0/24, 2001:db8::1]\n";
        let c = ThresholdConfig::parse(text).unwrap();
        assert_eq!(c.thresholds.len(), 2);
        assert_eq!(
            c.thresholds[1].2,
            Threshold {
                kind: ThresholdKind::Both,
                track: Track::ByDst,
                count: 3,
                seconds: 10
            }
        );
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        assert!(c.suppressed(1, 2000, b, b));
        assert!(c.suppressed(1, 2001, a, b));
        assert!(!c.suppressed(1, 2001, b, a));
        assert!(c.suppressed(1, 2001, "2001:db8::1".parse().unwrap(), a));
        assert_eq!(c.threshold_for(1, 1000, None).unwrap().count, 1);
        assert_eq!(c.threshold_for(1, 5, None), None);
        let e = ThresholdConfig::parse(
            "\n\nthreshold gen_id 1, sig_id 5, type sometimes, track by_src, count 1, seconds 1",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        let r = ThresholdConfig::parse("rate_filter gen_id 1, sig_id 1, track by_src, count 1, seconds 1, new_action drop, timeout 5").unwrap();
        assert_eq!(r.rates.len(), 1);
        assert_eq!(r.rates[0].new_action, verdict_compiler::ir::Action::Drop);
        let e = ThresholdConfig::parse(
            "\nrate_filter gen_id 1, sig_id 1, track by_src, count 1, seconds 1, new_action drop",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            ThresholdConfig::parse("suppress gen_id 1, sig_id 1, track by_src, ip $HOME_NET")
                .is_err()
        );
    }
}

//! Rule metadata (`msg`, `sid`, `gid`, `rev`, `classtype`, `priority`, `reference`,
//! `metadata`, `target`) and alert rate keywords (`threshold`, `detection_filter`).

use super::numeric::parse_u64;
use super::{split_args, KwError};
use crate::ir::{DetectionFilter, Reference, Threshold, ThresholdKind, Track, UniqueOn};

/// Snort's `classification.config` (with the Suricata additions): name and default priority.
pub const CLASSTYPES: &[(&str, u32)] = &[
    ("not-suspicious", 3),
    ("unknown", 3),
    ("bad-unknown", 2),
    ("attempted-recon", 2),
    ("successful-recon-limited", 2),
    ("successful-recon-largescale", 2),
    ("attempted-dos", 2),
    ("successful-dos", 2),
    ("attempted-user", 1),
    ("unsuccessful-user", 1),
    ("successful-user", 1),
    ("attempted-admin", 1),
    ("successful-admin", 1),
    ("rpc-portmap-decode", 2),
    ("shellcode-detect", 1),
    ("string-detect", 3),
    ("suspicious-filename-detect", 2),
    ("suspicious-login", 2),
    ("system-call-detect", 2),
    ("tcp-connection", 4),
    ("trojan-activity", 1),
    ("unusual-client-port-connection", 2),
    ("network-scan", 3),
    ("denial-of-service", 2),
    ("non-standard-protocol", 2),
    ("protocol-command-decode", 3),
    ("web-application-activity", 2),
    ("web-application-attack", 1),
    ("misc-activity", 3),
    ("misc-attack", 2),
    ("icmp-event", 3),
    ("inappropriate-content", 1),
    ("policy-violation", 1),
    ("default-login-attempt", 2),
    ("sdf", 2),
    ("file-format", 1),
    ("malware-cnc", 1),
    ("client-side-exploit", 1),
    ("kickass-porn", 1),
    ("targeted-activity", 1),
    ("exploit-kit", 1),
    ("external-ip-check", 2),
    ("domain-c2", 1),
    ("pup-activity", 2),
    ("credential-theft", 1),
    ("social-engineering", 2),
    ("coin-mining", 2),
    ("command-and-control", 1),
];

/// The default priority of a classtype, if it is known.
pub fn classtype_priority(name: &str) -> Option<u32> {
    CLASSTYPES.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
}

/// `reference:system,id`
pub fn parse_reference(value: &str) -> Result<Reference, KwError> {
    let Some((sys, id)) = value.split_once(',') else {
        return Err(KwError::value("reference needs a system and an id")
            .help("e.g. reference:cve,2021-44228;"));
    };
    let (sys, id) = (sys.trim(), id.trim());
    if sys.is_empty() || id.is_empty() || sys.contains(char::is_whitespace) {
        return Err(KwError::value("reference needs a system and an id")
            .help("e.g. reference:cve,2021-44228;"));
    }
    Ok(Reference {
        system: sys.to_ascii_lowercase(),
        id: id.to_string(),
    })
}

/// `metadata:key value, key value, …` (Snort allows a bare key).
pub fn parse_metadata(value: &str) -> Result<Vec<(String, String)>, KwError> {
    let mut out = Vec::new();
    for (at, item) in split_args(value) {
        if item.is_empty() {
            return Err(KwError::value("empty metadata entry").at(at, at + 1));
        }
        let (k, v) = match item.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (item, ""),
        };
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn track(v: &str) -> Result<Track, KwError> {
    Ok(match v {
        "by_src" => Track::BySrc,
        "by_dst" => Track::ByDst,
        "by_rule" => Track::ByRule,
        "by_both" => Track::ByBoth,
        "by_flow" => Track::ByFlow,
        _ => {
            return Err(KwError::value(format!("unknown track `{v}`"))
                .help("track by_src, by_dst, by_rule, by_both or by_flow"))
        }
    })
}

/// Canonical name of a track.
pub fn track_text(t: Track) -> &'static str {
    match t {
        Track::BySrc => "by_src",
        Track::ByDst => "by_dst",
        Track::ByRule => "by_rule",
        Track::ByBoth => "by_both",
        Track::ByFlow => "by_flow",
    }
}

struct Rate {
    kind: Option<ThresholdKind>,
    track: Option<Track>,
    count: Option<u32>,
    seconds: Option<u32>,
    unique_on: Option<UniqueOn>,
}

fn rate(value: &str, allow_type: bool, kw: &str) -> Result<Rate, KwError> {
    let mut r = Rate {
        kind: None,
        track: None,
        count: None,
        seconds: None,
        unique_on: None,
    };
    for (at, item) in split_args(value) {
        let (k, v) = item
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .unwrap_or((item, ""));
        let e = |err: KwError| err.at(at, at + item.len());
        let dup = |set: bool| {
            if set {
                Err(KwError::value(format!("`{k}` given twice")).at(at, at + item.len()))
            } else {
                Ok(())
            }
        };
        let num = |v: &str| -> Result<u32, KwError> {
            u32::try_from(parse_u64(v).map_err(e)?)
                .map_err(|_| KwError::value("number too large").at(at, at + item.len()))
        };
        match k {
            "type" if allow_type => {
                dup(r.kind.is_some())?;
                r.kind = Some(match v {
                    "limit" => ThresholdKind::Limit,
                    "threshold" => ThresholdKind::Threshold,
                    "both" => ThresholdKind::Both,
                    _ => {
                        return Err(KwError::value(format!("unknown threshold type `{v}`"))
                            .at(at, at + item.len())
                            .help("type limit, threshold or both"))
                    }
                });
            }
            "track" => {
                dup(r.track.is_some())?;
                r.track = Some(track(v).map_err(e)?);
            }
            "count" => {
                dup(r.count.is_some())?;
                r.count = Some(num(v)?);
            }
            "seconds" => {
                dup(r.seconds.is_some())?;
                r.seconds = Some(num(v)?);
            }
            // Suricata 8.1+: count distinct ports instead of matches (detection_filter only).
            "unique_on" if !allow_type => {
                dup(r.unique_on.is_some())?;
                r.unique_on = Some(match v {
                    "src_port" => UniqueOn::SrcPort,
                    "dst_port" => UniqueOn::DstPort,
                    _ => {
                        return Err(KwError::value(format!("unknown unique_on field `{v}`"))
                            .at(at, at + item.len())
                            .help("unique_on src_port or unique_on dst_port"))
                    }
                });
            }
            _ => {
                let opts = if allow_type {
                    "type, track, count, seconds"
                } else {
                    "track, count, seconds, unique_on"
                };
                return Err(KwError::value(format!("`{k}` is not a {kw} setting"))
                    .at(at, at + item.len())
                    .help(format!("{kw} takes {opts}")));
            }
        }
    }
    let missing = [
        (allow_type && r.kind.is_none(), "type"),
        (r.track.is_none(), "track"),
        (r.count.is_none(), "count"),
        (r.seconds.is_none(), "seconds"),
    ];
    if let Some((_, m)) = missing.iter().find(|(miss, _)| *miss) {
        return Err(KwError::value(format!("{kw} is missing `{m}`")));
    }
    Ok(r)
}

/// `threshold:type limit|threshold|both, track by_src|by_dst, count N, seconds N`
pub fn parse_threshold(value: &str) -> Result<Threshold, KwError> {
    let r = rate(value, true, "threshold")?;
    Ok(Threshold {
        kind: r.kind.expect("checked"),
        track: r.track.expect("checked"),
        count: r.count.expect("checked"),
        seconds: r.seconds.expect("checked"),
    })
}

/// `detection_filter:track by_src|by_dst, count N, seconds N`
pub fn parse_detection_filter(value: &str) -> Result<DetectionFilter, KwError> {
    let r = rate(value, false, "detection_filter")?;
    Ok(DetectionFilter {
        track: r.track.expect("checked"),
        count: r.count.expect("checked"),
        seconds: r.seconds.expect("checked"),
        unique_on: r.unique_on,
    })
}

/// Canonical `unique_on` value.
pub fn unique_on_text(u: UniqueOn) -> &'static str {
    match u {
        UniqueOn::SrcPort => "src_port",
        UniqueOn::DstPort => "dst_port",
    }
}

/// Canonical `threshold` value.
pub fn threshold_text(t: &Threshold) -> String {
    let kind = match t.kind {
        ThresholdKind::Limit => "limit",
        ThresholdKind::Threshold => "threshold",
        ThresholdKind::Both => "both",
    };
    format!(
        "type {kind}, track {}, count {}, seconds {}",
        track_text(t.track),
        t.count,
        t.seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_forms() {
        assert_eq!(classtype_priority("attempted-admin"), Some(1));
        assert_eq!(parse_reference("url, a.b/c,d").unwrap().id, "a.b/c,d");
        assert!(parse_reference("cve").is_err());
        let m = parse_metadata("policy balanced-ips drop, ruleset community, flag").unwrap();
        assert_eq!(m[0], ("policy".into(), "balanced-ips drop".into()));
        assert_eq!(m[2], ("flag".into(), "".into()));
        let t = parse_threshold("type limit, track by_src, count 1, seconds 60").unwrap();
        assert_eq!(parse_threshold(&threshold_text(&t)).unwrap(), t);
        assert!(parse_threshold("type limit, count 1, seconds 60").is_err());
        assert!(parse_detection_filter("track by_dst, count 5, seconds 10").is_ok());
        assert!(parse_detection_filter("type limit, track by_dst, count 5, seconds 10").is_err());
        let d = parse_detection_filter("track by_dst, count 1, seconds 60, unique_on dst_port");
        assert_eq!(d.unwrap().unique_on, Some(UniqueOn::DstPort));
        assert!(
            parse_detection_filter("track by_dst, count 1, seconds 6, unique_on proto").is_err()
        );
        assert!(parse_threshold(
            "type limit, track by_dst, count 1, seconds 6, unique_on dst_port"
        )
        .is_err());
    }
}

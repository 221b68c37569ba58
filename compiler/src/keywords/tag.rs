//! `tag` (Snort 2.9, Suricata): after a rule fires, log the packets that follow — of the
//! same session, or to and from one host — for a number of packets, bytes or seconds.
//!
//! `tag:<scope>[,<count>,<metric>[,<direction>]]`:
//! - scope `session` (the alert's flow) or `host` (a host of the alert, `src` or `dst`;
//!   the destination by default, as Suricata);
//! - metric `packets`, `bytes` (whole packets) or `seconds`; without a count, 256 packets
//!   (Suricata's default for both scopes);
//! - a direction only with `host`, as Suricata refuses it otherwise.
//!
//! Snort 2's extra `count` forms (`tag:session,exclusive`) are refused with a reason. A
//! rule may carry several tags.

use super::{split_args, KwError};
use serde::{Deserialize, Serialize};

/// What a tag follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TagScope {
    /// The alert's flow.
    Session,
    /// Packets from or to the alert's source address.
    HostSrc,
    /// Packets from or to the alert's destination address.
    HostDst,
}

/// How long a tag lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TagMetric {
    /// This many packets after the alert.
    Packets,
    /// Packets until this many bytes (whole packets) were logged.
    Bytes,
    /// Packets within this many seconds of the alert.
    Seconds,
}

/// One `tag` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tag {
    /// Session or host.
    pub scope: TagScope,
    /// The count of `metric`.
    pub count: u32,
    /// Packets, bytes or seconds.
    pub metric: TagMetric,
}

/// Suricata's default count (`DETECT_TAG_MAX_PKTS`).
pub const DEFAULT_PACKETS: u32 = 256;

/// Parses `tag`'s value.
pub fn parse_tag(value: &str) -> Result<Tag, KwError> {
    let args = split_args(value);
    let Some(&(_, scope)) = args.first() else {
        return Err(KwError::value("tag needs a scope: session or host"));
    };
    let host = match scope.to_ascii_lowercase().as_str() {
        "session" => false,
        "host" => true,
        _ => {
            return Err(KwError::value(format!("unknown tag scope `{scope}`"))
                .at(args[0].0, args[0].0 + scope.len())
                .help("session or host"))
        }
    };
    let (count, metric) = match args.get(1..3) {
        None if args.len() == 1 => (DEFAULT_PACKETS, TagMetric::Packets),
        None => {
            return Err(KwError::value("tag needs both a count and a metric")
                .help("tag:session,10,packets"))
        }
        Some(&[(coff, c), (moff, m)]) => {
            let count = c.parse::<u32>().map_err(|_| {
                KwError::value(format!("`{c}` is not a tag count"))
                    .at(coff, coff + c.len())
                    .help("a number of packets, bytes or seconds; Snort's `exclusive` is not supported")
            })?;
            let metric = match m.to_ascii_lowercase().as_str() {
                "packets" => TagMetric::Packets,
                "bytes" => TagMetric::Bytes,
                "seconds" => TagMetric::Seconds,
                _ => {
                    return Err(KwError::value(format!("unknown tag metric `{m}`"))
                        .at(moff, moff + m.len())
                        .help("packets, bytes or seconds"))
                }
            };
            (count, metric)
        }
        Some(_) => unreachable!("get(1..3) is two elements"),
    };
    let scope = match (host, args.get(3)) {
        (false, None) => TagScope::Session,
        (false, Some(&(off, d))) => {
            return Err(
                KwError::value("a tag direction needs the host scope").at(off, off + d.len())
            )
        }
        (true, None) => TagScope::HostDst,
        (true, Some(&(off, d))) => match d.to_ascii_lowercase().as_str() {
            "src" => TagScope::HostSrc,
            "dst" => TagScope::HostDst,
            _ => {
                return Err(KwError::value(format!("unknown tag direction `{d}`"))
                    .at(off, off + d.len())
                    .help("src or dst"))
            }
        },
    };
    if let Some(&(off, extra)) = args.get(4) {
        return Err(KwError::value("tag takes at most four values").at(off, off + extra.len()));
    }
    Ok(Tag {
        scope,
        count,
        metric,
    })
}

/// The canonical value text of a tag.
pub fn tag_text(t: &Tag) -> String {
    let metric = match t.metric {
        TagMetric::Packets => "packets",
        TagMetric::Bytes => "bytes",
        TagMetric::Seconds => "seconds",
    };
    match t.scope {
        TagScope::Session => format!("session,{},{metric}", t.count),
        TagScope::HostSrc => format!("host,{},{metric},src", t.count),
        TagScope::HostDst => format!("host,{},{metric},dst", t.count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = parse_tag("session").unwrap();
        assert_eq!(
            (t.scope, t.count, t.metric),
            (TagScope::Session, 256, TagMetric::Packets)
        );
        let t = parse_tag("session,5,packets").unwrap();
        assert_eq!((t.count, t.metric), (5, TagMetric::Packets));
        let t = parse_tag("host, 3600, seconds, src").unwrap();
        assert_eq!(t.scope, TagScope::HostSrc);
        assert_eq!(tag_text(&t), "host,3600,seconds,src");
        assert_eq!(parse_tag("host").unwrap().scope, TagScope::HostDst);
        assert_eq!(parse_tag("host,10,bytes").unwrap().metric, TagMetric::Bytes);
        for bad in [
            "",
            "flow",
            "session,10",
            "session,x,packets",
            "session,10,frames",
            "session,10,packets,src",
            "host,10,packets,up",
            "host,10,packets,src,x",
            "session,exclusive",
        ] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
        for s in ["session", "session,5,bytes", "host,1,seconds,dst"] {
            let t = parse_tag(s).unwrap();
            assert_eq!(parse_tag(&tag_text(&t)).unwrap(), t);
        }
    }
}

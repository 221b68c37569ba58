//! `fwsam:who[how],duration` (SnortSam): block the attacker for a while when the rule fires.
//! `who` is `src`/`source` or `dst`/`dest`/`destination`: which address of the packet is
//! blocked; the optional `[how]` says which of its packets are dropped: `[in]` from it,
//! `[out]` to it, `[either]`/`[both]` (the default) all. `[conn]`/`[this]` (only this
//! connection) is not supported. The duration is a number with an optional unit (seconds,
//! minutes, hours, days, weeks, months, years; singular, plural or abbreviated), `0` or
//! `permanent` for no expiry.

use super::numeric::parse_u64;
use super::KwError;
use crate::diag::Code;
use crate::ir::{BlockHow, BlockOnMatch};

const UNITS: &[(&[&str], u64)] = &[
    (&["s", "sec", "secs", "second", "seconds"], 1),
    (&["m", "min", "mins", "minute", "minutes"], 60),
    (&["h", "hour", "hours"], 3600),
    (&["d", "day", "days"], 86400),
    (&["w", "week", "weeks"], 7 * 86400),
    (&["month", "months"], 30 * 86400),
    (&["y", "year", "years"], 365 * 86400),
];

/// Parses an fwsam value.
pub fn parse_fwsam(value: &str) -> Result<BlockOnMatch, KwError> {
    let Some((who, dur)) = value.split_once(',') else {
        return Err(KwError::value("fwsam needs who and how long").help("e.g. fwsam:src,1 hour;"));
    };
    let who_t = who.trim();
    let (who_t, how) = match who_t.split_once('[') {
        None => (who_t, BlockHow::Both),
        Some((base, mode)) => {
            let at = who.find('[').unwrap_or(0);
            let mode_t = mode
                .strip_suffix(']')
                .unwrap_or(mode)
                .trim()
                .to_ascii_lowercase();
            let how = match mode_t.as_str() {
                "in" => BlockHow::In,
                "out" => BlockHow::Out,
                "either" | "both" => BlockHow::Both,
                "conn" | "connection" | "this" => {
                    return Err(KwError::code(
                        Code::UnsupportedKeyword,
                        "fwsam connection blocking ([conn], [this]) is not supported",
                    )
                    .at(at, who.len())
                    .help("block the address instead: [in], [out] or [either]"));
                }
                _ => {
                    return Err(KwError::value(format!(
                        "fwsam mode is [in], [out] or [either], not `[{mode_t}]`"
                    ))
                    .at(at, who.len()));
                }
            };
            if !mode.trim_end().ends_with(']') {
                return Err(KwError::value("fwsam mode needs a closing `]`").at(at, who.len()));
            }
            (base.trim(), how)
        }
    };
    let src = match who_t.to_ascii_lowercase().as_str() {
        "src" | "source" => true,
        "dst" | "dest" | "destination" => false,
        _ => {
            return Err(
                KwError::value(format!("fwsam blocks `src` or `dst`, not `{who_t}`"))
                    .at(0, who.len()),
            );
        }
    };
    let dat = who.len() + 1;
    let d = dur.trim();
    let seconds = if matches!(
        d.to_ascii_lowercase().as_str(),
        "0" | "permanent" | "perm" | "inf" | "infinite"
    ) {
        0
    } else {
        let split = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
        let (num, unit) = d.split_at(split);
        let n = parse_u64(num).map_err(|e| e.at(dat, value.len()))?;
        let unit = unit.trim().to_ascii_lowercase();
        let mult = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(names, _)| names.contains(&unit.as_str()))
                .map(|&(_, m)| m)
                .ok_or_else(|| {
                    KwError::value(format!("unknown time unit `{unit}`"))
                        .at(dat, value.len())
                        .help("seconds, minutes, hours, days, weeks, months or years")
                })?
        };
        u32::try_from(n.saturating_mul(mult))
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| {
                KwError::value(format!("fwsam duration `{d}` is out of range")).at(dat, value.len())
            })?
    };
    Ok(BlockOnMatch { src, seconds, how })
}

/// Canonical fwsam value.
pub fn fwsam_text(b: &BlockOnMatch) -> String {
    let who = if b.src { "src" } else { "dst" };
    let how = match b.how {
        BlockHow::In => "[in]",
        BlockHow::Out => "[out]",
        BlockHow::Both => "",
    };
    if b.seconds == 0 {
        format!("{who}{how},permanent")
    } else {
        format!("{who}{how},{} seconds", b.seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let b = parse_fwsam("src, 1 hour").unwrap();
        assert_eq!((b.src, b.seconds), (true, 3600));
        assert_eq!(parse_fwsam(&fwsam_text(&b)).unwrap(), b);
        assert_eq!(parse_fwsam("dest,5min").unwrap().seconds, 300);
        assert_eq!(parse_fwsam("dst,permanent").unwrap().seconds, 0);
        assert_eq!(parse_fwsam("src,30").unwrap().seconds, 30);
        let b = parse_fwsam("src[in], 5 seconds").unwrap();
        assert_eq!((b.src, b.how, b.seconds), (true, BlockHow::In, 5));
        assert_eq!(parse_fwsam(&fwsam_text(&b)).unwrap(), b);
        assert_eq!(parse_fwsam("dst[out],1h").unwrap().how, BlockHow::Out);
        assert_eq!(parse_fwsam("dst[either],1h").unwrap().how, BlockHow::Both);
        for bad in [
            "src",
            "both,1 hour",
            "src,1 fortnight",
            "src[conn],1h",
            "src[sideways],1h",
            "src[in,1h",
            "src,x",
            "src,99999999999 years",
        ] {
            assert!(parse_fwsam(bad).is_err(), "{bad}");
        }
    }
}

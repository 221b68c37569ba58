//! `gunzip` and `zlib_deflate` (`[: max-size N]`, Suricata's `transforms/decompress.rs`): the
//! buffer decompressed, at most `max-size` bytes so that a compression bomb costs a bound.

use crate::keywords::{split_args, KwError};

/// Suricata's output bound when the rule gives none.
pub const DEFAULT_MAX_SIZE: u32 = 1024;
/// The largest bound a rule may ask for (Suricata's 16 MiB).
pub const MAX_MAX_SIZE: u32 = 16 * 1024 * 1024;

/// Parses the value of `kw` into its `max-size`; error spans are relative to `v`.
pub fn parse_max_size(kw: &str, v: Option<&str>) -> Result<u32, KwError> {
    let mut max = None;
    for (at, part) in split_args(v.unwrap_or("")) {
        let span = |e: KwError| e.at(at, at + part.len());
        // Suricata's documentation writes `max-size 8`; its parser splits on `=`.
        let (key, val) = part
            .split_once(|c: char| c == '=' || c.is_ascii_whitespace())
            .map(|(k, v)| (k.trim(), v.trim()))
            .unwrap_or((part, ""));
        if key != "max-size" {
            return Err(span(KwError::value(format!(
                "{kw} option `{key}`: expected max-size"
            ))));
        }
        if max.is_some() {
            return Err(span(KwError::value(format!("{kw}: max-size given twice"))));
        }
        let n = with_unit(val)
            .filter(|&n| (1..=u64::from(MAX_MAX_SIZE)).contains(&n))
            .ok_or_else(|| {
                span(
                    KwError::value(format!("{kw} max-size `{val}` must be 1..={MAX_MAX_SIZE}"))
                        .help("a number of bytes, optionally with kb, mb, kib or mib"),
                )
            })?;
        max = Some(u32::try_from(n).unwrap_or(MAX_MAX_SIZE));
    }
    Ok(max.unwrap_or(DEFAULT_MAX_SIZE))
}

/// `N` with an optional binary unit suffix (Suricata's `detect_parse_uint_with_unit`).
fn with_unit(s: &str) -> Option<u64> {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (num, unit) = s.split_at(digits);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" => 1,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_size() {
        assert_eq!(parse_max_size("gunzip", None), Ok(1024));
        assert_eq!(parse_max_size("gunzip", Some("max-size 8")), Ok(8));
        assert_eq!(parse_max_size("gunzip", Some("max-size=1MiB")), Ok(1 << 20));
        assert_eq!(
            parse_max_size("zlib_deflate", Some(" max-size 2 kb")),
            Ok(2048)
        );
        for bad in [
            "max-size 0",
            "max-size",
            "max-size toto",
            "max-size 17mb",
            "size 3",
            "max-size 1, max-size 1",
        ] {
            assert!(parse_max_size("gunzip", Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            parse_max_size("gunzip", Some("max-size 1, foo 2"))
                .unwrap_err()
                .at,
            Some((12, 17))
        );
    }
}

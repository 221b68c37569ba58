//! Shared numeric forms reused by many keywords: integers (decimal or `0x` hex) and the
//! comparison forms `N`, `=N`, `!N`, `<N`, `<=N`, `>N`, `>=N`, `N<>M` (exclusive), `N-M` and
//! `N<=>M` (inclusive).

use super::KwError;
use crate::ir::NumCmp;

/// Parses an unsigned integer, decimal or `0x` hex.
pub fn parse_u64(text: &str) -> Result<u64, KwError> {
    let t = text.trim();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        t.parse::<u64>()
    };
    r.map_err(|_| KwError::value(format!("`{t}` is not a number")))
}

/// Parses a signed integer, decimal or `0x` hex.
pub fn parse_i64(text: &str) -> Result<i64, KwError> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = parse_u64(body).map_err(|_| KwError::value(format!("`{t}` is not a number")))?;
    let v = i64::try_from(v).map_err(|_| KwError::value(format!("`{t}` is out of range")))?;
    Ok(if neg { -v } else { v })
}

/// Parses an integer that must fit `max`, naming the keyword in the error.
pub fn parse_bounded(text: &str, max: u64, what: &str) -> Result<u64, KwError> {
    let v = parse_u64(text)?;
    if v > max {
        return Err(KwError::value(format!(
            "{what} {v} is out of range (at most {max})"
        )));
    }
    Ok(v)
}

/// Parses a comparison. `max` bounds every number (e.g. 255 for ttl).
pub fn parse_cmp(text: &str, max: u64, what: &str) -> Result<NumCmp, KwError> {
    let t = text.trim();
    let num = |s: &str| parse_bounded(s, max, what);
    if t.is_empty() {
        return Err(KwError::value(format!("{what} needs a number")));
    }
    for (sep, inclusive) in [("<=>", true), ("<>", false), ("-", true)] {
        if let Some((a, b)) = t.split_once(sep) {
            if a.trim().is_empty() {
                break;
            }
            let (a, b) = (num(a)?, num(b)?);
            if a > b || (!inclusive && a == b) {
                return Err(KwError::value(format!("{what} range {t} is empty"))
                    .help("write the smaller bound first"));
            }
            return Ok(if inclusive {
                NumCmp::RangeInclusive(a, b)
            } else {
                NumCmp::RangeExclusive(a, b)
            });
        }
    }
    let cmp = if let Some(r) = t.strip_prefix("<=") {
        NumCmp::Le(num(r)?)
    } else if let Some(r) = t.strip_prefix(">=") {
        NumCmp::Ge(num(r)?)
    } else if let Some(r) = t.strip_prefix("!=") {
        NumCmp::Ne(num(r)?)
    } else if let Some(r) = t.strip_prefix('<') {
        NumCmp::Lt(num(r)?)
    } else if let Some(r) = t.strip_prefix('>') {
        NumCmp::Gt(num(r)?)
    } else if let Some(r) = t.strip_prefix('!') {
        NumCmp::Ne(num(r)?)
    } else if let Some(r) = t.strip_prefix('=') {
        NumCmp::Eq(num(r)?)
    } else {
        NumCmp::Eq(num(t)?)
    };
    Ok(cmp)
}

/// Canonical text of a comparison (re-parses to the same value).
pub fn cmp_text(c: NumCmp) -> String {
    match c {
        NumCmp::Eq(n) => n.to_string(),
        NumCmp::Ne(n) => format!("!{n}"),
        NumCmp::Lt(n) => format!("<{n}"),
        NumCmp::Le(n) => format!("<={n}"),
        NumCmp::Gt(n) => format!(">{n}"),
        NumCmp::Ge(n) => format!(">={n}"),
        NumCmp::RangeExclusive(a, b) => format!("{a}<>{b}"),
        NumCmp::RangeInclusive(a, b) => format!("{a}-{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons() {
        let ok = [
            ("5", NumCmp::Eq(5)),
            ("=5", NumCmp::Eq(5)),
            ("!5", NumCmp::Ne(5)),
            ("<5", NumCmp::Lt(5)),
            ("<=5", NumCmp::Le(5)),
            (">0x10", NumCmp::Gt(16)),
            (">= 7", NumCmp::Ge(7)),
            ("3<>9", NumCmp::RangeExclusive(3, 9)),
            ("3-9", NumCmp::RangeInclusive(3, 9)),
            ("3<=>9", NumCmp::RangeInclusive(3, 9)),
        ];
        for (t, want) in ok {
            let got = parse_cmp(t, 1000, "x").unwrap();
            assert_eq!(got, want, "{t}");
            assert_eq!(parse_cmp(&cmp_text(got), 1000, "x").unwrap(), got);
        }
        for bad in ["", "abc", "<", "9-3", "5<>5", "2000", "-3", "1--2"] {
            assert!(parse_cmp(bad, 1000, "x").is_err(), "{bad}");
        }
        assert_eq!(parse_i64("-0x10").unwrap(), -16);
    }
}

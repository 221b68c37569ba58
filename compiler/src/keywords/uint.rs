//! Suricata's unsigned-integer keyword syntax (`detect_parse_uint`, the "Integer Keywords"
//! chapter), used by the transaction integer keywords (`dns.opcode`, `tls.cert_chain_len`, …).
//!
//! It differs from the Snort forms of [`super::numeric`] in one place that changes matches:
//! `a-b` is a *strict* range (2 and 3 for `1-4`), as Suricata documents; `!a-b` is its
//! complement. `&mask=v` / `&mask!=v` test bits. Some keywords also take names from an
//! enumeration (`dns.rcode:NXDOMAIN`, `!NXDOMAIN`), checked for equality or inequality.

use super::numeric::parse_u64;
use super::KwError;
use serde::{Deserialize, Serialize};

/// One Suricata integer comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UintCmp {
    /// `N`, `=N`
    Eq(u64),
    /// `!N`, `!=N`
    Ne(u64),
    /// `<N`
    Lt(u64),
    /// `<=N`
    Le(u64),
    /// `>N`
    Gt(u64),
    /// `>=N`
    Ge(u64),
    /// `a-b` or `a<>b`: strictly between the bounds.
    Range(u64, u64),
    /// `!a-b`: at or below `a`, or at or above `b`.
    NotRange(u64, u64),
    /// `&mask=v` (`negated: false`) or `&mask!=v`.
    Mask {
        /// Bits kept.
        mask: u64,
        /// What the kept bits are compared with.
        value: u64,
        /// `!=` instead of `=`.
        negated: bool,
    },
}

impl UintCmp {
    /// Whether `v` satisfies the comparison.
    pub fn matches(self, v: u64) -> bool {
        match self {
            UintCmp::Eq(n) => v == n,
            UintCmp::Ne(n) => v != n,
            UintCmp::Lt(n) => v < n,
            UintCmp::Le(n) => v <= n,
            UintCmp::Gt(n) => v > n,
            UintCmp::Ge(n) => v >= n,
            UintCmp::Range(a, b) => a < v && v < b,
            UintCmp::NotRange(a, b) => v <= a || v >= b,
            UintCmp::Mask {
                mask,
                value,
                negated,
            } => (v & mask == value) != negated,
        }
    }
}

/// Looks an enumeration name up (`None`: not a name of this keyword).
pub type Names = fn(&str) -> Option<u64>;

/// A keyword's required value as a comparison whose numbers fit `max` (`what` names the
/// keyword in errors), without enumeration names.
pub fn parse_uint_value(value: Option<&str>, max: u64, what: &str) -> Result<UintCmp, KwError> {
    let v = value.ok_or_else(|| KwError::value(format!("{what} needs a number")))?;
    parse_uint(v, max, what, None)
}

/// Parses a comparison whose numbers fit `max`; `names` resolves enumeration names, which
/// may stand alone or after `!`.
pub fn parse_uint(
    text: &str,
    max: u64,
    what: &str,
    names: Option<Names>,
) -> Result<UintCmp, KwError> {
    let t = text.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t)
        .trim();
    if t.is_empty() {
        return Err(KwError::value(format!("{what} needs a number")));
    }
    let num = |s: &str| -> Result<u64, KwError> {
        let s = s.trim();
        let v = match (parse_u64(s), names) {
            (Ok(v), _) => v,
            (Err(_), Some(look)) => look(s).ok_or_else(|| {
                KwError::value(format!("`{s}` is neither a number nor a {what} name"))
            })?,
            (Err(e), None) => return Err(e),
        };
        if v > max {
            return Err(KwError::value(format!(
                "{what} {v} is out of range (at most {max})"
            )));
        }
        Ok(v)
    };
    if let Some(m) = t.strip_prefix('&') {
        let (mask, value, negated) = if let Some((m, v)) = m.split_once("!=") {
            (m, v, true)
        } else if let Some((m, v)) = m.split_once('=') {
            (m, v, false)
        } else {
            return Err(
                KwError::value(format!("{what} bitmask needs `=` or `!=`")).help("e.g. &0xc0=0x80")
            );
        };
        return Ok(UintCmp::Mask {
            mask: num(mask)?,
            value: num(value)?,
            negated,
        });
    }
    let (neg, body) = match t.strip_prefix("!=") {
        Some(r) => (true, r),
        None => match t.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, t),
        },
    };
    for sep in ["<>", "-"] {
        if let Some((a, b)) = body.split_once(sep) {
            if a.trim().is_empty() || b.trim().is_empty() {
                break;
            }
            let (a, b) = (num(a)?, num(b)?);
            if a >= b {
                return Err(KwError::value(format!("{what} range {t} is empty"))
                    .help("write the smaller bound first; the bounds themselves are excluded"));
            }
            return Ok(if neg {
                UintCmp::NotRange(a, b)
            } else {
                UintCmp::Range(a, b)
            });
        }
    }
    if neg {
        return Ok(UintCmp::Ne(num(body)?));
    }
    Ok(if let Some(r) = t.strip_prefix("<=") {
        UintCmp::Le(num(r)?)
    } else if let Some(r) = t.strip_prefix(">=") {
        UintCmp::Ge(num(r)?)
    } else if let Some(r) = t.strip_prefix('<') {
        UintCmp::Lt(num(r)?)
    } else if let Some(r) = t.strip_prefix('>') {
        UintCmp::Gt(num(r)?)
    } else if let Some(r) = t.strip_prefix('=') {
        UintCmp::Eq(num(r)?)
    } else {
        UintCmp::Eq(num(t)?)
    })
}

/// Canonical text of a comparison (re-parses to the same value).
pub fn uint_text(c: UintCmp) -> String {
    match c {
        UintCmp::Eq(n) => n.to_string(),
        UintCmp::Ne(n) => format!("!{n}"),
        UintCmp::Lt(n) => format!("<{n}"),
        UintCmp::Le(n) => format!("<={n}"),
        UintCmp::Gt(n) => format!(">{n}"),
        UintCmp::Ge(n) => format!(">={n}"),
        UintCmp::Range(a, b) => format!("{a}-{b}"),
        UintCmp::NotRange(a, b) => format!("!{a}-{b}"),
        UintCmp::Mask {
            mask,
            value,
            negated,
        } => format!("&{mask:#x}{}{value:#x}", if negated { "!=" } else { "=" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn color(s: &str) -> Option<u64> {
        match s.to_ascii_lowercase().as_str() {
            "red" => Some(3),
            _ => None,
        }
    }

    #[test]
    fn forms_and_semantics() {
        let ok = [
            ("5", UintCmp::Eq(5), &[5][..], &[4, 6][..]),
            ("=0x10", UintCmp::Eq(16), &[16], &[15]),
            ("!5", UintCmp::Ne(5), &[4, 6], &[5]),
            ("!=5", UintCmp::Ne(5), &[4], &[5]),
            ("<5", UintCmp::Lt(5), &[4], &[5]),
            ("<=5", UintCmp::Le(5), &[5], &[6]),
            (">5", UintCmp::Gt(5), &[6], &[5]),
            (">= 5", UintCmp::Ge(5), &[5], &[4]),
            ("1-4", UintCmp::Range(1, 4), &[2, 3], &[1, 4]),
            ("1<>4", UintCmp::Range(1, 4), &[2], &[4]),
            ("!1-4", UintCmp::NotRange(1, 4), &[0, 1, 4, 9], &[2, 3]),
            (
                "&0xc0=0x80",
                UintCmp::Mask {
                    mask: 0xc0,
                    value: 0x80,
                    negated: false,
                },
                &[0x80, 0xbf],
                &[0xc0, 0x40],
            ),
            (
                "&0xc0!=0",
                UintCmp::Mask {
                    mask: 0xc0,
                    value: 0,
                    negated: true,
                },
                &[0x40],
                &[0x3f],
            ),
            ("\"7\"", UintCmp::Eq(7), &[7], &[8]),
        ];
        for (t, want, yes, no) in ok {
            let got = parse_uint(t, 255, "x", None).unwrap();
            assert_eq!(got, want, "{t}");
            assert_eq!(parse_uint(&uint_text(got), 255, "x", None).unwrap(), got);
            assert!(yes.iter().all(|v| got.matches(*v)), "{t} {yes:?}");
            assert!(!no.iter().any(|v| got.matches(*v)), "{t} {no:?}");
        }
        for bad in ["", "abc", "<", "4-1", "3-3", "256", "&0xc0", "-3", "!"] {
            assert!(parse_uint(bad, 255, "x", None).is_err(), "{bad}");
        }
    }

    #[test]
    fn enumeration_names() {
        let n = Some(color as Names);
        assert_eq!(parse_uint("RED", 255, "color", n).unwrap(), UintCmp::Eq(3));
        assert_eq!(parse_uint("!red", 255, "color", n).unwrap(), UintCmp::Ne(3));
        assert_eq!(parse_uint("2", 255, "color", n).unwrap(), UintCmp::Eq(2));
        let e = parse_uint("blue", 255, "color", n).unwrap_err();
        assert!(e.msg.contains("color name"), "{}", e.msg);
    }
}

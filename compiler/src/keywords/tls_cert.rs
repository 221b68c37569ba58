//! Server-certificate keywords: `tls_cert_notbefore`, `tls_cert_notafter`,
//! `tls_cert_expired`, `tls_cert_valid` and `tls.cert_chain_len`.
//!
//! Transaction predicates ([`TxPred`]) on the certificate chain the server sent, inspected
//! toward the client once the Certificate message was parsed (Suricata's `tls_validity`
//! list: `SIG_FLAG_TOCLIENT`, `TLS_STATE_CERT_READY`).
//!
//! Dates, as Suricata's `DetectTlsValidityParse`: `DATE` (equal), `<DATE` (at or before),
//! `>DATE` (at or after), `DATE<>DATE` (between, inclusive). A date is unix seconds or
//! `YYYY[-MM[-DD[( |T)HH[:MM[:SS]]]]]` in UTC; a partial date stands for its first second,
//! so `>2015` is "from 2015-01-01T00:00:00 on". A bare number of at most four digits is a
//! year, a longer one unix seconds (the old parser read `2015` as 1970 plus 2015 seconds;
//! Suricata 9's tests read it as the year). A missing certificate matches nothing.
//! `tls_cert_expired` is "the packet's time is past notAfter", `tls_cert_valid` "not past
//! notAfter": neither looks at notBefore, as in Suricata.

use super::txpred::{TxKeyword, TxPred};
use super::uint::parse_uint;
use super::KwError;
use serde::{Deserialize, Serialize};

/// The certificate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "tls_cert_notbefore",
        parse: parse_notbefore,
    },
    TxKeyword {
        name: "tls_cert_notafter",
        parse: parse_notafter,
    },
    TxKeyword {
        name: "tls_cert_expired",
        parse: parse_expired,
    },
    TxKeyword {
        name: "tls_cert_valid",
        parse: parse_valid,
    },
    TxKeyword {
        name: "tls.cert_chain_len",
        parse: parse_chain_len,
    },
];

/// Which validity bound of the leaf certificate a date test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CertField {
    /// `tls_cert_notbefore`
    NotBefore,
    /// `tls_cert_notafter`
    NotAfter,
}

/// A date comparison in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DateCmp {
    /// `DATE`
    Eq(i64),
    /// `<DATE`: at or before.
    AtOrBefore(i64),
    /// `>DATE`: at or after.
    AtOrAfter(i64),
    /// `A<>B`: from A to B, both included.
    Between(i64, i64),
}

impl DateCmp {
    /// Whether a certificate date (unix seconds, 0: none) matches.
    pub fn matches(self, t: i64) -> bool {
        if t == 0 {
            return false;
        }
        match self {
            DateCmp::Eq(d) => t == d,
            DateCmp::AtOrBefore(d) => t <= d,
            DateCmp::AtOrAfter(d) => t >= d,
            DateCmp::Between(a, b) => a <= t && t <= b,
        }
    }
}

/// Whether a certificate whose notAfter is `not_after` has expired at `now` (0: no cert).
pub fn expired(not_after: i64, now: i64) -> bool {
    not_after != 0 && now > not_after
}

/// Whether a certificate whose notAfter is `not_after` is still valid at `now`.
pub fn valid(not_after: i64, now: i64) -> bool {
    not_after != 0 && now <= not_after
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses one date into unix seconds (see the module docs for the forms).
pub fn parse_date(text: &str) -> Result<i64, KwError> {
    let t = text.trim();
    let bad = || {
        KwError::value(format!("`{t}` is not a date"))
            .help("unix seconds, or YYYY[-MM[-DD[THH[:MM[:SS]]]]] in UTC")
    };
    if t.is_empty() {
        return Err(bad());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && t.len() > 4 {
        return t.parse::<i64>().map_err(|_| bad());
    }
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, Some(tm.trim())),
        None => (t, None),
    };
    let num = |s: &str, digits: std::ops::RangeInclusive<usize>| -> Result<i64, KwError> {
        if !digits.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let mut d = date.split('-');
    let year = num(d.next().ok_or_else(bad)?, 1..=4)?;
    let month = d.next().map(|s| num(s, 1..=2)).transpose()?;
    let day = d.next().map(|s| num(s, 1..=2)).transpose()?;
    if d.next().is_some() || (time.is_some() && day.is_none()) {
        return Err(bad());
    }
    let (month, day) = (month.unwrap_or(1), day.unwrap_or(1));
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Err(bad());
    }
    let mut secs = 0;
    if let Some(tm) = time {
        let mut parts = tm.split(':');
        let h = num(parts.next().ok_or_else(bad)?, 1..=2)?;
        let m = parts
            .next()
            .map(|s| num(s, 1..=2))
            .transpose()?
            .unwrap_or(0);
        let s = parts
            .next()
            .map(|s| num(s, 1..=2))
            .transpose()?
            .unwrap_or(0);
        if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
            return Err(bad());
        }
        secs = h * 3600 + m * 60 + s;
    }
    Ok(days_from_civil(year, month, day) * 86_400 + secs)
}

/// Parses a date comparison (`DATE`, `<DATE`, `>DATE`, `A<>B`).
pub fn parse_date_cmp(value: &str) -> Result<DateCmp, KwError> {
    let t = value.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t)
        .trim();
    if let Some(r) = t.strip_prefix('<') {
        return Ok(DateCmp::AtOrBefore(parse_date(r)?));
    }
    if let Some(r) = t.strip_prefix('>') {
        return Ok(DateCmp::AtOrAfter(parse_date(r)?));
    }
    if let Some((a, b)) = t.split_once("<>") {
        let (a, b) = (parse_date(a)?, parse_date(b)?);
        if b <= a {
            return Err(KwError::value(format!("date range {t} is empty"))
                .help("write the earlier date first"));
        }
        return Ok(DateCmp::Between(a, b));
    }
    Ok(DateCmp::Eq(parse_date(t)?))
}

fn need<'a>(value: Option<&'a str>, kw: &str) -> Result<&'a str, KwError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| KwError::value(format!("{kw} needs a date")))
}

fn no_value(value: Option<&str>, kw: &str) -> Result<(), KwError> {
    match value {
        Some(v) if !v.trim().is_empty() => {
            Err(KwError::value(format!("{kw} takes no value")).help(format!("write {kw};")))
        }
        _ => Ok(()),
    }
}

/// `tls_cert_notbefore:[<|>]DATE[<>DATE]`
pub fn parse_notbefore(value: Option<&str>) -> Result<TxPred, KwError> {
    let cmp = parse_date_cmp(need(value, "tls_cert_notbefore")?)?;
    Ok(TxPred::CertDate(CertField::NotBefore, cmp))
}

/// `tls_cert_notafter:[<|>]DATE[<>DATE]`
pub fn parse_notafter(value: Option<&str>) -> Result<TxPred, KwError> {
    let cmp = parse_date_cmp(need(value, "tls_cert_notafter")?)?;
    Ok(TxPred::CertDate(CertField::NotAfter, cmp))
}

/// `tls_cert_expired` (no value)
pub fn parse_expired(value: Option<&str>) -> Result<TxPred, KwError> {
    no_value(value, "tls_cert_expired").map(|_| TxPred::CertExpired)
}

/// `tls_cert_valid` (no value)
pub fn parse_valid(value: Option<&str>) -> Result<TxPred, KwError> {
    no_value(value, "tls_cert_valid").map(|_| TxPred::CertValid)
}

/// `tls.cert_chain_len:` Suricata integer (u32) on the number of certificates sent.
pub fn parse_chain_len(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = value.ok_or_else(|| KwError::value("tls.cert_chain_len needs a number"))?;
    parse_uint(v, u64::from(u32::MAX), "tls.cert_chain_len", None).map(TxPred::CertChainLen)
}

/// Unix seconds as (year, month, day, seconds into the day), UTC; days to civil date after
/// Howard Hinnant's `civil_from_days`.
fn civil(unix: i64) -> (i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day, secs)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SS` (UTC), the form Suricata's EVE uses for a
/// certificate's notbefore/notafter and rules use for dates.
pub fn iso8601(unix: i64) -> String {
    let (year, month, day, secs) = civil(unix);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A date as `YYYY-MM-DDTHH:MM:SS` (UTC), or unix seconds when the year has no four-digit
/// form; either re-parses to the same value.
fn date_text(t: i64) -> String {
    if (0..=9999).contains(&civil(t).0) {
        iso8601(t)
    } else {
        t.to_string()
    }
}

/// Canonical text of a date comparison.
pub fn date_cmp_text(c: DateCmp) -> String {
    match c {
        DateCmp::Eq(d) => date_text(d),
        DateCmp::AtOrBefore(d) => format!("<{}", date_text(d)),
        DateCmp::AtOrAfter(d) => format!(">{}", date_text(d)),
        DateCmp::Between(a, b) => format!("{}<>{}", date_text(a), date_text(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_text;

    #[test]
    fn dates() {
        let ok = [
            ("2015", 1_420_070_400),
            ("2015-02", 1_422_748_800),
            ("2015-02-12", 1_423_699_200),
            ("2015-02-12T18:07:27", 1_423_764_447),
            ("2015-02-12 18:07", 1_423_764_420),
            ("2015-02-12T18", 1_423_764_000),
            ("1445852105", 1_445_852_105),
            ("2000-02-29", 951_782_400),
        ];
        for (t, want) in ok {
            assert_eq!(parse_date(t).unwrap(), want, "{t}");
        }
        for bad in [
            "",
            "20x5",
            "2015-13",
            "2015-02-30",
            "2001-02-29",
            "18:07",
            "2015T10",
            "2015-01-01T25",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comparisons_and_round_trip() {
        let nb = 1_423_764_447; // 2015-02-12T18:07:27
        let na = 1_739_124_447; // 2025-02-09T18:07:27
        let t = |kw: &str, v: &str| {
            let k = KEYWORDS.iter().find(|k| k.name == kw).unwrap();
            (k.parse)(Some(v)).unwrap()
        };
        let date = |p: TxPred| match p {
            TxPred::CertDate(_, c) => c,
            other => panic!("{other:?}"),
        };
        assert!(date(t("tls_cert_notafter", ">2015")).matches(na));
        assert!(date(t("tls_cert_notbefore", "<2025")).matches(nb));
        assert!(!date(t("tls_cert_notbefore", ">2016")).matches(nb));
        assert!(date(t("tls_cert_notbefore", "2015-02-12T18:07:27")).matches(nb));
        assert!(date(t("tls_cert_notafter", "2025-02-01<>2025-03-01")).matches(na));
        assert!(!date(t("tls_cert_notafter", "2020<>2025")).matches(na));
        assert!(
            !date(t("tls_cert_notafter", ">1990")).matches(0),
            "no certificate"
        );
        for (kw, v) in [
            ("tls_cert_notbefore", "<2025"),
            ("tls_cert_notafter", "2000-10-22<>2020-05-15"),
            ("tls.cert_chain_len", ">2"),
            ("tls_cert_notafter", "1960-01-01"),
        ] {
            let p = t(kw, v);
            let (k2, v2) = tx_text(&p);
            assert_eq!(k2, kw);
            assert_eq!(t(kw, &v2), p, "{v2}");
        }
        for (kw, bad) in [
            ("tls_cert_notafter", "2020<>2010"),
            ("tls_cert_notafter", "soon"),
            ("tls.cert_chain_len", "two"),
        ] {
            let k = KEYWORDS.iter().find(|k| k.name == kw).unwrap();
            assert!((k.parse)(Some(bad)).is_err(), "{kw}:{bad}");
        }
        assert!(parse_notbefore(None).is_err());
        assert_eq!(parse_expired(None).unwrap(), TxPred::CertExpired);
        assert!(parse_valid(Some("yes")).is_err());
        assert!(expired(na, na + 1) && !expired(na, na) && !expired(0, na));
        assert!(valid(na, na) && !valid(na, na + 1) && !valid(0, 1));
    }
}

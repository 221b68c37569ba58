//! Application-layer keywords from the Snort 2 sip preprocessor: `sip_method`,
//! `sip_stat_code` (the dcerpc2 keywords are in [`super::dce`]).

use super::numeric::parse_u64;
use super::{split_args, KwError};
use crate::ir::AppTest;

/// `sip_method:[!]name[,…]`
pub fn parse_sip_method(value: &str) -> Result<AppTest, KwError> {
    let mut out = Vec::new();
    for (at, a) in split_args(value) {
        let (neg, name) = match a.strip_prefix('!') {
            Some(n) => (true, n.trim()),
            None => (false, a),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(KwError::value(format!("`{a}` is not a SIP method")).at(at, at + a.len()));
        }
        out.push((name.to_ascii_lowercase(), neg));
    }
    if out.is_empty() {
        return Err(KwError::value("sip_method needs at least one method"));
    }
    Ok(AppTest::SipMethod(out))
}

/// `sip_stat_code:code[,…]` (1-9 for a class, 100-999 for a code)
pub fn parse_sip_stat_code(value: &str) -> Result<AppTest, KwError> {
    let mut out = Vec::new();
    for (at, a) in split_args(value) {
        let v = parse_u64(a).map_err(|e| e.at(at, at + a.len()))?;
        if !(1..=9).contains(&v) && !(100..=999).contains(&v) {
            return Err(
                KwError::value(format!("`{a}` is not a SIP status code (1-9 or 100-999)"))
                    .at(at, at + a.len()),
            );
        }
        out.push(v as u16);
    }
    if out.is_empty() {
        return Err(KwError::value("sip_stat_code needs at least one code"));
    }
    Ok(AppTest::SipStatCode(out))
}

/// Canonical (keyword, value) of an app test.
pub fn app_text(t: &AppTest) -> (&'static str, String) {
    match t {
        AppTest::SipMethod(m) => (
            "sip_method",
            m.iter()
                .map(|(n, neg)| format!("{}{n}", if *neg { "!" } else { "" }))
                .collect::<Vec<_>>()
                .join(","),
        ),
        AppTest::SipStatCode(c) => (
            "sip_stat_code",
            c.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_forms() {
        for (kw, v) in [("sip_method", "invite,!cancel"), ("sip_stat_code", "2,180")] {
            let t = match kw {
                "sip_method" => parse_sip_method(v),
                _ => parse_sip_stat_code(v),
            }
            .unwrap();
            let (k2, v2) = app_text(&t);
            assert_eq!(k2, kw);
            assert_eq!(v2, v, "{kw}");
        }
        assert!(parse_sip_stat_code("42").is_err());
    }
}

//! Application-layer keywords from the Snort 2 dcerpc2 preprocessor: `dce_iface`,
//! `dce_opnum` (the sip preprocessor's are transaction predicates, in [`super::sip`]).

use super::numeric::{cmp_text, parse_cmp, parse_u64};
use super::{split_args, KwError};
use crate::ir::{AppTest, NumCmp, RangeSet};

/// `dce_iface:UUID[,<|>|=|!version][,any_frag]`
pub fn parse_dce_iface(value: &str) -> Result<AppTest, KwError> {
    let args = split_args(value);
    let Some(&(uat, uuid)) = args.first() else {
        return Err(KwError::value("dce_iface needs an interface UUID"));
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(KwError::value(format!("`{uuid}` is not a UUID"))
            .at(uat, uat + uuid.len())
            .help("e.g. dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188;"));
    }
    let mut version = None;
    let mut any_frag = false;
    for &(at, a) in &args[1..] {
        if a == "any_frag" {
            any_frag = true;
        } else {
            version =
                Some(parse_cmp(a, 65535, "interface version").map_err(|e| e.at(at, at + a.len()))?);
        }
    }
    Ok(AppTest::DceIface {
        uuid: uuid.to_ascii_lowercase(),
        version,
        any_frag,
    })
}

/// `dce_opnum:N|N-M[,…]`
pub fn parse_dce_opnum(value: &str) -> Result<AppTest, KwError> {
    let mut ranges = Vec::new();
    for (at, a) in split_args(value) {
        let e = |err: KwError| err.at(at, at + a.len());
        let (lo, hi) = match a.split_once('-') {
            Some((l, h)) => (parse_u64(l).map_err(e)?, parse_u64(h).map_err(e)?),
            None => {
                let v = parse_u64(a).map_err(e)?;
                (v, v)
            }
        };
        if lo > hi || hi > 65535 {
            return Err(KwError::value(format!("bad opnum range `{a}`")).at(at, at + a.len()));
        }
        ranges.push((lo as u16, hi as u16));
    }
    if ranges.is_empty() {
        return Err(KwError::value(
            "dce_opnum needs at least one operation number",
        ));
    }
    Ok(AppTest::DceOpnum(RangeSet::from_ranges(ranges)))
}

/// Canonical (keyword, value) of an app test.
pub fn app_text(t: &AppTest) -> (&'static str, String) {
    match t {
        AppTest::DceIface {
            uuid,
            version,
            any_frag,
        } => {
            let mut s = uuid.clone();
            if let Some(v) = version {
                s.push(',');
                s.push_str(&match v {
                    NumCmp::Eq(n) => format!("={n}"),
                    c => cmp_text(*c),
                });
            }
            if *any_frag {
                s.push_str(",any_frag");
            }
            ("dce_iface", s)
        }
        AppTest::DceOpnum(r) => (
            "dce_opnum",
            r.ranges()
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_forms() {
        for (kw, v) in [
            (
                "dce_iface",
                "4b324fc8-1670-01d3-1278-5a47bf6ee188,>2,any_frag",
            ),
            ("dce_opnum", "0-3,15,17"),
        ] {
            let t = match kw {
                "dce_iface" => parse_dce_iface(v),
                _ => parse_dce_opnum(v),
            }
            .unwrap();
            let (k2, v2) = app_text(&t);
            assert_eq!(k2, kw);
            assert_eq!(v2, v, "{kw}");
        }
        assert!(parse_dce_iface("nope").is_err());
    }
}

//! Application-layer keywords from the Snort 2 preprocessors and decoders: `dce_iface`,
//! `dce_opnum`, `sip_method`, `sip_stat_code`, `asn1`,
//! `base64_decode`.

use super::numeric::{cmp_text, parse_cmp, parse_i64, parse_u64};
use super::{split_args, KwError};
use crate::ir::{AppTest, Asn1, Base64Decode, Buffer, NumCmp, RangeSet};

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

/// `asn1:bitstring_overflow, double_overflow, oversize_length N, absolute_offset N|relative_offset N`
pub fn parse_asn1(value: &str, buffer: Buffer) -> Result<Asn1, KwError> {
    let mut a = Asn1 {
        bitstring_overflow: false,
        double_overflow: false,
        oversize_length: None,
        offset: 0,
        relative: false,
        buffer,
    };
    let mut offset_set = false;
    for (at, item) in split_args(value) {
        let (k, v) = item
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, Some(v.trim())))
            .unwrap_or((item, None));
        let need = || {
            v.ok_or_else(|| KwError::value(format!("`{k}` needs a number")).at(at, at + item.len()))
        };
        let e = |err: KwError| err.at(at, at + item.len());
        match k {
            "bitstring_overflow" => a.bitstring_overflow = true,
            "double_overflow" => a.double_overflow = true,
            "oversize_length" => {
                a.oversize_length = Some(u32::try_from(parse_u64(need()?).map_err(e)?).map_err(|_| KwError::value("length too large").at(at, at + item.len()))?)
            }
            "absolute_offset" | "relative_offset" => {
                if offset_set {
                    return Err(KwError::code(crate::diag::Code::Conflict, "asn1 takes only one of absolute_offset and relative_offset").at(at, at + item.len()));
                }
                offset_set = true;
                a.relative = k == "relative_offset";
                a.offset = parse_i64(need()?).map_err(e)?;
            }
            "print" => {
                return Err(KwError::code(crate::diag::Code::UnsupportedKeyword, "asn1 `print` (debug output) is not supported").at(at, at + item.len()))
            }
            _ => {
                return Err(KwError::value(format!("`{k}` is not an asn1 option"))
                    .at(at, at + item.len())
                    .help("options: bitstring_overflow, double_overflow, oversize_length N, absolute_offset N, relative_offset N"))
            }
        }
    }
    if !a.bitstring_overflow && !a.double_overflow && a.oversize_length.is_none() {
        return Err(KwError::value("asn1 needs at least one check (bitstring_overflow, double_overflow, oversize_length N)"));
    }
    Ok(a)
}

/// Canonical `asn1` value.
pub fn asn1_text(a: &Asn1) -> String {
    let mut parts = Vec::new();
    if a.bitstring_overflow {
        parts.push("bitstring_overflow".to_string());
    }
    if a.double_overflow {
        parts.push("double_overflow".to_string());
    }
    if let Some(n) = a.oversize_length {
        parts.push(format!("oversize_length {n}"));
    }
    parts.push(format!(
        "{} {}",
        if a.relative {
            "relative_offset"
        } else {
            "absolute_offset"
        },
        a.offset
    ));
    parts.join(",")
}

/// `base64_decode[:bytes N][,offset N][,relative]`
pub fn parse_base64_decode(value: Option<&str>, buffer: Buffer) -> Result<Base64Decode, KwError> {
    let mut d = Base64Decode {
        bytes: None,
        offset: 0,
        relative: false,
        buffer,
    };
    for (at, item) in split_args(value.unwrap_or("")) {
        let (k, v) = item
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, Some(v.trim())))
            .unwrap_or((item, None));
        let num = || -> Result<u32, KwError> {
            let v = v.ok_or_else(|| {
                KwError::value(format!("`{k}` needs a number")).at(at, at + item.len())
            })?;
            u32::try_from(parse_u64(v).map_err(|e| e.at(at, at + item.len()))?)
                .map_err(|_| KwError::value("number too large").at(at, at + item.len()))
        };
        match k {
            "bytes" => {
                let n = num()?;
                if n == 0 {
                    return Err(KwError::value("bytes must be positive").at(at, at + item.len()));
                }
                d.bytes = Some(n)
            }
            "offset" => d.offset = num()?,
            "relative" => d.relative = true,
            _ => {
                return Err(
                    KwError::value(format!("`{k}` is not a base64_decode option"))
                        .at(at, at + item.len())
                        .help("options: bytes N, offset N, relative"),
                )
            }
        }
    }
    Ok(d)
}

/// Canonical `base64_decode` value, if any.
pub fn base64_decode_text(d: &Base64Decode) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(b) = d.bytes {
        parts.push(format!("bytes {b}"));
    }
    if d.offset != 0 {
        parts.push(format!("offset {}", d.offset));
    }
    if d.relative {
        parts.push("relative".to_string());
    }
    (!parts.is_empty()).then(|| parts.join(","))
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
            ("sip_method", "invite,!cancel"),
            ("sip_stat_code", "2,180"),
        ] {
            let t = match kw {
                "dce_iface" => parse_dce_iface(v),
                "dce_opnum" => parse_dce_opnum(v),
                "sip_method" => parse_sip_method(v),
                _ => parse_sip_stat_code(v),
            }
            .unwrap();
            let (k2, v2) = app_text(&t);
            assert_eq!(k2, kw);
            assert_eq!(v2, v, "{kw}");
        }
        assert!(parse_dce_iface("nope").is_err());
        assert!(parse_sip_stat_code("42").is_err());
        let a = parse_asn1(
            "double_overflow, bitstring_overflow, relative_offset -1",
            Buffer::Payload,
        )
        .unwrap();
        assert_eq!(parse_asn1(&asn1_text(&a), Buffer::Payload).unwrap(), a);
        assert!(parse_asn1("absolute_offset 0", Buffer::Payload).is_err());
        let b = parse_base64_decode(Some("bytes 12, offset 3, relative"), Buffer::Payload).unwrap();
        assert_eq!(
            parse_base64_decode(base64_decode_text(&b).as_deref(), Buffer::Payload).unwrap(),
            b
        );
    }
}

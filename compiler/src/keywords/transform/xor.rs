//! `xor`: a fixed hex key (`xor:"0d0ac8ff"`) or a key read from the buffer itself
//! (`xor:extract 1 0`), optionally decoding only from a given offset on
//! (`xor:offset 1,extract 1 0`), as Suricata's `transforms/xor.rs` accepts.

use super::unquote;
use crate::ir::{Transform, XorKey};
use crate::keywords::KwError;

/// The forms, for error help.
const FORMS: &str =
    "xor:\"<hex key>\", xor:extract <nbytes> <offset>, or either after `offset <N>,`";

/// Parses `xor`'s value; error spans are relative to `v`.
pub fn parse(v: &str) -> Result<Transform, KwError> {
    let lead = v.len() - v.trim_start().len();
    let t = v.trim();
    if t.is_empty() {
        return Err(KwError::value("xor needs a key").help(FORMS));
    }
    // `offset N,` in front: the bytes before N stay as they are.
    let (offset, key_at, key_text) = match word(t, "offset") {
        Some(rest) => {
            let Some((num, key)) = rest.split_once(',') else {
                return Err(KwError::value("xor `offset` needs a key after a comma")
                    .at(lead, v.len())
                    .help(FORMS));
            };
            let num_at = lead + (t.len() - rest.len());
            let offset = num.trim().parse::<u32>().map_err(|_| {
                KwError::value(format!("xor offset `{}` is not a number", num.trim()))
                    .at(num_at, num_at + num.len())
            })?;
            let key_at = num_at + num.len() + 1;
            (offset, key_at, key)
        }
        None => (0, lead, t),
    };
    let key_lead = key_text.len() - key_text.trim_start().len();
    let key = key(key_text.trim(), key_at + key_lead)?;
    Ok(Transform::Xor { key, offset })
}

/// `s` without its leading keyword `kw` and the whitespace after it.
fn word<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    s.strip_prefix(kw)
        .filter(|r| r.starts_with(|c: char| c.is_ascii_whitespace()))
        .map(str::trim_start)
}

/// A key: `extract <nbytes> <offset>` or hex byte pairs (quotes optional); `at` is where
/// `k` starts in the value.
fn key(k: &str, at: usize) -> Result<XorKey, KwError> {
    let span = |e: KwError| e.at(at, at + k.len());
    if let Some(rest) = word(k, "extract") {
        let mut parts = rest.split_whitespace();
        let (Some(n), Some(o), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(
                span(KwError::value("xor `extract` needs `<nbytes> <offset>`")).help(FORMS),
            );
        };
        let nbytes = n.parse::<u8>().ok().filter(|&n| n > 0).ok_or_else(|| {
            span(KwError::value(format!(
                "xor key length `{n}` must be 1..=255"
            )))
        })?;
        let offset = o.parse::<u16>().map_err(|_| {
            span(KwError::value(format!(
                "xor key offset `{o}` must be 0..=65535"
            )))
        })?;
        return Ok(XorKey::Extract { nbytes, offset });
    }
    let hex = unquote(k);
    if hex.is_empty()
        || !hex.len().is_multiple_of(2)
        || hex.len() > 2 * 255
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(span(KwError::value(
            "xor needs a key of 1 to 255 hex byte pairs, e.g. xor:\"0d0ac8ff\"",
        ))
        .help(FORMS));
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| span(KwError::value("bad hex in xor key")))?;
    Ok(XorKey::Hex(bytes))
}

/// The rule text of an `xor` transform.
pub fn text(key: &XorKey, offset: u32) -> String {
    let key = match key {
        XorKey::Hex(k) => format!(
            "\"{}\"",
            k.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        XorKey::Extract { nbytes, offset } => format!("extract {nbytes} {offset}"),
    };
    match offset {
        0 => format!("xor:{key}"),
        n => format!("xor:offset {n},{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xor(key: XorKey, offset: u32) -> Transform {
        Transform::Xor { key, offset }
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse("\"0d0AC8ff\"").unwrap(),
            xor(XorKey::Hex(vec![0x0d, 0x0a, 0xc8, 0xff]), 0)
        );
        assert_eq!(parse("42").unwrap(), xor(XorKey::Hex(vec![0x42]), 0));
        assert_eq!(
            parse("offset 1,extract 1 0").unwrap(),
            xor(
                XorKey::Extract {
                    nbytes: 1,
                    offset: 0
                },
                1
            )
        );
        assert_eq!(
            parse(" extract 4  1024 ").unwrap(),
            xor(
                XorKey::Extract {
                    nbytes: 4,
                    offset: 1024
                },
                0
            )
        );
        assert_eq!(
            parse("offset 4, \"0d0a\"").unwrap(),
            xor(XorKey::Hex(vec![0x0d, 0x0a]), 4)
        );
    }

    #[test]
    fn errors_point_at_the_bad_part() {
        let e = |v: &str| parse(v).unwrap_err().at;
        for bad in [
            "\"0d0\"",
            "\"zz\"",
            "\"\"",
            "",
            "offset 1",
            "offset 1,",
            "offset x,42",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // The key, not the offset.
        assert_eq!(e("offset 1,extract 0 0"), Some((9, 20)));
        assert_eq!(e("offset x,42"), Some((7, 8)));
        assert_eq!(e("extract 256 0"), Some((0, 13)));
        assert!(parse("extract 1 65536").is_err());
        assert!(parse("extract 1").is_err());
        assert!(parse(&format!("\"{}\"", "ab".repeat(256))).is_err());
    }

    #[test]
    fn text_round_trips() {
        for v in [
            "\"0d0ac8ff\"",
            "offset 1,extract 1 0",
            "extract 2 6",
            "offset 3,\"42\"",
        ] {
            let Transform::Xor { key, offset } = parse(v).unwrap() else {
                panic!("{v}")
            };
            assert_eq!(text(&key, offset), format!("xor:{v}"));
        }
    }
}

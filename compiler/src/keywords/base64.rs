//! `base64_decode[:bytes N][,offset N][,relative]` and the `base64_data` sticky buffer
//! (Suricata 7/8 `detect-base64-decode.c`, Snort 2.9 `base64_decode`).
//!
//! `base64_decode` reads the buffer it sits in (the sticky buffer, else the buffer of the
//! content before it, as Suricata appends it to that content's list), from the buffer start
//! or with `relative` from the cursor, skipping `offset` bytes, at most `bytes` encoded bytes
//! (65535 when not given or 0), and decodes them as RFC 4648 base64 that stops at the first
//! byte outside the alphabet (Suricata's default since 6.0.10). It holds when something
//! decoded and the `base64_data` tests after it match the decoded bytes; Suricata ends the
//! inspection of its buffer there ("base64 is a terminal list").
//!
//! What a rule cannot say here is rejected with the reason ([`rejection`]): a
//! `base64_decode` without `base64_data` never alerts in Suricata, tests after
//! `base64_decode` on its buffer are never inspected, and verdict runs one `base64_decode`
//! per rule. `base64_data` without a `base64_decode` before it, and a buffer selected after
//! `base64_data`, are rule errors as in Suricata.

use super::{split_words, KwError};
use crate::ir::{Base64Decode, Buffer, PayloadTest, Rule};

/// Encoded bytes decoded when `bytes` is not given (or 0): Suricata's `BASE64_DECODE_MAX`.
pub const MAX_DECODE: u32 = 65535;

/// Parses the value of `base64_decode` (none for the bare keyword) in `buffer`.
pub fn parse(value: Option<&str>, buffer: Buffer) -> Result<Base64Decode, KwError> {
    let mut d = Base64Decode {
        bytes: None,
        offset: 0,
        relative: false,
        buffer,
    };
    let Some(value) = value else { return Ok(d) };
    let w = split_words(value);
    if w.is_empty() {
        return Err(
            KwError::value("base64_decode: give options after the colon or none")
                .help("e.g. base64_decode:bytes 100, offset 2, relative;"),
        );
    }
    let (mut seen_bytes, mut seen_offset) = (false, false);
    let mut it = w.iter().peekable();
    while let Some(&(at, k)) = it.next() {
        let end = at + k.len();
        let mut num = |max: u64| -> Result<u64, KwError> {
            let Some(&(vat, v)) = it.next() else {
                return Err(KwError::value(format!("`{k}` needs a number")).at(at, end));
            };
            super::numeric::parse_bounded(v, max, k).map_err(|e| e.at(vat, vat + v.len()))
        };
        match k {
            "bytes" if !seen_bytes => {
                seen_bytes = true;
                // Suricata reads a u16 and takes 0 for "as many as allowed".
                let n = num(u64::from(MAX_DECODE))? as u32;
                d.bytes = (n != 0).then_some(n);
            }
            "offset" if !seen_offset => {
                seen_offset = true;
                d.offset = num(u64::from(u32::MAX))? as u32;
            }
            "relative" if !d.relative => d.relative = true,
            "bytes" | "offset" | "relative" => {
                return Err(KwError::value(format!("`{k}` given twice")).at(at, end))
            }
            _ => {
                return Err(
                    KwError::value(format!("`{k}` is not a base64_decode option"))
                        .at(at, end)
                        .help("options: bytes N, offset N, relative"),
                )
            }
        }
    }
    Ok(d)
}

/// The canonical value of a `base64_decode`, `None` for the bare keyword.
pub fn text(d: &Base64Decode) -> Option<String> {
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

/// Encoded bytes a `base64_decode` reads at most.
pub fn decode_len(d: &Base64Decode) -> u32 {
    d.bytes.unwrap_or(MAX_DECODE)
}

/// Why a rule's `base64_decode`/`base64_data` cannot run as Suricata runs it, if so.
pub fn rejection(rule: &Rule) -> Option<String> {
    let decodes: Vec<(usize, &Base64Decode)> = rule
        .payload
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            PayloadTest::Base64Decode(d) => Some((i, d)),
            _ => None,
        })
        .collect();
    let data_tests = rule
        .payload
        .iter()
        .filter(|t| crate::classify::test_buffer(t) == Some(Buffer::Base64Data))
        .count();
    let &(at, d) = decodes.first()?;
    if decodes.len() > 1 {
        return Some("more than one base64_decode in a rule is not supported".into());
    }
    if data_tests == 0 {
        return Some(
            "base64_decode without base64_data tests never alerts (Suricata needs both)".into(),
        );
    }
    let after_on_same = rule.payload[at + 1..]
        .iter()
        .any(|t| crate::classify::test_buffer(t) == Some(d.buffer));
    if after_on_same {
        return Some(
            "tests after base64_decode on its buffer are never inspected (Suricata ends that \
             buffer's inspection at base64_decode); move them before it"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AppBuffer;

    fn p(v: Option<&str>) -> Result<Base64Decode, KwError> {
        parse(v, Buffer::Payload)
    }

    #[test]
    fn values() {
        let d = p(Some("bytes 12, offset 3, relative")).unwrap();
        assert_eq!((d.bytes, d.offset, d.relative), (Some(12), 3, true));
        assert_eq!(p(text(&d).as_deref()).unwrap(), d);
        // Suricata's blank-separated form, and the options in any order (Snort).
        assert_eq!(p(Some("bytes 12 offset 3 relative")).unwrap(), d);
        assert_eq!(p(Some("relative, offset 3, bytes 12")).unwrap(), d);
        // The bare keyword decodes from the buffer start, as many as allowed.
        let bare = p(None).unwrap();
        assert_eq!((bare.bytes, bare.offset, bare.relative), (None, 0, false));
        assert_eq!(text(&bare), None);
        assert_eq!(decode_len(&bare), MAX_DECODE);
        // ET Open writes `offset 0`; Suricata takes `bytes 0` as the maximum.
        assert_eq!(p(Some("bytes 0, offset 0, relative")).unwrap().bytes, None);
        assert_eq!(p(Some("bytes 65535")).unwrap().bytes, Some(65535));
        let buf = Buffer::App(AppBuffer::HttpClientBody);
        assert_eq!(parse(Some("relative"), buf).unwrap().buffer, buf);
    }

    #[test]
    fn errors_point_at_the_word() {
        for (bad, at) in [
            ("bytes 65536", (6, 11)),
            ("bytes", (0, 5)),
            ("bytes x", (6, 7)),
            ("offset 4294967296", (7, 17)),
            ("relatve", (0, 7)),
            ("bytes 1, offset 2, relatve", (19, 26)),
            ("relative, relative", (10, 18)),
            ("bytes 1, bytes 2", (9, 14)),
        ] {
            let e = p(Some(bad)).unwrap_err();
            assert_eq!(e.at, Some(at), "{bad}: {}", e.msg);
        }
        assert!(p(Some("")).is_err());
        assert!(p(Some(" , ")).is_err());
    }
}

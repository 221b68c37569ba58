//! `asn1:[bitstring_overflow][,double_overflow][,oversize_length N][,absolute_offset N|relative_offset N]`
//! (Suricata 7/8 `rust/src/asn1`, Snort 2.9 `asn1`).
//!
//! The buffer is decoded as a run of BER elements from a position: `absolute_offset` from
//! the buffer start (0..=65535), `relative_offset` from the cursor (-65535..=65535), else
//! the buffer start. The keyword holds when one decoded element (or one nested in it) is
//! longer than `oversize_length`, is a BIT STRING whose unused-bits count exceeds its size
//! in bits (`bitstring_overflow`), or is an ASCII-encoded REAL longer than 256 bytes
//! (`double_overflow`, MS04-007). Options are separated by commas or blanks, as Suricata's
//! parser takes them; Snort's debug option `print` is refused.

use super::{numeric::parse_i64, numeric::parse_u64, split_words, KwError};
use crate::diag::Code;
use crate::ir::{Asn1, Buffer};

/// Top-level elements decoded, and the nesting depth followed, per inspection: Suricata's
/// `asn1-max-frames` as its shipped suricata.yaml sets it.
pub const MAX_FRAMES: usize = 256;
/// Largest `absolute_offset` (Suricata reads a u16).
pub const MAX_ABSOLUTE: i64 = 65535;
/// Largest magnitude of a `relative_offset` (Suricata bounds it to ±65535).
pub const MAX_RELATIVE: i64 = 65535;

/// Parses the value of `asn1` for a test in `buffer`.
pub fn parse(value: &str, buffer: Buffer) -> Result<Asn1, KwError> {
    let mut a = Asn1 {
        bitstring_overflow: false,
        double_overflow: false,
        oversize_length: None,
        offset: 0,
        relative: false,
        buffer,
    };
    let mut offset_at: Option<&str> = None;
    let mut it = split_words(value).into_iter();
    while let Some((at, k)) = it.next() {
        let end = at + k.len();
        let mut num = || {
            it.next()
                .ok_or_else(|| KwError::value(format!("`{k}` needs a number")).at(at, end))
        };
        match k {
            "bitstring_overflow" => a.bitstring_overflow = true,
            "double_overflow" => a.double_overflow = true,
            "oversize_length" => {
                let (vat, v) = num()?;
                let n = parse_u64(v)
                    .ok()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        KwError::value(format!("oversize_length `{v}` must be 0..=4294967295"))
                            .at(vat, vat + v.len())
                    })?;
                a.oversize_length = Some(n);
            }
            "absolute_offset" | "relative_offset" => {
                if let Some(prev) = offset_at {
                    return Err(KwError::code(
                        Code::Conflict,
                        format!("asn1 takes one offset; `{prev}` was given before `{k}`"),
                    )
                    .at(at, end)
                    .help("absolute_offset counts from the buffer start, relative_offset from the last match"));
                }
                offset_at = Some(k);
                let (vat, v) = num()?;
                let relative = k == "relative_offset";
                let (lo, hi) = if relative {
                    (-MAX_RELATIVE, MAX_RELATIVE)
                } else {
                    (0, MAX_ABSOLUTE)
                };
                let n = parse_i64(v)
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| {
                        KwError::value(format!("{k} `{v}` must be {lo}..={hi}"))
                            .at(vat, vat + v.len())
                    })?;
                a.offset = n;
                a.relative = relative;
            }
            "print" => {
                return Err(KwError::code(
                    Code::UnsupportedKeyword,
                    "asn1 `print` (decoder debug output) is not supported",
                )
                .at(at, end))
            }
            _ => {
                return Err(KwError::value(format!("`{k}` is not an asn1 option"))
                    .at(at, end)
                    .help("options: bitstring_overflow, double_overflow, oversize_length N, absolute_offset N, relative_offset N"))
            }
        }
    }
    if !a.bitstring_overflow && !a.double_overflow && a.oversize_length.is_none() {
        return Err(KwError::value(
            "asn1 needs a check (bitstring_overflow, double_overflow or oversize_length N): without one it never matches",
        ));
    }
    Ok(a)
}

/// The canonical value of an `asn1` test.
pub fn text(a: &Asn1) -> String {
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
    let kind = if a.relative {
        "relative_offset"
    } else {
        "absolute_offset"
    };
    parts.push(format!("{kind} {}", a.offset));
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> Result<Asn1, KwError> {
        parse(v, Buffer::Payload)
    }

    #[test]
    fn values() {
        // The ET Open / Snort community form.
        let a = p("double_overflow, bitstring_overflow, relative_offset 27, oversize_length 2048")
            .unwrap();
        assert!(a.double_overflow && a.bitstring_overflow && a.relative);
        assert_eq!((a.offset, a.oversize_length), (27, Some(2048)));
        assert_eq!(p(&text(&a)).unwrap(), a);
        let k = p("oversize_length 1024,relative_offset -1").unwrap();
        assert_eq!((k.offset, k.relative), (-1, true));
        // Suricata's parser takes blanks and newlines as separators too.
        let s = p(
            "\n\t double_overflow, oversize_length 1024 absolute_offset 10,\n bitstring_overflow",
        )
        .unwrap();
        assert_eq!(
            (s.offset, s.relative, s.oversize_length),
            (10, false, Some(1024))
        );
        // Bounds as Suricata's: u32 length, u16 absolute, ±65535 relative.
        assert_eq!(
            p("oversize_length 4294967295").unwrap().oversize_length,
            Some(u32::MAX)
        );
        assert_eq!(
            p("oversize_length 0, absolute_offset 65535")
                .unwrap()
                .offset,
            65535
        );
        assert_eq!(
            p("bitstring_overflow, relative_offset -65535")
                .unwrap()
                .offset,
            -65535
        );
        // No offset: the buffer start.
        let z = p("bitstring_overflow").unwrap();
        assert_eq!((z.offset, z.relative), (0, false));
    }

    #[test]
    fn invalid() {
        for (bad, at) in [
            ("oversize_length 4294967296", Some((16, 26))),
            ("oversize_length -1", Some((16, 18))),
            ("oversize_length", Some((0, 15))),
            ("bitstring_overflow, absolute_offset 65536", Some((36, 41))),
            ("bitstring_overflow, absolute_offset -1", Some((36, 38))),
            ("bitstring_overflow, relative_offset 65536", Some((36, 41))),
            ("bitstring_overflow, relative_offset -65536", Some((36, 42))),
            ("oversize_length 1024, some_other_param 360", Some((22, 38))),
            (
                "bitstring_overflow, absolute_offset 1, relative_offset 2",
                Some((39, 54)),
            ),
            ("bitstring_overflow, print", Some((20, 25))),
            ("absolute_offset 0", None),
            ("", None),
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.at, at, "{bad}: {}", e.msg);
        }
    }
}

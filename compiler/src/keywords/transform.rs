//! Buffer transforms (Suricata): `dotprefix`, `to_lowercase`, `to_uppercase`,
//! `strip_whitespace`, `compress_whitespace`, `url_decode`, `xor`, `from_base64`, `to_md5`,
//! `to_sha1`, `to_sha256`, `header_lowercase`, `strip_pseudo_headers`, `pcrexform`,
//! `subslice`, `gunzip`, `zlib_deflate`, `domain`, `tld`.
//!
//! A transform follows a sticky buffer keyword and rewrites that buffer for every test of the
//! rule on it; several run in rule order. This file holds their parsing, the rules for a
//! rule's chains ([`Chains`]), and what a chain does to a fast pattern ([`prefilter_through`]).

pub mod decompress;
pub mod subslice;
pub mod xor;

use super::KwError;
use crate::diag::Code;
use crate::ir::{Buffer, BufferTransforms, Transform};

/// The transform keywords, for dispatch.
pub const NAMES: &[&str] = &[
    "dotprefix",
    "to_lowercase",
    "to_uppercase",
    "strip_whitespace",
    "compress_whitespace",
    "url_decode",
    "xor",
    "from_base64",
    "to_md5",
    "to_sha1",
    "to_sha256",
    "header_lowercase",
    "strip_pseudo_headers",
    "pcrexform",
    "subslice",
    "gunzip",
    "zlib_deflate",
    "domain",
    "tld",
];

/// Parses one transform keyword and its value.
pub fn parse(name: &str, value: Option<&str>) -> Result<Transform, KwError> {
    let none = |t: Transform| match value {
        Some(v) if !v.trim().is_empty() => {
            Err(KwError::value(format!("`{name}` takes no value")).at(0, v.len()))
        }
        _ => Ok(t),
    };
    match name {
        "dotprefix" => none(Transform::DotPrefix),
        "to_lowercase" => none(Transform::ToLowercase),
        "to_uppercase" => none(Transform::ToUppercase),
        "strip_whitespace" => none(Transform::StripWhitespace),
        "compress_whitespace" => none(Transform::CompressWhitespace),
        "url_decode" => none(Transform::UrlDecode),
        "to_md5" => none(Transform::ToMd5),
        "to_sha1" => none(Transform::ToSha1),
        "to_sha256" => none(Transform::ToSha256),
        "header_lowercase" => none(Transform::HeaderLowercase),
        "strip_pseudo_headers" => none(Transform::StripPseudoHeaders),
        "domain" => none(Transform::Domain),
        "tld" => none(Transform::Tld),
        "xor" => xor::parse(value.unwrap_or("")),
        "subslice" => subslice::parse(value.unwrap_or("")),
        "gunzip" => Ok(Transform::Gunzip {
            max_size: decompress::parse_max_size(name, value)?,
        }),
        "zlib_deflate" => Ok(Transform::ZlibDeflate {
            max_size: decompress::parse_max_size(name, value)?,
        }),
        "from_base64" => parse_from_base64(value.unwrap_or("")),
        "pcrexform" => parse_pcrexform(value.unwrap_or("")),
        _ => Err(KwError::value(format!("`{name}` is not a transform"))),
    }
}

/// `v` trimmed, without the double quotes around it if it has them.
fn unquote(v: &str) -> &str {
    let t = v.trim();
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t)
}

/// `from_base64[: bytes N][, offset N][, mode rfc4648|rfc2045|strict]`.
fn parse_from_base64(v: &str) -> Result<Transform, KwError> {
    // RFC 4648 is Suricata's default mode.
    let (mut offset, mut bytes, mut strict) = (0u32, 0u32, true);
    for (at, part) in super::split_args(v) {
        let mut words = part.split_whitespace();
        let key = words.next().unwrap_or("");
        let val = words.next().unwrap_or("");
        let num = || {
            val.parse::<u32>().map_err(|_| {
                KwError::value(format!("from_base64 `{key}` needs a number"))
                    .at(at, at + part.len())
            })
        };
        match key {
            "offset" => offset = num()?,
            "bytes" => bytes = num()?,
            "mode" => {
                strict = match val {
                    "strict" | "rfc4648" => true,
                    "rfc2045" => false,
                    _ => {
                        return Err(KwError::value(format!(
                            "from_base64 mode `{val}`: expected rfc4648, rfc2045 or strict"
                        ))
                        .at(at, at + part.len()))
                    }
                }
            }
            _ => {
                return Err(KwError::value(format!(
                    "from_base64 option `{key}`: expected bytes, offset or mode"
                ))
                .at(at, at + part.len()))
            }
        }
    }
    Ok(Transform::FromBase64 {
        offset,
        bytes,
        strict,
    })
}

/// `pcrexform:"<regex>"`: a regex with one capture group.
fn parse_pcrexform(v: &str) -> Result<Transform, KwError> {
    let re = unquote(v);
    if re.is_empty() {
        return Err(KwError::value("pcrexform needs a quoted regular expression").at(0, v.len()));
    }
    if !re.contains('(') {
        return Err(
            KwError::value("pcrexform needs a capture group: the buffer becomes it").at(0, v.len()),
        );
    }
    Ok(Transform::PcreXform(re.to_string()))
}

/// The transform as rule text (`xor:"0d0a"`), for canonical rules.
pub fn text(t: &Transform) -> String {
    match t {
        Transform::DotPrefix => "dotprefix".into(),
        Transform::ToLowercase => "to_lowercase".into(),
        Transform::ToUppercase => "to_uppercase".into(),
        Transform::StripWhitespace => "strip_whitespace".into(),
        Transform::CompressWhitespace => "compress_whitespace".into(),
        Transform::UrlDecode => "url_decode".into(),
        Transform::ToMd5 => "to_md5".into(),
        Transform::ToSha1 => "to_sha1".into(),
        Transform::ToSha256 => "to_sha256".into(),
        Transform::HeaderLowercase => "header_lowercase".into(),
        Transform::StripPseudoHeaders => "strip_pseudo_headers".into(),
        Transform::Xor { key, offset } => xor::text(key, *offset),
        Transform::Subslice {
            offset,
            nbytes,
            truncate,
        } => subslice::text(*offset, *nbytes, *truncate),
        Transform::Gunzip { max_size } => format!("gunzip:max-size {max_size}"),
        Transform::ZlibDeflate { max_size } => format!("zlib_deflate:max-size {max_size}"),
        Transform::Domain => "domain".into(),
        Transform::Tld => "tld".into(),
        Transform::FromBase64 {
            offset,
            bytes,
            strict,
        } => format!(
            "from_base64:bytes {bytes}, offset {offset}, mode {}",
            if *strict { "rfc4648" } else { "rfc2045" }
        ),
        Transform::PcreXform(re) => format!("pcrexform:\"{re}\""),
    }
}

/// A rule's sticky-buffer selections and the transforms each carries.
#[derive(Debug, Default)]
pub struct Chains {
    /// (buffer, chain, index of the selection's first payload test), in rule order.
    selections: Vec<(Buffer, Vec<Transform>, u32)>,
}

impl Chains {
    /// A sticky buffer keyword selected `b`; the rule has `tests` payload tests so far.
    pub fn select(&mut self, b: Buffer, tests: usize) {
        self.selections
            .push((b, Vec::new(), u32::try_from(tests).unwrap_or(u32::MAX)));
    }

    /// Adds `t` to the chain of the current selection (the rule has `tests` payload tests
    /// so far); `Err` when no sticky buffer is selected (transforms rewrite a sticky
    /// buffer, never the packet). A transform after tests on the selection applies from
    /// there on: the tests before it keep reading what they read (`http.uri;
    /// content:"/?arg="; from_base64:offset 6; content:"secret";`, as Suricata 8 does).
    pub fn push(&mut self, current: Buffer, t: Transform, tests: usize) -> Result<(), KwError> {
        let tests = u32::try_from(tests).unwrap_or(u32::MAX);
        match self.selections.last_mut() {
            Some((b, chain, start))
                if *b == current && !matches!(b, Buffer::Payload | Buffer::Raw | Buffer::Base64Data) =>
            {
                if *start < tests {
                    let (b, mut chain) = (*b, chain.clone());
                    chain.push(t);
                    self.selections.push((b, chain, tests));
                } else {
                    chain.push(t);
                }
                Ok(())
            }
            _ if current == Buffer::Base64Data => Err(KwError::code(
                Code::Conflict,
                "transforms do not apply to base64_data",
            )
            .help("use the from_base64 transform on the sticky buffer instead of base64_decode, then the transforms after it")),
            _ => Err(KwError::code(
                Code::ModifierWithoutContent,
                "a transform must follow a sticky buffer keyword (e.g. `dns.query; dotprefix;`)",
            )
            .help(
                "transforms rewrite an app-layer buffer; they do not apply to the packet payload",
            )),
        }
    }

    /// True once a sticky buffer keyword selected a buffer (`pkt_data` included).
    pub fn selected(&self) -> bool {
        !self.selections.is_empty()
    }

    /// The rule's chains; a rule with `tests` payload tests in all.
    pub fn finish(self, tests: usize) -> Vec<BufferTransforms> {
        let total = u32::try_from(tests).unwrap_or(u32::MAX);
        let ends: Vec<u32> = self
            .selections
            .iter()
            .skip(1)
            .map(|(_, _, start)| *start)
            .chain(std::iter::once(total))
            .collect();
        // A per-file buffer selected again is a new instance even without transforms: it
        // keeps an (empty) chain of its own so it becomes a segment of its own.
        let mut seen: Vec<Buffer> = Vec::new();
        let again: Vec<bool> = self
            .selections
            .iter()
            .zip(&ends)
            .map(|((b, _, start), end)| {
                let repeat = b.per_file() && seen.contains(b);
                if start < end {
                    seen.push(*b);
                }
                repeat
            })
            .collect();
        self.selections
            .into_iter()
            .zip(ends)
            .zip(again)
            .filter(|(((_, chain, start), end), again)| {
                (!chain.is_empty() || *again) && start < end
            })
            .map(|(x, _)| x)
            .map(|((buffer, chain, start), end)| BufferTransforms {
                buffer,
                chain,
                tests: start..end,
            })
            .collect()
    }
}

/// What the prefilter may search in the *untransformed* buffer for a pattern the rule looks
/// for in the transformed one: `(bytes, nocase)`, or `None` when the chain hides every
/// pattern (hashes, decoders, whitespace removal). Sound: if the transformed buffer holds
/// `pattern`, the raw buffer holds the returned bytes.
pub fn prefilter_through(
    chain: &[Transform],
    pattern: &[u8],
    nocase: bool,
) -> Option<(Vec<u8>, bool)> {
    let (mut bytes, mut nocase) = (pattern.to_vec(), nocase);
    // Undo the chain from its last transform back to the raw buffer.
    for t in chain.iter().rev() {
        match t {
            Transform::DotPrefix => {
                // The dot added at the start is the only byte not in the raw buffer.
                if bytes.first() == Some(&b'.') {
                    bytes.remove(0);
                }
            }
            Transform::ToLowercase | Transform::ToUppercase | Transform::HeaderLowercase => {
                nocase = true
            }
            // Each yields a contiguous part of its input (psl's domain and suffix are tails
            // of the name), so the pattern is in the raw buffer as it is.
            Transform::Subslice { .. } | Transform::Domain | Transform::Tld => {}
            // Everything else rewrites bytes in ways a pattern cannot be undone through
            // (keys from the packet, decompression, hashes, decoders).
            _ => return None,
        }
        if bytes.is_empty() {
            return None;
        }
    }
    Some((bytes, nocase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AppBuffer;

    #[test]
    fn values() {
        assert_eq!(parse("dotprefix", None).unwrap(), Transform::DotPrefix);
        assert!(parse("dotprefix", Some("x")).is_err());
        assert_eq!(
            parse("xor", Some("\"0d0AC8ff\"")).unwrap(),
            Transform::Xor {
                key: crate::ir::XorKey::Hex(vec![0x0d, 0x0a, 0xc8, 0xff]),
                offset: 0
            }
        );
        assert!(parse("xor", None).is_err());
        assert_eq!(parse("domain", None).unwrap(), Transform::Domain);
        assert!(parse("tld", Some("x")).is_err());
        assert_eq!(
            parse("gunzip", None).unwrap(),
            Transform::Gunzip { max_size: 1024 }
        );
        assert_eq!(
            parse("zlib_deflate", Some("max-size 8")).unwrap(),
            Transform::ZlibDeflate { max_size: 8 }
        );
        assert_eq!(
            parse("subslice", Some("-6")).unwrap(),
            Transform::Subslice {
                offset: -6,
                nbytes: None,
                truncate: false
            }
        );
        assert_eq!(
            parse("from_base64", Some("bytes 4, offset 2, mode rfc2045")).unwrap(),
            Transform::FromBase64 {
                offset: 2,
                bytes: 4,
                strict: false
            }
        );
        assert_eq!(
            parse("from_base64", None).unwrap(),
            Transform::FromBase64 {
                offset: 0,
                bytes: 0,
                strict: true
            }
        );
        assert!(parse("from_base64", Some("bytes x")).is_err());
        assert!(parse("from_base64", Some("mode fancy")).is_err());
        assert_eq!(
            parse("pcrexform", Some("\"[a-z]+=([a-z]+)\"")).unwrap(),
            Transform::PcreXform("[a-z]+=([a-z]+)".into())
        );
        assert!(parse("pcrexform", Some("\"abc\"")).is_err());
    }

    #[test]
    fn a_chain_per_selection() {
        let q = Buffer::App(AppBuffer::DnsQuery);
        let u = Buffer::App(AppBuffer::HttpUri);
        let mut c = Chains::default();
        c.select(q, 0);
        c.push(q, Transform::DotPrefix, 0).unwrap();
        c.select(u, 1);
        // The same buffer again, with its own chain: tests 2..4 only.
        c.select(u, 2);
        c.push(u, Transform::ToLowercase, 2).unwrap();
        // A transform after a test: from test 5 on, the chain grows.
        c.push(u, Transform::UrlDecode, 5).unwrap();
        assert_eq!(
            c.finish(6),
            vec![
                BufferTransforms {
                    buffer: q,
                    chain: vec![Transform::DotPrefix],
                    tests: 0..1,
                },
                BufferTransforms {
                    buffer: u,
                    chain: vec![Transform::ToLowercase],
                    tests: 2..5,
                },
                BufferTransforms {
                    buffer: u,
                    chain: vec![Transform::ToLowercase, Transform::UrlDecode],
                    tests: 5..6,
                }
            ]
        );
        let mut c = Chains::default();
        assert!(c.push(Buffer::Payload, Transform::DotPrefix, 0).is_err());
        c.select(Buffer::Payload, 0);
        assert!(c.push(Buffer::Payload, Transform::DotPrefix, 0).is_err());
    }

    #[test]
    fn fast_patterns_through_chains() {
        use Transform::*;
        assert_eq!(
            prefilter_through(&[DotPrefix], b".evil.com", false),
            Some((b"evil.com".to_vec(), false))
        );
        assert_eq!(prefilter_through(&[DotPrefix], b".", false), None);
        assert_eq!(
            prefilter_through(&[ToLowercase, DotPrefix], b".evil", false),
            Some((b"evil".to_vec(), true))
        );
        assert_eq!(prefilter_through(&[ToMd5], b"\x01\x02", false), None);
        assert_eq!(prefilter_through(&[UrlDecode], b"abc", false), None);
        // Slices and domain parts keep the bytes; keys and decompression do not.
        let sub = Subslice {
            offset: -6,
            nbytes: None,
            truncate: false,
        };
        assert_eq!(
            prefilter_through(&[sub, Domain, Tld], b"7.64", true),
            Some((b"7.64".to_vec(), true))
        );
        let xor = Xor {
            key: crate::ir::XorKey::Extract {
                nbytes: 1,
                offset: 0,
            },
            offset: 1,
        };
        assert_eq!(prefilter_through(&[xor], b"password", false), None);
        assert_eq!(
            prefilter_through(&[Gunzip { max_size: 8 }], b"This", false),
            None
        );
        assert_eq!(
            prefilter_through(&[ZlibDeflate { max_size: 8 }], b"This", false),
            None
        );
    }
}

//! Buffer transforms, applied to a sticky buffer before a rule's tests on it run
//! (`dns.query; dotprefix; content:".evil.com"; endswith;`). Semantics follow Suricata's
//! `transform-*.c`: ASCII case and whitespace classes (`isspace`), `%XX` and `+` for
//! `url_decode`, raw digests for the hashes, the first capture for `pcrexform`.

use base64::Engine as _;
use md5::Digest as _;
use verdict_compiler::ir::Transform;

/// A transform ready to run (`pcrexform`'s regex compiled once, at load).
#[derive(Debug)]
pub enum Compiled {
    /// Any transform that needs nothing prepared.
    Plain(Transform),
    /// `pcrexform`: the compiled regex.
    Pcre(Box<pcre2::bytes::Regex>),
}

/// Compiles a chain; `Err` is pcrexform's regex error text.
pub fn compile(chain: &[Transform]) -> Result<Vec<Compiled>, String> {
    chain
        .iter()
        .map(|t| match t {
            Transform::PcreXform(re) => pcre2::bytes::RegexBuilder::new()
                .jit_if_available(true)
                .build(&format!(
                    "(*LIMIT_MATCH={})(*LIMIT_DEPTH={}){re}",
                    super::PCRE_MATCH_LIMIT,
                    super::PCRE_DEPTH_LIMIT
                ))
                .map(|r| Compiled::Pcre(Box::new(r)))
                .map_err(|e| format!("pcrexform: {e}")),
            other => Ok(Compiled::Plain(other.clone())),
        })
        .collect()
}

/// Runs the chain over `input`.
pub fn apply(chain: &[Compiled], input: &[u8]) -> Vec<u8> {
    let mut buf = input.to_vec();
    for t in chain {
        buf = match t {
            Compiled::Plain(t) => apply_one(t, &buf),
            Compiled::Pcre(re) => first_capture(re, &buf),
        };
    }
    buf
}

/// C's `isspace` in the "C" locale, as Suricata uses it.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn apply_one(t: &Transform, b: &[u8]) -> Vec<u8> {
    match t {
        Transform::DotPrefix => {
            let mut v = Vec::with_capacity(b.len().saturating_add(1));
            v.push(b'.');
            v.extend_from_slice(b);
            v
        }
        Transform::ToLowercase => b.to_ascii_lowercase(),
        Transform::ToUppercase => b.to_ascii_uppercase(),
        Transform::StripWhitespace => b.iter().copied().filter(|c| !is_space(*c)).collect(),
        Transform::CompressWhitespace => compress_whitespace(b),
        Transform::UrlDecode => url_decode(b),
        Transform::Xor(key) => xor(b, key),
        Transform::FromBase64 {
            offset,
            bytes,
            strict,
        } => from_base64(b, *offset, *bytes, *strict),
        Transform::ToMd5 => md5::Md5::digest(b).to_vec(),
        Transform::ToSha1 => sha1::Sha1::digest(b).to_vec(),
        Transform::ToSha256 => sha2::Sha256::digest(b).to_vec(),
        Transform::HeaderLowercase => header_lowercase(b),
        Transform::StripPseudoHeaders => strip_pseudo_headers(b),
        // Compiled into `Compiled::Pcre`; a bare one (never built by `compile`) keeps the
        // buffer rather than invent a capture.
        Transform::PcreXform(_) => b.to_vec(),
    }
}

/// Each run of whitespace keeps only its first byte (Suricata keeps that byte as it is).
fn compress_whitespace(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut prev_space = false;
    for &c in b {
        let sp = is_space(c);
        if !(sp && prev_space) {
            out.push(c);
        }
        prev_space = sp;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `%XX` becomes the byte, `+` a space; a `%` without two hex digits stays as it is.
fn url_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(hex_val);
                let lo = b.get(i + 2).copied().and_then(hex_val);
                if let (Some(h), Some(l)) = (hi, lo) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(c);
            }
            b'+' => out.push(b' '),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn xor(b: &[u8], key: &[u8]) -> Vec<u8> {
    if key.is_empty() {
        return b.to_vec();
    }
    b.iter()
        .zip(key.iter().cycle())
        .map(|(x, k)| x ^ k)
        .collect()
}

fn is_b64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

/// Decodes `[offset, offset+bytes)` (0 bytes: to the end). RFC 4648 mode stops at the first
/// byte outside the alphabet; RFC 2045 mode skips such bytes. A trailing partial group
/// decodes to the whole bytes it holds; an empty result means nothing decodable.
fn from_base64(b: &[u8], offset: u32, bytes: u32, strict: bool) -> Vec<u8> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
    let rest = &b[start..];
    let take = match bytes {
        0 => rest.len(),
        n => usize::try_from(n).unwrap_or(usize::MAX).min(rest.len()),
    };
    let region = &rest[..take];
    let mut chars: Vec<u8> = if strict {
        region.iter().copied().take_while(|c| is_b64(*c)).collect()
    } else {
        region.iter().copied().filter(|c| is_b64(*c)).collect()
    };
    // Whole groups plus a partial group of 2 or 3 characters (1 alone holds no byte).
    if chars.len() % 4 == 1 {
        chars.pop();
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&chars)
        .or_else(|_| {
            base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_allow_trailing_bits(true)
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            )
            .decode(&chars)
        })
        .unwrap_or_default()
}

/// Header names (up to each line's first `:`) lower-cased; values kept.
fn header_lowercase(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut in_name = true;
    for &c in b {
        if c == b'\n' {
            in_name = true;
            out.push(c);
            continue;
        }
        if in_name && c == b':' && out.last().is_some_and(|p| *p != b'\n') {
            in_name = false;
        }
        out.push(if in_name { c.to_ascii_lowercase() } else { c });
    }
    out
}

/// Lines starting with `:` (HTTP/2 pseudo headers) removed, line endings of the rest kept.
fn strip_pseudo_headers(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for line in b.split_inclusive(|c| *c == b'\n') {
        if line.first() != Some(&b':') {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The first capture of the regex, or the empty buffer when it does not match.
fn first_capture(re: &pcre2::bytes::Regex, b: &[u8]) -> Vec<u8> {
    match re.captures(b) {
        Ok(Some(caps)) => caps
            .get(1)
            .or_else(|| caps.get(0))
            .map(|m| m.as_bytes().to_vec())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transform::*;

    fn run(chain: &[Transform], input: &[u8]) -> Vec<u8> {
        apply(&compile(chain).unwrap(), input)
    }

    #[test]
    fn each_transform() {
        assert_eq!(run(&[DotPrefix], b"evil.com"), b".evil.com");
        assert_eq!(run(&[ToLowercase], b"AbC"), b"abc");
        assert_eq!(run(&[ToUppercase], b"AbC"), b"ABC");
        assert_eq!(run(&[StripWhitespace], b" a \t b\r\n"), b"ab");
        assert_eq!(run(&[CompressWhitespace], b"a  \t b\r\nc"), b"a b\rc");
        assert_eq!(run(&[UrlDecode], b"%2Fa+b%zz%4"), b"/a b%zz%4");
        assert_eq!(
            run(&[Xor(vec![0x01, 0x02])], b"\x01\x02\x03"),
            b"\x00\x00\x02"
        );
        assert_eq!(
            run(
                &[FromBase64 {
                    offset: 0,
                    bytes: 0,
                    strict: true
                }],
                b"aGVsbG8=",
            ),
            b"hello"
        );
        assert_eq!(
            run(
                &[FromBase64 {
                    offset: 2,
                    bytes: 0,
                    strict: false
                }],
                b"xxaGV\r\nsbG8",
            ),
            b"hello"
        );
        assert_eq!(
            run(
                &[FromBase64 {
                    offset: 0,
                    bytes: 4,
                    strict: true
                }],
                b"aGVsbG8=",
            ),
            b"hel"
        );
        assert_eq!(
            run(&[ToMd5], b"abc"),
            b"\x90\x01\x50\x98\x3c\xd2\x4f\xb0\xd6\x96\x3f\x7d\x28\xe1\x7f\x72"
        );
        assert_eq!(run(&[ToSha1], b"abc").len(), 20);
        assert_eq!(&run(&[ToSha256], b"abc")[..4], b"\xba\x78\x16\xbf");
        assert_eq!(
            run(&[HeaderLowercase], b"Host: A\r\nUser-Agent: B:C\r\n"),
            b"host: A\r\nuser-agent: B:C\r\n"
        );
        assert_eq!(
            run(
                &[StripPseudoHeaders],
                b":method: GET\r\nhost: x\r\n:path: /\r\n"
            ),
            b"host: x\r\n"
        );
        assert_eq!(run(&[PcreXform("u=([a-z]+)".into())], b"a u=bob&x"), b"bob");
        assert_eq!(run(&[PcreXform("u=([a-z]+)".into())], b"nothing"), b"");
    }

    #[test]
    fn chains_run_in_rule_order() {
        assert_eq!(run(&[ToUppercase, DotPrefix], b"ab"), b".AB");
        assert_eq!(run(&[UrlDecode, ToLowercase], b"%41B"), b"ab");
        assert!(compile(&[PcreXform("(".into())]).is_err());
    }
}

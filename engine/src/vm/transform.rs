//! Buffer transforms, applied to a sticky buffer before a rule's tests on it run
//! (`dns.query; dotprefix; content:".evil.com"; endswith;`). Semantics follow Suricata's
//! `transform-*.c`: ASCII case and whitespace classes (`isspace`), `%XX` and `+` for
//! `url_decode`, raw digests for the hashes, the first capture for `pcrexform`. An empty
//! buffer stays empty through the transforms that rewrite bytes in place, as in Suricata.

mod decompress;
mod dns_name;
mod subslice;

use base64::Engine as _;
use md5::Digest as _;
use verdict_compiler::ir::{Transform, XorKey};

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
        Transform::Xor { key, offset } => xor(b, key, *offset),
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
        Transform::Subslice {
            offset,
            nbytes,
            truncate,
        } => subslice::subslice(b, *offset, *nbytes, *truncate).to_vec(),
        Transform::Gunzip { max_size } if !b.is_empty() => {
            decompress::decompress(b, decompress::Format::Gzip, *max_size)
        }
        Transform::ZlibDeflate { max_size } if !b.is_empty() => {
            decompress::decompress(b, decompress::Format::Zlib, *max_size)
        }
        Transform::Gunzip { .. } | Transform::ZlibDeflate { .. } => Vec::new(),
        Transform::Domain => dns_name::domain(b).to_vec(),
        Transform::Tld => dns_name::tld(b).to_vec(),
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

/// Bytes from `offset` on xor-ed with the key, the ones before kept. A key from the buffer is
/// copied out before decoding (it may lie inside the decoded part); the buffer is left as it
/// is when the key or `offset` lies past its end.
fn xor(b: &[u8], key: &XorKey, offset: u32) -> Vec<u8> {
    let Some(start) = usize::try_from(offset).ok().filter(|&o| o <= b.len()) else {
        return b.to_vec();
    };
    let key: &[u8] = match key {
        XorKey::Hex(k) => k,
        XorKey::Extract { nbytes, offset } => {
            let at = usize::from(*offset);
            match at
                .checked_add(usize::from(*nbytes))
                .and_then(|end| b.get(at..end))
            {
                Some(k) => k,
                None => return b.to_vec(),
            }
        }
    };
    if key.is_empty() {
        return b.to_vec();
    }
    let (kept, coded) = b.split_at(start);
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(kept);
    out.extend(coded.iter().zip(key.iter().cycle()).map(|(x, k)| x ^ k));
    out
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
        let hex = |k: &[u8], offset| Xor {
            key: XorKey::Hex(k.to_vec()),
            offset,
        };
        assert_eq!(run(&[hex(&[1, 2], 0)], b"\x01\x02\x03"), b"\x00\x00\x02");
        assert_eq!(run(&[hex(&[1, 2], 1)], b"\x01\x02\x03"), b"\x01\x03\x01");
        assert_eq!(
            run(
                &[Subslice {
                    offset: -6,
                    nbytes: None,
                    truncate: false
                }],
                b"curl/7.64.1"
            ),
            b"7.64.1"
        );
        assert_eq!(run(&[Domain], b"www.bbc.co.uk"), b"bbc.co.uk");
        assert_eq!(run(&[Tld], b"www.bbc.co.uk"), b"co.uk");
        assert_eq!(run(&[Gunzip { max_size: 8 }], b""), b"");
        assert_eq!(run(&[ZlibDeflate { max_size: 8 }], b"junk"), b"");
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
    fn xor_key_from_the_buffer() {
        let ext = |nbytes, at, offset| Xor {
            key: XorKey::Extract { nbytes, offset: at },
            offset,
        };
        // A one-byte key in front of the data it encodes.
        let mut body = vec![0x42];
        body.extend(b"password".iter().map(|c| c ^ 0x42));
        let mut want = vec![0x42];
        want.extend_from_slice(b"password");
        assert_eq!(run(&[ext(1, 0, 1)], &body), want);
        // The key inside the decoded part decodes to zero: it was read first.
        assert_eq!(run(&[ext(1, 0, 0)], &body)[1..], *b"password");
        assert_eq!(run(&[ext(1, 0, 0)], &body)[0], 0);
        // A four-byte key; a key at offset 6 decoding from 7.
        let key = [1u8, 2, 3, 4];
        let mut body = key.to_vec();
        body.extend(
            b"password"
                .iter()
                .zip(key.iter().cycle())
                .map(|(c, k)| c ^ k),
        );
        assert_eq!(run(&[ext(4, 0, 4)], &body)[4..], *b"password");
        // Key or offset past the end: the buffer as it was.
        assert_eq!(run(&[ext(2, 5, 0)], b"abcdef"), b"abcdef");
        assert_eq!(run(&[ext(1, 0, 7)], b"abcdef"), b"abcdef");
        assert_eq!(run(&[ext(1, 0, 6)], b"abcdef"), b"abcdef");
    }

    #[test]
    fn chains_run_in_rule_order() {
        assert_eq!(run(&[ToUppercase, DotPrefix], b"ab"), b".AB");
        assert_eq!(run(&[UrlDecode, ToLowercase], b"%41B"), b"ab");
        assert!(compile(&[PcreXform("(".into())]).is_err());
    }
}

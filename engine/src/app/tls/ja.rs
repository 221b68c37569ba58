//! JA3/JA3S (Salesforce, as Suricata computes them) and JA4 (FoxIO) fingerprints.

use std::fmt::Write;

use md5::{Digest, Md5};
use sha2::Sha256;

use super::hello::{ext, is_grease, ClientHello, ServerHello};

/// Lowercase hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// MD5 as lowercase hex (the JA3 hash).
pub(crate) fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

fn join<T: ToString>(values: impl Iterator<Item = T>, sep: &str) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join(sep)
}

fn no_grease(values: &[u16]) -> impl Iterator<Item = u16> + '_ {
    values.iter().copied().filter(|v| !is_grease(*v))
}

/// `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`: decimal values
/// joined by `-`, GREASE removed, empty fields kept empty. The version is the hello's
/// `legacy_version` (not `supported_versions`), as Salesforce and Suricata take it.
pub(crate) fn ja3_string(h: &ClientHello) -> String {
    format!(
        "{},{},{},{},{}",
        h.legacy_version,
        join(no_grease(&h.ciphers), "-"),
        join(no_grease(&h.extensions), "-"),
        join(no_grease(&h.groups), "-"),
        join(h.point_formats.iter(), "-"),
    )
}

/// `SSLVersion,Cipher,Extensions` of the ServerHello.
pub(crate) fn ja3s_string(h: &ServerHello) -> String {
    format!(
        "{},{},{}",
        h.legacy_version,
        h.cipher,
        join(no_grease(&h.extensions), "-"),
    )
}

/// JA4's two-character version: the highest non-GREASE of `supported_versions` and
/// `legacy_version`.
fn ja4_version(h: &ClientHello) -> &'static str {
    let v = no_grease(&h.supported_versions)
        .chain(std::iter::once(h.legacy_version))
        .max()
        .unwrap_or(h.legacy_version);
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        _ => "00",
    }
}

/// JA4's ALPN marker: first and last character of the first ALPN value; when either is not
/// ASCII alphanumeric, the first and last hex digit of the value instead; `00` without ALPN.
fn ja4_alpn(h: &ClientHello) -> String {
    let Some(first) = h.alpn.first() else {
        return "00".to_owned();
    };
    match (first.first(), first.last()) {
        (Some(&a), Some(&b)) if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
            [char::from(a), char::from(b)].iter().collect()
        }
        (Some(_), Some(_)) => {
            let hx = hex(first);
            let mut chars = hx.chars();
            match (chars.next(), chars.next_back()) {
                (Some(a), Some(b)) => [a, b].iter().collect(),
                _ => "00".to_owned(),
            }
        }
        _ => "00".to_owned(),
    }
}

/// SHA-256 of `raw`, first 12 lowercase hex digits; an empty list hashes to zeros (FoxIO).
fn truncated_sha256(raw: &str) -> String {
    if raw.is_empty() {
        return "000000000000".to_owned();
    }
    let mut h = hex(&Sha256::digest(raw.as_bytes()));
    h.truncate(12);
    h
}

/// JA4 of a ClientHello over TCP: `t{ver}{d|i}{ciphers:02}{exts:02}{alpn}_{b}_{c}` where b
/// hashes the sorted ciphers and c the sorted extensions (without SNI and ALPN) followed by
/// `_` and the signature algorithms in wire order (no `_` when there are none).
pub(crate) fn ja4(h: &ClientHello) -> String {
    let mut ciphers: Vec<u16> = no_grease(&h.ciphers).collect();
    let exts: Vec<u16> = no_grease(&h.extensions).collect();
    let a = format!(
        "t{}{}{:02}{:02}{}",
        ja4_version(h),
        if exts.contains(&ext::SERVER_NAME) {
            'd'
        } else {
            'i'
        },
        ciphers.len().min(99),
        exts.len().min(99),
        ja4_alpn(h),
    );
    ciphers.sort_unstable();
    let b = truncated_sha256(&join(ciphers.iter().map(|c| format!("{c:04x}")), ","));
    let mut hashed: Vec<u16> = exts
        .into_iter()
        .filter(|e| *e != ext::SERVER_NAME && *e != ext::ALPN)
        .collect();
    hashed.sort_unstable();
    let mut c_raw = join(hashed.iter().map(|e| format!("{e:04x}")), ",");
    let sigs: Vec<String> = no_grease(&h.signature_algorithms)
        .map(|s| format!("{s:04x}"))
        .collect();
    if !sigs.is_empty() {
        c_raw.push('_');
        c_raw.push_str(&sigs.join(","));
    }
    format!("{a}_{b}_{}", truncated_sha256(&c_raw))
}

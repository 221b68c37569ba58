//! TLS version and handshake-state keywords: `tls.version`, `ssl_version`, `ssl_state`.
//!
//! All three are transaction predicates ([`TxPred`]) on the TLS session, read for the
//! packet's direction as Suricata's `tls_generic` list does:
//!
//! - `tls.version:1.2` equals the version of that side (the record layer until the side's
//!   hello, then the hello's; `supported_versions` counts). `1.0`…`1.3` also match the
//!   TLS 1.3 drafts (0x7fXX) as 1.3; a raw `0x7f12` matches exactly that value.
//! - `ssl_version:sslv3,tls1.0` is true when that side's version is one of the listed ones.
//!   Suricata marks `!name` entries as negated and XORs: a negated name never matches (its
//!   version gives 1 XOR 1) and does not make other versions match either. Kept as is.
//! - `ssl_state:client_hello|!server_hello` (`|` or `,` between states) tests the state of
//!   the last handshake message parsed: with `flags` the named states and `mask` the negated
//!   ones, it matches when `(flags & current) ^ mask` is non-zero (Suricata's formula).

use super::txpred::{TxKeyword, TxPred};
use super::{split_args, KwError};
use serde::{Deserialize, Serialize};

/// The TLS version keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "tls.version",
        parse: parse_tls_version,
    },
    TxKeyword {
        name: "ssl_version",
        parse: parse_ssl_version,
    },
    TxKeyword {
        name: "ssl_state",
        parse: parse_ssl_state,
    },
];

/// `tls.version`: one wire version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsVersion {
    /// The version as on the wire (0x0303 for TLS 1.2).
    pub version: u16,
    /// Given as hex: compared as is, TLS 1.3 drafts are not folded into 0x0304.
    pub raw: bool,
}

impl TlsVersion {
    /// Whether a side's wire version matches.
    pub fn matches(self, seen: u16) -> bool {
        let seen = if !self.raw && seen >> 8 == 0x7f {
            0x0304
        } else {
            seen
        };
        seen == self.version
    }
}

/// `ssl_version` names and their bits (the engine's `SslVersion::bit` uses the same ones).
pub const SSL_VERSIONS: &[(&str, u8)] = &[
    ("sslv2", 1),
    ("sslv3", 2),
    ("tls1.0", 4),
    ("tls1.1", 8),
    ("tls1.2", 16),
    ("tls1.3", 32),
];

/// `ssl_state` names and their bits (the engine's `SslStates` uses the same ones).
pub const SSL_STATES: &[(&str, u8)] = &[
    ("client_hello", 1),
    ("server_hello", 2),
    ("client_keyx", 4),
    ("server_keyx", 8),
    ("unknown", 16),
];

/// `ssl_version`: listed and negated versions as bit sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SslVersions {
    /// Versions named without `!`.
    pub any_of: u8,
    /// Versions named with `!`.
    pub negated: u8,
}

impl SslVersions {
    /// Whether a side's version bit (0: a version without a name) matches, with Suricata's
    /// XOR of "listed" and "negated".
    pub fn matches(self, bit: u8) -> bool {
        if bit == 0 {
            return false;
        }
        let listed = (self.any_of | self.negated) & bit != 0;
        listed != (self.negated & bit != 0)
    }
}

/// `ssl_state`: named and negated states as bit sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SslState {
    /// Every state named.
    pub flags: u8,
    /// The states named with `!`.
    pub mask: u8,
}

impl SslState {
    /// Whether the current handshake state (a bit set) matches.
    pub fn matches(self, current: u8) -> bool {
        (self.flags & current) ^ self.mask != 0
    }
}

/// A value without surrounding quotes and spaces (`"1.2"` and `1.2` alike).
pub(crate) fn unquote(v: &str) -> &str {
    let t = v.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t)
        .trim()
}

/// `tls.version:1.0|1.1|1.2|1.3|0xNNNN`
pub fn parse_tls_version(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = unquote(value.unwrap_or(""));
    let named = match v {
        "1.0" => Some(0x0301),
        "1.1" => Some(0x0302),
        "1.2" => Some(0x0303),
        "1.3" => Some(0x0304),
        _ => None,
    };
    if let Some(version) = named {
        return Ok(TxPred::TlsVersion(TlsVersion {
            version,
            raw: false,
        }));
    }
    let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X"));
    match hex.map(|h| (h.len(), u16::from_str_radix(h, 16))) {
        Some((4, Ok(version))) => Ok(TxPred::TlsVersion(TlsVersion { version, raw: true })),
        _ => Err(KwError::value(format!("`{v}` is not a TLS version"))
            .help("one of 1.0, 1.1, 1.2, 1.3, or a raw version such as 0x7f1c")),
    }
}

/// Parses `[!]name` items separated by `seps` into (named, negated) bit sets.
fn bitlist(
    value: &str,
    seps: &[char],
    table: &[(&str, u8)],
    kw: &str,
) -> Result<(u8, u8), KwError> {
    let (mut all, mut neg) = (0u8, 0u8);
    let mut off = 0;
    for part in value.split(|c| seps.contains(&c)) {
        let at = off + (part.len() - part.trim_start().len());
        off += part.len() + 1;
        let a = part.trim();
        let (is_neg, name) = match a.strip_prefix('!') {
            Some(n) => (true, n.trim()),
            None => (false, a),
        };
        let Some(&(_, bit)) = table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            return Err(KwError::value(format!("unknown {kw} `{name}`"))
                .at(at, at + a.len())
                .help(format!("one of: {}", names.join(", "))));
        };
        all |= bit;
        if is_neg {
            neg |= bit;
        }
    }
    Ok((all, neg))
}

/// `ssl_version:[!]sslv2|sslv3|tls1.0|tls1.1|tls1.2|tls1.3[,…]`
pub fn parse_ssl_version(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = value.unwrap_or("");
    if split_args(v).is_empty() {
        return Err(KwError::value("ssl_version needs at least one version"));
    }
    let (all, negated) = bitlist(v, &[','], SSL_VERSIONS, "ssl_version")?;
    Ok(TxPred::SslVersion(SslVersions {
        any_of: all & !negated,
        negated,
    }))
}

/// `ssl_state:[!]client_hello|server_hello|client_keyx|server_keyx|unknown[|…]`
pub fn parse_ssl_state(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = value.unwrap_or("");
    if v.trim().is_empty() {
        return Err(KwError::value("ssl_state needs at least one state"));
    }
    let (flags, mask) = bitlist(v, &['|', ','], SSL_STATES, "ssl_state")?;
    Ok(TxPred::SslState(SslState { flags, mask }))
}

fn bits_text(pos: u8, neg: u8, table: &[(&str, u8)], sep: &str) -> String {
    let mut parts = Vec::new();
    for &(n, b) in table {
        if neg & b != 0 {
            parts.push(format!("!{n}"));
        } else if pos & b != 0 {
            parts.push(n.to_string());
        }
    }
    parts.join(sep)
}

/// Canonical `tls.version` value.
pub fn tls_version_text(v: TlsVersion) -> String {
    match (v.raw, v.version) {
        (false, 0x0301) => "1.0".into(),
        (false, 0x0302) => "1.1".into(),
        (false, 0x0303) => "1.2".into(),
        (false, 0x0304) => "1.3".into(),
        (_, n) => format!("{n:#06x}"),
    }
}

/// Canonical `ssl_version` value.
pub fn ssl_version_text(v: SslVersions) -> String {
    bits_text(v.any_of, v.negated, SSL_VERSIONS, ",")
}

/// Canonical `ssl_state` value.
pub fn ssl_state_text(s: SslState) -> String {
    bits_text(s.flags, s.mask, SSL_STATES, "|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_text;

    fn parse(kw: &str, v: &str) -> Result<TxPred, KwError> {
        let k = KEYWORDS.iter().find(|k| k.name == kw).unwrap();
        (k.parse)(Some(v))
    }

    #[test]
    fn parse_table_round_trips() {
        for (kw, v) in [
            ("tls.version", "1.2"),
            ("tls.version", "1.3"),
            ("tls.version", "0x7f12"),
            ("ssl_version", "sslv3,tls1.0,!tls1.2"),
            ("ssl_version", "tls1.3"),
            ("ssl_state", "client_hello|!server_hello"),
            ("ssl_state", "unknown"),
        ] {
            let t = parse(kw, v).unwrap();
            let (k2, v2) = tx_text(&t);
            assert_eq!(k2, kw);
            assert_eq!(v2, v, "{kw}");
        }
        assert_eq!(
            parse("tls.version", "\"1.0\"").unwrap(),
            TxPred::TlsVersion(TlsVersion {
                version: 0x0301,
                raw: false
            })
        );
        assert_eq!(
            parse("ssl_state", "client_hello, server_keyx").unwrap(),
            TxPred::SslState(SslState { flags: 9, mask: 0 })
        );
        for (kw, bad) in [
            ("tls.version", "2.0"),
            ("tls.version", "0x12"),
            ("tls.version", ""),
            ("ssl_version", "tls1.4"),
            ("ssl_version", ""),
            ("ssl_state", "hello"),
            ("ssl_state", "client_hello|"),
        ] {
            assert!(parse(kw, bad).is_err(), "{kw}:{bad}");
        }
        let e = parse("ssl_version", "sslv3, tlsv9").unwrap_err();
        assert_eq!(e.at, Some((7, 12)));
    }

    #[test]
    fn matching_follows_suricata() {
        let v12 = TlsVersion {
            version: 0x0303,
            raw: false,
        };
        assert!(v12.matches(0x0303) && !v12.matches(0x0301));
        let v13 = TlsVersion {
            version: 0x0304,
            raw: false,
        };
        assert!(v13.matches(0x7f1c), "drafts count as 1.3");
        let draft = TlsVersion {
            version: 0x7f1c,
            raw: true,
        };
        assert!(draft.matches(0x7f1c) && !draft.matches(0x0304));

        let Ok(TxPred::SslVersion(sv)) = parse("ssl_version", "sslv3,!tls1.2") else {
            panic!()
        };
        assert!(sv.matches(2), "listed");
        assert!(!sv.matches(16), "negated never matches");
        assert!(!sv.matches(4), "unlisted");
        assert!(!sv.matches(0), "unnamed version");

        let Ok(TxPred::SslState(st)) = parse("ssl_state", "client_hello") else {
            panic!()
        };
        assert!(st.matches(1) && !st.matches(2));
        let Ok(TxPred::SslState(not_sh)) = parse("ssl_state", "!server_hello") else {
            panic!()
        };
        assert!(not_sh.matches(1) && !not_sh.matches(2));
    }
}

//! SSH banner keywords that take a value: `ssh.protoversion` and `ssh.softwareversion`
//! (Suricata 7; the sticky buffers `ssh.proto`/`ssh.software` and the HASSH buffers are in
//! [`super::buffers`]).
//!
//! Both are transaction predicates ([`TxPred`]) on the banner of the packet's direction,
//! as Suricata's `DetectSshVersionMatch`/`DetectSshSoftwareVersionMatch` read the
//! client's banner for a packet to the server and the server's for one to the client:
//!
//! - `ssh.protoversion:2.0` equals the protocol version exactly; `2_compat` matches any
//!   version starting with `2` and `1.99` (servers speaking both).
//! - `ssh.softwareversion:OpenSSH_9.6` equals the software version exactly.

use super::txpred::{TxKeyword, TxPred};
use super::KwError;
use serde::{Deserialize, Serialize};

/// The SSH predicate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "ssh.protoversion",
        parse: parse_protoversion,
    },
    TxKeyword {
        name: "ssh.softwareversion",
        parse: parse_softwareversion,
    },
];

/// `ssh.protoversion`'s value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SshProtoVersion {
    /// `2_compat`: 2.x or 1.99.
    Compat2,
    /// Exactly this version.
    Exact(String),
}

impl SshProtoVersion {
    /// Whether a banner's protocol version matches.
    pub fn matches(&self, proto: &[u8]) -> bool {
        match self {
            SshProtoVersion::Compat2 => proto.starts_with(b"2") || proto.starts_with(b"1.99"),
            SshProtoVersion::Exact(v) => proto == v.as_bytes(),
        }
    }

    /// The value as written in a rule.
    pub fn text(&self) -> String {
        match self {
            SshProtoVersion::Compat2 => "2_compat".to_string(),
            SshProtoVersion::Exact(v) => v.clone(),
        }
    }
}

fn unquote(v: Option<&str>, kw: &str) -> Result<String, KwError> {
    let raw = v.ok_or_else(|| KwError::value(format!("{kw} needs a value")))?;
    let t = super::tls_state::unquote(raw);
    if t.is_empty() {
        return Err(KwError::value(format!("{kw} needs a value")));
    }
    Ok(t.to_string())
}

/// `ssh.protoversion:2.0|1.99|2_compat` (digits, dots and dashes, as Suricata's regex).
pub fn parse_protoversion(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = unquote(value, "ssh.protoversion")?;
    if v == "2_compat" {
        return Ok(TxPred::SshProtoVersion(SshProtoVersion::Compat2));
    }
    let ok = v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
    if !ok {
        return Err(
            KwError::value(format!("`{v}` is not an SSH protocol version"))
                .help("a version such as 2.0 or 1.99, or 2_compat for both"),
        );
    }
    Ok(TxPred::SshProtoVersion(SshProtoVersion::Exact(v)))
}

/// `ssh.softwareversion:NAME` (letters, digits and `:._-+`, as Suricata's regex).
pub fn parse_softwareversion(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = unquote(value, "ssh.softwareversion")?;
    if let Some(bad) = v
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || ":._-+".contains(*c)))
    {
        return Err(KwError::value(format!(
            "`{}` may not be part of an SSH software version",
            bad.1
        ))
        .help("use ssh.software with content for other text"));
    }
    Ok(TxPred::SshSoftwareVersion(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_option_text;

    #[test]
    fn values() {
        let p = parse_protoversion(Some("2_compat")).unwrap();
        let TxPred::SshProtoVersion(v) = &p else {
            panic!("{p:?}")
        };
        assert!(v.matches(b"2.0") && v.matches(b"1.99") && !v.matches(b"1.5"));
        assert_eq!(tx_option_text(&p), "ssh.protoversion:2_compat;");
        let p = parse_protoversion(Some("\"1.99\"")).unwrap();
        let TxPred::SshProtoVersion(v) = &p else {
            panic!("{p:?}")
        };
        assert!(v.matches(b"1.99") && !v.matches(b"1.995") && !v.matches(b"2.0"));
        assert!(parse_protoversion(Some("two")).is_err());
        assert!(parse_protoversion(None).is_err());
        let p = parse_softwareversion(Some("OpenSSH_9.6p1")).unwrap();
        assert_eq!(p, TxPred::SshSoftwareVersion("OpenSSH_9.6p1".into()));
        assert_eq!(tx_option_text(&p), "ssh.softwareversion:OpenSSH_9.6p1;");
        assert!(parse_softwareversion(Some("a;b")).is_err());
        assert!(parse_softwareversion(Some("\"\"")).is_err());
    }
}

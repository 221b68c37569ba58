//! The EVE `tls` object, shaped like Suricata's so EVE consumers need no changes.

use serde::Serialize;

use super::cert::iso8601;
use super::TlsConn;

/// A JA3 or JA3S fingerprint as EVE logs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ja3Info {
    /// MD5 of `string`, lowercase hex.
    pub hash: String,
    /// The fingerprint's source string.
    pub string: String,
}

/// Suricata's EVE `tls` record: fields it cannot know are omitted, except `version`, which
/// Suricata always writes (`UNDETERMINED` before the server spoke).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// Server leaf subject (`C=US, O=Let's Encrypt, CN=R3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Server leaf issuer, same format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuerdn: Option<String>,
    /// Server leaf serial, `AA:BB:...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// SHA-1 of the server leaf, `aa:bb:...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Client SNI, lossily decoded as UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The server's version as Suricata names it (`TLS 1.2`, `TLSv1`, `SSLv3`, ...).
    pub version: String,
    /// Server leaf notBefore, `YYYY-MM-DDTHH:MM:SS` UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notbefore: Option<String>,
    /// Server leaf notAfter, same format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notafter: Option<String>,
    /// Client JA3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3: Option<Ja3Info>,
    /// Server JA3S.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3s: Option<Ja3Info>,
    /// Client JA4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
}

/// Suricata's `SSLVersionToString`: TLS 1.0 is `TLSv1` there, unknown values are hex.
pub fn version_name(v: Option<u16>) -> String {
    match v {
        None | Some(0) => "UNDETERMINED".to_owned(),
        Some(0x0002) => "SSLv2".to_owned(),
        Some(0x0300) => "SSLv3".to_owned(),
        Some(0x0301) => "TLSv1".to_owned(),
        Some(0x0302) => "TLS 1.1".to_owned(),
        Some(0x0303) => "TLS 1.2".to_owned(),
        Some(0x0304) => "TLS 1.3".to_owned(),
        Some(v) if v >> 8 == 0x7f && (v & 0xff) >= 16 => format!("TLS 1.3 draft-{}", v & 0xff),
        Some(v) if v >> 8 == 0x7f => "TLS 1.3 draft-<16".to_owned(),
        Some(v) => format!("0x{v:04x}"),
    }
}

impl TlsInfo {
    pub(crate) fn from_conn(c: &TlsConn) -> TlsInfo {
        let chain = c.certs(false);
        let leaf = chain.and_then(|ch| ch.leaf.as_ref());
        let ch = c.client_hello();
        let sh = c.server_hello();
        TlsInfo {
            subject: leaf.map(|l| l.subject.clone()),
            issuerdn: leaf.map(|l| l.issuer.clone()),
            serial: leaf.map(|l| l.serial.clone()),
            fingerprint: chain.and_then(|ch| ch.fingerprint.clone()),
            sni: ch
                .and_then(|h| h.sni.as_deref())
                .map(|s| String::from_utf8_lossy(s).into_owned()),
            version: version_name(c.version(false)),
            notbefore: leaf.map(|l| iso8601(l.not_before)),
            notafter: leaf.map(|l| iso8601(l.not_after)),
            ja3: ch.map(|h| Ja3Info {
                hash: h.ja3_hash.clone(),
                string: h.ja3.clone(),
            }),
            ja3s: sh.map(|h| Ja3Info {
                hash: h.ja3s_hash.clone(),
                string: h.ja3s.clone(),
            }),
            ja4: ch.map(|h| h.ja4.clone()),
        }
    }
}

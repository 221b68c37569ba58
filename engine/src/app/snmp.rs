//! SNMP (RFC 3416 PDUs in v1/v2c messages, RFC 3412/3414 v3 messages with USM) over UDP, for
//! `snmp.version`, `snmp.pdu_type`, `snmp.community` and `snmp.usm`: each datagram holds one
//! message, and each message is a transaction of its own, as in Suricata's SNMP parser
//! (which uses the same `snmp-parser` crate).
//!
//! - version: 1 for v1 (encoded 0), 2 for v2c (encoded 1), 3 for v3.
//! - community: the v1/v2c community string; none in v3.
//! - usm: the v3 USM `msgUserName`; none in v1/v2c or under another security model.
//! - pdu type: the PDU's context tag (0 GetRequest … 8 Report); none when a v3 scoped PDU is
//!   encrypted (the privacy flag), which is all Suricata can see of it too.
//!
//! A datagram is SNMP when it decodes as a whole message ([`parse`]), which is also how the
//! engine detects the protocol on the SNMP ports ([`PORTS`]).
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::snmp;
//!
//! // v2c GetRequest for sysDescr.0 with community "public".
//! let msg = b"\x30\x27\x02\x01\x01\x04\x06public\xa0\x1a\x02\x02\x12\x34\x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00";
//! let m = snmp::parse(msg).unwrap();
//! assert_eq!((m.version, m.pdu_type), (2, Some(0)));
//! assert_eq!(m.buffer_n(AppBuffer::SnmpCommunity, 0), Some(&b"public"[..]));
//! ```

use serde_json::{json, Map, Value};
use snmp_parser::{parse_snmp_generic_message, ScopedPduData, SecurityParameters};
use snmp_parser::{SnmpGenericMessage, SnmpPdu};
use verdict_compiler::ir::AppBuffer;

/// UDP ports SNMP is parsed on: agents (161) and trap receivers (162), either side, as
/// Suricata's default `app-layer.protocols.snmp.detection-ports`.
pub const PORTS: [u16; 2] = [161, 162];

/// What one SNMP message holds for detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpMsg {
    /// 1, 2 (v2c) or 3.
    pub version: u32,
    /// The PDU type, unless encrypted.
    pub pdu_type: Option<u32>,
    /// v1/v2c community.
    pub community: Option<Vec<u8>>,
    /// v3 USM user name.
    pub usm: Option<Vec<u8>>,
    /// v3 scoped PDU encrypted.
    pub encrypted: bool,
}

/// Decodes one datagram as an SNMP message; `None` when it is not one.
pub fn parse(payload: &[u8]) -> Option<SnmpMsg> {
    let (_, msg) = parse_snmp_generic_message(payload).ok()?;
    Some(match msg {
        SnmpGenericMessage::V1(m) | SnmpGenericMessage::V2(m) => SnmpMsg {
            version: m.version.checked_add(1)?,
            pdu_type: Some(pdu_type(&m.pdu)),
            community: Some(m.community.into_bytes()),
            usm: None,
            encrypted: false,
        },
        SnmpGenericMessage::V3(m) => {
            let (pdu_type, encrypted) = match &m.data {
                ScopedPduData::Plaintext(p) => (Some(pdu_type(&p.data)), false),
                ScopedPduData::Encrypted(_) => (None, true),
            };
            let usm = match m.security_params {
                SecurityParameters::USM(u) => Some(u.msg_user_name.into_bytes()),
                SecurityParameters::Raw(_) => None,
            };
            SnmpMsg {
                version: m.version,
                pdu_type,
                community: None,
                usm,
                encrypted,
            }
        }
    })
}

fn pdu_type(p: &SnmpPdu<'_>) -> u32 {
    p.pdu_type().0
}

impl SnmpMsg {
    /// Instance `i` of an SNMP buffer (each exists once, when the message has it).
    pub fn buffer_n(&self, b: AppBuffer, i: usize) -> Option<&[u8]> {
        if i != 0 {
            return None;
        }
        match b {
            AppBuffer::SnmpCommunity => self.community.as_deref(),
            AppBuffer::SnmpUsm => self.usm.as_deref(),
            _ => None,
        }
    }

    /// Suricata's EVE `snmp` object: `version`, `pdu_type` (its name), `community`, `usm`.
    pub fn eve(&self) -> Value {
        let mut m = Map::new();
        m.insert("version".into(), self.version.into());
        if let Some(t) = self.pdu_type {
            m.insert("pdu_type".into(), pdu_name(t).into());
        }
        if self.encrypted {
            m.insert("encrypted".into(), true.into());
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if let Some(c) = &self.community {
            m.insert("community".into(), text(c).into());
        }
        if let Some(u) = &self.usm {
            m.insert("usm".into(), text(u).into());
        }
        json!(m)
    }
}

/// Suricata's EVE names of PDU types.
fn pdu_name(t: u32) -> String {
    match t {
        0 => "get_request".into(),
        1 => "get_next_request".into(),
        2 => "response".into(),
        3 => "set_request".into(),
        4 => "trap_v1".into(),
        5 => "get_bulk_request".into(),
        6 => "inform_request".into(),
        7 => "trap_v2".into(),
        8 => "report".into(),
        n => format!("unknown_{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::der::*;

    #[test]
    fn v1_and_v2c_community_version_pdu() {
        let m = parse(&snmp_v12(0, b"public", 0)).unwrap();
        assert_eq!(m.version, 1);
        assert_eq!(m.pdu_type, Some(0));
        assert_eq!(
            m.buffer_n(AppBuffer::SnmpCommunity, 0),
            Some(&b"public"[..])
        );
        assert_eq!(m.buffer_n(AppBuffer::SnmpCommunity, 1), None);
        assert_eq!(m.buffer_n(AppBuffer::SnmpUsm, 0), None);
        let m = parse(&snmp_v12(1, b"s3cret", 2)).unwrap();
        assert_eq!((m.version, m.pdu_type), (2, Some(2)));
        assert_eq!(
            m.buffer_n(AppBuffer::SnmpCommunity, 0),
            Some(&b"s3cret"[..])
        );
        let m = parse(&snmp_v12(1, b"private", 3)).unwrap();
        assert_eq!(m.pdu_type, Some(3));
        assert_eq!(m.eve()["pdu_type"], "set_request");
        assert_eq!(m.eve()["community"], "private");
    }

    #[test]
    fn v3_user_and_encryption() {
        let m = parse(&snmp_v3(b"admin", false, 0)).unwrap();
        assert_eq!((m.version, m.pdu_type, m.encrypted), (3, Some(0), false));
        assert_eq!(m.buffer_n(AppBuffer::SnmpUsm, 0), Some(&b"admin"[..]));
        assert_eq!(m.buffer_n(AppBuffer::SnmpCommunity, 0), None);
        let m = parse(&snmp_v3(b"ops", true, 0)).unwrap();
        assert_eq!((m.version, m.pdu_type, m.encrypted), (3, None, true));
        assert_eq!(m.buffer_n(AppBuffer::SnmpUsm, 0), Some(&b"ops"[..]));
    }

    #[test]
    fn not_snmp() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\x30\x03\x02\x01\x07"), None, "version 8");
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), None);
        // Truncated message.
        let full = snmp_v12(1, b"public", 0);
        assert_eq!(parse(&full[..full.len() - 3]), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse(&data);
        }

        #[test]
        fn mutated_messages_never_panic(at in 0usize..60, byte in proptest::num::u8::ANY) {
            let mut m = snmp_v3(b"admin", false, 0);
            let i = at % m.len();
            m[i] = byte;
            let _ = parse(&m);
        }
    }
}

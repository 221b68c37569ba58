//! SNMP keywords that take a number: `snmp.version` and `snmp.pdu_type` (Suricata 7; the
//! sticky buffers `snmp.community` and `snmp.usm` are in [`super::buffers`]).
//!
//! Both are transaction predicates ([`TxPred`]) on one SNMP message (each message is its own
//! transaction, as in Suricata), in Suricata's unsigned-integer syntax
//! ([`super::uint`]: `3`, `<3`, `!2`, `1-3`):
//!
//! - `snmp.version`: 1 for SNMPv1 (encoded 0 on the wire), 2 for v2c (encoded 1), 3 for v3.
//! - `snmp.pdu_type`: the PDU's tag number — 0 GetRequest, 1 GetNextRequest, 2 Response,
//!   3 SetRequest, 4 Trap (v1), 5 GetBulkRequest, 6 InformRequest, 7 SNMPv2-Trap, 8 Report.
//!   An SNMPv3 message whose scoped PDU is encrypted has no PDU type: no value matches.

use super::txpred::{TxKeyword, TxPred};
use super::uint::parse_uint_value;
use super::KwError;

/// The SNMP predicate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "snmp.version",
        parse: parse_version,
    },
    TxKeyword {
        name: "snmp.pdu_type",
        parse: parse_pdu_type,
    },
];

/// `snmp.version:N` (u32, Suricata's integer syntax).
pub fn parse_version(value: Option<&str>) -> Result<TxPred, KwError> {
    parse_uint_value(value, u64::from(u32::MAX), "snmp.version").map(TxPred::SnmpVersion)
}

/// `snmp.pdu_type:N` (u32, Suricata's integer syntax).
pub fn parse_pdu_type(value: Option<&str>) -> Result<TxPred, KwError> {
    parse_uint_value(value, u64::from(u32::MAX), "snmp.pdu_type").map(TxPred::SnmpPduType)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AppProto;
    use crate::keywords::txpred::tx_option_text;
    use crate::keywords::uint::UintCmp;

    #[test]
    fn values() {
        let p = parse_version(Some("3")).unwrap();
        assert_eq!(p, TxPred::SnmpVersion(UintCmp::Eq(3)));
        assert_eq!(p.app(), AppProto::Snmp);
        assert_eq!(tx_option_text(&p), "snmp.version:3;");
        let p = parse_version(Some("<3")).unwrap();
        assert_eq!(p, TxPred::SnmpVersion(UintCmp::Lt(3)));
        let p = parse_pdu_type(Some(" 0")).unwrap();
        assert_eq!(p, TxPred::SnmpPduType(UintCmp::Eq(0)));
        assert_eq!(tx_option_text(&p), "snmp.pdu_type:0;");
        assert!(!p.to_client_only());
        assert!(parse_version(None).is_err());
        assert!(parse_version(Some("two")).is_err());
        assert!(parse_pdu_type(Some("4294967296")).is_err());
        assert!(parse_pdu_type(Some("")).is_err());
    }
}

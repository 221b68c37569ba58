//! Kerberos 5 keywords that take a number: `krb5_msg_type` and `krb5_err_code` (Suricata 7;
//! the sticky buffers `krb5.cname`/`krb5_cname` and `krb5.sname`/`krb5_sname` are in
//! [`super::buffers`], the `krb5.weak_encryption` and `krb5.malformed_data` events in
//! [`super::app_event`]).
//!
//! Both are transaction predicates ([`TxPred`]) on one Kerberos message (each message the
//! parser decodes is its own transaction: AS-REQ, AS-REP, TGS-REQ, TGS-REP, AP-REQ and
//! KRB-ERROR), in Suricata's unsigned-integer syntax ([`super::uint`]):
//!
//! - `krb5_msg_type`: the message's `msg-type` (RFC 4120 section 7.5.7: 10 AS-REQ, 11 AS-REP,
//!   12 TGS-REQ, 13 TGS-REP, 14 AP-REQ, 30 KRB-ERROR).
//! - `krb5_err_code`: the `error-code` of a KRB-ERROR (RFC 4120 section 7.5.9, e.g. 6
//!   KDC_ERR_C_PRINCIPAL_UNKNOWN, 24 KDC_ERR_PREAUTH_FAILED, 25 KDC_ERR_PREAUTH_REQUIRED);
//!   other messages carry none and never match.

use super::txpred::{TxKeyword, TxPred};
use super::uint::parse_uint_value;
use super::KwError;

/// The Kerberos predicate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "krb5_msg_type",
        parse: parse_msg_type,
    },
    TxKeyword {
        name: "krb5_err_code",
        parse: parse_err_code,
    },
];

/// `krb5_msg_type:N` (u32).
pub fn parse_msg_type(value: Option<&str>) -> Result<TxPred, KwError> {
    parse_uint_value(value, u64::from(u32::MAX), "krb5_msg_type").map(TxPred::Krb5MsgType)
}

/// `krb5_err_code:N` (Suricata reads an i32; codes are small non-negative numbers).
pub fn parse_err_code(value: Option<&str>) -> Result<TxPred, KwError> {
    parse_uint_value(value, i32::MAX as u64, "krb5_err_code").map(TxPred::Krb5ErrCode)
}

/// Whether an encryption type (RFC 3961 etype number) is weak, as Suricata's
/// `test_weak_encryption`: everything but the AES (RFC 3962, RFC 8009) and Camellia
/// (RFC 6803) types is weak or deprecated.
pub fn weak_etype(etype: i32) -> bool {
    !matches!(etype, 17 | 18 | 19 | 20 | 25 | 26)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AppProto;
    use crate::keywords::txpred::tx_option_text;
    use crate::keywords::uint::UintCmp;

    #[test]
    fn values() {
        let p = parse_msg_type(Some("10")).unwrap();
        assert_eq!(p, TxPred::Krb5MsgType(UintCmp::Eq(10)));
        assert_eq!(p.app(), AppProto::Krb5);
        assert_eq!(tx_option_text(&p), "krb5_msg_type:10;");
        let p = parse_err_code(Some("25")).unwrap();
        assert_eq!(p, TxPred::Krb5ErrCode(UintCmp::Eq(25)));
        assert_eq!(tx_option_text(&p), "krb5_err_code:25;");
        assert!(parse_msg_type(None).is_err());
        assert!(parse_msg_type(Some("as-req")).is_err());
        assert!(parse_err_code(Some("2147483648")).is_err());
    }

    #[test]
    fn weak_etypes() {
        for strong in [17, 18, 19, 20, 25, 26] {
            assert!(!weak_etype(strong), "{strong}");
        }
        // des-cbc-crc, des-cbc-md5, des3-cbc-sha1-kd, rc4-hmac, rc4-hmac-exp, rc4-md4.
        for weak in [1, 3, 16, 23, 24, -128] {
            assert!(weak_etype(weak), "{weak}");
        }
    }
}

//! SNMP and Kerberos predicates on one message: `snmp.version`, `snmp.pdu_type` (none on
//! an encrypted SNMPv3 PDU), `krb5_msg_type` and `krb5_err_code` (a KRB-ERROR's only).

use super::TxView;
use verdict_compiler::ir::TxPred;

/// Whether an SNMP or Kerberos predicate holds on `view` (other predicates never do here).
pub fn holds(p: &TxPred, view: TxView<'_>) -> bool {
    match (p, view) {
        (TxPred::SnmpVersion(c), TxView::Snmp { msg }) => c.matches(u64::from(msg.version)),
        (TxPred::SnmpPduType(c), TxView::Snmp { msg }) => {
            msg.pdu_type.is_some_and(|t| c.matches(u64::from(t)))
        }
        (TxPred::Krb5MsgType(c), TxView::Krb5 { msg }) => c.matches(u64::from(msg.msg_type)),
        (TxPred::Krb5ErrCode(c), TxView::Krb5 { msg }) => msg
            .error_code
            .and_then(|e| u64::try_from(e).ok())
            .is_some_and(|e| c.matches(e)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::krb5::Krb5Msg;
    use crate::app::snmp::SnmpMsg;
    use crate::detect::pred::pred;

    fn snmp(version: u32, pdu_type: Option<u32>) -> SnmpMsg {
        SnmpMsg {
            version,
            pdu_type,
            community: None,
            usm: None,
            encrypted: pdu_type.is_none(),
        }
    }

    #[test]
    fn snmp_fields() {
        let v2 = snmp(2, Some(0));
        let view = TxView::Snmp { msg: &v2 };
        assert!(holds(&pred("snmp.version", Some("2")), view));
        assert!(!holds(&pred("snmp.version", Some("3")), view));
        assert!(holds(&pred("snmp.version", Some("<3")), view));
        assert!(holds(&pred("snmp.pdu_type", Some("0")), view));
        assert!(!holds(&pred("snmp.pdu_type", Some("3")), view));
        let enc = snmp(3, None);
        let view = TxView::Snmp { msg: &enc };
        assert!(!holds(&pred("snmp.pdu_type", Some("0")), view));
        assert!(!holds(&pred("snmp.pdu_type", Some("!0")), view));
        // Another protocol's predicate, or these on another protocol's view.
        assert!(!holds(&pred("krb5_msg_type", Some("10")), view));
        assert!(!holds(&pred("snmp.version", Some("2")), TxView::None));
    }

    #[test]
    fn krb5_fields() {
        let req = Krb5Msg {
            msg_type: 10,
            ..Krb5Msg::default()
        };
        let view = TxView::Krb5 { msg: &req };
        assert!(holds(&pred("krb5_msg_type", Some("10")), view));
        assert!(!holds(&pred("krb5_msg_type", Some("30")), view));
        assert!(
            !holds(&pred("krb5_err_code", Some("0")), view),
            "no error code"
        );
        let err = Krb5Msg {
            msg_type: 30,
            error_code: Some(24),
            ..Krb5Msg::default()
        };
        let view = TxView::Krb5 { msg: &err };
        assert!(holds(&pred("krb5_msg_type", Some("30")), view));
        assert!(holds(&pred("krb5_err_code", Some("24")), view));
        assert!(!holds(&pred("krb5_err_code", Some("25")), view));
        let odd = Krb5Msg {
            msg_type: 30,
            error_code: Some(-1),
            ..Krb5Msg::default()
        };
        assert!(!holds(
            &pred("krb5_err_code", Some("!1")),
            TxView::Krb5 { msg: &odd }
        ));
    }
}

//! DCE/RPC predicates: `dce_iface` and `dce_opnum` on one request.

use crate::app::dcerpc::DceTx;
use verdict_compiler::ir::TxPred;

/// Whether a DCE/RPC predicate holds on request `tx` (other predicates never do here).
pub fn holds(p: &TxPred, tx: &DceTx) -> bool {
    match p {
        TxPred::DceIface(i) => tx
            .iface()
            .is_some_and(|(uuid, major)| i.matches(&uuid, major, tx.first_frag())),
        TxPred::DceOpnum(r) => r.contains(tx.opnum()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::dcerpc::pdu::Enc;
    use crate::app::dcerpc::{parse_cl_request, DceConn};
    use crate::detect::pred::pred;

    const SRVSVC: &str = "4b324fc8-1670-01d3-1278-5a47bf6ee188";

    #[test]
    fn iface_version_fragment_and_opnum() {
        let e = Enc { big: false };
        let mut c = DceConn::new();
        c.feed(true, &e.bind(1, &[(0, SRVSVC, 3)]));
        c.feed(false, &e.bind_ack(1, &[true]));
        let ids = c.feed(true, &e.request(2, 0x03, 0, 15, b"x"));
        let tx = c.tx(ids[0]).unwrap();
        let yes = |kw: &str, v: &str| holds(&pred(kw, Some(v)), tx);
        assert!(yes("dce_iface", SRVSVC));
        assert!(yes("dcerpc.iface", &format!("{SRVSVC},=3")));
        assert!(yes("dce_iface", &format!("{SRVSVC},>2")));
        assert!(!yes("dce_iface", &format!("{SRVSVC},<3")));
        assert!(!yes("dce_iface", &format!("{SRVSVC},!3")));
        assert!(!yes("dce_iface", "338cd001-2244-31f1-aaaa-900038001003"));
        assert!(yes("dce_opnum", "0-3,15"));
        assert!(yes("dcerpc.opnum", "15"));
        assert!(!yes("dce_opnum", "16-20"));
        // A connectionless fragment past the first needs any_frag.
        let later = parse_cl_request(&e.cl_request(SRVSVC, 1, 4, 1, true, b"x")).unwrap();
        assert!(!holds(&pred("dce_iface", Some(SRVSVC)), &later));
        let any = format!("{SRVSVC},any_frag");
        assert!(holds(&pred("dce_iface", Some(&any)), &later));
        assert!(holds(&pred("dce_opnum", Some("4")), &later));
    }
}

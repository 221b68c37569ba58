//! SSH, FTP and SIP predicates: `ssh.protoversion`/`ssh.softwareversion` on the banner of
//! the packet's side; `ftpbounce`, `ftp.dynamic_port`, `ftp.mode` and `ftp.reply_received`
//! on one FTP transaction (the last two never on the greeting's, which has no command);
//! `sip_method` and `sip_stat_code` on one SIP message.

use super::TxView;
use verdict_compiler::ir::TxPred;
use verdict_compiler::keywords::sip;

/// Whether an SSH, FTP or SIP predicate holds on `view` (other predicates never do here).
pub fn holds(p: &TxPred, view: TxView<'_>) -> bool {
    match (p, view) {
        (TxPred::SshProtoVersion(v), TxView::Ssh { conn, to_server }) => {
            conn.proto(to_server).is_some_and(|b| v.matches(b))
        }
        (TxPred::SshSoftwareVersion(v), TxView::Ssh { conn, to_server }) => {
            conn.software(to_server) == Some(v.as_bytes())
        }
        (TxPred::FtpBounce, TxView::Ftp { tx, client_v4 }) => tx.bounces(client_v4),
        (TxPred::FtpDynamicPort(c), TxView::Ftp { tx, .. }) => tx
            .dynamic_port()
            .is_some_and(|port| c.matches(u64::from(port))),
        (TxPred::FtpMode { active }, TxView::Ftp { tx, .. }) => {
            !tx.command().is_empty() && tx.active() == Some(*active)
        }
        (TxPred::FtpReplyReceived(r), TxView::Ftp { tx, .. }) => {
            !tx.command().is_empty() && tx.reply_complete() == *r
        }
        (TxPred::SipMethod { methods, negated }, TxView::Sip { msg }) => {
            sip::method_matches(methods, *negated, msg.method())
        }
        (TxPred::SipStatCode(codes), TxView::Sip { msg }) => {
            sip::stat_code_matches(codes, msg.status())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ftp::FtpConn;
    use crate::app::ssh::SshConn;
    use crate::detect::pred::pred;

    #[test]
    fn ssh_versions_read_the_packet_side() {
        let mut c = SshConn::new();
        c.feed(true, b"SSH-2.0-libssh_0.10.6\r\n");
        c.feed(false, b"SSH-1.99-OpenSSH_3.9\r\n");
        let v = |to_server| TxView::Ssh {
            conn: &c,
            to_server,
        };
        let compat = pred("ssh.protoversion", Some("2_compat"));
        assert!(holds(&compat, v(true)) && holds(&compat, v(false)));
        let exact = pred("ssh.protoversion", Some("2.0"));
        assert!(holds(&exact, v(true)) && !holds(&exact, v(false)));
        let sw = pred("ssh.softwareversion", Some("OpenSSH_3.9"));
        assert!(!holds(&sw, v(true)) && holds(&sw, v(false)));
        assert!(!holds(&pred("ftpbounce", None), v(true)));
    }

    #[test]
    fn ftp_bounce_and_port() {
        let mut c = FtpConn::new();
        let ids = c.feed(true, b"PORT 203,0,113,9,4,1\r\n");
        let tx = c.tx(ids[0]).unwrap();
        let v = |client_v4| TxView::Ftp { tx, client_v4 };
        let bounce = pred("ftpbounce", None);
        assert!(holds(&bounce, v(Some([192, 0, 2, 2]))));
        assert!(!holds(&bounce, v(Some([203, 0, 113, 9]))));
        assert!(!holds(&bounce, v(None)));
        assert!(holds(&pred("ftp.dynamic_port", Some("1025")), v(None)));
        assert!(!holds(&pred("ftp.dynamic_port", Some(">2000")), v(None)));
        assert!(holds(&pred("ftp.mode", Some("active")), v(None)));
        assert!(!holds(&pred("ftp.mode", Some("passive")), v(None)));
        assert!(holds(&pred("ftp.reply_received", Some("no")), v(None)));
        c.feed(false, b"200 ok\r\n");
        let done = TxView::Ftp {
            tx: c.tx(ids[0]).unwrap(),
            client_v4: None,
        };
        assert!(holds(&pred("ftp.reply_received", Some("yes")), done));
        // The greeting's transaction has no command: neither keyword holds there.
        let mut g = FtpConn::new();
        let ids = g.feed(false, b"220 hi\r\n");
        let greet = TxView::Ftp {
            tx: g.tx(ids[0]).unwrap(),
            client_v4: None,
        };
        assert!(!holds(&pred("ftp.reply_received", Some("yes")), greet));
    }

    #[test]
    fn sip_method_and_status_on_one_message() {
        use crate::app::sip::parse;
        let req = parse(b"INVITE sip:bob@example.com SIP/2.0\r\n\r\n", true).unwrap();
        let resp = parse(b"SIP/2.0 486 Busy Here\r\n\r\n", false).unwrap();
        let (r, s) = (TxView::Sip { msg: &req }, TxView::Sip { msg: &resp });
        let invite = pred("sip_method", Some("invite"));
        let not_bye = pred("sip_method", Some("!bye"));
        let class4 = pred("sip_stat_code", Some("4"));
        let ok = pred("sip_stat_code", Some("200"));
        assert!(holds(&invite, r) && holds(&not_bye, r));
        assert!(!holds(&invite, s) && !holds(&not_bye, s));
        assert!(holds(&class4, s) && !holds(&ok, s) && !holds(&class4, r));
    }
}

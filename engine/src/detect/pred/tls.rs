//! `tls.version`, `ssl_version`, `ssl_state` and the server-certificate predicates on a
//! TLS session. Versions are the packet's side's (client toward the server, server toward
//! the client); certificate tests read the chain the server sent.

use crate::app::tls::{SslVersion, TlsConn};
use verdict_compiler::ir::TxPred;
use verdict_compiler::keywords::tls_cert::{expired, valid, CertField};

/// Whether a TLS predicate holds on `conn` for a packet going `to_server` at `now` (unix
/// seconds); DNS predicates never do.
pub fn holds(p: &TxPred, conn: &TlsConn, to_server: bool, now: i64) -> bool {
    match *p {
        TxPred::TlsVersion(v) => conn.version(to_server).is_some_and(|seen| v.matches(seen)),
        TxPred::SslVersion(v) => v.matches(conn.ssl_version(to_server).map_or(0, SslVersion::bit)),
        TxPred::SslState(s) => s.matches(conn.ssl_state_current().bits()),
        TxPred::CertDate(field, c) => {
            let t = match field {
                CertField::NotBefore => conn.cert_not_before(),
                CertField::NotAfter => conn.cert_not_after(),
            };
            c.matches(t.unwrap_or(0))
        }
        TxPred::CertExpired => expired(conn.cert_not_after().unwrap_or(0), now),
        TxPred::CertValid => valid(conn.cert_not_after().unwrap_or(0), now),
        TxPred::CertChainLen(c) => {
            conn.certs(false).is_some() && c.matches(conn.cert_chain_len() as u64)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tls::tests::{conn, hs, rand, record, server_hello, tls12};
    use crate::detect::pred::pred;

    #[test]
    fn versions_per_side() {
        let t = tls12();
        let mut c = conn();
        c.feed(true, &t.client);
        assert!(holds(&pred("tls.version", Some("1.2")), &c, true, 0));
        assert!(holds(&pred("ssl_version", Some("tls1.2")), &c, true, 0));
        assert!(!holds(&pred("ssl_version", Some("!tls1.2")), &c, true, 0));
        assert!(!holds(
            &pred("ssl_version", Some("sslv3,tls1.0")),
            &c,
            true,
            0
        ));
        // Nothing from the server yet.
        assert!(!holds(&pred("tls.version", Some("1.2")), &c, false, 0));
        let mut old = conn();
        old.feed(
            false,
            &record(22, &server_hello(0x0301, rand(5), 0xc013, &[])),
        );
        assert!(holds(&pred("tls.version", Some("1.0")), &old, false, 0));
        assert!(holds(
            &pred("ssl_version", Some("sslv3,tls1.0")),
            &old,
            false,
            0
        ));
        assert!(!holds(&pred("dns.opcode", Some("0")), &old, false, 0));
    }

    #[test]
    fn state_is_the_last_handshake_message() {
        let t = tls12();
        let mut c = conn();
        let up = c.feed(true, &t.client);
        assert!(up.state());
        let hello = pred("ssl_state", Some("client_hello"));
        assert!(holds(&hello, &c, true, 0));
        c.feed(false, &t.server);
        assert!(!holds(&hello, &c, false, 0), "server hello came after");
        assert!(holds(
            &pred("ssl_state", Some("!client_hello")),
            &c,
            false,
            0
        ));
        let up = c.feed(true, &record(22, &hs(16, &[0; 33])));
        assert!(up.state() && !up.client_hello());
        assert!(holds(
            &pred("ssl_state", Some("client_keyx|server_keyx")),
            &c,
            true,
            0
        ));
    }

    #[test]
    fn certificate_dates_and_chain() {
        let t = tls12();
        let mut c = conn();
        c.feed(true, &t.client);
        let after = pred("tls_cert_notafter", Some(">2017"));
        assert!(!holds(&after, &c, false, 0), "no certificate yet");
        c.feed(false, &t.server);
        // Leaf: notBefore 2016-11-07, notAfter 2017-02-05.
        assert!(holds(&after, &c, false, 0));
        assert!(holds(
            &pred("tls_cert_notbefore", Some("<2016-12")),
            &c,
            false,
            0
        ));
        assert!(!holds(
            &pred("tls_cert_notbefore", Some(">2016-12")),
            &c,
            false,
            0
        ));
        assert!(holds(
            &pred("tls_cert_notafter", Some("2017-02-01<>2017-03-01")),
            &c,
            false,
            0
        ));
        let (jan_2017, mar_2017) = (1_483_228_800, 1_488_326_400);
        let (exp, val) = (pred("tls_cert_expired", None), pred("tls_cert_valid", None));
        assert!(holds(&exp, &c, false, mar_2017) && !holds(&val, &c, false, mar_2017));
        assert!(!holds(&exp, &c, false, jan_2017) && holds(&val, &c, false, jan_2017));
        assert!(holds(&pred("tls.cert_chain_len", Some("2")), &c, false, 0));
        assert!(!holds(
            &pred("tls.cert_chain_len", Some(">2")),
            &c,
            false,
            0
        ));
    }
}

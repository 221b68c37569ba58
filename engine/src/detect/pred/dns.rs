//! `dns.opcode`, `dns.rcode`, `dns.rrtype` on one DNS message: the message of the packet's
//! direction is the one Suricata reads (the request to the server, the response back).

use crate::app::dns::DnsMessage;
use verdict_compiler::ir::TxPred;
use verdict_compiler::keywords::dns::{opcode_matches, rcode_matches, rrtype_matches};

/// Whether a DNS predicate holds on `msg` (TLS predicates never do).
pub fn holds(p: &TxPred, msg: &DnsMessage) -> bool {
    match *p {
        TxPred::DnsOpcode(c) => opcode_matches(c, msg.flags),
        TxPred::DnsRcode(c) => rcode_matches(c, msg.flags),
        TxPred::DnsRrtype(c) => rrtype_matches(c, msg.rrtypes()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::dns;
    use verdict_compiler::keywords::txpred::lookup;

    fn pred(kw: &str, v: &str) -> TxPred {
        (lookup(kw).unwrap().parse)(Some(v)).unwrap()
    }

    /// A query for www.example.com of `qtype`, with opcode and rcode in the flags.
    fn query(opcode: u16, rcode: u16, qtype: u8) -> Vec<u8> {
        let flags = (opcode << 11) | 0x0100 | rcode;
        let mut m = vec![0x12, 0x34];
        m.extend(flags.to_be_bytes());
        m.extend([0, 1, 0, 0, 0, 0, 0, 0]);
        m.extend(b"\x03www\x07example\x03com\x00");
        m.extend([0, qtype, 0, 1]);
        m
    }

    #[test]
    fn header_and_types() {
        let q = dns::parse(&query(0, 0, 28)).unwrap();
        assert!(holds(&pred("dns.opcode", "0"), &q));
        assert!(!holds(&pred("dns.opcode", "!0"), &q));
        assert!(holds(&pred("dns.rrtype", "AAAA"), &q));
        assert!(!holds(&pred("dns.rrtype", "A"), &q));
        assert!(holds(&pred("dns.rcode", "NOERROR"), &q));
        let notify = dns::parse(&query(4, 3, 6)).unwrap();
        assert!(holds(&pred("dns.opcode", "4"), &notify));
        assert!(holds(&pred("dns.opcode", "3-5"), &notify));
        assert!(holds(&pred("dns.rcode", "nxdomain"), &notify));
        assert!(holds(&pred("dns.rrtype", "SOA"), &notify));
        assert!(!holds(&pred("tls.version", "1.2"), &notify));
    }
}

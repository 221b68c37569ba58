//! DNS header and record-type keywords (Suricata 8): `dns.opcode`, `dns.rcode`, `dns.rrtype`.
//!
//! Each is a transaction predicate ([`TxPred`]) on the DNS message of the packet's
//! direction — the request to the server, the response to the client — as Suricata's
//! `rs_dns_opcode_match` reads the header of `flags`' side:
//!
//! | keyword | width | compares | names |
//! |---|---|---|---|
//! | `dns.opcode` | u8 | the 4-bit OPCODE of the header flags | — |
//! | `dns.rcode` | u8 | the 4-bit RCODE of the header flags (no EDNS extension) | `NXDOMAIN`, … |
//! | `dns.rrtype` | u16 | each question type of a request, each answer type of a response; one match is enough | `AAAA`, … |
//!
//! Values use Suricata's integer syntax ([`super::uint`]): `!`, `<`, `>`, strict ranges.

use super::txpred::{TxKeyword, TxPred};
use super::uint::{parse_uint, UintCmp};
use super::KwError;
use crate::dns_names::{rcode_from_name, rrtype_from_name};

/// The DNS predicate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "dns.opcode",
        parse: parse_opcode,
    },
    TxKeyword {
        name: "dns.rcode",
        parse: parse_rcode,
    },
    TxKeyword {
        name: "dns.rrtype",
        parse: parse_rrtype,
    },
];

fn need(value: Option<&str>, kw: &str) -> Result<String, KwError> {
    value
        .map(str::to_string)
        .ok_or_else(|| KwError::value(format!("{kw} needs a value")))
}

/// `dns.opcode:[!]N`, ranges and comparisons (u8).
pub fn parse_opcode(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = need(value, "dns.opcode")?;
    parse_uint(&v, u64::from(u8::MAX), "dns.opcode", None).map(TxPred::DnsOpcode)
}

/// `dns.rcode:[!]N|NAME` (u8; names from the IANA table, case-insensitive).
pub fn parse_rcode(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = need(value, "dns.rcode")?;
    parse_uint(&v, u64::from(u8::MAX), "dns.rcode", Some(rcode_value)).map(TxPred::DnsRcode)
}

/// `dns.rrtype:[!]N|NAME` (u16; `A`, `AAAA`, `TYPE65534`, …).
pub fn parse_rrtype(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = need(value, "dns.rrtype")?;
    parse_uint(&v, u64::from(u16::MAX), "dns.rrtype", Some(rrtype_value)).map(TxPred::DnsRrtype)
}

// Only mnemonics here: plain numbers are parsed first, so "28" is never a name lookup.
fn rcode_value(s: &str) -> Option<u64> {
    rcode_from_name(s).map(u64::from)
}

fn rrtype_value(s: &str) -> Option<u64> {
    rrtype_from_name(s).map(u64::from)
}

/// Whether a DNS message's header flags word satisfies an opcode comparison.
pub fn opcode_matches(cmp: UintCmp, flags: u16) -> bool {
    cmp.matches(u64::from((flags >> 11) & 0xf))
}

/// Whether a DNS message's header flags word satisfies an rcode comparison.
pub fn rcode_matches(cmp: UintCmp, flags: u16) -> bool {
    cmp.matches(u64::from(flags & 0xf))
}

/// Whether any of a message's record types satisfies an rrtype comparison (none: no match).
pub fn rrtype_matches(cmp: UintCmp, types: impl IntoIterator<Item = u16>) -> bool {
    types.into_iter().any(|t| cmp.matches(u64::from(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_text;

    #[test]
    fn parse_table() {
        let ok = [
            ("dns.opcode", "4", TxPred::DnsOpcode(UintCmp::Eq(4))),
            ("dns.opcode", "!0", TxPred::DnsOpcode(UintCmp::Ne(0))),
            (
                "dns.opcode",
                "7-15",
                TxPred::DnsOpcode(UintCmp::Range(7, 15)),
            ),
            (
                "dns.opcode",
                "!7-15",
                TxPred::DnsOpcode(UintCmp::NotRange(7, 15)),
            ),
            ("dns.rcode", "3", TxPred::DnsRcode(UintCmp::Eq(3))),
            ("dns.rcode", "nxdomain", TxPred::DnsRcode(UintCmp::Eq(3))),
            ("dns.rcode", "!NOERROR", TxPred::DnsRcode(UintCmp::Ne(0))),
            ("dns.rrtype", "AAAA", TxPred::DnsRrtype(UintCmp::Eq(28))),
            ("dns.rrtype", ">255", TxPred::DnsRrtype(UintCmp::Gt(255))),
        ];
        for (kw, v, want) in ok {
            let k = KEYWORDS.iter().find(|k| k.name == kw).unwrap();
            let got = (k.parse)(Some(v)).unwrap();
            assert_eq!(got, want, "{kw}:{v}");
            let (k2, v2) = tx_text(&got);
            assert_eq!(k2, kw);
            assert_eq!((k.parse)(Some(&v2)).unwrap(), got, "round trip {v2}");
        }
        for (kw, bad) in [
            ("dns.opcode", "256"),
            ("dns.opcode", "query"),
            ("dns.rcode", "NXDOMAINX"),
            ("dns.rrtype", "70000"),
            ("dns.rrtype", "!"),
        ] {
            let k = KEYWORDS.iter().find(|k| k.name == kw).unwrap();
            assert!((k.parse)(Some(bad)).is_err(), "{kw}:{bad}");
        }
        assert!(parse_opcode(None).is_err());
    }

    #[test]
    fn header_fields() {
        // An UPDATE (opcode 5) response with REFUSED (5) and the RD bit.
        let flags = 0x8000 | (5 << 11) | 0x0100 | 5;
        assert!(opcode_matches(UintCmp::Eq(5), flags));
        assert!(!opcode_matches(UintCmp::Eq(0), flags));
        assert!(rcode_matches(UintCmp::Eq(5), flags));
        assert!(rcode_matches(UintCmp::Range(4, 6), flags));
        assert!(!rcode_matches(UintCmp::Ne(5), flags));
        assert!(rrtype_matches(UintCmp::Eq(28), [1, 28]));
        assert!(!rrtype_matches(UintCmp::Eq(28), [1, 5]));
        assert!(!rrtype_matches(UintCmp::Ne(1), []));
    }
}

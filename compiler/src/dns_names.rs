//! DNS mnemonics of record types and response codes, both ways: the engine's EVE prints
//! them and a rule's `dns.rrtype:AAAA` / `dns.rcode:NXDOMAIN` argument is looked up in the
//! same tables (which is why they live in the compiler, the crate both sides share).

use std::borrow::Cow;

/// IANA record types (the ones Suricata names, plus the current service-binding and
/// CAA types), in type order.
const RRTYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAPPTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
];

/// Response codes (0-15 fit the header; 16-22 need the EDNS extended rcode).
const RCODES: &[(u16, &str)] = &[
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (16, "BADVERS"),
    (17, "BADKEY"),
    (18, "BADTIME"),
    (19, "BADMODE"),
    (20, "BADNAME"),
    (21, "BADALG"),
    (22, "BADTRUNC"),
];

fn by_value(table: &'static [(u16, &'static str)], v: u16) -> Option<&'static str> {
    table
        .binary_search_by_key(&v, |&(k, _)| k)
        .ok()
        .and_then(|i| table.get(i))
        .map(|&(_, name)| name)
}

fn by_name(table: &[(u16, &str)], name: &str) -> Option<u16> {
    table
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|&(v, _)| v)
}

/// The mnemonic of a record type ("AAAA"), or RFC 3597's "TYPE65534" for unnamed ones.
pub fn rrtype_name(rrtype: u16) -> Cow<'static, str> {
    match by_value(RRTYPES, rrtype) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("TYPE{rrtype}")),
    }
}

/// The record type for a mnemonic, case-insensitive; also takes "TYPE65534" and a
/// plain number.
pub fn rrtype_from_name(name: &str) -> Option<u16> {
    let name = name.trim();
    if let Some(v) = by_name(RRTYPES, name) {
        return Some(v);
    }
    let digits = match name.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("TYPE") => name.get(4..)?,
        _ => name,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The mnemonic of a response code ("NXDOMAIN"), or the number as text when unnamed
/// (what Suricata's EVE prints).
pub fn rcode_name(rcode: u16) -> Cow<'static, str> {
    match by_value(RCODES, rcode) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(rcode.to_string()),
    }
}

/// The response code for a mnemonic, case-insensitive ("BADSIG" is 16 too), or a
/// plain number.
pub fn rcode_from_name(name: &str) -> Option<u16> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("BADSIG") {
        return Some(16);
    }
    if let Some(v) = by_name(RCODES, name) {
        return Some(v);
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

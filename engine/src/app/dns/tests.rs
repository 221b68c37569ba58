//! Messages built byte by byte, every buffer and its instances, broken messages, TCP
//! framing, EVE output, and the DNS traffic of the shared conformance captures.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use serde_json::json;
use verdict_compiler::ir::AppBuffer as B;

use super::*;

use crate::must_run;

// ---- builders -------------------------------------------------------------------------

/// `"www.example.com"` in wire form; `""` is the root.
fn wname(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in s.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).unwrap());
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn ptr(offset: u16) -> Vec<u8> {
    (0xc000 | offset).to_be_bytes().to_vec()
}

fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

fn question(name: &[u8], rrtype: u16, rrclass: u16) -> Vec<u8> {
    let mut q = name.to_vec();
    q.extend_from_slice(&rrtype.to_be_bytes());
    q.extend_from_slice(&rrclass.to_be_bytes());
    q
}

fn rr(owner: &[u8], rrtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&rrtype.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn query(id: u16, name: &str, rrtype: u16) -> Vec<u8> {
    cat(&[
        &header(id, 0x0100, [1, 0, 0, 0]),
        &question(&wname(name), rrtype, 1),
    ])
}

/// Offset of the first question name in every message built here.
const QNAME: u16 = 12;

/// A response for www.example.com exercising compression, every record section and the
/// name-carrying types:
/// - answers: CNAME www.example.com -> cdn.example.net, A cdn.example.net, AAAA, MX, TXT;
/// - authorities: NS example.com -> ns1.example.com, SOA;
/// - additionals: A ns1.example.com, OPT (root owner).
fn big_response() -> Vec<u8> {
    let mut m = header(0xbeef, 0x8180, [1, 5, 2, 2]);
    m.extend(question(&wname("www.example.com"), 1, 1));
    // "example.com" starts 4 bytes into the question name.
    let example_com = QNAME + 4;
    let cname_rdata_at = u16::try_from(m.len() + 2 + 10).unwrap();
    m.extend(rr(&ptr(QNAME), 5, 300, b"\x03cdn\x07example\x03net\x00"));
    let cdn = ptr(cname_rdata_at);
    m.extend(rr(&cdn, 1, 60, &[192, 0, 2, 1]));
    m.extend(rr(
        &cdn,
        28,
        60,
        &Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets(),
    ));
    let mut mx = 10u16.to_be_bytes().to_vec();
    mx.extend(b"\x04mail".iter().chain(&ptr(example_com)));
    m.extend(rr(&ptr(example_com), 15, 3600, &mx));
    m.extend(rr(&ptr(example_com), 16, 3600, b"\x05hello\x00\x03v=1"));
    // Authority.
    let ns_rdata_at = u16::try_from(m.len() + 2 + 10).unwrap();
    let mut ns = b"\x03ns1".to_vec();
    ns.extend(ptr(example_com));
    m.extend(rr(&ptr(example_com), 2, 86400, &ns));
    let mut soa = ptr(ns_rdata_at);
    soa.extend(b"\x0ahostmaster".iter().chain(&ptr(example_com)));
    for v in [2024010101u32, 7200, 3600, 1209600, 300] {
        soa.extend(v.to_be_bytes());
    }
    m.extend(rr(&ptr(example_com), 6, 3600, &soa));
    // Additional.
    m.extend(rr(&ptr(ns_rdata_at), 1, 86400, &[192, 0, 2, 53]));
    let mut opt = vec![0u8];
    opt.extend(41u16.to_be_bytes());
    opt.extend(1232u16.to_be_bytes());
    opt.extend([0, 0, 0, 0, 0, 0]);
    m.extend(opt);
    m
}

fn instances(m: &DnsMessage, b: B) -> Vec<String> {
    m.buffers(b)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

// ---- parsing -------------------------------------------------------------------------

#[test]
fn query_header_and_question() {
    let m = parse(&query(0x1234, "www.example.com", 28)).unwrap();
    assert_eq!(m.id, 0x1234);
    assert_eq!(m.flags, 0x0100);
    assert!(!m.is_response());
    assert!(m.rd() && !m.ra() && !m.aa() && !m.tc() && !m.z() && !m.ad() && !m.cd());
    assert_eq!((m.opcode(), m.rcode()), (0, 0));
    assert_eq!(
        m.questions,
        [Question {
            name: b"www.example.com".to_vec(),
            rrtype: 28,
            rrclass: 1
        }]
    );
    assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
    assert_eq!(m.malformed, None);
}

#[test]
fn header_bits_map_to_accessors() {
    // QR, opcode 5 (update), AA, TC, RD, RA, Z, AD, CD, rcode 3.
    let flags =
        0x8000 | (5 << 11) | 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0040 | 0x0020 | 0x0010 | 3;
    let m = parse(&cat(&[
        &header(1, flags, [1, 0, 0, 0]),
        &question(&wname("a"), 6, 1),
    ]))
    .unwrap();
    assert!(m.is_response() && m.aa() && m.tc() && m.rd() && m.ra() && m.z() && m.ad() && m.cd());
    assert_eq!((m.opcode(), m.rcode()), (5, 3));
}

#[test]
fn response_sections_records_and_rdata() {
    let m = parse(&big_response()).unwrap();
    assert_eq!(m.malformed, None);
    assert!(m.is_response());
    assert_eq!(m.answers.len(), 5);
    let a = &m.answers;
    assert_eq!(a[0].name, b"www.example.com");
    assert_eq!(a[0].data, RData::Cname(b"cdn.example.net".to_vec()));
    assert_eq!((a[0].rrtype, a[0].rrclass, a[0].ttl), (5, 1, 300));
    assert_eq!(a[1].name, b"cdn.example.net");
    assert_eq!(a[1].data, RData::A(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(a[2].data, RData::Aaaa("2001:db8::1".parse().unwrap()));
    assert_eq!(
        a[3].data,
        RData::Mx {
            preference: 10,
            exchange: b"mail.example.com".to_vec()
        }
    );
    assert_eq!(
        a[4].data,
        RData::Txt(vec![b"hello".to_vec(), vec![], b"v=1".to_vec()])
    );
    assert_eq!(
        m.authorities[0].data,
        RData::Ns(b"ns1.example.com".to_vec())
    );
    assert_eq!(
        m.authorities[1].data,
        RData::Soa(Soa {
            mname: b"ns1.example.com".to_vec(),
            rname: b"hostmaster.example.com".to_vec(),
            serial: 2024010101,
            refresh: 7200,
            retry: 3600,
            expire: 1209600,
            minimum: 300,
        })
    );
    assert_eq!(m.additionals[0].name, b"ns1.example.com");
    let opt = &m.additionals[1];
    assert_eq!(
        (opt.name.as_slice(), opt.rrtype, opt.rrclass),
        (&b""[..], 41, 1232)
    );
    assert_eq!(opt.data, RData::Other(vec![]));

    let names: Vec<Option<&[u8]>> = a.iter().map(Record::rdata_name).collect();
    assert_eq!(
        names,
        [
            Some(&b"cdn.example.net"[..]),
            None,
            None,
            Some(&b"mail.example.com"[..]),
            None
        ]
    );
    assert_eq!(m.authorities[1].rdata_name(), Some(&b"ns1.example.com"[..]));
}

#[test]
fn srv_dname_ptr_rdata_names() {
    let mut srv = [1u16, 2, 5060]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect::<Vec<u8>>();
    srv.extend(wname("sip.example.com"));
    let m = parse(&cat(&[
        &header(7, 0x8180, [1, 3, 0, 0]),
        &question(&wname("_sip._udp.example.com"), 33, 1),
        &rr(&ptr(QNAME), 33, 5, &srv),
        &rr(&wname("old.example"), 39, 5, &wname("new.example")),
        &rr(
            &wname("1.2.0.192.in-addr.arpa"),
            12,
            5,
            &wname("host.example"),
        ),
    ]))
    .unwrap();
    assert_eq!(
        m.answers[0].data,
        RData::Srv {
            priority: 1,
            weight: 2,
            port: 5060,
            target: b"sip.example.com".to_vec()
        }
    );
    let names: Vec<_> = m
        .answers
        .iter()
        .map(|r| r.rdata_name().unwrap().to_vec())
        .collect();
    assert_eq!(
        names,
        [&b"sip.example.com"[..], b"new.example", b"host.example"]
    );
    // dns.response.rrname takes the PTR target but not the SRV or DNAME ones (Suricata).
    assert_eq!(
        instances(&m, B::DnsResponseRrname),
        [
            "_sip._udp.example.com",
            "_sip._udp.example.com",
            "old.example",
            "1.2.0.192.in-addr.arpa",
            "host.example"
        ]
    );
}

#[test]
fn names_keep_case_and_raw_bytes() {
    let raw = cat(&[
        &header(1, 0, [1, 0, 0, 0]),
        b"\x03WwW\x04a.b\x00\x03\xff\x00C\x00",
        &[0, 1, 0, 1],
    ]);
    let m = parse(&raw).unwrap();
    // A dot inside a label and binary bytes stay as they are, as Suricata renders them.
    assert_eq!(m.questions[0].name, b"WwW.a.b\x00.\xff\x00C");
}

#[test]
fn root_name_is_empty_and_not_an_instance() {
    let m = parse(&cat(&[
        &header(1, 0, [2, 0, 0, 0]),
        &question(&wname(""), 2, 1),
        &question(&wname("b"), 1, 1),
    ]))
    .unwrap();
    assert_eq!(m.questions[0].name, b"");
    assert_eq!(instances(&m, B::DnsQuery), ["b"]);
}

#[test]
fn longest_name_parses_and_one_more_byte_fails() {
    // 3 labels of 63 and one of 61: 4 + 63*3 + 61 + 1 = 255 wire bytes.
    let l63 = "x".repeat(63);
    let longest = format!("{l63}.{l63}.{l63}.{}", "y".repeat(61));
    let m = parse(&query(1, &longest, 1)).unwrap();
    assert_eq!(m.questions[0].name.len(), 253);
    let too_long = format!("{l63}.{l63}.{l63}.{}", "y".repeat(62));
    assert_eq!(
        parse(&query(1, &too_long, 1)),
        Err(DnsError::BadQuestion(0))
    );
}

#[test]
fn pointer_loops_and_wild_pointers_are_errors() {
    // A name that is a pointer to itself.
    let self_loop = cat(&[&header(1, 0, [1, 0, 0, 0]), &ptr(QNAME), &[0, 1, 0, 1]]);
    assert_eq!(parse(&self_loop), Err(DnsError::BadQuestion(0)));
    // Two pointers pointing at each other: the second question's name points back to
    // the first, whose name points forward to the second.
    let two_loop = cat(&[
        &header(1, 0, [2, 0, 0, 0]),
        &ptr(QNAME + 6),
        &[0, 1, 0, 1],
        &ptr(QNAME),
        &[0, 1, 0, 1],
    ]);
    assert_eq!(parse(&two_loop), Err(DnsError::BadQuestion(0)));
    // A pointer past the end of the message.
    let past_end = cat(&[&header(1, 0, [1, 0, 0, 0]), &ptr(0x3fff), &[0, 1, 0, 1]]);
    assert_eq!(parse(&past_end), Err(DnsError::BadQuestion(0)));
    // A label running past the end.
    let long_label = cat(&[&header(1, 0, [1, 0, 0, 0]), b"\x3fabc"]);
    assert_eq!(parse(&long_label), Err(DnsError::BadQuestion(0)));
    // The reserved 0b01/0b10 label types.
    let reserved = cat(&[&header(1, 0, [1, 0, 0, 0]), b"\x41\x00", &[0, 1, 0, 1]]);
    assert_eq!(parse(&reserved), Err(DnsError::BadQuestion(0)));
}

#[test]
fn a_long_pointer_chain_cannot_exceed_255_bytes() {
    // Each question is one label + a pointer to the previous question's name; the chain
    // grows by 2 bytes per step until the name would pass 255 bytes.
    let mut m = header(1, 0, [140, 0, 0, 0]);
    m.extend(question(&wname("a"), 1, 1));
    let mut prev = QNAME;
    for _ in 1..140 {
        let at = u16::try_from(m.len()).unwrap();
        let mut n = b"\x01a".to_vec();
        n.extend(ptr(prev));
        m.extend(question(&n, 1, 1));
        prev = at;
    }
    // Name k has k+1 labels "a": 2*(k+1)+1 wire bytes, so question 127 (257 bytes) fails.
    assert_eq!(parse(&m), Err(DnsError::BadQuestion(127)));
    let truncated = {
        let mut t = m.clone();
        t.get_mut(4..6)
            .unwrap()
            .copy_from_slice(&127u16.to_be_bytes());
        t
    };
    let ok = parse(&truncated).unwrap();
    assert!(ok.questions.iter().all(|q| q.name.len() <= 255));
    assert_eq!(ok.questions.last().unwrap().name.len(), 253);
}

#[test]
fn short_header_is_an_error() {
    for n in 0..12 {
        assert_eq!(parse(&vec![0; n]), Err(DnsError::ShortHeader(n)));
    }
}

#[test]
fn every_truncation_keeps_what_parsed() {
    let full = big_response();
    let first_answer = 12 + wname("www.example.com").len() + 4;
    for cut in 0..full.len() {
        let r = parse(&full[..cut]);
        if cut < 12 {
            assert_eq!(r, Err(DnsError::ShortHeader(cut)));
        } else if cut < first_answer {
            assert_eq!(r, Err(DnsError::BadQuestion(0)), "cut {cut}");
        } else {
            let m = r.unwrap();
            assert_eq!(m.questions.len(), 1);
            assert!(m.malformed.is_some(), "cut {cut}");
            assert_eq!(instances(&m, B::DnsQueriesRrname), ["www.example.com"]);
        }
    }
}

#[test]
fn broken_answer_keeps_questions_and_good_answers() {
    let m = parse(&cat(&[
        &header(1, 0x8180, [1, 2, 1, 0]),
        &question(&wname("q.example"), 1, 1),
        &rr(&ptr(QNAME), 1, 1, &[192, 0, 2, 7]),
        // Owner name pointing at itself.
        &ptr(QNAME + 15 + 16),
        &[0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4],
        &rr(&ptr(QNAME), 2, 1, &wname("ns.example")),
    ]))
    .unwrap();
    assert_eq!(m.malformed, Some(Section::Answer));
    assert_eq!(m.answers.len(), 1);
    assert!(m.authorities.is_empty());
    assert_eq!(instances(&m, B::DnsAnswersRrname), ["q.example"]);
}

#[test]
fn broken_additional_keeps_answers_and_authorities() {
    let m = parse(&cat(&[
        &header(1, 0x8180, [1, 1, 1, 1]),
        &question(&wname("q.example"), 1, 1),
        &rr(&ptr(QNAME), 1, 1, &[192, 0, 2, 7]),
        &rr(&ptr(QNAME), 2, 1, &wname("ns.example")),
        // RDLENGTH beyond the end.
        &wname(""),
        &[0, 1, 0, 1, 0, 0, 0, 1, 0, 40, 1, 2],
    ]))
    .unwrap();
    assert_eq!(m.malformed, Some(Section::Additional));
    assert_eq!(
        (m.answers.len(), m.authorities.len(), m.additionals.len()),
        (1, 1, 0)
    );
}

#[test]
fn bad_rdata_is_kept_raw_and_parsing_goes_on() {
    let m = parse(&cat(&[
        &header(1, 0x8180, [1, 3, 0, 0]),
        &question(&wname("q.example"), 1, 1),
        &rr(&ptr(QNAME), 1, 1, &[192, 0, 2]),
        &rr(&ptr(QNAME), 5, 1, &ptr(0x3fff)),
        &rr(&ptr(QNAME), 1, 1, &[192, 0, 2, 9]),
    ]))
    .unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.answers[0].data, RData::Malformed(vec![192, 0, 2]));
    assert_eq!(m.answers[1].data, RData::Malformed(vec![0xff, 0xff]));
    assert_eq!(m.answers[1].rdata_name(), None);
    assert_eq!(m.answers[2].data, RData::A(Ipv4Addr::new(192, 0, 2, 9)));
}

#[test]
fn unknown_types_classes_opcodes_and_trailing_bytes_are_accepted() {
    // Opcode 15, Z set, class 0x1234, an unknown type in question and answer, and junk
    // after the last section.
    let m = parse(&cat(&[
        &header(9, 0x8000 | (15 << 11) | 0x0040, [1, 1, 0, 0]),
        &question(&wname("odd.example"), 65534, 0x1234),
        &rr(&ptr(QNAME), 65534, 7, b"\xde\xad"),
        b"trailing garbage",
    ]))
    .unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.opcode(), 15);
    assert_eq!(
        (m.questions[0].rrtype, m.questions[0].rrclass),
        (65534, 0x1234)
    );
    assert_eq!(m.answers[0].data, RData::Other(vec![0xde, 0xad]));
    assert_eq!(m.rrtypes().collect::<Vec<_>>(), [65534]);
}

// ---- buffers -------------------------------------------------------------------------

#[test]
fn query_buffers_and_instances() {
    let m = parse(&cat(&[
        &header(1, 0x0100, [3, 0, 0, 0]),
        &question(&wname("one.example"), 1, 1),
        &question(&wname("two.example"), 28, 1),
        &question(&ptr(QNAME + 4), 15, 1),
    ]))
    .unwrap();
    assert_eq!(
        instances(&m, B::DnsQuery),
        ["one.example", "two.example", "example"]
    );
    assert_eq!(
        instances(&m, B::DnsQueriesRrname),
        instances(&m, B::DnsQuery)
    );
    assert_eq!(m.buffer_n(B::DnsQuery, 1), Some(&b"two.example"[..]));
    assert_eq!(m.buffer_n(B::DnsQuery, 3), None);
    for b in [
        B::DnsAnswersRrname,
        B::DnsAuthoritiesRrname,
        B::DnsAdditionalsRrname,
        B::DnsResponseRrname,
        B::HttpUri,
        B::TlsSni,
    ] {
        assert_eq!(m.buffer_n(b, 0), None, "{b:?}");
    }
    assert_eq!(m.rrtypes().collect::<Vec<_>>(), [1, 28, 15]);
}

#[test]
fn response_buffers_and_instances() {
    let m = parse(&big_response()).unwrap();
    assert!(
        instances(&m, B::DnsQuery).is_empty(),
        "dns.query is request-only"
    );
    assert_eq!(instances(&m, B::DnsQueriesRrname), ["www.example.com"]);
    assert_eq!(
        instances(&m, B::DnsAnswersRrname),
        [
            "www.example.com",
            "cdn.example.net",
            "cdn.example.net",
            "example.com",
            "example.com"
        ]
    );
    assert_eq!(
        instances(&m, B::DnsAuthoritiesRrname),
        ["example.com", "example.com"]
    );
    // The OPT record's root owner is not an instance.
    assert_eq!(instances(&m, B::DnsAdditionalsRrname), ["ns1.example.com"]);
    assert_eq!(
        instances(&m, B::DnsResponseRrname),
        [
            "www.example.com",
            "www.example.com",
            "cdn.example.net",
            "cdn.example.net",
            "cdn.example.net",
            "example.com",
            "mail.example.com",
            "example.com",
            "example.com",
            "ns1.example.com",
            "example.com",
            "ns1.example.com",
            "ns1.example.com",
        ]
    );
    let n = instances(&m, B::DnsResponseRrname).len();
    assert!(m.buffer_n(B::DnsResponseRrname, n - 1).is_some());
    assert_eq!(m.buffer_n(B::DnsResponseRrname, n), None);
    assert_eq!(m.rrtypes().collect::<Vec<_>>(), [5, 1, 28, 15, 16]);
}

#[test]
fn answers_in_a_request_are_inspected_but_authorities_are_not() {
    // Suricata reads dns.answers.rrname from either message, but authorities and
    // additionals only from the response.
    let m = parse(&cat(&[
        &header(1, 0x0100, [1, 1, 1, 1]),
        &question(&wname("q.example"), 1, 1),
        &rr(&wname("an.example"), 1, 1, &[1, 2, 3, 4]),
        &rr(&wname("ns.example"), 1, 1, &[1, 2, 3, 4]),
        &rr(&wname("ar.example"), 1, 1, &[1, 2, 3, 4]),
    ]))
    .unwrap();
    assert_eq!(instances(&m, B::DnsAnswersRrname), ["an.example"]);
    assert!(instances(&m, B::DnsAuthoritiesRrname).is_empty());
    assert!(instances(&m, B::DnsAdditionalsRrname).is_empty());
    assert!(instances(&m, B::DnsResponseRrname).is_empty());
}

// ---- names ---------------------------------------------------------------------------

#[test]
fn rrtype_and_rcode_names_round_trip() {
    for (v, n) in [
        (1, "A"),
        (28, "AAAA"),
        (5, "CNAME"),
        (12, "PTR"),
        (2, "NS"),
        (15, "MX"),
        (16, "TXT"),
        (6, "SOA"),
        (33, "SRV"),
        (39, "DNAME"),
        (41, "OPT"),
        (255, "ANY"),
        (65, "HTTPS"),
        (257, "CAA"),
    ] {
        assert_eq!(rrtype_name(v), n);
        assert_eq!(rrtype_from_name(n), Some(v));
        assert_eq!(rrtype_from_name(&n.to_ascii_lowercase()), Some(v));
    }
    assert_eq!(rrtype_name(65534), "TYPE65534");
    assert_eq!(rrtype_from_name("TYPE65534"), Some(65534));
    assert_eq!(rrtype_from_name("type7"), Some(7));
    assert_eq!(rrtype_from_name("28"), Some(28));
    for bad in ["", "TYPE", "TYPE70000", "AAAAA", "TYPE-1", "+1"] {
        assert_eq!(rrtype_from_name(bad), None, "{bad}");
    }
    for (v, n) in [
        (0, "NOERROR"),
        (2, "SERVFAIL"),
        (3, "NXDOMAIN"),
        (5, "REFUSED"),
        (16, "BADVERS"),
    ] {
        assert_eq!(rcode_name(v), n);
        assert_eq!(rcode_from_name(n), Some(v));
    }
    assert_eq!(rcode_name(11), "11");
    assert_eq!(rcode_from_name("nxdomain"), Some(3));
    assert_eq!(rcode_from_name("BADSIG"), Some(16));
    assert_eq!(rcode_from_name("NXDOMAINX"), None);
}

// ---- probe ---------------------------------------------------------------------------

#[test]
fn probe_accepts_dns_in_its_direction() {
    let q = query(1, "www.example.com", 1);
    assert!(probe(&q, true));
    assert!(!probe(&q, false), "a query is not a response");
    let r = big_response();
    assert!(probe(&r, false));
    assert!(!probe(&r, true));
    // A FORMERR reply with no sections is exactly the header.
    assert!(probe(&header(1, 0x8001, [0, 0, 0, 0]), false));
}

#[test]
fn probe_rejects_what_is_not_dns() {
    let mut q = query(1, "www.example.com", 1);
    assert!(!probe(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", true));
    assert!(!probe(&q[..11], true), "short");
    // Unassigned opcode 3.
    q[2] = 0x18;
    assert!(!probe(&q, true));
    // A query without questions.
    assert!(!probe(
        &cat(&[&header(1, 0x0100, [0, 0, 0, 0]), b"junk"]),
        true
    ));
    // Too many questions for the length, too many questions at all.
    assert!(!probe(
        &cat(&[
            &header(1, 0x0100, [3, 0, 0, 0]),
            &question(&wname("a"), 1, 1)
        ]),
        true
    ));
    assert!(!probe(
        &cat(&[&header(1, 0x0100, [17, 0, 0, 0]), &[0; 100]]),
        true
    ));
    // Records claimed but not present.
    assert!(!probe(
        &cat(&[
            &header(1, 0x8180, [1, 9, 0, 0]),
            &question(&wname("a"), 1, 1)
        ]),
        false
    ));
    // No sections but bytes after the header.
    assert!(!probe(
        &cat(&[&header(1, 0x8180, [0, 0, 0, 0]), b"xx"]),
        false
    ));
    // First question name runs off the end.
    assert!(!probe(
        &cat(&[&header(1, 0x0100, [1, 0, 0, 0]), b"\x3fabcdef"]),
        true
    ));
}

// ---- TCP -----------------------------------------------------------------------------

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut f = u16::try_from(msg.len()).unwrap().to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

#[test]
fn tcp_two_messages_in_one_feed() {
    let a = query(1, "a.example", 1);
    let b = query(2, "b.example", 28);
    let mut t = DnsTcp::new();
    let got = t.feed(true, &cat(&[&framed(&a), &framed(&b)]));
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(t.pending(true), 0);
    assert_eq!(t.stats().messages, 2);
}

#[test]
fn tcp_split_at_every_byte_position() {
    let stream = cat(&[
        &framed(&query(1, "a.example", 1)),
        &framed(&big_response()),
        &framed(&query(3, "c.example", 1)),
    ]);
    let expect: Vec<DnsMessage> = [
        query(1, "a.example", 1),
        big_response(),
        query(3, "c.example", 1),
    ]
    .iter()
    .map(|m| parse(m).unwrap())
    .collect();
    for cut in 0..=stream.len() {
        let mut t = DnsTcp::new();
        let (x, y) = stream.split_at(cut);
        let mut got = t.feed(true, x);
        got.extend(t.feed(true, y));
        assert_eq!(got, expect, "cut at {cut}");
        assert_eq!(t.pending(true), 0);
    }
    // And one byte at a time.
    let mut t = DnsTcp::new();
    let got: Vec<DnsMessage> = stream
        .iter()
        .flat_map(|b| t.feed(true, std::slice::from_ref(b)))
        .collect();
    assert_eq!(got, expect);
}

#[test]
fn tcp_directions_are_independent() {
    let q = framed(&query(5, "x.example", 1));
    let r = framed(&big_response());
    let mut t = DnsTcp::new();
    assert!(t.feed(true, &q[..7]).is_empty());
    assert!(t.feed(false, &r[..9]).is_empty());
    assert_eq!(t.feed(true, &q[7..])[0].id, 5);
    assert_eq!(t.feed(false, &r[9..])[0].id, 0xbeef);
}

#[test]
fn tcp_bad_messages_are_counted_and_framing_continues() {
    let mut t = DnsTcp::new();
    let got = t.feed(
        true,
        &cat(&[
            &[0, 0],
            &framed(b"short"),
            &framed(&query(4, "d.example", 1)),
        ]),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(t.stats().parse_errors, 2);
}

#[test]
fn tcp_gap_resynchronises_at_a_message_start() {
    let q1 = framed(&query(1, "a.example", 1));
    let q2 = framed(&query(2, "b.example", 1));
    let mut t = DnsTcp::new();
    assert!(t.feed(true, &q1[..10]).is_empty());
    t.gap(true);
    assert_eq!(t.pending(true), 0);
    // The rest of the message cut by the gap does not start a message: dropped.
    assert!(t.feed(true, &q1[20..]).is_empty());
    assert_eq!(t.stats().resync_dropped, (q1.len() - 20) as u64);
    // A response-shaped chunk in the query direction does not resynchronise either.
    assert!(t.feed(true, &framed(&big_response())).is_empty());
    let got = t.feed(true, &cat(&[&q2, &q1]));
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(t.stats().gaps, 1);
}

#[test]
fn tcp_buffers_at_most_one_message() {
    let mut t = DnsTcp::new();
    let mut stream = vec![0xff, 0xff];
    stream.extend(std::iter::repeat_n(0u8, MAX_TCP_MESSAGE - 1));
    assert!(t.feed(false, &stream).is_empty());
    assert_eq!(t.pending(false), MAX_TCP_MESSAGE + 1);
    // The last byte completes a 65535-byte message of zeros: a header with no sections
    // followed by junk, which parses (trailing bytes are ignored).
    assert_eq!(t.feed(false, &[0, 0]).len(), 1);
    assert_eq!(t.pending(false), 1);
}

// ---- EVE -----------------------------------------------------------------------------

#[test]
fn eve_query() {
    let m = parse(&query(0x1234, "www.example.com", 1)).unwrap();
    let v = serde_json::to_value(DnsInfo::from_message(&m, 3)).unwrap();
    assert_eq!(
        v,
        json!([{"type":"query","id":4660,"rrname":"www.example.com","rrtype":"A","tx_id":3,"opcode":0}])
    );
}

#[test]
fn eve_answer() {
    let m = parse(&big_response()).unwrap();
    let v = serde_json::to_value(DnsInfo::answer(&m)).unwrap();
    assert_eq!(
        v,
        json!({
            "version": 2, "type": "answer", "id": 0xbeef, "flags": "8180",
            "qr": true, "rd": true, "ra": true, "rrname": "www.example.com", "rrtype": "A",
            "opcode": 0, "rcode": "NOERROR",
            "answers": [
                {"rrname":"www.example.com","rrtype":"CNAME","ttl":300,"rdata":"cdn.example.net"},
                {"rrname":"cdn.example.net","rrtype":"A","ttl":60,"rdata":"192.0.2.1"},
                {"rrname":"cdn.example.net","rrtype":"AAAA","ttl":60,"rdata":"2001:0db8:0000:0000:0000:0000:0000:0001"},
                {"rrname":"example.com","rrtype":"MX","ttl":3600,"rdata":"mail.example.com"},
                {"rrname":"example.com","rrtype":"TXT","ttl":3600,"rdata":"hello"},
                {"rrname":"example.com","rrtype":"TXT","ttl":3600,"rdata":""},
                {"rrname":"example.com","rrtype":"TXT","ttl":3600,"rdata":"v=1"},
            ],
            "authorities": [
                {"rrname":"example.com","rrtype":"NS","ttl":86400,"rdata":"ns1.example.com"},
                {"rrname":"example.com","rrtype":"SOA","ttl":3600,"soa":{
                    "mname":"ns1.example.com","rname":"hostmaster.example.com","serial":2024010101,
                    "refresh":7200,"retry":3600,"expire":1209600,"minimum":300}},
            ],
            "additionals": [
                {"rrname":"ns1.example.com","rrtype":"A","ttl":86400,"rdata":"192.0.2.53"},
            ],
        })
    );
}

#[test]
fn eve_escapes_binary_and_numbers_unknown_types() {
    let m = parse(&cat(&[
        &header(1, 0x8183, [1, 1, 0, 0]),
        b"\x04a\x01\xffb\x00\xff\xfe\x00\x01",
        &rr(&ptr(QNAME), 65534, 1, b"x"),
    ]))
    .unwrap();
    let v = serde_json::to_value(DnsInfo::answer(&m)).unwrap();
    assert_eq!(v["rrname"], "a\u{1}\\xffb");
    assert_eq!(v["rrtype"], "65534");
    assert_eq!(v["rcode"], "NXDOMAIN");
    assert_eq!(
        v["answers"][0],
        json!({"rrname":"a\u{1}\\xffb","rrtype":"65534","ttl":1})
    );
}

// ---- robustness ----------------------------------------------------------------------

fn names_bounded(m: &DnsMessage) {
    let records = || m.answers.iter().chain(&m.authorities).chain(&m.additionals);
    let names = m
        .questions
        .iter()
        .map(|q| q.name.as_slice())
        .chain(records().map(|r| r.name.as_slice()))
        .chain(records().filter_map(Record::rdata_name));
    for n in names {
        assert!(n.len() <= 255, "name of {} bytes", n.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = parse(&bytes) {
            names_bounded(&m);
            let _ = DnsInfo::from_message(&m, 0);
            for b in [B::DnsQuery, B::DnsQueriesRrname, B::DnsAnswersRrname, B::DnsResponseRrname] {
                prop_assert!(m.buffers(b).all(|n| !n.is_empty() && n.len() <= 255));
            }
        }
        let _ = probe(&bytes, true);
        let _ = probe(&bytes, false);
    }

    #[test]
    fn mutated_responses_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        // Random bytes rarely get past the header; mutating a rich message reaches the
        // pointer and record code.
        let mut m = big_response();
        for (i, v) in flips {
            let at = i.index(m.len());
            m[at] = v;
        }
        let m = &m[..cut.index(m.len() + 1)];
        if let Ok(msg) = parse(m) {
            names_bounded(&msg);
            let _ = serde_json::to_string(&DnsInfo::answer(&msg)).unwrap();
        }
    }

    #[test]
    fn tcp_arbitrary_chunks_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20), gaps in any::<u32>()) {
        let mut t = DnsTcp::new();
        for (i, c) in chunks.iter().enumerate() {
            if gaps & (1 << (i % 32)) != 0 && i % 3 == 0 {
                t.gap(i % 2 == 0);
            }
            let _ = t.feed(i % 2 == 0, c);
            prop_assert!(t.pending(i % 2 == 0) <= MAX_TCP_MESSAGE + 1);
        }
    }
}

// ---- real captures -------------------------------------------------------------------

const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/cases"
);

fn pcaps(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            pcaps(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            out.push(p);
        }
    }
}

/// UDP payloads to or from port 53 in a capture (pcap or pcapng, Ethernet or raw IP).
fn udp53_payloads(path: &std::path::Path) -> Vec<(bool, Vec<u8>)> {
    use etherparse::{SlicedPacket, TransportSlice};
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    let mut frames: Vec<(u32, Vec<u8>)> = Vec::new();
    if let Ok(mut r) = pcap_file::pcap::PcapReader::new(&data[..]) {
        let dl = u32::from(r.header().datalink);
        while let Some(Ok(p)) = r.next_packet() {
            frames.push((dl, p.data.into_owned()));
        }
    } else if let Ok(mut r) = pcap_file::pcapng::PcapNgReader::new(&data[..]) {
        while let Some(Ok(block)) = r.next_block() {
            if let pcap_file::pcapng::Block::EnhancedPacket(p) = block {
                frames.push((1, p.data.into_owned()));
            }
        }
    }
    let mut out = Vec::new();
    for (dl, f) in frames {
        let sliced = match dl {
            // Ethernet.
            1 => SlicedPacket::from_ethernet(&f),
            // Raw IP / LINKTYPE_IPV4 / LINKTYPE_IPV6.
            101 | 228 | 229 => SlicedPacket::from_ip(&f),
            // Linux cooked capture.
            113 => SlicedPacket::from_linux_sll(&f),
            _ => continue,
        };
        let Ok(s) = sliced else { continue };
        if let Some(TransportSlice::Udp(u)) = &s.transport {
            if u.destination_port() == 53 || u.source_port() == 53 {
                out.push((u.destination_port() == 53, u.payload().to_vec()));
            }
        }
    }
    out
}

#[test]
fn conformance_captures_parse() {
    let root = std::path::Path::new(CONFORMANCE);
    let Some(_ran) = must_run::require_shared(root, module_path!()) else {
        return;
    };
    let mut files = Vec::new();
    pcaps(root, &mut files);
    let (mut total, mut ok, mut probed) = (0usize, 0usize, 0usize);
    for f in &files {
        for (to_server, payload) in udp53_payloads(f) {
            total += 1;
            match parse(&payload) {
                Ok(m) => {
                    ok += 1;
                    names_bounded(&m);
                    let _ = DnsInfo::from_message(&m, 0);
                }
                Err(e) => eprintln!(
                    "{}: {e}: {:02x?}",
                    f.display(),
                    &payload[..payload.len().min(48)]
                ),
            }
            probed += usize::from(probe(&payload, to_server));
        }
    }
    eprintln!(
        "conformance: {total} UDP/53 payloads in {} captures, {ok} parse, {probed} probe as DNS",
        files.len()
    );
    assert!(
        total >= 20,
        "expected DNS traffic in the captures, found {total} payloads"
    );
    assert!(ok * 100 >= total * 95, "{ok} of {total} parsed");
    assert!(
        probed * 100 >= total * 80,
        "{probed} of {total} probed as DNS"
    );
}

/// TCP payloads to or from port 53, in capture order (the capture below has no loss or
/// retransmission, so capture order is stream order).
fn tcp53_payloads(path: &std::path::Path) -> Vec<(bool, Vec<u8>)> {
    use etherparse::{SlicedPacket, TransportSlice};
    let data = std::fs::read(path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(&data[..]).unwrap();
    let mut out = Vec::new();
    while let Some(Ok(p)) = r.next_packet() {
        let Ok(s) = SlicedPacket::from_ethernet(&p.data) else {
            continue;
        };
        if let Some(TransportSlice::Tcp(t)) = &s.transport {
            if (t.destination_port() == 53 || t.source_port() == 53) && !t.payload().is_empty() {
                out.push((t.destination_port() == 53, t.payload().to_vec()));
            }
        }
    }
    out
}

#[test]
fn conformance_tcp_dns_flow() {
    // Suricata's expectation for this capture: `dns.queries.rrname; content:"suricata"`
    // alerts 4 times (two queries and their two responses).
    let path =
        std::path::Path::new(CONFORMANCE).join("app/dns/task-7018-ips-dns-keywords/input.pcap");
    let Some(_ran) = must_run::require_shared(&path, module_path!()) else {
        return;
    };
    let mut t = DnsTcp::new();
    let mut msgs = Vec::new();
    for (to_server, payload) in tcp53_payloads(&path) {
        msgs.extend(
            t.feed(to_server, &payload)
                .into_iter()
                .map(|m| (to_server, m)),
        );
    }
    assert_eq!(t.stats().parse_errors, 0);
    let names: Vec<(bool, String)> = msgs
        .iter()
        .map(|(d, m)| {
            (
                *d,
                String::from_utf8_lossy(m.buffer_n(B::DnsQueriesRrname, 0).unwrap()).into_owned(),
            )
        })
        .collect();
    let expect = ["suricata.io", "oisf.net", "suricata.org"];
    let want: Vec<(bool, String)> = expect
        .iter()
        .flat_map(|n| [(true, n.to_string()), (false, n.to_string())])
        .collect();
    assert_eq!(names, want);
    let hits = msgs
        .iter()
        .filter(|(_, m)| {
            m.buffers(B::DnsQueriesRrname)
                .any(|n| n.windows(8).any(|w| w == b"suricata"))
        })
        .count();
    assert_eq!(hits, 4);
    assert!(msgs.iter().all(|(d, m)| m.is_response() != *d));
}

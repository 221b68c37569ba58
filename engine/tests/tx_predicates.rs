//! DNS and TLS transaction predicates (`dns.opcode`, `dns.rrtype`, `tls_cert_notafter`,
//! `ssl_state`, …) from rule text through replay of real captures (the conformance cases in
//! ../shared), counting EVE alerts per sid.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use verdict_engine::detect::DetectConfig;

fn capture(case: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/cases/app")
        .join(case)
        .join("input.pcap");
    assert!(p.is_file(), "capture missing: {}", p.display());
    p
}

/// Replays `case`'s capture against `rules`; returns how many alerts each sid raised.
fn alerts_per_sid(rules: &str, case: &str) -> std::collections::BTreeMap<u64, usize> {
    let det = detector("test.rules", rules, true, &DetectConfig::default());
    let dir = TempDir::new("txpred");
    per_sid(&replay_alerts(det, &capture(case), dir.path()))
}

#[test]
fn dns_header_and_type_predicates_on_a_query_and_its_response() {
    // A? www.suricata-ids.org, answered NOERROR with a CNAME and two A records.
    let got = alerts_per_sid(
        r#"
alert dns any any -> any any (msg:"opcode query"; dns.opcode:0; sid:1;)
alert dns any any -> any any (msg:"cname answer"; dns.rrtype:CNAME; sid:2;)
alert dns any any -> any any (msg:"a question"; dns.rrtype:A; flow:to_server; sid:3;)
alert dns any any -> any any (msg:"error rcode"; dns.rcode:!NOERROR; sid:4;)
alert dns any any -> any any (msg:"with content"; dns.opcode:!1-15; dns.query; content:"suricata"; sid:5;)
alert dns any any -> any any (msg:"notify"; dns.opcode:4; sid:6;)
alert udp any any -> any any (msg:"on a udp rule"; dns.rrtype:>4; sid:7;)
"#,
        "dns/dns-query-name",
    );
    let want = [(1, 2), (2, 1), (3, 1), (5, 1), (7, 1)];
    assert_eq!(got, want.into_iter().collect(), "alerts per sid");
}

#[test]
fn tls_certificate_dates_validity_and_state_on_a_real_handshake() {
    // Five TLS 1.2 sessions to a server whose leaf is valid 2015-02-12..2025-02-09, the last
    // one resumed (no certificate, no key exchange); the capture is from 2015-03-06.
    let got = alerts_per_sid(
        r#"
alert tls any any -> any any (msg:"not after"; tls_cert_notafter:>2015; sid:2;)
alert tls any any -> any any (msg:"not before"; tls_cert_notbefore:<2025; sid:3;)
alert tls any any -> any any (msg:"not before, late"; tls_cert_notbefore:>2015-03; sid:4;)
alert tls any any -> any any (msg:"valid"; tls_cert_valid; sid:5;)
alert tls any any -> any any (msg:"expired"; tls_cert_expired; sid:6;)
alert tls any any -> any any (msg:"exact"; tls_cert_notafter:2025-02-09T18:07:27; sid:7;)
alert tls any any -> any any (msg:"client hello"; ssl_state:client_hello; sid:8;)
alert tls any any -> any any (msg:"tls 1.2 server"; flow:to_client; tls.version:1.2; sid:9;)
alert tls any any -> any any (msg:"not a 1.0 client"; flow:to_server; ssl_version:tls1.0; sid:10;)
alert tcp any any -> any any (msg:"one cert"; tls.cert_chain_len:1; sid:11;)
alert tls any any -> any any (msg:"key exchange"; ssl_state:client_keyx; sid:12;)
"#,
        "tls/tls-cert-validity",
    );
    let want = [
        (2, 4),
        (3, 4),
        (5, 4),
        (7, 4),
        (8, 5),
        (9, 5),
        (11, 4),
        (12, 4),
    ];
    assert_eq!(got, want.into_iter().collect(), "alerts per sid");
}

//! Connection-level tests: handshakes built byte by byte, split at every position, Suricata's
//! string formats, fingerprints on published values, limits, and the conformance captures.

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use verdict_compiler::ir::AppBuffer as A;

use super::*;

use crate::must_run;

// ---- message builders ------------------------------------------------------------------

pub(crate) fn record(content_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 3];
    r.extend((payload.len() as u16).to_be_bytes());
    r.extend(payload);
    r
}

pub(crate) fn hs(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut m = vec![msg_type];
    m.extend(&len.to_be_bytes()[1..]);
    m.extend(body);
    m
}

fn ext(t: u16, data: &[u8]) -> Vec<u8> {
    let mut e = t.to_be_bytes().to_vec();
    e.extend((data.len() as u16).to_be_bytes());
    e.extend(data);
    e
}

fn u16s(vals: &[u16]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn with_len16(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u16).to_be_bytes().to_vec();
    v.extend(data);
    v
}

fn with_len8(data: &[u8]) -> Vec<u8> {
    let mut v = vec![data.len() as u8];
    v.extend(data);
    v
}

fn sni_ext(name: &[u8]) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend(with_len16(name));
    ext(0, &with_len16(&entry))
}

fn alpn_ext(protos: &[&[u8]]) -> Vec<u8> {
    let list: Vec<u8> = protos.iter().flat_map(|p| with_len8(p)).collect();
    ext(0x10, &with_len16(&list))
}

fn client_hello(version: u16, random: [u8; 32], ciphers: &[u16], exts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend(random);
    b.push(0); // session id
    b.extend(with_len16(&u16s(ciphers)));
    b.extend([1, 0]); // null compression
    b.extend(with_len16(&exts.concat()));
    hs(1, &b)
}

pub(crate) fn server_hello(
    version: u16,
    random: [u8; 32],
    cipher: u16,
    exts: &[Vec<u8>],
) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend(random);
    b.push(0);
    b.extend(cipher.to_be_bytes());
    b.push(0);
    b.extend(with_len16(&exts.concat()));
    hs(2, &b)
}

fn certificate(ders: &[Vec<u8>]) -> Vec<u8> {
    let mut list: Vec<u8> = Vec::new();
    for d in ders {
        list.extend(&(d.len() as u32).to_be_bytes()[1..]);
        list.extend(d);
    }
    let mut b = (list.len() as u32).to_be_bytes()[1..].to_vec();
    b.extend(list);
    hs(11, &b)
}

pub(crate) fn rand(first: u8) -> [u8; 32] {
    let mut r = [0u8; 32];
    for (i, b) in r.iter_mut().enumerate() {
        *b = first.wrapping_add(i as u8);
    }
    r
}

/// A CA and a leaf it signed, with Suricata-visible fields chosen by the test.
fn chain() -> (Vec<u8>, Vec<u8>) {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SerialNumber,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "Let's Encrypt");
    dn.push(DnType::CommonName, "R3");
    ca.distinguished_name = dn;
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["www.example.com".to_owned(), "example.com".to_owned()])
            .unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "www.example.com");
    leaf.distinguished_name = dn;
    leaf.serial_number = Some(SerialNumber::from_slice(&[0x03, 0xaf, 0x5c, 0x19]));
    leaf.not_before = rcgen::date_time_ymd(2016, 11, 7);
    leaf.not_after = rcgen::date_time_ymd(2017, 2, 5);
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    (leaf_cert.der().to_vec(), ca_cert.der().to_vec())
}

/// A TLS 1.2 handshake: client flight, server flight (hello, certificate, done in ONE
/// record), then both CCS.
pub(crate) struct Tls12 {
    pub(crate) client: Vec<u8>,
    pub(crate) server: Vec<u8>,
    pub(crate) client_ccs: Vec<u8>,
    pub(crate) server_ccs: Vec<u8>,
    pub(crate) leaf: Vec<u8>,
    pub(crate) ca: Vec<u8>,
}

pub(crate) fn tls12() -> Tls12 {
    let ch = client_hello(
        0x0303,
        rand(0x10),
        &[0x0a0a, 0xc02b, 0xc02f, 0x009c],
        &[
            ext(0x0a0a, &[]),
            sni_ext(b"www.example.com"),
            ext(0x000a, &with_len16(&u16s(&[0x1a1a, 29, 23]))),
            ext(0x000b, &with_len8(&[0])),
            alpn_ext(&[b"h2", b"http/1.1"]),
            ext(0x000d, &with_len16(&u16s(&[0x0403, 0x0804]))),
        ],
    );
    let (leaf, ca) = chain();
    let sh = server_hello(
        0x0303,
        rand(0x80),
        0xc02f,
        &[
            ext(0xff01, &[0]),
            alpn_ext(&[b"h2"]),
            ext(0x000b, &with_len8(&[0])),
        ],
    );
    let server_flight = [sh, certificate(&[leaf.clone(), ca.clone()]), hs(14, &[])].concat();
    Tls12 {
        client: record(22, &ch),
        server: record(22, &server_flight),
        client_ccs: [record(22, &hs(16, &[0; 33])), record(20, &[1])].concat(),
        server_ccs: [record(20, &[1]), record(22, &[0xde; 40])].concat(),
        leaf,
        ca,
    }
}

pub(crate) fn conn() -> TlsConn {
    TlsConn::new(&TlsConfig::default())
}

fn buf(c: &TlsConn, b: A, to_server: bool) -> Option<String> {
    c.buffer_n(b, to_server, 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

// ---- tests -----------------------------------------------------------------------------

#[test]
fn tls12_handshake_fills_suricata_buffers() {
    let t = tls12();
    let mut c = conn();
    let up = c.feed(true, &t.client);
    assert!(up.client_hello() && !up.handshake_done());
    assert_eq!(buf(&c, A::TlsSni, true).as_deref(), Some("www.example.com"));
    assert_eq!(
        c.buffer_n(A::TlsSni, false, 0),
        None,
        "SNI is a to_server buffer"
    );
    assert_eq!(c.buffer_n(A::TlsAlpn, true, 1), Some(&b"http/1.1"[..]));
    assert_eq!(
        c.buffer_n(A::TlsRandomTime, true, 0),
        Some(&rand(0x10)[..4])
    );
    assert_eq!(
        c.buffer_n(A::TlsRandomBytes, true, 0),
        Some(&rand(0x10)[4..])
    );

    let up = c.feed(false, &t.server);
    assert!(up.server_hello() && up.certificate() && !up.handshake_done());
    assert_eq!(c.buffer_n(A::TlsRandom, false, 0), Some(&rand(0x80)[..]));
    assert_eq!(c.buffer_n(A::TlsAlpn, false, 0), Some(&b"h2"[..]));
    assert_eq!(c.buffer_n(A::TlsAlpn, false, 1), None);
    assert_eq!(
        buf(&c, A::TlsCertSubject, false).as_deref(),
        Some("CN=www.example.com")
    );
    assert_eq!(
        buf(&c, A::TlsCertIssuer, false).as_deref(),
        Some("C=US, O=Let's Encrypt, CN=R3")
    );
    assert_eq!(
        buf(&c, A::TlsCertSerial, false).as_deref(),
        Some("03:AF:5C:19")
    );
    assert_eq!(c.buffer_n(A::TlsCerts, false, 0), Some(&t.leaf[..]));
    assert_eq!(c.buffer_n(A::TlsCerts, false, 1), Some(&t.ca[..]));
    assert_eq!(c.buffer_n(A::TlsCerts, false, 2), None);
    assert_eq!(c.cert_chain_len(), 2);
    assert_eq!(
        c.buffer_n(A::TlsSubjectAltName, false, 1),
        Some(&b"example.com"[..])
    );
    assert_eq!(c.cert_not_before(), Some(1_478_476_800)); // 2016-11-07T00:00:00Z
    assert_eq!(c.cert_not_after(), Some(1_486_252_800)); // 2017-02-05T00:00:00Z

    assert!(!c.feed(true, &t.client_ccs).handshake_done());
    assert!(c.feed(false, &t.server_ccs).handshake_done());
    assert!(c.events().is_empty(), "{:?}", c.events());
    assert_eq!(c.version(true), Some(0x0303));
    assert_eq!(c.ssl_version(false), Some(SslVersion::Tls12));
    assert!(c.ssl_states().contains(
        SslStates::CLIENT_HELLO
            .union(SslStates::SERVER_HELLO)
            .union(SslStates::CLIENT_KEYX)
    ));
    assert!(!c.ssl_states().contains(SslStates::SERVER_KEYX));
}

#[test]
fn fingerprint_is_sha1_of_the_leaf_with_colons() {
    use sha1::{Digest, Sha1};
    let t = tls12();
    let mut c = conn();
    c.feed(false, &t.server);
    let fp = buf(&c, A::TlsCertFingerprint, false).unwrap();
    let want: Vec<String> = Sha1::digest(&t.leaf)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(fp, want.join(":"));
    assert_eq!(fp.len(), 59);
}

#[test]
fn every_split_point_gives_the_same_result() {
    let t = tls12();
    let mut whole = conn();
    whole.feed(true, &t.client);
    whole.feed(false, &t.server);
    for (to_server, bytes) in [(true, &t.client), (false, &t.server)] {
        for cut in 0..=bytes.len() {
            let mut c = conn();
            let a = c.feed(to_server, &bytes[..cut]);
            let b = c.feed(to_server, &bytes[cut..]);
            let parsed = if to_server {
                a.client_hello() || b.client_hello()
            } else {
                (a.certificate() || b.certificate()) && (a.server_hello() || b.server_hello())
            };
            assert!(parsed, "cut at {cut}");
            for buffer in [
                A::TlsSni,
                A::Ja3Hash,
                A::Ja4Hash,
                A::Ja3sHash,
                A::TlsCertIssuer,
            ] {
                assert_eq!(
                    c.buffer_n(buffer, to_server, 0),
                    whole.buffer_n(buffer, to_server, 0)
                );
            }
            assert!(c.events().is_empty(), "cut at {cut}: {:?}", c.events());
        }
    }
}

#[test]
fn byte_by_byte_feeding_parses_the_server_flight() {
    let t = tls12();
    let mut c = conn();
    let mut seen = 0;
    for b in &t.server {
        if c.feed(false, std::slice::from_ref(b)).certificate() {
            seen += 1;
        }
    }
    assert_eq!(seen, 1);
    assert_eq!(c.cert_chain_len(), 2);
}

#[test]
fn one_message_across_several_records() {
    let t = tls12();
    let (leaf, ca) = (t.leaf, t.ca);
    let msg = certificate(&[leaf.clone(), ca]);
    // Records of 100 bytes each: the certificate spans many of them.
    let records: Vec<u8> = msg.chunks(100).flat_map(|c| record(22, c)).collect();
    let mut c = conn();
    assert!(c.feed(false, &records).certificate());
    assert_eq!(c.buffer_n(A::TlsCerts, false, 0), Some(&leaf[..]));
    // A handshake header split across two records.
    let sh = server_hello(0x0303, rand(1), 0x002f, &[]);
    let split = [record(22, &sh[..2]), record(22, &sh[2..])].concat();
    let mut c = conn();
    assert!(c.feed(false, &split).server_hello());
}

#[test]
fn tls13_is_done_after_server_hello_and_skips_ciphertext() {
    let ch = client_hello(
        0x0303,
        rand(3),
        &[0x1301, 0x1302],
        &[
            sni_ext(b"tls13.example"),
            ext(0x002b, &with_len8(&u16s(&[0x3a3a, 0x0304, 0x0303]))),
        ],
    );
    let sh = server_hello(0x0303, rand(4), 0x1301, &[ext(0x002b, &u16s(&[0x0304]))]);
    let mut c = conn();
    c.feed(true, &record(22, &ch));
    assert_eq!(c.version(true), Some(0x0304));
    // ServerHello, then the compatibility CCS and encrypted records that would look like
    // garbage handshake messages if parsed.
    let server = [record(22, &sh), record(20, &[1]), record(23, &[0x42; 50])].concat();
    let up = c.feed(false, &server);
    assert!(up.server_hello() && up.handshake_done() && !up.certificate());
    assert_eq!(c.version(false), Some(0x0304));
    assert_eq!(c.eve().version, "TLS 1.3");
    assert_eq!(c.certs(false), None);
    // The client's CCS and encrypted Finished raise nothing.
    let up = c.feed(true, &[record(20, &[1]), record(22, &[0x99; 60])].concat());
    assert!(!up.handshake_done() && !up.event());
    assert!(c.events().is_empty());
}

#[test]
fn hello_retry_request_keeps_parsing_the_second_client_hello() {
    let retry_random: [u8; 32] = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
        0x33, 0x9c,
    ];
    let hrr = server_hello(
        0x0303,
        retry_random,
        0x1301,
        &[ext(0x002b, &u16s(&[0x0304]))],
    );
    let mut c = conn();
    let up = c.feed(false, &record(22, &hrr));
    assert!(up.server_hello() && !up.handshake_done());
    let sh = server_hello(0x0303, rand(9), 0x1301, &[ext(0x002b, &u16s(&[0x0304]))]);
    assert!(c.feed(false, &record(22, &sh)).handshake_done());
}

#[test]
fn several_messages_in_one_record_and_keyx_states() {
    let ske = hs(12, &[3, 0, 23, 65]);
    let sh = server_hello(0x0301, rand(5), 0xc013, &[]);
    let mut c = conn();
    c.feed(false, &record(22, &[sh, ske, hs(14, &[])].concat()));
    assert!(c.ssl_states().contains(SslStates::SERVER_KEYX));
    assert_eq!(c.ssl_state_current(), SslStates::SERVER_KEYX);
    assert_eq!(c.eve().version, "TLSv1");
}

#[test]
fn ja3_and_ja4_match_a_published_chrome_hello() {
    // Chrome 143 as captured by browserleaks (FoxIO JA4 tooling output, published in
    // github.com/service0427/v2_cp_app tls.md): ja4_ro gives the wire order, ja3_text the
    // GREASE-free JA3. Published: ja3_hash 98487aa16281980e7d1120d399efb6a4,
    // ja4 t13d1516h2_8daaf6152771_d8a2da3f94cd. GREASE is added here as Chrome sends it.
    let ciphers = [
        0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let sigs = u16s(&[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ]);
    let exts = vec![
        ext(0xdada, &[]),
        ext(0x002d, &with_len8(&[1])),
        ext(0x0033, &with_len16(&[])),
        alpn_ext(&[b"h2", b"http/1.1"]),
        ext(0xfe0d, &[0; 8]),
        ext(0x0017, &[]),
        ext(0x44cd, &[0, 3, 2, b'h', b'2']),
        sni_ext(b"tls.browserleaks.com"),
        ext(0x000b, &with_len8(&[0])),
        ext(0x000a, &with_len16(&u16s(&[0x5a5a, 4588, 29, 23, 24]))),
        ext(0x002b, &with_len8(&u16s(&[0x7a7a, 0x0304, 0x0303]))),
        ext(0xff01, &[0]),
        ext(0x0023, &[]),
        ext(0x0012, &[]),
        ext(0x0005, &[1, 0, 0, 0, 0]),
        ext(0x000d, &with_len16(&sigs)),
        ext(0x001b, &[2, 0, 2]),
        ext(0x1a1a, &[0]),
    ];
    let mut c = conn();
    assert!(c
        .feed(
            true,
            &record(22, &client_hello(0x0303, rand(0), &ciphers, &exts))
        )
        .client_hello());
    assert_eq!(
        buf(&c, A::Ja3String, true).as_deref(),
        Some("771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0")
    );
    assert_eq!(
        buf(&c, A::Ja3Hash, true).as_deref(),
        Some("98487aa16281980e7d1120d399efb6a4")
    );
    assert_eq!(
        buf(&c, A::Ja4Hash, true).as_deref(),
        Some("t13d1516h2_8daaf6152771_d8a2da3f94cd")
    );
    assert!(c.events().is_empty(), "{:?}", c.events());
}

#[test]
fn ja4_edge_cases_follow_foxio() {
    // No SNI, no ALPN, no ciphers, no signature algorithms, TLS 1.0.
    let mut c = conn();
    c.feed(
        true,
        &record(22, &client_hello(0x0301, rand(0), &[], &[ext(0x0017, &[])])),
    );
    // c = sha256("0017") truncated; b = zeros for an empty list.
    assert_eq!(
        buf(&c, A::Ja4Hash, true).as_deref(),
        Some("t10i000100_000000000000_1ca028f07214")
    );
    // A non-alphanumeric ALPN shows hex digits.
    let mut c = conn();
    c.feed(
        true,
        &record(
            22,
            &client_hello(0x0303, rand(0), &[0x002f], &[alpn_ext(&[&[0xab, 0x01]])]),
        ),
    );
    assert!(buf(&c, A::Ja4Hash, true)
        .unwrap()
        .starts_with("t12i0101a1_"));
}

#[test]
fn ja3s_string_and_hash() {
    let t = tls12();
    let mut c = conn();
    c.feed(false, &t.server);
    assert_eq!(
        buf(&c, A::Ja3sString, false).as_deref(),
        Some("771,49199,65281-16-11")
    );
    // md5("771,49199,65281-16-11") computed independently with md5sum.
    assert_eq!(
        buf(&c, A::Ja3sHash, false).as_deref(),
        Some("2de81c22ea32a57162df5cb08d4a2795")
    );
    assert_eq!(c.buffer_n(A::Ja3sHash, true, 0), None);
}

#[test]
fn eve_mirrors_suricata() {
    let t = tls12();
    let mut c = conn();
    c.feed(true, &t.client);
    c.feed(false, &t.server);
    let v = serde_json::to_value(c.eve()).unwrap();
    assert_eq!(v["subject"], "CN=www.example.com");
    assert_eq!(v["issuerdn"], "C=US, O=Let's Encrypt, CN=R3");
    assert_eq!(v["serial"], "03:AF:5C:19");
    assert_eq!(v["sni"], "www.example.com");
    assert_eq!(v["version"], "TLS 1.2");
    assert_eq!(v["notbefore"], "2016-11-07T00:00:00");
    assert_eq!(v["notafter"], "2017-02-05T00:00:00");
    assert_eq!(v["ja3s"]["string"], "771,49199,65281-16-11");
    assert_eq!(v["ja3"]["hash"].as_str().map(str::len), Some(32));
    assert!(v["ja4"].as_str().unwrap().starts_with("t12d0305h2_"));
    assert_eq!(v["fingerprint"].as_str().map(str::len), Some(59));

    let empty = serde_json::to_value(conn().eve()).unwrap();
    assert_eq!(empty, serde_json::json!({"version": "UNDETERMINED"}));
}

#[test]
fn iso8601_matches_known_dates() {
    assert_eq!(cert::iso8601(0), "1970-01-01T00:00:00");
    assert_eq!(cert::iso8601(1_478_520_732), "2016-11-07T12:12:12");
    assert_eq!(cert::iso8601(951_782_400), "2000-02-29T00:00:00");
    assert_eq!(cert::iso8601(-1), "1969-12-31T23:59:59");
    assert_eq!(cert::iso8601(253_402_300_799), "9999-12-31T23:59:59");
}

#[test]
fn garbage_raises_an_event_and_stops_the_direction() {
    let mut c = conn();
    let up = c.feed(true, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(up.event() && up.stopped());
    assert!(c.events().contains(TlsEvent::InvalidRecordType));
    assert!(c.stopped(true) && !c.stopped(false));
    assert!(c.feed(true, &tls12().client).is_empty());
    assert_eq!(c.buffered_bytes(), 0);

    let mut c = conn();
    c.feed(false, &[22, 9, 9, 0, 5]);
    assert!(c.events().contains(TlsEvent::InvalidRecordVersion));

    let mut c = conn();
    c.feed(false, &[22, 3, 3, 0xff, 0xff]);
    assert!(c.events().contains(TlsEvent::InvalidRecordLength));

    let mut c = conn();
    c.feed(false, &record(22, &hs(0x63, &[1, 2, 3])));
    assert!(c.events().contains(TlsEvent::InvalidHandshakeMessage));
    assert!(c.ssl_states().contains(SslStates::UNKNOWN));

    // A ClientHello whose cipher list runs past the message.
    let mut bad = client_hello(0x0303, rand(0), &[0x002f], &[]);
    bad[4 + 2 + 32 + 1 + 1] = 0x40;
    let mut c = conn();
    assert!(!c.feed(true, &record(22, &bad)).client_hello());
    assert!(c.events().contains(TlsEvent::HandshakeInvalidLength));
}

#[test]
fn sslv2_client_hello_is_reported_not_parsed() {
    // SSLv2 CLIENT-HELLO: 2-byte length with the high bit, type 1, version 3.1.
    let v2 = [
        0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
    ];
    let mut c = conn();
    let up = c.feed(true, &v2);
    assert!(up.event() && up.stopped() && !up.client_hello());
    assert!(c.events().contains(TlsEvent::Sslv2Unsupported));
}

#[test]
fn sni_anomalies() {
    let two = client_hello(
        0x0303,
        rand(0),
        &[0x2f],
        &[sni_ext(b"a.example"), sni_ext(b"b.example")],
    );
    let mut c = conn();
    c.feed(true, &record(22, &two));
    assert!(c.events().contains(TlsEvent::MultipleSniExtensions));
    assert_eq!(buf(&c, A::TlsSni, true).as_deref(), Some("a.example"));

    let mut odd_type = vec![7];
    odd_type.extend(with_len16(b"x"));
    let bad = client_hello(0x0303, rand(0), &[0x2f], &[ext(0, &with_len16(&odd_type))]);
    let mut c = conn();
    c.feed(true, &record(22, &bad));
    assert!(c.events().contains(TlsEvent::InvalidSniType));
    assert_eq!(c.buffer_n(A::TlsSni, true, 0), None);
}

#[test]
fn oversized_message_is_refused_before_it_is_buffered() {
    let cfg = TlsConfig {
        max_handshake_message: 4096,
    };
    cfg.validate().unwrap();
    let mut c = TlsConn::new(&cfg);
    // A certificate message announcing 1 MiB, sent as full records.
    let mut head = vec![11];
    head.extend(&(1u32 << 20).to_be_bytes()[1..]);
    let up = c.feed(false, &record(22, &head));
    assert!(up.event() && up.stopped());
    assert!(c.events().contains(TlsEvent::HandshakeMessageTooLarge));
    for _ in 0..100 {
        c.feed(false, &record(22, &[0u8; 16000]));
    }
    assert_eq!(c.buffered_bytes(), 0);
    assert!(TlsConfig {
        max_handshake_message: 10
    }
    .validate()
    .is_err());
}

#[test]
fn gap_stops_the_direction_but_keeps_what_was_parsed() {
    let t = tls12();
    let mut c = conn();
    c.feed(true, &t.client);
    let up = c.gap(true);
    assert!(up.stopped() && up.event());
    assert!(c.events().contains(TlsEvent::StreamGap));
    assert_eq!(buf(&c, A::TlsSni, true).as_deref(), Some("www.example.com"));
    assert!(c.gap(true).is_empty(), "a second gap reports nothing new");
    assert!(c.feed(false, &t.server).certificate());
}

#[test]
fn version_before_hello_is_the_record_version() {
    let mut c = conn();
    c.feed(false, &[22, 3, 1, 0, 10, 2]);
    assert_eq!(c.version(false), Some(0x0301));
    assert_eq!(c.version(true), None);
    assert_eq!(eve::version_name(Some(0x7f1c)), "TLS 1.3 draft-28");
    assert_eq!(eve::version_name(Some(0x1234)), "0x1234");
}

proptest! {
    #[test]
    fn arbitrary_feeds_never_panic(
        chunks in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20),
        prefix in any::<bool>(),
    ) {
        let mut c = TlsConn::new(&TlsConfig { max_handshake_message: 2048 });
        if prefix {
            // Start from a valid hello so the garbage reaches the handshake decoders.
            let t = tls12();
            c.feed(true, &t.client[..t.client.len() / 2]);
            c.feed(false, &t.server[..t.server.len() / 2]);
        }
        for (dir, bytes) in &chunks {
            c.feed(*dir, bytes);
            prop_assert!(c.buffered_bytes() <= 2 * (2048 + 4 + 18_432 + 4096));
        }
        let _ = serde_json::to_string(&c.eve());
    }

    #[test]
    fn arbitrary_handshake_bodies_never_panic(
        msg_type in 0u8..30,
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut c = conn();
        c.feed(true, &record(22, &hs(msg_type, &body)));
        c.feed(false, &record(22, &hs(msg_type, &body)));
    }
}

// ---- conformance captures --------------------------------------------------------------

/// Naive reassembly of a capture: per TCP flow and direction, payloads in sequence order
/// (retransmitted bytes dropped, out-of-order segments ignored; these captures are clean).
/// The client is the side that sent the SYN, else the first sender.
fn tcp_streams(pcap: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    type Key = ((std::net::IpAddr, u16), (std::net::IpAddr, u16));
    struct Flow {
        client: (std::net::IpAddr, u16),
        next: [Option<u32>; 2],
        data: [Vec<u8>; 2],
    }
    let file = std::fs::File::open(pcap).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let linktype = reader.header().datalink;
    let mut flows: HashMap<Key, Flow> = HashMap::new();
    let mut order = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        let sliced = match linktype {
            pcap_file::DataLink::ETHERNET => SlicedPacket::from_ethernet(&pkt.data),
            pcap_file::DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(&pkt.data),
            // BSD loopback: a 4-byte address family, then IP.
            pcap_file::DataLink::NULL | pcap_file::DataLink::LOOP => {
                SlicedPacket::from_ip(pkt.data.get(4..).unwrap_or_default())
            }
            _ => SlicedPacket::from_ip(&pkt.data),
        };
        let Ok(p) = sliced else { continue };
        let (src, dst) = match &p.net {
            Some(NetSlice::Ipv4(ip)) => (
                std::net::IpAddr::V4(ip.header().source_addr()),
                std::net::IpAddr::V4(ip.header().destination_addr()),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                std::net::IpAddr::V6(ip.header().source_addr()),
                std::net::IpAddr::V6(ip.header().destination_addr()),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            continue;
        };
        let a = (src, tcp.source_port());
        let b = (dst, tcp.destination_port());
        let key = if a < b { (a, b) } else { (b, a) };
        let flow = flows.entry(key).or_insert_with(|| {
            order.push(key);
            // A SYN-ACK first means the other side is the client.
            let client = if tcp.syn() && tcp.ack() { b } else { a };
            Flow {
                client,
                next: [None, None],
                data: [Vec::new(), Vec::new()],
            }
        });
        if tcp.syn() && !tcp.ack() {
            flow.client = a;
        }
        let dir = usize::from(a != flow.client);
        let seq = tcp.sequence_number();
        let payload = tcp.payload();
        if tcp.syn() {
            flow.next[dir] = Some(seq.wrapping_add(1));
            continue;
        }
        if payload.is_empty() {
            continue;
        }
        let next = *flow.next[dir].get_or_insert(seq);
        let skip = next.wrapping_sub(seq) as usize;
        if skip > payload.len() || (seq.wrapping_sub(next) as i32) > 0 {
            continue; // a full retransmission, or a segment after a hole
        }
        flow.data[dir].extend_from_slice(&payload[skip..]);
        flow.next[dir] = Some(seq.wrapping_add(payload.len() as u32));
    }
    order
        .into_iter()
        .filter_map(|k| flows.remove(&k))
        .map(|f| {
            let [c, s] = f.data;
            (c, s)
        })
        .collect()
}

/// What a conformance case's rules look for, checked against every flow of its capture.
enum Want {
    /// Instance `i` of any flow equals these bytes.
    Eq(A, bool, &'static [u8]),
    /// Some instance of some flow contains these bytes.
    Contains(A, bool, &'static [u8]),
}

#[test]
fn conformance_captures_produce_what_their_rules_look_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cases/app");
    let Some(_ran) = must_run::require_shared(&root, module_path!()) else {
        return;
    };
    let cases: &[(&str, &[Want])] = &[
        (
            "tls/tls-issuerdn",
            &[Want::Eq(
                A::TlsCertIssuer,
                false,
                b"C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS",
            )],
        ),
        (
            "tls/tls-cert-noissuer",
            &[Want::Contains(A::TlsCertSubject, false, b"localhost")],
        ),
        (
            "tls/tls-client-hello-frag-01",
            &[Want::Contains(A::TlsSni, true, b"google")],
        ),
        (
            "tls/tls-random-6989",
            &[
                Want::Eq(A::TlsRandomTime, true, &[0x54, 0xb4, 0xc9, 0x7b]),
                Want::Eq(A::TlsRandomTime, false, &[0x54, 0xb8, 0xf7, 0x73]),
            ],
        ),
        (
            "tls/tls-subjectaltname",
            &[Want::Eq(A::TlsSubjectAltName, false, b"www.bing.com")],
        ),
        (
            "bug-5758",
            &[Want::Contains(A::TlsSni, true, b"ftp.nluug.nl")],
        ),
        (
            "bug-7264-tcp-3whs-ack-data-tls-01",
            &[Want::Contains(A::TlsSni, true, b".githubusercontent.com")],
        ),
        (
            "ips/firewall-04-tls-sni-enforce",
            &[Want::Contains(
                A::TlsSni,
                true,
                b"raw.githubusercontent.com",
            )],
        ),
        (
            "bug-8336-02-bypass",
            &[
                Want::Eq(A::Ja3Hash, true, b"fae0e5d973c96ae1888b99538efa0363"),
                Want::Eq(A::Ja3sHash, false, b"907bf3ecef1c987c889946b737b43de8"),
            ],
        ),
        (
            "detect-bidir-ja3",
            &[
                Want::Eq(A::Ja3sHash, false, b"5d79edf64e03689ff559a54e9d9487bc"),
                Want::Contains(A::Ja3String, true, b"771,49196-49200"),
            ],
        ),
        (
            "tls-duplicate-hello",
            &[Want::Contains(A::Ja3String, true, b"771,")],
        ),
    ];
    let mut failures = Vec::new();
    for (case, wants) in cases {
        let pcap = root.join(case).join("input.pcap");
        assert!(pcap.is_file(), "{} missing", pcap.display());
        let conns: Vec<TlsConn> = tcp_streams(&pcap)
            .into_iter()
            .map(|(client, server)| {
                let mut c = conn();
                c.feed(true, &client);
                c.feed(false, &server);
                c
            })
            .collect();
        for w in *wants {
            let (b, to_server, needle, exact) = match w {
                Want::Eq(b, d, n) => (*b, *d, *n, true),
                Want::Contains(b, d, n) => (*b, *d, *n, false),
            };
            let found = conns.iter().any(|c| {
                (0..64)
                    .filter_map(|i| c.buffer_n(b, to_server, i))
                    .any(|v| {
                        if exact {
                            v == needle
                        } else {
                            v.windows(needle.len()).any(|x| x == needle)
                        }
                    })
            });
            if !found {
                let got: Vec<String> = conns
                    .iter()
                    .filter_map(|c| c.buffer_n(b, to_server, 0))
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect();
                failures.push(format!(
                    "{case}: {b:?} wanted {:?}, got {got:?}",
                    String::from_utf8_lossy(needle)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // tls-cert-validity: notafter > 2015 and notbefore < 2025 (year comparisons).
    let pcap = root.join("tls/tls-cert-validity/input.pcap");
    let ok = tcp_streams(&pcap).into_iter().any(|(client, server)| {
        let mut c = conn();
        c.feed(true, &client);
        c.feed(false, &server);
        matches!((c.cert_not_before(), c.cert_not_after()), (Some(nb), Some(na))
            if cert::iso8601(na).as_str() > "2016" && cert::iso8601(nb).as_str() < "2025")
    });
    assert!(ok, "tls-cert-validity: no certificate dates");
}

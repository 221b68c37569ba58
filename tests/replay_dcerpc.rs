//! DCE/RPC through `verdict replay` on generated captures: `dce_iface`, `dce_opnum`,
//! `dce_stub_data` and `dce` byte order over TCP (bind then request, a fragmented request,
//! big-endian data representation) and over UDP (connectionless requests), each keyword
//! firing and not firing; and real Snort community DCE/RPC rules firing on a crafted
//! request.

#[path = "common/capture.rs"]
mod capture;
#[path = "common/must_run.rs"]
mod must_run;
use capture::{conversation, replay_alerts as alerts};
use verdict_engine::app::dcerpc::pdu::Enc;

const SRVSVC: &str = "4b324fc8-1670-01d3-1278-5a47bf6ee188";
const LSASS: &str = "3919286a-b10c-11d0-9ba8-00c04fd92ef5";
const LE: Enc = Enc { big: false };
const BE: Enc = Enc { big: true };

/// A TCP conversation on `dp`: bind srvsvc v3 (context 0, accepted) and lsass v0
/// (context 1, rejected), then the client's `requests`, each answered by an empty PDU-less
/// acknowledgment.
fn association(e: Enc, sp: u16, dp: u16, requests: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let bind = e.bind(1, &[(0, SRVSVC, 3), (1, LSASS, 0)]);
    let ack = e.bind_ack(1, &[true, false]);
    let mut turns: Vec<(bool, &[u8])> = vec![(true, &bind), (false, &ack)];
    for r in requests {
        turns.push((true, r));
    }
    conversation(sp, dp, &turns)
}

/// A UDP datagram from the client to `dp`.
fn udp(dp: u16, payload: &[u8]) -> Vec<u8> {
    capture::dgram(true, 40000, dp, payload)
}

const RULES: &str = r#"alert tcp any any -> any any (msg:"srvsvc"; flow:to_server,established; dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188; sid:1;)
alert tcp any any -> any any (msg:"srvsvc v>2 opnum 15"; dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188,>2; dce_opnum:15; sid:2;)
alert tcp any any -> any any (msg:"srvsvc v<3"; dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188,<3; sid:3;)
alert tcp any any -> any any (msg:"opnum 16"; dce_opnum:16-20; sid:4;)
alert tcp any any -> any any (msg:"rejected lsass"; dce_iface:3919286a-b10c-11d0-9ba8-00c04fd92ef5; sid:5;)
alert tcp any any -> any any (msg:"stub"; dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188; dce_stub_data; content:"PAYLOAD"; sid:6;)
alert tcp any any -> any any (msg:"stub le 0x100"; dce_stub_data; byte_test:4,=,256,0,dce; sid:7;)
alert tcp any any -> any any (msg:"stub be 0x100"; dce_stub_data; byte_test:4,=,65536,0,dce; sid:8;)
alert tcp any any -> any any (msg:"stub absent"; dce_stub_data; content:"NOPE"; sid:9;)
alert tcp any any -> any any (msg:"suricata names"; dcerpc.iface:4b324fc8-1670-01d3-1278-5a47bf6ee188; dcerpc.opnum:15; dcerpc.stub_data; content:"PAY"; sid:10;)
"#;

/// Stub data: 0x00000100 little-endian (0x00010000 read big-endian), then `PAYLOAD`.
const STUB: &[u8] = b"\x00\x01\x00\x00PAYLOAD";

#[test]
fn bind_and_request_over_tcp() {
    let frames = association(LE, 40100, 135, &[LE.request(2, 0x03, 0, 15, STUB)]);
    assert_eq!(alerts("dce-le", RULES, &frames, true), vec![1, 2, 6, 7, 10]);
    // On a dynamic port too: found by content.
    let frames = association(LE, 40101, 49157, &[LE.request(2, 0x03, 0, 15, STUB)]);
    assert_eq!(
        alerts("dce-dyn", RULES, &frames, true),
        vec![1, 2, 6, 7, 10]
    );
    // Another opnum, and a request on the rejected context.
    let frames = association(
        LE,
        40102,
        135,
        &[
            LE.request(2, 0x03, 0, 17, b"x"),
            LE.request(3, 0x03, 1, 15, b"y"),
        ],
    );
    assert_eq!(alerts("dce-other", RULES, &frames, true), vec![1, 4]);
}

#[test]
fn big_endian_data_representation() {
    // The same stub bytes read big-endian: `dce` follows the request's representation.
    let frames = association(BE, 40103, 135, &[BE.request(2, 0x03, 0, 15, STUB)]);
    assert_eq!(alerts("dce-be", RULES, &frames, true), vec![1, 2, 6, 8, 10]);
}

#[test]
fn fragmented_request_is_reassembled() {
    // `PAYLOAD` is split across the fragments: only the reassembled stub holds it. Each
    // rule fires once per request (the interface rules already on the first fragment).
    let frames = association(
        LE,
        40104,
        135,
        &[
            LE.request(4, 0x01, 0, 15, b"\x00\x01\x00\x00PAY"),
            LE.request(4, 0x00, 0, 15, b"LO"),
            LE.request(4, 0x02, 0, 15, b"AD"),
        ],
    );
    assert_eq!(
        alerts("dce-frag", RULES, &frames, true),
        vec![1, 2, 6, 7, 10]
    );
    // All PDUs in one segment, split in the middle of headers across two.
    let all = LE.bind(1, &[(0, SRVSVC, 3)]);
    let ack = LE.bind_ack(1, &[true]);
    let mut reqs = LE.request(5, 0x01, 0, 15, b"\x00\x01\x00\x00PAY");
    reqs.extend(LE.request(5, 0x02, 0, 15, b"LOAD"));
    let (a, b) = reqs.split_at(30);
    let frames = conversation(
        40105,
        135,
        &[(true, &all), (false, &ack), (true, a), (true, b)],
    );
    assert_eq!(
        alerts("dce-split", RULES, &frames, true),
        vec![1, 2, 6, 7, 10]
    );
}

const UDP_RULES: &str = r#"alert udp any any -> any any (msg:"cl srvsvc"; dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188; dce_opnum:9; sid:21;)
alert udp any any -> any any (msg:"cl any_frag"; dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188,any_frag; sid:22;)
alert udp any any -> any any (msg:"cl stub"; dce_stub_data; content:"PAYLOAD"; byte_test:4,=,256,0,dce; sid:23;)
alert udp any any -> any any (msg:"cl lsass"; dce_iface:3919286a-b10c-11d0-9ba8-00c04fd92ef5; sid:24;)
"#;

#[test]
fn connectionless_requests_over_udp() {
    let frames = vec![udp(135, &LE.cl_request(SRVSVC, 1, 9, 0, true, STUB))];
    assert_eq!(alerts("dce-cl", UDP_RULES, &frames, true), vec![21, 22, 23]);
    // A second fragment matches dce_iface only with any_frag.
    let frames = vec![udp(1030, &BE.cl_request(SRVSVC, 1, 9, 1, true, b"rest"))];
    assert_eq!(alerts("dce-cl-frag", UDP_RULES, &frames, true), vec![22]);
    // Not DCE/RPC: nothing.
    let frames = vec![udp(135, b"\x04\x00hello, not a request")];
    assert!(alerts("dce-cl-junk", UDP_RULES, &frames, true).is_empty());
}

/// The first commented-out community rule with `sid:N;`, uncommented.
fn community_rule(text: &str, sid: u32) -> String {
    let needle = format!("sid:{sid};");
    let line = text
        .lines()
        .find(|l| l.contains(&needle) && l.contains("dce_iface"))
        .unwrap_or_else(|| panic!("sid {sid} not in the community rules"));
    line.trim_start_matches(['#', ' ']).to_string()
}

#[test]
fn community_rules_fire_on_crafted_requests() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/rules/snort-community/community.rules"
    );
    let Some(_ran) = must_run::require_shared(path, module_path!()) else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    // 2508 (TCP) and 2511 (UDP): lsass DsRolerUpgradeDownlevelServer, opnum 9, with
    // byte_test:4,>,256,0,dce on the stub; 3158: ISystemActivator CoGetInstanceFromFile,
    // opnum 1, two contents then byte_test:4,>,256,-8,relative,dce.
    let rules = [2508, 2511, 3158]
        .map(|s| community_rule(&text, s))
        .join("\n")
        .replace("$EXTERNAL_NET", "any")
        .replace("$HOME_NET", "any");
    let activator = "000001a0-0000-0000-c000-000000000046";
    let bind = LE.bind(1, &[(0, LSASS, 0), (1, activator, 0)]);
    let ack = LE.bind_ack(1, &[true, true]);
    let big = 0x1000u32.to_le_bytes();
    let small = 16u32.to_le_bytes();
    // The marshalled name: a header, a pad, the length the rule tests, then `\\`.
    let name = |len: u32| {
        let mut v = b"\x01\x10\x08\x00\xcc\xcc\xcc\xcc\0\0\0\0".to_vec();
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(b"\\\0\\\0host");
        v
    };
    let tcp = |sp: u16, reqs: &[Vec<u8>]| {
        let mut turns: Vec<(bool, &[u8])> = vec![(true, &bind), (false, &ack)];
        for r in reqs {
            turns.push((true, r));
        }
        conversation(sp, 1025, &turns)
    };
    let hit = tcp(
        40200,
        &[
            LE.request(2, 0x03, 0, 9, &big),
            LE.request(3, 0x03, 1, 1, &name(600)),
        ],
    );
    assert_eq!(
        alerts("dce-community", &rules, &hit, true),
        vec![2508, 3158]
    );
    // Below the thresholds, or another opnum: no alert.
    let miss = tcp(
        40201,
        &[
            LE.request(2, 0x03, 0, 9, &small),
            LE.request(3, 0x03, 0, 10, &big),
            LE.request(4, 0x03, 1, 1, &name(200)),
            LE.request(5, 0x03, 1, 2, &name(600)),
        ],
    );
    assert!(alerts("dce-community-miss", &rules, &miss, true).is_empty());
    let cl = vec![
        udp(
            1030,
            &BE.cl_request(LSASS, 0, 9, 0, true, &0x1000u32.to_be_bytes()),
        ),
        udp(
            1030,
            &BE.cl_request(LSASS, 0, 9, 0, true, &0x10u32.to_be_bytes()),
        ),
    ];
    assert_eq!(alerts("dce-community-cl", &rules, &cl, true), vec![2511]);
}

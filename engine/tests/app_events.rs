//! `app-layer-event` and `absent` from rule text through replay of generated captures: an
//! HTTP, a TLS and a DNS anomaly each alert once per transaction (TLS: per session), on the
//! packet that raised them or — for a rule of the other direction — on that direction's next
//! packet; an absent request body is judged only once the request is complete.

mod common;

use common::*;

/// Replays `frames` (L3 packets) against `rules`; returns (sid, pcap_cnt) of every alert.
fn replay(rules: &str, frames: &[Vec<u8>]) -> Vec<(u64, u64)> {
    replay_frames(TempDir::new("appevent").path(), rules, frames)
}

/// A TCP conversation from port 40000 (see [`conversation_on`]).
fn conversation(dport: u16, turns: &[(bool, &[u8])]) -> Vec<Vec<u8>> {
    conversation_on(40000, dport, turns)
}

#[test]
fn http_events_alert_once_per_transaction_where_suricata_raises_them() {
    // A header line of 24000 bytes in three segments: libhtp's 18000-byte field limit is
    // passed by the third one (packet 8), before the line ends (packet 10).
    let mut start = b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    start.extend(std::iter::repeat_n(b'x', 8000 - start.len()));
    let chunk = vec![b'y'; 8000];
    let second = b"GET /b HTTP/1.1\r\nAuthorization: Turbo abc\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Encoding: identity, identity, identity, gzip\r\n\r\nhi";
    let frames = conversation(
        80,
        &[
            (true, &start),
            (true, &chunk),
            (true, &chunk),
            (true, b"zz\r\n\r\n"),
            (false, b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n"),
            (true, second),
            (false, response),
        ],
    );
    let got = replay(
        r#"
alert http any any -> any any (msg:"too long"; flow:established,to_server; app-layer-event:http.request_field_too_long; sid:1;)
alert http any any -> any any (msg:"auth"; flow:to_server; app-layer-event:http.request_auth_unrecognized; sid:2;)
alert http any any -> any any (msg:"layers, request side"; flow:to_server; app-layer-event:http.too_many_encoding_layers; sid:3;)
alert http any any -> any any (msg:"layers, any side"; app-layer-event:http.too_many_encoding_layers; sid:4;)
alert http any any -> any any (msg:"never raised here"; app-layer-event:http.request_line_invalid; sid:5;)
"#,
        &frames,
    );
    // Packets: 1-3 handshake, 4/6/8/10 request pieces, 12 response, 14 second request,
    // 16 second response and 17 the client's ACK of it.
    assert_eq!(got, [(1, 8), (2, 14), (3, 17), (4, 16)]);
}

/// One TLS record of content type 22 holding `body`.
fn handshake_record(body: &[u8]) -> Vec<u8> {
    let mut r = vec![0x16, 0x03, 0x01];
    r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(body);
    r
}

#[test]
fn a_tls_event_alerts_once_per_session() {
    // A ClientHello-shaped record start, then two handshake messages of unknown type 99.
    let hello = handshake_record(b"\x01\x00\x00\x00");
    let bad = handshake_record(b"\x63\x00\x00\x01\x00");
    let frames = conversation(443, &[(true, &hello), (true, &bad), (true, &bad)]);
    let got = replay(
        r#"
alert tls any any -> any any (msg:"bad handshake"; flow:established; app-layer-event:tls.invalid_handshake_message; sid:1;)
alert tls any any -> any any (msg:"bad sni"; app-layer-event:tls.invalid_sni_type; sid:2;)
"#,
        &frames,
    );
    assert_eq!(got.iter().filter(|a| a.0 == 1).count(), 1, "{got:?}");
    assert!(got.iter().all(|a| a.0 == 1), "{got:?}");
}

/// A DNS message: id 0x1234, `flags`, one question www.example.com/A.
fn dns_msg(flags: u16) -> Vec<u8> {
    let mut m = vec![0x12, 0x34];
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    m
}

#[test]
fn dns_events_are_per_message_and_per_direction() {
    let frames = [
        udp(CLI, SRV, 5353, 53, &dns_msg(0x0140)), // query, RD and Z set
        udp(SRV, CLI, 53, 5353, &dns_msg(0x8180)), // response, clean
        udp(CLI, SRV, 5353, 53, &dns_msg(0x8100)), // a response sent to the server
        udp(CLI, SRV, 5353, 53, &dns_msg(0x3900)), // opcode 7
    ];
    let got = replay(
        r#"
alert dns any any -> any any (msg:"z"; app-layer-event:dns.z_flag_set; sid:1;)
alert dns any any -> any any (msg:"not a request"; flow:to_server; app-layer-event:dns.not_request; sid:2;)
alert dns any any -> any any (msg:"opcode"; app-layer-event:dns.invalid_opcode; sid:3;)
alert dns any any -> any any (msg:"not a response"; app-layer-event:dns.not_response; sid:4;)
"#,
        &frames,
    );
    assert_eq!(got, [(1, 1), (2, 3), (3, 4)]);
}

#[test]
fn absent_waits_for_the_request_to_complete() {
    // Transaction 0: a POST whose body arrives in a later segment (not absent). Transaction
    // 1: a POST without a body (absent once its head ends). Transaction 2: body "abc".
    let frames = conversation(
        80,
        &[
            (true, b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\n"),
            (true, b"xyz"),
            (true, b"POST /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            (true, b"POST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        ],
    );
    let got = replay(
        r#"
alert http any any -> any any (msg:"no body"; flow:to_server; http.request_body; absent; http.method; content:"POST"; sid:1;)
alert http any any -> any any (msg:"no body or not abc"; flow:to_server; http.request_body; absent: or_else; content:!"abc"; sid:2;)
alert http any any -> any any (msg:"no body or abc"; flow:to_server; http.request_body; absent: or_else; content:"abc"; sid:3;)
"#,
        &frames,
    );
    assert_eq!(got, [(1, 8), (2, 6), (2, 8), (3, 8), (3, 10)]);
}

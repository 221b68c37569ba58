//! `app-layer-protocol` through `verdict replay` on generated captures: protocols found by
//! content on any port, negation that waits for detection, `failed`, the modes, and rules
//! that test only the protocol matching on the packets that completed detection.

#[path = "common/capture.rs"]
mod capture;
use capture::{conversation, replay_alerts as alerts, Dir};

use std::process::Command;

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

const REQ: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn http_on_a_non_standard_port_is_http() {
    let rules = r#"alert tcp any any -> any any (msg:"http by content"; flow:to_server; app-layer-protocol:http; content:"GET /index"; sid:1;)
alert tcp any any -> any any (msg:"not tls"; app-layer-protocol:!tls; content:"200 OK"; sid:2;)
alert tcp any any -> any any (msg:"not http"; app-layer-protocol:!http; content:"HTTP/1.1"; sid:3;)
alert tcp any any -> any any (msg:"http request side"; app-layer-protocol:http,to_server; content:"200 OK"; sid:4;)
alert tcp any any -> any any (msg:"tls either side"; app-layer-protocol:tls,either; content:"HTTP"; sid:5;)
alert tcp any any -> any any (msg:"http or tls"; app-layer-protocol:tls,http1; content:"Host:"; sid:6;)
alert tcp any any -> any any (msg:"uri of http"; app-layer-protocol:http; http.uri; content:"/index"; sid:7;)
alert tcp any any -> any any (msg:"uri not http"; app-layer-protocol:!http; http.uri; content:"/index"; sid:8;)
"#;
    let frames = conversation(40001, 8081, &[(true, REQ), (false, RESP)]);
    assert_eq!(
        alerts("http8081", rules, &frames, true),
        vec![1, 2, 4, 6, 7]
    );
    // As an IDS too: the engine inspects each byte after running detection on it.
    assert_eq!(
        alerts("http8081-ids", rules, &frames, false),
        vec![1, 2, 4, 6, 7]
    );
}

#[test]
fn protocol_only_rules_match_on_the_detection_packets() {
    let rules = r#"alert tcp any any -> any any (msg:"http detected"; app-layer-protocol:http; sid:10;)
alert tcp any any -> any any (msg:"flow is http"; app-layer-protocol:http,final; sid:11;)
alert tcp any any -> any any (msg:"tls detected"; app-layer-protocol:tls; sid:12;)
"#;
    let frames = conversation(
        40002,
        8081,
        &[(true, REQ), (false, RESP), (true, REQ), (false, RESP)],
    );
    // Inline: the request completes the client direction's detection, the response the
    // server's; later transactions on the flow do not match again.
    assert_eq!(alerts("pd-ips", rules, &frames, true), vec![10, 10, 11, 11]);
    // As an IDS, a direction's result is known once the peer acknowledged its data: the
    // server's answer makes the request side (and so the flow) known, the client's next
    // packet the response side — the packet's own direction is known only then.
    assert_eq!(alerts("pd-ids", rules, &frames, false), vec![10, 11, 11]);
}

/// A TLS ClientHello record's first bytes and a ServerHello's.
const HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x03];
const SHELLO: &[u8] = &[0x16, 0x03, 0x03, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x03];

#[test]
fn tls_on_443_and_something_else_on_443() {
    let rules = r#"alert tcp any any -> any 443 (msg:"tls on 443"; app-layer-protocol:tls; sid:20;)
alert tcp any any -> any any (msg:"443 not tls"; app-layer-protocol:!tls; content:"junk"; sid:21;)
alert tcp any any -> any any (msg:"detection failed"; app-layer-protocol:failed; sid:22;)
alert tcp any any -> any any (msg:"too early"; app-layer-protocol:!http; content:"hello"; sid:23;)
alert tcp any any -> any any (msg:"not http"; app-layer-protocol:!http; content:"junk"; sid:24;)
alert tcp any any -> any any (msg:"undecided"; app-layer-protocol:unknown; content:"hello"; sid:25;)
"#;
    let tls = conversation(40003, 443, &[(true, HELLO), (false, SHELLO)]);
    assert_eq!(alerts("tls443", rules, &tls, true), vec![20]);
    let other = conversation(
        40004,
        443,
        &[(true, b"hello there\r\n"), (false, b"junk reply\r\n")],
    );
    // The client's bytes match nothing, so detection waits for the server: `!http` cannot
    // match yet, `unknown` does; the server's bytes fail it too, and negations now hold.
    assert_eq!(
        alerts("other443", rules, &other, true),
        vec![21, 22, 24, 25]
    );
}

#[test]
fn conflicting_or_bad_values_are_rule_errors() {
    let d = Dir::new("alp-bad");
    let r = d.file(
        "bad.rules",
        "alert tcp any any -> any any (app-layer-protocol:http,bogus; sid:1;)\n\
         alert tcp any any -> any any (app-layer-protocol:!smtp; app-layer-protocol:http; sid:2;)\n\
         alert http any any -> any any (app-layer-protocol:!smtp; sid:3;)\n\
         alert tcp any any -> any any (app-layer-protocol:!http; app-layer-protocol:!smtp; sid:4;)\n",
    );
    let o = Command::new(VERDICT).arg("check").arg(&r).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("`bogus` is not an application protocol"),
        "{text}"
    );
    assert!(text.contains("bad.rules:1:55"), "{text}");
    assert!(text.contains("mix a negated and a non-negated"), "{text}");
    assert!(text.contains("already names the protocol http"), "{text}");
    assert!(!text.contains("bad.rules:4"), "{text}");
}

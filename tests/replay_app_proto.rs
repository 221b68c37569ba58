//! `app-layer-protocol` through `verdict replay` on generated captures: protocols found by
//! content on any port, negation that waits for detection, `failed`, the modes, and rules
//! that test only the protocol matching on the packets that completed detection.

use etherparse::PacketBuilder;
use std::process::Command;

#[path = "common/capture.rs"]
mod capture;
use capture::{write_pcap, Dir};

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");
const CLI: [u8; 4] = [192, 0, 2, 7];
const SRV: [u8; 4] = [198, 51, 100, 7];

/// One TCP segment with the ACK flag (and SYN when `syn`).
fn seg(to_server: bool, sp: u16, dp: u16, seq: u32, ack: u32, syn: bool, data: &[u8]) -> Vec<u8> {
    let (src, dst, s, d) = if to_server {
        (CLI, SRV, sp, dp)
    } else {
        (SRV, CLI, dp, sp)
    };
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(s, d, seq, 64240);
    if syn {
        b = b.syn();
    }
    if ack != 0 {
        b = b.ack(ack);
    }
    let mut v = Vec::new();
    b.write(&mut v, data).unwrap();
    v
}

/// A whole conversation on `dp`: the handshake, each (client side?, bytes) in turn with
/// correct sequence and acknowledgment numbers, then a bare ACK of the last one.
fn conversation(sp: u16, dp: u16, turns: &[(bool, &[u8])]) -> Vec<Vec<u8>> {
    let (mut c, mut s) = (1000u32, 5000u32);
    let mut v = vec![
        seg(true, sp, dp, c, 0, true, b""),
        seg(false, sp, dp, s, c + 1, true, b""),
    ];
    c += 1;
    s += 1;
    v.push(seg(true, sp, dp, c, s, false, b""));
    let mut last_client = true;
    for &(client, data) in turns {
        if client {
            v.push(seg(true, sp, dp, c, s, false, data));
            c += data.len() as u32;
        } else {
            v.push(seg(false, sp, dp, s, c, false, data));
            s += data.len() as u32;
        }
        last_client = client;
    }
    if last_client {
        v.push(seg(false, sp, dp, s, c, false, b""));
    } else {
        v.push(seg(true, sp, dp, c, s, false, b""));
    }
    v
}

/// Replays `frames` with `rules` (inline when `ips`) and returns the alerts' sids, sorted.
fn alerts(tag: &str, rules: &str, frames: &[Vec<u8>], ips: bool) -> Vec<u64> {
    let d = Dir::new(&format!("alp-{tag}"));
    let pcap = d.0.join("c.pcap");
    write_pcap(&pcap, frames);
    let r = d.file("t.rules", rules);
    let out = d.0.join("out");
    let mut cmd = Command::new(VERDICT);
    cmd.arg("replay")
        .arg(&pcap)
        .arg("-r")
        .arg(&r)
        .arg("-o")
        .arg(&out);
    if ips {
        cmd.arg("--simulate-ips");
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut sids: Vec<u64> = std::fs::read_to_string(out.join("eve.json"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event_type"] == "alert")
        .map(|v| v["alert"]["signature_id"].as_u64().unwrap())
        .collect();
    sids.sort_unstable();
    sids
}

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

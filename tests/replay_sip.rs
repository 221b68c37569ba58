//! SIP through `verdict replay` on generated captures: over UDP (one message per datagram,
//! on the SIP ports or found by content elsewhere) and TCP (messages framed out of the
//! stream), requests and responses, folded and compact headers. Each Suricata `sip.*`
//! buffer and Snort `sip_method`/`sip_stat_code`/`sip_header`/`sip_body` rule fires on the
//! message that has what it looks for and not on the others.

#[path = "common/capture.rs"]
mod capture;
use capture::{conversation, dgram, replay_alerts};

const RULES: &str = r#"alert sip any any -> any any (msg:"method"; sip.method; content:"INVITE"; sid:1;)
alert sip any any -> any any (msg:"uri"; sip.uri; content:"sip:bob@"; startswith; sid:2;)
alert sip any any -> any any (msg:"request line"; sip.request_line; content:"INVITE sip:bob@example.com SIP/2.0"; bsize:34; sid:3;)
alert sip any any -> any any (msg:"stat code"; sip.stat_code; content:"486"; sid:4;)
alert sip any any -> any any (msg:"stat msg"; sip.stat_msg; content:"Busy Here"; sid:5;)
alert sip any any -> any any (msg:"response line"; sip.response_line; content:"SIP/2.0 486 Busy Here"; sid:6;)
alert sip any any -> any any (msg:"protocol, responses"; flow:to_client; sip.protocol; content:"SIP/2.0"; bsize:7; sid:7;)
alert sip any any -> any any (msg:"from"; sip.from; content:"alice"; sid:8;)
alert sip any any -> any any (msg:"to, folded"; sip.to; content:"Bob <sip:bob@example.com>"; sid:9;)
alert sip any any -> any any (msg:"via, compact"; sip.via; content:"proxy.example.com"; sid:10;)
alert sip any any -> any any (msg:"user agent"; sip.user_agent; content:"friendly-scanner"; sid:11;)
alert sip any any -> any any (msg:"content type, compact"; sip.content_type; content:"application/sdp"; sid:12;)
alert sip any any -> any any (msg:"content length, compact"; sip.content_length; content:"4"; bsize:1; sid:13;)
alert udp any any -> any any (msg:"snort invite"; flow:to_server; content:"INVITE"; fast_pattern:only; sip_method:invite; sid:14;)
alert udp any any -> any any (msg:"snort not invite"; sip_method:!invite; sid:15;)
alert udp any any -> any any (msg:"snort 4xx"; flow:to_client; sip_stat_code:4; content:"SIP/2.0"; fast_pattern:only; sid:16;)
alert udp any any -> any any (msg:"snort ringing"; sip_stat_code:180; sid:17;)
alert udp any any -> any any (msg:"snort header"; sip_header; content:"() {"; sid:18;)
alert udp any any -> any any (msg:"snort body"; sip_body; content:"v=0"; sid:19;)
alert tcp any any -> any 5060 (msg:"snort invite tcp"; flow:to_server,established; sip_method:invite; sid:20;)
alert tcp any 5060 -> any any (msg:"snort 1xx tcp"; flow:to_client,established; sip_stat_code:1; sid:21;)
alert tcp any any -> any any (msg:"snort header tcp"; sip_header; content:"Max-Forwards"; sid:22;)
"#;

/// An INVITE with a folded `To`, compact `v`, `f`, `c`, `l`, and a 4-byte body.
const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
v: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
To: Bob\r\n <sip:bob@example.com>\r\n\
f: Alice <sip:alice@example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
c: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\n";

const BUSY: &[u8] = b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP pc33.example.com\r\nCSeq: 314159 INVITE\r\nContent-Length: 0\r\n\r\n";
const RINGING: &[u8] =
    b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP pc33.example.com\r\nContent-Length: 0\r\n\r\n";

/// Alerts of a capture, inline and as an IDS (which must agree).
fn alerts(tag: &str, frames: &[Vec<u8>]) -> Vec<u64> {
    let ips = replay_alerts(&format!("sip-{tag}"), RULES, frames, true);
    let ids = replay_alerts(&format!("sip-{tag}-ids"), RULES, frames, false);
    assert_eq!(ips, ids, "{tag}: inline and IDS differ");
    ips
}

#[test]
fn udp_request_every_request_buffer_and_predicate() {
    let got = alerts("udp-invite", &[dgram(true, 40500, 5060, INVITE)]);
    assert_eq!(got, vec![1, 2, 3, 8, 9, 10, 12, 13, 14, 19]);
}

#[test]
fn udp_response_reads_response_buffers_only() {
    let frames = [
        dgram(true, 40501, 5060, INVITE),
        dgram(false, 40501, 5060, BUSY),
    ];
    let got = alerts("udp-busy", &frames);
    // The INVITE's alerts, then the response's: code, reason, line, version, 4xx.
    assert_eq!(got, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 16, 19]);
    // A response sent towards the server is no SIP message of that direction (Suricata's
    // request parser fails on it), so nothing reads it as a response.
    let wrong = [
        dgram(true, 40502, 5060, b"OPTIONS sip:x SIP/2.0\r\n\r\n"),
        dgram(true, 40502, 5060, BUSY),
    ];
    assert_eq!(alerts("udp-wrong-way", &wrong), vec![15]);
}

#[test]
fn udp_by_content_off_the_sip_ports() {
    let options = b"OPTIONS sip:100@198.51.100.7 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.7:5061\r\n\
User-Agent: friendly-scanner\r\n\
X-Probe: () { :; }; /bin/id\r\n\
Content-Length: 0\r\n\r\n";
    let got = alerts("udp-scan", &[dgram(true, 40503, 15060, options)]);
    assert_eq!(got, vec![11, 15, 18]);
    // HTTP's OPTIONS on the same port is not SIP; neither is text that merely names SIP.
    let http = b"OPTIONS / HTTP/1.1\r\nUser-Agent: friendly-scanner\r\n\r\n";
    assert_eq!(
        alerts("udp-http", &[dgram(true, 40504, 15060, http)]),
        Vec::<u64>::new()
    );
    let text = b"note: INVITE sip:bob@example.com SIP/2.0";
    assert_eq!(
        alerts("udp-text", &[dgram(true, 40505, 15060, text)]),
        Vec::<u64>::new()
    );
}

#[test]
fn tcp_messages_framed_across_segments() {
    // The INVITE split inside its folded header, and a keep-alive before the next request.
    let (a, b) = INVITE.split_at(150);
    let turns: Vec<(bool, &[u8])> = vec![
        (true, a),
        (true, b),
        (false, RINGING),
        (true, b"\r\n\r\n"),
        (
            true,
            b"BYE sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    let got = alerts("tcp", &conversation(40506, 5060, &turns));
    // The INVITE's request buffers (the BYE's URI too), the response's version, Snort's
    // TCP rules; the UDP-only Snort rules stay silent.
    assert_eq!(got, vec![1, 2, 2, 3, 7, 8, 9, 10, 12, 13, 20, 21, 22]);
}

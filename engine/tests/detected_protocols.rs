//! Protocols verdict detects by content without parsing them (FTP, SMTP, SSH, SMB): rules
//! naming them run on their flows' packets and stream, on any port, and never on another
//! protocol's flow on their port. And what counts as stream data: not a RST's payload.

mod common;

use common::*;
use pcap_file::DataLink;
use verdict_engine::detect::DetectConfig;

const RULES: &str = r#"
alert ftp any any -> any any (msg:"ftp MKD overflow"; flow:to_server,established; content:"MKD"; nocase; isdataat:20,relative; sid:1;)
alert smtp any any -> any any (msg:"smtp rcpt"; flow:to_server,established; content:"RCPT TO|3a|"; sid:2;)
alert ssh any any -> any any (msg:"ssh client"; flow:to_server,established; content:"libssh"; sid:3;)
alert smb any any -> any any (msg:"smb2 tree connect"; flow:to_server,established; content:"|fe|SMB"; content:"|03 00|"; distance:8; within:2; sid:4;)
"#;

fn replay(sessions: &[Vec<Vec<u8>>]) -> Vec<(u64, u64)> {
    let det = detector("test.rules", RULES, true, &DetectConfig::default());
    let dir = TempDir::new("detected");
    let pcap = dir.path().join("in.pcap");
    let frames: Vec<Vec<u8>> = sessions.iter().flatten().map(|f| eth(f, &[])).collect();
    write_pcap(&pcap, DataLink::ETHERNET, &frames, None);
    let mut got = replay_alerts(det, &pcap, &dir.path().join("out"));
    got.sort_unstable();
    got
}

#[test]
fn rules_on_detected_protocols_match_their_flows_on_any_port() {
    let long = format!("MKD {}\r\n", "A".repeat(40));
    // NetBIOS session header, then an SMB2 header (64 bytes) and a few body bytes.
    let mut smb = vec![0, 0, 0, 0x48, 0xfe, b'S', b'M', b'B', 64, 0];
    smb.extend_from_slice(&[0; 62]);
    smb[16] = 3; // command TREE_CONNECT: a little-endian u16 at header offset 12
    let got = replay(&[
        // FTP on port 2121: detected from the client's USER command.
        session(41000, 2121, &[b"USER anonymous\r\n", long.as_bytes()]),
        // SMTP on 587, SSH on 2222, SMB on 445.
        session(
            41001,
            587,
            &[b"EHLO client\r\n", b"RCPT TO:<a@example.com>\r\n"],
        ),
        session(41002, 2222, &[b"SSH-2.0-libssh_0.10.6\r\n"]),
        session(41003, 445, &[&smb]),
        // The same bytes on flows of no detected protocol (or another one) do not match.
        session(41004, 21, &[b"HELLO\r\n", long.as_bytes()]),
        session(
            41005,
            25,
            &[b"GET / HTTP/1.1\r\n\r\n", b"RCPT TO:<a@example.com>\r\n"],
        ),
    ]);
    let sids: Vec<u64> = got.iter().map(|&(s, _)| s).collect();
    assert_eq!(sids, vec![1, 2, 3, 4], "{got:?}");
}

#[test]
fn data_on_a_rst_is_packet_data_not_stream_data() {
    // The receiver drops a RST's payload with the connection: a packet rule sees it, a
    // stream-only rule does not, and Suricata 8's `tcp.flags` spelling works as `flags`.
    let rules = r#"
alert tcp-pkt any any -> any any (tcp.flags:R,A; content:"Access Denied"; sid:1;)
alert tcp any any -> any any (flow:only_stream; content:"Access Denied"; sid:2;)
alert tcp any any -> any any (flow:only_stream; content:"Let Me In"; sid:3;)
"#;
    let det = detector("test.rules", rules, true, &DetectConfig::default());
    let dir = TempDir::new("rst-data");
    let mut frames = session(41000, 8080, &[b"Please Let Me In!"]);
    frames.push(tcp(CLI, SRV, 41000, 8080, 118, RST | ACK, b"Access Denied"));
    let frames: Vec<Vec<u8>> = frames.iter().map(|f| eth(f, &[])).collect();
    let pcap = dir.path().join("in.pcap");
    write_pcap(&pcap, DataLink::ETHERNET, &frames, None);
    let got = replay_alerts(det, &pcap, &dir.path().join("out"));
    assert_eq!(got, vec![(3, 4), (1, 6)]);
}

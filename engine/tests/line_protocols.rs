//! SSH, FTP and SMTP buffers and keywords, and `tag`, from rule text through replay of
//! generated captures: each buffer matches its transaction on the packet that completes
//! it, other transactions and other sides do not match, and tagged packets are logged.

mod common;

use common::*;
use md5::{Digest, Md5};

fn replay(rules: &str, frames: &[Vec<u8>]) -> Vec<(u64, u64)> {
    replay_frames(TempDir::new("lineproto").path(), rules, frames)
}

/// An SSH binary packet carrying a KEXINIT with these algorithm name-lists.
fn kexinit(lists: [&str; 10]) -> Vec<u8> {
    let mut payload = vec![20];
    payload.extend([0x42; 16]);
    for l in lists {
        payload.extend((l.len() as u32).to_be_bytes());
        payload.extend(l.as_bytes());
    }
    payload.extend([0; 5]);
    let mut pkt = ((payload.len() + 1 + 4) as u32).to_be_bytes().to_vec();
    pkt.push(4);
    pkt.extend(&payload);
    pkt.extend([0; 4]);
    pkt
}

const CLIENT_KEX: [&str; 10] = [
    "curve25519-sha256",
    "ssh-ed25519",
    "aes128-ctr",
    "aes128-ctr",
    "hmac-sha2-256",
    "hmac-sha2-256",
    "none",
    "none",
    "",
    "",
];
const SERVER_KEX: [&str; 10] = [
    "curve25519-sha256,diffie-hellman-group14-sha256",
    "ssh-ed25519",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "hmac-sha2-512",
    "hmac-sha2-512",
    "none",
    "zlib@openssh.com",
    "",
    "",
];

#[test]
fn ssh_banners_versions_and_hassh() {
    let hassh = format!(
        "{:x}",
        Md5::digest(b"curve25519-sha256;aes128-ctr;hmac-sha2-256;none")
    );
    let rules = format!(
        r#"
alert ssh any any -> any any (msg:"server proto"; ssh.proto; content:"1.99"; sid:1;)
alert ssh any any -> any any (msg:"client software"; flow:to_server; ssh.software; content:"libssh"; sid:2;)
alert ssh any any -> any any (msg:"v2 compatible server"; flow:to_client; ssh.protoversion:2_compat; sid:3;)
alert ssh any any -> any any (msg:"client hassh"; ssh.hassh; content:"{hassh}"; sid:4;)
alert ssh any any -> any any (msg:"server hassh string"; ssh.hassh.server.string; content:"aes256-ctr;hmac-sha2-512;zlib"; sid:5;)
alert ssh any any -> any any (msg:"server software equals"; ssh.softwareversion:OpenSSH_9.6; sid:6;)
alert ssh any any -> any any (msg:"putty"; ssh.software; content:"PuTTY"; sid:7;)
alert ssh any any -> any any (msg:"client software equals"; flow:to_server; ssh.softwareversion:OpenSSH_9.6; sid:8;)
alert ssh any any -> any any (msg:"server hassh is not the client's"; ssh.hassh.server; content:"{hassh}"; sid:9;)
alert ssh any any -> any any (msg:"not a banner"; app-layer-event:ssh.invalid_banner; sid:10;)
"#
    );
    let mut frames = conversation_on(
        40000,
        2222,
        &[
            (false, b"SSH-1.99-OpenSSH_9.6\r\n"),
            (true, b"SSH-2.0-libssh_0.10.6\r\n"),
            (true, &kexinit(CLIENT_KEX)),
            (false, &kexinit(SERVER_KEX)),
        ],
    );
    // A client answering with something that is not a banner (packets 12-17).
    frames.extend(conversation_on(
        40010,
        2222,
        &[
            (false, b"SSH-2.0-OpenSSH_9.6\r\n"),
            (true, b"hello there\r\n"),
        ],
    ));
    assert_eq!(
        replay(&rules, &frames),
        vec![
            (1, 4),
            (2, 6),
            (3, 4),
            (3, 15),
            (4, 8),
            (5, 10),
            (6, 4),
            (6, 15),
            (10, 17)
        ]
    );
}

#[test]
fn ftp_commands_replies_ports_and_bounce() {
    let rules = r#"
alert ftp any any -> any any (msg:"anonymous login"; ftp.command; content:"USER"; ftp.command_data; content:"anonymous"; sid:11;)
alert ftp any any -> any any (msg:"transfer done"; ftp.reply; content:"Transfer complete"; sid:12;)
alert ftp any any -> any any (msg:"login failed"; ftp.completion_code; content:"530"; bsize:3; sid:13;)
alert tcp any any -> any 21 (msg:"GPL FTP PORT bounce attempt"; flow:to_server,established; content:"PORT"; nocase; ftpbounce; pcre:"/^PORT/smi"; sid:14;)
alert ftp any any -> any any (msg:"data port"; ftp.dynamic_port:50000; sid:15;)
alert ftp any any -> any any (msg:"delete"; ftp.command; content:"DELE"; sid:16;)
alert ftp any any -> any any (msg:"reply text has no code"; ftp.reply; content:"226"; sid:17;)
alert ftp any any -> any any (msg:"active port answered"; ftp.command; content:"PORT"; ftp.completion_code; content:"200"; ftp.mode:active; ftp.reply_received:yes; sid:18;)
alert ftp any any -> any any (msg:"passive"; ftp.mode:passive; sid:19;)
"#;
    let frames = conversation_on(
        40001,
        21,
        &[
            (false, b"220 (vsFTPd 3.0.5)\r\n"),
            (true, b"USER anonymous\r\n"),
            (false, b"331 Please specify the password.\r\n"),
            (true, b"PASS x\r\n"),
            (false, b"530 Login incorrect.\r\n"),
            (true, b"PORT 203,0,113,9,195,80\r\n"),
            (false, b"200 PORT command successful.\r\n"),
            (true, b"PORT 192,0,2,2,195,81\r\n"),
            (false, b"200 ok\r\n"),
            (true, b"RETR temp.txt\r\n"),
            (false, b"150 Opening BINARY mode data connection\r\n"),
            (false, b"226 Transfer complete.\r\n"),
        ],
    );
    assert_eq!(
        replay(rules, &frames),
        vec![
            (11, 6),
            (12, 26),
            (13, 12),
            (14, 14),
            (15, 14),
            (18, 16),
            (18, 20)
        ]
    );
}

#[test]
fn smtp_helo_mail_from_rcpt_to_per_transaction() {
    let rules = r#"
alert smtp any any -> any any (msg:"helo"; smtp.helo; content:"evil.example"; sid:21;)
alert smtp any any -> any any (msg:"spam sender"; smtp.mail_from; content:"spam@"; sid:22;)
alert smtp any any -> any any (msg:"victim"; smtp.rcpt_to; content:"<victim@"; sid:23;)
alert smtp any any -> any any (msg:"ham sender"; smtp.mail_from; content:"ham@example.com"; sid:24;)
"#;
    let frames = conversation_on(
        40002,
        25,
        &[
            (false, b"220 mx ESMTP\r\n"),
            (true, b"EHLO evil.example\r\n"),
            (false, b"250 ok\r\n"),
            (true, b"MAIL FROM:<spam@example.net>\r\n"),
            (false, b"250 ok\r\n"),
            (true, b"RCPT TO:<victim@example.com>\r\n"),
            (false, b"250 ok\r\n"),
            (true, b"DATA\r\n"),
            (false, b"354 go ahead\r\n"),
            (
                true,
                b"Subject: hi\r\n\r\nRCPT TO:<victim@data.example>\r\n.\r\n",
            ),
            (true, b"MAIL FROM:<ham@example.org>\r\n"),
        ],
    );
    // smtp.helo is the session's: the second mail transaction sees it too (Suricata).
    assert_eq!(
        replay(rules, &frames),
        vec![(21, 6), (21, 24), (22, 10), (23, 14)]
    );
}

#[test]
fn tagged_packets_follow_the_session_into_eve_and_the_evidence_pcap() {
    let rules = r#"
alert tcp any any -> any any (msg:"tag me"; flow:to_server; content:"TAGME"; tag:session,3,packets; sid:31;)
"#;
    let mut frames = conversation_on(
        40003,
        9999,
        &[
            (true, b"hello TAGME\r\n"),
            (false, b"reply"),
            (true, b"more"),
        ],
    );
    // Another flow is not tagged.
    frames.extend(conversation_on(40004, 9999, &[(true, b"other")]));
    let dir = TempDir::new("tag");
    assert_eq!(replay_frames(dir.path(), rules, &frames), vec![(31, 4)]);
    let eve = read_eve(&dir.path().join("out"));
    let tagged: Vec<(u64, u64, u64)> = eve
        .iter()
        .filter(|e| e["event_type"] == "packet")
        .map(|e| {
            assert!(e["packet"].as_str().is_some_and(|p| !p.is_empty()));
            (
                e["pcap_cnt"].as_u64().unwrap(),
                e["verdict_tag"]["signature_id"].as_u64().unwrap(),
                e["verdict_evidence"]["packet"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tagged, vec![(5, 31, 2), (6, 31, 3), (7, 31, 4)]);
    let file = std::fs::File::open(dir.path().join("out/evidence.pcap")).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        p.unwrap();
        n += 1;
    }
    assert_eq!(n, 4, "the alert's packet and the three tagged ones");
}

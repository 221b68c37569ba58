//! SMTP attachments as `file.data` through `verdict replay` on generated captures: a base64
//! and a quoted-printable attachment fire, the same bytes in the message text (not an
//! attachment) or past the decoder's bound do not.

#[path = "common/capture.rs"]
mod capture;
use base64::Engine as _;
use capture::{conversation, replay_alerts};

const RULES: &str = r#"alert smtp any any -> any any (msg:"eicar attachment"; flow:established,to_server; file.data; content:"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"; sid:1;)
alert smtp any any -> any any (msg:"macro in attachment"; flow:established,to_server; file.data; content:"AutoOpen"; nocase; sid:2;)
"#;

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A client session (greeting, envelope, DATA with `body`, QUIT) against a server that
/// answers each command.
fn session(tag: &str, body: &[u8]) -> Vec<u64> {
    let mut data = b"DATA\r\n".to_vec();
    data.extend_from_slice(body);
    data.extend_from_slice(b"\r\n.\r\n");
    let mut turns: Vec<(bool, &[u8])> = vec![
        (false, b"220 mx.example ESMTP\r\n"),
        (true, b"EHLO client.example\r\n"),
        (false, b"250 mx.example\r\n"),
        (true, b"MAIL FROM:<a@example.net>\r\n"),
        (false, b"250 ok\r\n"),
        (true, b"RCPT TO:<b@example.com>\r\n"),
        (false, b"250 ok\r\n"),
    ];
    // The mail data in segments of one MSS.
    turns.extend(data.chunks(1400).map(|c| (true, c)));
    turns.extend([
        (false, &b"250 queued\r\n"[..]),
        (true, b"QUIT\r\n"),
        (false, b"221 bye\r\n"),
    ]);
    let frames = conversation(40300, 25, &turns);
    let ips = replay_alerts(&format!("smtp-{tag}"), RULES, &frames, true);
    let ids = replay_alerts(&format!("smtp-{tag}-ids"), RULES, &frames, false);
    assert_eq!(ips, ids, "{tag}: inline and IDS differ");
    ips
}

fn multipart(part_headers: &str, part_body: &[u8]) -> Vec<u8> {
    let mut m = b"From: a@example.net\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"=_b1\"\r\n\r\n--=_b1\r\n\
Content-Type: text/plain\r\n\r\nPlease see the attachment.\r\n--=_b1\r\n"
        .to_vec();
    m.extend_from_slice(part_headers.as_bytes());
    m.extend_from_slice(b"\r\n\r\n");
    m.extend_from_slice(part_body);
    m.extend_from_slice(b"\r\n--=_b1--");
    m
}

/// Base64 in 76-character lines, as mailers write it.
fn b64_lines(bytes: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes()
        .chunks(76)
        .collect::<Vec<_>>()
        .join(&b"\r\n"[..])
}

#[test]
fn base64_attachment_is_file_data() {
    let att = multipart(
        "Content-Type: application/octet-stream; name=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"eicar.com\"",
        &b64_lines(EICAR),
    );
    assert_eq!(session("b64", &att), vec![1]);
    // The same text, encoded, in the message body that is no attachment: not a file.
    let mut inline = b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    inline.extend_from_slice(&b64_lines(EICAR));
    assert_eq!(session("b64-inline", &inline), Vec::<u64>::new());
    // An attachment with other bytes.
    let other = multipart(
        "Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64",
        &b64_lines(b"%PDF-1.7 quarterly numbers"),
    );
    assert_eq!(session("b64-other", &other), Vec::<u64>::new());
}

#[test]
fn quoted_printable_attachment_is_decoded() {
    // "Sub AutoOpen()" with the name split by a soft line break and an encoded space.
    let qp = multipart(
        "Content-Type: text/plain; name=\"m.vbs\"\r\nContent-Transfer-Encoding: quoted-printable",
        b"Sub=20Auto=\r\nOpen()\r\nEnd Sub",
    );
    assert_eq!(session("qp", &qp), vec![2]);
    // Undecoded, the word is split: the raw stream never holds "AutoOpen".
    let qp_plain_text = multipart(
        "Content-Type: text/plain",
        b"Sub=20Auto=\r\nOpen()\r\nEnd Sub",
    );
    assert_eq!(session("qp-text", &qp_plain_text), Vec::<u64>::new());
}

#[test]
fn bytes_past_the_bound_are_not_kept() {
    let mut big = vec![b'x'; verdict_engine::app::mime::MAX_DATA];
    big.extend_from_slice(EICAR);
    let att = multipart(
        "Content-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64",
        &b64_lines(&big),
    );
    assert_eq!(session("bound", &att), Vec::<u64>::new());
}

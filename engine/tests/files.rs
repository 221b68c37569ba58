//! File keywords end to end: rule text → compile → replay of generated captures (an HTTP
//! download of a small PDF and a multipart upload of two files), counting alerts per sid.

mod common;

use common::*;
use pcap_file::DataLink;
use std::collections::BTreeMap;
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector};

/// One TCP connection: the client sends `req`, the server answers `resp`, both in segments
/// of at most 500 bytes, then both close. Ethernet frames.
fn exchange(req: &[u8], resp: &[u8]) -> Vec<Vec<u8>> {
    let (sp, dp) = (40000, 80);
    let mut v = vec![
        tcp(CLI, SRV, sp, dp, 100, SYN, b""),
        tcp(SRV, CLI, dp, sp, 500, SYNACK, b""),
        tcp(CLI, SRV, sp, dp, 101, ACK, b""),
    ];
    let (mut cs, mut ss) = (101u32, 501u32);
    for c in req.chunks(500) {
        v.push(tcp(CLI, SRV, sp, dp, cs, PA, c));
        cs += c.len() as u32;
    }
    for c in resp.chunks(500) {
        v.push(tcp(SRV, CLI, dp, sp, ss, PA, c));
        ss += c.len() as u32;
    }
    v.push(tcp(SRV, CLI, dp, sp, ss, FIN | ACK, b""));
    v.push(tcp(CLI, SRV, sp, dp, cs, FIN | ACK, b""));
    v.iter().map(|p| eth(p, &[])).collect()
}

/// Replays `frames` against `rules` (hash lists in `dir`); alerts per sid.
fn alerts_per_sid(dir: &TempDir, rules: &str, frames: &[Vec<u8>]) -> BTreeMap<u64, usize> {
    let rule_file = dir.path().join("test.rules");
    let det = detector(
        rule_file.to_str().unwrap(),
        rules,
        true,
        &DetectConfig::default(),
    );
    let pcap = dir.path().join("in.pcap");
    write_pcap(&pcap, DataLink::ETHERNET, frames, None);
    per_sid(&replay_alerts(det, &pcap, &dir.path().join("out")))
}

fn md5_hex(d: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(d)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small PDF, longer than libmagic's minimum look-ahead.
fn pdf() -> Vec<u8> {
    let mut p =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            .to_vec();
    while p.len() < 1500 {
        p.extend_from_slice(b"% padding line of the test document\n");
    }
    p.extend_from_slice(b"%%EOF\n");
    p
}

#[test]
fn download_name_magic_md5_and_size() {
    let dir = TempDir::new("files-dl");
    let body = pdf();
    std::fs::write(
        dir.path().join("bad.md5"),
        format!("# listed\n{}\n", md5_hex(&body)),
    )
    .unwrap();
    std::fs::write(dir.path().join("other.md5"), format!("{}\n", md5_hex(b"x"))).unwrap();
    let req = b"GET /docs/report.pdf?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    let got = alerts_per_sid(
        &dir,
        r#"
alert http any any -> any any (msg:"magic"; file.magic; content:"PDF document, version 1.4"; sid:1;)
alert http any any -> any any (msg:"name"; file.name; content:"/docs/report.pdf"; endswith; sid:2;)
alert http any any -> any any (msg:"legacy"; fileext:"PDF"; filemagic:"pdf"; filename:"report"; sid:3;)
alert http any any -> any any (msg:"listed md5"; filemd5:bad.md5; sid:4;)
alert http any any -> any any (msg:"not listed"; filemd5:!other.md5; filesize:>1000; sid:5;)
alert http any any -> any any (msg:"too small"; filesize:<1000; sid:6;)
alert http any any -> any any (msg:"other list"; filemd5:other.md5; sid:7;)
alert http any any -> any any (msg:"wrong magic"; file.magic; content:"executable"; sid:8;)
alert http any any -> any any (msg:"wrong ext"; fileext:"exe"; sid:9;)
"#,
        &exchange(req, &resp),
    );
    let want = [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)];
    assert_eq!(got, want.into_iter().collect(), "alerts per sid");
}

#[test]
fn multipart_upload_files_are_separate() {
    let dir = TempDir::new("files-up");
    let titi = b"Titi a vu un gros minet.\n";
    let toto = b"toto est dans un bateau\n";
    std::fs::write(dir.path().join("toto.md5"), format!("{}\n", md5_hex(toto))).unwrap();
    let mut body =
        b"--B0uNd\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nbateau minet\r\n"
            .to_vec();
    for (name, data) in [("titi.txt", &titi[..]), ("toto.txt", &toto[..])] {
        body.extend_from_slice(
            format!(
                "--B0uNd\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{name}\"\r\n\
                 Content-Type: text/plain\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--B0uNd--\r\n");
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: example.com\r\n\
         Content-Type: multipart/form-data; boundary=B0uNd\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let got = alerts_per_sid(
        &dir,
        r#"
alert http any any -> any any (msg:"one file"; file.data; content:"minet"; file.name; content:"titi.txt"; sid:1;)
alert http any any -> any any (msg:"two files"; file.data; content:"bateau"; file.data; content:"minet"; sid:2;)
alert http any any -> any any (msg:"not in one file"; file.data; content:"bateau"; content:"minet"; sid:3;)
alert http any any -> any any (msg:"md5 of the second part"; flow:to_server; filemd5:toto.md5; filesize:24; sid:4;)
alert http any any -> any any (msg:"md5 and size of different parts"; flow:to_server; filemd5:toto.md5; filesize:25; sid:5;)
alert http any any -> any any (msg:"form field is no file"; file.data; content:"bateau minet"; sid:6;)
alert http any any -> any any (msg:"text magic"; flow:to_server; file.magic; content:"text"; sid:7;)
"#,
        &exchange(&req, resp),
    );
    let want = [(1, 1), (2, 1), (4, 1), (7, 1)];
    assert_eq!(got, want.into_iter().collect(), "alerts per sid");
}

#[test]
fn a_bad_hash_list_line_fails_the_load_with_file_and_line() {
    let dir = TempDir::new("files-bad");
    let list = dir.path().join("bad.md5");
    std::fs::write(&list, "090fe607a5be1228362614ccaa088577\nnot-a-hash\n").unwrap();
    let rule_file = dir.path().join("t.rules");
    let (_, loaded) = load_str(
        rule_file.to_str().unwrap(),
        "alert http any any -> any any (filemd5:bad.md5; sid:1;)",
        &LoadOptions::default(),
    );
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            image_all: true,
            ..Default::default()
        },
    );
    let e = match Detector::new(&c.image, &DetectConfig::default()) {
        Ok(_) => panic!("load must fail"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(&format!("{}:2:", list.display())), "{e}");
}

/// A body that is one file is the same bytes as its `file.data`: the two buffers' prefilters
/// run as one scan (see `detect::tx::ALIASES`), and rules on either buffer still fire, on the
/// response and on a plain (not multipart) request body alike; a multipart body, whose files
/// are parts of it, is scanned per buffer and finds the same.
#[test]
fn body_and_file_data_rules_both_fire_when_they_are_the_same_bytes() {
    let rules = r#"
alert http any any -> any any (msg:"response file"; flow:to_client; file.data; content:"needle-one"; sid:1;)
alert http any any -> any any (msg:"response body"; http.response_body; content:"needle-two"; sid:2;)
alert http any any -> any any (msg:"request file"; flow:to_server; file.data; content:"needle-three"; sid:3;)
alert http any any -> any any (msg:"request body"; http.request_body; content:"needle-four"; sid:4;)
alert http any any -> any any (msg:"absent"; http.response_body; content:"needle-five"; sid:5;)
"#;
    let post = |ctype: &str, body: &[u8]| {
        let mut r = format!(
            "POST /in HTTP/1.1\r\nHost: example.com\r\nContent-Type: {ctype}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    // Long enough that the bodies arrive in several segments (scanned as they grow).
    let filler = "x".repeat(700);
    let resp_body = format!("{filler} needle-one {filler} needle-two {filler}");
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{resp_body}",
        resp_body.len()
    );
    let plain = format!("{filler} needle-three {filler} needle-four");
    let dir = TempDir::new("files-alias");
    let got = alerts_per_sid(
        &dir,
        rules,
        &exchange(&post("text/plain", plain.as_bytes()), resp.as_bytes()),
    );
    assert_eq!(got, [(1, 1), (2, 1), (3, 1), (4, 1)].into_iter().collect());
    let multipart = format!(
        "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\n\
         {filler} needle-three\r\n--B--\r\n"
    );
    let dir = TempDir::new("files-alias-mp");
    let got = alerts_per_sid(
        &dir,
        rules,
        &exchange(
            &post("multipart/form-data; boundary=B", multipart.as_bytes()),
            resp.as_bytes(),
        ),
    );
    assert_eq!(got, [(1, 1), (2, 1), (3, 1)].into_iter().collect());
}

/// A normalised buffer and its raw form hold the same bytes when normalising changed
/// nothing, and their prefilters then run as one scan: rules on either still fire on their
/// own buffer only (the normalised URI `/a/x` is not in the raw `/a/./x`).
#[test]
fn normalised_and_raw_buffers_scanned_once_still_fire_on_their_own_bytes() {
    let rules = r#"
alert http any any -> any any (msg:"uri"; http.uri; content:"/a/x?q=needle"; sid:1;)
alert http any any -> any any (msg:"raw uri"; http.uri.raw; content:"/a/x?q=needle"; sid:2;)
alert http any any -> any any (msg:"host"; http.host; content:"example.com"; sid:3;)
alert http any any -> any any (msg:"raw host"; http.host.raw; content:"example.com"; sid:4;)
alert http any any -> any any (msg:"raw uri dot"; http.uri.raw; content:"/a/./x"; sid:5;)
"#;
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let get =
        |uri: &str, host: &str| format!("GET {uri} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    let dir = TempDir::new("alias-equal");
    let got = alerts_per_sid(
        &dir,
        rules,
        &exchange(&get("/a/x?q=needle", "example.com"), resp),
    );
    assert_eq!(got, [(1, 1), (2, 1), (3, 1), (4, 1)].into_iter().collect());
    let dir = TempDir::new("alias-differ");
    let got = alerts_per_sid(
        &dir,
        rules,
        &exchange(&get("/a/./x?q=needle", "EXAMPLE.com"), resp),
    );
    assert_eq!(got, [(1, 1), (3, 1), (5, 1)].into_iter().collect());
}

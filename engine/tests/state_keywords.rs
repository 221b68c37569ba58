//! stream_size, xbits, flowint and byte_math from rule text through the compiler into
//! Worker::inspect, on hand-built packets with explicit timestamps.

mod common;

use common::*;
use verdict_engine::detect::DetectConfig;

fn engine(rules: &str) -> TestWorker {
    worker(rules, &DetectConfig::default())
}

const NONE: Vec<u32> = Vec::new();

#[test]
fn stream_size_reads_sequence_progress() {
    let mut e = engine(
        r#"alert tcp any any -> any any (msg:"client sent 5"; flow:to_server; stream_size:client,=,6; sid:1;)
alert tcp any any -> any any (msg:"server silent"; stream_size:server,<,1; sid:2;)
alert tcp any any -> any any (msg:"both"; stream_size:both,>,5; sid:3;)
alert tcp any any -> any any (msg:"either"; stream_size:either,>,11; sid:4;)
alert ip any any -> any any (msg:"not a stream"; stream_size:either,>=,0; ip_proto:17; sid:5;)
"#,
    );
    // SYN, SYN-ACK, ACK, "hello", ACK, "world!", ACK: client progress 1, 1, 1, 6, 6, 12, 12;
    // the server's is 0 until its SYN-ACK, then 1.
    let got = e.all(&session(40000, 80, &[b"hello", b"world!"]));
    assert_eq!(
        got,
        vec![vec![2], NONE, NONE, vec![1], NONE, vec![4], vec![4]]
    );
    assert_eq!(e.at(20, &udp(CLI, SRV, 1, 2, b"x")), NONE);
}

#[test]
fn xbits_follow_hosts_and_expire() {
    let mut e = engine(
        r#"alert udp any any -> any any (msg:"set"; content:"PROPFIND"; xbits:set,ET.PROPFIND,track ip_src,expire 60; noalert; sid:10;)
alert udp any any -> any any (msg:"isset dst"; xbits:isset,ET.PROPFIND,track ip_dst; sid:11;)
alert udp any any -> any any (msg:"isset src, same packet"; content:"PROPFIND"; xbits:isset,ET.PROPFIND,track ip_src; sid:12;)
alert udp any any -> any any (msg:"pair"; content:"pair"; xbits:toggle,p,track ip_pair; noalert; sid:13;)
alert udp any any -> any any (msg:"pair isset"; content:"ask"; xbits:isset,p,track ip_pair; sid:14;)
"#,
    );
    let to_cli = udp(SRV, CLI, 80, 5000, b"reply");
    assert_eq!(e.at(0, &to_cli), NONE);
    // The setter runs before the rules that test the bit, on the same packet too.
    assert_eq!(e.at(1, &udp(CLI, SRV, 5000, 80, b"PROPFIND /")), vec![12]);
    // Another flow towards the host that set it (another port) sees the host bit.
    assert_eq!(e.at(2, &udp(SRV, CLI, 81, 6000, b"reply")), vec![11]);
    assert_eq!(e.at(3, &udp(CLI, SRV, 5000, 80, b"more")), NONE);
    assert_eq!(e.at(60, &to_cli), vec![11]);
    assert_eq!(e.at(62, &to_cli), NONE, "expired after 60 s");
    // A pair bit set by one direction is seen by the other; toggled off again.
    assert_eq!(e.at(70, &udp(CLI, SRV, 7, 8, b"pair")), NONE);
    assert_eq!(e.at(71, &udp(SRV, CLI, 9, 10, b"ask")), vec![14]);
    assert_eq!(e.at(72, &udp(SRV, CLI, 9, 10, b"pair")), NONE);
    assert_eq!(e.at(73, &udp(CLI, SRV, 7, 8, b"ask")), NONE);
}

#[test]
fn flowint_counts_per_flow() {
    let mut e = engine(
        r#"alert udp any any -> any any (msg:"first"; flowint:f1,isnotset; flowint:f1,+,1; noalert; sid:1;)
alert udp any any -> any any (msg:"first, alerting"; flowint:f2,notset; flowint:f2,+,1; sid:2;)
alert udp any any -> any any (msg:"count"; flowint:cnt,+,1; noalert; sid:3;)
alert udp any any -> any any (msg:"third"; flowint:cnt,==,3; sid:4;)
alert udp any any -> any any (msg:"compare vars"; flowint:cnt,>,f2; content:"cmp"; sid:5;)
"#,
    );
    let a = |p: &[u8]| udp(CLI, SRV, 5000, 53, p);
    let got = e.all(&[a(b"x"), a(b"cmp"), a(b"x"), a(b"x")]);
    assert_eq!(got, vec![vec![2], vec![5], vec![4], NONE]);
    // A new flow starts from scratch.
    assert_eq!(e.at(10, &udp(CLI, SRV, 5001, 53, b"x")), vec![2]);
}

#[test]
fn byte_math_feeds_later_tests() {
    let mut e = engine(
        r#"alert udp any any -> any any (msg:"double"; content:"D"; byte_math:bytes 1,offset 0,oper *,rvalue 2,result dbl,relative; byte_test:1,=,dbl,0,relative; sid:1;)
alert udp any any -> any any (msg:"divide"; content:"Q"; byte_extract:1,0,z,relative; byte_math:bytes 1,offset 0,oper /,rvalue z,result q,relative; byte_test:1,=,q,0,relative; sid:2;)
"#,
    );
    // byte_math moves the cursor past its byte, so the byte_test reads the next one.
    assert_eq!(e.at(0, &udp(CLI, SRV, 1, 2, b"D\x03\x06")), vec![1]);
    assert_eq!(e.at(1, &udp(CLI, SRV, 1, 2, b"D\x03\x07")), NONE);
    assert_eq!(e.at(2, &udp(CLI, SRV, 1, 2, b"Q\x02\x08\x04")), vec![2]);
    // Division by zero fails the op instead of matching anything.
    assert_eq!(e.at(3, &udp(CLI, SRV, 1, 2, b"Q\x00\x08\x00")), NONE);
}

#[test]
fn datasets_test_and_grow_sets() {
    let dir = TempDir::new("datasets");
    let list = dir.path().join("ua.lst");
    // base64 of "curl/7.43.0" and "evil", as Suricata's string set files hold them.
    std::fs::write(&list, "Y3VybC83LjQzLjA=\nZXZpbA==\n").unwrap();
    let list = list.to_string_lossy();
    let mut e = engine(&format!(
        r#"alert udp any any -> any any (msg:"listed"; dataset:isset,e2e-ua,type string,load {list}; sid:1;)
alert udp any any -> any any (msg:"not listed"; dataset:isnotset,e2e-ua,type string; sid:2;)
alert udp any any -> any any (msg:"first time"; content:"q="; dataset:set,e2e-seen,type string; sid:3;)
"#
    ));
    let p = |b: &[u8]| udp(CLI, SRV, 1, 2, b);
    // The whole buffer is the value: a prefix or a longer buffer is not in the set.
    assert_eq!(e.at(0, &p(b"curl/7.43.0")), vec![1]);
    assert_eq!(e.at(1, &p(b"curl/7.43.0 ")), vec![2]);
    assert_eq!(e.at(2, &p(b"evil")), vec![1]);
    // `set` matches the first time a value is added only.
    assert_eq!(e.at(3, &p(b"q=1")), vec![2, 3]);
    assert_eq!(e.at(4, &p(b"q=1")), vec![2]);
    assert_eq!(e.at(5, &p(b"q=2")), vec![2, 3]);
}

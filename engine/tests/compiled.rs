//! Rule text → check::load → codegen::compile → engine: the whole chain on real rule syntax,
//! one test per keyword family, with literal payloads.

mod common;

use common::*;
use std::time::{Duration, UNIX_EPOCH};
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector, PacketMeta, Worker};
use verdict_engine::output::Event;
use verdict_engine::verdict::Verdict;
use verdict_engine::wire::{checksums_ok, Packet};

struct Engine {
    w: Worker,
    rx: crossbeam_channel::Receiver<Event>,
    n: u64,
}

fn engine(rules: &str, inline: bool) -> Engine {
    let cfg = DetectConfig {
        inline,
        ..Default::default()
    };
    let det = detector("test.rules", rules, true, &cfg);
    let (tx, rx) = crossbeam_channel::unbounded();
    Engine {
        w: Worker::new(det, tx),
        rx,
        n: 0,
    }
}

impl Engine {
    /// Inspects packets; returns the sids that alerted per packet.
    fn feed(&mut self, pkts: &[Vec<u8>]) -> Vec<Vec<u32>> {
        pkts.iter()
            .map(|p| {
                self.n += 1;
                let mut p = p.clone();
                let meta = PacketMeta {
                    pcap_cnt: Some(self.n),
                    ..PacketMeta::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + self.n))
                };
                self.w.inspect(&mut p, &meta);
                self.rx
                    .try_iter()
                    .filter_map(|e| {
                        if let Event::Alert(a) = e {
                            Some(a.sid)
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .collect()
    }
    fn one(&mut self, p: Vec<u8>) -> Vec<u32> {
        self.feed(&[p]).pop().unwrap()
    }
}

fn u(payload: &[u8]) -> Vec<u8> {
    udp(CLI, SRV, 5000, 9999, payload)
}

#[test]
fn content_modifiers_and_nocase() {
    let mut e = engine(
        r#"alert udp any any -> any any (msg:"depth"; content:"ABC"; depth:5; sid:1;)
alert udp any any -> any any (msg:"offset"; content:"XY"; offset:3; sid:2;)
alert udp any any -> any any (msg:"within"; content:"k="; content:"9"; distance:0; within:1; sid:3;)
alert udp any any -> any any (msg:"nocase"; content:"select"; nocase; sid:4;)
alert udp any any -> any any (msg:"negated"; content:"GET"; content:!"HTTP"; sid:5;)
"#,
        false,
    );
    assert_eq!(e.one(u(b"..ABC")), vec![1]);
    assert_eq!(e.one(u(b"....ABC")), Vec::<u32>::new());
    assert_eq!(e.one(u(b"XY.XY")), vec![2]);
    assert_eq!(e.one(u(b"k=1 k=9")), vec![3]);
    assert_eq!(e.one(u(b"SeLeCt *")), vec![4]);
    assert_eq!(e.one(u(b"GET / FTP")), vec![5]);
    assert_eq!(e.one(u(b"GET / HTTP")), Vec::<u32>::new());
}

#[test]
fn pcre_byte_test_byte_jump_byte_extract_isdataat_dsize() {
    let mut e = engine(
        r#"alert udp any any -> any any (msg:"pcre"; content:"user"; nocase; pcre:"/^user\s+[a-z]{3,}\d+$/i"; sid:10;)
alert udp any any -> any any (msg:"pcre R"; content:"cmd="; pcre:"/^rm\b/R"; sid:11;)
alert udp any any -> any any (msg:"byte_test"; content:"LEN"; byte_test:2,>,1000,0,relative; sid:12;)
alert udp any any -> any any (msg:"byte_jump"; content:"J"; depth:1; byte_jump:1,0,relative; content:"END"; within:3; sid:13;)
alert udp any any -> any any (msg:"byte_extract"; content:"X"; depth:1; byte_extract:1,0,n,relative; content:"Z"; distance:n; within:1; sid:14;)
alert udp any any -> any any (msg:"isdataat"; content:"TAIL"; isdataat:!1,relative; sid:15;)
alert udp any any -> any any (msg:"dsize"; dsize:>300; sid:16;)
"#,
        false,
    );
    assert_eq!(e.one(u(b"USER bob42")), vec![10]);
    assert_eq!(e.one(u(b"user bob")), Vec::<u32>::new());
    assert_eq!(e.one(u(b"a cmd=rm -rf")), vec![11]);
    assert_eq!(e.one(u(b"a cmd=ls rm")), Vec::<u32>::new());
    assert_eq!(e.one(u(b"LEN\x04\x00")), vec![12]);
    assert_eq!(e.one(u(b"LEN\x03\xe8")), Vec::<u32>::new());
    assert_eq!(e.one(u(b"J\x02abEND")), vec![13]);
    assert_eq!(e.one(u(b"J\x03abEND")), Vec::<u32>::new());
    assert_eq!(e.one(u(b"X\x03abcZ")), vec![14]);
    assert_eq!(e.one(u(b"X\x02abcZ")), Vec::<u32>::new());
    assert_eq!(e.one(u(b"...TAIL")), vec![15]);
    assert_eq!(e.one(u(b"...TAIL.")), Vec::<u32>::new());
    assert_eq!(e.one(u(&[b'a'; 301])), vec![16]);
    assert_eq!(e.one(u(&[b'a'; 300])), Vec::<u32>::new());
}

#[test]
fn flow_flowbits_threshold_from_rule_text() {
    let mut e = engine(
        r#"alert tcp any any -> any 21 (msg:"login"; flow:to_server,established; content:"USER "; flowbits:set,ftp.user; flowbits:noalert; sid:20;)
alert tcp any 21 -> any any (msg:"ok after user"; flow:to_client,established; flowbits:isset,ftp.user; content:"230"; sid:21;)
alert tcp any any -> any 21 (msg:"limited"; flow:to_server; content:"NOOP"; threshold:type limit, track by_src, count 1, seconds 60; sid:22;)
"#,
        false,
    );
    let mut pkts = session(40000, 21, &[b"USER bob", b"NOOP", b"NOOP"]);
    pkts.push(tcp(SRV, CLI, 21, 40000, 501, PA, b"230 logged in"));
    let got = e.feed(&pkts);
    let alerts: Vec<(usize, u32)> = got
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.iter().map(move |x| (i + 1, *x)))
        .collect();
    assert_eq!(alerts, vec![(6, 22), (10, 21)]);
}

#[test]
fn drop_reject_replace_from_rule_text() {
    let mut e = engine(
        r#"drop tcp any any -> any 80 (msg:"drop"; content:"DROPME"; sid:30;)
reject udp any any -> any 53 (msg:"reject"; content:"REJECTME"; sid:31;)
alert tcp any any -> any 8080 (msg:"replace"; content:"secret"; replace:"XXXXXX"; sid:32;)
"#,
        true,
    );
    let mut p = tcp(CLI, SRV, 40000, 80, 1, PA, b"a DROPME b");
    assert_eq!(
        e.w.inspect(&mut p, &PacketMeta::at(UNIX_EPOCH)),
        Verdict::Drop(verdict_compiler::ir::Sid(30))
    );
    let mut p = udp(CLI, SRV, 5000, 53, b"REJECTME");
    assert!(
        matches!(e.w.inspect(&mut p, &PacketMeta::at(UNIX_EPOCH)), Verdict::Reject(_, s) if s.0 == 31)
    );
    let mut p = tcp(CLI, SRV, 40001, 8080, 1, PA, b"my secret!");
    assert_eq!(
        e.w.inspect(&mut p, &PacketMeta::at(UNIX_EPOCH)),
        Verdict::Replace(verdict_compiler::ir::Sid(32))
    );
    assert_eq!(Packet::parse(&p).unwrap().payload(), b"my XXXXXX!");
    assert!(checksums_ok(&p));
}

#[test]
fn community_rule_set_loads_into_the_engine() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/rules/snort-community/community.rules"
    );
    let Some(_ran) = common::must_run::require_shared(path, module_path!()) else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("read the community rules");
    let opts = LoadOptions {
        include_commented: true,
        ..Default::default()
    };
    let (_, loaded) = load_str("community.rules", &text, &opts);
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            image_all: true,
            ..Default::default()
        },
    );
    let det = Detector::new(&c.image, &DetectConfig::default())
        .expect("every compiled program loads (pcre2 included)");
    eprintln!(
        "community: {} rules, {} programs, prefilter {:?}",
        loaded.rules.len(),
        det.len(),
        det.prefilter_stats()
    );
    assert!(det.len() > 1000);
}

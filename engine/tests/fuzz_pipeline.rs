//! Hostile traffic through the whole offline pipeline: capture reading (pcap and pcapng),
//! decode, IPv4 defragmentation, the flow table and the VM with rules that use every payload
//! op, in IPS mode (drop, replace). Traffic starts as valid sessions, fragments (overlapping
//! ones included) and IPv6, and is then mutated: flipped and random bytes, truncation,
//! duplicated and reordered packets, damaged file headers. Replay may refuse a capture; it must
//! never panic.
//!
//! Budget: `VERDICT_FUZZ_CASES` (default 1000 captures, about 3 s in a debug build).

mod common;

use common::*;
use pcap_file::DataLink;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use std::sync::{Arc, OnceLock};
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector};
use verdict_engine::replay::{ReplayOptions, Replayer};
use verdict_engine::wire::defrag::fragment_ipv4;

/// Rules that reach every VM op, flowbits and replace, on the ports the traffic uses.
const RULES: &str = r#"
alert tcp any any -> any 80 (msg:"content"; content:"evil"; sid:1;)
drop tcp any any -> any 80 (msg:"relative"; content:"GET"; content:"/x"; distance:1; within:8; sid:2;)
alert tcp any any -> any 80 (msg:"pcre"; pcre:"/(a+)+b/"; sid:3;)
alert tcp any any -> any 80 (msg:"byte_test"; content:"L"; byte_test:2,>,100,0,relative; sid:4;)
alert tcp any any -> any 80 (msg:"byte_jump"; content:"J"; byte_jump:4,0,relative,align; content:"Z"; within:4; sid:5;)
alert tcp any any -> any 80 (msg:"byte_extract"; byte_extract:1,0,n; isdataat:n,relative; content:"E"; distance:n; sid:6;)
alert tcp any any -> any 80 (msg:"negated isdataat"; content:"N"; byte_extract:10,0,big,relative,string,dec,multiplier 65535; isdataat:!big,relative; sid:7;)
alert tcp any any -> any 80 (msg:"string number"; content:"len="; byte_test:10,>,5,0,relative,string,dec; sid:8;)
alert tcp any any -> any 80 (msg:"set"; content:"login"; flowbits:set,seen; flowbits:noalert; sid:9;)
alert tcp any any -> any 80 (msg:"isset"; flowbits:isset,seen; content:"pass"; sid:10;)
alert tcp any any -> any 80 (msg:"replace"; content:"swap"; replace:"SWAP"; sid:11;)
alert udp any any -> any 53 (msg:"udp"; content:"bad-dns"; dsize:>4; sid:12;)
alert ip any any -> any any (msg:"any ip"; content:"|ff ff|"; sid:13;)
"#;

fn detector() -> Arc<Detector> {
    static DET: OnceLock<Arc<Detector>> = OnceLock::new();
    DET.get_or_init(|| {
        let opts = LoadOptions::default();
        let (_, loaded) = load_str("fuzz.rules", RULES, &opts);
        assert!(
            loaded.diagnostics.is_empty(),
            "fixture rules: {:?}",
            loaded.diagnostics
        );
        let c = compile(&loaded.rules, &CompileOptions::default());
        let cfg = DetectConfig {
            inline: true,
            ..Default::default()
        };
        Arc::new(Detector::new(&c.image, &cfg).expect("load fixture rules"))
    })
    .clone()
}

/// Payload words the rules look for, so mutated traffic still reaches deep into programs.
const WORDS: &[&[u8]] = &[
    b"evil",
    b"GET /x",
    b"aaaaaaaaaaaaaaaaaaaaaaaaab",
    b"L\xff\xff",
    b"J\x00\x00\x00\x02..Z",
    b"\x05....E",
    b"N9999999999",
    b"len=99999999999",
    b"login",
    b"pass",
    b"swap",
    b"bad-dns",
    b"\xff\xff",
    b"\x00",
];

fn payload_s() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => (0..WORDS.len()).prop_map(|i| WORDS[i].to_vec()),
            1 => proptest::collection::vec(any::<u8>(), 0..40),
        ],
        0..5,
    )
    .prop_map(|parts| parts.concat())
}

/// Valid L3 packets: TCP sessions, UDP, IPv6 UDP, IPv4 fragments (overlaps by repetition).
fn traffic_s() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let unit = prop_oneof![
        3 => (1024u16..1100, proptest::collection::vec(payload_s(), 1..4)).prop_map(|(port, ps)| {
            let ps: Vec<&[u8]> = ps.iter().map(Vec::as_slice).collect();
            session(port, 80, &ps)
        }),
        1 => payload_s().prop_map(|p| vec![udp([192, 0, 2, 2], [198, 51, 100, 2], 5353, 53, &p)]),
        1 => payload_s().prop_map(|p| vec![udp6(v6(2, 1), v6(2, 2), 5353, 53, &p)]),
        2 => (payload_s(), 1usize..6, any::<bool>()).prop_map(|(p, chunk, overlap)| {
            let big = udp([192, 0, 2, 2], [198, 51, 100, 2], 5353, 53, &[p.as_slice(); 4].concat());
            let mut frags = fragment_ipv4(&big, chunk * 8);
            if overlap && frags.len() > 1 {
                let again = frags[0].clone();
                frags.push(again);
                frags.swap(0, 1);
            }
            frags
        }),
    ];
    proptest::collection::vec(unit, 1..5).prop_map(|units| units.concat())
}

/// One mutation of the packet list.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { pkt: usize, at: usize, bit: u8 },
    Set { pkt: usize, at: usize, byte: u8 },
    Truncate { pkt: usize, len: usize },
    Duplicate { pkt: usize },
    Swap { a: usize, b: usize },
}

fn mutation_s() -> impl Strategy<Value = Mutation> {
    let i = || any::<prop::sample::Index>();
    prop_oneof![
        3 => (i(), i(), 0u8..8).prop_map(|(p, a, bit)| Mutation::Flip { pkt: p.index(1 << 16), at: a.index(1 << 16), bit }),
        3 => (i(), i(), prop_oneof![Just(0u8), Just(0xff), Just(0x45), Just(0x60), any::<u8>()])
            .prop_map(|(p, a, byte)| Mutation::Set { pkt: p.index(1 << 16), at: a.index(1 << 16), byte }),
        1 => (i(), 0usize..60).prop_map(|(p, len)| Mutation::Truncate { pkt: p.index(1 << 16), len }),
        1 => i().prop_map(|p| Mutation::Duplicate { pkt: p.index(1 << 16) }),
        1 => (i(), i()).prop_map(|(a, b)| Mutation::Swap { a: a.index(1 << 16), b: b.index(1 << 16) }),
    ]
}

fn mutate(pkts: &mut Vec<Vec<u8>>, m: &Mutation) {
    let n = pkts.len();
    if n == 0 {
        return;
    }
    match *m {
        Mutation::Flip { pkt, at, bit } => {
            let p = &mut pkts[pkt % n];
            if !p.is_empty() {
                let at = at % p.len();
                p[at] ^= 1 << bit;
            }
        }
        Mutation::Set { pkt, at, byte } => {
            let p = &mut pkts[pkt % n];
            if !p.is_empty() {
                let at = at % p.len();
                p[at] = byte;
            }
        }
        Mutation::Truncate { pkt, len } => pkts[pkt % n].truncate(len),
        Mutation::Duplicate { pkt } => {
            let p = pkts[pkt % n].clone();
            pkts.push(p);
        }
        Mutation::Swap { a, b } => pkts.swap(a % n, b % n),
    }
}

fn write_pcapng(path: &std::path::Path, frames: &[Vec<u8>]) {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    let mut w = PcapNgWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![],
    })
    .unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: std::time::Duration::from_micros(1_700_000_000_000_000 + i as u64),
            original_len: 0,
            data: f.as_slice().into(),
            options: vec![],
        })
        .unwrap();
    }
}

fn cases() -> u32 {
    std::env::var("VERDICT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

#[test]
fn mutated_traffic_through_decode_defrag_flows_and_vm_never_panics() {
    let det = detector();
    let d = TempDir::new("fuzz-pipeline");
    let input = (
        traffic_s(),
        proptest::collection::vec(mutation_s(), 0..12),
        0u8..3,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let n = std::cell::Cell::new(0u32);
    let alerts = std::cell::Cell::new(0u64);
    runner
        .run(&input, |(mut pkts, muts, format, file_damage)| {
            for m in &muts {
                mutate(&mut pkts, m);
            }
            n.set(n.get() + 1);
            let f = d.path().join(format!("c{}.cap", n.get()));
            // Raw IP, Ethernet in pcap, Ethernet in pcapng: each reader and link decoder.
            match format {
                0 => write_pcap(&f, DataLink::RAW, &pkts, None),
                1 => {
                    let frames: Vec<_> = pkts.iter().map(|p| eth(p, &[])).collect();
                    write_pcap(&f, DataLink::ETHERNET, &frames, None)
                }
                _ => {
                    let frames: Vec<_> = pkts.iter().map(|p| eth(p, &[100])).collect();
                    write_pcapng(&f, &frames)
                }
            }
            if !file_damage.is_empty() {
                let mut bytes = std::fs::read(&f).unwrap();
                for (at, b) in &file_damage {
                    let i = at.index(bytes.len());
                    bytes[i] = *b;
                }
                std::fs::write(&f, bytes).unwrap();
            }
            let mut r = Replayer::new(det.clone(), None, ReplayOptions::default()).unwrap();
            let _ = r.run_file(&f);
            if let Ok(s) = r.finish() {
                alerts.set(alerts.get() + s.total_alerts());
            }
            let _ = std::fs::remove_file(&f);
            Ok(())
        })
        .unwrap(); // The traffic reached the rules: the run is not only decode errors.
    assert!(alerts.get() > 0, "no alert in {} captures", n.get());
}

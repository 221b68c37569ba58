//! The hot path does not allocate: after warm-up, inspecting packets of a known flow that
//! run through the prefilter and the VM without alerting performs zero heap allocations.

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector, PacketMeta, Worker};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Only the measuring thread counts: the test harness's own threads may allocate at any
    // time.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn note() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: p was allocated by System with layout l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: forwarding to the system allocator.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn inspecting_known_flows_allocates_nothing() {
    let rules = r#"alert tcp any any -> any 80 (msg:"a"; flow:to_server,established; content:"GET "; content:"evil"; distance:0; pcre:"/evil\d+/"; sid:1;)
alert tcp any any -> any 80 (msg:"b"; content:"Host|3a|"; nocase; byte_test:1,>,200,0,relative; sid:2;)
alert tcp any any -> any any (msg:"c"; dsize:>5000; sid:3;)
alert udp any any -> any 53 (msg:"d"; content:"|00 01 00 00|"; offset:2; depth:4; sid:4;)
alert tcp any any -> any 80 (msg:"e"; content:"Host|3a|"; pcre:"/^Host: \d+\r$/m"; sid:5;)
"#;
    let (_, loaded) = load_str("t.rules", rules, &LoadOptions::default());
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            image_all: true,
            ..Default::default()
        },
    );
    let det = Arc::new(
        Detector::new(
            &c.image,
            &DetectConfig {
                inline: true,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let (tx, _rx) = crossbeam_channel::bounded(16);
    let mut w = Worker::new(det, tx);
    // Payloads that hit the prefilter and run the VM (GET, Host:) but do not alert.
    let mut pkts = session(
        40000,
        80,
        &[b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"],
    );
    pkts.push(udp(CLI, SRV, 5000, 53, b"\x12\x34\x01\x00\x00\x02"));
    let meta = PacketMeta::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    for p in &pkts {
        let mut p = p.clone();
        w.inspect(&mut p, &meta);
    }
    let mut bufs: Vec<Vec<u8>> = (0..200).map(|i| pkts[3 + (i % 2) * 2].clone()).collect();
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for b in &mut bufs {
        w.inspect(b, &meta);
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(allocs, 0, "allocations on the hot path");
}

//! Catastrophic pcre, live: rules whose regexes backtrack exponentially (`/^(a+)+$/`, and the
//! ET-style `/^(\w+\s?)*$/`) on a queued UDP port, and datagrams crafted to make them do so,
//! sent through the gateway while a TCP transfer through the same queue runs. PCRE's match and
//! depth limits must cap each evaluation: the crafted datagrams all pass (the limit hit counts
//! as no match, as in Suricata), each batch within a bound, none uninspected (the queue never
//! overflows into fail-open), the transfer finishes intact, every limit hit is counted in
//! `verdict stats`, and the engine still drops what its drop rule says afterwards.
//! Root only; traffic and every wait are bounded.

mod common;
mod live;

use common::netns::{Topology, CLI4, SRV4};
use live::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REDOS_PORT: u16 = 7600;
const TCP_PORT: u16 = 7603;
const OK_PORT: u16 = 7604;
const DROP_PORT: u16 = 7605;

const RULES: &str = "alert udp any any -> any 7600 (msg:\"nested quantifier\"; pcre:\"/^(a+)+$/\"; sid:970001; rev:1;)\n\
                     alert udp any any -> any 7600 (msg:\"words and spaces\"; pcre:\"/^(\\w+\\s?)*$/\"; sid:970002; rev:1;)\n\
                     alert tcp any any -> any 7603 (msg:\"transfer queued\"; content:\"never-sent\"; sid:970003; rev:1;)\n\
                     drop tcp any any -> any 7605 (msg:\"still drops\"; content:\"BADTHING\"; sid:970004; rev:1;)\n";

/// Datagrams per batch: the sender waits for each batch to arrive before the next, so the
/// queue (1024 packets) never overflows and fails open.
const BATCH: usize = 25;
/// The longest a batch may take through the gateway.
const BATCH_LIMIT: Duration = Duration::from_secs(10);

/// Counts datagrams arriving on srv:`port` until `stop`.
fn receiver(
    t: &Topology,
    port: u16,
    got: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = t.in_ns(&t.srv, move || {
        let s = std::net::UdpSocket::bind((SRV4, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        tx.send(()).unwrap();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if s.recv(&mut buf).is_ok() {
                got.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("receiver bound");
    h
}

/// Sends `n` copies of `payload` cli → srv:[`REDOS_PORT`] in batches of [`BATCH`], each once
/// the one before has arrived; the whole time and the slowest batch.
fn send_paced(
    t: &Topology,
    payload: Vec<u8>,
    n: usize,
    got: Arc<AtomicUsize>,
) -> (Duration, Duration) {
    t.in_ns(&t.cli, move || {
        let s = std::net::UdpSocket::bind((CLI4, 0)).unwrap();
        let base = got.load(Ordering::Relaxed);
        let (start, mut slowest) = (Instant::now(), Duration::ZERO);
        for b in 0..n.div_ceil(BATCH) {
            let batch_start = Instant::now();
            let upto = ((b + 1) * BATCH).min(n);
            for _ in b * BATCH..upto {
                s.send_to(&payload, (SRV4, REDOS_PORT)).unwrap();
            }
            while got.load(Ordering::Relaxed) < base + upto {
                assert!(
                    batch_start.elapsed() < BATCH_LIMIT,
                    "batch {b}: {} of {upto} datagrams arrived within {BATCH_LIMIT:?}",
                    got.load(Ordering::Relaxed) - base
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            slowest = slowest.max(batch_start.elapsed());
        }
        (start.elapsed(), slowest)
    })
    .join()
    .expect("sender")
}

fn limit_hits(e: &Engine) -> u64 {
    e.stats().inspect.map_or(0, |i| i.pcre_limit_hits)
}

#[test]
fn catastrophic_pcre_is_cut_off_by_the_match_limit_and_counted() {
    require_netns!();
    let t = Topology::new();
    let mut e = Engine::start(&t, "redos", RULES, &[]);
    let got = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let rx = receiver(&t, REDOS_PORT, got.clone(), stop.clone());

    // Baseline: the same rules on datagrams that fail at once.
    let n = 200;
    let mut benign = b"!".to_vec();
    benign.extend(std::iter::repeat_n(b'a', 1400));
    let (benign_time, benign_slowest) = send_paced(&t, benign, n, got.clone());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(limit_hits(&e), 0, "ordinary payloads hit no limit");

    // The attack, with a TCP transfer through the same queue.
    let chunks: Vec<Vec<u8>> = (0..40).map(|i| vec![b'0' + (i % 10) as u8; 1000]).collect();
    let sent: Vec<u8> = chunks.concat();
    let idle = Duration::from_secs(3);
    let srv = tcp_server(&t, TCP_PORT, None, idle);
    let cli = tcp_client(&t, TCP_PORT, chunks, Duration::from_millis(25), idle);
    let mut nested = vec![b'a'; 1400];
    nested.push(b'!');
    let words: Vec<u8> = b"word ".repeat(280).into_iter().chain(*b"!").collect();
    let (nested_time, nested_slowest) = send_paced(&t, nested, n, got.clone());
    let (words_time, words_slowest) = send_paced(&t, words, n, got.clone());
    let transfer = srv.join().unwrap();
    cli.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    rx.join().unwrap();
    assert_eq!(got.load(Ordering::Relaxed), 3 * n, "every datagram passed");
    assert!(
        transfer.data == sent,
        "the TCP transfer beside the attack lost data: {} of {} bytes",
        transfer.data.len(),
        sent.len()
    );

    // Every crafted datagram hit the limit at least once (the nested one in both rules).
    let crafted = 2 * n as u64;
    let s = wait_for(Duration::from_secs(3), || {
        let s = e.stats();
        (s.inspect.is_some_and(|i| i.pcre_limit_hits >= crafted)).then_some(s)
    })
    .unwrap_or_else(|| panic!("limit hits not counted: {:?}", e.stats().inspect));
    let hits = s.inspect.map_or(0, |i| i.pcre_limit_hits);
    assert_eq!(s.uninspected(), Some(0), "packets passed uninspected");
    assert!(
        e.eve("alert")
            .iter()
            .all(|a| a["alert"]["signature_id"] != 970001 && a["alert"]["signature_id"] != 970002),
        "a limit hit is no match"
    );
    let stats_text = t.exec_ok(
        &t.gw,
        &[VERDICT, "stats", "--log-dir", e.dir.to_str().unwrap()],
    );
    let stats_text = String::from_utf8_lossy(&stats_text.stdout).into_owned();
    assert!(
        stats_text.contains(&format!(
            "pcre match/depth limit hits (counted as no match): {hits}"
        )),
        "{stats_text}"
    );
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    eprintln!(
        "{n} datagrams each: benign {benign_time:?} ({:.2} ms each, slowest batch of {BATCH} \
         {benign_slowest:?}); nested (a+)+ {nested_time:?} ({:.2} ms, {nested_slowest:?}); \
         words {words_time:?} ({:.2} ms, {words_slowest:?}); {hits} limit hits; TCP transfer \
         of {} bytes intact",
        per(benign_time),
        per(nested_time),
        per(words_time),
        sent.len()
    );
    assert_still_enforcing(&mut e, &t, OK_PORT, DROP_PORT, b"BADTHING");
}

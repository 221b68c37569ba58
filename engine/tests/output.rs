//! The output writer: EVE + fast.log + evidence pcap, flush while idle, rotation at the size
//! bound (one previous file kept), and the evidence readable as a pcap.

mod common;

use common::TempDir;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use verdict_engine::output::{AlertEvent, Event, OutputConfig, PacketInfo, Writer};

fn alert(i: u32, len: usize) -> Event {
    let pkt = Arc::new(PacketInfo {
        ts: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(i)),
        flow_id: Some(7),
        pcap_cnt: None,
        in_iface: Some("c0".into()),
        src_ip: "192.0.2.2".parse().unwrap(),
        dest_ip: "198.51.100.2".parse().unwrap(),
        src_port: 40000,
        dest_port: 80,
        proto: 6,
        to_server: Some(true),
        bytes: vec![0x45; len],
        ip_fields: (64, 0, 1),
        tunnel: None,
    });
    Event::Alert(Box::new(AlertEvent {
        pkt,
        blocked: false,
        gid: 1,
        sid: 1000 + i,
        rev: 1,
        signature: "test".into(),
        category: None,
        severity: 3,
        rule_action: "alert",
        matches: vec![],
        app: None,
        context: Vec::new(),
    }))
}

fn pcap_count(path: &std::path::Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        p.unwrap();
        n += 1;
    }
    n
}

#[test]
fn writes_flushes_when_idle_and_rotates_evidence() {
    let d = TempDir::new("output");
    let cfg = OutputConfig {
        pcap_max_bytes: 24 + 10 * (16 + 1000),
        ..OutputConfig::all(d.path())
    };
    let (tx, h) = Writer::spawn(cfg);
    tx.send(alert(0, 1000)).unwrap();
    // Without closing the channel, the line shows up once the writer is idle (≤ 200 ms).
    let start = Instant::now();
    let eve = d.path().join("eve.json");
    while std::fs::read_to_string(&eve).map_or(true, |s| s.is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "EVE line not flushed while idle"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 1..25 {
        tx.send(alert(i, 1000)).unwrap();
    }
    drop(tx);
    let stats = h.join().unwrap();
    assert_eq!(
        (stats.eve_lines, stats.fast_lines, stats.pcap_packets),
        (25, 25, 25)
    );
    assert_eq!(stats.rotations, 2);
    assert_eq!(std::fs::read_to_string(&eve).unwrap().lines().count(), 25);
    // 25 packets, 10 per file: the current file holds the last 5, the rotated one 10.
    assert_eq!(pcap_count(&d.path().join("evidence.pcap")), 5);
    assert_eq!(pcap_count(&d.path().join("evidence.pcap.1")), 10);
    let fast = std::fs::read_to_string(d.path().join("fast.log")).unwrap();
    assert!(fast.lines().all(|l| l.contains(
        "[Classification: (null)] [Priority: 3] {TCP} 192.0.2.2:40000 -> 198.51.100.2:80"
    )));
}

#[test]
fn unwritable_directory_is_an_error_at_join() {
    let d = TempDir::new("output-bad");
    let file = d.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let (tx, h) = Writer::spawn(OutputConfig::all(&file));
    let _ = tx.send(alert(0, 40));
    drop(tx);
    assert!(h.join().is_err());
}

#[test]
fn a_failing_output_loses_only_its_own_records_counts_them_and_recovers() {
    let d = TempDir::new("output-full");
    // eve.json on a full disk: every write fails with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", d.path().join("eve.json")).unwrap();
    let (tx, h) = Writer::spawn(OutputConfig::all(d.path()));
    let counters = h.counters();
    for i in 0..100 {
        tx.send(alert(i, 60)).unwrap();
    }
    // Idle flush, then the disk is "freed": the failed file is reopened for what follows.
    std::thread::sleep(Duration::from_millis(400));
    std::fs::remove_file(d.path().join("eve.json")).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    for i in 100..110 {
        tx.send(alert(i, 60)).unwrap();
    }
    drop(tx);
    let err = h.join().expect_err("lost records are reported at join");
    let s = counters.snapshot();
    assert_eq!((s.eve_written, s.eve_lost), (10, 100), "{s:?}");
    assert_eq!((s.fast_written, s.fast_lost), (110, 0), "{s:?}");
    assert_eq!((s.pcap_written, s.pcap_lost), (110, 0), "{s:?}");
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.contains("eve.json")),
        "{s:?}"
    );
    assert!(err.to_string().contains("eve.json 100"), "{err}");
    let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap();
    assert_eq!(read("fast.log").lines().count(), 110);
    assert_eq!(read("eve.json").lines().count(), 10);
    assert_eq!(pcap_count(&d.path().join("evidence.pcap")), 110);
}

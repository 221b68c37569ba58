use super::*;
use crate::detect::{DetectConfig, PacketMeta};
use crate::output::Event;
use crate::verdict::Verdict;
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};

fn build(rules: &str, disabled: &[u32]) -> (Arc<Detector>, Vec<String>) {
    let (_, loaded) = load_str("t.rules", rules, &LoadOptions::default());
    assert_eq!(loaded.summary.with_errors, 0, "{:?}", loaded.diagnostics);
    let image = compile(
        &loaded.rules,
        &CompileOptions {
            image_all: true,
            ..Default::default()
        },
    )
    .image;
    let cfg = DetectConfig {
        inline: true,
        disabled: disabled.to_vec(),
        ..Default::default()
    };
    let det = Detector::new(&image, &cfg).unwrap();
    (Arc::new(det), image.flowbits.clone())
}

fn udp(payload: &[u8]) -> Vec<u8> {
    udp_from(5000, payload)
}

fn udp_from(sport: u16, payload: &[u8]) -> Vec<u8> {
    let mut pkt = Vec::new();
    etherparse::PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
        .udp(sport, 53)
        .write(&mut pkt, payload)
        .unwrap();
    pkt
}

const V1: &str = r#"alert udp any any -> any 53 (msg:"mark"; content:"login"; flowbits:set,seen; flowbits:noalert; sid:1;)
drop udp any any -> any 53 (msg:"evil"; content:"evil"; sid:2;)
"#;
// Reordered, one rule more, and a new flowbit name that takes id 0: ids move, names stay.
const V2: &str = r#"alert udp any any -> any 53 (msg:"other"; content:"zzz"; flowbits:set,aaa; sid:3;)
drop udp any any -> any 53 (msg:"evil"; content:"evil"; sid:2;)
drop udp any any -> any 53 (msg:"after login"; content:"cmd"; flowbits:isset,seen; sid:4;)
alert udp any any -> any 53 (msg:"mark"; content:"login"; flowbits:set,seen; flowbits:noalert; sid:1;)
"#;

#[test]
fn reload_keeps_flowbits_by_name_and_hits_by_sid() {
    let (det, bits) = build(V1, &[]);
    let live = Live::new(det.clone(), bits, State::default(), None);
    let (tx, _rx) = crossbeam_channel::unbounded::<Event>();
    let mut w = Worker::new(det, tx);
    let mut slot = live.slot(&w);
    let meta = PacketMeta::at(SystemTime::now());
    let inspect = |w: &mut Worker, slot: &mut LiveSlot, p: &[u8]| {
        slot.refresh(w);
        w.inspect(&mut udp(p), &meta)
    };
    assert_eq!(inspect(&mut w, &mut slot, b"login"), Verdict::Accept);
    // Another flow: a drop also drops the rest of its own flow.
    slot.refresh(&mut w);
    assert!(matches!(
        w.inspect(&mut udp_from(5001, b"evil"), &meta),
        Verdict::Drop(_)
    ));

    live.reload(|off| Ok::<_, ()>(build(V2, off))).unwrap();
    // Same flow: the bit set before the reload is still set (under its new id).
    let v = inspect(&mut w, &mut slot, b"cmd");
    assert_eq!(v.sid().map(|s| s.0), Some(4), "{v:?}");
    let hits: BTreeMap<u32, u64> = live.rule_hits().iter().map(|r| (r.sid, r.hits)).collect();
    assert_eq!(hits.get(&2), Some(&1), "{hits:?}");
    assert_eq!(hits.get(&4), Some(&1), "{hits:?}");
    assert_eq!(hits.get(&1), Some(&1), "{hits:?}");
    let snap = live.snapshot();
    assert_eq!((snap.reloads, snap.programs), (1, 4));
    assert_eq!(w.counters().received.load(Ordering::Relaxed), 3);
}

#[test]
fn a_failed_reload_keeps_the_running_set() {
    let (det, bits) = build(V1, &[]);
    let live = Live::new(det.clone(), bits, State::default(), None);
    let err = live.reload(|_| Err::<(Arc<Detector>, Vec<String>), _>("broken"));
    assert_eq!(err, Err("broken"));
    assert!(Arc::ptr_eq(&live.current().det, &det));
    let s = live.snapshot();
    assert_eq!((s.reloads, s.reload_failures), (0, 1));
}

#[test]
fn disable_is_immediate_persisted_and_survives_a_reload() {
    let dir = std::env::temp_dir().join(format!("verdict-ops-{}", std::process::id()));
    let path = dir.join("sub/state.json");
    let (det, bits) = build(V1, &[]);
    let live = Live::new(
        det.clone(),
        bits,
        State::load(&path).unwrap(),
        Some(path.clone()),
    );
    let (tx, _rx) = crossbeam_channel::unbounded::<Event>();
    let mut w = Worker::new(det, tx);
    let mut slot = live.slot(&w);
    let meta = PacketMeta::at(SystemTime::now());

    assert_eq!(
        live.set_enabled(2, false, Some("false positive")).unwrap(),
        1
    );
    assert_eq!(live.set_enabled(999, false, None).unwrap(), 0);
    slot.refresh(&mut w);
    assert_eq!(w.inspect(&mut udp(b"evil"), &meta), Verdict::Accept);
    let saved = State::load(&path).unwrap();
    assert_eq!(saved.sids(), vec![2]);
    assert_eq!(saved.disabled[0].reason, "false positive");
    assert_eq!(live.snapshot().disabled, vec![2]);

    // A reload builds the next set with the switch applied.
    live.reload(|off| Ok::<_, ()>(build(V2, off))).unwrap();
    slot.refresh(&mut w);
    assert_eq!(w.inspect(&mut udp(b"evil"), &meta), Verdict::Accept);
    assert_eq!(live.snapshot().disabled, vec![2]);

    assert_eq!(live.set_enabled(2, true, None).unwrap(), 1);
    assert!(matches!(
        w.inspect(&mut udp(b"evil"), &meta),
        Verdict::Drop(_)
    ));
    assert!(State::load(&path).unwrap().disabled.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn state_file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("verdict-ops-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    std::fs::write(&path, "{\"disabled\": [{\"sid\": \"x\"}]}").unwrap();
    let e = State::load(&path).unwrap_err().to_string();
    assert!(e.contains("state.json") && e.contains("not valid"), "{e}");
    assert_eq!(
        State::load(&dir.join("missing.json")).unwrap(),
        State::default()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

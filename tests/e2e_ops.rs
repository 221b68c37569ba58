//! Operating a running engine end to end, with the real binary in the cli — gw — srv
//! namespaces: `verdict disable` under continuous traffic (no build or push step, kept across
//! a restart), per-sid IDS mode, and hot reload (a broken rule file, and a TCP transfer that
//! goes on through reloads), and threshold.config in the live engine (a per-source suppress,
//! the same alerts in replay, reloaded with the rules), and the bypass list (addresses the
//! kernel accepts before any queueing, replaced on reload). Root only; every wait and every
//! traffic loop is bounded.

mod common;
mod live;

use common::netns::{Topology, CLI4, SRV4};
use live::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Datagrams received by srv on `port`, each with its receive time, until `stop` and then
/// 500 ms of silence.
fn udp_sink(
    t: &Topology,
    port: u16,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Instant, Vec<u8>)>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = t.in_ns(&t.srv, move || {
        let s = std::net::UdpSocket::bind((SRV4, port)).unwrap();
        tx.send(()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            match s.recv(&mut buf) {
                Ok(n) => got.push((Instant::now(), buf[..n].to_vec())),
                Err(_) if stop.load(Ordering::Relaxed) => return got,
                Err(_) => {}
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("sink bound");
    h
}

/// Sends `count` datagrams `prefix N` to srv:`port` every `every`, from a new socket each when
/// `new_flow` (a drop drops the rest of its flow), returning the send time of each.
fn udp_source(
    t: &Topology,
    port: u16,
    prefix: &'static str,
    count: usize,
    every: Duration,
    new_flow: bool,
) -> std::thread::JoinHandle<Vec<Instant>> {
    t.in_ns(&t.cli, move || {
        let mut sent = Vec::with_capacity(count);
        let mut sock = std::net::UdpSocket::bind((CLI4, 0)).unwrap();
        for i in 0..count {
            if new_flow {
                // An explicit source port per datagram: an ephemeral port the kernel hands out
                // again would join a flow that was dropped before the disable, and a dropped
                // flow stays dropped (as in Suricata). Below the ephemeral range (32768–60999),
                // so no socket the kernel numbered (the other source's) can hold it already.
                let sport = u16::try_from(20_000 + i).expect("count fits the port range");
                sock = std::net::UdpSocket::bind((CLI4, sport)).unwrap();
            }
            sent.push(Instant::now());
            sock.send_to(format!("{prefix} {i}").as_bytes(), (SRV4, port))
                .unwrap();
            std::thread::sleep(every);
        }
        sent
    })
}

fn seq(payload: &[u8]) -> usize {
    String::from_utf8_lossy(payload)
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap()
}

const NOISY: &str = "drop udp any any -> any 7100:7101 (msg:\"noisy\"; content:\"NOISY\"; sid:920001; rev:1;)\n\
                     alert udp any any -> any 7100:7101 (msg:\"other\"; content:\"never-there\"; sid:920002; rev:1;)\n";

#[test]
fn disable_under_traffic_takes_effect_within_a_second_and_loses_nothing_else() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("disable", "[scan]\nenabled = false\n");
    let mut e = f.start(&t, "ops-disable", NOISY);

    let stop = Arc::new(AtomicBool::new(false));
    let noisy_rx = udp_sink(&t, 7100, Arc::clone(&stop));
    let quiet_rx = udp_sink(&t, 7101, Arc::clone(&stop));
    // 3 s of both: noisy every 20 ms (a new flow each), the unrelated flow every 5 ms.
    let noisy_tx = udp_source(&t, 7100, "NOISY", 150, Duration::from_millis(20), true);
    let quiet_tx = udp_source(&t, 7101, "quiet", 600, Duration::from_millis(5), false);
    std::thread::sleep(Duration::from_millis(1000));
    let asked = Instant::now();
    // `disable` alone: no compile, no push, no restart.
    let (ok, out) = f.verdict(&t, "disable", &["920001", "--reason", "false positive"]);
    let answered = Instant::now();
    assert!(ok, "{out}");
    let noisy_sent = noisy_tx.join().unwrap();
    let quiet_sent = quiet_tx.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let noisy_got = noisy_rx.join().unwrap();
    let quiet_got = quiet_rx.join().unwrap();

    assert_eq!(
        quiet_got.len(),
        quiet_sent.len(),
        "the unrelated flow lost packets while the sid was switched off"
    );
    let got: Vec<usize> = noisy_got.iter().map(|(_, p)| seq(p)).collect();
    let before: Vec<usize> = (0..noisy_sent.len())
        .filter(|&i| noisy_sent[i] < asked)
        .collect();
    assert!(!before.is_empty());
    assert!(
        before.iter().all(|i| !got.contains(i)),
        "a noisy datagram passed before the disable: {got:?}"
    );
    let first = *got
        .first()
        .expect("no noisy datagram passed after the disable");
    assert!(
        noisy_sent[first].saturating_duration_since(asked) <= Duration::from_secs(1),
        "the first noisy datagram passed {:?} after the disable was asked",
        noisy_sent[first].saturating_duration_since(asked)
    );
    println!(
        "disable: asked at +0, answered after {:?}, first matching datagram through sent {:?} after asking; unrelated flow {}/{} datagrams",
        answered - asked,
        noisy_sent[first].saturating_duration_since(asked),
        quiet_got.len(),
        quiet_sent.len()
    );
    // From the reply on, every one passes.
    for (i, at) in noisy_sent.iter().enumerate() {
        if *at > answered {
            assert!(
                got.contains(&i),
                "noisy datagram {i} was dropped after the disable"
            );
        }
    }

    // What runs, what the list says and what stats say agree.
    let (ok, out) = f.verdict(&t, "list", &["--disabled"]);
    assert!(
        ok && out.contains("sid 920001") && out.contains("false positive"),
        "{out}"
    );
    let disabled_in_stats = wait_for(Duration::from_secs(3), || {
        e.stats()
            .ops
            .filter(|o| o.disabled == vec![920001])
            .map(|o| o.disabled)
    });
    assert_eq!(disabled_in_stats, Some(vec![920001]));
    let state = std::fs::read_to_string(f.state()).unwrap();
    assert!(state.contains("920001"), "{state}");

    // A restart keeps it; `enable` switches it back on at once.
    e.stop();
    drop(e);
    let _e = f.start(&t, "ops-disable2", NOISY);
    let passed = udp_exchange(
        &t,
        7100,
        vec![b"NOISY again".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(passed.len(), 1, "the switch did not survive the restart");
    let (ok, out) = f.verdict(&t, "enable", &["920001"]);
    assert!(ok, "{out}");
    let passed = udp_exchange(
        &t,
        7100,
        vec![b"NOISY again".to_vec()],
        Duration::from_millis(50),
    );
    assert!(passed.is_empty(), "enable did not switch the rule back on");
    let (ok, out) = f.verdict(&t, "list", &["--disabled", "--json"]);
    assert!(ok && out.contains("\"disabled\":[]"), "{out}");
}

#[test]
fn disable_without_an_engine_is_kept_for_the_next_start() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("offline", "[scan]\nenabled = false\n");
    let (ok, out) = f.verdict(&t, "disable", &["920001", "--reason", "noisy"]);
    assert!(ok && out.contains("recorded in"), "{out}");
    let (ok, out) = f.verdict(&t, "list", &["--disabled"]);
    assert!(ok && out.contains("sid 920001  noisy"), "{out}");
    let e = f.start(&t, "ops-offline", NOISY);
    let passed = udp_exchange(&t, 7100, vec![b"NOISY".to_vec()], Duration::from_millis(50));
    assert_eq!(passed.len(), 1);
    assert_eq!(e.stats().ops.map(|o| o.disabled), Some(vec![920001]));
}

#[test]
fn ids_sid_logs_a_would_drop_and_passes_the_packet() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new(
        "ids",
        "[scan]\nenabled = false\n[engine]\nmode = \"ips\"\nids_sids = [920011]\n",
    );
    let rules = "drop udp any any -> any 7110 (msg:\"dry\"; content:\"DRY\"; sid:920011; rev:1;)\n\
                 drop udp any any -> any 7110 (msg:\"wet\"; content:\"WET\"; sid:920012; rev:1;)\n";
    let e = f.start(&t, "ops-ids", rules);
    let got = udp_exchange(
        &t,
        7110,
        vec![b"DRY run".to_vec(), b"WET run".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(
        got,
        vec![b"DRY run".to_vec()],
        "ids sid passes, ips sid drops"
    );
    let dry = e.alerts(920011, 1);
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0]["alert"]["action"], "allowed");
    assert_eq!(dry[0]["rule_action"], "drop");
    let wet = e.alerts(920012, 1);
    assert_eq!(wet[0]["alert"]["action"], "blocked");
    let fast = std::fs::read_to_string(e.dir.join("fast.log")).unwrap();
    assert!(
        fast.lines()
            .any(|l| l.contains("[wDrop]") && l.contains(":920011:")),
        "{fast}"
    );
}

fn reload(f: &Files, t: &Topology) -> (bool, String) {
    f.verdict(t, "reload", &[])
}

#[test]
fn reload_of_a_broken_rule_file_keeps_the_old_rules() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("reload", "[scan]\nenabled = false\n");
    let old = "drop udp any any -> any 7120 (msg:\"old\"; content:\"OLD\"; sid:920021; rev:1;)\n";
    let e = f.start(&t, "ops-reload", old);
    // The engine reads its rules from the file it was started with (`-r`).
    let file = e.dir.join("test.rules");
    std::fs::write(
        &file,
        "drop udp any any -> any 7120 (msg:\"new\"; content:\"NEW\"; sid:920022; rev:1;)\n\
         drop udp any any -> any 7120 (msg:\"broken\"; conten:\"X\"; sid:920023; rev:1;)\n",
    )
    .unwrap();
    let (ok, out) = reload(&f, &t);
    assert!(!ok, "{out}");
    assert!(
        out.contains("previous rules keep running") && out.contains("conten"),
        "{out}"
    );
    let got = udp_exchange(
        &t,
        7120,
        vec![b"OLD".to_vec(), b"NEW".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(got, vec![b"NEW".to_vec()], "the old rule set still runs");

    std::fs::write(
        &file,
        "drop udp any any -> any 7120 (msg:\"new\"; content:\"NEW\"; sid:920022; rev:1;)\n",
    )
    .unwrap();
    let (ok, out) = reload(&f, &t);
    assert!(ok && out.contains("reloaded"), "{out}");
    let got = udp_exchange(
        &t,
        7120,
        vec![b"OLD".to_vec(), b"NEW".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(got, vec![b"OLD".to_vec()], "the new rule set runs");
    let ops = e.stats().ops.unwrap();
    assert!(ops.reloads == 1 && ops.reload_failures == 1, "{ops:?}");
}

#[test]
fn reload_under_a_tcp_transfer_leaves_it_unharmed() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("reload-tcp", "[scan]\nenabled = false\n");
    let rules = "alert tcp any any -> any 7130 (msg:\"seen\"; flow:established,to_server; content:\"never-there\"; sid:920031; rev:1;)\n";
    let e = f.start(&t, "ops-reload-tcp", rules);
    // 32 MiB in 64 KiB chunks paced over about 3 s, while the engine reloads three times.
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let server = tcp_server(&t, 7130, None, Duration::from_secs(5));
    let client = tcp_client(
        &t,
        7130,
        vec![chunk.clone(); 512],
        Duration::from_millis(5),
        Duration::from_secs(5),
    );
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        let (ok, out) = reload(&f, &t);
        assert!(ok, "{out}");
    }
    assert!(
        !server.is_finished(),
        "the transfer ended before the reloads did"
    );
    let seen = server.join().unwrap();
    let _ = client.join().unwrap();
    assert_eq!(
        seen.data.len(),
        512 * 65536,
        "transfer cut short: {:?}",
        seen.end
    );
    assert!(
        seen.data.chunks(65536).all(|c| c == chunk.as_slice()),
        "bytes changed"
    );
    let reloads = wait_for(Duration::from_secs(3), || {
        e.stats().ops.map(|o| o.reloads).filter(|&n| n == 3)
    });
    assert_eq!(reloads, Some(3));
    assert!(e.queued() > 0, "the transfer went through the queue");
}

/// The second client address (the topology's cli has `CLI4` only).
const CLI4_B: &str = "192.0.2.3";

/// `n` datagrams `KNOCK i` from `from` to srv:`port`, each from its own source port counting
/// up from `first_sport` (a new flow each).
fn knock(t: &Topology, port: u16, from: &'static str, first_sport: u16, n: u16) {
    knock_to(t, port, (from, SRV4), first_sport, n);
}

/// A header-only rule (the kernel logs it over NFLOG) and a pcre rule (the queue runs it),
/// so that a suppress is shown on both paths.
const KNOCKS: &str = "alert udp any any -> any 7140 (msg:\"knock kernel\"; sid:920041; rev:1;)\n\
                      alert udp any any -> any 7141 (msg:\"knock queue\"; pcre:\"/^KNOCK \\d+$/\"; sid:920042; rev:1;)\n";

fn suppress_lines(ip: &str) -> String {
    format!(
        "# two sources hit both rules; one is silenced\n\
         suppress gen_id 1, sig_id 920041, track by_src, ip {ip}\n\
         suppress gen_id 1, sig_id 920042, track by_src, ip {ip}\n"
    )
}

/// Alerts of `sid` from `src` among EVE alert records.
fn from(alerts: &[serde_json::Value], sid: u64, src: &str) -> usize {
    alerts
        .iter()
        .filter(|a| a["alert"]["signature_id"] == sid && a["src_ip"] == src)
        .count()
}

#[test]
fn suppress_by_src_silences_one_source_live_in_replay_and_after_reload() {
    require_netns!();
    if std::process::Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_err()
    {
        common::must_run::skip("tcpdump is not installed (run .ci/setup)");
        return;
    }
    let t = Topology::new();
    t.exec_ok(
        &t.cli,
        &["ip", "addr", "add", "192.0.2.3/24", "dev", "eth0"],
    );
    let f = Files::new("suppress", "");
    let th = f.thresholds();
    std::fs::write(
        f.config(),
        format!(
            "threshold_file = \"{}\"\n[scan]\nenabled = false\n",
            th.display()
        ),
    )
    .unwrap();
    // Source B (CLI4_B) is silenced; source A (CLI4) is not.
    std::fs::write(&th, suppress_lines(CLI4_B)).unwrap();
    let mut e = f.start(&t, "ops-suppress", KNOCKS);
    let out = e.bg.output();
    assert!(out.contains("1 in kernel, 1 in queue"), "{out}");
    assert!(out.contains("thresholds from"), "{out}");
    let mut cap = GwCapture::start(&t, &e);

    for (port, sid) in [(7140, 920041), (7141, 920042)] {
        knock(&t, port, CLI4_B, 42_000, 3);
        knock(&t, port, CLI4, 42_100, 3);
        assert_eq!(e.alerts(sid, 3).len(), 3, "sid {sid}: A's alerts");
    }
    let live_alerts = e.eve("alert");
    for sid in [920041, 920042] {
        assert_eq!(from(&live_alerts, sid, CLI4), 3, "sid {sid} from A");
        assert_eq!(from(&live_alerts, sid, CLI4_B), 0, "sid {sid} from B");
    }

    // The same capture through `verdict replay --threshold-file` gives the same alerts, and
    // without the file B's alerts are back (so the file is what silences them).
    cap.stop();
    let replayed = cap.replay_alerts_with(&e, &["--threshold-file", th.to_str().unwrap()]);
    assert_eq!(
        alert_keys(&live_alerts),
        alert_keys(&replayed),
        "live alerts (left) and replayed alerts (right) differ"
    );
    let unfiltered = cap.replay_alerts(&e);
    assert_eq!(from(&unfiltered, 920041, CLI4_B), 3);
    assert_eq!(from(&unfiltered, 920042, CLI4_B), 3);

    // A broken threshold file fails the reload with its line; the old thresholds stay.
    std::fs::write(
        &th,
        "suppress gen_id 1, sig_id 920041, track by_src, ip 192.0.2.3\n\
         suppress gen_id 1, sig_id 920042, track by_sideways, ip 192.0.2.2\n",
    )
    .unwrap();
    let (ok, out) = reload(&f, &t);
    assert!(!ok, "{out}");
    let at = format!("{}:2:", th.display());
    assert!(
        out.contains("previous rules keep running") && out.contains(&at),
        "{out}"
    );
    knock(&t, 7140, CLI4_B, 42_200, 2);
    knock(&t, 7141, CLI4_B, 42_300, 2);
    knock(&t, 7141, CLI4, 42_400, 1);
    e.alerts(920042, 4);
    let now = e.eve("alert");
    assert_eq!(from(&now, 920042, CLI4), 4, "the engine stopped alerting");
    assert_eq!(from(&now, 920041, CLI4_B), 0, "the old suppress was lost");
    assert_eq!(from(&now, 920042, CLI4_B), 0, "the old suppress was lost");

    // A good file takes effect with the reload: now A is silenced and B alerts.
    std::fs::write(&th, suppress_lines(CLI4)).unwrap();
    let (ok, out) = reload(&f, &t);
    assert!(ok && out.contains("reloaded"), "{out}");
    for port in [7140, 7141] {
        knock(&t, port, CLI4, 42_500, 2);
        knock(&t, port, CLI4_B, 42_600, 2);
    }
    e.alerts(920041, 5);
    e.alerts(920042, 6);
    let now = e.eve("alert");
    assert_eq!(
        from(&now, 920041, CLI4),
        3,
        "A is silenced after the reload"
    );
    assert_eq!(
        from(&now, 920042, CLI4),
        4,
        "A is silenced after the reload"
    );
    assert_eq!(from(&now, 920041, CLI4_B), 2, "B alerts after the reload");
    assert_eq!(from(&now, 920042, CLI4_B), 2, "B alerts after the reload");
    e.stop();
}

/// `n` datagrams `KNOCK i` from `from` (each from its own source port counting up from
/// `first_sport`) to `to`:`port`; how many `to` received.
fn knocks_through(
    t: &Topology,
    port: u16,
    (from, to): (&'static str, &'static str),
    first_sport: u16,
    n: u16,
) -> usize {
    let sink = udp_counter(t, to, port, Duration::from_millis(700));
    knock_to(t, port, (from, to), first_sport, n);
    sink.join().unwrap()
}

/// The datagrams of [`knocks_through`], without a receiver.
fn knock_to(t: &Topology, port: u16, (from, to): (&'static str, &'static str), first: u16, n: u16) {
    t.in_ns(&t.cli, move || {
        for i in 0..n {
            let s = std::net::UdpSocket::bind((from, first + i)).unwrap();
            s.send_to(format!("KNOCK {i}").as_bytes(), (to, port))
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .join()
    .unwrap();
}

/// Packets the engine's queues received, once the stats snapshot (every 100 ms; the first
/// one may not be written yet) has settled.
fn settled_queued(e: &Engine) -> u64 {
    let read = || {
        wait_for(Duration::from_secs(5), || {
            verdict_engine::run::read_stats(&e.dir.join("stats.json")).ok()
        })
        .expect("stats.json is written")
        .queues
        .iter()
        .map(|q| q.received)
        .sum::<u64>()
    };
    let mut last = read();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn bypass_list_traffic_is_never_queued_and_the_list_is_replaced_on_reload() {
    require_netns!();
    let t = Topology::new();
    t.exec_ok(
        &t.cli,
        &["ip", "addr", "add", "192.0.2.3/24", "dev", "eth0"],
    );
    let config =
        |addresses: &str| format!("[scan]\nenabled = false\n[bypass]\naddresses = [{addresses}]\n");
    let f = Files::new("bypass", &config("\"192.0.2.3\", \"2001:db8:1::/64\""));
    // A queued drop rule (pcre needs the engine) on the port every test datagram goes to.
    let rules = "drop udp any any -> any 7150 (msg:\"knock\"; pcre:\"/^KNOCK \\d+$/\"; sid:920051; rev:1;)\n";
    let mut e = f.start(&t, "ops-bypass", rules);
    let out = e.bg.output();
    assert!(out.contains("0 in kernel, 1 in queue"), "{out}");
    let v4_b = (CLI4_B, SRV4);
    let v4_a = (CLI4, SRV4);
    let v6 = (common::netns::CLI6, common::netns::SRV6);

    // The bypassed source (v4) and network (v6): all through, the queues never see them.
    let before = settled_queued(&e);
    assert_eq!(knocks_through(&t, 7150, v4_b, 43_000, 5), 5);
    assert_eq!(knocks_through(&t, 7150, v6, 43_100, 5), 5);
    assert_eq!(settled_queued(&e), before, "bypassed traffic was queued");
    let table = t.exec_ok(&t.gw, &["nft", "list", "table", "inet", "verdict"]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains("ip saddr @bypass4 meta mark set meta mark | 0x20000000 counter packets 5 "),
        "{table}"
    );
    // The same traffic from another source is queued and dropped.
    assert_eq!(knocks_through(&t, 7150, v4_a, 43_200, 5), 0);
    let queued = settled_queued(&e);
    assert!(queued >= before + 5, "{before} -> {queued}");
    assert!(e.alerts(920051, 5).iter().all(|a| a["src_ip"] == CLI4));

    // Reload with the v4 address taken off the list: its traffic is inspected (and dropped)
    // from then on, while the v6 network stays bypassed.
    std::fs::write(f.config(), config("\"2001:db8:1::/64\"")).unwrap();
    let (ok, out) = reload(&f, &t);
    assert!(ok && out.contains("reloaded"), "{out}");
    assert_eq!(knocks_through(&t, 7150, v4_b, 43_300, 5), 0);
    let before = settled_queued(&e);
    assert_eq!(knocks_through(&t, 7150, v6, 43_400, 5), 5);
    assert_eq!(
        settled_queued(&e),
        before,
        "the v6 network is still bypassed"
    );
    assert_eq!(
        e.alerts(920051, 10)
            .iter()
            .filter(|a| a["src_ip"] == CLI4_B)
            .count(),
        5
    );
    // A bad address fails the reload and keeps the running list.
    std::fs::write(f.config(), config("\"2001:db8:1::/64\", \"192.0.2.300\"")).unwrap();
    let (ok, out) = reload(&f, &t);
    assert!(
        !ok && out.contains("bypass.addresses") && out.contains("192.0.2.300"),
        "{out}"
    );
    assert_eq!(knocks_through(&t, 7150, v6, 43_500, 3), 3);
    e.stop();
}

/// A rule file in `ids_rules` only alerts in an ips engine, while the other file's rules drop
/// and a sid listed in `ips_sids` acts although its file is in ids mode.
#[test]
fn a_rule_set_in_ids_mode_logs_would_drops_while_the_rest_drops() {
    require_netns!();
    let t = Topology::new();
    let policy =
        std::env::temp_dir().join(format!("verdict-ops-policy-{}.rules", std::process::id()));
    std::fs::write(
        &policy,
        "drop udp any any -> any 7130 (msg:\"new set\"; content:\"TRIAL\"; sid:920031; rev:1;)\n\
         drop udp any any -> any 7130 (msg:\"new set, trusted\"; content:\"SURE\"; sid:920032; rev:1;)\n",
    )
    .unwrap();
    let f = Files::new(
        "ruleset-modes",
        &format!(
            "[scan]\nenabled = false\n[engine]\nmode = \"ips\"\nids_rules = [{:?}]\nips_sids = [920032]\n",
            policy.to_str().unwrap()
        ),
    );
    let mut args = f.args();
    args.extend(["-r".to_string(), policy.to_str().unwrap().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = Engine::start(
        &t,
        "ops-ruleset-modes",
        "drop udp any any -> any 7130 (msg:\"old set\"; content:\"ESTABLISHED\"; sid:920033; rev:1;)\n",
        &args,
    );
    let got = udp_exchange(
        &t,
        7130,
        vec![
            b"TRIAL run".to_vec(),
            b"SURE run".to_vec(),
            b"ESTABLISHED run".to_vec(),
        ],
        Duration::from_millis(50),
    );
    let _ = std::fs::remove_file(&policy);
    assert_eq!(
        got,
        vec![b"TRIAL run".to_vec()],
        "the ids set's rule passes; its ips sid and the other file's rule drop"
    );
    assert_eq!(e.alerts(920031, 1)[0]["alert"]["action"], "allowed");
    assert_eq!(e.alerts(920032, 1)[0]["alert"]["action"], "blocked");
    assert_eq!(e.alerts(920033, 1)[0]["alert"]["action"], "blocked");
}

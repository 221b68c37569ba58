//! `verdict run` as a process on the gateway namespace: ready line, stats, clean removal on
//! SIGTERM, and fail-open when SIGKILLed mid-transfer. Root only.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use std::time::Duration;

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

fn log_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("verdict-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn no_leftovers(t: &Topology) {
    let rules = t.ruleset(&t.gw);
    let xt = String::from_utf8_lossy(&t.exec(&t.gw, &["iptables-nft", "-S"]).stdout).into_owned();
    assert!(
        !rules.contains("table inet verdict") && !xt.contains("VERDICT"),
        "{rules}\n{xt}"
    );
}

/// Waits (bounded) for an `iperf3 -J` client, checks it succeeded (`what` says what that
/// proves) and returns its report.
fn iperf3_report(cli: &mut common::netns::Bg, what: &str) -> serde_json::Value {
    let st = cli
        .wait_exit(Duration::from_secs(20))
        .expect("iperf3 client hung");
    let out = cli.output();
    assert!(st.success(), "{what}: {out}");
    serde_json::from_str(&out).expect("iperf3 -J output")
}

#[test]
fn accept_all_runs_counts_and_removes_itself_on_sigterm() {
    require_netns!();
    let t = Topology::new();
    let dir = log_dir("acceptall");
    let d = dir.to_str().unwrap();
    let mut v = t.spawn(
        &t.gw,
        &[
            VERDICT,
            "run",
            "--accept-all",
            "--workers",
            "2",
            "--log-dir",
            d,
        ],
    );
    v.wait_for("verdict: ready", Duration::from_secs(10))
        .unwrap();
    assert!(t.ruleset(&t.gw).contains("table inet verdict"));
    t.exec_ok(&t.cli, &["ping", "-c", "3", "-i", "0.2", "-W", "2", SRV4]);
    // The snapshot is rewritten every second.
    let stats = live::wait_for(Duration::from_secs(5), || {
        let out = t.exec(&t.gw, &[VERDICT, "stats", "--log-dir", d, "--json"]);
        let snap: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let received: u64 = snap["queues"]
            .as_array()?
            .iter()
            .map(|q| q["received"].as_u64().unwrap())
            .sum();
        (received >= 6).then_some(snap)
    })
    .unwrap_or_else(|| {
        let out = t.exec(&t.gw, &[VERDICT, "stats", "--log-dir", d, "--json"]);
        panic!(
            "stats never showed the 6 ping packets: {} {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            v.output()
        )
    });
    assert_eq!(stats["queues"].as_array().unwrap().len(), 2);
    let table =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &[VERDICT, "stats", "--log-dir", d]).stdout)
            .into_owned();
    assert!(
        table.contains("(running)") && table.contains("total"),
        "{table}"
    );

    v.signal(libc::SIGTERM);
    let st = v
        .wait_exit(Duration::from_secs(5))
        .expect("verdict did not exit on SIGTERM");
    assert!(st.success(), "{st}: {}", v.output());
    no_leftovers(&t);
    t.exec_ok(&t.cli, &["ping", "-c", "1", "-W", "2", SRV4]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_during_iperf3_does_not_stop_the_transfer() {
    require_netns!();
    let t = Topology::new();
    let dir = log_dir("sigkill");
    let mut srv = t.spawn(&t.srv, &["iperf3", "-s", "-1", "-B", SRV4]);
    t.wait_listening(&t.srv, 5201, false, Duration::from_secs(5));
    let d = dir.to_str().unwrap();
    let mut v = t.spawn(
        &t.gw,
        &[
            VERDICT,
            "run",
            "--accept-all",
            "--log-dir",
            d,
            "--stats-interval-ms",
            "100",
        ],
    );
    v.wait_for("verdict: ready", Duration::from_secs(10))
        .unwrap();
    let mut cli = t.spawn(
        &t.cli,
        &["iperf3", "-c", SRV4, "-t", "3", "-i", "0.5", "-J"],
    );
    std::thread::sleep(Duration::from_millis(1000));
    // The engine really was in the path: it has been queueing the transfer.
    let snap = verdict_engine::run::read_stats(&dir.join("stats.json")).unwrap();
    let received: u64 = snap.queues.iter().map(|q| q.received).sum();
    assert!(received > 100, "{snap:?}");
    v.signal(libc::SIGKILL);
    let json = iperf3_report(&mut cli, "iperf3 failed after the engine was killed");
    let intervals = json["intervals"].as_array().unwrap();
    // Intervals after the kill (t > 1.5 s) still move data.
    let late: Vec<f64> = intervals
        .iter()
        .map(|i| &i["sum"])
        .filter(|s| s["start"].as_f64().unwrap() >= 1.5)
        .map(|s| s["bits_per_second"].as_f64().unwrap())
        .collect();
    assert!(
        !late.is_empty() && late.iter().all(|&b| b > 1e6),
        "{late:?}"
    );
    let _ = srv.wait_exit(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Packets gw's steering rules handed to NFQUEUE: the `counter` of every queue rule in
/// `nft list ruleset` (verdict's own nft rules and iptables-nft's xt rules both show there).
/// The kernel counts nothing that a fail-open queue or `bypass` lets through uninspected
/// (`/proc/net/netfilter/nfnetlink_queue` counts drops only without fail-open), so this minus
/// what the engine received is what went uninspected.
fn packets_steered_to_queues(t: &Topology) -> u64 {
    t.ruleset(&t.gw)
        .lines()
        .filter(|l| l.contains(" queue ") || l.contains("NFQUEUE"))
        .filter_map(|l| {
            let rest = &l[l.find("counter packets ")? + "counter packets ".len()..];
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

fn received(dir: &std::path::Path) -> u64 {
    verdict_engine::run::read_stats(&dir.join("stats.json"))
        .map(|s| s.queues.iter().map(|q| q.received).sum())
        .unwrap_or(0)
}

#[test]
fn a_full_queue_fails_open_while_the_engine_is_frozen() {
    require_netns!();
    let t = Topology::new();
    let dir = log_dir("failopen");
    let d = dir.to_str().unwrap();
    let mut srv = t.spawn(&t.srv, &["iperf3", "-s", "-1", "-B", SRV4]);
    t.wait_listening(&t.srv, 5201, false, Duration::from_secs(5));
    let mut v = t.spawn(
        &t.gw,
        &[
            VERDICT,
            "run",
            "--accept-all",
            "--workers",
            "1",
            "--queue-max-len",
            "8",
            "--log-dir",
            d,
            "--stats-interval-ms",
            "100",
        ],
    );
    v.wait_for("verdict: ready", Duration::from_secs(10))
        .unwrap();
    t.exec_ok(&t.cli, &["ping", "-c", "2", "-i", "0.2", "-W", "2", SRV4]);
    // Before the freeze every steered packet reaches the engine.
    let settled = live::wait_for(Duration::from_secs(5), || {
        let (sent, got) = (packets_steered_to_queues(&t), received(&dir));
        let snap = verdict_engine::run::read_stats(&dir.join("stats.json")).ok()?;
        (sent >= 4 && sent == got && snap.uninspected() == Some(0)).then_some(sent)
    });
    let before = settled.unwrap_or_else(|| {
        panic!(
            "steered {} packets, the engine received {}",
            packets_steered_to_queues(&t),
            received(&dir)
        )
    });
    // Frozen, the engine reads nothing: after 8 packets the queue is full and the kernel
    // accepts the rest instead of dropping them (fail-open), so new connections work.
    v.signal(libc::SIGSTOP);
    // A queue that is merely unserved holds packets; one that is full fails open. Fill it.
    let ping = t.exec(&t.cli, &["ping", "-c", "12", "-i", "0.05", "-W", "1", SRV4]);
    let text = String::from_utf8_lossy(&ping.stdout).into_owned();
    assert!(
        text.contains("12 packets transmitted, 4 received"),
        "{text}"
    );
    let mut cli = t.spawn(&t.cli, &["iperf3", "-c", SRV4, "-t", "2", "-J"]);
    let json = iperf3_report(&mut cli, "iperf3 failed while the queue was full");
    v.signal(libc::SIGCONT);
    let bps = json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    assert!(bps > 1e7, "{bps} bit/s");
    // Thawed, the engine gets the 8 packets the full queue held (and whatever came after the
    // thaw); everything else steered during the freeze went through uninspected: the 4 late
    // pings and the transfer.
    let (steered, inspected) = live::wait_for(Duration::from_secs(5), || {
        let (sent, got) = (packets_steered_to_queues(&t), received(&dir));
        (got >= before + 8).then_some((sent - before, got - before))
    })
    .expect("the engine never got the 8 packets the queue held");
    let bypassed = steered - inspected;
    // Forwarded as GRO/GSO aggregates of up to 64 KiB, so at least this many packets.
    let segments = json["end"]["sum_sent"]["bytes"].as_f64().unwrap() / 65536.0;
    assert!(
        bypassed as f64 >= 4.0 + segments,
        "{bypassed} packets uninspected, the transfer alone was >= {segments:.0}"
    );
    println!("overload: {steered} packets steered to the frozen engine's queue, {inspected} held for it, {bypassed} passed uninspected ({bps:.0} bit/s)");
    // The engine counts the same from the same counters: `verdict stats` and its snapshot.
    let snap = live::wait_for(Duration::from_secs(5), || {
        let snap = verdict_engine::run::read_stats(&dir.join("stats.json")).ok()?;
        (snap.uninspected()? as f64 >= 4.0 + segments).then_some(snap)
    })
    .unwrap_or_else(|| {
        let snap = verdict_engine::run::read_stats(&dir.join("stats.json"));
        panic!("the engine never counted {segments:.0}+ uninspected packets: {snap:?}")
    });
    let counted = snap.uninspected().unwrap();
    assert!(
        counted <= bypassed + 100,
        "engine: {counted}, steering counters: {bypassed}"
    );
    let table =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &[VERDICT, "stats", "--log-dir", d]).stdout)
            .into_owned();
    assert!(
        table.contains(&format!("with no engine): {counted}\n")),
        "{table}"
    );
    println!("{table}");
    // Thawed, the engine still stops cleanly and removes its rules.
    v.signal(libc::SIGTERM);
    let st = v
        .wait_exit(Duration::from_secs(10))
        .expect("verdict did not stop");
    assert!(st.success(), "{}", v.output());
    no_leftovers(&t);
    let _ = srv.wait_exit(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn steering_script_for_nft_queue_is_valid_nft() {
    require_netns!();
    use verdict_engine::nfq::QueueNum;
    use verdict_nft::render::QueueMechanism;
    // `nft -c` validates in the kernel without committing. Without CONFIG_NFT_QUEUE the only
    // acceptable complaint is the missing queue expression, never a syntax error.
    let caps = verdict_nft::apply::probe();
    for queues in [vec![QueueNum(0)], vec![QueueNum(2), QueueNum(3)]] {
        let (script, xt) = verdict_engine::run::steer_everything(&queues, QueueMechanism::NftQueue);
        assert!(xt.is_empty());
        let path = std::env::temp_dir().join(format!("verdict-steer-{}.nft", std::process::id()));
        std::fs::write(&path, &script).unwrap();
        let out = std::process::Command::new("nft")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if caps.queue == QueueMechanism::NftQueue {
            assert!(out.status.success(), "{script}\n{err}");
        } else {
            assert!(
                !err.contains("syntax error") && err.contains("No such file or directory"),
                "{err}"
            );
        }
    }
}

#[test]
fn a_second_engine_refuses_to_start_and_leaves_the_first_alone() {
    require_netns!();
    let t = Topology::new();
    let (d1, d2) = (log_dir("first"), log_dir("second"));
    let mut first = t.spawn(
        &t.gw,
        &[
            VERDICT,
            "run",
            "--accept-all",
            "--log-dir",
            d1.to_str().unwrap(),
        ],
    );
    first
        .wait_for("verdict: ready", Duration::from_secs(10))
        .unwrap();
    let out = t.exec(
        &t.gw,
        &[
            VERDICT,
            "run",
            "--accept-all",
            "--log-dir",
            d2.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot bind"), "{err}");
    // The first engine's steering is untouched and it still serves traffic.
    let xt = String::from_utf8_lossy(&t.exec(&t.gw, &["iptables-nft", "-S"]).stdout).into_owned();
    assert!(xt.contains("-j VERDICT"), "{xt}");
    t.exec_ok(&t.cli, &["ping", "-c", "2", "-i", "0.2", "-W", "2", SRV4]);
    first.signal(libc::SIGTERM);
    assert!(first
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    no_leftovers(&t);
    for d in [d1, d2] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn an_engine_without_rules_refuses_to_start_unless_allowed() {
    require_netns!();
    let t = Topology::new();
    let dir = log_dir("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    // One rule that is disabled in the config, one that is rejected: nothing would be loaded.
    let rules = dir.join("empty.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any 80 (msg:\"off\"; content:\"x\"; sid:1;)\n\
         alert smb any any -> any 445 (msg:\"smb\"; smb.share; content:\"x\"; sid:2;)\n",
    )
    .unwrap();
    let cfg = dir.join("verdict.toml");
    std::fs::write(&cfg, "disabled = [1]\n").unwrap();
    let (r, c) = (rules.to_str().unwrap(), cfg.to_str().unwrap());
    let args = [VERDICT, "run", "-c", c, "-r", r, "--log-dir", d];
    let mut v = t.spawn(&t.gw, &args);
    let st = v.wait_exit(Duration::from_secs(10));
    let out = v.output();
    assert!(
        st.is_some_and(|s| !s.success()),
        "an engine with no rule started: {st:?}\n{out}"
    );
    assert!(
        out.contains("no rule is loaded") && out.contains("--allow-empty"),
        "{out}"
    );
    no_leftovers(&t);

    let mut args = args.to_vec();
    args.push("--allow-empty");
    let mut v = t.spawn(&t.gw, &args);
    v.wait_for("verdict: ready", Duration::from_secs(10))
        .unwrap();
    v.signal(libc::SIGTERM);
    let st = v
        .wait_exit(Duration::from_secs(10))
        .expect("verdict did not exit on SIGTERM");
    assert!(st.success(), "{st}: {}", v.output());
    no_leftovers(&t);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_panic_in_inspection_costs_one_packet_not_the_engine() {
    require_netns!();
    let t = Topology::new();
    let dir = log_dir("panic");
    let d = dir.to_str().unwrap();
    let mut v = t.spawn(
        &t.gw,
        &[
            VERDICT,
            "run",
            "--accept-all",
            "--workers",
            "1",
            "--log-dir",
            d,
            "--stats-interval-ms",
            "100",
            "--debug-panic-on",
            "PANIC-NOW",
        ],
    );
    v.wait_for("verdict: ready", Duration::from_secs(10))
        .unwrap();
    // Port 9 is closed on srv: its ICMP errors quote the datagram, so they panic too.
    let send = format!("for i in 1 2 3; do echo PANIC-NOW | nc -u -w1 {SRV4} 9; done; true");
    t.exec_ok(&t.cli, &["sh", "-c", &send]);
    let panics = live::wait_for(Duration::from_secs(5), || {
        let snap = verdict_engine::run::read_stats(&dir.join("stats.json")).ok()?;
        let n: u64 = snap.queues.iter().map(|q| q.panics).sum();
        (n >= 3).then_some(n)
    });
    assert!(
        v.child.try_wait().unwrap().is_none(),
        "the engine died of a worker panic: {}",
        v.output()
    );
    assert!(panics.is_some(), "3 panics not counted: {}", v.output());
    // The worker still inspects: pings go through the queue and are counted.
    let before: u64 = verdict_engine::run::read_stats(&dir.join("stats.json"))
        .unwrap()
        .queues
        .iter()
        .map(|q| q.received)
        .sum();
    t.exec_ok(&t.cli, &["ping", "-c", "2", "-i", "0.2", "-W", "2", SRV4]);
    let counted = live::wait_for(Duration::from_secs(5), || {
        let snap = verdict_engine::run::read_stats(&dir.join("stats.json")).ok()?;
        let n: u64 = snap.queues.iter().map(|q| q.received).sum();
        (n >= before + 4).then_some(n)
    });
    assert!(counted.is_some(), "the worker stopped inspecting");
    let table =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &[VERDICT, "stats", "--log-dir", d]).stdout)
            .into_owned();
    assert!(table.contains("panics"), "{table}");
    v.signal(libc::SIGTERM);
    let st = v
        .wait_exit(Duration::from_secs(10))
        .expect("verdict did not exit on SIGTERM");
    assert!(st.success(), "{st}: {}", v.output());
    assert!(
        v.output().contains("inspection panicked"),
        "the reason is not logged: {}",
        v.output()
    );
    no_leftovers(&t);
    let _ = std::fs::remove_dir_all(&dir);
}

/// verdict's tables, its nft queue rules (counters cut off) and its xt steering in gw, sorted:
/// equal lists mean nothing was added or doubled.
fn verdict_footprint(t: &Topology) -> (Vec<String>, Vec<String>) {
    let mut nft: Vec<String> = t
        .ruleset(&t.gw)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("table inet verdict") || l.contains(" queue "))
        .map(|l| match l.find("counter packets ") {
            Some(i) => l[..i].to_string(),
            None => l.to_string(),
        })
        .collect();
    nft.sort();
    let xt = String::from_utf8_lossy(&t.exec_ok(&t.gw, &["iptables-save"]).stdout).into_owned();
    let mut steering: Vec<String> = xt
        .lines()
        .filter(|l| l.contains("VERDICT"))
        .map(str::to_string)
        .collect();
    steering.sort();
    (nft, steering)
}

#[test]
fn a_sigkilled_engine_restarts_cleanly_and_inspects_again() {
    require_netns!();
    use live::{udp_exchange, Engine};
    let t = Topology::new();
    // The tcp rule queues the transfer's port (the engine is in its path); the udp one is
    // the drop that shows the restarted engine inspects.
    let rules = "alert tcp any any -> any 5201 (msg:\"never\"; content:\"NEVER-SEEN-8c1f\"; sid:940001; rev:1;)\n\
                 drop udp any any -> any 7300 (msg:\"drop me\"; content:\"DROPME\"; sid:940002; rev:1;)\n";
    let mut srv = t.spawn(&t.srv, &["iperf3", "-s", "-1", "-B", SRV4]);
    t.wait_listening(&t.srv, 5201, false, Duration::from_secs(5));
    let mut first = Engine::start(&t, "crash1", rules, &[]);
    let running = verdict_footprint(&t);
    let tables = running
        .0
        .iter()
        .filter(|l| *l == "table inet verdict {")
        .count();
    assert_eq!(tables, 1, "{}", t.ruleset(&t.gw));
    let steers = running.0.iter().any(|l| l.contains(" queue "))
        || running.1.iter().any(|l| l.contains("NFQUEUE"));
    assert!(steers, "no steering to the queues: {running:?}");
    let mut cli = t.spawn(
        &t.cli,
        &["iperf3", "-c", SRV4, "-t", "5", "-i", "0.5", "-J"],
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(first.queued() > 100, "{:?}", first.stats());
    first.bg.signal(libc::SIGKILL);
    first
        .bg
        .wait_exit(Duration::from_secs(5))
        .expect("SIGKILL did not end verdict");
    // What a SIGKILL leaves: the table and steering, failing open through the queue bypass.
    assert_eq!(verdict_footprint(&t), running);
    std::thread::sleep(Duration::from_millis(500));

    // Started again while the transfer still runs: it takes over the table and the steering
    // in place (nothing doubled) and picks the transfer up mid-flow.
    let second = Engine::start(&t, "crash2", rules, &[]);
    assert_eq!(verdict_footprint(&t), running, "{}", t.ruleset(&t.gw));
    let json = iperf3_report(&mut cli, "the transfer was lost across the restart");
    let slow: Vec<(f64, f64)> = json["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["sum"])
        .map(|s| {
            (
                s["start"].as_f64().unwrap(),
                s["bits_per_second"].as_f64().unwrap(),
            )
        })
        .filter(|&(_, bps)| bps <= 1e6)
        .collect();
    assert!(slow.is_empty(), "intervals that stalled: {slow:?}");
    let min_bps = json["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["sum"]["bits_per_second"].as_f64())
        .fold(f64::INFINITY, f64::min);
    println!(
        "restart: transfer kept, slowest 0.5 s interval {min_bps:.0} bit/s; new engine: {:?} uninspected",
        second.stats().uninspected()
    );
    assert!(
        second.queued() > 100,
        "the new engine did not see the transfer: {:?}",
        second.stats()
    );
    // The new engine inspects: the DROPME datagram is dropped and alerted, the others pass.
    let got = udp_exchange(
        &t,
        7300,
        vec![b"one".to_vec(), b"DROPME".to_vec(), b"three".to_vec()],
        Duration::from_millis(200),
    );
    assert_eq!(got, vec![b"one".to_vec(), b"three".to_vec()]);
    assert_eq!(second.alerts(940002, 1).len(), 1);
    let mut second = second;
    second.stop();
    no_leftovers(&t);
    let left = verdict_footprint(&t);
    assert!(left.0.is_empty() && left.1.is_empty(), "{left:?}");
    let _ = srv.wait_exit(Duration::from_secs(5));
}

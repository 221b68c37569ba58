//! Reloading a running engine the way operators and their tools do, end to end with the real
//! binary in the cli — gw — srv namespaces: `kill -HUP` (a new rule drops live; a broken rule
//! file keeps the old rules and logs the diagnostic with file:line:col), a reload that changes
//! the kernel rules under a TCP stream and a ping flow (the table and the steering are replaced
//! without a gap), and log reopening after logrotate renamed the files. Root only; every wait
//! and every traffic loop is bounded.

mod common;
mod live;

use common::netns::Topology;
use live::*;
use std::time::Duration;

/// The engine's rule file (`Engine::start` writes the rules to `DIR/test.rules`).
fn rule_file(e: &Engine) -> std::path::PathBuf {
    e.dir.join("test.rules")
}

#[test]
fn sighup_reloads_the_rules_and_thresholds_and_a_broken_file_keeps_the_old_ones() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("hup", "[scan]\nenabled = false\n");
    let old = "drop udp any any -> any 7160 (msg:\"old\"; content:\"OLD\"; sid:920061; rev:1;)\n";
    let mut e = f.start(&t, "ops-hup", old);
    let got = udp_exchange(
        &t,
        7160,
        vec![b"OLD".to_vec(), b"NEW".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(got, vec![b"NEW".to_vec()], "before the reload");

    // A new drop rule in the file, then `kill -HUP`: no command, no socket.
    std::fs::write(
        rule_file(&e),
        format!("{old}drop udp any any -> any 7160 (msg:\"new\"; content:\"NEW\"; sid:920062; rev:1;)\n"),
    )
    .unwrap();
    e.bg.signal(libc::SIGHUP);
    let line = e.bg.wait_for("SIGHUP: ", Duration::from_secs(15)).unwrap();
    assert!(line.contains("reloaded in"), "{line}");
    let got = udp_exchange(
        &t,
        7160,
        vec![b"OLD".to_vec(), b"NEW".to_vec(), b"other".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(
        got,
        vec![b"other".to_vec()],
        "the new rule drops after SIGHUP"
    );

    // A typo on line 2, column 43 (`conten`): the reload is refused, the error names the
    // place, and both rules that ran before still drop.
    std::fs::write(
        rule_file(&e),
        format!(
            "{old}drop udp any any -> any 7160 (msg:\"typo\"; conten:\"X\"; sid:920063; rev:1;)\n"
        ),
    )
    .unwrap();
    e.bg.signal(libc::SIGHUP);
    e.bg.wait_for("SIGHUP: reload failed", Duration::from_secs(15))
        .unwrap();
    let at = format!("{}:2:", rule_file(&e).display());
    let out =
        e.bg.wait_for(&at, Duration::from_secs(5))
            .unwrap_or_else(|o| panic!("no file:line:col in the log: {o}"));
    assert!(
        out.contains(&format!("{at}43")),
        "the diagnostic points at `conten`: {out}"
    );
    let all = e.bg.output();
    assert!(all.contains("previous rules keep running"), "{all}");
    let got = udp_exchange(
        &t,
        7160,
        vec![b"OLD".to_vec(), b"NEW".to_vec(), b"X".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(
        got,
        vec![b"X".to_vec()],
        "the rules of before the typo still run"
    );
    let ops = wait_for(Duration::from_secs(3), || {
        e.stats().ops.filter(|o| o.reload_failures == 1)
    })
    .expect("the failed reload is counted");
    assert_eq!(ops.reloads, 1, "{ops:?}");

    // The threshold file is read with the rules: a config that now names one, with a bad
    // line, fails the SIGHUP the same way (file:line); a good one then silences sid 920062.
    std::fs::write(
        rule_file(&e),
        format!("{old}drop udp any any -> any 7160 (msg:\"new\"; content:\"NEW\"; sid:920062; rev:1;)\n"),
    )
    .unwrap();
    let th = f.thresholds();
    std::fs::write(
        f.config(),
        format!(
            "threshold_file = \"{}\"\n[scan]\nenabled = false\n",
            th.display()
        ),
    )
    .unwrap();
    std::fs::write(
        &th,
        "suppress gen_id 1, sig_id 920062, track by_sideways, ip 192.0.2.2\n",
    )
    .unwrap();
    e.bg.signal(libc::SIGHUP);
    let line =
        e.bg.wait_for(&format!("{}:1:", th.display()), Duration::from_secs(15))
            .unwrap();
    assert!(line.contains("SIGHUP: reload failed"), "{line}");
    std::fs::write(
        &th,
        "suppress gen_id 1, sig_id 920062, track by_src, ip 192.0.2.2\n",
    )
    .unwrap();
    e.bg.signal(libc::SIGHUP);
    e.bg.wait_for("SIGHUP: reloaded in", Duration::from_secs(15))
        .unwrap();
    let before = e.alerts(920062, 1).len();
    let got = udp_exchange(
        &t,
        7160,
        vec![b"OLD".to_vec(), b"NEW".to_vec()],
        Duration::from_millis(50),
    );
    assert!(got.is_empty(), "both rules still drop: {got:?}");
    e.alerts(920061, 3);
    assert_eq!(
        e.alerts(920062, 1).len(),
        before,
        "the suppress silences 920062"
    );
    e.stop();
}

/// Sends `n` datagrams `PREFIX i` from cli to srv:`port`, each from its own source port
/// counting up from `first_sport` (a new flow each: a drop also drops the rest of its flow,
/// in the kernel, so one flow would stop testing inspection after its first packet).
fn udp_flows(
    t: &Topology,
    port: u16,
    prefix: &'static str,
    (first_sport, n): (u16, u16),
    every: Duration,
) -> std::thread::JoinHandle<()> {
    t.in_ns(&t.cli, move || {
        for i in 0..n {
            let s = std::net::UdpSocket::bind((common::netns::CLI4, first_sport + i)).unwrap();
            s.send_to(
                format!("{prefix} {i}").as_bytes(),
                (common::netns::SRV4, port),
            )
            .unwrap();
            std::thread::sleep(every);
        }
    })
}

/// Rules of the table-swap test: a queued drop rule (pcre needs the engine), a kernel drop
/// rule in both versions, and one kernel drop rule that version B swaps for another; B also
/// queues one more port, so that the steering changes with every reload too.
fn swap_rules(b: bool) -> String {
    let changing = if b {
        "drop udp any any -> any 7172 (msg:\"kernel added\"; sid:920073; rev:1;)\n\
         alert udp any any -> any 7175 (msg:\"more steering\"; pcre:\"/^STEER/\"; sid:920076; rev:1;)\n"
    } else {
        "drop udp any any -> any 7173 (msg:\"kernel removed\"; sid:920074; rev:1;)\n"
    };
    format!(
        "drop udp any any -> any 7170 (msg:\"bad\"; pcre:\"/^BAD \\d+$/\"; sid:920071; rev:1;)\n\
         drop udp any any -> any 7171 (msg:\"kernel kept\"; sid:920072; rev:1;)\n\
         {changing}\
         alert tcp any any -> any 7174 (msg:\"stream\"; flow:established,to_server; content:\"never-there\"; sid:920075; rev:1;)\n"
    )
}

/// What each `nft list ruleset` of gw showed while it was polled: (polls, polls without
/// verdict's table, polls without the xt jump into the steering chain when it had one).
fn poll_ruleset(
    t: &Topology,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(usize, usize, usize)> {
    t.in_ns(&t.gw, move || {
        let (mut polls, mut no_table, mut no_jump) = (0, 0, 0);
        let mut xt = None;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let out = std::process::Command::new("nft")
                .args(["list", "ruleset"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            polls += 1;
            if !out.status.success() || !text.contains("table inet verdict {") {
                no_table += 1;
            }
            // Two jumps (ip and ip6 filter) in xt mode, none with nft's own queue statement.
            let jumps = text.matches("jump VERDICT").count();
            match xt {
                None => xt = Some(jumps),
                Some(n) if jumps < n => no_jump += 1,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (polls, no_table, no_jump)
    })
}

#[test]
fn reload_swaps_kernel_rules_under_traffic_without_a_gap() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("swap", "[scan]\nenabled = false\n");
    let mut e = f.start(&t, "ops-swap", &swap_rules(false));
    let out = e.bg.output();
    assert!(out.contains("2 in kernel, 2 in queue"), "{out}");
    let xt_before = t.exec_ok(&t.gw, &["iptables-nft", "-S", "VERDICT"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poll = poll_ruleset(&t, std::sync::Arc::clone(&stop));

    // About 3 s of traffic (the stream 4 s at least): a TCP stream through the queue, a ping
    // flow, new UDP flows every 2 ms to the queued drop rule and to the kept kernel drop rule.
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let server = tcp_server(&t, 7174, None, Duration::from_secs(5));
    let client = tcp_client(
        &t,
        7174,
        vec![chunk.clone(); 768],
        Duration::from_millis(5),
        Duration::from_secs(5),
    );
    let bad_rx = udp_counter(&t, common::netns::SRV4, 7170, Duration::from_millis(1500));
    let kept_rx = udp_counter(&t, common::netns::SRV4, 7171, Duration::from_millis(1500));
    let bad_tx = udp_flows(&t, 7170, "BAD", (44_000, 1500), Duration::from_millis(2));
    let kept_tx = udp_flows(&t, 7171, "KEPT", (46_000, 1500), Duration::from_millis(2));
    let ping = {
        let cli = t.cli.clone();
        std::thread::spawn(move || {
            std::process::Command::new("ip")
                .args([
                    "netns", "exec", &cli, "ping", "-c", "300", "-i", "0.01", "-W", "2",
                ])
                .arg(common::netns::SRV4)
                .output()
                .unwrap()
        })
    };

    // Five reloads, each changing the kernel table (B, A, B, A, B).
    let mut took = Vec::new();
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(e.dir.join("test.rules"), swap_rules(i % 2 == 0)).unwrap();
        let asked = std::time::Instant::now();
        let (ok, out) = f.verdict(&t, "reload", &[]);
        took.push(asked.elapsed());
        assert!(ok && out.contains("reloaded"), "{out}");
    }
    assert!(
        !server.is_finished(),
        "the stream ended before the reloads did"
    );

    bad_tx.join().unwrap();
    kept_tx.join().unwrap();
    let seen = server.join().unwrap();
    let client_end = client.join().unwrap();
    let ping = ping.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (polls, no_table, no_jump) = poll.join().unwrap();
    let (bad, kept) = (bad_rx.join().unwrap(), kept_rx.join().unwrap());

    assert_eq!(
        seen.data.len(),
        768 * 65536,
        "stream cut short: {:?}",
        seen.end
    );
    assert!(seen.data.chunks(65536).all(|c| c == chunk.as_slice()));
    assert_eq!(
        client_end.end, None,
        "the client saw its stream end with an error"
    );
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping_out.contains("300 packets transmitted, 300 received"),
        "{ping_out}"
    );
    assert_eq!(
        bad, 0,
        "datagrams for the queued drop rule passed during a reload"
    );
    assert_eq!(
        kept, 0,
        "datagrams for the kept kernel drop rule passed during a reload"
    );
    assert!(polls > 20, "the ruleset was polled {polls} times only");
    // Each reload replaced the steering rules, whose counters start again from zero: what the
    // old ones counted is carried, so the count of steered packets goes on (bar the packets
    // of the instant between reading the old counters and the swap).
    std::thread::sleep(Duration::from_millis(300));
    let s = e.stats();
    let received: u64 = s.queues.iter().map(|q| q.received).sum();
    let steered = s.steered.expect("steering counters");
    assert!(
        steered >= received - received / 10 && steered <= received + received / 10,
        "steered {steered}, received {received}: the steering count did not carry over"
    );
    assert_eq!(
        no_table, 0,
        "{no_table} of {polls} listings had no verdict table"
    );
    assert_eq!(
        no_jump, 0,
        "{no_jump} of {polls} listings had no steering jump"
    );
    println!(
        "5 reloads (took {took:?}) under a {} MiB stream, 300 pings, 2 × 1500 new flows: \
         0 dropped-rule datagrams through, {polls} ruleset listings all complete; \
         {steered} packets steered, {received} received",
        seen.data.len() >> 20
    );

    // Version B runs: the added kernel rule drops, the removed one no longer does.
    let added = udp_counter(&t, common::netns::SRV4, 7172, Duration::from_millis(700));
    udp_flows(&t, 7172, "ADDED", (48_000, 5), Duration::from_millis(20))
        .join()
        .unwrap();
    assert_eq!(added.join().unwrap(), 0, "the added kernel rule drops");
    let removed = udp_counter(&t, common::netns::SRV4, 7173, Duration::from_millis(700));
    udp_flows(&t, 7173, "REMOVED", (48_100, 5), Duration::from_millis(20))
        .join()
        .unwrap();
    assert_eq!(
        removed.join().unwrap(),
        5,
        "the removed kernel rule is gone"
    );
    let table = String::from_utf8_lossy(
        &t.exec_ok(&t.gw, &["nft", "list", "table", "inet", "verdict"])
            .stdout,
    )
    .into_owned();
    assert!(
        table.contains("dport 7172") && !table.contains("dport 7173"),
        "{table}"
    );
    // The steering did change (7175 is queued in B), in xt mode as in nft's.
    let xt_after = t.exec_ok(&t.gw, &["iptables-nft", "-S", "VERDICT"]);
    if !xt_before.stdout.is_empty() {
        assert_ne!(xt_before.stdout, xt_after.stdout);
        assert!(String::from_utf8_lossy(&xt_after.stdout).contains("7175"));
    }
    e.stop();
}

/// EVE alert records of one file (which may be a rotated one), by `alert.signature_id`.
fn sids_in(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("EVE line is JSON"))
        .filter(|v| v["event_type"] == "alert")
        .filter_map(|v| v["alert"]["signature_id"].as_u64())
        .collect()
}

/// One datagram `MARK` to srv:7180 from a new flow, and waits until its alert is in `file`
/// (at most 3 s: the writer flushes every 200 ms).
fn alert_into(t: &Topology, mark: &'static str, sport: u16, file: &std::path::Path, sid: u64) {
    udp_flows(t, 7180, mark, (sport, 1), Duration::from_millis(1))
        .join()
        .unwrap();
    let found = wait_for(Duration::from_secs(3), || {
        sids_in(file).contains(&sid).then_some(())
    });
    assert!(
        found.is_some(),
        "sid {sid} not in {}: {:?}",
        file.display(),
        sids_in(file)
    );
}

#[test]
fn logs_are_reopened_after_rotation_by_ctl_reopen_and_sigusr1() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("reopen", "[scan]\nenabled = false\n");
    let rules: String = ["ONE", "TWO", "THREE", "FOUR", "FIVE"]
        .iter()
        .zip(920081..)
        .map(|(m, sid)| {
            format!("alert udp any any -> any 7180 (msg:\"{m}\"; content:\"{m} \"; sid:{sid}; rev:1;)\n")
        })
        .collect();
    let mut e = f.start(&t, "ops-reopen", &rules);
    let (eve, fast) = (e.dir.join("eve.json"), e.dir.join("fast.log"));
    let (eve1, fast1) = (e.dir.join("eve.json.1"), e.dir.join("fast.log.1"));
    alert_into(&t, "ONE", 45_000, &eve, 920081);

    // logrotate renames; until the engine reopens, records go on into the renamed files.
    std::fs::rename(&eve, &eve1).unwrap();
    std::fs::rename(&fast, &fast1).unwrap();
    alert_into(&t, "TWO", 45_001, &eve1, 920082);
    let (ok, out) = f.verdict(&t, "ctl", &["reopen"]);
    assert!(ok && out.contains("log files reopened"), "{out}");
    alert_into(&t, "THREE", 45_002, &eve, 920083);
    assert_eq!(
        sids_in(&eve1),
        vec![920081, 920082],
        "nothing lost in the old file"
    );
    assert_eq!(sids_in(&eve), vec![920083]);
    let old_fast = std::fs::read_to_string(&fast1).unwrap();
    let new_fast = std::fs::read_to_string(&fast).unwrap();
    assert!(
        old_fast.contains(":920081:")
            && old_fast.contains(":920082:")
            && !old_fast.contains(":920083:"),
        "{old_fast}"
    );
    assert!(
        new_fast.contains(":920083:") && new_fast.lines().count() == 1,
        "{new_fast}"
    );

    // Again with SIGUSR1 (no socket needed), which reopens without reloading the rules.
    let (eve2, fast2) = (e.dir.join("eve.json.2"), e.dir.join("fast.log.2"));
    std::fs::rename(&eve, &eve2).unwrap();
    std::fs::rename(&fast, &fast2).unwrap();
    alert_into(&t, "FOUR", 45_003, &eve2, 920084);
    e.bg.signal(libc::SIGUSR1);
    e.bg.wait_for("SIGUSR1: log files reopened", Duration::from_secs(5))
        .unwrap();
    alert_into(&t, "FIVE", 45_004, &eve, 920085);
    assert_eq!(sids_in(&eve2), vec![920083, 920084]);
    assert_eq!(sids_in(&eve), vec![920085]);
    assert!(std::fs::read_to_string(&fast).unwrap().contains(":920085:"));
    let ops = e.stats().ops.unwrap();
    assert_eq!(ops.reloads, 0, "a reopen is not a reload: {ops:?}");
    let out = e.stop();
    assert!(out.contains("5 alerts written"), "{out}");
}

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
    let st = cli
        .wait_exit(Duration::from_secs(15))
        .expect("iperf3 client hung");
    let out = cli.output();
    assert!(
        st.success(),
        "iperf3 failed after the engine was killed: {out}"
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("iperf3 -J output");
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

//! The Prometheus endpoint end to end: `verdict run` in gw with `[metrics] listen` set, real
//! UDP traffic from cli to srv, the endpoint fetched with curl, and the exposition text parsed
//! here: family names and types, and counters that moved by exactly what was sent. Root only;
//! every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, CLI4, SRV4};
use live::*;
use std::collections::HashMap;
use std::time::Duration;

const PORT: &str = "19917";

const RULES: &str = "drop udp any any -> any 7200 (msg:\"metrics drop\"; content:\"BAD\"; sid:930001; rev:1;)\n\
                     alert udp any any -> any 7201 (msg:\"metrics alert\"; content:\"HELLO\"; sid:930002; rev:1;)\n";

/// One parsed exposition: family types by name, and samples by name and sorted labels.
#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: HashMap<(String, Vec<(String, String)>), f64>,
}

impl Exposition {
    /// Parses the text format, failing on anything malformed: a sample of an undeclared family,
    /// a bad label set, a value that is not a number, a missing `# EOF`.
    fn parse(text: &str) -> Result<Exposition, String> {
        let mut e = Exposition::default();
        let mut eof = false;
        for line in text.lines() {
            if eof {
                return Err(format!("text after # EOF: {line}"));
            }
            if line == "# EOF" {
                eof = true;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').ok_or(line)?;
                if ![
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "info",
                    "unknown",
                ]
                .contains(&ty)
                {
                    return Err(format!("unknown type: {line}"));
                }
                e.types.insert(name.into(), ty.into());
            } else if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            } else {
                let (name, labels, value) = sample(line)?;
                let family = e
                    .types
                    .iter()
                    .find(|(f, ty)| {
                        name == **f || (ty.as_str() == "counter" && name == format!("{f}_total"))
                    })
                    .ok_or(format!("sample of an undeclared family: {line}"))?;
                if !family.0.starts_with("verdict_") {
                    return Err(format!("not a verdict metric: {line}"));
                }
                e.samples.insert((name, labels), value);
            }
        }
        if !eof {
            return Err("no # EOF".into());
        }
        Ok(e)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        self.samples.get(&(name.to_string(), l)).copied()
    }

    /// Sum of a sample over every label set that has `label`=`value`.
    fn sum(&self, name: &str, label: &str, value: &str) -> f64 {
        self.samples
            .iter()
            .filter(|((n, l), _)| n == name && l.iter().any(|(k, v)| k == label && v == value))
            .map(|(_, v)| v)
            .sum()
    }
}

/// A sample's name, sorted labels and value.
type Sample = (String, Vec<(String, String)>, f64);

/// `name{k="v",...} value`.
fn sample(line: &str) -> Result<Sample, String> {
    let (head, value) = line.rsplit_once(' ').ok_or(line)?;
    let value: f64 = value.parse().map_err(|_| format!("bad value: {line}"))?;
    let (name, labels) = match head.split_once('{') {
        None => (head, Vec::new()),
        Some((name, rest)) => {
            let body = rest
                .strip_suffix('}')
                .ok_or(format!("bad labels: {line}"))?;
            let mut labels = Vec::new();
            for pair in body.split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or(format!("bad label: {line}"))?;
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or(format!("unquoted label: {line}"))?;
                labels.push((k.to_string(), v.to_string()));
            }
            labels.sort();
            (name, labels)
        }
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("bad metric name: {line}"));
    }
    Ok((name.to_string(), labels, value))
}

fn scrape(t: &Topology) -> Exposition {
    let get = || {
        let out = t.exec(
            &t.gw,
            &[
                "curl",
                "-sS",
                "--max-time",
                "5",
                &format!("http://127.0.0.1:{PORT}/metrics"),
            ],
        );
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // Right after `ready` the run loop may not have written its first snapshot yet.
    let text = wait_for(Duration::from_secs(3), || {
        Some(get()).filter(|t| !t.contains("no snapshot yet"))
    })
    .unwrap_or_else(get);
    Exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn send(t: &Topology, port: u16, prefix: &'static str, n: usize) {
    t.in_ns(&t.cli, move || {
        for i in 0..n {
            // A new flow each: a drop drops the rest of its flow without matching again.
            let s = std::net::UdpSocket::bind((CLI4, 0)).unwrap();
            s.send_to(format!("{prefix} {i}").as_bytes(), (SRV4, port))
                .unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .join()
    .unwrap();
}

#[test]
fn metrics_endpoint_serves_what_stats_shows_and_counts_the_traffic() {
    require_netns!();
    if !common::netns::run(&["sh", "-c", "command -v curl"])
        .status
        .success()
    {
        common::must_run::skip("curl is not installed (run .ci/setup)");
        return;
    }
    let t = Topology::new();
    let dir = TempDir::new("verdict-metrics");
    let config = dir.0.join("verdict.toml");
    std::fs::write(
        &config,
        format!("[scan]\nenabled = false\n[metrics]\nlisten = \"127.0.0.1:{PORT}\"\n"),
    )
    .unwrap();
    let socket = dir.0.join("control.sock");
    let socket = socket.to_str().unwrap();
    let state = dir.0.join("state.json");
    let e = Engine::start(
        &t,
        "metrics",
        RULES,
        &[
            "--config",
            config.to_str().unwrap(),
            "--control-socket",
            socket,
            "--state-file",
            state.to_str().unwrap(),
        ],
    );

    let before = scrape(&t);
    for (name, ty) in [
        ("verdict_packets", "counter"),
        ("verdict_bytes", "counter"),
        ("verdict_worker_busy_seconds", "counter"),
        ("verdict_queue_overflows", "counter"),
        ("verdict_kernel_queue_dropped", "counter"),
        ("verdict_kernel_queue_waiting", "gauge"),
        ("verdict_reloads", "counter"),
        ("verdict_last_reload_duration_seconds", "gauge"),
        ("verdict_uptime_seconds", "gauge"),
        ("verdict_decode_errors", "counter"),
        ("verdict_pcre_limit_hits", "counter"),
        ("verdict_flows", "gauge"),
        ("verdict_flows_evicted", "counter"),
        ("verdict_stream_memory_bytes", "gauge"),
        ("verdict_stream_events", "counter"),
    ] {
        assert_eq!(
            before.types.get(name).map(String::as_str),
            Some(ty),
            "{name}: {before:?}"
        );
    }
    let dropped0 = before.sum("verdict_packets_total", "verdict", "dropped");
    let accepted0 = before.sum("verdict_packets_total", "verdict", "accepted");

    // 5 datagrams "BAD i" (dropped), 7 "HELLO i" (alerted, passed): one byte of payload each
    // for i < 10, so every packet is 20 (IPv4) + 8 (UDP) + payload bytes long.
    send(&t, 7200, "BAD", 5);
    send(&t, 7201, "HELLO", 7);
    let queued = wait_for(Duration::from_secs(5), || {
        Some(e.stats()).filter(|s| {
            s.queues.iter().map(|q| q.received).sum::<u64>() >= 12
                && s.rules.iter().map(|r| r.hits).sum::<u64>() >= 12
        })
    });
    assert!(queued.is_some(), "{:?}", e.stats());
    // One more interval, so the scrape and the snapshot below are the same numbers.
    std::thread::sleep(Duration::from_millis(300));
    let after = scrape(&t);
    let stats = e.stats();

    let delta = |name: &str, verdict: &str, b: f64| after.sum(name, "verdict", verdict) - b;
    assert_eq!(delta("verdict_packets_total", "dropped", dropped0), 5.0);
    assert_eq!(delta("verdict_packets_total", "accepted", accepted0), 7.0);
    assert_eq!(
        after.sum("verdict_bytes_total", "verdict", "dropped"),
        5.0 * (28.0 + 5.0)
    );
    assert_eq!(
        after.sum("verdict_bytes_total", "verdict", "accepted"),
        7.0 * (28.0 + 7.0)
    );
    // Each datagram was a flow of its own, tracked by the worker that saw it.
    let flows = after.get("verdict_flows", &[]).unwrap_or(0.0);
    assert!(flows >= 12.0, "verdict_flows {flows}");
    assert_eq!(after.get("verdict_decode_errors_total", &[]), Some(0.0));
    // A family with no series (no rule fired yet) has no TYPE line; now it has one.
    assert_eq!(
        after.types.get("verdict_rule_hits").map(String::as_str),
        Some("counter")
    );
    for (sid, n) in [("930001", 5.0), ("930002", 7.0)] {
        assert_eq!(
            after.get("verdict_rule_hits_total", &[("gid", "1"), ("sid", sid)]),
            Some(n),
            "{after:?}"
        );
    }
    // The kernel spreads flows over the queues by hash: every queue that received packets
    // has spent time on them (which queue that is depends on the source ports).
    for q in stats.queues.iter().filter(|q| q.received > 0) {
        let busy = after.sum(
            "verdict_worker_busy_seconds_total",
            "queue",
            &q.queue.to_string(),
        );
        assert!(
            busy > 0.0,
            "queue {} received {} packets: {after:?}",
            q.queue,
            q.received
        );
    }
    // `verdict stats --json` shows the same numbers.
    for q in &stats.queues {
        let qn = q.queue.to_string();
        let l = |v: &'static str| [("queue", qn.clone()), ("verdict", v.to_string())];
        let get = |v: &'static str| {
            let l = l(v);
            after.get(
                "verdict_packets_total",
                &[(l[0].0, l[0].1.as_str()), (l[1].0, l[1].1.as_str())],
            )
        };
        assert_eq!(get("accepted"), Some(q.accepted as f64));
        assert_eq!(get("dropped"), Some(q.dropped as f64));
    }
    let human = t.exec(
        &t.gw,
        &[VERDICT, "stats", "--log-dir", e.dir.to_str().unwrap()],
    );
    let human = String::from_utf8_lossy(&human.stdout).to_string();
    assert!(
        human.contains("bytes drop") && human.contains(&format!("{}", 5 * 33)),
        "{human}"
    );

    // A reload shows in the counters.
    let out = t.exec(&t.gw, &[VERDICT, "reload", "--socket", socket]);
    assert!(out.status.success(), "{out:?}");
    let reloaded = wait_for(Duration::from_secs(3), || {
        Some(scrape(&t)).filter(|m| m.get("verdict_reloads_total", &[]) == Some(1.0))
    })
    .expect("verdict_reloads_total did not reach 1");
    assert!(
        reloaded
            .get("verdict_last_reload_duration_seconds", &[])
            .unwrap_or(0.0)
            > 0.0
    );
}

/// A directory removed on drop, also when the test fails.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

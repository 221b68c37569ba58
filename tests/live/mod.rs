//! Helpers of the live end-to-end tests on top of the shared harness (`tests/common`).
#![allow(dead_code)]

use crate::common::netns::Topology;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Running code (not only commands) inside the topology's namespaces.
pub trait InNs {
    /// Runs `f` on a thread that entered namespace `ns`: sockets it opens, and processes it
    /// starts, live there.
    fn in_ns<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T>;
}

impl InNs for Topology {
    fn in_ns<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("netns file");
            // SAFETY: setns on a namespace file we just opened; affects only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}");
            f()
        })
    }
}

/// Polls `f` until it returns Some or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `verdict run` started in the gateway namespace with a rule file; its log dir is removed on
/// drop (the process is killed by `Bg`'s drop, the namespaces by the topology's).
pub struct Engine {
    pub bg: crate::common::netns::Bg,
    pub dir: std::path::PathBuf,
}

/// Path of the verdict binary under test.
pub const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

impl Engine {
    /// Writes `rules` to a file and runs `verdict run -r FILE --log-dir DIR extra...` in gw,
    /// waiting (bounded) for the ready line.
    pub fn start(t: &Topology, tag: &str, rules: &str, extra: &[&str]) -> Engine {
        Engine::start_configured(t, tag, rules, None, extra)
    }

    /// [`Engine::start`] with `config` as its `verdict.toml` (kept in its log dir).
    pub fn start_with_config(t: &Topology, tag: &str, rules: &str, config: &str) -> Engine {
        Engine::start_configured(t, tag, rules, Some(config), &[])
    }

    fn start_configured(
        t: &Topology,
        tag: &str,
        rules: &str,
        config: Option<&str>,
        extra: &[&str],
    ) -> Engine {
        let dir = std::env::temp_dir().join(format!("verdict-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("test.rules");
        std::fs::write(&file, rules).unwrap();
        let config_file = dir.join("verdict.toml");
        let (f, d, c) = (
            file.to_str().unwrap().to_string(),
            dir.to_str().unwrap().to_string(),
            config_file.to_str().unwrap().to_string(),
        );
        let mut args = vec![
            VERDICT,
            "run",
            "-r",
            &f,
            "--log-dir",
            &d,
            "--stats-interval-ms",
            "100",
        ];
        if let Some(text) = config {
            std::fs::write(&config_file, text).unwrap();
            args.extend_from_slice(&["--config", &c]);
        }
        args.extend_from_slice(extra);
        let mut bg = t.spawn(&t.gw, &args);
        bg.wait_for("verdict: ready", Duration::from_secs(15))
            .unwrap();
        Engine { bg, dir }
    }

    /// EVE records of one event type.
    pub fn eve(&self, event_type: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("eve.json"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("EVE line is JSON"))
            .filter(|v| v["event_type"] == event_type)
            .collect()
    }

    /// Alerts of `sid`, waiting up to 3 s for at least `min` of them (the writer flushes
    /// every 200 ms).
    pub fn alerts(&self, sid: u64, min: usize) -> Vec<serde_json::Value> {
        let get = || {
            self.eve("alert")
                .into_iter()
                .filter(|v| v["alert"]["signature_id"] == sid)
                .collect::<Vec<_>>()
        };
        wait_for(Duration::from_secs(3), || {
            Some(get()).filter(|a| a.len() >= min)
        });
        // Give stragglers a moment too, so "exactly n" checks are meaningful.
        std::thread::sleep(Duration::from_millis(400));
        get()
    }

    /// The latest stats snapshot.
    pub fn stats(&self) -> verdict_engine::run::StatsSnapshot {
        verdict_engine::run::read_stats(&self.dir.join("stats.json")).unwrap()
    }

    /// Packets received by all queues.
    pub fn queued(&self) -> u64 {
        self.stats().queues.iter().map(|q| q.received).sum()
    }

    /// SIGTERM, wait for a clean exit (bounded), return its output.
    pub fn stop(&mut self) -> String {
        self.bg.signal(libc::SIGTERM);
        let st = self
            .bg
            .wait_exit(Duration::from_secs(10))
            .expect("verdict did not stop");
        let out = self.bg.output();
        assert!(st.success(), "verdict exited with {st}: {out}");
        out
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a TCP peer saw.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    /// Bytes received.
    pub data: Vec<u8>,
    /// How reading ended: None = EOF, Some(kind) = error (TimedOut/WouldBlock for "stalled").
    pub end: Option<std::io::ErrorKind>,
}

fn read_all(s: &mut std::net::TcpStream, idle: Duration) -> Seen {
    use std::io::Read;
    s.set_read_timeout(Some(idle)).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Seen { data, end: None },
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Seen {
                    data,
                    end: Some(e.kind()),
                }
            }
        }
    }
}

/// A TCP server in srv on `port` for one connection: optionally writes `reply` after
/// `reply_after`, then reads until EOF, error, or `idle` without data.
pub fn tcp_server(
    t: &Topology,
    port: u16,
    reply: Option<(Duration, Vec<u8>)>,
    idle: Duration,
) -> std::thread::JoinHandle<Seen> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = t.in_ns(&t.srv, move || {
        let l = std::net::TcpListener::bind((crate::common::netns::SRV4, port)).unwrap();
        tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        if let Some((after, bytes)) = reply {
            std::thread::sleep(after);
            std::io::Write::write_all(&mut c, &bytes).unwrap();
        }
        read_all(&mut c, idle)
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("server bound");
    h
}

/// A TCP client in cli: connects to srv:`port`, writes each chunk with `pause` after it, then
/// (unless a write failed) half-closes and reads until EOF, error or `idle`.
pub fn tcp_client(
    t: &Topology,
    port: u16,
    chunks: Vec<Vec<u8>>,
    pause: Duration,
    idle: Duration,
) -> std::thread::JoinHandle<Seen> {
    t.in_ns(&t.cli, move || {
        let addr = (crate::common::netns::SRV4, port);
        let sa = std::net::ToSocketAddrs::to_socket_addrs(&addr)
            .unwrap()
            .next()
            .unwrap();
        let mut c = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(3)).unwrap();
        for chunk in chunks {
            if let Err(e) = std::io::Write::write_all(&mut c, &chunk) {
                return Seen {
                    data: Vec::new(),
                    end: Some(e.kind()),
                };
            }
            std::thread::sleep(pause);
        }
        let _ = c.shutdown(std::net::Shutdown::Write);
        read_all(&mut c, idle)
    })
}

/// Sends UDP datagrams cli → srv:`port`, each from a new socket (a new flow: a drop also drops
/// the rest of its flow), with `pause` between them; returns what srv got.
pub fn udp_exchange(t: &Topology, port: u16, msgs: Vec<Vec<u8>>, pause: Duration) -> Vec<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = t.in_ns(&t.srv, move || {
        let s = std::net::UdpSocket::bind((crate::common::netns::SRV4, port)).unwrap();
        tx.send(()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = s.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("udp server bound");
    t.in_ns(&t.cli, move || {
        for m in msgs {
            let s = std::net::UdpSocket::bind((crate::common::netns::CLI4, 0)).unwrap();
            s.send_to(&m, (crate::common::netns::SRV4, port)).unwrap();
            std::thread::sleep(pause);
        }
    })
    .join()
    .unwrap();
    srv.join().unwrap()
}

/// One datagram cli:`sport` → srv:`port` (a new flow per source port).
pub fn udp_knock(t: &Topology, sport: u16, port: u16, msg: &'static [u8]) {
    t.in_ns(&t.cli, move || {
        let s = std::net::UdpSocket::bind((crate::common::netns::CLI4, sport)).unwrap();
        s.send_to(msg, (crate::common::netns::SRV4, port)).unwrap();
    })
    .join()
    .unwrap();
}

/// A UDP receiver in srv on `to`:`port` that counts datagrams until `idle` passes without
/// one; returns once it is bound.
pub fn udp_counter(
    t: &Topology,
    to: &'static str,
    port: u16,
    idle: Duration,
) -> std::thread::JoinHandle<usize> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = t.in_ns(&t.srv, move || {
        let s = std::net::UdpSocket::bind((to, port)).unwrap();
        tx.send(()).unwrap();
        s.set_read_timeout(Some(idle)).unwrap();
        let mut got = 0;
        let mut buf = [0u8; 2048];
        while s.recv(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("udp counter bound");
    h
}

/// tcpdump on the gateway's client-side interface (`c0`), writing `Engine::dir/gw.pcap`: the
/// traffic as it reached gw, dropped packets included, for replaying it afterwards.
pub struct GwCapture {
    dump: crate::common::netns::Bg,
    /// The capture file.
    pub path: std::path::PathBuf,
}

impl GwCapture {
    /// Whether tcpdump is installed; when not, records the skip (a strict CI run fails it).
    pub fn available() -> bool {
        let there = std::process::Command::new("tcpdump")
            .arg("--version")
            .output()
            .is_ok();
        if !there {
            crate::common::must_run::skip("tcpdump is not installed (run .ci/setup)");
        }
        there
    }

    /// Starts the capture and waits (bounded) until tcpdump listens.
    pub fn start(t: &Topology, e: &Engine) -> GwCapture {
        GwCapture::start_with(t, e.dir.join("gw.pcap"), &["-i", "c0"])
    }

    /// A capture of every packet arriving at gw from either side (`-i any -Q in`, Linux SLL
    /// frames): what reached the gateway, replies it dropped included, each packet once.
    pub fn start_inbound(t: &Topology, e: &Engine) -> GwCapture {
        GwCapture::start_with(t, e.dir.join("gw-in.pcap"), &["-i", "any", "-Q", "in"])
    }

    fn start_with(t: &Topology, path: std::path::PathBuf, on: &[&str]) -> GwCapture {
        let mut args = vec!["tcpdump"];
        args.extend_from_slice(on);
        args.extend_from_slice(&["-n", "-U", "-w", path.to_str().unwrap()]);
        let mut dump = t.spawn(&t.gw, &args);
        dump.wait_for("listening on", Duration::from_secs(10))
            .unwrap();
        GwCapture { dump, path }
    }

    /// Stops tcpdump (SIGINT flushes the file).
    pub fn stop(&mut self) {
        self.dump.signal(libc::SIGINT);
        self.dump
            .wait_exit(Duration::from_secs(5))
            .expect("tcpdump stops on SIGINT");
    }

    /// `verdict replay --simulate-ips` of the capture with the engine's rule file, into
    /// `Engine::dir/replay`; its EVE alert records.
    pub fn replay_alerts(&self, e: &Engine) -> Vec<serde_json::Value> {
        self.replay_alerts_with(e, &[])
    }

    /// [`GwCapture::replay_alerts`] with more replay arguments (`--threshold-file F`, …).
    pub fn replay_alerts_with(&self, e: &Engine, extra: &[&str]) -> Vec<serde_json::Value> {
        let out = e.dir.join("replay");
        // Each replay starts afresh (EVE files are appended to).
        let _ = std::fs::remove_dir_all(&out);
        let rules = e.dir.join("test.rules");
        let r = std::process::Command::new(VERDICT)
            .args([
                "replay",
                self.path.to_str().unwrap(),
                "-r",
                rules.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--simulate-ips",
                "-q",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        std::fs::read_to_string(out.join("eve.json"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["event_type"] == "alert")
            .collect()
    }
}

/// `ping -c COUNT -i 0.2 -W WAIT -I SRC DST` in cli: its output (ok or not).
pub fn ping_from(
    t: &Topology,
    src: &str,
    dst: &str,
    count: u32,
    wait: u32,
) -> std::process::Output {
    let (count, wait) = (count.to_string(), wait.to_string());
    t.exec(
        &t.cli,
        &[
            "ping", "-c", &count, "-i", "0.2", "-W", &wait, "-I", src, dst,
        ],
    )
}

/// What two runs must agree on per alert: (sid, src, sport, dst, dport, proto, action).
pub type AlertKey = (u64, String, u64, String, u64, String, String);

/// EVE alerts counted by [`AlertKey`], for comparing a live run with a replay.
pub fn alert_keys(alerts: &[serde_json::Value]) -> std::collections::BTreeMap<AlertKey, usize> {
    let mut m = std::collections::BTreeMap::new();
    for a in alerts {
        let k = (
            a["alert"]["signature_id"].as_u64().unwrap(),
            a["src_ip"].as_str().unwrap().to_string(),
            a["src_port"].as_u64().unwrap_or(0),
            a["dest_ip"].as_str().unwrap().to_string(),
            a["dest_port"].as_u64().unwrap_or(0),
            a["proto"].as_str().unwrap_or("").to_string(),
            a["alert"]["action"].as_str().unwrap().to_string(),
        );
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Resident memory of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// After an ordeal: the engine still runs, a normal TCP connection through the gateway gets
/// its bytes across (`ok_port`), and a drop rule on `drop_port` whose content is `bad` still
/// keeps those bytes (and the rest of the flow) from the server.
pub fn assert_still_enforcing(
    e: &mut Engine,
    t: &Topology,
    ok_port: u16,
    drop_port: u16,
    bad: &[u8],
) {
    assert!(
        matches!(e.bg.child.try_wait(), Ok(None)),
        "the engine exited: {}",
        e.bg.output()
    );
    let idle = Duration::from_millis(1500);
    let pause = Duration::from_millis(200);
    let srv = tcp_server(t, ok_port, Some((pause, b"welcome".to_vec())), idle);
    let cli = tcp_client(t, ok_port, vec![b"hello".to_vec()], pause, idle);
    assert_eq!(
        srv.join().unwrap().data,
        b"hello",
        "a normal connection failed"
    );
    assert_eq!(cli.join().unwrap().data, b"welcome");
    let srv = tcp_server(t, drop_port, None, idle);
    let cli = tcp_client(
        t,
        drop_port,
        vec![b"hi ".to_vec(), bad.to_vec()],
        pause,
        idle,
    );
    let seen = srv.join().unwrap();
    assert_eq!(seen.data, b"hi ", "the drop rule let its content through");
    cli.join().unwrap();
}

/// Config, socket and state file of one test (`verdict-ops-TAG-PID.*` in the temp dir),
/// outside the engine's log dir; removed on drop.
pub struct Files {
    base: std::path::PathBuf,
}

impl Files {
    pub fn new(tag: &str, config: &str) -> Files {
        let base = std::env::temp_dir().join(format!("verdict-ops-{tag}-{}", std::process::id()));
        let f = Files { base };
        std::fs::write(f.config(), config).unwrap();
        f
    }
    pub fn config(&self) -> std::path::PathBuf {
        self.base.with_extension("toml")
    }
    pub fn socket(&self) -> std::path::PathBuf {
        self.base.with_extension("sock")
    }
    pub fn state(&self) -> std::path::PathBuf {
        self.base.with_extension("state.json")
    }
    pub fn rules(&self) -> std::path::PathBuf {
        self.base.with_extension("rules")
    }
    pub fn thresholds(&self) -> std::path::PathBuf {
        self.base.with_extension("threshold.config")
    }
    pub fn args(&self) -> Vec<String> {
        [
            "--config",
            self.config().to_str().unwrap(),
            "--control-socket",
            self.socket().to_str().unwrap(),
            "--state-file",
            self.state().to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    }
    pub fn start(&self, t: &Topology, tag: &str, rules: &str) -> Engine {
        let a = self.args();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        Engine::start(t, tag, rules, &a)
    }
    /// `verdict SUB --socket S --config C [--state-file F] ARGS...` in gw (the state file for
    /// the subcommands that take one).
    pub fn verdict(&self, t: &Topology, sub: &str, args: &[&str]) -> (bool, String) {
        let (s, c, st) = (self.socket(), self.config(), self.state());
        let mut v = vec![
            VERDICT,
            sub,
            "--socket",
            s.to_str().unwrap(),
            "--config",
            c.to_str().unwrap(),
        ];
        if matches!(sub, "disable" | "enable" | "list") {
            v.extend_from_slice(&["--state-file", st.to_str().unwrap()]);
        }
        v.extend_from_slice(args);
        let out = t.exec(&t.gw, &v);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        for p in [
            self.config(),
            self.socket(),
            self.state(),
            self.rules(),
            self.thresholds(),
        ] {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `verdict replay` of `pcap` with `rules` (and `extra` arguments) writing to `out`: the sids
/// each of its `frames` frames alerted, by `pcap_cnt` (from 1). What the differential tests
/// compare the kernel's matches with.
pub fn replay_sids_per_frame(
    pcap: &std::path::Path,
    rules: &std::path::Path,
    extra: &[&std::ffi::OsStr],
    out: &std::path::Path,
    frames: usize,
) -> Vec<std::collections::BTreeSet<u32>> {
    let r = std::process::Command::new(VERDICT)
        .arg("replay")
        .arg(pcap)
        .arg("-r")
        .arg(rules)
        .args(extra)
        .arg("-o")
        .arg(out)
        .args(["-q", "--no-evidence", "--no-suricata-config"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let mut per = vec![std::collections::BTreeSet::new(); frames];
    for line in std::fs::read_to_string(out.join("eve.json"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["event_type"] != "alert" {
            continue;
        }
        let cnt = v["pcap_cnt"].as_u64().expect("pcap_cnt in a replay alert") as usize;
        let sid = v["alert"]["signature_id"].as_u64().unwrap() as u32;
        per.get_mut(cnt - 1)
            .expect("pcap_cnt within the capture")
            .insert(sid);
    }
    per
}

/// The L3 packet with its TTL / hop limit and IPv4 header checksum blanked: the same before
/// and after the gateway forwarded it.
pub fn forwarding_invariant(p: &[u8]) -> Vec<u8> {
    let mut p = p.to_vec();
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            p[8] = 0;
            p[10] = 0;
            p[11] = 0;
        }
        Some(6) if p.len() >= 40 => p[7] = 0,
        _ => {}
    }
    p
}

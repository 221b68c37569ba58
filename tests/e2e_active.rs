//! Active response end to end, with the real binary in the cli — gw — srv namespaces: block
//! sets with and without an engine (and across a restart), fwsam, the rapid-block guard,
//! scan detection (and its classic false positive), the control socket under abuse. Root
//! only; every wait and every traffic loop is bounded.

mod common;
mod live;

use common::netns::{Topology, CLI4, SRV4, SRV6};
use live::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A config file and a control socket path for one test (outside the engine's log dir,
/// which `Engine::start` recreates).
struct Files {
    config: PathBuf,
    socket: PathBuf,
}

impl Files {
    fn new(tag: &str, config: &str) -> Files {
        let base = std::env::temp_dir().join(format!("verdict-act-{tag}-{}", std::process::id()));
        let f = Files {
            config: base.with_extension("toml"),
            socket: base.with_extension("sock"),
        };
        f.write(config);
        f
    }
    fn write(&self, config: &str) {
        std::fs::write(&self.config, config).unwrap();
    }
    fn args(&self) -> Vec<String> {
        vec![
            "--config".into(),
            self.config.display().to_string(),
            "--control-socket".into(),
            self.socket.display().to_string(),
            // Switches made by the test stay out of the machine's own state file.
            "--state-file".into(),
            self.socket
                .with_extension("state.json")
                .display()
                .to_string(),
        ]
    }
    fn start(&self, t: &Topology, tag: &str, rules: &str) -> Engine {
        let a = self.args();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        Engine::start(t, tag, rules, &a)
    }
    /// Runs `verdict ARGS --socket S` in gw; returns (success, stdout, stderr).
    fn verdict(&self, t: &Topology, args: &[&str]) -> (bool, String, String) {
        // Options right after the subcommand: `ctl` takes the rest of the line as the command.
        let s = self.socket.display().to_string();
        let mut v = vec![VERDICT, args[0]];
        v.extend_from_slice(&["--socket", &s, "--config", self.config.to_str().unwrap()]);
        v.extend_from_slice(&args[1..]);
        let out = t.exec(&t.gw, &v);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(self.socket.with_extension("state.json"));
    }
}

/// A rule that never fires on the test traffic, for tests that only need an engine.
const QUIET: &str =
    "alert tcp any any -> any 9 (msg:\"never\"; content:\"never-seen-string\"; sid:900001; rev:1;)\n";

fn pings(t: &Topology) -> bool {
    t.exec(&t.cli, &["ping", "-c", "1", "-W", "1", "-q", SRV4])
        .status
        .success()
}

/// Packets the block chain has dropped (all four rules).
fn kernel_block_drops(t: &Topology) -> u64 {
    let out = t.exec(&t.gw, &["nft", "list", "table", "inet", "verdict_block"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "packets")?;
            w.get(i + 1)?.parse::<u64>().ok()
        })
        .sum()
}

fn verdict_alerts(e: &Engine, sid: u64) -> Vec<serde_json::Value> {
    e.eve("alert")
        .into_iter()
        .filter(|v| v["alert"]["gid"] == 122 && v["alert"]["signature_id"] == sid)
        .collect()
}

/// Asks the control socket one line; returns the reply up to `ok`/`error:` (or the JSON line).
fn ask(sock: &std::path::Path, line: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut r = BufReader::new(s);
    let mut out = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            return out;
        }
        out.push_str(&l);
        if l == "ok\n" || l.starts_with("error: ") || l.starts_with('{') {
            return out;
        }
    }
}

#[test]
fn block_unblock_list_without_engine_and_a_block_survives_restart() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("restart", "");
    assert!(pings(&t));
    // No engine: straight on the kernel's set.
    let (ok, out, err) = f.verdict(&t, &["block", SRV4, "--for", "30s", "--reason", "by hand"]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("no engine"), "{err}");
    assert!(!pings(&t), "srv must be unreachable while blocked");
    assert!(kernel_block_drops(&t) >= 1);
    let (ok, out, _) = f.verdict(&t, &["list"]);
    assert!(ok && out.contains(SRV4) && out.contains("by hand"), "{out}");
    let (ok, out, err) = f.verdict(&t, &["unblock", SRV4]);
    assert!(ok, "{out}{err}");
    assert!(pings(&t));
    let (ok, _, err) = f.verdict(&t, &["unblock", SRV4]);
    assert!(!ok && err.contains("not blocked"), "{err}");
    // IPv6, one direction: packets *to* srv only (`--dir dst`). (Its /64 would be refused:
    // the gateway's own address is in it.)
    let ping6 = || {
        t.exec(&t.cli, &["ping", "-6", "-c", "1", "-W", "1", "-q", SRV6])
            .status
            .success()
    };
    assert!(ping6());
    let (ok, out, err) = f.verdict(&t, &["block", SRV6, "--dir", "dst", "--for", "30s"]);
    assert!(ok, "{out}{err}");
    assert!(
        !ping6() && pings(&t),
        "only IPv6 to srv's network is blocked"
    );
    let (_, out, _) = f.verdict(&t, &["list"]);
    assert!(out.contains(SRV6) && out.contains("dst"), "{out}");
    assert!(f.verdict(&t, &["unblock", SRV6]).0);
    assert!(ping6());
    // The gateway's own addresses are whitelisted by default, also inside a network.
    let (ok, _, err) = f.verdict(&t, &["block", "198.51.100.1"]);
    assert!(!ok && err.contains("whitelisted"), "{err}");
    let (ok, _, err) = f.verdict(&t, &["block", "2001:db8:2::/64"]);
    assert!(!ok && err.contains("whitelisted by 2001:db8:2::1"), "{err}");

    // With an engine: through the socket; the block outlives a restart until it expires.
    let mut e = f.start(&t, "restart1", QUIET);
    let (ok, out, err) = f.verdict(&t, &["block", SRV4, "--for", "8s"]);
    assert!(ok && !err.contains("no engine"), "{out}{err}");
    let blocked_at = Instant::now();
    assert!(!pings(&t));
    e.stop();
    assert!(!pings(&t), "the block must survive the engine stopping");
    assert!(!t.ruleset(&t.gw).contains("table inet verdict {"));
    let e2 = f.start(&t, "restart2", QUIET);
    let (ok, out, _) = f.verdict(&t, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(ok && v["blocks"][0]["net"] == SRV4, "{out}");
    assert!(!pings(&t));
    let back = wait_for(Duration::from_secs(12), || pings(&t).then_some(()));
    assert!(back.is_some(), "the block never expired");
    assert!(blocked_at.elapsed() >= Duration::from_secs(7));
    drop(e2);
}

const SCAN_CONFIG: &str =
    "[scan]\nblock = true\nblock_for = \"4s\"\n[block]\nwhitelist_dns = false\n";

#[test]
fn nc_scan_is_alerted_once_and_blocked_until_expiry_whitelisted_scanner_is_not() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("scan", SCAN_CONFIG);
    let e = f.start(&t, "scan", QUIET);
    // 30 closed ports: the server answers each SYN with a RST, so nc is quick; once blocked,
    // the rest time out, hence the bound.
    t.exec(
        &t.cli,
        &["timeout", "4", "nc", "-z", "-w", "1", SRV4, "1-30"],
    );
    let got = wait_for(Duration::from_secs(3), || {
        Some(verdict_alerts(&e, 1)).filter(|a| !a.is_empty())
    })
    .expect("no scan alert");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(verdict_alerts(&e, 1).len(), 1, "{got:?}");
    assert_eq!(got[0]["src_ip"], CLI4);
    assert_eq!(got[0]["alert"]["signature"], "verdict SCAN portscan");
    let (_, out, _) = f.verdict(&t, &["list"]);
    assert!(out.contains(CLI4) && out.contains("scan"), "{out}");
    let before = kernel_block_drops(&t);
    assert!(!pings(&t), "the scanner must be blocked");
    assert!(
        kernel_block_drops(&t) > before,
        "dropped by the kernel's block set"
    );
    let back = wait_for(Duration::from_secs(8), || pings(&t).then_some(()));
    assert!(back.is_some(), "the scan block never expired");

    // The same scanner, now whitelisted (reloaded through the socket): alerted, never blocked.
    f.write(&format!("{SCAN_CONFIG}whitelist = [\"{CLI4}\"]\n"));
    let (ok, out, err) = f.verdict(&t, &["ctl", "reload"]);
    assert!(ok && out.contains("reloaded"), "{out}{err}");
    std::thread::sleep(Duration::from_millis(3500)); // a new scan episode
    t.exec(
        &t.cli,
        &["timeout", "8", "nc", "-z", "-w", "1", SRV4, "1-30"],
    );
    let second = wait_for(Duration::from_secs(3), || {
        Some(verdict_alerts(&e, 1)).filter(|a| a.len() >= 2)
    });
    assert!(
        second.is_some(),
        "the whitelisted scanner was not alerted on"
    );
    let refused = wait_for(Duration::from_secs(3), || {
        Some(verdict_alerts(&e, 101)).filter(|a| !a.is_empty())
    });
    assert!(refused.is_some(), "the refused block was not logged");
    assert!(pings(&t), "a whitelisted scanner is never blocked");
    let (_, out, _) = f.verdict(&t, &["list"]);
    assert!(out.contains("0 blocked"), "{out}");

    // `verdict top` over the last hour names the scanner and the scan signature.
    let d = e.dir.to_str().unwrap();
    let out = t.exec_ok(
        &t.gw,
        &[VERDICT, "top", "--log-dir", d, "--since", "1h", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"][0]["key"], CLI4, "{v}");
    let sigs = v["signatures"].to_string();
    assert!(sigs.contains("122:1 verdict SCAN portscan"), "{sigs}");
    let out = t.exec_ok(
        &t.gw,
        &[VERDICT, "top", "--log-dir", d, "--until", "2000-01-01"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 alerts"));
}

#[test]
fn five_hundred_short_connections_to_one_port_and_replies_raise_no_scan_alert() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("busy", SCAN_CONFIG);
    let e = f.start(&t, "busy", QUIET);
    const N: usize = 500;
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = t.in_ns(&t.srv, move || {
        let l = std::net::TcpListener::bind((SRV4, 8080)).unwrap();
        tx.send(()).unwrap();
        let mut served = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        l.set_nonblocking(true).unwrap();
        while served < N && Instant::now() < deadline {
            match l.accept() {
                Ok((mut c, _)) => {
                    c.set_nonblocking(false).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut buf = [0u8; 256];
                    let _ = c.read(&mut buf);
                    let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        served
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let cli = t.in_ns(&t.cli, || {
        let mut ok = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        for _ in 0..N {
            if Instant::now() > deadline {
                break;
            }
            let sa = format!("{SRV4}:8080").parse().unwrap();
            let Ok(mut c) = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(2))
            else {
                continue;
            };
            c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = c.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut r = Vec::new();
            if c.read_to_end(&mut r).is_ok() && r.ends_with(b"ok") {
                ok += 1;
            }
        }
        ok
    });
    let (served, answered) = (srv.join().unwrap(), cli.join().unwrap());
    assert_eq!((served, answered), (N, N));
    std::thread::sleep(Duration::from_millis(600));
    let scans: Vec<_> = e
        .eve("alert")
        .into_iter()
        .filter(|v| v["alert"]["gid"] == 122)
        .collect();
    assert!(scans.is_empty(), "{scans:?}");
    assert!(pings(&t));
}

#[test]
fn fwsam_src_5_seconds_blocks_the_source_for_5_seconds() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("fwsam", "[scan]\nenabled = false\n");
    let rules = "alert udp any any -> any 7000 (msg:\"bad udp\"; content:\"BAD\"; fwsam: src, 5 seconds; sid:910001; rev:1;)\n";
    let e = f.start(&t, "fwsam", rules);
    assert!(pings(&t));
    let got = udp_exchange(
        &t,
        7000,
        vec![b"a BAD one".to_vec()],
        Duration::from_millis(100),
    );
    assert_eq!(got.len(), 1, "an alert rule lets the packet through");
    assert_eq!(e.alerts(910001, 1).len(), 1);
    let blocked = wait_for(Duration::from_secs(2), || (!pings(&t)).then(Instant::now));
    let blocked = blocked.expect("the source was never blocked");
    let (_, out, _) = f.verdict(&t, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["blocks"][0]["net"], CLI4, "{out}");
    assert_eq!(v["blocks"][0]["timeout_secs"], 5, "{out}");
    assert!(v["blocks"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("sid:910001"));
    let back = wait_for(Duration::from_secs(8), || pings(&t).then(Instant::now))
        .expect("the fwsam block never expired");
    let held = back.duration_since(blocked);
    assert!(
        held >= Duration::from_secs(3) && held <= Duration::from_secs(7),
        "blocked for {held:?}"
    );
}

#[test]
fn a_burst_of_spoofed_blocks_is_rolled_back_and_logged() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new(
        "guard",
        "[scan]\nenabled = false\n[block]\nguard_max = 4\nguard_window = \"30s\"\nguard_pause = \"1m\"\n",
    );
    let rules = "alert udp any any -> any 7001 (msg:\"spoofed\"; content:\"SPOOF\"; fwsam: src, 1 hour; sid:910002; rev:1;)\n";
    let mut e = f.start(&t, "guard", rules);
    // Eight "spoofed" sources: extra addresses on the client.
    let sources: Vec<String> = (10..18).map(|i| format!("192.0.2.{i}")).collect();
    for s in &sources {
        t.exec_ok(
            &t.cli,
            &["ip", "addr", "add", &format!("{s}/24"), "dev", "eth0"],
        );
    }
    let srcs = sources.clone();
    t.in_ns(&t.cli, move || {
        for s in srcs {
            let u = std::net::UdpSocket::bind((s.as_str(), 0)).unwrap();
            let _ = u.send_to(b"SPOOF", (SRV4, 7001));
            // Slow enough that each block is in place before the next one.
            std::thread::sleep(Duration::from_millis(150));
        }
    })
    .join()
    .unwrap();
    let trip = wait_for(Duration::from_secs(5), || {
        Some(verdict_alerts(&e, 100)).filter(|a| !a.is_empty())
    })
    .expect("the guard never tripped");
    assert!(
        trip[0]["alert"]["signature"]
            .as_str()
            .unwrap()
            .contains("rolled back"),
        "{trip:?}"
    );
    let (_, out, _) = f.verdict(&t, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["blocks"].as_array().unwrap().len(), 0, "{out}");
    let (_, out, _) = f.verdict(&t, &["ctl", "stats", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["block"]["guard_trips"], 1, "{out}");
    assert_eq!(v["block"]["rolled_back"], 4, "{out}");
    assert!(v["block"]["paused_secs"].as_u64().unwrap() > 0, "{out}");
    // Manual blocks are not affected by the pause.
    let (ok, out, err) = f.verdict(&t, &["block", "203.0.113.9", "--for", "5s"]);
    assert!(ok, "{out}{err}");
    let log = e.stop();
    assert!(log.contains("RAPID-BLOCK GUARD"), "{log}");
}

#[test]
fn control_socket_answers_everything_and_survives_abuse() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("ctl", "[scan]\nenabled = false\n");
    let rules =
        "drop udp any any -> any 7002 (msg:\"drop me\"; content:\"DROPME\"; sid:910003; rev:1;)\n";
    let e = f.start(&t, "ctl", rules);
    let s = &f.socket;
    let mode = std::fs::metadata(s).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o660
    );
    for (cmd, needle) in [
        ("help", "unblock"),
        (
            "block 203.0.113.7 --for 1m --reason ctl test",
            "blocked 203.0.113.7",
        ),
        ("list", "ctl test"),
        ("unblock 203.0.113.7", "unblocked"),
        ("stats", "blocks: 1 manual"),
        ("disable 910003", "disabled"),
        ("enable 910003", "enabled"),
        ("reload", "reloaded"),
        ("quit", "bye"),
    ] {
        let r = ask(s, cmd);
        assert!(r.contains(needle) && r.ends_with("ok\n"), "{cmd}: {r}");
    }
    for (cmd, needle) in [
        ("frobnicate", "unknown command"),
        ("block", "usage"),
        ("block 999.1.1.1", "not an address"),
        ("block 203.0.113.8 --for never", "duration"),
        ("disable 12345", "no loaded rule"),
        ("enable banana", "not a sid"),
    ] {
        let r = ask(s, cmd);
        assert!(
            r.starts_with("error: ") && r.contains(needle) && r.lines().count() == 1,
            "{cmd}: {r}"
        );
    }
    let j: serde_json::Value = serde_json::from_str(&ask(s, "stats --json")).unwrap();
    assert_eq!(j["ok"], true);
    // `verdict ctl` passes hyphenated words through and still takes its own options after them.
    let sock = s.to_str().unwrap();
    let out = t.exec_ok(
        &t.gw,
        &[
            VERDICT,
            "ctl",
            "block",
            "203.0.113.9",
            "--for",
            "1m",
            "--socket",
            sock,
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("blocked 203.0.113.9"));
    let out = t.exec_ok(
        &t.gw,
        &[VERDICT, "ctl", "unblock", "203.0.113.9", "--socket", sock],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("unblocked"));

    // disable really switches the rule off: the datagram passes, and again drops once enabled.
    assert!(ask(s, "disable 910003").ends_with("ok\n"));
    assert_eq!(
        udp_exchange(
            &t,
            7002,
            vec![b"DROPME".to_vec()],
            Duration::from_millis(50)
        )
        .len(),
        1
    );
    assert!(ask(s, "enable 910003").ends_with("ok\n"));
    assert_eq!(
        udp_exchange(
            &t,
            7002,
            vec![b"DROPME".to_vec()],
            Duration::from_millis(50)
        )
        .len(),
        0
    );

    // A slowloris client and a 10 MB garbage client, while 100 clients ask at once.
    let mut slow = UnixStream::connect(s).unwrap();
    slow.write_all(b"li").unwrap();
    let sock = s.clone();
    let garbage = std::thread::spawn(move || {
        let mut g = UnixStream::connect(&sock).unwrap();
        g.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut x: u32 = 0x1234_5678;
        let chunk: Vec<u8> = (0..65536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                // No newlines: one endless line.
                (x as u8) | 0x80
            })
            .collect();
        let mut sent = 0usize;
        while sent < 10 << 20 {
            if g.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        g.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = String::new();
        let _ = g.read_to_string(&mut reply);
        reply
    });
    let started = Instant::now();
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let sock = s.clone();
            std::thread::spawn(move || ask(&sock, "list"))
        })
        .collect();
    for c in clients {
        let r = c.join().unwrap();
        assert!(r.ends_with("ok\n"), "{r}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let reply = garbage.join().unwrap();
    assert!(
        reply.is_empty() || reply.contains("line too long"),
        "{reply}"
    );
    // Still serving, and the packet path never noticed.
    assert!(ask(s, "help").ends_with("ok\n"));
    assert!(pings(&t));
    drop(slow);
    drop(e);
}

#[test]
fn scans_are_counted_only_on_the_configured_outside_interfaces() {
    require_netns!();
    let t = Topology::new();
    // gw's outside is s0 (towards srv): a scan from cli arrives on c0 and is not counted.
    let f = Files::new("iface", "[scan]\ninterfaces = [\"s0\"]\n");
    let e = f.start(&t, "iface", QUIET);
    t.exec(
        &t.cli,
        &["timeout", "4", "nc", "-z", "-w", "1", SRV4, "1-30"],
    );
    std::thread::sleep(Duration::from_millis(800));
    assert!(verdict_alerts(&e, 1).is_empty());
    // The same scan the other way round, arriving on s0, is.
    t.exec(
        &t.srv,
        &["timeout", "4", "nc", "-z", "-w", "1", CLI4, "1-30"],
    );
    let got = wait_for(Duration::from_secs(3), || {
        Some(verdict_alerts(&e, 1)).filter(|a| !a.is_empty())
    })
    .expect("a scan from the outside was not alerted");
    assert_eq!(got[0]["src_ip"], SRV4);
}

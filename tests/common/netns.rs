//! The test topology of DESIGN.md, built from real network namespaces:
//!
//! ```text
//!  cli (192.0.2.2, 2001:db8:1::2) ── veth ── gw ── veth ── srv (198.51.100.2, 2001:db8:2::2)
//!                             192.0.2.1 / 198.51.100.1, forwarding on
//! ```
//!
//! Names carry the test process id and a counter so tests can run in parallel. Dropping the
//! [`Topology`] kills the processes the test started (by PID) and deletes the namespaces, also
//! when the test panics. Only documentation address ranges are used.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Client address (IPv4).
pub const CLI4: &str = "192.0.2.2";
/// Gateway address on the client side (IPv4).
pub const GW_CLI4: &str = "192.0.2.1";
/// Gateway address on the server side (IPv4).
pub const GW_SRV4: &str = "198.51.100.1";
/// Server address (IPv4).
pub const SRV4: &str = "198.51.100.2";
/// Client address (IPv6).
pub const CLI6: &str = "2001:db8:1::2";
/// Server address (IPv6).
pub const SRV6: &str = "2001:db8:2::2";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why a kernel test cannot run here, or `None` if it can.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespace tests need CAP_NET_ADMIN".into());
    }
    for tool in ["ip", "nft"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let ok = ok
            || Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
        if !ok {
            return Some(format!("`{tool}` is not installed (run .ci/setup)"));
        }
    }
    None
}

/// Returns early from a test (printing why) when kernel tests cannot run here — or fails it,
/// under `VERDICT_NO_SKIP` (see `must_run`) — and otherwise records the test as a kernel test
/// that ran, once it passes. Works in any test crate that mounts this file as `common::netns`
/// and `must_run.rs` as `common::must_run` (the root package does, nft/tests/common includes
/// both by `#[path]`).
#[macro_export]
macro_rules! require_netns {
    () => {
        // Lives to the end of the test: dropped without a panic, it appends the record.
        let _kernel_test_ran = match $crate::common::netns::skip_reason() {
            Some(reason) => {
                $crate::common::must_run::skip(&reason);
                return;
            }
            None => $crate::common::must_run::Ran::kernel(module_path!()),
        };
    };
}

/// Runs a command, panicking with its output if it fails.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A background process started by a test; killed by PID when dropped.
pub struct Bg {
    /// The child process.
    pub child: Child,
    lines: Option<mpsc::Receiver<String>>,
    seen: Vec<String>,
}

impl Bg {
    /// Waits until a line of the process's stdout or stderr contains `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let rx = self.lines.as_ref().expect("output not captured");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {needle:?}; output so far:\n{}",
                    self.seen.join("\n")
                ));
            }
            match rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.seen.push(line.clone());
                    if hit {
                        return Ok(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = self.child.try_wait() {
                        // Drain what is left before giving up.
                        while let Ok(line) = rx.try_recv() {
                            let hit = line.contains(needle);
                            self.seen.push(line.clone());
                            if hit {
                                return Ok(line);
                            }
                        }
                        return Err(format!(
                            "process exited ({st}) before {needle:?}; output:\n{}",
                            self.seen.join("\n")
                        ));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "output closed before {needle:?}; output:\n{}",
                        self.seen.join("\n")
                    ))
                }
            }
        }
    }

    /// All output lines collected so far (plus whatever is buffered now).
    pub fn output(&mut self) -> String {
        // Once the process has exited, its reader thread still forwards what was left in the
        // pipe: wait for it to reach the end (bounded), or the last lines would be missed.
        let exited = matches!(self.child.try_wait(), Ok(Some(_)));
        if let Some(rx) = &self.lines {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let next = if exited {
                    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                        .ok()
                } else {
                    rx.try_recv().ok()
                };
                match next {
                    Some(line) => self.seen.push(line),
                    None => break,
                }
            }
        }
        self.seen.join("\n")
    }

    /// Sends a signal to the process (by PID).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a PID we spawned.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit, up to `timeout`; kills it (SIGKILL) after that.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok();
        None
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn pump(r: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
}

/// Three namespaces wired as cli — gw — srv. Removed on drop.
pub struct Topology {
    /// Client namespace name.
    pub cli: String,
    /// Gateway namespace name.
    pub gw: String,
    /// Server namespace name.
    pub srv: String,
}

impl Topology {
    /// Creates the namespaces, veths, addresses, routes and forwarding.
    pub fn new() -> Topology {
        Topology::with_prefix("vd")
    }

    /// [`Topology::new`] with namespace names starting `prefix` (a test suite's own, so
    /// suites run side by side can tell their namespaces apart).
    pub fn with_prefix(prefix: &str) -> Topology {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{prefix}{}x{}", std::process::id(), n);
        let t = Topology {
            cli: format!("{tag}-cli"),
            gw: format!("{tag}-gw"),
            srv: format!("{tag}-srv"),
        };
        // From here on, Drop cleans up whatever was created.
        for ns in [&t.cli, &t.gw, &t.srv] {
            run(&["ip", "netns", "add", ns]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run(&[
            "ip", "-n", &t.cli, "link", "add", "eth0", "type", "veth", "peer", "name", "c0",
            "netns", &t.gw,
        ]);
        run(&[
            "ip", "-n", &t.srv, "link", "add", "eth0", "type", "veth", "peer", "name", "s0",
            "netns", &t.gw,
        ]);
        let addrs: [(&str, &str, &str); 6] = [
            (&t.cli, "eth0", "192.0.2.2/24"),
            (&t.cli, "eth0", "2001:db8:1::2/64"),
            (&t.gw, "c0", "192.0.2.1/24"),
            (&t.gw, "c0", "2001:db8:1::1/64"),
            (&t.gw, "s0", "198.51.100.1/24"),
            (&t.gw, "s0", "2001:db8:2::1/64"),
        ];
        for (ns, dev, a) in addrs {
            if a.contains(':') {
                run(&["ip", "-n", ns, "addr", "add", a, "dev", dev, "nodad"]);
            } else {
                run(&["ip", "-n", ns, "addr", "add", a, "dev", dev]);
            }
        }
        run(&[
            "ip",
            "-n",
            &t.srv,
            "addr",
            "add",
            "198.51.100.2/24",
            "dev",
            "eth0",
        ]);
        run(&[
            "ip",
            "-n",
            &t.srv,
            "addr",
            "add",
            "2001:db8:2::2/64",
            "dev",
            "eth0",
            "nodad",
        ]);
        for (ns, dev) in [
            (&t.cli, "eth0"),
            (&t.gw, "c0"),
            (&t.gw, "s0"),
            (&t.srv, "eth0"),
        ] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        run(&[
            "ip",
            "-n",
            &t.cli,
            "route",
            "add",
            "default",
            "via",
            "192.0.2.1",
        ]);
        run(&[
            "ip",
            "-n",
            &t.cli,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:1::1",
        ]);
        run(&[
            "ip",
            "-n",
            &t.srv,
            "route",
            "add",
            "default",
            "via",
            "198.51.100.1",
        ]);
        run(&[
            "ip",
            "-n",
            &t.srv,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:2::1",
        ]);
        run(&[
            "ip",
            "netns",
            "exec",
            &t.gw,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        run(&[
            "ip",
            "netns",
            "exec",
            &t.gw,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.forwarding=1",
        ]);
        t.wait_links();
        t
    }

    /// Veths and IPv6 need a moment after link-up before they forward; wait (bounded) until
    /// each end answers its gateway in both families so tests do not race it.
    fn wait_links(&self) {
        let probes = [
            (&self.cli, "192.0.2.1"),
            (&self.cli, "2001:db8:1::1"),
            (&self.srv, "198.51.100.1"),
            (&self.srv, "2001:db8:2::1"),
        ];
        let deadline = Instant::now() + Duration::from_secs(10);
        for (ns, addr) in probes {
            loop {
                let ok = self
                    .exec(ns, &["ping", "-c", "1", "-W", "1", "-q", addr])
                    .status
                    .success();
                if ok {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{ns} cannot reach {addr} after 10 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Runs a command inside namespace `ns` and returns its output (success not required).
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?} in {ns}: {e}"))
    }

    /// Runs a command inside `ns`, panicking with its output on failure.
    pub fn exec_ok(&self, ns: &str, args: &[&str]) -> Output {
        let out = self.exec(ns, args);
        assert!(
            out.status.success(),
            "{args:?} in {ns} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a command in `ns` in the background, capturing stdout and stderr by line.
    pub fn spawn(&self, ns: &str, args: &[&str]) -> Bg {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?} in {ns}: {e}"));
        let (tx, rx) = mpsc::channel();
        pump(child.stdout.take().expect("piped"), tx.clone());
        pump(child.stderr.take().expect("piped"), tx);
        Bg {
            child,
            lines: Some(rx),
            seen: Vec::new(),
        }
    }

    /// Waits until something listens on `port` (TCP, or UDP with `udp`) inside `ns`.
    pub fn wait_listening(&self, ns: &str, port: u16, udp: bool, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let flag = if udp { "-uln" } else { "-tln" };
        while Instant::now() < deadline {
            let out = self.exec(ns, &["ss", flag]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text.lines().any(|l| l.contains(&format!(":{port} "))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nothing listening on port {port} in {ns} after {timeout:?}");
    }

    /// `nft list ruleset` inside `ns`.
    pub fn ruleset(&self, ns: &str) -> String {
        String::from_utf8_lossy(&self.exec_ok(ns, &["nft", "list", "ruleset"]).stdout).into_owned()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.cli, &self.gw, &self.srv] {
            // Processes still inside are ones this test started (the namespace name is unique
            // to this process); kill them by PID so the namespace can go.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill(2) on a PID inside our own namespace.
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                    }
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

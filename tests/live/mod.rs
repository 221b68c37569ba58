//! Private helpers of the live end-to-end tests: the cli — gw — srv namespaces of DESIGN.md,
//! removed on drop (also on panic), and ways to run code and commands inside them.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const CLI4: &str = "192.0.2.2";
pub const GW_CLI4: &str = "192.0.2.1";
pub const SRV4: &str = "198.51.100.2";
pub const GW_SRV4: &str = "198.51.100.1";
pub const CLI6: &str = "2001:db8:1::2";
pub const SRV6: &str = "2001:db8:2::2";

/// True when running as root; otherwise prints why the test is skipped.
pub fn root_or_skip() -> bool {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root for network namespaces");
        return false;
    }
    true
}

/// Three namespaces cli — gw — srv with forwarding on gw.
pub struct Topo {
    pub cli: String,
    pub gw: String,
    pub srv: String,
}

fn run_ok(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Topo {
    /// Creates the namespaces; `tag` keeps names unique across tests running in parallel.
    pub fn new(tag: &str) -> Topo {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let t = Topo {
            cli: format!("vc-{id}"),
            gw: format!("vg-{id}"),
            srv: format!("vs-{id}"),
        };
        for ns in [&t.cli, &t.gw, &t.srv] {
            run_ok(&["ip", "netns", "add", ns]);
        }
        let (cli, gw, srv) = (t.cli.as_str(), t.gw.as_str(), t.srv.as_str());
        run_ok(&[
            "ip", "-n", gw, "link", "add", "c0", "type", "veth", "peer", "name", "eth0", "netns",
            cli,
        ]);
        run_ok(&[
            "ip", "-n", gw, "link", "add", "s0", "type", "veth", "peer", "name", "eth0", "netns",
            srv,
        ]);
        for (ns, dev, a4, a6) in [
            (cli, "eth0", "192.0.2.2/24", "2001:db8:1::2/64"),
            (gw, "c0", "192.0.2.1/24", "2001:db8:1::1/64"),
            (gw, "s0", "198.51.100.1/24", "2001:db8:2::1/64"),
            (srv, "eth0", "198.51.100.2/24", "2001:db8:2::2/64"),
        ] {
            run_ok(&["ip", "-n", ns, "addr", "add", a4, "dev", dev]);
            run_ok(&["ip", "-n", ns, "-6", "addr", "add", a6, "dev", dev, "nodad"]);
            run_ok(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        for ns in [cli, gw, srv] {
            run_ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run_ok(&[
            "ip",
            "-n",
            cli,
            "route",
            "add",
            "default",
            "via",
            "192.0.2.1",
        ]);
        run_ok(&[
            "ip",
            "-n",
            cli,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:1::1",
        ]);
        run_ok(&[
            "ip",
            "-n",
            srv,
            "route",
            "add",
            "default",
            "via",
            "198.51.100.1",
        ]);
        run_ok(&[
            "ip",
            "-n",
            srv,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:2::1",
        ]);
        run_ok(&[
            "ip",
            "netns",
            "exec",
            gw,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        run_ok(&[
            "ip",
            "netns",
            "exec",
            gw,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.forwarding=1",
        ]);
        t
    }

    /// A command run inside namespace `ns`.
    pub fn cmd(&self, ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Runs a shell command line inside `ns` and returns its output.
    pub fn sh(&self, ns: &str, line: &str) -> Output {
        self.cmd(ns, "sh").args(["-c", line]).output().expect("sh")
    }

    /// Runs `f` on a thread that entered namespace `ns` (sockets it opens live there).
    pub fn in_ns<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("netns file");
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}");
            f()
        })
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in [&self.cli, &self.gw, &self.srv] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A child process killed (by its PID, SIGKILL) and reaped on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn spawn(mut c: Command) -> Proc {
        Proc(c.stdin(Stdio::null()).spawn().expect("spawn"))
    }
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
    pub fn signal(&self, sig: libc::c_int) {
        unsafe { libc::kill(self.pid(), sig) };
    }
    /// Waits at most `limit` for the process to exit.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(st)) = self.0.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.0.wait();
        }
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

//! EVE to syslog from a live engine in the cli — gw — srv namespaces: `[output] eve = "both"`
//! or `"syslog"` sends each record as one RFC 3164 message to the configured socket (a
//! datagram socket this test binds in a temp dir, as `/dev/log` is); the records are those of
//! eve.json; a syslog daemon that goes away costs its records (counted), not the engine, and
//! one that comes back gets the records after it. Root only; bounded waits.

mod common;
mod live;

use common::netns::Topology;
use live::*;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// A stand-in syslog daemon: a datagram socket in its own temp dir.
struct Syslogd {
    dir: std::path::PathBuf,
    sock: UnixDatagram,
}

impl Syslogd {
    fn bind(tag: &str) -> Syslogd {
        let dir =
            std::env::temp_dir().join(format!("verdict-syslogd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = UnixDatagram::bind(dir.join("log")).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Syslogd { dir, sock }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.join("log")
    }

    /// Messages received until `n` arrived or 3 s passed.
    fn recv(&self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let mut buf = vec![0u8; 65536];
        while got.len() < n && std::time::Instant::now() < deadline {
            if let Ok(k) = self.sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..k]).into_owned());
            }
        }
        got
    }
}

impl Drop for Syslogd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One datagram to srv:7200 from its own source port (a new flow).
fn knock(t: &Topology, sport: u16, msg: &'static [u8]) {
    udp_knock(t, sport, 7200, msg);
}

/// The JSON record of a `<PRI>Mmm dd hh:mm:ss IDENT[PID]: {json}` message, checking its
/// priority and tag.
fn record(msg: &str, pri: &str, ident: &str) -> serde_json::Value {
    assert!(msg.starts_with(&format!("<{pri}>")), "{msg}");
    let (head, json) = msg.split_once(": {").unwrap_or_else(|| panic!("{msg}"));
    assert!(
        head.split_whitespace()
            .last()
            .is_some_and(|t| t.starts_with(&format!("{ident}[")) && t.ends_with(']')),
        "{msg}"
    );
    serde_json::from_str(&format!("{{{json}")).unwrap_or_else(|e| panic!("{e}: {msg}"))
}

const RULES: &str =
    "alert udp any any -> any 7200 (msg:\"to syslog\"; content:\"LOGME\"; sid:920101; rev:1;)\n";

#[test]
fn eve_records_go_to_syslog_as_configured_and_survive_a_daemon_restart() {
    require_netns!();
    let t = Topology::new();
    let d = Syslogd::bind("both");
    let f = Files::new(
        "syslog",
        &format!(
            "[scan]\nenabled = false\n[output]\neve = \"both\"\nsyslog_socket = \"{}\"\n\
             syslog_facility = \"local3\"\nsyslog_identity = \"verdict-e2e\"\n",
            d.path().display()
        ),
    );
    let mut e = f.start(&t, "ops-syslog", RULES);
    for i in 0..3 {
        knock(&t, 45_200 + i, b"LOGME now");
    }
    let msgs = d.recv(3);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    // local3 (19) * 8 + info (6).
    let from_syslog: Vec<serde_json::Value> = msgs
        .iter()
        .map(|m| record(m, "158", "verdict-e2e"))
        .collect();
    assert!(from_syslog
        .iter()
        .all(|r| r["event_type"] == "alert" && r["alert"]["signature_id"] == 920101));
    // The same records as eve.json's.
    let in_file = e.alerts(920101, 3);
    assert_eq!(from_syslog, in_file);

    // The daemon goes away: those records are lost and counted, the engine goes on; it comes
    // back at the same path and gets the records after it (reconnect within a second).
    let path = d.path();
    drop(d);
    knock(&t, 45_210, b"LOGME lost");
    let lost = wait_for(Duration::from_secs(3), || {
        Some(e.stats().output).filter(|o| o.syslog_lost >= 1)
    })
    .expect("the lost record is counted");
    assert_eq!(lost.syslog_written, 3, "{lost:?}");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let d = Syslogd {
        dir: path.parent().unwrap().to_path_buf(),
        sock: UnixDatagram::bind(&path).unwrap(),
    };
    d.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    knock(&t, 45_211, b"LOGME back");
    let msgs = d.recv(1);
    assert_eq!(msgs.len(), 1, "no record after the daemon came back");
    assert_eq!(record(&msgs[0], "158", "verdict-e2e")["src_port"], 45_211);
    // Lost records are reported at the stop (and make its status a failure), as for files.
    e.bg.signal(libc::SIGTERM);
    e.bg.wait_exit(Duration::from_secs(10))
        .expect("verdict stops");
    let out = e.bg.output();
    assert!(out.contains("syslog 1, redis 0 (last: syslog "), "{out}");
}

#[test]
fn eve_to_syslog_only_writes_no_eve_json() {
    require_netns!();
    let t = Topology::new();
    let d = Syslogd::bind("only");
    let f = Files::new(
        "syslog-only",
        &format!(
            "[scan]\nenabled = false\n[output]\neve = \"syslog\"\nsyslog_socket = \"{}\"\n",
            d.path().display()
        ),
    );
    let mut e = f.start(&t, "ops-syslog-only", RULES);
    knock(&t, 45_300, b"LOGME once");
    let msgs = d.recv(1);
    assert_eq!(msgs.len(), 1);
    // Suricata's defaults: local5 (21) * 8 + info (6), and our name.
    assert_eq!(
        record(&msgs[0], "174", "verdict")["alert"]["signature_id"],
        920101
    );
    std::thread::sleep(Duration::from_millis(400));
    assert!(!e.dir.join("eve.json").exists(), "eve.json was written");
    assert!(std::fs::read_to_string(e.dir.join("fast.log"))
        .unwrap()
        .contains(":920101:"));
    let out = e.stop();
    assert!(out.contains("1 alerts written"), "{out}");
}

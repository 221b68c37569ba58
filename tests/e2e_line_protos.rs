//! SSH and FTP through the gateway with real peers (python3 sockets in cli and srv),
//! `verdict run` on gw with the default port steering: a drop rule on `ssh.software` stops
//! a listed client's banner before the server reads it, and `ftpbounce` (the ET Open rule)
//! drops a PORT command that names another host; the neighbours of each pass. Root only;
//! every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::*;
use std::time::Duration;

/// An SSH-like server on SRV4:argv[2]: sends its banner, reads the client's banner line,
/// logs it to stderr and answers `ok`.
const BANNER_SERVER: &str = r#"import socket, sys, threading
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
def serve(c):
    with c:
        c.sendall(sys.argv[3].encode() + b"\r\n")
        f = c.makefile("rb")
        for line in f:
            sys.stderr.write("LINE " + line.decode(errors="replace").strip() + "\n"); sys.stderr.flush()
            c.sendall(b"ok\r\n")
while True:
    c, _ = srv.accept()
    c.settimeout(5)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Connects to SRV4:argv[2], reads the server's first line, sends argv[3] as a line and
/// prints `got <reply>` or `failed <error>`.
const LINE_CLIENT: &str = r#"import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(sys.argv[3].encode() + b"\r\n")
        r = f.readline()
        print("got " + r.decode().strip() if r else "failed closed")
except Exception as e:
    print("failed %s" % type(e).__name__)
"#;

/// Runs one client exchange from cli; its printed result.
fn exchange(t: &Topology, port: &str, line: &str) -> String {
    let out = t.exec(&t.cli, &["python3", "-c", LINE_CLIENT, SRV4, port, line]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `verdict run` on gw with `rule`, and the line server on SRV4:`port` greeting with
/// `greeting`; then, for each (client line, passes), the exchange from cli must get `ok` or
/// fail. Returns the engine and what the server logged.
fn run_case(
    tag: &str,
    rule: &str,
    port: u16,
    greeting: &str,
    lines: &[(&str, bool)],
) -> (Topology, Engine, String) {
    let t = Topology::new();
    let e = Engine::start(&t, tag, rule, &[]);
    let p = port.to_string();
    let args = ["python3", "-c", BANNER_SERVER, SRV4, &p, greeting];
    let mut srv = t.spawn(&t.srv, &args);
    t.wait_listening(&t.srv, port, false, Duration::from_secs(10));
    for &(line, passes) in lines {
        let got = exchange(&t, &p, line);
        if passes {
            assert_eq!(got, "got ok", "{line}");
        } else {
            assert!(got.starts_with("failed"), "{line} got through: {got}");
        }
    }
    let log = srv.output();
    (t, e, log)
}

#[test]
fn a_listed_ssh_client_banner_is_dropped_and_others_pass() {
    require_netns!();
    let (_t, e, log) = run_case(
        "ssh",
        "drop ssh any any -> any any (msg:\"listed ssh client\"; flow:established,to_server; \
         ssh.software; content:\"evilscan\"; sid:1010101; rev:1;)\n",
        22,
        "SSH-2.0-OpenSSH_9.6",
        &[
            ("SSH-2.0-libssh_0.10.6", true),
            ("SSH-2.0-evilscan_1.0", false),
            ("SSH-2.0-OpenSSH_9.6p1", true),
        ],
    );
    let alerts = e.alerts(1010101, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "ssh");
    assert_eq!(
        alerts[0]["ssh"]["client"]["software_version"],
        "evilscan_1.0"
    );
    assert!(log.contains("LINE SSH-2.0-libssh_0.10.6"), "{log}");
    assert!(
        !log.contains("evilscan"),
        "the server read a dropped banner: {log}"
    );
}

#[test]
fn an_ftp_port_bounce_is_dropped_and_a_port_to_the_client_passes() {
    require_netns!();
    // The ET Open rule, with `any` for its variables ($HOME_NET is not the test's range).
    // The client is 192.0.2.2: a PORT back to it is ordinary active FTP.
    let (_t, e, log) = run_case(
        "ftp",
        "drop tcp any any -> any 21 (msg:\"GPL FTP PORT bounce attempt\"; \
         flow:to_server,established; content:\"PORT\"; nocase; ftpbounce; pcre:\"/^PORT/smi\"; \
         classtype:misc-attack; sid:2103441; rev:2;)\n",
        21,
        "220 (vsFTPd 3.0.5)",
        &[
            ("PORT 192,0,2,2,195,80", true),
            ("PORT 203,0,113,9,0,25", false),
            ("USER anonymous", true),
        ],
    );
    let alerts = e.alerts(2103441, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["ftp"]["command"], "PORT");
    assert_eq!(alerts[0]["ftp"]["command_data"], "203,0,113,9,0,25");
    assert!(log.contains("LINE PORT 192,0,2,2,195,80"), "{log}");
    assert!(
        !log.contains("203,0,113,9"),
        "the server read the bounce: {log}"
    );
}

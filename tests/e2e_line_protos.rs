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

#[test]
fn a_listed_ssh_client_banner_is_dropped_and_others_pass() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "ssh",
        "drop ssh any any -> any any (msg:\"listed ssh client\"; flow:established,to_server; \
         ssh.software; content:\"evilscan\"; sid:1010101; rev:1;)\n",
        &[],
    );
    let mut srv = t.spawn(
        &t.srv,
        &[
            "python3",
            "-c",
            BANNER_SERVER,
            SRV4,
            "22",
            "SSH-2.0-OpenSSH_9.6",
        ],
    );
    t.wait_listening(&t.srv, 22, false, Duration::from_secs(10));
    assert_eq!(exchange(&t, "22", "SSH-2.0-libssh_0.10.6"), "got ok");
    let blocked = exchange(&t, "22", "SSH-2.0-evilscan_1.0");
    assert!(
        blocked.starts_with("failed"),
        "the listed client got through: {blocked}"
    );
    assert_eq!(exchange(&t, "22", "SSH-2.0-OpenSSH_9.6p1"), "got ok");
    let alerts = e.alerts(1010101, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "ssh");
    assert_eq!(
        alerts[0]["ssh"]["client"]["software_version"],
        "evilscan_1.0"
    );
    let log = srv.output();
    assert!(log.contains("LINE SSH-2.0-libssh_0.10.6"), "{log}");
    assert!(
        !log.contains("evilscan"),
        "the server read a dropped banner: {log}"
    );
}

#[test]
fn an_ftp_port_bounce_is_dropped_and_a_port_to_the_client_passes() {
    require_netns!();
    let t = Topology::new();
    // The ET Open rule, with `any` for its variables ($HOME_NET is not the test's range).
    let e = Engine::start(
        &t,
        "ftp",
        "drop tcp any any -> any 21 (msg:\"GPL FTP PORT bounce attempt\"; \
         flow:to_server,established; content:\"PORT\"; nocase; ftpbounce; pcre:\"/^PORT/smi\"; \
         classtype:misc-attack; sid:2103441; rev:2;)\n",
        &[],
    );
    let mut srv = t.spawn(
        &t.srv,
        &[
            "python3",
            "-c",
            BANNER_SERVER,
            SRV4,
            "21",
            "220 (vsFTPd 3.0.5)",
        ],
    );
    t.wait_listening(&t.srv, 21, false, Duration::from_secs(10));
    // The client is 192.0.2.2: a PORT back to it is ordinary active FTP.
    assert_eq!(exchange(&t, "21", "PORT 192,0,2,2,195,80"), "got ok");
    let bounce = exchange(&t, "21", "PORT 203,0,113,9,0,25");
    assert!(
        bounce.starts_with("failed"),
        "the bounce got through: {bounce}"
    );
    assert_eq!(exchange(&t, "21", "USER anonymous"), "got ok");
    let alerts = e.alerts(2103441, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["ftp"]["command"], "PORT");
    assert_eq!(alerts[0]["ftp"]["command_data"], "203,0,113,9,0,25");
    let log = srv.output();
    assert!(log.contains("LINE PORT 192,0,2,2,195,80"), "{log}");
    assert!(
        !log.contains("203,0,113,9"),
        "the server read the bounce: {log}"
    );
}

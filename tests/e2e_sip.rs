//! SIP through the gateway with real peers (python3 sockets in cli and srv), `verdict run`
//! on gw with the default port steering: a `sip.method` rule drops an INVITE over UDP before
//! the server reads it while an OPTIONS is answered, and the Snort community's `sip_header`
//! rule drops a TCP request whose header carries a shellshock string while a clean one is
//! answered. Namespaces start with `hsip`. Root only; every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::*;
use std::time::Duration;

/// A SIP server on SRV4:5060 over UDP (argv[2] == "udp") or TCP: answers each request with
/// `SIP/2.0 200 OK` and logs its first line to stderr.
const SIP_SERVER: &str = r#"import socket, sys, threading
def answer(req):
    line = req.split(b"\r\n", 1)[0].decode(errors="replace")
    sys.stderr.write("REQ " + line + "\n"); sys.stderr.flush()
    return b"SIP/2.0 200 OK\r\nCSeq: 1 " + line.split(" ")[0].encode() + b"\r\nContent-Length: 0\r\n\r\n"
if sys.argv[2] == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 5060))
    while True:
        req, peer = s.recvfrom(65535)
        s.sendto(answer(req), peer)
srv = socket.create_server((sys.argv[1], 5060))
def serve(c):
    with c:
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(4096)
            if not d:
                return
            buf += d
        c.sendall(answer(buf))
while True:
    c, _ = srv.accept()
    c.settimeout(3)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Sends request argv[3] (method) with extra header argv[4] to SRV4:5060 over argv[2];
/// prints the status line, or `failed <error>`.
const SIP_CLIENT: &str = r#"import socket, sys
m = sys.argv[3]
req = (m + " sip:bob@198.51.100.2 SIP/2.0\r\nVia: SIP/2.0/" + sys.argv[2].upper() + " 192.0.2.2:5062;branch=z9hG4bK1\r\n"
       "From: <sip:alice@192.0.2.2>;tag=1\r\nTo: <sip:bob@198.51.100.2>\r\nCall-ID: 1@192.0.2.2\r\n"
       "CSeq: 1 " + m + "\r\n" + sys.argv[4] + "\r\nContent-Length: 0\r\n\r\n").encode()
try:
    if sys.argv[2] == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1.5)
        s.sendto(req, (sys.argv[1], 5060))
        r, _ = s.recvfrom(65535)
    else:
        with socket.create_connection((sys.argv[1], 5060), timeout=2) as s:
            s.sendall(req)
            r = s.recv(4096)
    print(r.split(b"\r\n", 1)[0].decode() if r else "failed closed")
except Exception as e:
    print("failed %s" % type(e).__name__)
"#;

/// `verdict run` on gw with `rule` and the SIP server over `transport`; each (method, extra
/// header, passes) request from cli must be answered `SIP/2.0 200 OK` or fail. Returns the
/// engine and what the server logged.
fn run_case(
    tag: &str,
    rule: &str,
    transport: &str,
    requests: &[(&str, &str, bool)],
) -> (Topology, Engine, String) {
    let t = Topology::with_prefix("hsip");
    let e = Engine::start(&t, tag, rule, &[]);
    let mut srv = t.spawn(&t.srv, &["python3", "-c", SIP_SERVER, SRV4, transport]);
    t.wait_listening(&t.srv, 5060, transport == "udp", Duration::from_secs(10));
    for &(method, header, passes) in requests {
        let out = t.exec(
            &t.cli,
            &["python3", "-c", SIP_CLIENT, SRV4, transport, method, header],
        );
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if passes {
            assert_eq!(got, "SIP/2.0 200 OK", "{method}");
        } else {
            assert!(got.starts_with("failed"), "{method} got through: {got}");
        }
    }
    let log = srv.output();
    (t, e, log)
}

#[test]
fn a_udp_invite_is_dropped_and_options_is_answered() {
    require_netns!();
    let (_t, e, log) = run_case(
        "sip-udp",
        "drop sip any any -> any any (msg:\"SIP INVITE\"; sip.method; content:\"INVITE\"; \
         bsize:6; sid:1020001; rev:1;)\n",
        "udp",
        &[
            ("OPTIONS", "Max-Forwards: 70", true),
            ("INVITE", "Max-Forwards: 70", false),
            ("REGISTER", "Max-Forwards: 70", true),
        ],
    );
    let alerts = e.alerts(1020001, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "sip");
    assert_eq!(alerts[0]["sip"]["method"], "INVITE");
    assert!(
        log.contains("REQ OPTIONS sip:") && log.contains("REQ REGISTER sip:"),
        "{log}"
    );
    assert!(
        !log.contains("REQ INVITE"),
        "the server read a dropped INVITE: {log}"
    );
}

#[test]
fn a_tcp_request_with_shellshock_in_a_header_is_dropped() {
    require_netns!();
    // The Snort community rule (sid 32042), with `any` for its variables.
    let (_t, e, log) = run_case(
        "sip-tcp",
        "drop tcp any any -> any 5060 (msg:\"OS-OTHER Bash environment variable injection \
         attempt\"; flow:to_server,established; sip_header; content:\"() {\"; \
         classtype:attempted-admin; sid:32042; rev:4;)\n",
        "tcp",
        &[
            ("OPTIONS", "User-Agent: softphone/1.0", true),
            ("OPTIONS", "User-Agent: () { :; }; /bin/id", false),
        ],
    );
    let alerts = e.alerts(32042, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "sip");
    assert_eq!(log.matches("REQ OPTIONS").count(), 1, "{log}");
}

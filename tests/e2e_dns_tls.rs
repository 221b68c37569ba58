//! DNS and TLS through the gateway with real peers (python3 in cli and srv), `verdict run`
//! on gw with the default port steering: a DNS query for a listed domain is dropped (the
//! client's resolver gets nothing), a TLS connection to a listed SNI is reset, and the
//! neighbours of each pass. Root only; every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::*;
use std::time::Duration;

/// A UDP DNS server on SRV4:53 answering every A question with 192.0.2.77; it logs each
/// question name to stderr.
const DNS_SERVER: &str = r#"import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(4096)
    i, labels = 12, []
    while q[i]:
        labels.append(q[i+1:i+1+q[i]].decode()); i += 1 + q[i]
    sys.stderr.write("Q " + ".".join(labels) + "\n"); sys.stderr.flush()
    question = q[12:i+5]
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 77])
    s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, peer)
"#;

/// Asks SRV4 for an A record of argv[2] and prints the address, or `timeout`.
const DNS_CLIENT: &str = r#"import socket, sys, random
name = sys.argv[2]
q = random.randbytes(2) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
s.sendto(q, (sys.argv[1], 53))
try:
    r, _ = s.recvfrom(4096)
    print("answer " + ".".join(str(b) for b in r[-4:]))
except socket.timeout:
    print("timeout")
"#;

/// A TLS server on SRV4:443 (cert argv[2], key argv[3]) that writes `hello` to each client
/// and logs the SNI it was asked for.
const TLS_SERVER: &str = r#"import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
def sni(sock, name, c):
    sys.stderr.write("SNI %s\n" % name); sys.stderr.flush()
ctx.sni_callback = sni
srv = socket.create_server((sys.argv[1], 443))
def serve(c):
    try:
        with ctx.wrap_socket(c, server_side=True) as t:
            t.sendall(b"hello\n")
    except Exception as e:
        sys.stderr.write("ERR %r\n" % e); sys.stderr.flush()
while True:
    c, _ = srv.accept()
    c.settimeout(3)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Connects to SRV4:443 with SNI argv[2]; prints `got <data>` or `failed <error>`.
const TLS_CLIENT: &str = r#"import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    with socket.create_connection((sys.argv[1], 443), timeout=3) as s:
        with ctx.wrap_socket(s, server_hostname=sys.argv[2]) as t:
            print("got " + t.recv(100).decode().strip())
except Exception as e:
    print("failed %s" % type(e).__name__)
"#;

#[test]
fn a_query_for_a_listed_domain_is_dropped_and_others_resolve() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "dns",
        "drop dns any any -> any any (msg:\"listed domain\"; dns.query; dotprefix; \
         content:\".evil.example\"; nocase; endswith; sid:1010001; rev:1;)\n",
        &[],
    );
    let mut srv = t.spawn(&t.srv, &["python3", "-c", DNS_SERVER, SRV4]);
    t.wait_listening(&t.srv, 53, true, Duration::from_secs(10));
    let ask = |name: &str| {
        let out = t.exec(&t.cli, &["python3", "-c", DNS_CLIENT, SRV4, name]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(ask("www.good.example"), "answer 192.0.2.77");
    // dotprefix + endswith: the domain and its subdomains, not a name that merely ends alike.
    assert_eq!(ask("c2.EVIL.example"), "timeout");
    assert_eq!(ask("evil.example"), "timeout");
    assert_eq!(ask("notevil.example"), "answer 192.0.2.77");
    let alerts = e.alerts(1010001, 2);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "dns");
    assert_eq!(alerts[0]["dns"]["rrname"], "c2.EVIL.example");
    let log = srv.output();
    assert!(
        log.contains("Q www.good.example") && log.contains("Q notevil.example"),
        "{log}"
    );
    assert!(
        !log.contains("Q c2.EVIL.example") && !log.contains("Q evil.example"),
        "the server saw a dropped query: {log}"
    );
}

#[test]
fn a_tls_connection_to_a_listed_sni_is_reset_and_others_complete() {
    require_netns!();
    let t = Topology::new();
    let e = Engine::start(
        &t,
        "tls",
        "reject tls any any -> any any (msg:\"listed sni\"; flow:established,to_server; \
         tls.sni; content:\"blocked.example\"; sid:1010002; rev:1;)\n",
        &[],
    );
    let (cert, key) = (e.dir.join("cert.pem"), e.dir.join("key.pem"));
    let gen = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=test.example", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(gen.status.success(), "{gen:?}");
    let mut srv = t.spawn(
        &t.srv,
        &[
            "python3",
            "-c",
            TLS_SERVER,
            SRV4,
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        ],
    );
    t.wait_listening(&t.srv, 443, false, Duration::from_secs(10));
    let connect = |sni: &str| {
        let out = t.exec(&t.cli, &["python3", "-c", TLS_CLIENT, SRV4, sni]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(connect("www.allowed.example"), "got hello");
    let blocked = connect("blocked.example");
    assert!(
        blocked.starts_with("failed"),
        "the listed SNI got through: {blocked}"
    );
    assert_eq!(connect("other.allowed.example"), "got hello");
    let alerts = e.alerts(1010002, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "tls");
    assert_eq!(alerts[0]["tls"]["sni"], "blocked.example");
    let log = srv.output();
    assert!(log.contains("SNI www.allowed.example"), "{log}");
    assert!(
        !log.contains("SNI blocked.example"),
        "the server finished a handshake for the listed SNI: {log}"
    );
}

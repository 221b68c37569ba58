//! HTTP through the gateway with real peers: python3's http.server (HTTP/1.1, keep-alive) in
//! srv and curl in cli, `verdict run` on gw with an `http.uri` drop rule. Root only; every wait
//! is bounded.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::*;
use std::time::Duration;

/// A keep-alive HTTP/1.1 file server on SRV4:8080 serving `dir`; it logs each request line to
/// stderr.
const SERVER: &str = "import http.server, os, sys
os.chdir(sys.argv[1])
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
http.server.ThreadingHTTPServer((sys.argv[2], 8080), H).serve_forever()";

#[test]
fn keepalive_request_with_a_bad_uri_never_reaches_the_server() {
    require_netns!();
    let t = Topology::new();
    // Port 8080: HTTP is recognised by content, not by port — which needs every TCP port
    // queued (`$HTTP_PORTS` is 80).
    let e = Engine::start(
        &t,
        "http",
        "drop http any any -> any any (msg:\"evil uri\"; flow:established,to_server; \
         http.uri; content:\"/evil\"; sid:1009001; rev:1;)\n",
        &["--steer", "all-tcp"],
    );
    let www = e.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("a.txt"), "first\n").unwrap();
    std::fs::write(www.join("b.txt"), "second\n").unwrap();
    std::fs::write(www.join("evil.txt"), "never served\n").unwrap();
    let mut srv = t.spawn(
        &t.srv,
        &["python3", "-c", SERVER, www.to_str().unwrap(), SRV4],
    );
    t.wait_listening(&t.srv, 8080, false, Duration::from_secs(10));
    let url = |p: &str| format!("http://{SRV4}:8080/{p}");
    // One curl, three URLs on one connection: the first two succeed, the third is dropped.
    let out = t.exec(
        &t.cli,
        &[
            "curl",
            "-sv",
            "--max-time",
            "3",
            "-w",
            "code=%{http_code}\n",
            &url("a.txt"),
            &url("b.txt"),
            &url("evil.txt"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stdout.contains("first\ncode=200") && stdout.contains("second\ncode=200"),
        "the requests before the bad one succeed: {stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains("never served"),
        "the bad request got an answer: {stdout}"
    );
    assert!(
        stderr.contains("existing connection"),
        "curl did not keep the connection alive, the test proves nothing: {stderr}"
    );
    let alerts = e.alerts(1009001, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "http");
    assert_eq!(alerts[0]["http"]["url"], "/evil.txt");
    assert_eq!(alerts[0]["dest_port"], 8080);
    let log = srv.output();
    assert!(
        log.contains("GET /a.txt") && log.contains("GET /b.txt"),
        "{log}"
    );
    assert!(
        !log.contains("/evil"),
        "the server saw the bad request: {log}"
    );
    // The evidence pcap holds the packet that carried the request.
    let pcap = std::fs::read(e.dir.join("evidence.pcap")).unwrap();
    assert!(
        pcap.windows(14).any(|w| w == b"GET /evil.txt "),
        "evidence.pcap lacks the request"
    );
    // Both completed responses were logged as files.
    let files = e.eve("fileinfo");
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().any(|f| f["fileinfo"]["filename"] == "/a.txt"));
}

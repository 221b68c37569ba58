//! Flow bypass through the real kernel: once both directions of a TCP flow are past the
//! stream depth, the worker marks it and the kernel stops queueing its packets, while the
//! transfer completes intact; under the default per-direction policy a download past the
//! depth leaves the queue alone while its requests are still inspected and dropped. Root
//! only; every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

const PORT: u16 = 5311;
/// Stream depth of the engine under test: small, so the transfer is mostly past it.
const DEPTH: &str = "65536";

/// Deterministic bytes that differ per direction, so a swapped or corrupted stream shows.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(salt);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Both ends of one connection: each writes `first`, pauses `pause`, writes `rest`, then
/// half-closes, while a second thread reads everything the peer sends (so neither side ever
/// blocks on a full window). Returns what each side received.
fn duplex(s: TcpStream, first: Vec<u8>, rest: Vec<u8>, pause: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = r.read_to_end(&mut got);
        got
    });
    let mut w = s;
    w.write_all(&first).unwrap();
    std::thread::sleep(pause);
    w.write_all(&rest).unwrap();
    w.shutdown(Shutdown::Write).unwrap();
    reader.join().unwrap()
}

/// Packets and bytes the xt rule returning bypassed flows from chain VERDICT has counted:
/// whole flows (`ctdir` None), or one conntrack direction (`ORIGINAL`, `REPLY`).
fn bypass_return_counter(t: &Topology, ctdir: Option<&str>) -> (u64, u64) {
    let out = t.exec(
        &t.gw,
        &["iptables-nft", "-w", "-L", "VERDICT", "-v", "-x", "-n"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| {
            l.contains("connmark")
                && l.contains("RETURN")
                && match ctdir {
                    Some(d) => l.contains(&format!("ctdir {d}")),
                    None => !l.contains("ctdir"),
                }
        })
        .and_then(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .unwrap_or_else(|| panic!("no bypass rule ({ctdir:?}) in chain VERDICT:\n{text}"))
}

#[test]
fn a_flow_past_the_stream_depth_leaves_the_queue_and_completes_intact() {
    require_netns!();
    let t = Topology::new();
    // A queued rule on the port (it never matches), so the flow is steered to the queue.
    let e = Engine::start(
        &t,
        "bypass",
        &format!(
            "alert tcp any any -> any {PORT} (msg:\"never\"; flow:established; \
             content:\"verdict-bypass-never-matches\"; sid:1009201; rev:1;)\n"
        ),
        &[
            "--workers",
            "1",
            "--stream-depth",
            DEPTH,
            "--bypass",
            "both",
        ],
    );
    let (first, rest) = (256 << 10, 6 << 20);
    let pause = Duration::from_millis(1500);
    let (up, down) = (pattern(first + rest, 1), pattern(first + rest, 2));
    let (tx, rx) = std::sync::mpsc::channel();
    let down_srv = down.clone();
    let srv = t.in_ns(&t.srv, move || {
        let l = std::net::TcpListener::bind((SRV4, PORT)).unwrap();
        tx.send(()).unwrap();
        let (c, _) = l.accept().unwrap();
        let (a, b) = down_srv.split_at(first);
        duplex(c, a.to_vec(), b.to_vec(), pause)
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("server bound");
    let up_cli = up.clone();
    let cli = t.in_ns(&t.cli, move || {
        let sa = std::net::SocketAddr::from((SRV4.parse::<std::net::Ipv4Addr>().unwrap(), PORT));
        let c = TcpStream::connect_timeout(&sa, Duration::from_secs(3)).unwrap();
        let (a, b) = up_cli.split_at(first);
        duplex(c, a.to_vec(), b.to_vec(), pause)
    });
    // In the pause both directions are past the depth: the flow is bypassed by now, and the
    // packets in flight when it was marked have been through the queue.
    std::thread::sleep(pause / 2 + Duration::from_millis(200));
    let queued_at_pause = e.queued();
    let bypassed_at_pause: u64 = e.stats().queues.iter().map(|q| q.bypassed).sum();
    let (srv_got, cli_got) = (srv.join().unwrap(), cli.join().unwrap());
    assert!(
        srv_got == up,
        "upload corrupted: {} of {} bytes",
        srv_got.len(),
        up.len()
    );
    assert!(
        cli_got == down,
        "download corrupted: {} of {} bytes",
        cli_got.len(),
        down.len()
    );
    // Let the last stats snapshot (every 100 ms) catch up.
    std::thread::sleep(Duration::from_millis(400));
    let queued_at_end = e.queued();
    assert_eq!(
        bypassed_at_pause, 1,
        "the flow was not bypassed at the depth"
    );
    assert!(
        queued_at_pause > 0,
        "the flow was never queued: the test proves nothing"
    );
    assert_eq!(
        queued_at_end, queued_at_pause,
        "packets of a bypassed flow still reached the queue"
    );
    // The kernel carried the 12 MiB sent after the pause itself.
    let (pkts, bytes) = bypass_return_counter(&t, None);
    assert!(
        bytes >= 2 * rest as u64,
        "the kernel's bypass rule saw {pkts} packets / {bytes} bytes, less than the {} bytes sent after the depth",
        2 * rest
    );
    let table = t.ruleset(&t.gw);
    assert!(
        table.contains("chain bypass") && table.contains("ct mark set ct mark | 0x40000000"),
        "{table}"
    );
}

/// One short TCP exchange cli → srv:`port` (the server answers, the client half-closes).
fn exchange(t: &Topology, port: u16) {
    let srv = tcp_server(
        t,
        port,
        Some((Duration::ZERO, b"pong".to_vec())),
        Duration::from_secs(3),
    );
    let cli = tcp_client(
        t,
        port,
        vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()],
        Duration::ZERO,
        Duration::from_secs(3),
    );
    assert_eq!(cli.join().unwrap().data, b"pong");
    assert!(srv.join().unwrap().data.starts_with(b"GET /"));
}

#[test]
fn default_steering_queues_the_http_ports_and_not_other_tcp_ports() {
    require_netns!();
    let t = Topology::new();
    // An `http` rule on any port: by default only $HTTP_PORTS (80) is steered to the queue.
    let e = Engine::start(
        &t,
        "steer",
        "alert http any any -> any any (msg:\"never\"; http.uri; \
         content:\"/verdict-steer-never\"; sid:1009202; rev:1;)\n",
        &["--workers", "1"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = e.queued();
    exchange(&t, 8081);
    std::thread::sleep(Duration::from_millis(400));
    let after_other = e.queued();
    assert_eq!(after_other, before, "a port outside $HTTP_PORTS was queued");
    exchange(&t, 80);
    // A handshake, a request, a response and the closes: at least 6 packets, seen in the
    // stats snapshots (every 100 ms) within a bounded wait.
    let after_http = wait_for(Duration::from_secs(5), || {
        Some(e.queued()).filter(|&n| n >= after_other + 6)
    });
    assert!(
        after_http.is_some(),
        "port 80 was not queued: {} packets after {after_other}",
        e.queued()
    );
}

/// Reads one HTTP/1.1 message head (up to the blank line) and its `Content-Length` body from
/// `s`; None on EOF, a timeout or a head without a length.
fn read_message(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(Some(0), |v| v.trim().parse().ok())?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// Size of the download, far past the engine's stream depth.
const BIG: usize = 4 << 20;

#[test]
fn a_download_past_the_depth_leaves_the_queue_alone_and_a_later_request_is_still_dropped() {
    // ... and the drop blocks the bypassed direction too, in the kernel.
    require_netns!();
    let t = Topology::new();
    const SID: u64 = 1009203;
    // The default policy (`direction`); a drop rule on the request URI, so port 80 is queued.
    let e = Engine::start(
        &t,
        "bypass-dir",
        &format!(
            "drop http any any -> any 80 (msg:\"bad uri\"; flow:established,to_server; \
             http.uri; content:\"/verdict-bad\"; sid:{SID}; rev:1;)\n"
        ),
        &["--workers", "1", "--stream-depth", DEPTH],
    );
    // An HTTP/1.1 server for one keep-alive connection: /big is BIG bytes, anything else
    // "ok". After two requests it waits to be told to push bytes the client never asked
    // for, then goes on reading. It returns the request lines it received.
    let (tx, rx) = std::sync::mpsc::channel();
    let (push_tx, push_rx) = std::sync::mpsc::channel::<()>();
    let body = pattern(BIG, 3);
    let body_srv = body.clone();
    let srv = t.in_ns(&t.srv, move || {
        let l = std::net::TcpListener::bind((SRV4, 80)).unwrap();
        tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
        let mut got = Vec::new();
        while let Some((head, _)) = read_message(&mut c) {
            if got.len() == 2 {
                break;
            }
            let line = head.lines().next().unwrap_or_default().to_string();
            let reply: &[u8] = if line.starts_with("GET /big ") {
                &body_srv
            } else {
                b"ok"
            };
            got.push(line);
            let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", reply.len());
            if c.write_all(h.as_bytes())
                .and_then(|_| c.write_all(reply))
                .is_err()
            {
                break;
            }
            if got.len() == 2 {
                push_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                c.write_all(b"PUSHED").unwrap();
            }
        }
        got
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("server bound");
    // The client: the download, then (once the test has looked at the counters) a harmless
    // request and a bad one on the same connection.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let cli = t.in_ns(&t.cli, move || {
        let sa = std::net::SocketAddr::from((SRV4.parse::<std::net::Ipv4Addr>().unwrap(), 80));
        let mut c = TcpStream::connect_timeout(&sa, Duration::from_secs(3)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let get = |c: &mut TcpStream, path: &str| {
            let req = format!("GET {path} HTTP/1.1\r\nHost: srv\r\n\r\n");
            c.write_all(req.as_bytes()).ok()?;
            read_message(c).map(|(_, b)| b)
        };
        let big = get(&mut c, "/big");
        done_tx.send(()).unwrap();
        go_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        let ok = get(&mut c, "/ok");
        // The bad request is dropped, its retransmissions too: no answer within the timeout.
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let bad = get(&mut c, "/verdict-bad");
        // The server's direction is bypassed, yet the flow's block stops it too.
        push_tx.send(()).unwrap();
        let mut late = [0u8; 64];
        let pushed = c.read(&mut late).map_or(0, |n| n);
        (big, ok, bad, pushed)
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the download ended");
    // Let the stats snapshot (every 100 ms) catch up with the download.
    std::thread::sleep(Duration::from_millis(400));
    let stats = e.stats();
    let sum = |f: fn(&verdict_engine::nfq::QueueStats) -> u64| stats.queues.iter().map(f).sum();
    let (half, whole) = (sum(|q| q.half_bypassed), sum(|q| q.bypassed));
    let (queued, queued_bytes) = (sum(|q| q.received), sum(|q| q.accepted_bytes));
    let (reply_pkts, reply_bytes) = bypass_return_counter(&t, Some("REPLY"));
    let (orig_pkts, _) = bypass_return_counter(&t, Some("ORIGINAL"));
    let (flow_pkts, _) = bypass_return_counter(&t, None);
    go_tx.send(()).unwrap();
    let (big, ok, bad, pushed) = cli.join().unwrap();
    let requests = srv.join().unwrap();

    println!(
        "download of {BIG} bytes: {queued} packets / {queued_bytes} bytes queued, \
         {reply_pkts} packets / {reply_bytes} bytes through the reply-direction bypass"
    );
    assert!(big.as_deref() == Some(&body[..]), "download corrupted");
    assert_eq!(
        (half, whole),
        (1, 0),
        "one direction bypassed, not the flow"
    );
    // The download direction went around the queue after the depth: the kernel's reply
    // direction rule carried most of it, the queue saw little more than the depth.
    assert!(
        reply_bytes >= (BIG / 2) as u64,
        "the reply direction's bypass rule saw {reply_pkts} packets / {reply_bytes} bytes of a {BIG}-byte download"
    );
    assert!(
        queued_bytes < (BIG / 4) as u64,
        "{queued} packets / {queued_bytes} bytes of a {BIG}-byte download were queued"
    );
    assert_eq!(
        (orig_pkts, flow_pkts),
        (0, 0),
        "the request direction or the whole flow was bypassed"
    );
    // The request direction is still inspected: the harmless request is answered, the bad
    // one never reaches the server.
    assert_eq!(
        ok.as_deref(),
        Some(&b"ok"[..]),
        "the request after the download failed"
    );
    assert_eq!(bad, None, "the bad request was answered");
    assert_eq!(pushed, 0, "the server's direction went on after the drop");
    let table = t.ruleset(&t.gw);
    let blocked = table
        .lines()
        .find(|l| l.contains("engine dropped a flow with a bypassed direction"))
        .and_then(|l| {
            l.split("counter packets ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        });
    assert!(
        blocked.is_some_and(|n: u64| n >= 1),
        "the engine's flow block was not carried out in the kernel:\n{table}"
    );
    assert_eq!(
        requests,
        ["GET /big HTTP/1.1", "GET /ok HTTP/1.1"],
        "what the server received"
    );
    let alerts = e.alerts(SID, 1);
    assert!(
        !alerts.is_empty() && alerts[0]["alert"]["action"] == "blocked",
        "{alerts:?}"
    );
    assert!(
        e.queued() > queued,
        "the requests after the download were not queued"
    );
}

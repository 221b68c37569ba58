//! The kernel prefilter (`--kernel-prefilter on`) through the real kernel: benign traffic of
//! the rules' port never reaches the queue, a packet carrying a rule's fast pattern steers its
//! connection, and the rest of that connection (both directions) reaches the engine, which
//! picks it up midstream and runs rules needing later packets. The trade-off is shown against
//! the same rules with port steering: a pattern split across two packets, and content before
//! the steering packet, are seen only without the prefilter. Root only; every wait is bounded.

mod common;
mod live;

use common::netns::Topology;
use live::*;
use std::time::Duration;

const PORT: u16 = 5321;

/// Rules whose fast patterns are payload bytes: all steered by pattern with the prefilter on.
fn rules() -> String {
    // Longer than iptables takes as one pattern: steered by its first bytes.
    let long = "PF-LONG-".repeat(25);
    format!(
        "alert tcp any any -> any {PORT} (msg:\"login\"; flow:to_server,established; \
         content:\"PF-LOGIN\"; flowbits:set,pf.login; sid:1015001; rev:1;)\n\
         drop tcp any any -> any {PORT} (msg:\"password after login\"; flow:to_server,established; \
         content:\"PF-LOGIN\"; fast_pattern; content:\"PF-PASSWORD\"; distance:0; sid:1015002; rev:1;)\n\
         alert tcp any {PORT} -> any any (msg:\"welcome after login\"; flow:to_client,established; \
         flowbits:isset,pf.login; content:\"PF-WELCOME\"; sid:1015003; rev:1;)\n\
         alert tcp any any -> any {PORT} (msg:\"early then login2\"; flow:to_server,established; \
         content:\"PF-EARLY\"; content:\"PF-LOGIN2\"; fast_pattern; distance:0; sid:1015004; rev:1;)\n\
         alert tcp any {PORT} -> any any (msg:\"banner\"; flow:to_client,established; \
         content:\"PF-BANNER\"; sid:1015005; rev:1;)\n\
         alert tcp any any -> any {PORT} (msg:\"long\"; content:\"{long}\"; sid:1015006; rev:1;)\n"
    )
}

/// Packets counted by the rule of chain VERDICT whose comment contains `comment`.
fn xt_counter(t: &Topology, comment: &str) -> u64 {
    let out = t.exec(
        &t.gw,
        &["iptables-nft", "-w", "-L", "VERDICT", "-v", "-x", "-n"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.contains(comment))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no rule `{comment}` in chain VERDICT:\n{text}"))
}

/// Queue packets after the stats snapshot caught up (written every 100 ms).
fn settled_queued(e: &Engine) -> u64 {
    std::thread::sleep(Duration::from_millis(400));
    e.queued()
}

/// One connection: the client writes `chunks` (`pause` apart, so each is its own segment),
/// the server answers `reply` at once; returns (what the server got, what the client got).
fn exchange(t: &Topology, chunks: &[&str], reply: &str) -> (Vec<u8>, Vec<u8>) {
    let idle = Duration::from_millis(1500);
    let srv = tcp_server(
        t,
        PORT,
        Some((Duration::from_millis(50), reply.as_bytes().to_vec())),
        idle,
    );
    let chunks = chunks.iter().map(|c| c.as_bytes().to_vec()).collect();
    let cli = tcp_client(t, PORT, chunks, Duration::from_millis(400), idle);
    (srv.join().unwrap().data, cli.join().unwrap().data)
}

#[test]
fn only_flows_with_a_pattern_are_queued_and_then_all_of_their_rest() {
    require_netns!();
    let t = Topology::with_prefix("hpre");
    let e = Engine::start(
        &t,
        "prefilter-on",
        &rules(),
        &["--workers", "1", "--kernel-prefilter", "on"],
    );
    // Benign traffic on the rules' port: never queued.
    let before = settled_queued(&e);
    let (srv_got, cli_got) = exchange(&t, &["hello server\n", "more data\n"], "hello client\n");
    assert_eq!(srv_got, b"hello server\nmore data\n");
    assert_eq!(cli_got, b"hello client\n");
    assert_eq!(
        settled_queued(&e),
        before,
        "benign traffic reached the queue"
    );
    assert_eq!(xt_counter(&t, "rest of a pattern-steered flow"), 0);

    // The login packet carries a fast pattern: its flow is queued from there on. The welcome
    // (the other direction) and the password (a packet without any pattern, matched with the
    // login by stream reassembly) reach the engine through the connection's mark.
    let (srv_got, cli_got) = exchange(
        &t,
        &["PF-LOGIN alice\n", "PF-PASSWORD hunter2\n"],
        "PF-WELCOME alice\n",
    );
    assert_eq!(cli_got, b"PF-WELCOME alice\n");
    assert_eq!(
        srv_got, b"PF-LOGIN alice\n",
        "the password packet was not dropped"
    );
    assert!(!e.alerts(1015001, 1).is_empty(), "login not inspected");
    assert!(
        !e.alerts(1015003, 1).is_empty(),
        "reply after the login not inspected"
    );
    assert!(
        !e.alerts(1015002, 1).is_empty(),
        "two-packet rule did not fire"
    );
    assert!(settled_queued(&e) > before);
    assert!(xt_counter(&t, "rest of a pattern-steered flow") > 0);

    // A flow steered by the server's first packet: the engine's midstream pickup must still
    // tell the server from the client for a to_client rule.
    let (_, cli_got) = exchange(&t, &["x"], "PF-BANNER v1\n");
    assert_eq!(cli_got, b"PF-BANNER v1\n");
    assert!(
        !e.alerts(1015005, 1).is_empty(),
        "server-first flow direction"
    );
}

/// The split-pattern and earlier-content cases, with the prefilter (`prefilter` true) or with
/// port steering: returns the alert counts of sids 1015001 and 1015004 and the packets queued.
fn trade_off_case(prefilter: bool) -> (usize, usize, u64) {
    let t = Topology::with_prefix("hpre");
    let mode = if prefilter { "on" } else { "off" };
    let e = Engine::start(
        &t,
        &format!("prefilter-split-{mode}"),
        &rules(),
        &["--workers", "1", "--kernel-prefilter", mode],
    );
    let before = settled_queued(&e);
    // "PF-LOGIN" in two segments: no packet carries it whole.
    let (srv_got, _) = exchange(&t, &["PF-LO", "GIN bob\n"], "ok\n");
    assert_eq!(srv_got, b"PF-LOGIN bob\n");
    let split_queued = settled_queued(&e) - before;
    // The earlier content is in the packet before the steering one.
    let (srv_got, _) = exchange(&t, &["PF-EARLY\n", "PF-LOGIN2 carol\n"], "ok\n");
    assert_eq!(srv_got, b"PF-EARLY\nPF-LOGIN2 carol\n");
    let wait = if prefilter { 0 } else { 1 };
    let login = e.alerts(1015001, 2 * wait).len();
    let early = e.alerts(1015004, wait).len();
    (login, early, split_queued)
}

#[test]
fn a_split_pattern_and_content_before_the_steering_packet_are_not_seen() {
    require_netns!();
    // Port steering: the stream engine finds the split login and the earlier content.
    let (login, early, queued) = trade_off_case(false);
    assert_eq!((login, early), (2, 1));
    assert!(queued > 0);
    // Prefilter: the split login steers nothing (not one packet queued), and the login2 packet
    // steers its flow too late for the earlier content: only the login alert of that packet.
    let (login, early, queued) = trade_off_case(true);
    assert_eq!(queued, 0, "a split pattern steered its flow");
    assert_eq!((login, early), (1, 0));
}

#[test]
fn a_reload_switches_the_prefilter_on_and_off() {
    require_netns!();
    let t = Topology::with_prefix("hpre");
    let f = Files::new("prefilter-reload", "[kernel]\nprefilter = \"off\"\n");
    let e = f.start(&t, "prefilter-reload", &rules());
    let benign = |e: &Engine| {
        let before = settled_queued(e);
        let (srv_got, _) = exchange(&t, &["hello\n"], "hi\n");
        assert_eq!(srv_got, b"hello\n");
        settled_queued(e) - before
    };
    let string_rules = || {
        let out = t.exec(&t.gw, &["iptables-nft", "-w", "-S"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("-m string"))
            .count()
    };
    assert!(benign(&e) > 0, "port steering queues the benign flow");
    assert_eq!(string_rules(), 0);
    std::fs::write(f.config(), "[kernel]\nprefilter = \"on\"\n").unwrap();
    let (ok, out) = f.verdict(&t, "reload", &[]);
    assert!(ok && out.contains("reloaded"), "{out}");
    assert!(string_rules() > 0);
    assert_eq!(benign(&e), 0, "the prefilter queued a benign flow");
    std::fs::write(f.config(), "[kernel]\nprefilter = \"off\"\n").unwrap();
    let (ok, out) = f.verdict(&t, "reload", &[]);
    assert!(ok && out.contains("reloaded"), "{out}");
    assert_eq!(string_rules(), 0);
    assert!(benign(&e) > 0);
}

#[test]
fn the_search_stops_at_the_stream_depth_as_the_engine_does() {
    require_netns!();
    let t = Topology::with_prefix("hpre");
    let late = |mode: &str, bypass: &str| {
        let e = Engine::start(
            &t,
            &format!("prefilter-depth-{mode}-{bypass}"),
            &rules(),
            &[
                "--workers",
                "1",
                "--kernel-prefilter",
                mode,
                "--stream-depth",
                "4096",
                "--bypass",
                bypass,
            ],
        );
        let bulk = "a".repeat(8192);
        let (srv_got, _) = exchange(&t, &[bulk.as_str(), "PF-LOGIN late\n"], "ok\n");
        assert_eq!(srv_got.len(), 8192 + 14);
        let alerts = e.alerts(1015001, 0).len();
        let queued = settled_queued(&e);
        (alerts, queued)
    };
    // Port steering: the client's direction is handed back past 4 KiB, the login unseen.
    let (alerts, queued) = late("off", "direction");
    assert_eq!(alerts, 0);
    assert!(queued > 0);
    // The prefilter stops searching that direction there too: nothing queued at all.
    assert_eq!(late("on", "direction"), (0, 0));
    // Without the bypass the engine would look past the depth, and so the kernel searches on.
    let (alerts, queued) = late("on", "off");
    assert!(alerts > 0 && queued > 0, "{alerts} alerts, {queued} queued");
}

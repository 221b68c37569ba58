//! `--xt-string` against real packets through the gateway. The string chains alone (no
//! engine): a two-content rule fires only on packets holding both contents; a content with a
//! depth does not fire past it whatever the header lengths (IPv4 options, TCP options with and
//! without timestamps), and an unbounded one does not fire on bytes in the TCP option space; a
//! relative content right after another fires only on the adjacent pair; a TCP `dsize` holds
//! behind every header length; a `$HOME_NET ->
//! $EXTERNAL_NET` rule does not fire toward `$HOME_NET`; IPv6 packets with an extension header
//! are not seen (the documented edge case). Then `verdict run --xt-string`: a two-content drop
//! rule blocks a client's data with an EVE alert from NFLOG and no packet reaching the queue,
//! and its chains are gone when verdict stops; a reload swaps them; the config switch, a
//! threshold and a `[bypass]` address; and live xt alerts equal to `verdict replay`'s (the VM)
//! on the same datagrams. Root only; every wait is bounded.

mod common;
mod live;
#[path = "common/packet.rs"]
mod packet;

use common::netns::{Topology, CLI4, CLI6, SRV4, SRV6};
use live::*;
use packet::{Ipv4, Ipv6, Link, Tcp, Udp, TCP, UDP};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use verdict_compiler::check::{self, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::vars::Vars;
use verdict_nft::render::{xt_commands, QueueMechanism, RenderOptions};

const TWO: u64 = 3_300_001;
const DEPTH: u64 = 3_300_002;
const ANYWHERE: u64 = 3_300_003;
const EXTERNAL: u64 = 3_300_004;
const ADJACENT: u64 = 3_300_005;
const DSIZE: u64 = 3_300_006;
/// Outside the /25 of `$HOME_NET`, routed by the gateway towards srv.
const OUTSIDE: &str = "198.51.100.200";

fn rules() -> String {
    format!(
        "alert tcp any any -> any 7000 (msg:\"two contents\"; content:\"ALPHA\"; content:\"OMEGA\"; sid:{TWO}; rev:1;)\n\
         alert tcp any any -> any 7001 (msg:\"depth\"; content:\"DEEP\"; depth:10; sid:{DEPTH}; rev:1;)\n\
         alert tcp any any -> any 7003 (msg:\"anywhere\"; content:\"DEEP\"; sid:{ANYWHERE}; rev:1;)\n\
         alert tcp $HOME_NET any -> $EXTERNAL_NET 7002 (msg:\"leak\"; content:\"LEAK\"; sid:{EXTERNAL}; rev:1;)\n\
         alert tcp any any -> any 7004 (msg:\"adjacent\"; content:\"AB\"; content:\"CD\"; distance:0; within:2; sid:{ADJACENT}; rev:1;)\n\
         alert tcp any any -> any 7005 (msg:\"tcp dsize\"; dsize:5; content:\"HELLO\"; sid:{DSIZE}; rev:1;)\n"
    )
}

/// Compiles `rules()` with `--xt-string` and `$HOME_NET` = cli's /24 and the lower half of
/// srv's /24, and installs the string chains (no steering, no nft table) in the gateway.
fn install(t: &Topology) {
    let mut vars = Vars::default();
    vars.set("HOME_NET", "[192.0.2.0/24,198.51.100.0/25]");
    vars.set("EXTERNAL_NET", "!$HOME_NET");
    let (_, loaded) = check::load_str(
        "xt.rules",
        &rules(),
        &LoadOptions {
            vars,
            ..Default::default()
        },
    );
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            xt_string: true,
            ..Default::default()
        },
    );
    assert_eq!(c.report.fates.kernel, 6, "{:?}", c.report.queue_reasons);
    let opts = RenderOptions {
        queue: QueueMechanism::NftQueue,
        xt_string: true,
        ..Default::default()
    };
    for cmd in xt_commands(&c.kernel, &opts) {
        let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
        t.exec_ok(&t.gw, &argv);
    }
}

/// Packets the NFLOG rules of `sid` counted, over every chain and family.
fn hits(t: &Topology, sid: u64) -> u64 {
    let mut n = 0;
    for bin in ["iptables-nft-save", "ip6tables-nft-save"] {
        let out = t.exec_ok(&t.gw, &[bin, "-c"]);
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            if l.contains(&format!("\"sid:{sid} ")) && l.contains("-j NFLOG") {
                let pkts = l
                    .trim_start_matches('[')
                    .split(':')
                    .next()
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("no counter in {l}"));
                n += pkts;
            }
        }
    }
    n
}

/// Sends IPv4 TCP segments cli → `dst`:`port` through the gateway.
struct Sender {
    link: Link,
    sport: u16,
}

/// TCP timestamps (with two NOPs): 12 option bytes, data offset 8.
const TIMESTAMPS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];

impl Sender {
    fn new(t: &Topology) -> Sender {
        Sender {
            link: Link::towards_gw(t, &t.cli, "c0"),
            sport: 41000,
        }
    }

    fn send(&mut self, dst: &str, port: u16, ip_opts: &[u8], tcp_opts: &[u8], payload: &[u8]) {
        self.send_from(CLI4, dst, port, ip_opts, tcp_opts, payload);
    }

    fn send_from(
        &mut self,
        src: &str,
        dst: &str,
        port: u16,
        ip_opts: &[u8],
        tcp_opts: &[u8],
        payload: &[u8],
    ) {
        let (c, s): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
        self.sport += 1;
        let seg = Tcp::new(self.sport, port).ack(1).options(tcp_opts).segment(
            c.into(),
            s.into(),
            payload,
        );
        let mut ip = Ipv4::new(c, s);
        ip.options = ip_opts.to_vec();
        self.link.send(&ip.packet(TCP, &seg)).unwrap();
    }

    fn send6(&mut self, port: u16, ext: bool, payload: &[u8]) {
        let (c, s): (Ipv6Addr, Ipv6Addr) = (CLI6.parse().unwrap(), SRV6.parse().unwrap());
        self.sport += 1;
        let seg = Tcp::new(self.sport, port)
            .ack(1)
            .segment(IpAddr::V6(c), IpAddr::V6(s), payload);
        let mut ip = Ipv6::new(c, s);
        if ext {
            ip.ext.push(packet::Ext::padding(60));
        }
        self.link.send(&ip.packet(TCP, &seg)).unwrap();
    }
}

/// Lets the counters settle after a burst.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn xt_string_windows_and_contents_are_exact_on_real_packets() {
    require_netns!();
    let t = Topology::new();
    install(&t);
    let mut s = Sender::new(&t);

    // Two independent contents: both needed, in either order.
    s.send(SRV4, 7000, &[], &[], b"ALPHA alone");
    s.send(SRV4, 7000, &[], &[], b"OMEGA alone");
    settle();
    assert_eq!(hits(&t, TWO), 0, "one content of two does not fire");
    s.send(SRV4, 7000, &[], &[], b"OMEGA then ALPHA");
    s.send(SRV4, 7000, &[], &[], b"ALPHA then OMEGA");
    settle();
    assert_eq!(hits(&t, TWO), 2, "both contents fire, in any order");

    // depth:10 — "DEEP" at payload offset 20 is past it with short and long headers alike
    // (the old smallest-from / largest-to window let it fire behind short headers).
    let far = b"xxxxxxxxxxxxxxxxxxxxDEEP";
    // Starts inside the depth, ends one byte past it: not a match (the kernel's
    // skb_find_text wants the whole pattern before `--to`, as Snort wants it within depth).
    let straddling = b"xxxxxxxDEEP";
    let near = b"xxxxxxDEEP";
    let headers: [(&[u8], &[u8]); 4] = [
        (&[], &[]),
        (&[], &TIMESTAMPS),
        (&[1, 1, 1, 0], &[]),
        (&[1, 1, 1, 0], &TIMESTAMPS),
    ];
    for (ip, tcp) in headers {
        s.send(SRV4, 7001, ip, tcp, far);
        s.send(SRV4, 7001, ip, tcp, straddling);
    }
    settle();
    assert_eq!(hits(&t, DEPTH), 0, "a content past its depth never fires");
    for (ip, tcp) in headers {
        s.send(SRV4, 7001, ip, tcp, near);
    }
    settle();
    assert_eq!(
        hits(&t, DEPTH),
        4,
        "the content ending at the depth fires behind every header"
    );

    // No depth: bytes in the TCP option space are not payload.
    let opt = [0xfd, 6, b'D', b'E', b'E', b'P', 1, 1];
    s.send(SRV4, 7003, &[], &opt, b"nothing to see");
    settle();
    assert_eq!(
        hits(&t, ANYWHERE),
        0,
        "a pattern in the TCP options does not fire"
    );
    s.send(SRV4, 7003, &[], &opt, b"DEEP in the payload");
    settle();
    assert_eq!(hits(&t, ANYWHERE), 1);

    // TCP dsize (which nft cannot say): the payload length behind every header length.
    for (ip, tcp) in headers {
        s.send(SRV4, 7005, ip, tcp, b"HELLO!");
    }
    settle();
    assert_eq!(hits(&t, DSIZE), 0, "six payload bytes are not dsize:5");
    for (ip, tcp) in headers {
        s.send(SRV4, 7005, ip, tcp, b"HELLO");
    }
    settle();
    assert_eq!(hits(&t, DSIZE), 4);

    // Relative content right after the previous one: only the adjacent pair.
    s.send(SRV4, 7004, &[], &[], b"AB CD");
    settle();
    assert_eq!(
        hits(&t, ADJACENT),
        0,
        "a gap between the contents does not fire"
    );
    s.send(SRV4, 7004, &[], &[], b"xxABCDxx");
    settle();
    assert_eq!(hits(&t, ADJACENT), 1);

    // $HOME_NET -> $EXTERNAL_NET: srv's address is in $HOME_NET, OUTSIDE is not.
    s.send(SRV4, 7002, &[], &[], b"LEAK");
    settle();
    assert_eq!(hits(&t, EXTERNAL), 0, "no alert toward $HOME_NET");
    s.send(OUTSIDE, 7002, &[], &[], b"LEAK");
    settle();
    assert_eq!(hits(&t, EXTERNAL), 1, "an alert toward $EXTERNAL_NET");

    // IPv6: seen without extension headers; with one, the documented edge case (not seen).
    s.send6(7003, false, b"DEEP over v6");
    settle();
    assert_eq!(hits(&t, ANYWHERE), 2);
    s.send6(7003, true, b"DEEP behind a destination options header");
    settle();
    assert_eq!(
        hits(&t, ANYWHERE),
        2,
        "an IPv6 extension header hides the packet from xt"
    );
}

/// `[kernel] xt_string = true` in verdict.toml does what `--xt-string` does; a rule's
/// threshold is applied to its xt alerts by the NFLOG reader, as for nft rules; an address on
/// the `[bypass]` list meets no string rule.
#[test]
fn config_xt_string_loads_the_string_chains_and_thresholds_apply() {
    require_netns!();
    let t = Topology::new();
    let rules = "alert tcp any any -> any 7000 (msg:\"two\"; content:\"ALPHA\"; content:\"OMEGA\"; sid:3300201; rev:1;)\n\
                 alert udp any any -> any 7300 (msg:\"limited\"; content:\"T1\"; content:\"T2\"; threshold: type limit, track by_src, seconds 60, count 1; sid:3300202; rev:1;)\n";
    let config = "[kernel]\nxt_string = true\n[bypass]\naddresses = [\"192.0.2.99\"]\n";
    let mut e = Engine::start_with_config(&t, "xtconf", rules, config);
    let out = e.bg.output();
    assert!(out.contains("2 in kernel, 0 in queue"), "{out}");
    let listed =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &["iptables-nft", "-S"]).stdout).into_owned();
    assert!(
        listed.contains("sid:3300201 ") && listed.contains("-g VERDICT-TCP-52"),
        "{listed}"
    );
    for sport in [42001, 42002, 42003] {
        udp_knock(&t, sport, 7300, b"T1 and T2");
    }
    std::thread::sleep(Duration::from_millis(300));
    let counted: u64 =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &["iptables-nft-save", "-c"]).stdout)
            .lines()
            .filter(|l| l.contains("\"sid:3300202 ") && l.contains("NFLOG"))
            .filter_map(|l| {
                l.trim_start_matches('[')
                    .split(':')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
    assert_eq!(counted, 3, "the kernel logs every match");
    assert_eq!(
        e.alerts(3_300_202, 1).len(),
        1,
        "the threshold lets one alert through"
    );
    let mut s = Sender::new(&t);
    s.send_from("192.0.2.99", SRV4, 7000, &[], &[], b"ALPHA OMEGA");
    s.send(SRV4, 7000, &[], &[], b"ALPHA OMEGA");
    settle();
    assert_eq!(
        hits(&t, 3_300_201),
        1,
        "the bypass-listed source is not inspected"
    );
    e.stop();
}

const DROP_SID: u64 = 3_300_101;

/// A connection cli → srv:PORT writing each chunk as its own segment (200 ms apart); returns
/// what the server received.
fn send_segments(t: &Topology, chunks: &[&[u8]]) -> Vec<u8> {
    let srv = tcp_server(t, PORT, None, Duration::from_millis(1500));
    let chunks = chunks.iter().map(|c| c.to_vec()).collect();
    let cli = tcp_client(
        t,
        PORT,
        chunks,
        Duration::from_millis(200),
        Duration::from_millis(1500),
    );
    cli.join().unwrap();
    srv.join().unwrap().data
}
const PORT: u16 = 5710;

#[test]
fn verdict_run_xt_string_drops_in_the_kernel_and_alerts_through_nflog() {
    require_netns!();
    let t = Topology::new();
    let rules = format!(
        "drop tcp any any -> any {PORT} (msg:\"xt two contents\"; flow:established,to_server; content:\"EVIL\"; content:\"WORSE\"; sid:{DROP_SID}; rev:1;)\n\
         alert udp any any -> any 5016 (msg:\"queued\"; content:\"Q\"; pcre:\"/Q+/\"; sid:3300102; rev:1;)\n"
    );
    let mut e = Engine::start(&t, "xtrun", &rules, &["--xt-string"]);
    let out = e.bg.output();
    assert!(out.contains("1 in kernel, 1 in queue"), "{out}");
    let listed =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &["iptables-nft", "-S"]).stdout).into_owned();
    assert!(
        listed.contains("-A VERDICT -p tcp -j VERDICT-TCP")
            && listed.contains(&format!("sid:{DROP_SID} ")),
        "{listed}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = e.queued();
    let got = send_segments(&t, &[b"hello ", b"EVIL only ", b"EVIL and WORSE ", b"more"]);
    assert_eq!(
        got, b"hello EVIL only ",
        "the segment with both contents and everything after it are dropped"
    );
    // One alert: the drop marks the flow blocked, and nft drops its retransmissions first.
    let alerts = e.alerts(DROP_SID, 1);
    assert_eq!(alerts.len(), 1, "one alert from NFLOG: {alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["src_ip"], CLI4);
    assert_eq!(alerts[0]["dest_port"], PORT);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        e.queued(),
        before,
        "no packet of the xt rule's traffic reached the queue"
    );

    // A reload replaces the string chains: WORSE passes now, NASTY is dropped.
    std::fs::write(e.dir.join("test.rules"), rules.replace("WORSE", "NASTY")).unwrap();
    e.bg.signal(libc::SIGHUP);
    let line = e.bg.wait_for("SIGHUP: ", Duration::from_secs(15)).unwrap();
    assert!(line.contains("reloaded in"), "{line}");
    let got = send_segments(&t, &[b"EVIL and WORSE ", b"EVIL and NASTY ", b"more"]);
    assert_eq!(
        got, b"EVIL and WORSE ",
        "the reloaded rule drops NASTY only"
    );
    assert_eq!(e.alerts(DROP_SID, 2).len(), 2);
    assert_eq!(e.queued(), before, "still nothing queued");
    e.stop();
    let after =
        String::from_utf8_lossy(&t.exec_ok(&t.gw, &["iptables-nft", "-S"]).stdout).into_owned();
    assert!(!after.contains("VERDICT"), "{after}");
}

/// The string chains and the engine's VM agree: UDP datagrams (no stream, so both see the same
/// bytes) behind plain and optioned IPv4 headers, matching and missing each rule, raise the
/// same alerts live (xt, through NFLOG) and in `verdict replay` of the gateway's capture.
#[test]
fn xt_string_alerts_live_are_the_replay_alerts() {
    require_netns!();
    if !GwCapture::available() {
        return;
    }
    let t = Topology::new();
    let rules = "alert udp any any -> any 7101 (msg:\"two\"; content:\"ALPHA\"; content:\"OMEGA\"; sid:3300301; rev:1;)\n\
                 alert udp any any -> any 7102 (msg:\"depth\"; content:\"DEEP\"; depth:10; sid:3300302; rev:1;)\n\
                 alert udp any any -> ![198.51.100.0/25] 7103 (msg:\"not home\"; content:\"LEAK\"; sid:3300303; rev:1;)\n\
                 alert udp any any -> any 7104 (msg:\"mixed\"; dsize:!8; content:\"AB\"; content:\"CD\"; distance:0; within:2; content:!\"ZZ\"; sid:3300304; rev:1;)\n\
                 alert udp any any -> any 7105 (msg:\"fixed chain\"; content:\"|00 01|\"; depth:2; content:\"ID\"; distance:2; within:2; content:!\"XX\"; distance:1; within:2; content:\"evil\"; sid:3300305; rev:1;)\n";
    let mut e = Engine::start(&t, "xtreplay", rules, &["--xt-string"]);
    let out = e.bg.output();
    assert!(out.contains("5 in kernel, 0 in queue"), "{out}");
    let mut cap = GwCapture::start_inbound(&t, &e);
    std::thread::sleep(Duration::from_millis(300));
    let mut link = Link::towards_gw(&t, &t.cli, "c0");
    let cases: [(&str, u16, &[u8]); 18] = [
        (SRV4, 7101, b"ALPHA"),
        (SRV4, 7101, b"OMEGA ALPHA"),
        (SRV4, 7102, b"xxxxxxDEEP"),
        (SRV4, 7102, b"xxxxxxxDEEP"),
        (SRV4, 7102, b"DEEPxxxxxx"),
        (SRV4, 7103, b"LEAK"),
        (OUTSIDE, 7103, b"LEAK"),
        (OUTSIDE, 7103, b"LEA K"),
        (SRV4, 7104, b"xxABCDxx"),
        (SRV4, 7104, b"ABCDxxxx"),
        (SRV4, 7104, b"xxABCDZZ"),
        (SRV4, 7104, b"AB CD"),
        (SRV4, 7104, b"ABCD"),
        (SRV4, 7104, b"zzABCDzzz"),
        (SRV4, 7105, b"\x00\x01..ID.YYevil"),
        (SRV4, 7105, b"\x00\x01..ID.XXevil"),
        (SRV4, 7105, b"\x00\x01.ID..YYevil"),
        (SRV4, 7105, b"\x00\x01..IDevil"),
    ];
    let mut sport = 43000;
    for ip_opts in [&[][..], &[1, 1, 1, 0], &[1; 8]] {
        for (dst, port, payload) in cases {
            sport += 1;
            let (c, d): (Ipv4Addr, Ipv4Addr) = (CLI4.parse().unwrap(), dst.parse().unwrap());
            let dgram = Udp::new(sport, port).datagram(c.into(), d.into(), payload);
            let mut ip = Ipv4::new(c, d);
            ip.options = ip_opts.to_vec();
            link.send(&ip.packet(UDP, &dgram)).unwrap();
        }
    }
    // Per header form: two (1), depth (2 of 3: the straddling one is out), leak (1), mixed (ABCD and zzABCDzzz: the
    // 8-byte ones fail `dsize:!8`, xxABCDZZ has ZZ, AB CD is no adjacent pair), fixed chain
    // (2 of 4: XX at its place, or ID one byte early, miss).
    e.alerts(3_300_304, 6);
    let live = alert_keys(&e.eve("alert"));
    let per_sid = |sid: u64| {
        live.iter()
            .filter(|(k, _)| k.0 == sid)
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    assert_eq!(
        [3_300_301, 3_300_302, 3_300_303, 3_300_304, 3_300_305].map(per_sid),
        [3, 6, 3, 6, 6],
        "{live:?}"
    );
    // tcpdump hands packets over when its ring's block times out (1 s): wait that out.
    std::thread::sleep(Duration::from_millis(1500));
    cap.stop();
    e.stop();
    assert_eq!(
        live,
        alert_keys(&cap.replay_alerts(&e)),
        "live (left) and replay (right)"
    );
}

//! Live and replay agree: real traffic crosses the gateway while `verdict run` inspects it and
//! tcpdump records it on the gateway's client-side interface; `verdict replay --simulate-ips`
//! of that capture with the same rules must produce the same alerts (sid, addresses, ports,
//! action), for alert, drop and pass rules. Root only; every wait is bounded.

mod common;
mod live;

use common::netns::Topology;
use live::*;
use std::process::Command;
use std::time::Duration;

const RULES: &str = r#"alert tcp any any -> any 5100 (msg:"hello to server"; flow:to_server,established; content:"HELLO"; sid:2000001; rev:1;)
alert tcp any any -> any 5100 (msg:"login seen"; flow:to_server,established; content:"LOGIN"; flowbits:set,lg; flowbits:noalert; sid:2000002; rev:1;)
alert tcp any 5100 -> any any (msg:"welcome after login"; flow:to_client,established; flowbits:isset,lg; content:"WELCOME"; sid:2000003; rev:1;)
alert udp any any -> any 5300 (msg:"udp pcre"; pcre:"/^q=\d{3}$/"; sid:2000004; rev:1;)
drop tcp any any -> any 5101 (msg:"drop evil"; content:"EVIL"; sid:2000005; rev:1;)
alert udp any any -> any 5301 (msg:"anchored ping"; content:"PING"; depth:4; sid:2000006; rev:1;)
alert tcp any any -> any 5100 (msg:"dsize"; dsize:>1000; sid:2000007; rev:1;)
pass tcp any any -> any 5102 (msg:"trusted client"; flow:to_server,established; content:"TRUSTED"; alert; sid:2000008; rev:1;)
drop tcp any any -> any 5102 (msg:"evil after trust"; flow:to_server,established; content:"EVIL"; sid:2000009; rev:1;)
"#;

#[test]
fn replay_of_a_live_capture_gives_the_live_alerts() {
    require_netns!();
    if Command::new("tcpdump").arg("--version").output().is_err() {
        common::must_run::skip("tcpdump is not installed (run .ci/setup)");
        return;
    }
    let t = Topology::new();
    let e = Engine::start(&t, "replaylive", RULES, &[]);
    let mut cap = GwCapture::start(&t, &e);

    let srv = tcp_server(
        &t,
        5100,
        Some((Duration::from_millis(600), b"WELCOME bob".to_vec())),
        Duration::from_millis(1500),
    );
    let cli = tcp_client(
        &t,
        5100,
        vec![
            b"LOGIN bob".to_vec(),
            b"HELLO there".to_vec(),
            vec![b'x'; 1200],
        ],
        Duration::from_millis(150),
        Duration::from_millis(1500),
    );
    srv.join().unwrap();
    cli.join().unwrap();
    udp_exchange(
        &t,
        5300,
        vec![b"q=123".to_vec(), b"q=12".to_vec()],
        Duration::from_millis(100),
    );
    udp_exchange(
        &t,
        5301,
        vec![b"PING 1".to_vec(), b"PONG".to_vec()],
        Duration::from_millis(100),
    );
    let srv = tcp_server(&t, 5101, None, Duration::from_millis(1500));
    let cli = tcp_client(
        &t,
        5101,
        vec![b"ok ".to_vec(), b"EVIL".to_vec(), b"more".to_vec()],
        Duration::from_millis(150),
        Duration::from_millis(1500),
    );
    assert_eq!(srv.join().unwrap().data, b"ok ", "the drop must hold live");
    cli.join().unwrap();
    // A pass rule passes the rest of its flow: the later drop rule never sees "EVIL".
    let srv = tcp_server(&t, 5102, None, Duration::from_millis(1500));
    let cli = tcp_client(
        &t,
        5102,
        vec![b"TRUSTED ".to_vec(), b"EVIL".to_vec()],
        Duration::from_millis(150),
        Duration::from_millis(1500),
    );
    assert_eq!(
        srv.join().unwrap().data,
        b"TRUSTED EVIL",
        "the pass must hold live"
    );
    cli.join().unwrap();

    // Wait for the live alerts we know must come, then stop both processes.
    for sid in [
        2000001, 2000003, 2000004, 2000005, 2000006, 2000007, 2000008,
    ] {
        assert!(
            !e.alerts(sid, 1).is_empty(),
            "live run: no alert for sid {sid}"
        );
    }
    let live_alerts = e.eve("alert");
    cap.stop();
    let mut e = e;
    e.stop();
    let live = alert_keys(&live_alerts);
    let replayed = cap.replay_alerts(&e);
    let replay = alert_keys(&replayed);
    assert_eq!(
        live, replay,
        "live alerts (left) and replayed alerts (right) differ"
    );
    // Packet numbers point into the capture: every replayed alert names one.
    assert!(replayed
        .iter()
        .all(|a| a["pcap_cnt"].as_u64().is_some_and(|n| n > 0)));
}

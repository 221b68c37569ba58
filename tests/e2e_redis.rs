//! EVE to Redis from a live engine in the cli — gw — srv namespaces, against a real
//! redis-server this test starts (by PID, in a temp dir, killed by PID): `[output] eve =
//! ["file", "redis"]` pushes the records of eve.json onto a list (Suricata's `list` mode:
//! LPUSH), `eve = "redis"` with `mode = "channel"` publishes them over a unix socket; a server
//! stopped mid-run costs the records of that time, counted lost, and one started again gets the
//! records after it. Root only; bounded waits.

mod common;
mod live;

use common::netns::{Bg, Topology};
use live::*;
use redis::ConnectionAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const RULES: &str =
    "alert udp any any -> any 7300 (msg:\"to redis\"; content:\"PUSHME\"; sid:920201; rev:1;)\n";

/// A redis-server in `ns` with no persistence, working in a temp dir; killed by PID on drop.
struct RedisServer {
    bg: Bg,
}

impl RedisServer {
    /// Starts redis-server with `listen` (`--port … --bind …` or `--port 0 --unixsocket …`)
    /// and waits (bounded) until it says it accepts connections (`Ready to accept connections
    /// tcp`, or `… ready to accept connections at SOCKET` with only a unix socket).
    fn start(t: &Topology, ns: &str, dir: &std::path::Path, listen: &[&str]) -> RedisServer {
        std::fs::create_dir_all(dir).unwrap();
        let d = dir.to_str().unwrap();
        let mut args = vec![
            "redis-server",
            "--dir",
            d,
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        args.extend_from_slice(listen);
        let mut bg = t.spawn(ns, &args);
        bg.wait_for("accept connections", Duration::from_secs(10))
            .expect("redis-server starts (is it installed? .ci/setup)");
        RedisServer { bg }
    }

    /// Stops it (SIGTERM, by PID) and waits for the exit.
    fn stop(mut self) {
        self.bg.signal(libc::SIGTERM);
        self.bg
            .wait_exit(Duration::from_secs(5))
            .expect("redis-server stops on SIGTERM");
    }
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("verdict-redis-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The whole list at `key`, read with the redis crate from namespace `ns`.
fn lrange(t: &Topology, ns: &str, addr: ConnectionAddr, key: &'static str) -> Vec<String> {
    t.in_ns(ns, move || {
        let mut con = redis::Client::open(addr)
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap();
        redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query::<Vec<String>>(&mut con)
            .unwrap()
    })
    .join()
    .unwrap()
}

fn json(records: &[String]) -> Vec<serde_json::Value> {
    records
        .iter()
        .map(|r| serde_json::from_str(r).unwrap_or_else(|e| panic!("{e}: {r}")))
        .collect()
}

#[test]
fn eve_records_go_to_a_redis_list_and_survive_a_server_restart() {
    require_netns!();
    let t = Topology::new();
    let dir = temp("list");
    let port = "6391";
    let tcp = ["--port", port, "--bind", "127.0.0.1"];
    let server = RedisServer::start(&t, &t.gw, &dir, &tcp);
    let addr = ConnectionAddr::Tcp("127.0.0.1".into(), 6391);
    let key = "verdict-e2e";
    let f = Files::new(
        "redis",
        &format!(
            "[scan]\nenabled = false\n[output]\neve = [\"file\", \"redis\"]\n\
             [output.redis]\nserver = \"127.0.0.1\"\nport = {port}\nmode = \"list\"\nkey = \"{key}\"\n"
        ),
    );
    let mut e = f.start(&t, "ops-redis", RULES);
    assert!(
        e.bg.output()
            .contains("EVE to redis 127.0.0.1:6391 (LPUSH verdict-e2e)"),
        "{}",
        e.bg.output()
    );
    for i in 0..3 {
        udp_knock(&t, 45_400 + i, 7300, b"PUSHME now");
    }
    let in_file = e.alerts(920201, 3);
    assert_eq!(in_file.len(), 3);
    let mut pushed = json(&lrange(&t, &t.gw, addr.clone(), key));
    // LPUSH: the newest record first.
    pushed.reverse();
    assert_eq!(pushed, in_file, "the list holds eve.json's records");

    // The server goes away: the records of that time are lost and counted, the engine goes
    // on; once it is back (empty: no persistence), later records arrive.
    server.stop();
    udp_knock(&t, 45_410, 7300, b"PUSHME lost");
    let lost = wait_for(Duration::from_secs(5), || {
        Some(e.stats().output).filter(|o| o.redis_lost >= 1)
    })
    .expect("the lost record is counted");
    assert_eq!(lost.redis_written, 3, "{lost:?}");
    let _server = RedisServer::start(&t, &t.gw, &dir, &tcp);
    // The writer retries after a pause that doubles per failed attempt (up to 8 s): knock
    // until a record arrives, each knock a new flow.
    let mut sport = 45_420;
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        assert!(
            Instant::now() < deadline,
            "no record after the server came back"
        );
        udp_knock(&t, sport, 7300, b"PUSHME back");
        sport += 1;
        std::thread::sleep(Duration::from_millis(400));
        let got = lrange(&t, &t.gw, addr.clone(), key);
        if !got.is_empty() {
            break got;
        }
    };
    let in_file = e.alerts(920201, usize::from(sport - 45_420) + 4);
    let total = in_file.len() as u64;
    assert_eq!(total, u64::from(sport - 45_420) + 4, "every knock alerted");
    // What reached the server since the restart is the tail of eve.json, in order.
    let mut after = json(&after);
    after.reverse();
    assert_eq!(after, in_file[in_file.len() - after.len()..].to_vec());
    // No record vanished unaccounted: each one was written or counted lost.
    let s = wait_for(Duration::from_secs(3), || {
        Some(e.stats().output).filter(|o| o.redis_written + o.redis_lost == total)
    })
    .unwrap_or_else(|| panic!("written + lost != {total}: {:?}", e.stats().output));
    assert_eq!(s.redis_written, 3 + after.len() as u64, "{s:?}");
    // Lost records are reported at the stop (and make its status a failure), as for files.
    e.bg.signal(libc::SIGTERM);
    e.bg.wait_exit(Duration::from_secs(10))
        .expect("verdict stops");
    let out = e.bg.output();
    assert!(
        out.contains(&format!(
            "redis {} (last: redis 127.0.0.1:6391 verdict-e2e",
            s.redis_lost
        )),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eve_to_a_redis_channel_over_a_unix_socket_only() {
    require_netns!();
    let t = Topology::new();
    let dir = temp("channel");
    let sock = dir.join("redis.sock");
    let s = sock.to_str().unwrap().to_string();
    let _server = RedisServer::start(&t, &t.gw, &dir, &["--port", "0", "--unixsocket", &s]);
    // A subscriber, as Logstash's redis input in channel mode is.
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let addr = ConnectionAddr::Unix(sock.clone());
    let sub = std::thread::spawn(move || {
        let mut con = redis::Client::open(addr)
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap();
        let mut ps = con.as_pubsub();
        ps.subscribe("verdict-alerts").unwrap();
        ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            match ps.get_message() {
                Ok(m) => got.push(m.get_payload::<String>().unwrap()),
                Err(_) => break,
            }
        }
        got
    });
    ready.recv_timeout(Duration::from_secs(5)).unwrap();
    let f = Files::new(
        "redis-channel",
        &format!(
            "[scan]\nenabled = false\n[output]\neve = \"redis\"\n\
             [output.redis]\nsocket = \"{s}\"\nmode = \"channel\"\nkey = \"verdict-alerts\"\n"
        ),
    );
    let mut e = f.start(&t, "ops-redis-channel", RULES);
    udp_knock(&t, 45_500, 7300, b"PUSHME one");
    udp_knock(&t, 45_501, 7300, b"PUSHME two");
    let got = json(&sub.join().unwrap());
    assert_eq!(got.len(), 2, "{got:?}");
    for (r, sport) in got.iter().zip([45_500, 45_501]) {
        assert_eq!(r["event_type"], "alert");
        assert_eq!(r["alert"]["signature_id"], 920201);
        assert_eq!(r["src_port"], sport);
    }
    assert!(!e.dir.join("eve.json").exists(), "eve.json was written");
    let out = e.stop();
    assert!(out.contains("2 alerts written"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stalled_redis_server_costs_its_records_not_the_traffic() {
    require_netns!();
    let t = Topology::new();
    let dir = temp("stalled");
    let server = RedisServer::start(&t, &t.gw, &dir, &["--port", "6392", "--bind", "127.0.0.1"]);
    let addr = ConnectionAddr::Tcp("127.0.0.1".into(), 6392);
    let f = Files::new(
        "redis-stalled",
        "[scan]\nenabled = false\n[output]\neve = [\"file\", \"redis\"]\n\
         [output.redis]\nport = 6392\nmode = \"rpush\"\nkey = \"stalled\"\n",
    );
    let mut e = f.start(&t, "ops-redis-stalled", RULES);
    udp_knock(&t, 45_600, 7300, b"PUSHME first");
    assert!(wait_for(Duration::from_secs(3), || {
        Some(lrange(&t, &t.gw, addr.clone(), "stalled")).filter(|l| l.len() == 1)
    })
    .is_some());
    // The server stops answering (SIGSTOP: connections stay open, nothing is read): the
    // writer waits at most its I/O timeout per attempt, the packets are not held at all.
    server.bg.signal(libc::SIGSTOP);
    let sent: Vec<Vec<u8>> = (0..5).map(|i| format!("PUSHME {i}").into_bytes()).collect();
    let got = udp_exchange(&t, 7300, sent.clone(), Duration::from_millis(100));
    assert_eq!(got, sent, "every packet passed while the server stalled");
    assert_eq!(e.alerts(920201, 6).len(), 6, "eve.json goes on");
    let lost = wait_for(Duration::from_secs(5), || {
        Some(e.stats().output).filter(|o| o.redis_lost >= 1)
    })
    .expect("the records of the stalled pipeline are counted lost");
    assert_eq!(lost.redis_written, 1, "{lost:?}");
    server.bg.signal(libc::SIGCONT);
    // Once it answers again, later records arrive (the writer's pause is at most 8 s).
    let mut sport = 45_610;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "no record after the server resumed"
        );
        udp_knock(&t, sport, 7300, b"PUSHME resumed");
        std::thread::sleep(Duration::from_millis(400));
        let list = json(&lrange(&t, &t.gw, addr.clone(), "stalled"));
        if list.last().is_some_and(|r| r["src_port"] == sport) {
            break;
        }
        sport += 1;
    }
    e.bg.signal(libc::SIGTERM);
    e.bg.wait_exit(Duration::from_secs(10))
        .expect("verdict stops");
    let _ = std::fs::remove_dir_all(&dir);
}

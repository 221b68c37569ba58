//! `verdict explain` on an alert of `verdict replay` over a generated capture: the rule text,
//! the evidence packet with the matched bytes marked, and each option with its result.

use std::process::Command;

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One Ethernet/IPv4/UDP packet per payload, 192.0.2.2:40000 -> 198.51.100.2:5300.
fn capture(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = pcap_file::pcap::PcapWriter::new(&mut out).unwrap();
    for (i, p) in payloads.iter().enumerate() {
        let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
            .udp(40000, 5300);
        let mut frame = Vec::new();
        b.write(&mut frame, p).unwrap();
        w.write_packet(&pcap_file::pcap::PcapPacket::new(
            std::time::Duration::from_secs(1_700_000_000 + i as u64),
            frame.len() as u32,
            &frame,
        ))
        .unwrap();
    }
    w.into_writer();
    out
}

#[test]
fn explain_shows_the_rule_the_matched_bytes_and_each_option() {
    let d = Dir(std::env::temp_dir().join(format!("verdict-explain-{}", std::process::id())));
    std::fs::create_dir_all(&d.0).unwrap();
    let rules = d.0.join("t.rules");
    std::fs::write(
        &rules,
        "alert udp any any -> any 5300 (msg:\"explain me\"; content:\"EVIL\"; nocase; offset:4; \
         pcre:\"/id=\\d+/\"; sid:940001; rev:1;)\n",
    )
    .unwrap();
    let cap = d.0.join("c.pcap");
    // The first packet does not match; the second is packet 1 of the evidence pcap.
    std::fs::write(&cap, capture(&[b"nothing here", b"GET /evil?id=42 x"])).unwrap();
    let out_dir = d.0.join("out");
    let r = Command::new(VERDICT)
        .args([
            "replay",
            cap.to_str().unwrap(),
            "-r",
            rules.to_str().unwrap(),
            "-o",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let eve = std::fs::read_to_string(out_dir.join("eve.json")).unwrap();
    let line = eve
        .lines()
        .find(|l| l.contains("\"event_type\":\"alert\""))
        .expect("an alert");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["verdict_evidence"]["packet"], 1, "{line}");

    let x = Command::new(VERDICT)
        .args([
            "explain",
            line,
            "-r",
            rules.to_str().unwrap(),
            "--color",
            "never",
        ])
        .arg("--log-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&x.stdout).to_string();
    assert!(
        x.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&x.stderr)
    );
    assert!(text.contains("msg:\"explain me\""), "{text}");
    // "GET /evil?id=42 x": EVIL (nocase) at 5..9, the pcre's id=42 at 10..15.
    assert!(
        text.contains("content:\"EVIL\"  =>  matched at 5..9"),
        "{text}"
    );
    assert!(
        text.contains("pcre:\"/id=\\d+/\"  =>  matched at 10..15 \"id=42\""),
        "{text}"
    );
    // IPv4 (20) + UDP (8): the payload starts at 0x1c, so "evil" is bytes 0x21..0x25 and
    // "id=42" 0x26..0x2b: the hexdump's row 0x20 has them, marked on the line below.
    let rows: Vec<&str> = text.lines().collect();
    let at = rows
        .iter()
        .position(|l| l.starts_with("  0020  "))
        .expect("row 0x20");
    assert!(
        rows[at].contains("2f 65 76 69 6c 3f 69 64 3d 34 32"),
        "{text}"
    );
    let marks = format!("{}{}{}", "   ", "^^ ".repeat(4), "   ") + "^^ ".repeat(5).trim_end();
    assert_eq!(rows[at + 1], format!("        {marks}"), "{text}");
}

#[test]
fn explain_refuses_a_line_that_is_not_an_alert() {
    let x = Command::new(VERDICT)
        .args(["explain", "{\"event_type\":\"flow\"}", "-r", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!x.status.success());
    assert!(String::from_utf8_lossy(&x.stderr).contains("not an alert"));
}

/// `verdict replay CAPTURE -r RULES -o DIR -q --explain SID` in a fresh directory: stdout.
fn replay_explain(d: &Dir, name: &str, packets: &[&[u8]], rules: &str, sid: &str) -> String {
    let cap = d.0.join(format!("{name}.pcap"));
    std::fs::write(&cap, capture(packets)).unwrap();
    let r = d.0.join(format!("{name}.rules"));
    std::fs::write(&r, rules).unwrap();
    let out = Command::new(VERDICT)
        .args([
            "replay",
            cap.to_str().unwrap(),
            "-r",
            r.to_str().unwrap(),
            "-q",
        ])
        .arg("-o")
        .arg(d.0.join(name))
        .args(["--explain", sid])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_once("explain sid ")
        .map(|(_, e)| e.to_string())
        .unwrap_or_else(|| panic!("no explain section: {text}"))
}

const NEAR: &str = "alert udp any any -> any 5300 (msg:\"near\"; content:\"EVIL\"; nocase; offset:4; \
                    pcre:\"/id=\\d+/\"; sid:940011; rev:1;)\n\
                    alert udp any any -> any 9999 (msg:\"elsewhere\"; content:\"x\"; sid:940012; rev:1;)\n";

#[test]
fn replay_explain_sid_shows_where_each_option_held_and_the_first_that_failed() {
    let d = Dir(std::env::temp_dir().join(format!("verdict-explain-sid-{}", std::process::id())));
    std::fs::create_dir_all(&d.0).unwrap();
    // Fires on packet 3: the content holds on packets 2 and 3, the pcre on 3 only.
    let e = replay_explain(
        &d,
        "fires",
        &[b"nothing here", b"GET /evil?x", b"GET /evil?id=42"],
        NEAR,
        "940011",
    );
    assert!(e.contains("reached by: prefilter \"evil\" nocase"), "{e}");
    assert!(
        e.contains(
            "fired: 1 alert(s), first on packet 3 (192.0.2.2:40000 -> 198.51.100.2:5300, flow "
        ),
        "{e}"
    );
    let step = |n: &str, opt: &str, held: &str| {
        e.lines()
            .any(|l| l.trim_start().starts_with(&format!("{n}  {opt}")) && l.ends_with(held))
    };
    assert!(
        step(
            "0",
            "header: alert udp any any -> any 5300",
            "3 packets (1, 2, 3)"
        ),
        "{e}"
    );
    assert!(
        step(
            "1",
            "content:\"EVIL\"; nocase; offset:4;",
            "2 packets (2, 3)"
        ),
        "{e}"
    );
    assert!(step("2", "pcre:\"/id=\\d+/\";", "1 packet (3)"), "{e}");
    assert!(!e.contains("why:"), "{e}");

    // Without packet 3 it does not fire: the pcre is the first option that failed, and
    // packet 2 is the nearest miss.
    let e = replay_explain(
        &d,
        "misses",
        &[b"nothing here", b"GET /evil?x"],
        NEAR,
        "940011",
    );
    assert!(e.contains("fired: no"), "{e}");
    assert!(step_line(&e, "2", "0 packets"), "{e}");
    assert!(
        e.contains("why: step 2 failed on every packet that got that far: pcre:\"/id=\\d+/\";"),
        "{e}"
    );
    assert!(
        e.contains("nearest miss: packet 2 (192.0.2.2:40000 -> 198.51.100.2:5300"),
        "{e}"
    );

    // A rule on another port: the header is what failed.
    let e = replay_explain(&d, "header", &[b"x"], NEAR, "940012");
    assert!(e.contains("why: no packet matched the header"), "{e}");
}

fn step_line(e: &str, n: &str, held: &str) -> bool {
    e.lines()
        .any(|l| l.trim_start().starts_with(&format!("{n}  ")) && l.ends_with(held))
}

#[test]
fn replay_explain_sid_sees_flowbits_other_rules_set_and_names_what_gates_the_alert() {
    let d = Dir(std::env::temp_dir().join(format!("verdict-explain-bits-{}", std::process::id())));
    std::fs::create_dir_all(&d.0).unwrap();
    // The setter's bit comes from another rule; the explained rule's own `threshold` lets
    // one alert through in 60 s, though every step holds on two packets.
    let rules = "alert udp any any -> any 5300 (msg:\"login\"; content:\"LOGIN\"; flowbits:set,in; flowbits:noalert; sid:940021; rev:1;)\n\
                 alert udp any any -> any 5300 (msg:\"after login\"; flowbits:isset,in; content:\"EVIL\"; \
                 threshold:type limit, track by_src, count 1, seconds 60; sid:940022; rev:1;)\n";
    let e = replay_explain(
        &d,
        "bits",
        &[b"EVIL before", b"LOGIN", b"EVIL one", b"EVIL two"],
        rules,
        "940022",
    );
    assert!(
        step_line(&e, "1", "3 packets (2, 3, 4)"),
        "flowbits:isset holds after the setter: {e}"
    );
    assert!(step_line(&e, "2", "2 packets (3, 4)"), "{e}");
    assert!(e.contains("fired: 1 alert(s), first on packet 3"), "{e}");
    assert!(
        e.contains("not steps (they change state or output, not the match): threshold:type limit"),
        "{e}"
    );
}

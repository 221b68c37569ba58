//! `verdict replay` from the command line: outputs, summary, exit codes, truncated captures,
//! threshold files, config (`disabled`, `[vars]`), simulate-ips and checksum policy.

use etherparse::PacketBuilder;
use std::path::Path;
use std::process::{Command, Output};

#[path = "common/capture.rs"]
mod capture;
use capture::{write_pcap, Dir};

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

const CLI: [u8; 4] = [192, 0, 2, 2];
const SRV: [u8; 4] = [198, 51, 100, 2];

// One argument per header field a test varies: clearer at the call sites than a struct.
#[allow(clippy::too_many_arguments)]
fn tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sp: u16,
    dp: u16,
    seq: u32,
    syn: bool,
    ack: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sp, dp, seq, 64240);
    if syn {
        b = b.syn();
    }
    if ack {
        b = b.ack(1);
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(CLI, SRV, 64)
        .udp(sp, dp)
        .write(&mut v, payload)
        .unwrap();
    v
}

/// A session on port 80: handshake, then payloads from the client.
fn session(sp: u16, payloads: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut v = vec![
        tcp(CLI, SRV, sp, 80, 1, true, false, b""),
        tcp(SRV, CLI, 80, sp, 1, true, true, b""),
        tcp(CLI, SRV, sp, 80, 2, false, true, b""),
    ];
    let mut seq = 2;
    for p in payloads {
        v.push(tcp(CLI, SRV, sp, 80, seq, false, true, p));
        seq += p.len() as u32;
    }
    v
}

fn replay(args: &[&str]) -> Output {
    Command::new(VERDICT)
        .arg("replay")
        .args(args)
        .output()
        .unwrap()
}

fn eve_alerts(dir: &Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(dir.join("eve.json"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event_type"] == "alert")
        .map(|v| {
            (
                v["alert"]["signature_id"].as_u64().unwrap(),
                v["pcap_cnt"].as_u64().unwrap(),
            )
        })
        .collect()
}

const RULES: &str = r#"alert tcp $EXTERNAL_NET any -> $HOME_NET 80 (msg:"ATTACK string"; flow:to_server,established; content:"attack"; classtype:attempted-admin; sid:3000001; rev:2;)
alert udp any any -> any 53 (msg:"DNS probe"; content:"probe"; sid:3000002; rev:1;)
drop tcp any any -> any 80 (msg:"DROP marker"; content:"DROPME"; sid:3000003; rev:1;)
"#;

#[test]
fn alerts_outputs_summary_and_simulated_ips() {
    let d = Dir::new("basic");
    let rules = d.file("test.rules", RULES);
    // HOME_NET covers the server, EXTERNAL_NET the client.
    let cfg = d.file(
        "verdict.toml",
        "[vars]\nHOME_NET = \"[198.51.100.0/24]\"\nEXTERNAL_NET = \"!$HOME_NET\"\n",
    );
    let mut frames = session(40000, &[b"GET /attack", b"DROPME", b"after the drop"]);
    frames.push(udp(5000, 53, b"a probe"));
    frames.push(vec![0u8; 10]); // not even an Ethernet header
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &frames);
    let out = d.0.join("out");
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--simulate-ips",
        "-q",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Inline, packet 5 is inspected with the stream chunk around it (Suricata's raw inline
    // inspection), which still holds packet 4's "attack": it alerts again there, after the
    // drop that action order applies first.
    assert_eq!(
        eve_alerts(&out),
        vec![(3000001, 4), (3000003, 5), (3000001, 5), (3000002, 7)]
    );
    assert!(stdout.contains("packets 8"), "{stdout}");
    assert!(stdout.contains("inline (simulated): dropped 2"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("3000001") && l.contains("ATTACK string") && l.contains(" 4,5 ")),
        "{stdout}"
    );
    let fast = std::fs::read_to_string(out.join("fast.log")).unwrap();
    assert!(
        fast.contains("[1:3000001:2] ATTACK string [**] [Classification: Attempted Administrator Privilege Gain]"),
        "{fast}"
    );
    assert!(fast.contains("[Drop] [**] [1:3000003:1]"), "{fast}");
    // Simulated IPS output: 8 records minus the dropped 2 and the non-IP frame.
    let bytes = std::fs::read(out.join("ips.pcap")).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        p.unwrap();
        n += 1;
    }
    assert_eq!(n, 5);
    assert!(out.join("evidence.pcap").exists());
}

#[test]
fn truncated_capture_is_replayed_with_a_warning_and_exits_zero() {
    let d = Dir::new("trunc");
    let rules = d.file("test.rules", RULES);
    let frames = session(40000, &[b"GET /attack", b"GET /attack again"]);
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &frames);
    let full = std::fs::read(&cap).unwrap();
    let cut = full.len() - 10;
    std::fs::write(&cap, &full[..cut]).unwrap();
    let last_record = full.len() - (16 + frames.last().unwrap().len());
    let out = d.0.join("out");
    let cfg = d.file("verdict.toml", "[vars]\nHOME_NET = \"[198.51.100.0/24]\"\n");
    let run = |cap: &Path| {
        replay(&[
            cap.to_str().unwrap(),
            "-r",
            rules.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "-q",
        ])
    };
    let o = run(&cap);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {}: capture is truncated at byte offset {last_record}",
            cap.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(eve_alerts(&out), vec![(3000001, 4)]);
    // A file that is no capture at all is still an error.
    let junk = d.file("junk.pcap", "this is not a capture");
    let o = run(&junk);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a pcap or pcapng file"), "{stderr}");
}

#[test]
fn threshold_file_and_disabled_sids() {
    let d = Dir::new("thresh");
    let rules = d.file("test.rules", RULES);
    let frames: Vec<Vec<u8>> = (0..6).map(|i| udp(5000 + i, 53, b"probe")).collect();
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &frames);
    let th = d.file(
        "threshold.config",
        "threshold gen_id 1, sig_id 3000002, type limit, track by_src, count 2, seconds 60\n",
    );
    let out = d.0.join("out");
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--threshold-file",
        th.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(eve_alerts(&out), vec![(3000002, 1), (3000002, 2)]);
    let cfg = d.file("verdict.toml", "disabled = [3000002]\n");
    let out2 = d.0.join("out2");
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success());
    assert_eq!(eve_alerts(&out2), vec![]);
    let bad = d.file(
        "bad.config",
        "threshold gen_id 1, sig_id 1, type often, track by_src, count 1, seconds 1\n",
    );
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
        "--threshold-file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 1"));
}

#[test]
fn checksum_policy_all_skips_bad_checksums() {
    let d = Dir::new("csum");
    let rules = d.file("test.rules", RULES);
    let mut bad = udp(5000, 53, b"a probe");
    let n = bad.len();
    bad[n - 7] = b'A'; // "a probe" → "A probe": payload changed, checksum not: invalid
    let good = udp(5001, 53, b"a probe");
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &[bad, good]);
    let out = d.0.join("out");
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success());
    assert_eq!(
        eve_alerts(&out),
        vec![(3000002, 1), (3000002, 2)],
        "default: bad checksums are inspected"
    );
    let out2 = d.0.join("out2");
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
        "-k",
        "all",
        "-q",
    ]);
    assert!(o.status.success());
    assert_eq!(eve_alerts(&out2), vec![(3000002, 2)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("skipped for bad checksums: 1"));
}

#[test]
fn missing_files_are_clear_errors() {
    let d = Dir::new("missing");
    let rules = d.file("test.rules", RULES);
    let o = replay(&[
        "/nonexistent.pcap",
        "-r",
        rules.to_str().unwrap(),
        "-o",
        d.0.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.pcap"));
    let o = replay(&[
        "/nonexistent.pcap",
        "-r",
        "/nonexistent.rules",
        "-o",
        d.0.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.rules"));
}

#[test]
fn compiled_image_is_accepted_and_a_capture_after_r_is_explained() {
    use verdict_compiler::check::{load_str, LoadOptions};
    use verdict_compiler::codegen::{compile, CompileOptions};
    let d = Dir::new("image");
    let (_, loaded) = load_str("t.rules", RULES, &LoadOptions::default());
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            image_all: true,
            ..Default::default()
        },
    );
    let img = d.0.join("rules.vbc");
    std::fs::write(&img, c.image.to_bytes()).unwrap();
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &[udp(5000, 53, b"a probe")]);
    let out = d.0.join("out");
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        img.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(eve_alerts(&out), vec![(3000002, 1)]);
    let rules = d.file("test.rules", RULES);
    let o = replay(&[
        "-r",
        rules.to_str().unwrap(),
        cap.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is a capture, not rules"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn midstream_makes_flows_without_handshake_established() {
    let d = Dir::new("midstream");
    let rules = d.file(
        "test.rules",
        "alert tcp any any -> any 80 (msg:\"est\"; flow:established,to_server; content:\"attack\"; sid:3000010; rev:1;)\n",
    );
    // Picked up mid-way: no SYN, just data and its ACK.
    let frames = vec![
        tcp(CLI, SRV, 40000, 80, 100, false, true, b"attack one"),
        tcp(SRV, CLI, 80, 40000, 500, false, true, b""),
        tcp(CLI, SRV, 40000, 80, 110, false, true, b"attack two"),
    ];
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &frames);
    let (out1, out2) = (d.0.join("o1"), d.0.join("o2"));
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out1.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success());
    assert_eq!(eve_alerts(&out1), vec![]);
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
        "--midstream",
        "-q",
    ]);
    assert!(o.status.success());
    assert_eq!(eve_alerts(&out2), vec![(3000010, 1), (3000010, 3)]);
}

#[test]
fn a_handshake_seen_from_the_client_side_only_is_established_with_midstream() {
    let d = Dir::new("async");
    let rules = d.file(
        "test.rules",
        "alert http any any -> any any (msg:\"async\"; flow:established,to_server; http.uri; content:\"/attack\"; sid:3000011; rev:1;)\n",
    );
    // Asymmetric routing: the SYN-ACK and every server packet go another way.
    let frames = vec![
        tcp(CLI, SRV, 40000, 80, 100, true, false, b""),
        tcp(CLI, SRV, 40000, 80, 101, false, true, b""),
        tcp(
            CLI,
            SRV,
            40000,
            80,
            101,
            false,
            true,
            b"GET /attack HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
    ];
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &frames);
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            cap.to_str().unwrap(),
            "-r",
            rules.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(extra);
        let o = replay(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        eve_alerts(out)
    };
    // The request is parsed either way; only midstream pickup makes the flow established.
    assert_eq!(run(&d.0.join("o1"), &[]), vec![]);
    assert_eq!(run(&d.0.join("o2"), &["--midstream"]), vec![(3000011, 3)]);
}

fn eve_drops(dir: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(dir.join("eve.json"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event_type"] == "drop")
        .map(|v| {
            (
                v["pcap_cnt"].as_u64().unwrap(),
                v["drop"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_suricata_yaml_beside_the_rules_sets_action_order_vars_and_policies() {
    let d = Dir::new("suricata-yaml");
    let rules = d.file(
        "test.rules",
        "alert udp any any -> any 53 (msg:\"a\"; content:\"hi\"; sid:3000020; rev:1;)\n\
         pass udp any any -> any 53 (msg:\"p\"; content:\"hi\"; sid:3000021; rev:1;)\n\
         drop udp any any -> any 53 (msg:\"d\"; content:\"hi\"; sid:3000022; rev:1;)\n\
         alert tcp any any -> any 80 (msg:\"t\"; content:\"x\"; sid:3000023; rev:1;)\n",
    );
    let frames = vec![
        udp(5000, 53, b"hi"),
        // A TCP session seen without its handshake.
        tcp(CLI, SRV, 40000, 80, 100, false, true, b"x"),
        tcp(SRV, CLI, 80, 40000, 500, false, true, b""),
    ];
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &frames);
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            cap.to_str().unwrap(),
            "-r",
            rules.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--simulate-ips",
            "-q",
        ];
        args.extend_from_slice(extra);
        let o = replay(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    // Without a suricata.yaml: pass first (the UDP packet passes silently), and the
    // midstream session is dropped by the default inline policy.
    let o1 = d.0.join("o1");
    run(&o1, &[]);
    assert_eq!(eve_alerts(&o1), vec![]);
    assert_eq!(
        eve_drops(&o1),
        vec![
            (2, "stream midstream".to_string()),
            (3, "exception policy flow drop".to_string())
        ]
    );
    // The suricata.yaml next to the rules: drop first, midstream exceptions ignored, and a
    // suppress address group for the threshold file.
    d.file(
        "suricata.yaml",
        "%YAML 1.1\n---\nvars:\n  address-groups:\n    QUIET: \"[192.0.2.0/24]\"\n\
         action-order:\n  - drop\n  - pass\n  - reject\n  - alert\n\
         exception-policy: ignore\n",
    );
    let th = d.file(
        "threshold.config",
        "suppress gen_id 1, sig_id 3000023, track by_src, ip $QUIET\n",
    );
    let o2 = d.0.join("o2");
    run(&o2, &["--threshold-file", th.to_str().unwrap()]);
    assert_eq!(eve_alerts(&o2), vec![(3000022, 1)]);
    assert_eq!(eve_drops(&o2), vec![(1, "rules".to_string())]);
    // --no-suricata-config ignores it again; a broken one is an error naming its line.
    let o3 = d.0.join("o3");
    run(&o3, &["--no-suricata-config"]);
    assert_eq!(eve_alerts(&o3), vec![]);
    d.file("suricata.yaml", "action-order:\n  - pass\n  - drop\n");
    let o = replay(&[
        cap.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "-o",
        d.0.join("o4").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("line 1"), "{err}");
}

#[test]
fn tunnel_decoders_follow_suricata_yaml_and_verdict_toml() {
    let d = Dir::new("tunnels");
    let rules = d.file("test.rules", RULES);
    // A DNS probe inside VXLAN: VXLAN header, then the whole Ethernet frame.
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(&udp(5000, 53, b"probe"));
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 10], [198, 51, 100, 10], 64)
        .udp(50000, 4789)
        .write(&mut frame, &vx)
        .unwrap();
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &[frame]);
    let run = |out: &str, extra: &[&str]| {
        let out = d.0.join(out);
        let mut args = vec![
            cap.to_str().unwrap().to_string(),
            "-r".into(),
            rules.to_str().unwrap().to_string(),
            "-o".into(),
            out.to_str().unwrap().to_string(),
            "-q".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = replay(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        eve_alerts(&out)
    };
    assert_eq!(run("default", &[]), vec![(3000002, 1)]);
    // A suricata.yaml beside the rules turning VXLAN off: only the outer packet is seen.
    d.file(
        "suricata.yaml",
        "%YAML 1.1\n---\ndecoder:\n  vxlan:\n    enabled: false\n",
    );
    assert_eq!(run("yaml-off", &[]), vec![]);
    // verdict.toml's [decoder] wins over the suricata.yaml.
    let cfg = d.file("verdict.toml", "[decoder]\nvxlan_ports = [4789]\n");
    assert_eq!(
        run("toml-on", &["--config", cfg.to_str().unwrap()]),
        vec![(3000002, 1)]
    );
}

/// A keep-alive HTTP connection on port 80: a download of 6000 body bytes whose last segment
/// carries `LATEMARK`, then a bad request; every segment in sequence in both directions.
fn keep_alive_download() -> Vec<Vec<u8>> {
    let sp = 40001;
    let mut v = vec![
        tcp(CLI, SRV, sp, 80, 1, true, false, b""),
        tcp(SRV, CLI, 80, sp, 1, true, true, b""),
        tcp(CLI, SRV, sp, 80, 2, false, true, b""),
    ];
    let mut last = vec![b'x'; 1500];
    last[..8].copy_from_slice(b"LATEMARK");
    let mut turns: Vec<(bool, Vec<u8>)> = vec![
        (true, b"GET /big HTTP/1.1\r\nHost: srv\r\n\r\n".to_vec()),
        (
            false,
            b"HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n".to_vec(),
        ),
    ];
    turns.extend((0..3).map(|_| (false, vec![b'x'; 1500])));
    turns.push((false, last));
    turns.push((
        true,
        b"GET /verdict-bad HTTP/1.1\r\nHost: srv\r\n\r\n".to_vec(),
    ));
    let (mut cseq, mut sseq) = (2u32, 2u32);
    for (to_server, p) in &turns {
        if *to_server {
            v.push(tcp(CLI, SRV, sp, 80, cseq, false, true, p));
            cseq += p.len() as u32;
        } else {
            v.push(tcp(SRV, CLI, 80, sp, sseq, false, true, p));
            sseq += p.len() as u32;
        }
    }
    v
}

#[test]
fn replay_takes_the_live_bypass_decisions() {
    let d = Dir::new("bypass");
    let rules = d.file(
        "test.rules",
        "alert tcp any 80 -> any any (msg:\"late response bytes\"; content:\"LATEMARK\"; sid:3000011; rev:1;)\n\
         drop http any any -> any 80 (msg:\"bad uri\"; http.uri; content:\"/verdict-bad\"; sid:3000012; rev:1;)\n",
    );
    let cap = d.0.join("in.pcap");
    write_pcap(&cap, &keep_alive_download());
    let run = |name: &str, policy: &str| {
        let cfg = d.file(
            &format!("{name}.toml"),
            &format!("[engine]\nstream_depth = 2000\nbypass = \"{policy}\"\n"),
        );
        let out = d.0.join(name);
        let o = replay(&[
            cap.to_str().unwrap(),
            "-r",
            rules.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--simulate-ips",
            "-q",
        ]);
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{stdout}");
        let sids: Vec<u64> = eve_alerts(&out).into_iter().map(|(s, _)| s).collect();
        (sids, stdout)
    };
    // Per direction: the download's bytes past the depth are not inspected, the request is.
    let (sids, stdout) = run("direction", "direction");
    assert_eq!(sids, [3000012], "{stdout}");
    assert!(
        stdout.contains("bypassed flows 0  half-bypassed flows 1"),
        "{stdout}"
    );
    // Either: nothing after the depth is, the bad request included.
    let (sids, stdout) = run("either", "either");
    assert_eq!(sids, Vec::<u64>::new(), "{stdout}");
    assert!(
        stdout.contains("bypassed flows 1  half-bypassed flows 0"),
        "{stdout}"
    );
    // Both: everything is inspected.
    let (sids, stdout) = run("both", "both");
    assert_eq!(sids, [3000011, 3000012], "{stdout}");
    assert!(!stdout.contains("bypassed flows"), "{stdout}");
}

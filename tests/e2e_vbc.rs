//! `verdict run -r DIR/rules.vbc` in the cli — gw — srv namespaces: an image that `verdict
//! compile` wrote loads the same nft table as the rule text it came from, and enforces both
//! halves of the rule set (a kernel drop rule and a queued one); a reload re-reads the image.
//! Root only; bounded waits.

mod common;
mod live;

use common::netns::Topology;
use live::*;
use std::path::Path;
use std::time::Duration;

const RULES: &str = "drop udp any any -> any 7501 (msg:\"kernel drop\"; sid:930001; rev:1;)\n\
    drop udp any any -> any 7502 (msg:\"queued drop\"; content:\"EVIL\"; sid:930002; rev:1;)\n";

/// gw's whole ruleset as the kernel holds it (verdict's table, and its xt steering where the
/// kernel lacks nft's `queue`), without the counters' values and in a stable order: tables,
/// and the chains and sets inside each, sorted (their listing order is their creation order,
/// which differs between two starts: blocks outlive an engine).
fn table(t: &Topology) -> String {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for l in t.ruleset(&t.gw).lines() {
        let l = match l.find("counter packets ") {
            // `counter packets N bytes M rest` -> `counter rest`
            Some(i) => {
                let rest = l[i + "counter packets ".len()..].splitn(4, ' ').nth(3);
                format!("{}counter {}", &l[..i], rest.unwrap_or(""))
            }
            None => l.to_string(),
        };
        if l.is_empty() || l == "}" {
            continue;
        }
        if l.starts_with("table ") {
            tables.push((l, Vec::new()));
        } else if let Some((_, inner)) = tables.last_mut() {
            if l.starts_with("\t") && !l.starts_with("\t\t") && l.ends_with('{') {
                inner.push(String::new());
            }
            if let Some(block) = inner.last_mut() {
                block.push_str(&l);
                block.push('\n');
            }
        }
    }
    for (_, inner) in &mut tables {
        inner.sort();
    }
    tables.sort();
    tables
        .into_iter()
        .map(|(head, inner)| format!("{head}\n{}", inner.concat()))
        .collect()
}

fn compile(rules: &Path, out: &Path) {
    let r = std::process::Command::new(VERDICT)
        .args([
            "compile",
            rules.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .arg("-q")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

/// Sends one datagram per message (each a new flow) to srv:`port`; what srv got.
fn through(t: &Topology, port: u16, msgs: &[&[u8]]) -> Vec<Vec<u8>> {
    udp_exchange(
        t,
        port,
        msgs.iter().map(|m| m.to_vec()).collect(),
        Duration::from_millis(50),
    )
}

#[test]
fn run_from_a_compiled_image_loads_the_text_table_and_enforces_both_halves() {
    require_netns!();
    let t = Topology::new();
    // From the rule text first: the table it loads.
    let mut text = Engine::start(&t, "vbc-text", RULES, &[]);
    let from_text = table(&t);
    assert!(
        from_text.contains("sid:930001") && from_text.contains("7502"),
        "{from_text}"
    );
    text.stop();
    let out = text.dir.join("out");
    compile(&text.dir.join("test.rules"), &out);
    let vbc = out.join("rules.vbc");

    let dir = std::env::temp_dir().join(format!("verdict-e2e-vbc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap().to_string();
    let v = vbc.to_str().unwrap().to_string();
    let mut bg = t.spawn(
        &t.gw,
        &[
            VERDICT,
            "run",
            "-r",
            &v,
            "--log-dir",
            &d,
            "--stats-interval-ms",
            "100",
        ],
    );
    bg.wait_for("verdict: ready", Duration::from_secs(15))
        .unwrap();
    let mut e = Engine { bg, dir };
    assert!(
        e.bg.output().contains("2 rules from ")
            && e.bg
                .output()
                .contains("(precompiled): 1 in kernel, 1 in queue"),
        "{}",
        e.bg.output()
    );
    let from_image = table(&t);
    let differ: Vec<(&str, &str)> = (from_image.lines().zip(from_text.lines()))
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        from_image, from_text,
        "the image loads the text's table: {differ:?}"
    );

    // The kernel rule drops in the kernel, the queued one in the engine; the rest passes.
    assert!(through(&t, 7501, &[b"anything"]).is_empty(), "kernel drop");
    let got = through(&t, 7502, &[b"fine", b"an EVIL one", b"fine too"]);
    assert_eq!(got, [b"fine".to_vec(), b"fine too".to_vec()]);
    let kernel = e.alerts(930001, 1);
    let queued = e.alerts(930002, 1);
    assert_eq!((kernel.len(), queued.len()), (1, 1));
    assert!(kernel
        .iter()
        .chain(&queued)
        .all(|a| a["alert"]["action"] == "blocked"));
    assert!(e.queued() >= 3, "the queued rule's port is steered");

    // A reload reads the image again: a recompiled one with a new kernel rule takes effect.
    std::fs::write(
        text.dir.join("test.rules"),
        format!("{RULES}drop udp any any -> any 7503 (msg:\"added\"; sid:930003; rev:1;)\n"),
    )
    .unwrap();
    assert_eq!(through(&t, 7503, &[b"before"]).len(), 1);
    compile(&text.dir.join("test.rules"), &out);
    let r = t.exec(&t.gw, &[VERDICT, "reload"]);
    assert!(
        r.status.success(),
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        through(&t, 7503, &[b"after"]).is_empty(),
        "the reloaded image drops"
    );
    assert_eq!(through(&t, 7502, &[b"still fine"]).len(), 1);
    e.stop();
}

#[test]
fn an_image_of_another_version_is_refused_with_what_to_do() {
    require_netns!();
    let t = Topology::new();
    let dir = std::env::temp_dir().join(format!("verdict-e2e-vbc-old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("test.rules");
    std::fs::write(&rules, RULES).unwrap();
    compile(&rules, &dir.join("out"));
    let vbc = dir.join("out/rules.vbc");
    let mut bytes = std::fs::read(&vbc).unwrap();
    // The version follows the 8-byte magic.
    bytes[8..12].copy_from_slice(&9u32.to_le_bytes());
    std::fs::write(&vbc, &bytes).unwrap();
    let d = dir.to_str().unwrap();
    let r = t.exec(
        &t.gw,
        &[VERDICT, "run", "-r", vbc.to_str().unwrap(), "--log-dir", d],
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("rules.vbc: bytecode version 9 is not supported") && err.contains("recompile"),
        "{err}"
    );
    assert!(
        !t.ruleset(&t.gw).contains("table inet verdict"),
        "nothing was loaded"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! Reloading a running engine the way operators and their tools do, end to end with the real
//! binary in the cli — gw — srv namespaces: `kill -HUP` (a new rule drops live; a broken rule
//! file keeps the old rules and logs the diagnostic with file:line:col), a reload that changes
//! the kernel rules under a TCP stream and a ping flow (the table and the steering are replaced
//! without a gap), and log reopening after logrotate renamed the files. Root only; every wait
//! and every traffic loop is bounded.

mod common;
mod live;

use common::netns::Topology;
use live::*;
use std::time::Duration;

/// The engine's rule file (`Engine::start` writes the rules to `DIR/test.rules`).
fn rule_file(e: &Engine) -> std::path::PathBuf {
    e.dir.join("test.rules")
}

#[test]
fn sighup_reloads_the_rules_and_a_broken_file_keeps_the_old_ones() {
    require_netns!();
    let t = Topology::new();
    let f = Files::new("hup", "[scan]\nenabled = false\n");
    let old = "drop udp any any -> any 7160 (msg:\"old\"; content:\"OLD\"; sid:920061; rev:1;)\n";
    let mut e = f.start(&t, "ops-hup", old);
    let got = udp_exchange(
        &t,
        7160,
        vec![b"OLD".to_vec(), b"NEW".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(got, vec![b"NEW".to_vec()], "before the reload");

    // A new drop rule in the file, then `kill -HUP`: no command, no socket.
    std::fs::write(
        rule_file(&e),
        format!("{old}drop udp any any -> any 7160 (msg:\"new\"; content:\"NEW\"; sid:920062; rev:1;)\n"),
    )
    .unwrap();
    e.bg.signal(libc::SIGHUP);
    let line = e
        .bg
        .wait_for("SIGHUP: ", Duration::from_secs(15))
        .unwrap();
    assert!(line.contains("reloaded in"), "{line}");
    let got = udp_exchange(
        &t,
        7160,
        vec![b"OLD".to_vec(), b"NEW".to_vec(), b"other".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(got, vec![b"other".to_vec()], "the new rule drops after SIGHUP");

    // A typo on line 2, column 43 (`conten`): the reload is refused, the error names the
    // place, and both rules that ran before still drop.
    std::fs::write(
        rule_file(&e),
        format!("{old}drop udp any any -> any 7160 (msg:\"typo\"; conten:\"X\"; sid:920063; rev:1;)\n"),
    )
    .unwrap();
    e.bg.signal(libc::SIGHUP);
    e.bg.wait_for("SIGHUP: reload failed", Duration::from_secs(15))
        .unwrap();
    let at = format!("{}:2:", rule_file(&e).display());
    let out = e
        .bg
        .wait_for(&at, Duration::from_secs(5))
        .unwrap_or_else(|o| panic!("no file:line:col in the log: {o}"));
    assert!(
        out.contains(&format!("{at}43")),
        "the diagnostic points at `conten`: {out}"
    );
    let all = e.bg.output();
    assert!(all.contains("previous rules keep running"), "{all}");
    let got = udp_exchange(
        &t,
        7160,
        vec![b"OLD".to_vec(), b"NEW".to_vec(), b"X".to_vec()],
        Duration::from_millis(50),
    );
    assert_eq!(got, vec![b"X".to_vec()], "the rules of before the typo still run");
    let ops = wait_for(Duration::from_secs(3), || {
        e.stats().ops.filter(|o| o.reload_failures == 1)
    })
    .expect("the failed reload is counted");
    assert_eq!(ops.reloads, 1, "{ops:?}");
    e.stop();
}

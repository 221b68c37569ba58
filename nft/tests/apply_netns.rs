//! `apply` against the real kernel, inside throwaway network namespaces (root only).

mod common;

use std::process::Command;
use verdict_nft::apply::{self, ApplyError};
use verdict_nft::render::QueueMechanism;

/// A named netns entered by the current (test) thread; deleted on drop, also on panic.
struct Netns {
    name: String,
}

impl Netns {
    /// Call after `require_netns!()`, which checks for root.
    fn enter(tag: &str) -> Netns {
        let name = format!("vapply-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip netns add {name}");
        let ns = Netns { name };
        let f = std::fs::File::open(format!("/var/run/netns/{}", ns.name)).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: `f` is an open netns file for the duration of the call; setns only changes
        // this thread's namespace.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns");
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const TABLE_A: &str = "table inet verdict {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    tcp dport 4444 counter drop comment \"A\"\n  }\n}\n";
const TABLE_B: &str = "table inet verdict {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    udp dport 5555 counter drop comment \"B\"\n  }\n}\n";

fn xt_steering() -> Vec<Vec<String>> {
    let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    vec![
        v("iptables-nft -N VERDICT"),
        v("iptables-nft -A VERDICT -j NFQUEUE --queue-balance 0:1 --queue-bypass"),
        v("iptables-nft -I FORWARD -j VERDICT"),
        v("ip6tables-nft -N VERDICT"),
        v("ip6tables-nft -A VERDICT -j NFQUEUE --queue-balance 0:1 --queue-bypass"),
        v("ip6tables-nft -I FORWARD -j VERDICT"),
    ]
}

#[test]
fn probe_matches_what_the_kernel_loads() {
    require_netns!();
    let _ns = Netns::enter("probe");
    let caps = apply::probe();
    eprintln!("probed: {caps:?}");
    let queue_script = "table inet verdict {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    meta l4proto udp queue num 3 bypass\n  }\n}\n";
    let loaded = apply::load(queue_script, &[]);
    assert_eq!(
        loaded.is_ok(),
        caps.queue == QueueMechanism::NftQueue,
        "{loaded:?}"
    );
    let ih_script = "table inet verdict {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    meta l4proto tcp @ih,0,16 0x4142 counter\n  }\n}\n";
    assert_eq!(apply::load(ih_script, &[]).is_ok(), caps.ih_payload);
    apply::remove().unwrap();
}

#[test]
fn load_replace_fail_and_remove_leave_others_alone() {
    require_netns!();
    let _ns = Netns::enter("load");
    // Someone else's rules, which must survive everything we do.
    assert!(sh("nft add table inet other && nft add chain inet other c && nft add rule inet other c counter").0);
    assert!(sh("iptables-nft -A FORWARD -p tcp --dport 7 -j ACCEPT").0);

    apply::load(TABLE_A, &xt_steering()).unwrap();
    let (_, t) = sh("nft list table inet verdict");
    assert!(t.contains("comment \"A\""), "{t}");
    let (_, x4) = sh("iptables-nft -S");
    assert!(
        x4.contains("-A FORWARD -j VERDICT") && x4.contains("--queue-bypass"),
        "{x4}"
    );
    let (_, x6) = sh("ip6tables-nft -S");
    assert!(x6.contains("-A FORWARD -j VERDICT"), "{x6}");

    // Reloading replaces, and does not stack a second steering jump.
    apply::load(TABLE_B, &xt_steering()).unwrap();
    let (_, t) = sh("nft list table inet verdict");
    assert!(
        t.contains("comment \"B\"") && !t.contains("comment \"A\""),
        "{t}"
    );
    let (_, x4) = sh("iptables-nft -S");
    assert_eq!(x4.matches("-j VERDICT").count(), 1, "{x4}");

    // A script nft refuses: typed error with nft's message, nothing changed.
    let err = apply::load(
        "table inet verdict {\n chain c {\n tcp dport 99999 drop\n }\n}\n",
        &[],
    )
    .unwrap_err();
    match &err {
        ApplyError::Check { stderr } => assert!(stderr.contains("99999"), "{stderr}"),
        other => panic!("expected a check error, got {other:?}"),
    }
    let (_, t) = sh("nft list table inet verdict");
    assert!(t.contains("comment \"B\""), "{t}");

    // A failing xt step after the nft commit: previous table back, no steering left half done.
    let mut bad = xt_steering();
    bad.push(vec![
        "iptables-nft".into(),
        "-A".into(),
        "VERDICT".into(),
        "-j".into(),
        "NOSUCHTARGET".into(),
    ]);
    let err = apply::load(TABLE_A, &bad).unwrap_err();
    assert!(matches!(err, ApplyError::Xt { .. }), "{err:?}");
    let (_, t) = sh("nft list table inet verdict");
    assert!(
        t.contains("comment \"B\"") && !t.contains("comment \"A\""),
        "{t}"
    );
    let (_, x4) = sh("iptables-nft -S");
    assert!(!x4.contains("VERDICT"), "{x4}");

    // A steering tool that cannot even be started is a failure after the commit too: the
    // previous table comes back (it used to return early, leaving A loaded without steering).
    let mut missing = xt_steering();
    missing.insert(
        3,
        vec![
            "verdict-no-such-xt-tool".into(),
            "-N".into(),
            "VERDICT".into(),
        ],
    );
    let err = apply::load(TABLE_A, &missing).unwrap_err();
    assert!(matches!(err, ApplyError::Spawn { .. }), "{err:?}");
    let (_, t) = sh("nft list table inet verdict");
    assert!(
        t.contains("comment \"B\"") && !t.contains("comment \"A\""),
        "{t}"
    );
    let (_, x4) = sh("iptables-nft -S");
    assert!(!x4.contains("VERDICT"), "{x4}");

    apply::remove().unwrap();
    assert!(!apply::table_exists().unwrap());
    apply::remove().unwrap(); // idempotent
    let (_, all) = sh("nft list ruleset");
    assert!(all.contains("table inet other"), "{all}");
    let (_, x4) = sh("iptables-nft -S");
    assert!(
        x4.contains("--dport 7 -j ACCEPT") && !x4.contains("VERDICT"),
        "{x4}"
    );
}

/// A reload whose xt commands no longer declare a verdict chain (an xt-string drop rule's
/// action chain) deletes it once the new batch is committed; other chains stay.
#[test]
fn reload_deletes_verdict_chains_the_new_batch_no_longer_declares() {
    require_netns!();
    let _ns = Netns::enter("stale");
    let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let mut with_action = xt_steering();
    with_action.insert(0, v("iptables-nft -N VERDICT-D7"));
    with_action.insert(1, v("iptables-nft -A VERDICT-D7 -j DROP"));
    with_action.insert(
        3,
        v("iptables-nft -A VERDICT -p tcp --dport 7 -j VERDICT-D7"),
    );
    assert!(sh("iptables-nft -N OTHER").0);
    apply::load(TABLE_A, &with_action).unwrap();
    let (_, x4) = sh("iptables-nft -S");
    assert!(
        x4.contains("-A VERDICT -p tcp -m tcp --dport 7 -j VERDICT-D7"),
        "{x4}"
    );
    apply::load(TABLE_A, &xt_steering()).unwrap();
    let (_, x4) = sh("iptables-nft -S");
    assert!(
        !x4.contains("VERDICT-D7") && x4.contains("-N VERDICT") && x4.contains("-N OTHER"),
        "{x4}"
    );
    apply::remove().unwrap();
}

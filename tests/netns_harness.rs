//! The netns harness itself: the topology forwards both families and leaves nothing behind.

mod common;

use common::netns::{Topology, SRV4, SRV6};
use std::process::Command;

fn namespaces() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

#[test]
fn topology_forwards_and_cleans_up() {
    require_netns!();
    let names;
    {
        let t = Topology::new();
        names = [t.cli.clone(), t.gw.clone(), t.srv.clone()];
        t.exec_ok(&t.cli, &["ping", "-c", "1", "-W", "2", SRV4]);
        t.exec_ok(&t.cli, &["ping", "-6", "-c", "1", "-W", "2", SRV6]);
        let _sleeper = t.spawn(&t.srv, &["sleep", "30"]);
        assert!(namespaces().contains(&names[1]));
    }
    let left = namespaces();
    for n in &names {
        assert!(
            !left.contains(n.as_str()),
            "namespace {n} left behind: {left}"
        );
    }
}

#[test]
fn cleanup_happens_on_panic() {
    require_netns!();
    let name = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let n2 = name.clone();
    let r = std::thread::spawn(move || {
        let t = Topology::new();
        *n2.lock().unwrap() = t.gw.clone();
        panic!("deliberate");
    })
    .join();
    assert!(r.is_err());
    let gw = name.lock().unwrap().clone();
    assert!(!gw.is_empty());
    assert!(
        !namespaces().contains(&gw),
        "namespace {gw} survived a panic"
    );
}

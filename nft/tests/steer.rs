//! Snapshots of the emitted steering in each mode: the nft script (nft queue statement) and
//! the iptables-nft commands (xt NFQUEUE fallback) for one small rule set with an app-layer
//! rule on any port, a TCP rule on its own port and a UDP rule. Review changes to
//! `snapshots/steer/` like code: they say which traffic leaves the kernel.

use verdict_compiler::check::{self, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::kernel::L4Proto;
use verdict_compiler::steer::{SteerMode, SteerPolicy, TunnelSteer};
use verdict_compiler::vars::Vars;
use verdict_nft::render::{render_text, xt_commands, QueueMechanism, RenderOptions};

const RULES: &str = "\
alert http any any -> any any (msg:\"uri\"; flow:established,to_server; http.uri; content:\"/admin\"; sid:1; rev:1;)
alert tcp any any -> any 8443 (msg:\"tcp on its own port\"; flow:established; content:\"evil\"; sid:2; rev:1;)
alert udp any any -> any 53 (msg:\"udp\"; content:\"|00 01|\"; sid:3; rev:1;)
";

fn emitted(mode: SteerMode, vars: &Vars) -> String {
    emitted_with(SteerPolicy::new(mode, vars), vars)
}

fn emitted_with(steer: SteerPolicy, vars: &Vars) -> String {
    let (_, loaded) = check::load_str(
        "steer.rules",
        RULES,
        &LoadOptions {
            include_commented: false,
            vars: vars.clone(),
        },
    );
    assert_eq!(loaded.rules.len(), 3, "{:?}", loaded.diagnostics);
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            steer,
            ..Default::default()
        },
    );
    let nft = render_text(
        &c.kernel,
        &RenderOptions {
            queue: QueueMechanism::NftQueue,
            ..Default::default()
        },
    );
    let xt: Vec<String> = xt_commands(
        &c.kernel,
        &RenderOptions {
            queue: QueueMechanism::XtNfqueue,
            ..Default::default()
        },
    )
    .into_iter()
    .filter(|a| a[0] == "iptables-nft")
    .map(|a| a.join(" "))
    .collect();
    format!("## nft\n{nft}\n## xt (IPv4)\n{}\n", xt.join("\n"))
}

fn snap(name: &str, body: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/steer"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, body));
}

#[test]
fn ports_mode_queues_the_rules_ports_and_http_ports() {
    snap("ports", emitted(SteerMode::Ports, &Vars::default()));
}

#[test]
fn ports_mode_follows_the_http_ports_variable() {
    let mut vars = Vars::default();
    vars.set("HTTP_PORTS", "[80,8000:8088]");
    snap("ports-http-vars", emitted(SteerMode::Ports, &vars));
}

#[test]
fn all_tcp_mode_queues_every_tcp_packet() {
    snap("all-tcp", emitted(SteerMode::AllTcp, &Vars::default()));
}

#[test]
fn all_mode_queues_every_tcp_and_udp_packet() {
    snap("all", emitted(SteerMode::All, &Vars::default()));
}

#[test]
fn tunnels_the_engine_looks_into_are_queued_too() {
    // GRE, IP-in-IP and the UDP tunnel ports, besides what the rules steer; the UDP port 53
    // of the rules is not repeated.
    let steer = SteerPolicy {
        tunnels: TunnelSteer {
            protos: vec![L4Proto::Gre, L4Proto::IpIp, L4Proto::Ipv6InIp],
            udp_ports: vec![3544, 4789, 6081],
            udp_all: false,
        },
        ..SteerPolicy::new(SteerMode::Ports, &Vars::default())
    };
    snap("tunnels", emitted_with(steer, &Vars::default()));
}

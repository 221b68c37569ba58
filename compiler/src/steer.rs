//! How much traffic the kernel sends to the queue: the steering policy behind
//! [`crate::kernel::steering`].
//!
//! # Quick advice
//! [`SteerMode::Ports`] (the default) queues what the queued rules' headers name, and for an
//! app-layer rule (`alert http any any -> any any`) its protocol's usual ports, from the rule
//! variables where one exists (`$HTTP_PORTS`, `$FTP_PORTS`, …). Cheap, but the engine only
//! detects protocols by content *on those ports*: HTTP on 8081 is not inspected by `http`
//! rules unless `$HTTP_PORTS` names 8081. [`SteerMode::AllTcp`] and [`SteerMode::All`] queue
//! every TCP (and UDP) packet once a rule needs that transport, so content-based detection
//! finds a protocol on any port — at the price of queueing all of that traffic (bulk flows
//! leave the queue again after the stream depth, see the engine's `bypass`).

use crate::check::{load_str, LoadOptions};
use crate::ir::{AppProto, PortSet};
use crate::vars::Vars;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which traffic is steered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SteerMode {
    /// The rules' own header ports, and the app protocols' ports for app-layer rules.
    #[default]
    #[serde(rename = "ports")]
    Ports,
    /// All TCP once any queued rule needs TCP; UDP as in `Ports`.
    #[serde(rename = "all-tcp")]
    AllTcp,
    /// All TCP and all UDP once any queued rule needs that transport.
    #[serde(rename = "all")]
    All,
}

impl SteerMode {
    /// The name used in the config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SteerMode::Ports => "ports",
            SteerMode::AllTcp => "all-tcp",
            SteerMode::All => "all",
        }
    }
    /// Parses [`SteerMode::name`].
    pub fn from_name(s: &str) -> Option<SteerMode> {
        [SteerMode::Ports, SteerMode::AllTcp, SteerMode::All]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// The variable naming an app protocol's ports, where the rule languages have one.
fn port_var(a: AppProto) -> Option<&'static str> {
    Some(match a {
        AppProto::Http => "HTTP_PORTS",
        AppProto::Ftp => "FTP_PORTS",
        AppProto::Ssh => "SSH_PORTS",
        AppProto::Sip => "SIP_PORTS",
        AppProto::Dnp3 => "DNP3_PORTS",
        AppProto::Modbus => "MODBUS_PORTS",
        _ => return None,
    })
}

/// IANA ports of the protocols without a port variable (what Suricata's app-layer section
/// lists as their detection ports). `None`: no fixed port (FTP data channels are negotiated),
/// so such rules steer their whole transport.
fn well_known(a: AppProto) -> Option<&'static [(u16, u16)]> {
    Some(match a {
        AppProto::Tls | AppProto::Quic => &[(443, 443)],
        AppProto::Http2 => &[(80, 80), (443, 443)],
        AppProto::Smtp => &[(25, 25), (465, 465), (587, 587)],
        AppProto::Imap => &[(143, 143), (993, 993)],
        AppProto::Pop3 => &[(110, 110), (995, 995)],
        AppProto::Dns => &[(53, 53)],
        AppProto::Smb => &[(139, 139), (445, 445)],
        AppProto::Dcerpc => &[(135, 135)],
        AppProto::Dhcp => &[(67, 68)],
        AppProto::Ntp => &[(123, 123)],
        AppProto::Snmp => &[(161, 162)],
        AppProto::Krb5 => &[(88, 88)],
        AppProto::Nfs => &[(2049, 2049)],
        AppProto::Tftp => &[(69, 69)],
        AppProto::Ike => &[(500, 500), (4500, 4500)],
        AppProto::Enip => &[(2222, 2222), (44818, 44818)],
        AppProto::Mqtt => &[(1883, 1883)],
        AppProto::Rdp => &[(3389, 3389)],
        AppProto::Rfb => &[(5900, 5910)],
        AppProto::Pgsql => &[(5432, 5432)],
        AppProto::Telnet => &[(23, 23)],
        AppProto::Ldap => &[(389, 389), (636, 636), (3268, 3268)],
        AppProto::Http
        | AppProto::Ftp
        | AppProto::Ssh
        | AppProto::Sip
        | AppProto::Dnp3
        | AppProto::Modbus => return None,
        AppProto::FtpData => return None,
    })
}

/// The steering policy: a mode and, for [`SteerMode::Ports`], each app protocol's ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteerPolicy {
    /// How much is steered.
    pub mode: SteerMode,
    /// Ports per app protocol; a protocol missing here steers its whole transport.
    pub app_ports: HashMap<AppProto, PortSet>,
    /// The tunnels the engine looks into, queued whenever any rule is loaded (the rules
    /// apply to the packets inside them, kernel rules included).
    pub tunnels: TunnelSteer,
}

/// What tunnel traffic the kernel must queue: the engine's `[decoder]` settings as steering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelSteer {
    /// IP protocols carrying tunnels (GRE, IP-in-IP).
    pub protos: Vec<crate::kernel::L4Proto>,
    /// UDP ports of the UDP tunnels, either side.
    pub udp_ports: Vec<u16>,
    /// A UDP tunnel decoder runs on every port (Teredo without ports): all UDP is queued.
    pub udp_all: bool,
}

impl Default for SteerPolicy {
    fn default() -> Self {
        SteerPolicy::new(SteerMode::Ports, &Vars::default())
    }
}

impl SteerPolicy {
    /// The policy for `mode`, app ports resolved against `vars` (so `[vars] HTTP_PORTS`
    /// moves the HTTP steering with the rules that use it). A variable that does not resolve
    /// to a non-empty port set steers that protocol's whole transport.
    pub fn new(mode: SteerMode, vars: &Vars) -> SteerPolicy {
        let mut app_ports = HashMap::new();
        for &a in AppProto::ALL {
            let ports = match port_var(a) {
                Some(v) => resolve_ports(v, vars),
                None => well_known(a).map(|r| PortSet::from_ranges(r.to_vec())),
            };
            if let Some(p) = ports.filter(|p| !p.is_empty() && !p.is_full()) {
                app_ports.insert(a, p);
            }
        }
        SteerPolicy {
            mode,
            app_ports,
            tunnels: TunnelSteer::default(),
        }
    }
}

/// `$name` as a port set, through the same lowering as rule headers.
fn resolve_ports(name: &str, vars: &Vars) -> Option<PortSet> {
    let rule = format!("alert tcp any any -> any ${name} (sid:1;)");
    let opts = LoadOptions {
        include_commented: false,
        vars: vars.clone(),
    };
    let (_, loaded) = load_str("steering", &rule, &opts);
    loaded.rules.into_iter().next().map(|r| r.dst_ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_follows_the_variable_and_unknown_ports_steer_everything() {
        let mut vars = Vars::default();
        let p = SteerPolicy::new(SteerMode::Ports, &vars);
        assert_eq!(p.app_ports[&AppProto::Http].ranges(), &[(80, 80)]);
        assert_eq!(
            p.app_ports[&AppProto::Smtp].ranges(),
            &[(25, 25), (465, 465), (587, 587)]
        );
        assert!(!p.app_ports.contains_key(&AppProto::FtpData));
        vars.set("HTTP_PORTS", "[80,8000:8080]");
        let p = SteerPolicy::new(SteerMode::Ports, &vars);
        assert_eq!(
            p.app_ports[&AppProto::Http].ranges(),
            &[(80, 80), (8000, 8080)]
        );
        vars.set("HTTP_PORTS", "any");
        let p = SteerPolicy::new(SteerMode::Ports, &vars);
        assert!(!p.app_ports.contains_key(&AppProto::Http));
    }

    #[test]
    fn mode_names_round_trip() {
        for m in [SteerMode::Ports, SteerMode::AllTcp, SteerMode::All] {
            assert_eq!(SteerMode::from_name(m.name()), Some(m));
        }
        assert_eq!(SteerMode::from_name("tcp"), None);
    }
}

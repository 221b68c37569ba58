//! `app-layer-protocol:[!]<proto>[,<proto>…][,<mode>];` (Suricata 7/8): a test on the
//! application protocol that detection found for the flow.
//!
//! - The value is a protocol name (`http` also covers `http1`; `ssl` is `tls`), `failed`
//!   (detection gave up on the flow) or `unknown` (detection has not concluded, never
//!   negated); several names are a list, any of which matches (a negated list: none).
//! - The mode says which detection result is read: `direction` (default: the packet's
//!   direction, Suricata's `alproto_ts`/`alproto_tc`), `to_server`, `to_client`, `either`,
//!   `final` (the flow's) or `original` (the protocol before a protocol change; verdict
//!   never changes a flow's protocol, so, as Suricata on such flows, it is unknown).
//! - A negated test never matches while its result is still unknown.
//! - Several keywords in a rule all must hold; as Suricata, two non-negated ones, or a
//!   negated and a non-negated one, in the same mode are a conflict.
//! - A rule with no other test than this keyword (and flowbits set, `flow`) is
//!   "protocol-detection-only": it matches only on the packet whose data completed a
//!   direction's detection (Suricata's `SIG_TYPE_PDONLY`), not on every packet after.
//!   The engine decides that from the compiled program ([`pd_only`]).

use super::{split_args, KwError};
use crate::ir::{AppProto, FlowbitCmd, Rule, StateTest};
use serde::{Deserialize, Serialize};

/// One value of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlpValue {
    /// A protocol.
    Proto(AppProto),
    /// `failed`: detection gave up.
    Failed,
    /// `unknown`: detection has not concluded.
    Unknown,
}

/// Which detection result the test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlpMode {
    /// The packet's direction.
    Direction,
    /// The flow's protocol.
    Final,
    /// Either direction's.
    Either,
    /// The client-to-server direction's.
    ToServer,
    /// The server-to-client direction's.
    ToClient,
    /// The protocol before a protocol change.
    Original,
}

impl AlpMode {
    const NAMES: &'static [(&'static str, AlpMode)] = &[
        ("direction", AlpMode::Direction),
        ("final", AlpMode::Final),
        ("either", AlpMode::Either),
        ("to_server", AlpMode::ToServer),
        ("to_client", AlpMode::ToClient),
        ("original", AlpMode::Original),
    ];

    fn from_name(s: &str) -> Option<AlpMode> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, m)| *m)
    }

    /// The mode as written in rules.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("direction", |(n, _)| n)
    }
}

/// One `app-layer-protocol` keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppLayerProtocol {
    /// `!`: none of the values.
    pub negated: bool,
    /// The values, any of which matches.
    pub values: Vec<AlpValue>,
    /// Which result is read.
    pub mode: AlpMode,
}

/// Most values in one keyword, as Suricata's limit.
const MAX_VALUES: usize = 16;

/// Parses the value after the colon (quotes optional, as Suricata's).
pub fn parse(value: &str) -> Result<AppLayerProtocol, KwError> {
    let lead = value.len() - value.trim_start().len();
    let mut text = value.trim();
    let mut base = lead;
    let mut negated = false;
    if let Some(rest) = text.strip_prefix('!') {
        negated = true;
        base += 1 + (rest.len() - rest.trim_start().len());
        text = rest.trim_start();
    }
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        base += 1;
        text = inner;
    }
    if text.trim().is_empty() {
        return Err(KwError::value("app-layer-protocol needs a protocol")
            .help("e.g. app-layer-protocol:http; or app-layer-protocol:!tls,to_server;"));
    }
    let mut args = split_args(text);
    let mut mode = AlpMode::Direction;
    // The last of two or more tokens is a mode when it names one; a lone token is a protocol.
    if args.len() >= 2 {
        if let Some(m) = args.last().and_then(|&(_, t)| AlpMode::from_name(t)) {
            mode = m;
            args.pop();
        }
    }
    if args.len() > MAX_VALUES {
        return Err(KwError::value(format!(
            "app-layer-protocol takes at most {MAX_VALUES} protocols"
        )));
    }
    let mut values = Vec::new();
    for (at, tok) in args {
        let at = base + at;
        let v = match tok {
            "failed" => AlpValue::Failed,
            "unknown" if negated => {
                return Err(KwError::value("app-layer-protocol cannot negate `unknown`")
                    .at(at, at + tok.len()));
            }
            "unknown" => AlpValue::Unknown,
            _ => match AppProto::from_name(tok) {
                Some(p) => AlpValue::Proto(p),
                None => {
                    let what = if tok.is_empty() {
                        "an empty protocol name".to_string()
                    } else {
                        format!("`{tok}` is not an application protocol")
                    };
                    return Err(KwError::value(what)
                        .at(at, at + tok.len())
                        .help("a protocol such as http, tls, dns, ssh, smtp, or failed/unknown, then optionally direction, final, either, to_server, to_client or original"));
                }
            },
        };
        if !values.contains(&v) {
            values.push(v);
        }
    }
    Ok(AppLayerProtocol {
        negated,
        values,
        mode,
    })
}

/// The canonical value (`!http,tls,either`).
pub fn text(a: &AppLayerProtocol) -> String {
    let mut s = String::new();
    if a.negated {
        s.push('!');
    }
    let names: Vec<&str> = a
        .values
        .iter()
        .map(|v| match v {
            AlpValue::Proto(p) => p.name(),
            AlpValue::Failed => "failed",
            AlpValue::Unknown => "unknown",
        })
        .collect();
    s.push_str(&names.join(","));
    if a.mode != AlpMode::Direction {
        s.push(',');
        s.push_str(a.mode.name());
    }
    s
}

/// Why `new` cannot join a rule that already has `earlier` (Suricata's conflicts: in one
/// mode, two non-negated tests, or a negated and a non-negated one).
pub fn conflict(earlier: &AppLayerProtocol, new: &AppLayerProtocol) -> Option<&'static str> {
    if earlier.mode != new.mode || (earlier.negated && new.negated) {
        return None;
    }
    if !earlier.negated && !new.negated {
        Some("a rule may have one non-negated app-layer-protocol per mode")
    } else {
        Some("a rule cannot mix a negated and a non-negated app-layer-protocol in one mode")
    }
}

/// True when the rule's tests are its `app-layer-protocol` keywords alone (with `flow` and
/// flowbits that only set): it matches on the packet that completed detection only.
pub fn pd_only(rule: &Rule) -> bool {
    let has = rule
        .state
        .iter()
        .any(|t| matches!(t, StateTest::AppProto(_)));
    has && rule
        .state
        .iter()
        .all(|t| matches!(t, StateTest::AppProto(_)))
        && rule.payload.is_empty()
        && rule.header.is_empty()
        && !matches!(rule.proto, crate::ir::Protocol::App(_))
        && rule
            .flowbits
            .iter()
            .all(|f| !matches!(f.cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet))
}

/// The UDP protocols the engine detects (by probing each direction's first datagram on
/// their ports): a positive test naming only them runs on a `udp` rule. Negations,
/// `failed` and other protocols stay TCP-only, since a UDP flow of a protocol verdict does
/// not probe (DHCP, NTP, ...) would read as failed where Suricata knows it.
fn udp_detected(v: &AlpValue) -> bool {
    matches!(
        v,
        AlpValue::Proto(AppProto::Dns | AppProto::Snmp | AppProto::Krb5)
    )
}

/// Why the engine cannot run the rule's `app-layer-protocol` tests, if it cannot: a
/// protocol that detection never reports (the test could never hold, and its negation would
/// hold on that protocol's flows), or a transport other than TCP, whose flows verdict does
/// not run detection on — except positive tests of the UDP protocols it probes
/// ([`udp_detected`]).
pub fn rejection(rule: &Rule, caps: crate::caps::EngineCaps) -> Option<String> {
    use crate::ir::Protocol;
    let tests = rule.state.iter().filter_map(|t| match t {
        StateTest::AppProto(a) => Some(a),
        _ => None,
    });
    for a in tests {
        if rule.proto == Protocol::Udp && !a.negated && a.values.iter().all(udp_detected) {
            continue;
        }
        if rule.proto == Protocol::Udp {
            return Some(
                "app-layer-protocol on a udp rule: verdict detects only dns, snmp and krb5 on UDP, \
                 and tests them only positively"
                    .to_string(),
            );
        }
        if matches!(
            rule.proto,
            Protocol::Icmp | Protocol::Icmpv6 | Protocol::Sctp
        ) {
            return Some(format!(
                "app-layer-protocol on a {} rule: verdict detects protocols on TCP flows only",
                rule.proto.name()
            ));
        }
        for v in &a.values {
            if let AlpValue::Proto(p) = *v {
                if !caps.runs_proto(p) {
                    return Some(format!(
                        "app-layer-protocol {}: verdict does not detect that protocol yet",
                        p.name()
                    ));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_modes() {
        let a = parse("http").unwrap();
        assert_eq!(
            a,
            AppLayerProtocol {
                negated: false,
                values: vec![AlpValue::Proto(AppProto::Http)],
                mode: AlpMode::Direction
            }
        );
        assert_eq!(text(&a), "http");
        let a = parse(" ! \"tls, either\"").unwrap();
        assert!(a.negated);
        assert_eq!(a.mode, AlpMode::Either);
        assert_eq!(text(&a), "!tls,either");
        assert_eq!(parse(&text(&a)).unwrap(), a);
        let a = parse("http1,ssl,dns,to_client").unwrap();
        assert_eq!(text(&a), "http,tls,dns,to_client");
        assert_eq!(parse("failed").unwrap().values, vec![AlpValue::Failed]);
        assert_eq!(parse("unknown,final").unwrap().mode, AlpMode::Final);
        // A lone token is a protocol, never a mode.
        assert!(parse("final").is_err());
        for m in [
            "direction",
            "final",
            "either",
            "to_server",
            "to_client",
            "original",
        ] {
            let a = parse(&format!("smtp,{m}")).unwrap();
            assert_eq!(a.mode.name(), m);
            assert_eq!(parse(&text(&a)).unwrap(), a);
        }
    }

    #[test]
    fn bad_values_point_at_the_token() {
        let e = parse("http,bogus").unwrap_err();
        assert_eq!(e.at, Some((5, 10)), "{e:?}");
        let e = parse("!unknown").unwrap_err();
        assert_eq!(e.at, Some((1, 8)), "{e:?}");
        let e = parse("tls,,either").unwrap_err();
        assert_eq!(e.at, Some((4, 4)), "{e:?}");
        let e = parse("\"htp\"").unwrap_err();
        assert_eq!(e.at, Some((1, 4)), "{e:?}");
        assert!(parse("").is_err());
        assert!(parse("!").is_err());
        let many = vec!["http"; 17].join(",");
        assert!(parse(&many).is_err());
    }

    #[test]
    fn conflicts_as_suricata() {
        let p = |s| parse(s).unwrap();
        assert!(conflict(&p("http"), &p("tls")).is_some());
        assert!(conflict(&p("!smtp"), &p("http")).is_some());
        assert!(conflict(&p("http"), &p("!smtp")).is_some());
        assert!(conflict(&p("!http"), &p("!smtp")).is_none());
        assert!(conflict(&p("http,to_server"), &p("tls,to_client")).is_none());
        assert!(conflict(&p("http"), &p("!http,final")).is_none());
    }
}

//! Exception policies (Suricata 7/8): what the engine does with a packet, or its whole flow,
//! when it cannot inspect it properly — a TCP session picked up without its handshake
//! (midstream), a memory cap hit (stream, reassembly, defrag, flow table), an app-layer
//! parser error.
//!
//! Resolution follows Suricata's `util-exception-policy.c`:
//! - a per-condition setting wins (`auto` there means drop-flow, or drop-packet where only
//!   the packet can be acted on, in IPS mode, and ignore in IDS mode);
//! - else the master switch (`exception-policy`) applies; `auto` also means ignore for the
//!   midstream condition when midstream pickup is on, and drop policies mean ignore in IDS
//!   mode;
//! - with neither, the built-in default: drop-flow in IPS mode (ignore for midstream when
//!   pickup is on), ignore in IDS mode.
//!
//! Conditions that concern one packet only (defrag and flow-table memcaps) turn the flow
//! policies into their packet forms (drop-flow → drop-packet, pass-flow → pass-packet,
//! bypass → ignore).

/// One exception policy value, as Suricata spells it in suricata.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExceptionPolicy {
    /// Resolved by mode: drop-flow (or drop-packet) inline, ignore in IDS mode.
    Auto,
    /// Do nothing special (Suricata's "not set").
    Ignore,
    /// Drop this packet and every later packet of the flow, without inspection.
    DropFlow,
    /// Drop this packet only.
    DropPacket,
    /// Accept the rest of the flow without detection.
    PassFlow,
    /// Accept this packet without detection.
    PassPacket,
    /// Hand the flow back to the kernel (accept it uninspected).
    Bypass,
    /// Drop the flow and send a reset / ICMP error to the packet's sender.
    Reject,
}

impl ExceptionPolicy {
    /// Parses Suricata's spelling (`drop-flow`, `pass-packet`, `ignore`, …).
    pub fn parse(s: &str) -> Option<ExceptionPolicy> {
        Some(match s.trim() {
            "auto" => ExceptionPolicy::Auto,
            "ignore" => ExceptionPolicy::Ignore,
            "drop-flow" => ExceptionPolicy::DropFlow,
            "drop-packet" => ExceptionPolicy::DropPacket,
            "pass-flow" => ExceptionPolicy::PassFlow,
            "pass-packet" => ExceptionPolicy::PassPacket,
            "bypass" => ExceptionPolicy::Bypass,
            "reject" => ExceptionPolicy::Reject,
            _ => return None,
        })
    }

    /// The name EVE and the stats use (`drop_flow`, `ignore`, …).
    pub fn json_name(self) -> &'static str {
        match self {
            ExceptionPolicy::Auto => "auto",
            ExceptionPolicy::Ignore => "ignore",
            ExceptionPolicy::DropFlow => "drop_flow",
            ExceptionPolicy::DropPacket => "drop_packet",
            ExceptionPolicy::PassFlow => "pass_flow",
            ExceptionPolicy::PassPacket => "pass_packet",
            ExceptionPolicy::Bypass => "bypass",
            ExceptionPolicy::Reject => "reject",
        }
    }

    /// `auto` resolved: fail closed inline, ignore in IDS mode or with midstream pickup on.
    fn pick_auto(inline: bool, midstream: bool, flow: bool) -> ExceptionPolicy {
        match (inline && !midstream, flow) {
            (false, _) => ExceptionPolicy::Ignore,
            (true, true) => ExceptionPolicy::DropFlow,
            (true, false) => ExceptionPolicy::DropPacket,
        }
    }

    /// The packet-only form of a policy, for conditions that have no flow to act on.
    fn packet_form(self) -> ExceptionPolicy {
        match self {
            ExceptionPolicy::DropFlow => ExceptionPolicy::DropPacket,
            ExceptionPolicy::PassFlow => ExceptionPolicy::PassPacket,
            ExceptionPolicy::Bypass => ExceptionPolicy::Ignore,
            p => p,
        }
    }
}

/// The traffic exceptions a policy can be set for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// A TCP session seen without its handshake while midstream pickup is off
    /// (`stream.midstream-policy`).
    Midstream,
    /// The TCP session or reassembly memory cap was hit (`stream.memcap-policy`,
    /// `stream.reassembly.memcap-policy`).
    StreamMemcap,
    /// The defragmentation memory cap was hit (`defrag.memcap-policy`; packet only).
    DefragMemcap,
    /// The flow table is full and nothing could be evicted (`flow.memcap-policy`; packet only).
    FlowMemcap,
    /// An app-layer parser failed (`app-layer.error-policy`).
    AppLayerError,
}

impl Condition {
    /// Whether the policy can act on the flow (else only on the packet).
    fn flow_scoped(self) -> bool {
        !matches!(self, Condition::DefragMemcap | Condition::FlowMemcap)
    }

    /// Suricata's EVE `drop.reason` for a packet this condition dropped.
    pub fn drop_reason(self) -> &'static str {
        match self {
            Condition::Midstream => "stream midstream",
            // verdict's cap is on reassembly memory: Suricata's reassembly memcap reason.
            Condition::StreamMemcap => "stream reassembly",
            Condition::DefragMemcap => "defrag memcap",
            Condition::FlowMemcap => "flow memcap",
            Condition::AppLayerError => "applayer error",
        }
    }

    /// The name EVE's `flow.exception_policy[].target` uses.
    pub fn target_name(self) -> &'static str {
        match self {
            Condition::Midstream => "stream_midstream",
            Condition::StreamMemcap => "stream_memcap",
            Condition::DefragMemcap => "defrag_memcap",
            Condition::FlowMemcap => "flow_memcap",
            Condition::AppLayerError => "app_layer_error",
        }
    }
}

/// The configured policies (the `[exception_policy]` table of verdict.toml, or the same
/// settings read from a suricata.yaml); `None` = not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionConfig {
    /// The master switch (`exception-policy`).
    pub master: Option<ExceptionPolicy>,
    /// `stream.midstream-policy`.
    pub midstream: Option<ExceptionPolicy>,
    /// `stream.memcap-policy` / `stream.reassembly.memcap-policy`.
    pub stream_memcap: Option<ExceptionPolicy>,
    /// `defrag.memcap-policy`.
    pub defrag_memcap: Option<ExceptionPolicy>,
    /// `flow.memcap-policy`.
    pub flow_memcap: Option<ExceptionPolicy>,
    /// `app-layer.error-policy`.
    pub app_layer_error: Option<ExceptionPolicy>,
}

/// Why a configuration is refused (Suricata refuses to start on the same settings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExceptionConfigError {
    /// A packet policy for the midstream condition, which is about a whole flow.
    #[error("midstream policy `{0}` is not valid: only flow policies (drop-flow, pass-flow, bypass, reject, ignore, auto) apply to a session")]
    MidstreamPacketPolicy(&'static str),
    /// With midstream pickup on, only pass-flow and ignore make sense.
    #[error("midstream policy `{0}` is not valid while midstream pickup is on (use pass-flow or ignore)")]
    MidstreamEnabled(&'static str),
}

/// The resolved policy per condition for one engine mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExceptionPolicies {
    /// Policy for [`Condition::Midstream`].
    pub midstream: ExceptionPolicy,
    /// Policy for [`Condition::StreamMemcap`].
    pub stream_memcap: ExceptionPolicy,
    /// Policy for [`Condition::DefragMemcap`].
    pub defrag_memcap: ExceptionPolicy,
    /// Policy for [`Condition::FlowMemcap`].
    pub flow_memcap: ExceptionPolicy,
    /// Policy for [`Condition::AppLayerError`].
    pub app_layer_error: ExceptionPolicy,
}

impl Default for ExceptionPolicies {
    /// Every condition ignored (an IDS engine's defaults).
    fn default() -> Self {
        ExceptionPolicies {
            midstream: ExceptionPolicy::Ignore,
            stream_memcap: ExceptionPolicy::Ignore,
            defrag_memcap: ExceptionPolicy::Ignore,
            flow_memcap: ExceptionPolicy::Ignore,
            app_layer_error: ExceptionPolicy::Ignore,
        }
    }
}

impl ExceptionConfig {
    /// Resolves every condition for an engine that is `inline` (IPS) or not, with midstream
    /// pickup on or off.
    pub fn resolve(
        &self,
        inline: bool,
        midstream: bool,
    ) -> Result<ExceptionPolicies, ExceptionConfigError> {
        let one = |c: Condition, set: Option<ExceptionPolicy>| {
            let flow = c.flow_scoped();
            let p = match (set, self.master) {
                (Some(ExceptionPolicy::Auto), _) => {
                    let ms = c == Condition::Midstream && midstream;
                    ExceptionPolicy::pick_auto(inline, ms, flow)
                }
                (Some(p), _) => p,
                (None, Some(m)) => {
                    let m = match m {
                        ExceptionPolicy::DropFlow | ExceptionPolicy::DropPacket if !inline => {
                            ExceptionPolicy::Ignore
                        }
                        m => m,
                    };
                    if m == ExceptionPolicy::Auto {
                        let ms = c == Condition::Midstream && midstream;
                        ExceptionPolicy::pick_auto(inline, ms, flow)
                    } else {
                        m
                    }
                }
                (None, None) => {
                    let ms = c == Condition::Midstream && midstream;
                    if inline && !ms {
                        ExceptionPolicy::DropFlow
                    } else {
                        ExceptionPolicy::Ignore
                    }
                }
            };
            if flow {
                p
            } else {
                p.packet_form()
            }
        };
        let mid = one(Condition::Midstream, self.midstream);
        if let Some(set) = self.midstream {
            let name = set.json_name();
            if matches!(
                set,
                ExceptionPolicy::DropPacket | ExceptionPolicy::PassPacket
            ) {
                return Err(ExceptionConfigError::MidstreamPacketPolicy(name));
            }
            if midstream
                && !matches!(
                    set,
                    ExceptionPolicy::Ignore | ExceptionPolicy::PassFlow | ExceptionPolicy::Auto
                )
            {
                return Err(ExceptionConfigError::MidstreamEnabled(name));
            }
        }
        // A master switch with a packet form leaves the midstream condition alone: it is
        // about a session, and Suricata refuses a packet policy there.
        let mid = match mid {
            ExceptionPolicy::DropPacket | ExceptionPolicy::PassPacket => ExceptionPolicy::Ignore,
            p => p,
        };
        Ok(ExceptionPolicies {
            midstream: mid,
            stream_memcap: one(Condition::StreamMemcap, self.stream_memcap),
            defrag_memcap: one(Condition::DefragMemcap, self.defrag_memcap),
            flow_memcap: one(Condition::FlowMemcap, self.flow_memcap),
            app_layer_error: one(Condition::AppLayerError, self.app_layer_error),
        })
    }

    /// Fills the settings this one leaves unset from `other` (verdict.toml over suricata.yaml).
    pub fn or(self, other: ExceptionConfig) -> ExceptionConfig {
        ExceptionConfig {
            master: self.master.or(other.master),
            midstream: self.midstream.or(other.midstream),
            stream_memcap: self.stream_memcap.or(other.stream_memcap),
            defrag_memcap: self.defrag_memcap.or(other.defrag_memcap),
            flow_memcap: self.flow_memcap.or(other.flow_memcap),
            app_layer_error: self.app_layer_error.or(other.app_layer_error),
        }
    }
}

impl ExceptionPolicies {
    /// The policy for one condition.
    pub fn get(&self, c: Condition) -> ExceptionPolicy {
        match c {
            Condition::Midstream => self.midstream,
            Condition::StreamMemcap => self.stream_memcap,
            Condition::DefragMemcap => self.defrag_memcap,
            Condition::FlowMemcap => self.flow_memcap,
            Condition::AppLayerError => self.app_layer_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExceptionPolicy::*;

    #[test]
    fn built_in_defaults_fail_closed_inline_only() {
        let c = ExceptionConfig::default();
        let ips = c.resolve(true, false).unwrap();
        assert_eq!(ips.midstream, DropFlow);
        assert_eq!(ips.app_layer_error, DropFlow);
        assert_eq!(ips.defrag_memcap, DropPacket);
        // Midstream pickup on: a session without handshake is not an exception.
        assert_eq!(c.resolve(true, true).unwrap().midstream, Ignore);
        assert_eq!(
            c.resolve(false, false).unwrap(),
            ExceptionPolicies::default()
        );
    }

    #[test]
    fn master_switch_and_specific_settings() {
        let auto = ExceptionConfig {
            master: Some(Auto),
            ..Default::default()
        };
        assert_eq!(auto.resolve(true, false).unwrap().midstream, DropFlow);
        assert_eq!(auto.resolve(true, true).unwrap().midstream, Ignore);
        assert_eq!(auto.resolve(false, false).unwrap().midstream, Ignore);
        let ignore = ExceptionConfig {
            master: Some(Ignore),
            ..Default::default()
        };
        assert_eq!(
            ignore.resolve(true, false).unwrap(),
            ExceptionPolicies::default()
        );
        // A specific setting wins over the master switch.
        let reject = ExceptionConfig {
            master: Some(Ignore),
            midstream: Some(Reject),
            ..Default::default()
        };
        assert_eq!(reject.resolve(true, false).unwrap().midstream, Reject);
        // Drop policies mean nothing in IDS mode.
        let drop = ExceptionConfig {
            master: Some(DropFlow),
            ..Default::default()
        };
        assert_eq!(drop.resolve(false, false).unwrap().stream_memcap, Ignore);
        // Packet-only conditions take the packet form.
        assert_eq!(drop.resolve(true, false).unwrap().flow_memcap, DropPacket);
    }

    #[test]
    fn invalid_midstream_policies_are_refused() {
        let packet = ExceptionConfig {
            midstream: Some(DropPacket),
            ..Default::default()
        };
        assert!(packet.resolve(true, false).is_err());
        let with_pickup = ExceptionConfig {
            midstream: Some(DropFlow),
            ..Default::default()
        };
        assert!(with_pickup.resolve(true, true).is_err());
        assert!(with_pickup.resolve(true, false).is_ok());
    }

    #[test]
    fn names_round_trip() {
        for n in [
            "auto",
            "ignore",
            "drop-flow",
            "drop-packet",
            "pass-flow",
            "pass-packet",
            "bypass",
            "reject",
        ] {
            let p = ExceptionPolicy::parse(n).unwrap();
            assert_eq!(p.json_name(), n.replace('-', "_"));
        }
        assert_eq!(ExceptionPolicy::parse("drop"), None);
    }
}

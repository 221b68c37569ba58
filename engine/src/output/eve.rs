//! EVE JSON and fast.log formatting with Suricata's field names and layouts, so jq scripts,
//! SIEM pipelines and test suites written for Suricata read verdict's output unchanged.

use super::{AlertEvent, AppInfo, Event, HttpInfo, PacketInfo};
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

struct Tm {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
    us: u32,
}

fn tm(ts: SystemTime) -> Tm {
    let d = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, day) = civil((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Tm {
        y,
        mo,
        d: day,
        h: rem / 3600,
        mi: rem / 60 % 60,
        s: rem % 60,
        us: d.subsec_micros(),
    }
}

/// Suricata's EVE timestamp: `2026-11-23T16:29:39.123456+0000` (UTC).
pub fn eve_timestamp(ts: SystemTime) -> String {
    let t = tm(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
        t.y, t.mo, t.d, t.h, t.mi, t.s, t.us
    )
}

/// Suricata's fast.log timestamp: `11/23/2026-16:29:39.123456`.
pub fn fast_timestamp(ts: SystemTime) -> String {
    let t = tm(ts);
    format!(
        "{:02}/{:02}/{:04}-{:02}:{:02}:{:02}.{:06}",
        t.mo, t.d, t.y, t.h, t.mi, t.s, t.us
    )
}

/// Descriptions of Snort's `classification.config` classtypes (with Suricata's additions):
/// EVE's `alert.category` and fast.log's `[Classification: …]` carry the description, not the
/// short name, in both engines.
const CLASSIFICATIONS: &[(&str, &str)] = &[
    ("not-suspicious", "Not Suspicious Traffic"),
    ("unknown", "Unknown Traffic"),
    ("bad-unknown", "Potentially Bad Traffic"),
    ("attempted-recon", "Attempted Information Leak"),
    ("successful-recon-limited", "Information Leak"),
    (
        "successful-recon-largescale",
        "Large Scale Information Leak",
    ),
    ("attempted-dos", "Attempted Denial of Service"),
    ("successful-dos", "Denial of Service"),
    ("attempted-user", "Attempted User Privilege Gain"),
    ("unsuccessful-user", "Unsuccessful User Privilege Gain"),
    ("successful-user", "Successful User Privilege Gain"),
    ("attempted-admin", "Attempted Administrator Privilege Gain"),
    (
        "successful-admin",
        "Successful Administrator Privilege Gain",
    ),
    ("rpc-portmap-decode", "Decode of an RPC Query"),
    ("shellcode-detect", "Executable code was detected"),
    ("string-detect", "A suspicious string was detected"),
    (
        "suspicious-filename-detect",
        "A suspicious filename was detected",
    ),
    (
        "suspicious-login",
        "An attempted login using a suspicious username was detected",
    ),
    ("system-call-detect", "A system call was detected"),
    ("tcp-connection", "A TCP connection was detected"),
    ("trojan-activity", "A Network Trojan was detected"),
    (
        "unusual-client-port-connection",
        "A client was using an unusual port",
    ),
    ("network-scan", "Detection of a Network Scan"),
    (
        "denial-of-service",
        "Detection of a Denial of Service Attack",
    ),
    (
        "non-standard-protocol",
        "Detection of a non-standard protocol or event",
    ),
    ("protocol-command-decode", "Generic Protocol Command Decode"),
    (
        "web-application-activity",
        "access to a potentially vulnerable web application",
    ),
    ("web-application-attack", "Web Application Attack"),
    ("misc-activity", "Misc activity"),
    ("misc-attack", "Misc Attack"),
    ("icmp-event", "Generic ICMP event"),
    (
        "inappropriate-content",
        "Inappropriate Content was Detected",
    ),
    ("policy-violation", "Potential Corporate Privacy Violation"),
    (
        "default-login-attempt",
        "Attempt to login by a default username and password",
    ),
    ("sdf", "Sensitive Data was Transmitted Across the Network"),
    ("file-format", "Known malicious file or file based exploit"),
    ("malware-cnc", "Known malware command and control traffic"),
    ("client-side-exploit", "Known client side exploit attempt"),
    ("kickass-porn", "SCORE! Get the lotion!"),
    (
        "targeted-activity",
        "Targeted Malicious Activity was Detected",
    ),
    ("exploit-kit", "Exploit Kit Activity Detected"),
    (
        "external-ip-check",
        "Device Retrieving External IP Address Detected",
    ),
    ("domain-c2", "Domain Observed Used for C2 Detected"),
    ("pup-activity", "Possibly Unwanted Program Detected"),
    ("credential-theft", "Successful Credential Theft Detected"),
    (
        "social-engineering",
        "Possible Social Engineering Attempted",
    ),
    ("coin-mining", "Crypto Currency Mining Activity Detected"),
    (
        "command-and-control",
        "Malware Command and Control Activity Detected",
    ),
];

/// The description of a classtype (the name itself when it is not a standard one).
pub fn classification(classtype: &str) -> &str {
    CLASSIFICATIONS
        .iter()
        .find(|(n, _)| *n == classtype)
        .map_or(classtype, |(_, d)| d)
}

/// Suricata's protocol names (IANA's keywords).
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        4 => "IPv4".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        41 => "IPv6".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        58 => "IPv6-ICMP".into(),
        132 => "SCTP".into(),
        n => n.to_string(),
    }
}

fn json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn has_ports(p: u8) -> bool {
    matches!(p, 6 | 17 | 132)
}

fn common(out: &mut String, p: &PacketInfo, event_type: &str) {
    out.push_str("{\"timestamp\":\"");
    out.push_str(&eve_timestamp(p.ts));
    out.push('"');
    if let Some(f) = p.flow_id {
        let _ = write!(out, ",\"flow_id\":{f}");
    }
    if let Some(c) = p.pcap_cnt {
        let _ = write!(out, ",\"pcap_cnt\":{c}");
    }
    if let Some(i) = &p.in_iface {
        out.push_str(",\"in_iface\":");
        json_str(out, i);
    }
    let _ = write!(
        out,
        ",\"event_type\":\"{event_type}\",\"src_ip\":\"{}\"",
        p.src_ip
    );
    if has_ports(p.proto) {
        let _ = write!(out, ",\"src_port\":{}", p.src_port);
    }
    let _ = write!(out, ",\"dest_ip\":\"{}\"", p.dest_ip);
    if has_ports(p.proto) {
        let _ = write!(out, ",\"dest_port\":{}", p.dest_port);
    }
    let _ = write!(out, ",\"proto\":\"{}\"", proto_name(p.proto));
    if let Some(ts) = p.to_server {
        let _ = write!(
            out,
            ",\"direction\":\"{}\"",
            if ts { "to_server" } else { "to_client" }
        );
    }
}

/// Appends one EVE JSON object (no newline); an alert whose packet is packet number
/// `evidence` (from 1) of `evidence.pcap` says so in `verdict_evidence`.
pub fn format_with_evidence(ev: &Event, evidence: Option<u64>, out: &mut String) {
    format(ev, out);
    if let (Event::Alert(_) | Event::Tagged(_), Some(n)) = (ev, evidence) {
        // `format` ends the object with its closing brace; the field goes before it.
        if out.ends_with('}') {
            out.pop();
            let _ = write!(
                out,
                ",\"verdict_evidence\":{{\"file\":\"evidence.pcap\",\"packet\":{n}}}}}"
            );
        }
    }
}

/// Appends one EVE JSON object (no newline).
pub fn format(ev: &Event, out: &mut String) {
    match ev {
        Event::Alert(a) => {
            common(out, &a.pkt, "alert");
            let _ = write!(
                out,
                ",\"alert\":{{\"action\":\"{}\",\"gid\":{},\"signature_id\":{},\"rev\":{},\"signature\":",
                if a.blocked { "blocked" } else { "allowed" },
                a.gid,
                a.sid,
                a.rev
            );
            json_str(out, &a.signature);
            out.push_str(",\"category\":");
            json_str(out, a.category.as_deref().unwrap_or(""));
            let _ = write!(out, ",\"severity\":{}", a.severity);
            out.push_str(",\"verdict_matches\":[");
            for (i, (o, l)) in a.matches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{{\"offset\":{o},\"length\":{l}}}");
            }
            out.push(']');
            if !a.context.is_empty() {
                // Suricata's datajson enrichment: one object per context_key, the first
                // match of a key wins. The JSON was serialized when the set was loaded.
                out.push_str(",\"context\":{");
                let mut seen: Vec<&str> = Vec::new();
                for (k, v) in &a.context {
                    if seen.contains(&&**k) {
                        continue;
                    }
                    if !seen.is_empty() {
                        out.push(',');
                    }
                    seen.push(k);
                    json_str(out, k);
                    out.push(':');
                    out.push_str(v);
                }
                out.push('}');
            }
            let _ = write!(out, "}},\"rule_action\":\"{}\"", a.rule_action);
            if let Some(t) = &a.pkt.tunnel {
                tunnel_object(out, t, a.pkt.pcap_cnt);
            }
            match a.app.as_deref() {
                Some(AppInfo::Http(h)) => {
                    out.push_str(",\"app_proto\":\"http\",");
                    http_object(out, h);
                }
                Some(AppInfo::Dns(d)) => serde_object(out, "dns", d),
                Some(AppInfo::Tls(t)) => serde_object(out, "tls", t),
                Some(AppInfo::Object { proto, object }) => serde_object(out, proto, object),
                None => {}
            }
            out.push('}');
        }
        Event::Tagged(t) => {
            // Suricata's `packet` record (`tagged-packets: yes`): the packet in base64 and
            // its link type (raw IP, as in the evidence pcap); the tagging rule is ours.
            use base64::Engine as _;
            common(out, &t.pkt, "packet");
            out.push_str(",\"packet\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(&t.pkt.bytes, out);
            let _ = write!(
                out,
                "\",\"packet_info\":{{\"linktype\":101}},\"verdict_tag\":{{\"gid\":{},\"signature_id\":{}}}}}",
                t.gid, t.sid
            );
        }
        Event::FileInfo(f) => {
            common(out, &f.pkt, "fileinfo");
            out.push_str(",\"app_proto\":\"http\",");
            http_object(out, &f.http);
            out.push_str(",\"fileinfo\":{\"filename\":");
            json_str(out, &f.filename);
            let _ = write!(
                out,
                ",\"gaps\":false,\"state\":\"{}\",\"stored\":false,\"size\":{},\"tx_id\":{}}}}}",
                f.state, f.size, f.tx_id
            );
        }
        Event::Drop(d) => {
            common(out, &d.pkt, "drop");
            let (ttl, tos, id) = d.pkt.ip_fields;
            let _ = write!(
                out,
                ",\"drop\":{{\"len\":{},\"tos\":{},\"ttl\":{},\"ipid\":{},\"reason\":\"{}\",\"signature_id\":{}}}",
                d.pkt.bytes.len(),
                tos,
                ttl,
                id,
                d.reason,
                d.sid
            );
            if let Some(r) = &d.rule {
                let _ = write!(
                    out,
                    ",\"alert\":{{\"action\":\"blocked\",\"gid\":{},\"signature_id\":{},\"rev\":{},\"signature\":",
                    r.gid, d.sid, r.rev
                );
                json_str(out, &r.signature);
                out.push('}');
            }
            out.push('}');
        }
        Event::Anomaly(a) => {
            out.push_str("{\"timestamp\":\"");
            out.push_str(&eve_timestamp(a.ts));
            out.push('"');
            if let Some(c) = a.pcap_cnt {
                let _ = write!(out, ",\"pcap_cnt\":{c}");
            }
            out.push_str(",\"event_type\":\"anomaly\"");
            if let Some((s, d)) = a.addrs {
                let _ = write!(out, ",\"src_ip\":\"{s}\",\"dest_ip\":\"{d}\"");
            }
            let _ = write!(
                out,
                ",\"anomaly\":{{\"type\":\"decode\",\"event\":\"{}\"}}}}",
                a.event
            );
        }
    }
}

/// Appends `,"app_proto":"<name>","<name>":{...}` from a serializable parser object.
/// Suricata's alert `tunnel` object: the outermost packet's addresses, ports and protocol,
/// the inner packet's depth, and the capture packet number they share.
fn tunnel_object(out: &mut String, t: &crate::output::TunnelInfo, pcap_cnt: Option<u64>) {
    let _ = write!(
        out,
        ",\"tunnel\":{{\"src_ip\":\"{}\",\"src_port\":{},\"dest_ip\":\"{}\",\"dest_port\":{},\"proto\":\"{}\",\"depth\":{}",
        t.src_ip,
        t.src_port,
        t.dest_ip,
        t.dest_port,
        proto_name(t.proto),
        t.depth
    );
    if let Some(c) = pcap_cnt {
        let _ = write!(out, ",\"pcap_cnt\":{c}");
    }
    out.push('}');
}

fn serde_object(out: &mut String, name: &str, v: &impl serde::Serialize) {
    // The parser objects hold strings and numbers only: serialization cannot fail.
    if let Ok(json) = serde_json::to_string(v) {
        let _ = write!(out, ",\"app_proto\":\"{name}\",\"{name}\":{json}");
    }
}

/// Appends Suricata's `"http":{...}` object.
fn http_object(out: &mut String, h: &HttpInfo) {
    out.push_str("\"http\":{");
    let mut first = true;
    let mut field = |out: &mut String, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "\"{k}\":");
            json_str(out, v);
        }
    };
    field(out, "hostname", &h.hostname);
    field(out, "url", &h.url);
    field(out, "http_user_agent", &h.user_agent);
    field(out, "http_content_type", &h.content_type);
    field(out, "http_method", &h.method);
    field(out, "protocol", &h.protocol);
    if !first {
        out.push(',');
    }
    if let Some(s) = h.status {
        let _ = write!(out, "\"status\":{s},");
    }
    let _ = write!(out, "\"length\":{}}}", h.length);
}

/// Appends one fast.log line (no newline) in Suricata's layout.
pub fn fast_line(a: &AlertEvent, out: &mut String) {
    let p = &a.pkt;
    out.push_str(&fast_timestamp(p.ts));
    out.push_str("  ");
    if a.blocked {
        out.push_str("[Drop] ");
    } else if matches!(a.rule_action, "drop" | "sdrop") || a.rule_action.starts_with("reject") {
        // Suricata's mark for a drop rule that did not drop (IDS mode): "would drop".
        out.push_str("[wDrop] ");
    }
    let _ = write!(
        out,
        "[**] [{}:{}:{}] {} [**] [Classification: {}] [Priority: {}] {{{}}} ",
        a.gid,
        a.sid,
        a.rev,
        a.signature,
        a.category.as_deref().unwrap_or("(null)"),
        a.severity,
        proto_name(p.proto)
    );
    if has_ports(p.proto) {
        let _ = write!(
            out,
            "{}:{} -> {}:{}",
            p.src_ip, p.src_port, p.dest_ip, p.dest_port
        );
    } else {
        let _ = write!(out, "{} -> {}", p.src_ip, p.dest_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{AnomalyEvent, DropEvent};
    use std::sync::Arc;
    use std::time::Duration;

    fn pkt() -> Arc<PacketInfo> {
        Arc::new(PacketInfo {
            ts: UNIX_EPOCH + Duration::from_micros(1_795_969_779_123_456),
            flow_id: Some(42),
            pcap_cnt: Some(3),
            in_iface: None,
            src_ip: "192.0.2.2".parse().unwrap(),
            dest_ip: "198.51.100.2".parse().unwrap(),
            src_port: 40000,
            dest_port: 80,
            proto: 6,
            to_server: Some(true),
            bytes: vec![0x45; 40],
            ip_fields: (64, 0, 7),
            tunnel: None,
        })
    }

    #[test]
    fn timestamps_are_suricata_format() {
        assert_eq!(eve_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000+0000");
        let t = UNIX_EPOCH + Duration::from_micros(1_795_969_779_123_456);
        assert_eq!(eve_timestamp(t), "2026-11-29T16:29:39.123456+0000");
        assert_eq!(fast_timestamp(t), "11/29/2026-16:29:39.123456");
        // leap day
        assert_eq!(
            &eve_timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400))[..10],
            "2000-02-29"
        );
    }

    #[test]
    fn alert_drop_and_anomaly_records_are_json_with_suricata_fields() {
        let a = AlertEvent {
            pkt: pkt(),
            blocked: true,
            gid: 1,
            sid: 1000001,
            rev: 2,
            signature: "TEST \"quoted\" msg".into(),
            category: Some("attempted-admin".into()),
            severity: 1,
            rule_action: "drop",
            matches: vec![(4, 3)],
            app: None,
            context: Vec::new(),
        };
        let mut s = String::new();
        format(&Event::Alert(Box::new(a.clone())), &mut s);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["event_type"], "alert");
        assert_eq!(v["pcap_cnt"], 3);
        assert_eq!(v["flow_id"], 42);
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["dest_port"], 80);
        assert_eq!(v["alert"]["action"], "blocked");
        assert_eq!(v["alert"]["signature_id"], 1000001);
        assert_eq!(v["alert"]["signature"], "TEST \"quoted\" msg");
        assert_eq!(v["alert"]["verdict_matches"][0]["offset"], 4);
        let mut f = String::new();
        fast_line(&a, &mut f);
        assert_eq!(
            f,
            "11/29/2026-16:29:39.123456  [Drop] [**] [1:1000001:2] TEST \"quoted\" msg [**] [Classification: attempted-admin] [Priority: 1] {TCP} 192.0.2.2:40000 -> 198.51.100.2:80"
        );
        let mut d = String::new();
        format(
            &Event::Drop(Box::new(DropEvent {
                pkt: pkt(),
                reason: "rules",
                sid: 5,
                rule: Some(crate::output::DropRule {
                    gid: 1,
                    rev: 2,
                    signature: "bad \"thing\"".into(),
                }),
            })),
            &mut d,
        );
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(v["drop"]["reason"], "rules");
        assert_eq!(v["alert"]["signature_id"], 5);
        assert_eq!(v["alert"]["action"], "blocked");
        assert_eq!(v["alert"]["signature"], "bad \"thing\"");
        assert_eq!(v["drop"]["ttl"], 64);
        let mut n = String::new();
        let an = AnomalyEvent {
            ts: UNIX_EPOCH,
            pcap_cnt: Some(9),
            event: "ipv4.frag_overlap",
            addrs: None,
        };
        format(&Event::Anomaly(Box::new(an)), &mut n);
        let v: serde_json::Value = serde_json::from_str(&n).unwrap();
        assert_eq!(v["anomaly"]["event"], "ipv4.frag_overlap");
    }
}

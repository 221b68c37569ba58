//! `app-layer-event` at run time: whether the parser raised the named anomaly on the
//! transaction being inspected — an HTTP transaction's event set, the TLS session's, or
//! the conditions of one DNS message (Suricata's DNS parser raises its events per message
//! from the same header bits and record sections).

use super::TxView;
use crate::app::dns::{DnsMessage, Section};
use verdict_compiler::ir::AppProto;
use verdict_compiler::keywords::app_event::AppEvent;

/// Whether `e` was raised on `view`; an event of another protocol never was.
pub fn raised(e: AppEvent, view: TxView<'_>) -> bool {
    match (e.app(), view) {
        (AppProto::Http, TxView::Http { tx }) => tx
            .events()
            .iter()
            .any(|h| h.name().strip_prefix("http.") == Some(e.name())),
        (AppProto::Tls, TxView::Tls { conn, .. }) => {
            conn.events().iter().any(|t| t.name() == e.name())
        }
        (AppProto::Dns, TxView::Dns { msg, to_server }) => dns_event(e.name(), msg, to_server),
        (AppProto::Ssh, TxView::Ssh { conn, .. }) => {
            conn.events().iter().any(|s| s.name() == e.name())
        }
        (AppProto::Krb5, TxView::Krb5 { msg }) => {
            e.name() == "weak_encryption" && msg.weak_encryption()
        }
        _ => false,
    }
}

/// Suricata's DNS events of one message seen going `to_server`. Opcodes 7-15 are
/// unassigned (Suricata: `opcode >= 7`).
fn dns_event(name: &str, msg: &DnsMessage, to_server: bool) -> bool {
    let opcode = (msg.flags >> 11) & 0xf;
    match name {
        "z_flag_set" => msg.z(),
        "invalid_opcode" => opcode >= 7,
        "not_request" => to_server && msg.is_response(),
        "not_response" => !to_server && !msg.is_response(),
        "malformed_data" => matches!(msg.malformed, Some(Section::Question | Section::Answer)),
        "invalid_authorities" => msg.malformed == Some(Section::Authority),
        "invalid_additionals" => msg.malformed == Some(Section::Additional),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::dns;
    use crate::app::http::{Dir, HttpConfig, HttpConn};
    use verdict_compiler::keywords::app_event::RAISED;

    fn ev(app: AppProto, name: &str) -> AppEvent {
        AppEvent::lookup(app, name).expect("raised event")
    }

    #[test]
    fn every_raised_event_name_is_one_the_engine_can_report() {
        use crate::app::http::HttpEvent;
        use crate::app::tls::TlsEvent;
        for &(app, name) in RAISED {
            let known = match app {
                AppProto::Http => HttpEvent::ALL
                    .iter()
                    .any(|h| h.name().strip_prefix("http.") == Some(name)),
                AppProto::Tls => TlsEvent::ALL.iter().any(|t| t.name() == name),
                AppProto::Dns => true,
                AppProto::Ssh => crate::app::ssh::SshEvent::ALL
                    .iter()
                    .any(|s| s.name() == name),
                AppProto::Krb5 => name == "weak_encryption",
                _ => false,
            };
            assert!(
                known,
                "{name} is in the compiler's table but no parser raises it"
            );
        }
    }

    #[test]
    fn dns_z_flag_and_direction_events() {
        // A query with Z (0x0040) set, id 0x1234.
        let q = b"\x12\x34\x01\x40\x00\x01\x00\x00\x00\x00\x00\x00\
                  \x03www\x07example\x03com\x00\x00\x01\x00\x01";
        let msg = dns::parse(q).expect("query");
        let view = |to_server| TxView::Dns {
            msg: &msg,
            to_server,
        };
        assert!(raised(ev(AppProto::Dns, "z_flag_set"), view(true)));
        assert!(!raised(ev(AppProto::Dns, "not_request"), view(true)));
        assert!(raised(ev(AppProto::Dns, "not_response"), view(false)));
        assert!(!raised(ev(AppProto::Dns, "invalid_opcode"), view(true)));
        assert!(!raised(
            ev(AppProto::Http, "request_field_too_long"),
            view(true)
        ));
        let plain = dns::parse(&[&q[..3], b"\x00", &q[4..]].concat()).expect("query");
        let view = TxView::Dns {
            msg: &plain,
            to_server: true,
        };
        assert!(!raised(ev(AppProto::Dns, "z_flag_set"), view));
    }

    #[test]
    fn http_events_are_read_from_the_transaction() {
        let mut c = HttpConn::new(&HttpConfig::default());
        c.feed(
            Dir::ToServer,
            b"GET / HTTP/1.1\r\nAuthorization: Turbo x\r\n\r\n",
        );
        let tx = c.tx(0).expect("tx");
        let view = TxView::Http { tx };
        assert!(raised(
            ev(AppProto::Http, "request_auth_unrecognized"),
            view
        ));
        assert!(!raised(ev(AppProto::Http, "request_field_too_long"), view));
    }
}

//! `app-layer-event:<proto>.<event>;` (Suricata): the rule matches when the app-layer parser
//! raised that anomaly on the transaction (HTTP), the session (TLS) or the message (DNS).
//!
//! The event is a transaction predicate ([`TxPred::AppEvent`]): it reads no buffer, it makes
//! the rule a transaction rule of the event's protocol, and it alerts once per transaction
//! like any transaction rule (Suricata's event rules "fire at most once per transaction /
//! connection").
//!
//! Names are checked against two tables per protocol:
//! - [`RAISED`]: events verdict's parsers raise, with Suricata's name and meaning. Append
//!   only: a predicate is encoded as its index here ([`AppEvent`]).
//! - [`NOT_RAISED`]: events Suricata knows but verdict's parsers never raise. A rule with one
//!   is rejected with that reason instead of being loaded as a rule that can never fire.
//!
//! Other protocols (`smtp.*`, `ftp.*`, `smb.*`, …) and the bare `applayer_*` engine events
//! are rejected: verdict raises none of them.

use super::txpred::{TxKeyword, TxPred};
use super::KwError;
use crate::diag::Code;
use crate::ir::AppProto;
use serde::{Deserialize, Serialize};

/// The keyword of this family.
pub const KEYWORDS: &[TxKeyword] = &[TxKeyword {
    name: "app-layer-event",
    parse: parse_app_event,
}];

/// Events verdict's parsers raise, by protocol and Suricata name. The position of an entry
/// is its bytecode encoding: only append.
pub const RAISED: &[(AppProto, &str)] = &[
    (AppProto::Http, "request_field_too_long"),
    (AppProto::Http, "response_field_too_long"),
    (AppProto::Http, "request_field_missing_colon"),
    (AppProto::Http, "response_field_missing_colon"),
    (AppProto::Http, "request_header_invalid"),
    (AppProto::Http, "response_header_invalid"),
    (AppProto::Http, "invalid_request_field_folding"),
    (AppProto::Http, "invalid_response_field_folding"),
    (AppProto::Http, "invalid_request_chunk_len"),
    (AppProto::Http, "invalid_response_chunk_len"),
    (AppProto::Http, "invalid_transfer_encoding_value_in_request"),
    (AppProto::Http, "response_abnormal_transfer_encoding"),
    (AppProto::Http, "invalid_content_length_field_in_request"),
    (AppProto::Http, "invalid_content_length_field_in_response"),
    (AppProto::Http, "duplicate_content_length_field_in_request"),
    (AppProto::Http, "duplicate_content_length_field_in_response"),
    (AppProto::Http, "100_continue_already_seen"),
    (AppProto::Http, "unable_to_match_response_to_request"),
    (AppProto::Http, "request_line_invalid"),
    (AppProto::Http, "request_line_leading_whitespace"),
    (AppProto::Http, "request_line_missing_protocol"),
    (AppProto::Http, "response_invalid_protocol"),
    (AppProto::Http, "response_invalid_status"),
    (AppProto::Http, "response_chunked_old_proto"),
    (AppProto::Http, "abnormal_ce_header"),
    (AppProto::Http, "too_many_encoding_layers"),
    (AppProto::Http, "gzip_decompression_failed"),
    (AppProto::Http, "compression_bomb"),
    (AppProto::Http, "request_auth_unrecognized"),
    (AppProto::Tls, "invalid_record_type"),
    (AppProto::Tls, "invalid_record_version"),
    (AppProto::Tls, "invalid_record_length"),
    (AppProto::Tls, "invalid_handshake_message"),
    (AppProto::Tls, "handshake_invalid_length"),
    (AppProto::Tls, "invalid_sni_type"),
    (AppProto::Tls, "invalid_sni_length"),
    (AppProto::Tls, "multiple_sni_extensions"),
    (AppProto::Tls, "invalid_certificate"),
    (AppProto::Tls, "certificate_invalid_length"),
    (AppProto::Dns, "malformed_data"),
    (AppProto::Dns, "not_request"),
    (AppProto::Dns, "not_response"),
    (AppProto::Dns, "z_flag_set"),
    (AppProto::Dns, "invalid_opcode"),
    (AppProto::Dns, "invalid_authorities"),
    (AppProto::Dns, "invalid_additionals"),
    (AppProto::Ssh, "invalid_banner"),
    (AppProto::Ssh, "long_banner"),
    (AppProto::Ssh, "invalid_record_length"),
    (AppProto::Ssh, "long_kex_record"),
    (AppProto::Krb5, "weak_encryption"),
];

/// Events Suricata raises that verdict's parsers never do (rules/*-events.rules and the
/// parsers' event tables of Suricata 7/8).
pub const NOT_RAISED: &[(AppProto, &str)] = &[
    (AppProto::Http, "unknown_error"),
    (
        AppProto::Http,
        "invalid_transfer_encoding_value_in_response",
    ),
    (AppProto::Http, "invalid_server_port_in_request"),
    (AppProto::Http, "invalid_authority_port"),
    (AppProto::Http, "missing_host_header"),
    (AppProto::Http, "host_header_ambiguous"),
    (AppProto::Http, "multipart_generic_error"),
    (AppProto::Http, "multipart_no_filedata"),
    (AppProto::Http, "multipart_invalid_header"),
    (AppProto::Http, "request_server_port_tcp_port_mismatch"),
    (AppProto::Http, "request_uri_host_invalid"),
    (AppProto::Http, "request_header_host_invalid"),
    (AppProto::Http, "uri_delim_non_compliant"),
    (AppProto::Http, "method_delim_non_compliant"),
    (AppProto::Http, "request_header_repetition"),
    (AppProto::Http, "response_header_repetition"),
    (AppProto::Http, "response_multipart_byteranges"),
    (AppProto::Http, "request_line_incomplete"),
    (AppProto::Http, "double_encoded_uri"),
    (AppProto::Http, "request_body_unexpected"),
    (AppProto::Http, "lzma_memlimit_reached"),
    (AppProto::Http, "too_many_warnings"),
    (AppProto::Http, "range_invalid"),
    (AppProto::Http, "file_name_too_long"),
    (AppProto::Http, "failed_protocol_change"),
    (AppProto::Http, "request_chunk_extension"),
    (AppProto::Http, "response_chunk_extension"),
    (AppProto::Http, "request_too_many_headers"),
    (AppProto::Http, "response_too_many_headers"),
    (AppProto::Tls, "invalid_sslv2_header"),
    (AppProto::Tls, "invalid_tls_header"),
    (AppProto::Tls, "certificate_missing_element"),
    (AppProto::Tls, "certificate_unknown_element"),
    (AppProto::Tls, "certificate_invalid_string"),
    (AppProto::Tls, "certificate_invalid_version"),
    (AppProto::Tls, "certificate_invalid_serial"),
    (AppProto::Tls, "certificate_invalid_algorithmidentifier"),
    (AppProto::Tls, "certificate_invalid_x509name"),
    (AppProto::Tls, "certificate_invalid_date"),
    (AppProto::Tls, "certificate_invalid_extensions"),
    (AppProto::Tls, "certificate_invalid_der"),
    (AppProto::Tls, "certificate_invalid_subject"),
    (AppProto::Tls, "certificate_invalid_issuer"),
    (AppProto::Tls, "certificate_invalid_validity"),
    (AppProto::Tls, "error_message_encountered"),
    (AppProto::Tls, "invalid_ssl_record"),
    (AppProto::Tls, "heartbeat_message"),
    (AppProto::Tls, "overflow_heartbeat_message"),
    (AppProto::Tls, "invalid_heartbeat_message"),
    (AppProto::Tls, "dataleak_heartbeat_mismatch"),
    (AppProto::Tls, "too_many_records_in_packet"),
    (AppProto::Dns, "flooded"),
    (AppProto::Dns, "state_memcap_reached"),
    (AppProto::Dns, "name_too_long"),
    (AppProto::Dns, "infinite_loop"),
    (AppProto::Dns, "too_many_labels"),
    (AppProto::Krb5, "malformed_data"),
    (AppProto::Snmp, "malformed_data"),
    (AppProto::Snmp, "unknown_security_model"),
    (AppProto::Snmp, "version_mismatch"),
];

/// Suricata's protocol-independent app-layer events (written without a protocol prefix).
pub const ENGINE_EVENTS: &[&str] = &[
    "applayer_mismatch_protocol_both_directions",
    "applayer_wrong_direction_first_data",
    "applayer_detect_protocol_only_one_direction",
    "applayer_proto_detection_skipped",
    "applayer_no_tls_after_starttls",
    "applayer_unexpected_protocol",
];

/// One event verdict raises: an index into [`RAISED`] (the field is private so that only a
/// valid index can be built; a deserialized one is checked with [`AppEvent::is_valid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppEvent(u8);

impl AppEvent {
    /// The event called `name` (without prefix) of `app`, if verdict raises it.
    pub fn lookup(app: AppProto, name: &str) -> Option<AppEvent> {
        RAISED
            .iter()
            .position(|&(a, n)| a == app && n == name)
            .and_then(|i| u8::try_from(i).ok())
            .map(AppEvent)
    }

    /// False for an index outside [`RAISED`] (a corrupt or newer bytecode file).
    pub fn is_valid(self) -> bool {
        usize::from(self.0) < RAISED.len()
    }

    /// The protocol whose parser raises the event (HTTP for an invalid index).
    pub fn app(self) -> AppProto {
        RAISED
            .get(usize::from(self.0))
            .map_or(AppProto::Http, |&(a, _)| a)
    }

    /// Suricata's name without the protocol prefix (empty for an invalid index).
    pub fn name(self) -> &'static str {
        RAISED.get(usize::from(self.0)).map_or("", |&(_, n)| n)
    }

    /// The rule text of the event: `proto.name`.
    pub fn text(self) -> String {
        format!("{}.{}", prefix(self.app()), self.name())
    }
}

/// The protocol prefix Suricata writes before the event name.
fn prefix(app: AppProto) -> &'static str {
    match app {
        AppProto::Tls => "tls",
        AppProto::Dns => "dns",
        AppProto::Ssh => "ssh",
        AppProto::Krb5 => "krb5",
        _ => "http",
    }
}

/// The protocols whose parsers raise events in verdict, by rule prefix.
fn parsed_proto(p: &str) -> Option<AppProto> {
    match p {
        "http" | "http1" => Some(AppProto::Http),
        "tls" => Some(AppProto::Tls),
        "dns" => Some(AppProto::Dns),
        "ssh" => Some(AppProto::Ssh),
        "krb5" => Some(AppProto::Krb5),
        "snmp" => Some(AppProto::Snmp),
        _ => None,
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `app-layer-event:[proto.]event` (one event per keyword, as in Suricata).
pub fn parse_app_event(value: Option<&str>) -> Result<TxPred, KwError> {
    let raw = value.unwrap_or("");
    let v = raw.trim();
    let lead = raw.len() - raw.trim_start().len();
    let end = lead + v.len();
    if v.is_empty() {
        return Err(KwError::value(
            "needs an event name such as `http.request_field_too_long`",
        ));
    }
    let Some((proto, name)) = v.split_once('.') else {
        if ENGINE_EVENTS.contains(&v) {
            return Err(KwError::code(
                Code::UnsupportedKeyword,
                format!("app-layer-event `{v}` is not supported: verdict does not raise app-layer detection events"),
            )
            .at(lead, end)
            .help("the rule is rejected rather than loaded as a rule that can never fire"));
        }
        return Err(KwError::value(format!("unknown event `{v}`"))
            .at(lead, end)
            .help("write it as PROTO.EVENT, e.g. `http.request_field_too_long`"));
    };
    let name_at = lead + proto.len() + 1;
    if !is_name(proto) || !is_name(name) {
        return Err(KwError::value(format!("`{v}` is not a PROTO.EVENT name")).at(lead, end));
    }
    let Some(app) = parsed_proto(proto) else {
        return Err(KwError::code(
            Code::UnsupportedKeyword,
            format!("app-layer-event `{v}` is not supported: verdict raises no {proto} events"),
        )
        .at(lead, lead + proto.len())
        .help("the rule is rejected rather than loaded as a rule that can never fire"));
    };
    if let Some(e) = AppEvent::lookup(app, name) {
        return Ok(TxPred::AppEvent(e));
    }
    if NOT_RAISED.iter().any(|&(a, n)| a == app && n == name) {
        return Err(KwError::code(
            Code::UnsupportedKeyword,
            format!(
                "app-layer-event `{v}` is not supported: verdict's {proto} parser never raises it"
            ),
        )
        .at(name_at, end)
        .help("the rule is rejected rather than loaded as a rule that can never fire"));
    }
    let err = KwError::value(format!("unknown {proto} event `{name}`")).at(name_at, end);
    Err(match closest(app, name) {
        Some(s) => err.help(format!("did you mean `{proto}.{s}`?")),
        None => err,
    })
}

/// The known event of `app` closest to a misspelt `name`, if close enough.
fn closest(app: AppProto, name: &str) -> Option<&'static str> {
    RAISED
        .iter()
        .chain(NOT_RAISED)
        .filter(|&&(a, _)| a == app)
        .map(|&(_, n)| (super::levenshtein(name, n), n))
        .filter(|&(d, n)| d <= 2.max(n.len() / 5))
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_option_text;

    fn parse(v: &str) -> Result<TxPred, KwError> {
        parse_app_event(Some(v))
    }

    #[test]
    fn raised_events_parse_and_print_back() {
        for (v, app) in [
            ("http.request_field_too_long", AppProto::Http),
            (" tls.invalid_handshake_message ", AppProto::Tls),
            ("dns.z_flag_set", AppProto::Dns),
            ("http.request_auth_unrecognized", AppProto::Http),
        ] {
            let p = parse(v).unwrap_or_else(|e| panic!("{v}: {e:?}"));
            assert_eq!(p.app(), app, "{v}");
            assert_eq!(tx_option_text(&p), format!("app-layer-event:{};", v.trim()));
        }
    }

    #[test]
    fn known_but_never_raised_events_are_unsupported_with_a_span() {
        let v = "tls.heartbeat_message";
        let e = parse(v).unwrap_err();
        assert_eq!(e.code, Code::UnsupportedKeyword);
        assert!(e.msg.contains("never raises"), "{}", e.msg);
        assert_eq!(e.at, Some((4, v.len())));
        let e = parse("applayer_mismatch_protocol_both_directions").unwrap_err();
        assert_eq!(e.code, Code::UnsupportedKeyword);
        let e = parse("smtp.invalid_reply").unwrap_err();
        assert_eq!(e.code, Code::UnsupportedKeyword);
        assert_eq!(e.at, Some((0, 4)));
    }

    #[test]
    fn unknown_and_malformed_names_are_value_errors() {
        let e = parse("http.request_feild_too_long").unwrap_err();
        assert_eq!(e.code, Code::BadValue);
        assert_eq!(e.at, Some((5, 27)));
        assert_eq!(
            e.help.as_deref(),
            Some("did you mean `http.request_field_too_long`?")
        );
        for bad in ["", "http.", ".x", "z_flag_set", "http.a b", "http.x;y"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, Code::BadValue, "{bad:?}");
        }
        assert_eq!(parse_app_event(None).unwrap_err().code, Code::BadValue);
    }

    #[test]
    fn tables_are_disjoint_and_indices_fit() {
        assert!(RAISED.len() <= usize::from(u8::MAX));
        for (a, n) in RAISED {
            assert!(!NOT_RAISED.contains(&(*a, *n)), "{n} in both tables");
            let e = AppEvent::lookup(*a, n).expect("raised event");
            assert!(e.is_valid());
            assert_eq!(e.name(), *n);
        }
        let bad = AppEvent(u8::MAX);
        assert!(!bad.is_valid());
        assert_eq!(bad.name(), "");
    }
}

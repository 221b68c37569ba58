//! Buffer keywords. Snort 2's `http_*` content modifiers (which, in Snort 3 and Suricata,
//! are sticky buffers too), the dotted Suricata sticky buffers, and `file_data`,
//! `pkt_data`, `raw_data`, `base64_data`, `dce_stub_data`, and the packet header buffers
//! (`ipv4.hdr`, `tcp.hdr`, …).

use crate::ir::{AppBuffer as A, Buffer, HdrBuffer as H};

/// How a buffer keyword behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `http_uri` and friends: a modifier of the content before it (Snort 2) or a sticky
    /// buffer (Snort 3, and Suricata when no content precedes it); decided per rule.
    Legacy,
    /// Always switches the buffer for what follows.
    Sticky,
}

/// (name, buffer, form). The first sticky entry for a buffer is its canonical name.
pub const BUFFERS: &[(&str, Buffer, Form)] = &[
    ("pkt_data", Buffer::Payload, Form::Sticky),
    ("raw_data", Buffer::Raw, Form::Sticky),
    ("file_data", Buffer::FileData, Form::Sticky),
    ("file.data", Buffer::FileData, Form::Sticky),
    ("base64_data", Buffer::Base64Data, Form::Sticky),
    ("ip.src", Buffer::IpSrc, Form::Sticky),
    ("ip.dst", Buffer::IpDst, Form::Sticky),
    ("ipv4.hdr", Buffer::Hdr(H::Ipv4), Form::Sticky),
    ("ipv6.hdr", Buffer::Hdr(H::Ipv6), Form::Sticky),
    ("tcp.hdr", Buffer::Hdr(H::Tcp), Form::Sticky),
    ("udp.hdr", Buffer::Hdr(H::Udp), Form::Sticky),
    ("icmpv4.hdr", Buffer::Hdr(H::Icmpv4), Form::Sticky),
    ("icmpv6.hdr", Buffer::Hdr(H::Icmpv6), Form::Sticky),
    ("http.uri", Buffer::App(A::HttpUri), Form::Sticky),
    ("http.uri.raw", Buffer::App(A::HttpRawUri), Form::Sticky),
    ("http.method", Buffer::App(A::HttpMethod), Form::Sticky),
    ("http.header", Buffer::App(A::HttpHeader), Form::Sticky),
    (
        "http.header.raw",
        Buffer::App(A::HttpRawHeader),
        Form::Sticky,
    ),
    ("http.cookie", Buffer::App(A::HttpCookie), Form::Sticky),
    (
        "http.cookie.raw",
        Buffer::App(A::HttpRawCookie),
        Form::Sticky,
    ),
    (
        "http.request_body",
        Buffer::App(A::HttpClientBody),
        Form::Sticky,
    ),
    (
        "http.response_body",
        Buffer::App(A::HttpServerBody),
        Form::Sticky,
    ),
    ("http.stat_code", Buffer::App(A::HttpStatCode), Form::Sticky),
    ("http.stat_msg", Buffer::App(A::HttpStatMsg), Form::Sticky),
    (
        "http.user_agent",
        Buffer::App(A::HttpUserAgent),
        Form::Sticky,
    ),
    ("http.host", Buffer::App(A::HttpHost), Form::Sticky),
    ("http.host.raw", Buffer::App(A::HttpRawHost), Form::Sticky),
    ("http.accept", Buffer::App(A::HttpAccept), Form::Sticky),
    (
        "http.accept_lang",
        Buffer::App(A::HttpAcceptLang),
        Form::Sticky,
    ),
    (
        "http.accept_enc",
        Buffer::App(A::HttpAcceptEnc),
        Form::Sticky,
    ),
    ("http.referer", Buffer::App(A::HttpReferer), Form::Sticky),
    (
        "http.content_type",
        Buffer::App(A::HttpContentType),
        Form::Sticky,
    ),
    (
        "http.content_len",
        Buffer::App(A::HttpContentLen),
        Form::Sticky,
    ),
    (
        "http.connection",
        Buffer::App(A::HttpConnection),
        Form::Sticky,
    ),
    ("http.protocol", Buffer::App(A::HttpProtocol), Form::Sticky),
    (
        "http.request_line",
        Buffer::App(A::HttpRequestLine),
        Form::Sticky,
    ),
    (
        "http.response_line",
        Buffer::App(A::HttpResponseLine),
        Form::Sticky,
    ),
    ("http.start", Buffer::App(A::HttpStart), Form::Sticky),
    ("http.location", Buffer::App(A::HttpLocation), Form::Sticky),
    ("http.server", Buffer::App(A::HttpServer), Form::Sticky),
    (
        "http.header_names",
        Buffer::App(A::HttpHeaderNames),
        Form::Sticky,
    ),
    (
        "http.true_client_ip",
        Buffer::App(A::HttpTrueIp),
        Form::Sticky,
    ),
    (
        "http.request_header",
        Buffer::App(A::HttpRequestHeader),
        Form::Sticky,
    ),
    (
        "http.response_header",
        Buffer::App(A::HttpResponseHeader),
        Form::Sticky,
    ),
    ("dns.query", Buffer::App(A::DnsQuery), Form::Sticky),
    ("dns_query", Buffer::App(A::DnsQuery), Form::Sticky),
    (
        "dns.queries.rrname",
        Buffer::App(A::DnsQueriesRrname),
        Form::Sticky,
    ),
    (
        "dns.answers.rrname",
        Buffer::App(A::DnsAnswersRrname),
        Form::Sticky,
    ),
    (
        "dns.authorities.rrname",
        Buffer::App(A::DnsAuthoritiesRrname),
        Form::Sticky,
    ),
    (
        "dns.additionals.rrname",
        Buffer::App(A::DnsAdditionalsRrname),
        Form::Sticky,
    ),
    (
        "dns.response.rrname",
        Buffer::App(A::DnsResponseRrname),
        Form::Sticky,
    ),
    ("tls.certs", Buffer::App(A::TlsCerts), Form::Sticky),
    (
        "tls.subjectaltname",
        Buffer::App(A::TlsSubjectAltName),
        Form::Sticky,
    ),
    ("tls.random", Buffer::App(A::TlsRandom), Form::Sticky),
    (
        "tls.random_time",
        Buffer::App(A::TlsRandomTime),
        Form::Sticky,
    ),
    (
        "tls.random_bytes",
        Buffer::App(A::TlsRandomBytes),
        Form::Sticky,
    ),
    ("tls.alpn", Buffer::App(A::TlsAlpn), Form::Sticky),
    ("ja4.hash", Buffer::App(A::Ja4Hash), Form::Sticky),
    ("tls.sni", Buffer::App(A::TlsSni), Form::Sticky),
    ("tls_sni", Buffer::App(A::TlsSni), Form::Sticky),
    (
        "tls.cert_subject",
        Buffer::App(A::TlsCertSubject),
        Form::Sticky,
    ),
    (
        "tls_cert_subject",
        Buffer::App(A::TlsCertSubject),
        Form::Sticky,
    ),
    (
        "tls.cert_issuer",
        Buffer::App(A::TlsCertIssuer),
        Form::Sticky,
    ),
    (
        "tls_cert_issuer",
        Buffer::App(A::TlsCertIssuer),
        Form::Sticky,
    ),
    (
        "tls.cert_serial",
        Buffer::App(A::TlsCertSerial),
        Form::Sticky,
    ),
    (
        "tls_cert_serial",
        Buffer::App(A::TlsCertSerial),
        Form::Sticky,
    ),
    (
        "tls.cert_fingerprint",
        Buffer::App(A::TlsCertFingerprint),
        Form::Sticky,
    ),
    (
        "tls_cert_fingerprint",
        Buffer::App(A::TlsCertFingerprint),
        Form::Sticky,
    ),
    ("ja3.hash", Buffer::App(A::Ja3Hash), Form::Sticky),
    ("ja3_hash", Buffer::App(A::Ja3Hash), Form::Sticky),
    ("ja3.string", Buffer::App(A::Ja3String), Form::Sticky),
    ("ja3_string", Buffer::App(A::Ja3String), Form::Sticky),
    ("ja3s.hash", Buffer::App(A::Ja3sHash), Form::Sticky),
    ("ja3s_hash", Buffer::App(A::Ja3sHash), Form::Sticky),
    ("ja3s.string", Buffer::App(A::Ja3sString), Form::Sticky),
    ("ja3s_string", Buffer::App(A::Ja3sString), Form::Sticky),
    ("ssh.proto", Buffer::App(A::SshProto), Form::Sticky),
    ("ssh_proto", Buffer::App(A::SshProto), Form::Sticky),
    ("ssh.software", Buffer::App(A::SshSoftware), Form::Sticky),
    ("ssh_software", Buffer::App(A::SshSoftware), Form::Sticky),
    ("ssh.hassh", Buffer::App(A::SshHassh), Form::Sticky),
    (
        "ssh.hassh.string",
        Buffer::App(A::SshHasshString),
        Form::Sticky,
    ),
    (
        "ssh.hassh.server",
        Buffer::App(A::SshHasshServer),
        Form::Sticky,
    ),
    (
        "ssh.hassh.server.string",
        Buffer::App(A::SshHasshServerString),
        Form::Sticky,
    ),
    ("ftp.command", Buffer::App(A::FtpCommand), Form::Sticky),
    (
        "ftp.command_data",
        Buffer::App(A::FtpCommandData),
        Form::Sticky,
    ),
    ("ftp.reply", Buffer::App(A::FtpReply), Form::Sticky),
    (
        "ftp.completion_code",
        Buffer::App(A::FtpCompletionCode),
        Form::Sticky,
    ),
    ("smtp.helo", Buffer::App(A::SmtpHelo), Form::Sticky),
    ("smtp.mail_from", Buffer::App(A::SmtpMailFrom), Form::Sticky),
    ("smtp.rcpt_to", Buffer::App(A::SmtpRcptTo), Form::Sticky),
    ("file.name", Buffer::App(A::FileName), Form::Sticky),
    ("file.magic", Buffer::App(A::FileMagic), Form::Sticky),
    ("smb.named_pipe", Buffer::App(A::SmbNamedPipe), Form::Sticky),
    ("smb.share", Buffer::App(A::SmbShare), Form::Sticky),
    ("dce_stub_data", Buffer::App(A::DceStubData), Form::Sticky),
    (
        "dcerpc.stub_data",
        Buffer::App(A::DceStubData),
        Form::Sticky,
    ),
    ("sip.method", Buffer::App(A::SipMethod), Form::Sticky),
    ("sip.uri", Buffer::App(A::SipUri), Form::Sticky),
    (
        "sip.request_line",
        Buffer::App(A::SipRequestLine),
        Form::Sticky,
    ),
    ("sip.stat_code", Buffer::App(A::SipStatCode), Form::Sticky),
    ("sip.stat_msg", Buffer::App(A::SipStatMsg), Form::Sticky),
    (
        "sip.response_line",
        Buffer::App(A::SipResponseLine),
        Form::Sticky,
    ),
    ("sip.protocol", Buffer::App(A::SipProtocol), Form::Sticky),
    ("sip.from", Buffer::App(A::SipFrom), Form::Sticky),
    ("sip.to", Buffer::App(A::SipTo), Form::Sticky),
    ("sip.via", Buffer::App(A::SipVia), Form::Sticky),
    ("sip.user_agent", Buffer::App(A::SipUserAgent), Form::Sticky),
    (
        "sip.content_type",
        Buffer::App(A::SipContentType),
        Form::Sticky,
    ),
    (
        "sip.content_length",
        Buffer::App(A::SipContentLength),
        Form::Sticky,
    ),
    // Snort 2.9/3's SIP preprocessor cursor options: sticky, no Suricata equivalent.
    ("sip_header", Buffer::App(A::SipHeader), Form::Sticky),
    ("sip_body", Buffer::App(A::SipBody), Form::Sticky),
    ("krb5.cname", Buffer::App(A::Krb5Cname), Form::Sticky),
    ("krb5_cname", Buffer::App(A::Krb5Cname), Form::Sticky),
    ("krb5.sname", Buffer::App(A::Krb5Sname), Form::Sticky),
    ("krb5_sname", Buffer::App(A::Krb5Sname), Form::Sticky),
    (
        "snmp.community",
        Buffer::App(A::SnmpCommunity),
        Form::Sticky,
    ),
    ("snmp.usm", Buffer::App(A::SnmpUsm), Form::Sticky),
    // Only the Snort 2 era names are content modifiers; the underscore names Suricata added
    // later (`http_accept`, `http_header_names`, ..., starred in its keyword table) are
    // sticky buffers under both spellings.
    ("http_uri", Buffer::App(A::HttpUri), Form::Legacy),
    ("http_raw_uri", Buffer::App(A::HttpRawUri), Form::Legacy),
    ("http_method", Buffer::App(A::HttpMethod), Form::Legacy),
    ("http_header", Buffer::App(A::HttpHeader), Form::Legacy),
    (
        "http_raw_header",
        Buffer::App(A::HttpRawHeader),
        Form::Legacy,
    ),
    ("http_cookie", Buffer::App(A::HttpCookie), Form::Legacy),
    (
        "http_raw_cookie",
        Buffer::App(A::HttpRawCookie),
        Form::Legacy,
    ),
    (
        "http_client_body",
        Buffer::App(A::HttpClientBody),
        Form::Legacy,
    ),
    (
        "http_server_body",
        Buffer::App(A::HttpServerBody),
        Form::Legacy,
    ),
    ("http_stat_code", Buffer::App(A::HttpStatCode), Form::Legacy),
    ("http_stat_msg", Buffer::App(A::HttpStatMsg), Form::Legacy),
    (
        "http_user_agent",
        Buffer::App(A::HttpUserAgent),
        Form::Legacy,
    ),
    ("http_host", Buffer::App(A::HttpHost), Form::Legacy),
    ("http_raw_host", Buffer::App(A::HttpRawHost), Form::Legacy),
    ("http_accept", Buffer::App(A::HttpAccept), Form::Sticky),
    (
        "http_accept_lang",
        Buffer::App(A::HttpAcceptLang),
        Form::Sticky,
    ),
    (
        "http_accept_enc",
        Buffer::App(A::HttpAcceptEnc),
        Form::Sticky,
    ),
    ("http_referer", Buffer::App(A::HttpReferer), Form::Sticky),
    (
        "http_content_type",
        Buffer::App(A::HttpContentType),
        Form::Sticky,
    ),
    (
        "http_content_len",
        Buffer::App(A::HttpContentLen),
        Form::Sticky,
    ),
    (
        "http_connection",
        Buffer::App(A::HttpConnection),
        Form::Sticky,
    ),
    ("http_protocol", Buffer::App(A::HttpProtocol), Form::Sticky),
    (
        "http_request_line",
        Buffer::App(A::HttpRequestLine),
        Form::Sticky,
    ),
    (
        "http_response_line",
        Buffer::App(A::HttpResponseLine),
        Form::Sticky,
    ),
    ("http_start", Buffer::App(A::HttpStart), Form::Sticky),
    ("http_location", Buffer::App(A::HttpLocation), Form::Sticky),
    ("http_server", Buffer::App(A::HttpServer), Form::Sticky),
    (
        "http_header_names",
        Buffer::App(A::HttpHeaderNames),
        Form::Sticky,
    ),
    ("http_true_ip", Buffer::App(A::HttpTrueIp), Form::Sticky),
];

type Index = std::collections::HashMap<&'static str, (Buffer, Form)>;

fn index() -> &'static Index {
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| BUFFERS.iter().map(|&(n, b, f)| (n, (b, f))).collect())
}

/// Looks a buffer keyword up (hashed: every option name of every rule is looked up).
pub fn lookup(name: &str) -> Option<(Buffer, Form)> {
    index().get(name).copied()
}

/// The registered (static) spelling of a buffer keyword, for messages.
pub fn canonical_keyword(name: &str) -> &'static str {
    index().get_key_value(name).map_or("buffer", |(k, _)| k)
}

/// The canonical (always sticky) keyword selecting `b`.
pub fn sticky_name(b: Buffer) -> &'static str {
    BUFFERS
        .iter()
        .find(|(_, buf, f)| *buf == b && *f == Form::Sticky)
        .map(|(n, _, _)| *n)
        .expect("every buffer has a sticky keyword")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_app_buffer_has_a_sticky_name() {
        for (_, b, _) in BUFFERS {
            assert_eq!(lookup(sticky_name(*b)).unwrap(), (*b, Form::Sticky));
        }
    }
}

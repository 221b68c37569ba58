//! Classification: every rule gets exactly one [`Fate`].
//!
//! - [`Fate::Kernel`] when nftables can evaluate the rule *exactly* (see [`crate::kernel`]):
//!   header-only rules, contents pinned to a fixed place in the payload, and `flow` as
//!   conntrack state and direction where the two agree ([`crate::kernel::lower_flow`]).
//! - [`Fate::Queue`] when the engine's VM can: flowbits and stream state, pcre, byte ops,
//!   unanchored content, thresholds, …
//! - [`Fate::Rejected`] when neither can (app-layer buffers the engine does not have yet, …).
//!
//! Reason strings are the report's keys: they are stable and name the keyword involved.

use crate::caps::EngineCaps;
use crate::ir::{AppBuffer, Buffer, PayloadTest, Protocol, Rule};
use crate::kernel::{self, KernelCaps, KernelRule, QueueReason, SetContext};
use serde::{Deserialize, Serialize};

/// Where a rule runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fate {
    /// Evaluated by nftables in the kernel.
    Kernel,
    /// Evaluated by the engine on queued packets.
    Queue,
    /// Not translated, with the reason.
    Rejected(String),
}

impl Fate {
    /// Short name: `kernel`, `queue`, `rejected`.
    pub fn name(&self) -> &'static str {
        match self {
            Fate::Kernel => "kernel",
            Fate::Queue => "queue",
            Fate::Rejected(_) => "rejected",
        }
    }
}

/// The fate of one rule with the detail each back end needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Kernel, with its nft rules.
    Kernel(Vec<KernelRule>),
    /// Queue, with why the kernel could not take it.
    Queue(QueueReason),
    /// Rejected with a reason.
    Rejected(String),
}

impl Decision {
    /// The plain fate.
    pub fn fate(&self) -> Fate {
        match self {
            Decision::Kernel(_) => Fate::Kernel,
            Decision::Queue(_) => Fate::Queue,
            Decision::Rejected(r) => Fate::Rejected(r.clone()),
        }
    }
}

/// Decides the fate of one rule of the set `ctx` describes. `kernel_allowed = false` queues
/// everything the engine can run (used when the kernel fast path is disabled).
pub fn classify(rule: &Rule, caps: KernelCaps, kernel_allowed: bool, ctx: &SetContext) -> Decision {
    if let Some(reason) = rejection(rule) {
        return Decision::Rejected(reason);
    }
    if !kernel_allowed {
        return Decision::Queue("kernel fast path disabled".into());
    }
    match kernel::lower_rule(rule, caps, ctx) {
        Ok(rules) => Decision::Kernel(rules),
        Err(reason) => Decision::Queue(reason),
    }
}

/// Why the engine cannot run this rule, if it cannot (by [`EngineCaps::CURRENT`]).
pub fn rejection(rule: &Rule) -> Option<String> {
    let caps = EngineCaps::CURRENT;
    if let Protocol::App(a) = rule.proto {
        if !caps.runs_proto(a) {
            return Some(format!("app protocol {} not supported yet", a.name()));
        }
    }
    for t in &rule.payload {
        if let Some(b) = test_buffer(t) {
            if !caps.runs_buffer(b) {
                return Some(format!("{} buffer not supported yet", buffer_name(b)));
            }
            // A rule on one app protocol cannot read another protocol's buffer.
            if let (Protocol::App(a), Some(_)) = (rule.proto, EngineCaps::buffer_proto(b)) {
                if !EngineCaps::carried_by(b, a) {
                    return Some(format!(
                        "{} buffer on an {} rule can never match",
                        buffer_name(b),
                        a.name()
                    ));
                }
            }
            if matches!(
                rule.proto,
                Protocol::Udp | Protocol::Icmp | Protocol::Icmpv6 | Protocol::Sctp
            ) && EngineCaps::buffer_proto(b)
                .is_some_and(|p| !p.transports().contains(&rule.proto))
            {
                return Some(format!(
                    "{} buffer on a {} rule can never match",
                    buffer_name(b),
                    rule.proto.name()
                ));
            }
        }
        if let PayloadTest::Tx(p) = t {
            if let Some(why) = tx_rejection(rule.proto, p) {
                return Some(why);
            }
        }
    }
    if let Some(why) = crate::keywords::base64::rejection(rule) {
        return Some(why);
    }
    if let Some(why) = crate::keywords::dce::rejection(rule) {
        return Some(why);
    }
    if let Some(why) = crate::keywords::app_proto::rejection(rule, caps) {
        return Some(why);
    }
    if rule.src.is_empty() || rule.dst.is_empty() {
        return Some("address set is empty, the rule can never match".into());
    }
    if rule.src_ports.is_empty() || rule.dst_ports.is_empty() {
        return Some("port set is empty, the rule can never match".into());
    }
    None
}

/// Why a transaction predicate can never hold on a rule of `proto`: another app protocol,
/// or a transport the predicate's protocol does not run on.
fn tx_rejection(proto: Protocol, p: &crate::ir::TxPred) -> Option<String> {
    let (kw, _) = crate::keywords::txpred::tx_text(p);
    let app = p.app();
    let never = match proto {
        Protocol::App(a) => a != app,
        Protocol::Ip => false,
        other => !app.transports().contains(&other),
    };
    never.then(|| format!("{kw} on a {} rule can never match", proto.name()))
}

/// The buffer a payload test inspects (`None` for preprocessor state tests and
/// transaction predicates).
pub fn test_buffer(t: &PayloadTest) -> Option<Buffer> {
    Some(match t {
        PayloadTest::Content(c) => c.buffer(),
        PayloadTest::Pcre(p) => p.buffer,
        PayloadTest::ByteTest(b) => b.buffer,
        PayloadTest::ByteJump(b) => b.buffer,
        PayloadTest::ByteExtract(b) => b.buffer,
        PayloadTest::ByteMath(b) => b.buffer,
        PayloadTest::Dataset(d) => d.buffer,
        PayloadTest::Isdataat(i) => i.buffer,
        PayloadTest::BufferSize { buffer, .. } => *buffer,
        PayloadTest::Absent { buffer, .. } => *buffer,
        PayloadTest::Base64Decode(b) => b.buffer,
        PayloadTest::Asn1(a) => a.buffer,
        PayloadTest::Tx(_) => return None,
    })
}

/// The rule keyword of a payload test (report and reason key).
pub fn test_keyword(t: &PayloadTest) -> &'static str {
    match t {
        PayloadTest::Content(_) => "content",
        PayloadTest::Pcre(_) => "pcre",
        PayloadTest::ByteTest(_) => "byte_test",
        PayloadTest::ByteJump(_) => "byte_jump",
        PayloadTest::ByteExtract(_) => "byte_extract",
        PayloadTest::ByteMath(_) => "byte_math",
        PayloadTest::Dataset(_) => "dataset",
        PayloadTest::Isdataat(_) => "isdataat",
        PayloadTest::BufferSize { .. } => "bsize",
        PayloadTest::Absent { .. } => "absent",
        PayloadTest::Base64Decode(_) => "base64_decode",
        PayloadTest::Asn1(_) => "asn1",
        PayloadTest::Tx(p) => crate::keywords::txpred::tx_text(p).0,
    }
}

/// The Suricata name of a buffer (report keys, disassembly).
pub fn buffer_name(b: Buffer) -> &'static str {
    match b {
        Buffer::Payload => "payload",
        Buffer::Raw => "raw",
        Buffer::FileData => "file.data",
        Buffer::Base64Data => "base64_data",
        Buffer::IpSrc => "ip.src",
        Buffer::IpDst => "ip.dst",
        Buffer::Hdr(h) => crate::keywords::buffers::sticky_name(Buffer::Hdr(h)),
        Buffer::App(a) => app_buffer_name(a),
    }
}

/// The Suricata sticky-buffer name of an app-layer buffer.
pub fn app_buffer_name(a: AppBuffer) -> &'static str {
    use AppBuffer::*;
    match a {
        HttpUri => "http.uri",
        HttpRawUri => "http.uri.raw",
        HttpMethod => "http.method",
        HttpHeader => "http.header",
        HttpRawHeader => "http.header.raw",
        HttpCookie => "http.cookie",
        HttpClientBody => "http.request_body",
        HttpServerBody => "http.response_body",
        HttpStatCode => "http.stat_code",
        HttpStatMsg => "http.stat_msg",
        HttpUserAgent => "http.user_agent",
        HttpHost => "http.host",
        HttpRawHost => "http.host.raw",
        HttpAccept => "http.accept",
        HttpAcceptLang => "http.accept_lang",
        HttpAcceptEnc => "http.accept_enc",
        HttpReferer => "http.referer",
        HttpContentType => "http.content_type",
        HttpContentLen => "http.content_len",
        HttpConnection => "http.connection",
        HttpProtocol => "http.protocol",
        HttpRequestLine => "http.request_line",
        HttpResponseLine => "http.response_line",
        HttpStart => "http.start",
        HttpLocation => "http.location",
        HttpServer => "http.server",
        HttpHeaderNames => "http.header_names",
        HttpTrueIp => "http.true_ip",
        HttpRequestHeader => "http.request_header",
        HttpResponseHeader => "http.response_header",
        DnsQuery => "dns.query",
        DnsQueriesRrname => "dns.queries.rrname",
        DnsAnswersRrname => "dns.answers.rrname",
        DnsAuthoritiesRrname => "dns.authorities.rrname",
        DnsAdditionalsRrname => "dns.additionals.rrname",
        DnsResponseRrname => "dns.response.rrname",
        TlsCerts => "tls.certs",
        TlsSubjectAltName => "tls.subjectaltname",
        TlsRandom => "tls.random",
        TlsRandomTime => "tls.random_time",
        TlsRandomBytes => "tls.random_bytes",
        TlsAlpn => "tls.alpn",
        Ja4Hash => "ja4.hash",
        TlsSni => "tls.sni",
        TlsCertSubject => "tls.cert_subject",
        TlsCertIssuer => "tls.cert_issuer",
        TlsCertSerial => "tls.cert_serial",
        TlsCertFingerprint => "tls.cert_fingerprint",
        TlsVersion => "tls.version",
        Ja3Hash => "ja3.hash",
        Ja3String => "ja3.string",
        Ja3sHash => "ja3s.hash",
        Ja3sString => "ja3s.string",
        SshProto => "ssh.proto",
        SshSoftware => "ssh.software",
        SshHassh => "ssh.hassh",
        SshHasshString => "ssh.hassh.string",
        SshHasshServer => "ssh.hassh.server",
        SshHasshServerString => "ssh.hassh.server.string",
        FtpCommand => "ftp.command",
        FtpCommandData => "ftp.command_data",
        FtpReply => "ftp.reply",
        FtpCompletionCode => "ftp.completion_code",
        SmtpHelo => "smtp.helo",
        SmtpMailFrom => "smtp.mail_from",
        SmtpRcptTo => "smtp.rcpt_to",
        FileName => "file.name",
        FileMagic => "file.magic",
        SmbNamedPipe => "smb.named_pipe",
        SmbShare => "smb.share",
        DceStubData => "dce_stub_data",
        SipMethod => "sip.method",
        SipUri => "sip.uri",
        Krb5Cname => "krb5.cname",
        Krb5Sname => "krb5.sname",
        SnmpCommunity => "snmp.community",
        SnmpUsm => "snmp.usm",
        HttpRawCookie => "http.cookie.raw",
        SipHeader => "sip_header",
        SipBody => "sip_body",
        SipRequestLine => "sip.request_line",
        SipStatCode => "sip.stat_code",
        SipStatMsg => "sip.stat_msg",
        SipResponseLine => "sip.response_line",
        SipProtocol => "sip.protocol",
        SipFrom => "sip.from",
        SipTo => "sip.to",
        SipVia => "sip.via",
        SipUserAgent => "sip.user_agent",
        SipContentType => "sip.content_type",
        SipContentLength => "sip.content_length",
    }
}

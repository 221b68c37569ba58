//! What the engine can run: the one description the classifier consults to decide between
//! [`crate::classify::Fate::Queue`] and a rejection, as [`crate::kernel::KernelCaps`] does for
//! the kernel. When the engine learns a protocol or a buffer, this table changes and nothing
//! else in the compiler does.

use crate::ir::{AppBuffer, AppProto, Buffer};

/// The engine's abilities, by app protocol and by buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineCaps {
    /// App-layer protocols the engine detects and parses.
    pub protos: &'static [AppProto],
    /// Protocols it detects by content without parsing them: rules naming them run on
    /// their packets and stream, their buffers are not filled.
    pub detected: &'static [AppProto],
}

impl EngineCaps {
    /// What this build of the engine runs.
    pub const CURRENT: EngineCaps = EngineCaps {
        protos: &[
            AppProto::Http,
            AppProto::Tls,
            AppProto::Dns,
            AppProto::Ssh,
            AppProto::Ftp,
            AppProto::Smtp,
            AppProto::Sip,
            AppProto::Snmp,
            AppProto::Krb5,
            AppProto::Dcerpc,
        ],
        detected: &[AppProto::Smb],
    };

    /// True if rules on app protocol `a` can be enforced (the engine knows a flow is `a`).
    pub fn runs_proto(self, a: AppProto) -> bool {
        self.parses(a) || self.detected.contains(&a)
    }

    /// True if `a`'s parser exists, so its buffers are filled.
    pub fn parses(self, a: AppProto) -> bool {
        self.protos.contains(&a)
    }

    /// The app protocol whose parser fills buffer `b` (`None` for packet/stream buffers).
    pub fn buffer_proto(b: Buffer) -> Option<AppProto> {
        match b {
            Buffer::Payload
            | Buffer::Raw
            | Buffer::Base64Data
            | Buffer::IpSrc
            | Buffer::IpDst
            | Buffer::Hdr(_) => None,
            // file.data is HTTP's response/request body until another protocol carries files.
            Buffer::FileData => Some(AppProto::Http),
            Buffer::App(a) => app_buffer_proto(a),
        }
    }

    /// True if rules on app protocol `a` can read buffer `b`: its own buffers, and
    /// `file.data`, which SMTP fills with the attachments of a mail as HTTP with its bodies.
    pub fn carried_by(b: Buffer, a: AppProto) -> bool {
        Self::buffer_proto(b) == Some(a) || (b == Buffer::FileData && a == AppProto::Smtp)
    }

    /// True if the engine fills buffer `b`.
    pub fn runs_buffer(self, b: Buffer) -> bool {
        match b {
            // base64_data is decoded from whichever buffer its base64_decode reads.
            Buffer::Payload
            | Buffer::Raw
            | Buffer::Base64Data
            | Buffer::IpSrc
            | Buffer::IpDst
            | Buffer::Hdr(_) => true,
            _ => Self::buffer_proto(b).is_some_and(|a| self.parses(a)),
        }
    }
}

/// The protocol whose parser produces an app buffer.
pub fn app_buffer_proto(a: AppBuffer) -> Option<AppProto> {
    use AppBuffer::*;
    Some(match a {
        HttpUri | HttpRawUri | HttpMethod | HttpHeader | HttpRawHeader | HttpCookie
        | HttpRawCookie | HttpClientBody | HttpServerBody | HttpStatCode | HttpStatMsg
        | HttpUserAgent | HttpHost | HttpRawHost | HttpAccept | HttpAcceptLang | HttpAcceptEnc
        | HttpReferer | HttpContentType | HttpContentLen | HttpConnection | HttpProtocol
        | HttpRequestLine | HttpResponseLine | HttpStart | HttpLocation | HttpServer
        | HttpHeaderNames | HttpTrueIp | HttpRequestHeader | HttpResponseHeader => AppProto::Http,
        DnsQuery | DnsQueriesRrname | DnsAnswersRrname | DnsAuthoritiesRrname
        | DnsAdditionalsRrname | DnsResponseRrname => AppProto::Dns,
        TlsSni | TlsCertSubject | TlsCertIssuer | TlsCertSerial | TlsCertFingerprint
        | TlsVersion | Ja3Hash | Ja3String | Ja3sHash | Ja3sString | TlsCerts
        | TlsSubjectAltName | TlsRandom | TlsRandomTime | TlsRandomBytes | TlsAlpn | Ja4Hash => {
            AppProto::Tls
        }
        SshProto | SshSoftware | SshHassh | SshHasshString | SshHasshServer
        | SshHasshServerString => AppProto::Ssh,
        FtpCommand | FtpCommandData | FtpReply | FtpCompletionCode => AppProto::Ftp,
        SmtpHelo | SmtpMailFrom | SmtpRcptTo => AppProto::Smtp,
        SmbNamedPipe | SmbShare => AppProto::Smb,
        DceStubData => AppProto::Dcerpc,
        SipMethod | SipUri | SipHeader | SipBody | SipRequestLine | SipStatCode | SipStatMsg
        | SipResponseLine | SipProtocol | SipFrom | SipTo | SipVia | SipUserAgent
        | SipContentType | SipContentLength => AppProto::Sip,
        Krb5Cname | Krb5Sname => AppProto::Krb5,
        SnmpCommunity | SnmpUsm => AppProto::Snmp,
        // Files are carried by HTTP until another parser extracts them.
        FileName | FileMagic => AppProto::Http,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dns_tls_ssh_ftp_smtp_buffers_run_smb_does_not_yet() {
        let c = EngineCaps::CURRENT;
        assert!(c.runs_buffer(Buffer::App(AppBuffer::HttpUri)));
        assert!(c.runs_buffer(Buffer::FileData));
        assert!(c.runs_buffer(Buffer::Payload));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::DnsQuery)));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::TlsSni)));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::SshProto)));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::FtpCommand)));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::SmtpRcptTo)));
        assert!(!c.runs_buffer(Buffer::App(AppBuffer::SmbShare)));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::FileName)));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::FileMagic)));
        assert!(c.runs_proto(AppProto::Http) && c.runs_proto(AppProto::Tls));
        // Detected without a parser: rules on it run, its buffers do not.
        assert!(c.runs_proto(AppProto::Smb) && !c.parses(AppProto::Smb));
        assert!(c.runs_proto(AppProto::Ssh) && c.parses(AppProto::Ssh));
        assert!(c.parses(AppProto::Dcerpc));
        assert!(c.runs_buffer(Buffer::App(AppBuffer::DceStubData)));
        assert!(!c.runs_proto(AppProto::Rdp));
        // file.data is HTTP's bodies and SMTP's attachments; other buffers keep their protocol.
        assert!(EngineCaps::carried_by(Buffer::FileData, AppProto::Http));
        assert!(EngineCaps::carried_by(Buffer::FileData, AppProto::Smtp));
        assert!(!EngineCaps::carried_by(Buffer::FileData, AppProto::Dns));
        assert!(!EngineCaps::carried_by(
            Buffer::App(AppBuffer::HttpUri),
            AppProto::Smtp
        ));
    }
}

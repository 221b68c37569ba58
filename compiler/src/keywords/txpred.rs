//! Transaction predicates: the non-buffer keywords of an app-layer transaction (DNS header
//! fields, TLS versions and handshake state, certificate dates), each a test on values the
//! engine's parser already decoded instead of bytes a content could search.
//!
//! A predicate lives among the payload tests ([`crate::ir::PayloadTest::Tx`]) but reads no
//! buffer: it does not move the cursor or change the sticky buffer. It makes its rule a
//! transaction rule of the predicate's protocol, so the rule runs on that protocol's
//! transactions even with no content to prefilter on. One family per file, each with its
//! [`TxKeyword`] table, parsers, canonical text and tests: [`super::dns`],
//! [`super::tls_state`], [`super::tls_cert`], [`super::ftp`], [`super::sip`],
//! [`super::dce`].

use super::app_event::AppEvent;
use super::file::HashAlgo;
use super::tls_cert::{CertField, DateCmp};
use super::tls_state::{SslState, SslVersions, TlsVersion};
use super::uint::{uint_text, UintCmp};
use super::KwError;
use crate::ir::AppProto;
use serde::{Deserialize, Serialize};

/// One transaction predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxPred {
    /// `dns.opcode`: the OPCODE of the message header.
    DnsOpcode(UintCmp),
    /// `dns.rcode`: the RCODE of the message header.
    DnsRcode(UintCmp),
    /// `dns.rrtype`: any question (request) or answer (response) type.
    DnsRrtype(UintCmp),
    /// `tls.version`: the version of the packet's side.
    TlsVersion(TlsVersion),
    /// `ssl_version`: the version of the packet's side, by name.
    SslVersion(SslVersions),
    /// `ssl_state`: the state of the last handshake message.
    SslState(SslState),
    /// `tls_cert_notbefore` / `tls_cert_notafter`: a date of the server's leaf certificate.
    CertDate(CertField, DateCmp),
    /// `tls_cert_expired`: the packet's time is past the leaf's notAfter.
    CertExpired,
    /// `tls_cert_valid`: the packet's time is not past the leaf's notAfter.
    CertValid,
    /// `tls.cert_chain_len`: the number of certificates the server sent.
    CertChainLen(UintCmp),
    /// `app-layer-event`: the parser raised this anomaly on the transaction.
    AppEvent(AppEvent),
    /// `ssh.protoversion`: the protocol version of the packet side's banner.
    SshProtoVersion(super::ssh::SshProtoVersion),
    /// `ssh.softwareversion`: the software version of the packet side's banner equals.
    SshSoftwareVersion(String),
    /// `ftpbounce`: a PORT command naming an address other than the client's.
    FtpBounce,
    /// `ftp.dynamic_port`: the data port the transaction announced.
    FtpDynamicPort(UintCmp),
    /// `ftp.mode`: the transaction's data port was announced actively (PORT/EPRT) or not.
    FtpMode {
        /// `active` (else `passive`).
        active: bool,
    },
    /// `ftp.reply_received`: the command's final reply arrived (or, false, not yet).
    FtpReplyReceived(bool),
    /// `sip_method`: the message is a request with one of the methods (lower case), or,
    /// `negated`, a request with another method.
    SipMethod {
        /// The methods, lower case.
        methods: Vec<String>,
        /// `!method`.
        negated: bool,
    },
    /// `sip_stat_code`: the message is a response with one of the codes (1–9: a class).
    SipStatCode(Vec<u16>),
    /// `dce_iface`/`dcerpc.iface`: the request's interface (and version).
    DceIface(super::dce::DceIface),
    /// `dce_opnum`/`dcerpc.opnum`: the request's operation number is in the set.
    DceOpnum(crate::ir::RangeSet<u16>),
    /// `filesize`: the size of a file once final (complete, or already past a `>` bound).
    FileSize {
        /// The comparison.
        cmp: UintCmp,
        /// In a `=>` rule, the side whose files it reads (true: the request's).
        to_server: Option<bool>,
    },
    /// `filemd5`/`filesha1`/`filesha256`: a complete file's digest is in the list file
    /// (`negated`: is not).
    FileHash {
        /// The digest.
        algo: HashAlgo,
        /// `!list`.
        negated: bool,
        /// The list file, resolved against the rule file's directory.
        path: String,
    },
    /// `snmp.version`: the SNMP version of the message (1, 2 for v2c, 3).
    SnmpVersion(UintCmp),
    /// `snmp.pdu_type`: the PDU type of an unencrypted SNMP message.
    SnmpPduType(UintCmp),
    /// `krb5_msg_type`: the Kerberos message type.
    Krb5MsgType(UintCmp),
    /// `krb5_err_code`: the error code of a KRB-ERROR.
    Krb5ErrCode(UintCmp),
}

impl TxPred {
    /// The protocol whose transactions the predicate reads.
    pub fn app(&self) -> AppProto {
        match self {
            TxPred::DnsOpcode(_) | TxPred::DnsRcode(_) | TxPred::DnsRrtype(_) => AppProto::Dns,
            TxPred::AppEvent(e) => e.app(),
            TxPred::FileSize { .. } | TxPred::FileHash { .. } => AppProto::Http,
            TxPred::SshProtoVersion(_) | TxPred::SshSoftwareVersion(_) => AppProto::Ssh,
            TxPred::FtpBounce
            | TxPred::FtpDynamicPort(_)
            | TxPred::FtpMode { .. }
            | TxPred::FtpReplyReceived(_) => AppProto::Ftp,
            TxPred::SipMethod { .. } | TxPred::SipStatCode(_) => AppProto::Sip,
            TxPred::SnmpVersion(_) | TxPred::SnmpPduType(_) => AppProto::Snmp,
            TxPred::Krb5MsgType(_) | TxPred::Krb5ErrCode(_) => AppProto::Krb5,
            TxPred::DceIface(_) | TxPred::DceOpnum(_) => AppProto::Dcerpc,
            _ => AppProto::Tls,
        }
    }

    /// True when only the server-to-client side carries what it reads (the certificate), so
    /// its rule waits for that side.
    pub fn to_client_only(&self) -> bool {
        matches!(
            self,
            TxPred::CertDate(..)
                | TxPred::CertExpired
                | TxPred::CertValid
                | TxPred::CertChainLen(_)
                | TxPred::SipStatCode(_)
                | TxPred::FileSize {
                    to_server: Some(false),
                    ..
                }
        )
    }

    /// True for the file predicates, which hold together for one file.
    pub fn is_file(&self) -> bool {
        matches!(self, TxPred::FileSize { .. } | TxPred::FileHash { .. })
    }
}

/// A predicate keyword: its name and parser (the value after the colon, if any).
#[derive(Debug, Clone, Copy)]
pub struct TxKeyword {
    /// Name as written in rules.
    pub name: &'static str,
    /// Parses the value.
    pub parse: fn(Option<&str>) -> Result<TxPred, KwError>,
}

/// Every predicate family's keyword table.
const FAMILIES: &[&[TxKeyword]] = &[
    super::dns::KEYWORDS,
    super::tls_state::KEYWORDS,
    super::tls_cert::KEYWORDS,
    super::app_event::KEYWORDS,
    super::file::KEYWORDS,
    super::ssh::KEYWORDS,
    super::ftp::KEYWORDS,
    super::sip::KEYWORDS,
    super::snmp::KEYWORDS,
    super::krb5::KEYWORDS,
    super::dce::KEYWORDS,
];

/// The predicate keyword called `name`, if it is one.
pub fn lookup(name: &str) -> Option<&'static TxKeyword> {
    FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .find(|k| k.name == name)
}

/// Canonical (keyword, value) of a predicate; the value is empty for keywords without one.
pub fn tx_text(p: &TxPred) -> (&'static str, String) {
    use super::file::{filesize_text, hash_text};
    use super::tls_cert::date_cmp_text;
    use super::tls_state::{ssl_state_text, ssl_version_text, tls_version_text};
    match *p {
        TxPred::DnsOpcode(c) => ("dns.opcode", uint_text(c)),
        TxPred::DnsRcode(c) => ("dns.rcode", uint_text(c)),
        TxPred::DnsRrtype(c) => ("dns.rrtype", uint_text(c)),
        TxPred::TlsVersion(v) => ("tls.version", tls_version_text(v)),
        TxPred::SslVersion(v) => ("ssl_version", ssl_version_text(v)),
        TxPred::SslState(s) => ("ssl_state", ssl_state_text(s)),
        TxPred::CertDate(CertField::NotBefore, c) => ("tls_cert_notbefore", date_cmp_text(c)),
        TxPred::CertDate(CertField::NotAfter, c) => ("tls_cert_notafter", date_cmp_text(c)),
        TxPred::CertExpired => ("tls_cert_expired", String::new()),
        TxPred::CertValid => ("tls_cert_valid", String::new()),
        TxPred::CertChainLen(c) => ("tls.cert_chain_len", uint_text(c)),
        TxPred::AppEvent(e) => ("app-layer-event", e.text()),
        TxPred::SshProtoVersion(ref v) => ("ssh.protoversion", v.text()),
        TxPred::SshSoftwareVersion(ref v) => ("ssh.softwareversion", v.clone()),
        TxPred::FtpBounce => ("ftpbounce", String::new()),
        TxPred::FtpDynamicPort(c) => ("ftp.dynamic_port", uint_text(c)),
        TxPred::FtpMode { active } => {
            let m = if active { "active" } else { "passive" };
            ("ftp.mode", m.to_string())
        }
        TxPred::FtpReplyReceived(r) => {
            let v = if r { "yes" } else { "no" };
            ("ftp.reply_received", v.to_string())
        }
        TxPred::SipMethod {
            ref methods,
            negated,
        } => ("sip_method", super::sip::method_text(methods, negated)),
        TxPred::SipStatCode(ref c) => ("sip_stat_code", super::sip::stat_code_text(c)),
        TxPred::SnmpVersion(c) => ("snmp.version", uint_text(c)),
        TxPred::SnmpPduType(c) => ("snmp.pdu_type", uint_text(c)),
        TxPred::Krb5MsgType(c) => ("krb5_msg_type", uint_text(c)),
        TxPred::Krb5ErrCode(c) => ("krb5_err_code", uint_text(c)),
        TxPred::DceIface(ref i) => ("dce_iface", i.text()),
        TxPred::DceOpnum(ref r) => ("dce_opnum", super::dce::opnum_text(r)),
        TxPred::FileSize { cmp, to_server } => ("filesize", filesize_text(cmp, to_server)),
        TxPred::FileHash {
            algo,
            negated,
            ref path,
        } => (algo.keyword(), hash_text(negated, path)),
    }
}

/// The rule-option text of a predicate (`dns.opcode:4;`, `tls_cert_expired;`).
pub fn tx_option_text(p: &TxPred) -> String {
    match tx_text(p) {
        (k, v) if v.is_empty() => format!("{k};"),
        (k, v) => format!("{k}:{v};"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::{self, Status};

    #[test]
    fn every_predicate_is_a_supported_keyword_once() {
        let mut names: Vec<&str> = FAMILIES
            .iter()
            .flat_map(|f| f.iter())
            .map(|k| k.name)
            .collect();
        for n in &names {
            let k = keywords::lookup(n).unwrap_or_else(|| panic!("{n} not registered"));
            assert_eq!(k.status, Status::Supported, "{n}");
        }
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate predicate names");
        assert!(lookup("content").is_none());
    }

    #[test]
    fn apps_and_sides() {
        let p = (lookup("dns.rcode").unwrap().parse)(Some("3")).unwrap();
        assert_eq!(p.app(), AppProto::Dns);
        assert!(!p.to_client_only());
        assert_eq!(tx_option_text(&p), "dns.rcode:3;");
        let c = (lookup("tls_cert_expired").unwrap().parse)(None).unwrap();
        assert_eq!(c.app(), AppProto::Tls);
        assert!(c.to_client_only());
        assert_eq!(tx_option_text(&c), "tls_cert_expired;");
    }
}

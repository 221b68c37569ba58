//! Certificate chains: the DER of each certificate and the leaf's fields in Suricata's
//! string formats, decoded with `x509-parser` (what Suricata itself uses).

use sha1::{Digest, Sha1};
use tls_parser::{parse_tls_message_handshake, TlsMessage, TlsMessageHandshake};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::event::TlsEvent;

/// Fields of the first (leaf) certificate, formatted as Suricata prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Subject as x509-parser (and so Suricata) prints it: RDNs in certificate order,
    /// `SHORTNAME=value` joined by `, ` (e.g. `C=US, O=Let's Encrypt, CN=R3`).
    pub subject: String,
    /// Issuer, same format as the subject.
    pub issuer: String,
    /// Serial: the DER integer bytes as uppercase hex pairs joined by `:`.
    pub serial: String,
    /// Each DNS name of the subjectAltName extension, in order.
    pub san_dns: Vec<Vec<u8>>,
    /// notBefore as unix seconds.
    pub not_before: i64,
    /// notAfter as unix seconds.
    pub not_after: i64,
}

/// A certificate chain as sent (leaf first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChain {
    /// DER of each certificate, in message order.
    pub der: Vec<Vec<u8>>,
    /// SHA-1 of the leaf's DER as lowercase hex pairs joined by `:`.
    pub fingerprint: Option<String>,
    /// The leaf's decoded fields; `None` when the chain is empty or x509 refused the leaf.
    pub leaf: Option<Leaf>,
}

/// `aa:bb:...` lowercase (fingerprint) or `AA:BB:...` uppercase (serial).
fn colon_hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// The event for a leaf x509 refused: Suricata maps a DER that ends early (nom's
/// `Incomplete`) to `certificate_invalid_length`, other refusals here to
/// `invalid_certificate`.
fn leaf_error(der: &[u8]) -> TlsEvent {
    match X509Certificate::from_der(der) {
        Err(x509_parser::nom::Err::Incomplete(_)) => TlsEvent::CertificateInvalidLength,
        _ => TlsEvent::InvalidCertificate,
    }
}

fn leaf_fields(der: &[u8]) -> Option<Leaf> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let san_dns = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(s) => Some(s.as_bytes().to_vec()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Leaf {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: colon_hex(cert.raw_serial(), true),
        san_dns,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Decodes a complete Certificate message (header included, TLS ≤ 1.2 layout: TLS 1.3
/// certificates are encrypted and never reach here). A message that does not decode also
/// raises `invalid_handshake_message`, as Suricata's handshake parser does when its
/// certificate decoder fails.
pub(crate) fn parse_certificate(msg: &[u8], events: &mut dyn FnMut(TlsEvent)) -> Option<CertChain> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::Certificate(c)))) =
        parse_tls_message_handshake(msg)
    else {
        events(TlsEvent::CertificateInvalidLength);
        events(TlsEvent::InvalidHandshakeMessage);
        return None;
    };
    let der: Vec<Vec<u8>> = c.cert_chain.iter().map(|r| r.data.to_vec()).collect();
    let first = der.first();
    let leaf = first.and_then(|d| leaf_fields(d));
    if let (Some(d), None) = (first, &leaf) {
        events(leaf_error(d));
        events(TlsEvent::InvalidHandshakeMessage);
    }
    Some(CertChain {
        fingerprint: first.map(|d| colon_hex(&Sha1::digest(d), false)),
        der,
        leaf,
    })
}

pub(crate) use verdict_compiler::keywords::tls_cert::iso8601;

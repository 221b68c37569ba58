//! Anomalies the TLS parser raises, named like Suricata's `app-layer-event:tls.*` events
//! where Suricata has one, so rules and EVE consumers keep their names.

/// One anomaly seen on a TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TlsEvent {
    /// A record content type outside 20..=24 (`tls.invalid_record_type`); the direction
    /// stops parsing.
    InvalidRecordType,
    /// A record-layer major version other than 3 (`tls.invalid_record_version`); the
    /// direction stops parsing.
    InvalidRecordVersion,
    /// A record longer than 2^14 + 2048 bytes (`tls.invalid_record_length`); the direction
    /// stops parsing.
    InvalidRecordLength,
    /// A handshake message of an unknown type (`tls.invalid_handshake_message`).
    InvalidHandshakeMessage,
    /// A handshake message whose fields do not fit its length (`tls.handshake_invalid_length`).
    HandshakeInvalidLength,
    /// An SNI entry of a type other than host_name (`tls.invalid_sni_type`).
    InvalidSniType,
    /// An SNI host name that is empty, longer than 255 bytes or cut (`tls.invalid_sni_length`).
    InvalidSniLength,
    /// More than one SNI extension (`tls.multiple_sni_extensions`); the first is kept.
    MultipleSniExtensions,
    /// A certificate of the chain that x509 decoding refused (`tls.invalid_certificate`).
    InvalidCertificate,
    /// A certificate message whose chain lengths do not add up (`tls.certificate_invalid_length`).
    CertificateInvalidLength,
    /// An SSLv2-framed ClientHello; not parsed, the direction stops. (verdict-specific)
    Sslv2Unsupported,
    /// A handshake message longer than `max_handshake_message`; the direction stops.
    /// (verdict-specific)
    HandshakeMessageTooLarge,
    /// Stream bytes were lost; the direction stops (records cannot be re-framed).
    /// (verdict-specific)
    StreamGap,
}

impl TlsEvent {
    /// Every event, in declaration order.
    pub const ALL: [TlsEvent; 13] = [
        TlsEvent::InvalidRecordType,
        TlsEvent::InvalidRecordVersion,
        TlsEvent::InvalidRecordLength,
        TlsEvent::InvalidHandshakeMessage,
        TlsEvent::HandshakeInvalidLength,
        TlsEvent::InvalidSniType,
        TlsEvent::InvalidSniLength,
        TlsEvent::MultipleSniExtensions,
        TlsEvent::InvalidCertificate,
        TlsEvent::CertificateInvalidLength,
        TlsEvent::Sslv2Unsupported,
        TlsEvent::HandshakeMessageTooLarge,
        TlsEvent::StreamGap,
    ];

    /// The event's name after `tls.` in `app-layer-event:tls.NAME` (Suricata's where it
    /// has one).
    pub fn name(self) -> &'static str {
        match self {
            TlsEvent::InvalidRecordType => "invalid_record_type",
            TlsEvent::InvalidRecordVersion => "invalid_record_version",
            TlsEvent::InvalidRecordLength => "invalid_record_length",
            TlsEvent::InvalidHandshakeMessage => "invalid_handshake_message",
            TlsEvent::HandshakeInvalidLength => "handshake_invalid_length",
            TlsEvent::InvalidSniType => "invalid_sni_type",
            TlsEvent::InvalidSniLength => "invalid_sni_length",
            TlsEvent::MultipleSniExtensions => "multiple_sni_extensions",
            TlsEvent::InvalidCertificate => "invalid_certificate",
            TlsEvent::CertificateInvalidLength => "certificate_invalid_length",
            TlsEvent::Sslv2Unsupported => "sslv2_unsupported",
            TlsEvent::HandshakeMessageTooLarge => "handshake_message_too_large",
            TlsEvent::StreamGap => "stream_gap",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// The set of events raised on a connection (each at most once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsEvents(u16);

impl TlsEvents {
    pub(crate) fn insert(&mut self, e: TlsEvent) {
        self.0 |= e.bit();
    }

    /// Whether `e` was raised.
    pub fn contains(&self, e: TlsEvent) -> bool {
        self.0 & e.bit() != 0
    }

    /// Whether no event was raised.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The raised events in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = TlsEvent> + '_ {
        TlsEvent::ALL.into_iter().filter(|e| self.contains(*e))
    }
}

//! TLS handshake parsing into Suricata's TLS buffers, fingerprints and EVE fields.
//!
//! [`TlsConn`] takes the reassembled, in-order bytes of one TCP connection, per direction
//! and split anywhere. Records are framed here; handshake messages are reassembled across
//! records (and several per record are split) and decoded with `tls-parser`; certificates
//! with `x509-parser`, as Suricata does. Each call returns a [`TlsUpdate`] that says what
//! became available, so detection runs once per hello/certificate and the flow can be
//! bypassed when the handshake is over ([`TlsUpdate::handshake_done`]): after it, nothing
//! is left in the clear for TLS rules.
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::tls::{TlsConfig, TlsConn};
//!
//! // A ClientHello with only an SNI extension for "a.example".
//! let sni: &[u8] = &[0, 0, 0, 14, 0, 12, 0, 0, 9, b'a', b'.', b'e', b'x', b'a', b'm', b'p', b'l', b'e'];
//! let mut body = vec![3, 3];
//! body.extend([7; 32]); // random
//! body.extend([0, 0, 2, 0x13, 0x01, 1, 0]); // no session id, one cipher, null compression
//! body.extend((sni.len() as u16).to_be_bytes());
//! body.extend(sni);
//! let mut msg = vec![1, 0, 0, body.len() as u8];
//! msg.extend(&body);
//! let mut record = vec![22, 3, 1, 0, msg.len() as u8];
//! record.extend(&msg);
//!
//! let mut conn = TlsConn::new(&TlsConfig::default());
//! assert!(!conn.feed(true, &record[..7]).client_hello());
//! assert!(conn.feed(true, &record[7..]).client_hello());
//! assert_eq!(conn.buffer_n(AppBuffer::TlsSni, true, 0), Some(&b"a.example"[..]));
//! assert_eq!(conn.buffer_n(AppBuffer::Ja3String, true, 0), Some(&b"771,4865,0,,"[..]));
//! ```
//!
//! ## What is Suricata's, what is not
//! String formats (subject/issuer, serial, fingerprint, JA3/JA3S, EVE version names and
//! dates) and the version rules of `tls.version` follow Suricata's code. JA4 follows
//! FoxIO's specification (an empty list hashes to `000000000000`; no `_` before missing
//! signature algorithms; a non-alphanumeric ALPN is shown as hex digits).
//! SSLv2 hellos are reported ([`TlsEvent::Sslv2Unsupported`]), not parsed. After a stream
//! gap a direction stops: TLS records cannot be re-framed from the middle.
//!
//! ## Memory
//! Per direction: one record header and one handshake message, at most
//! [`TlsConfig::max_handshake_message`] bytes (plus one record); then the owned hellos and
//! certificate chains. A longer message raises [`TlsEvent::HandshakeMessageTooLarge`] and
//! stops that direction.

mod cert;
mod conn;
mod eve;
mod event;
mod hello;
mod ja;
mod record;

#[cfg(test)]
pub(crate) mod tests;

pub use cert::{CertChain, Leaf};
pub use conn::TlsConn;
pub use eve::{version_name, Ja3Info, TlsInfo};
pub use event::{TlsEvent, TlsEvents};
pub use hello::{ClientHello, ServerHello};

/// Limits of one connection's parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Longest handshake message reassembled (default 64 KiB, room for real certificate
    /// chains); a longer one raises an event and stops parsing that direction.
    pub max_handshake_message: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            max_handshake_message: 64 << 10,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    /// A ClientHello needs at least a few hundred bytes; less would refuse every client.
    #[error("tls: max_handshake_message must be at least 1024 (got {0})")]
    MessageLimitTooSmall(usize),
    /// The handshake header's length field is 24 bits.
    #[error("tls: max_handshake_message must be below 16 MiB (got {0})")]
    MessageLimitTooLarge(usize),
}

impl TlsConfig {
    /// Checks the limits for values that cannot work.
    pub fn validate(&self) -> Result<(), TlsConfigError> {
        if self.max_handshake_message < 1024 {
            return Err(TlsConfigError::MessageLimitTooSmall(
                self.max_handshake_message,
            ));
        }
        if self.max_handshake_message >= 1 << 24 {
            return Err(TlsConfigError::MessageLimitTooLarge(
                self.max_handshake_message,
            ));
        }
        Ok(())
    }
}

/// What one `feed`/`gap` call made available (several at once when a feed carries them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsUpdate(u8);

impl TlsUpdate {
    const CLIENT_HELLO: u8 = 1;
    const SERVER_HELLO: u8 = 1 << 1;
    const CERTIFICATE: u8 = 1 << 2;
    const HANDSHAKE_DONE: u8 = 1 << 3;
    const EVENT: u8 = 1 << 4;
    const STOPPED: u8 = 1 << 5;
    const STATE: u8 = 1 << 6;

    fn insert(&mut self, bit: u8) {
        self.0 |= bit;
    }

    /// Everything either update made available (one packet may complete several feeds).
    pub fn union(self, other: TlsUpdate) -> TlsUpdate {
        TlsUpdate(self.0 | other.0)
    }

    /// A ClientHello was parsed: SNI, JA3, JA4, client random and ALPN are available.
    pub fn client_hello(&self) -> bool {
        self.0 & Self::CLIENT_HELLO != 0
    }

    /// A ServerHello was parsed: JA3S, server random, ALPN and the negotiated version.
    pub fn server_hello(&self) -> bool {
        self.0 & Self::SERVER_HELLO != 0
    }

    /// A Certificate message was parsed: `tls.certs` and the leaf's fields.
    pub fn certificate(&self) -> bool {
        self.0 & Self::CERTIFICATE != 0
    }

    /// The handshake ended with this feed; reported once per connection.
    pub fn handshake_done(&self) -> bool {
        self.0 & Self::HANDSHAKE_DONE != 0
    }

    /// At least one new event was raised (see [`TlsConn::events`]).
    pub fn event(&self) -> bool {
        self.0 & Self::EVENT != 0
    }

    /// The fed direction stopped parsing with this call (garbage, a limit, a gap).
    pub fn stopped(&self) -> bool {
        self.0 & Self::STOPPED != 0
    }

    /// A handshake message set the `ssl_state` state (a key exchange, say): state rules
    /// have something new to test even when no buffer changed.
    pub fn state(&self) -> bool {
        self.0 & Self::STATE != 0
    }

    /// Whether nothing became available.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// A protocol version as the `ssl_version` keyword names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslVersion {
    /// `sslv2`
    Ssl2,
    /// `sslv3`
    Ssl3,
    /// `tls1.0`
    Tls10,
    /// `tls1.1`
    Tls11,
    /// `tls1.2`
    Tls12,
    /// `tls1.3` (drafts included)
    Tls13,
}

impl SslVersion {
    /// Maps a wire version; versions `ssl_version` has no name for give `None`.
    pub fn from_wire(v: u16) -> Option<SslVersion> {
        match v {
            0x0002 => Some(SslVersion::Ssl2),
            0x0300 => Some(SslVersion::Ssl3),
            0x0301 => Some(SslVersion::Tls10),
            0x0302 => Some(SslVersion::Tls11),
            0x0303 => Some(SslVersion::Tls12),
            0x0304 => Some(SslVersion::Tls13),
            v if v >> 8 == 0x7f => Some(SslVersion::Tls13),
            _ => None,
        }
    }

    /// A distinct bit per version, so a rule's `ssl_version:tls1.2,tls1.3` is one mask.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Handshake states for the `ssl_state` keyword (a bit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SslStates(u8);

impl SslStates {
    /// `client_hello`
    pub const CLIENT_HELLO: SslStates = SslStates(1);
    /// `server_hello`
    pub const SERVER_HELLO: SslStates = SslStates(1 << 1);
    /// `client_keyx`
    pub const CLIENT_KEYX: SslStates = SslStates(1 << 2);
    /// `server_keyx`
    pub const SERVER_KEYX: SslStates = SslStates(1 << 3);
    /// `unknown`: a handshake message of a type the parser does not know.
    pub const UNKNOWN: SslStates = SslStates(1 << 4);

    /// No state.
    pub const fn empty() -> SslStates {
        SslStates(0)
    }

    /// Both sets together.
    pub const fn union(self, other: SslStates) -> SslStates {
        SslStates(self.0 | other.0)
    }

    /// Whether every state of `other` is in `self`.
    pub const fn contains(self, other: SslStates) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no state is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bit set itself, numbered as the `ssl_state` keyword's states are.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

//! Record and handshake reassembly for one direction.
//!
//! TLS records arrive split anywhere by TCP; handshake messages may span several records
//! and one record may hold several messages. [`Reader`] keeps at most one record header
//! (5 bytes) and one handshake message (bounded by the configured limit) and hands every
//! complete unit to a callback, so nothing grows with what a peer sends.

use super::event::TlsEvent;

/// Length of a record header: type, version, length.
const RECORD_HEADER_LEN: usize = 5;
/// Length of a handshake message header: type and 24-bit length.
pub(crate) const HS_HEADER_LEN: usize = 4;
/// RFC 8446 §5.2: a protected record is at most 2^14 + 256 bytes; TLS 1.2 allows 2^14 + 2048
/// for compressed/protected records. Anything longer is not TLS.
const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// Record content types (RFC 8446 §5.1, RFC 6520 for heartbeat).
pub(crate) mod content {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    pub const HEARTBEAT: u8 = 24;
}

/// One complete unit of the record layer, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unit<'a> {
    /// A record header was read: its content type and record-layer version.
    Record { content_type: u8, version: u16 },
    /// A complete plaintext handshake message, header included.
    Handshake { msg_type: u8, msg: &'a [u8] },
    /// A ChangeCipherSpec record: later handshake records of this direction are encrypted.
    ChangeCipherSpec,
    /// An application-data record (encrypted payload).
    ApplicationData,
}

/// What the consumer of a unit says about the bytes that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep parsing handshake records.
    Plaintext,
    /// Later handshake records of this direction are ciphertext: skip them.
    Ciphertext,
}

/// Where the reader is inside the current record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// Collecting a record header (`hdr_len` bytes so far).
    Header,
    /// Inside a record body with this many bytes left.
    Body { content_type: u8, left: usize },
    /// Parsing stopped for good in this direction (garbage, limit, gap).
    Stopped,
}

/// Incremental record reader for one direction.
#[derive(Debug)]
pub(crate) struct Reader {
    pos: Pos,
    hdr: [u8; RECORD_HEADER_LEN],
    hdr_len: usize,
    /// Handshake bytes not yet forming a complete message (at most the limit + header).
    hs: Vec<u8>,
    /// A ChangeCipherSpec (or a TLS 1.3 ServerHello) was seen: handshake records that follow
    /// are ciphertext and are skipped, not parsed.
    encrypted: bool,
    /// Nothing has been read yet: the first bytes decide SSLv2 vs. SSLv3/TLS framing.
    first: bool,
    max_message: usize,
}

impl Reader {
    /// A reader that refuses handshake messages longer than `max_message` bytes.
    pub(crate) fn new(max_message: usize) -> Self {
        Reader {
            pos: Pos::Header,
            hdr: [0; RECORD_HEADER_LEN],
            hdr_len: 0,
            hs: Vec::new(),
            encrypted: false,
            first: true,
            max_message,
        }
    }

    /// Whether this direction stopped parsing.
    pub(crate) fn stopped(&self) -> bool {
        self.pos == Pos::Stopped
    }

    /// Stops parsing this direction and frees its buffers.
    pub(crate) fn stop(&mut self) {
        self.pos = Pos::Stopped;
        self.hs = Vec::new();
    }

    /// Bytes held for reassembly (for memory accounting and tests).
    pub(crate) fn buffered(&self) -> usize {
        self.hs.capacity() + self.hdr_len
    }

    /// Feeds stream bytes; calls `unit` for each complete unit and `event` for anomalies.
    /// After an event that stops the direction, the remaining bytes are ignored. `unit`
    /// answers [`Next::Ciphertext`] when the unit it saw makes the rest of this direction's
    /// handshake encrypted (a TLS 1.3 ServerHello).
    pub(crate) fn push(
        &mut self,
        mut data: &[u8],
        unit: &mut dyn FnMut(Unit<'_>) -> Next,
        event: &mut dyn FnMut(TlsEvent),
    ) {
        while !data.is_empty() {
            match self.pos {
                Pos::Stopped => return,
                Pos::Header => {
                    let take = (RECORD_HEADER_LEN - self.hdr_len).min(data.len());
                    let (head, rest) = data.split_at(take);
                    self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(head);
                    self.hdr_len += take;
                    data = rest;
                    if self.first && self.hdr_len >= 3 && self.sslv2_client_hello() {
                        event(TlsEvent::Sslv2Unsupported);
                        self.stop();
                        return;
                    }
                    if self.hdr_len == RECORD_HEADER_LEN {
                        self.first = false;
                        self.hdr_len = 0;
                        self.start_record(unit, event);
                    }
                }
                Pos::Body { content_type, left } => {
                    let take = left.min(data.len());
                    let (body, rest) = data.split_at(take);
                    data = rest;
                    let left = left - take;
                    self.pos = if left == 0 {
                        Pos::Header
                    } else {
                        Pos::Body { content_type, left }
                    };
                    self.record_bytes(content_type, body, unit, event);
                }
            }
        }
    }

    /// SSLv2 ClientHello framing: a 2-byte length with the high bit set, then message type
    /// 1 (CLIENT-HELLO). Such hellos carry no extensions (no SNI, no JA3 Suricata computes),
    /// so they are reported, not parsed.
    fn sslv2_client_hello(&self) -> bool {
        self.hdr[0] & 0x80 != 0 && self.hdr[2] == 1
    }

    fn start_record(
        &mut self,
        unit: &mut dyn FnMut(Unit<'_>) -> Next,
        event: &mut dyn FnMut(TlsEvent),
    ) {
        let content_type = self.hdr[0];
        let version = u16::from_be_bytes([self.hdr[1], self.hdr[2]]);
        let len = usize::from(u16::from_be_bytes([self.hdr[3], self.hdr[4]]));
        if !(content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(&content_type) {
            event(TlsEvent::InvalidRecordType);
            self.stop();
            return;
        }
        // SSLv3 and every TLS version use major version 3 on the record layer.
        if self.hdr[1] != 3 {
            event(TlsEvent::InvalidRecordVersion);
            self.stop();
            return;
        }
        if len > MAX_RECORD_LEN {
            event(TlsEvent::InvalidRecordLength);
            self.stop();
            return;
        }
        let mut next = unit(Unit::Record {
            content_type,
            version,
        });
        match content_type {
            content::CHANGE_CIPHER_SPEC => {
                unit(Unit::ChangeCipherSpec);
                next = Next::Ciphertext;
            }
            content::APPLICATION_DATA => {
                unit(Unit::ApplicationData);
            }
            _ => {}
        }
        if next == Next::Ciphertext {
            self.encrypted = true;
            self.hs = Vec::new();
        }
        self.pos = if len == 0 {
            Pos::Header
        } else {
            Pos::Body {
                content_type,
                left: len,
            }
        };
    }

    fn record_bytes(
        &mut self,
        content_type: u8,
        body: &[u8],
        unit: &mut dyn FnMut(Unit<'_>) -> Next,
        event: &mut dyn FnMut(TlsEvent),
    ) {
        if content_type != content::HANDSHAKE || self.encrypted {
            return;
        }
        self.hs.extend_from_slice(body);
        let mut start = 0;
        while let Some(header) = self.hs.get(start..start + HS_HEADER_LEN) {
            let msg_type = header[0];
            let len =
                usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
            if len > self.max_message {
                event(TlsEvent::HandshakeMessageTooLarge);
                self.stop();
                return;
            }
            let end = start + HS_HEADER_LEN + len;
            let Some(msg) = self.hs.get(start..end) else {
                break;
            };
            let next = unit(Unit::Handshake { msg_type, msg });
            start = end;
            if next == Next::Ciphertext {
                // A TLS 1.3 ServerHello: what follows it is encrypted.
                self.encrypted = true;
                self.hs = Vec::new();
                return;
            }
        }
        // An unfinished message (or header) stays for the next record.
        self.hs.drain(..start);
        if self.hs.is_empty() && self.hs.capacity() > 4096 {
            self.hs = Vec::new();
        }
    }
}

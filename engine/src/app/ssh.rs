//! SSH: the identification banners and the key-exchange init of each side, as Suricata's
//! SSH parser (`rust/src/ssh`) reads them, for `ssh.proto`, `ssh.software`, the HASSH
//! buffers and `ssh.protoversion`/`ssh.softwareversion`.
//!
//! Per direction: the banner line `SSH-protoversion-softwareversion [comments]` (RFC 4253
//! section 4.2; a server may send other lines before it, which are skipped), then the
//! binary packets before encryption starts. Only `SSH_MSG_KEXINIT` is kept, for HASSH:
//! `kex;encryption;mac;compression` of the side's own direction, and its MD5. Everything
//! after the KEXINIT is encrypted or uninteresting, so a direction stops there and the
//! parser holds nothing more. A connection is one transaction, as in Suricata.
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::ssh::SshConn;
//!
//! let mut c = SshConn::new();
//! assert!(!c.feed(true, b"SSH-2.0-Open").banner());
//! assert!(c.feed(true, b"SSH_9.6 Debian\r\n").banner());
//! assert_eq!(c.buffer_n(AppBuffer::SshProto, true, 0), Some(&b"2.0"[..]));
//! assert_eq!(c.buffer_n(AppBuffer::SshSoftware, true, 0), Some(&b"OpenSSH_9.6"[..]));
//! ```
//!
//! ## Memory
//! Per direction: a banner line of at most [`MAX_BANNER`] bytes (a longer one is cut and
//! raises [`SshEvent::LongBanner`]), and one KEXINIT packet of at most [`MAX_KEXINIT`]
//! bytes (a longer one raises [`SshEvent::LongKexRecord`] and stops the direction).

use md5::{Digest, Md5};
use verdict_compiler::ir::AppBuffer;

/// Longest banner line kept (Suricata's `SSH_MAX_BANNER_LEN`).
pub const MAX_BANNER: usize = 256;
/// Longest KEXINIT packet reassembled (Suricata's `SSH_MAX_REASSEMBLED_RECORD_LEN`).
pub const MAX_KEXINIT: usize = 65_535;
/// Lines a server may send before its banner (RFC 4253 allows them; a bound keeps junk
/// from being read as "not yet SSH" forever).
const MAX_PRE_BANNER_LINES: u32 = 16;

/// `SSH_MSG_KEXINIT`.
const MSG_KEXINIT: u8 = 20;
/// `SSH_MSG_NEWKEYS`: encryption starts after it.
const MSG_NEWKEYS: u8 = 21;

/// An anomaly the parser raised (Suricata's SSH event names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SshEvent {
    /// A banner line that is not `SSH-proto-software`.
    InvalidBanner,
    /// A banner line longer than [`MAX_BANNER`].
    LongBanner,
    /// A binary packet whose length field is impossible.
    InvalidRecordLength,
    /// A KEXINIT longer than [`MAX_KEXINIT`].
    LongKexRecord,
}

impl SshEvent {
    /// Every event, for the compiler's table of raised names.
    pub const ALL: &'static [SshEvent] = &[
        SshEvent::InvalidBanner,
        SshEvent::LongBanner,
        SshEvent::InvalidRecordLength,
        SshEvent::LongKexRecord,
    ];

    /// The name `app-layer-event:ssh.NAME` uses.
    pub fn name(self) -> &'static str {
        match self {
            SshEvent::InvalidBanner => "invalid_banner",
            SshEvent::LongBanner => "long_banner",
            SshEvent::InvalidRecordLength => "invalid_record_length",
            SshEvent::LongKexRecord => "long_kex_record",
        }
    }
}

/// What one `feed` made available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SshUpdate(u8);

impl SshUpdate {
    const BANNER: u8 = 1;
    const KEXINIT: u8 = 2;
    const EVENT: u8 = 4;

    /// Both updates together.
    pub fn union(self, o: SshUpdate) -> SshUpdate {
        SshUpdate(self.0 | o.0)
    }
    /// A banner was parsed: `ssh.proto`, `ssh.software` of that side.
    pub fn banner(self) -> bool {
        self.0 & Self::BANNER != 0
    }
    /// A KEXINIT was parsed: that side's HASSH.
    pub fn kexinit(self) -> bool {
        self.0 & Self::KEXINIT != 0
    }
    /// An event was raised.
    pub fn event(self) -> bool {
        self.0 & Self::EVENT != 0
    }
    /// Nothing new.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Where a direction's parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading lines until `SSH-`.
    Banner,
    /// Reading the 5-byte binary packet header (length, padding length) plus message code.
    Header,
    /// Skipping `n` bytes of a packet that is not a KEXINIT.
    Skip(u32),
    /// Reassembling a KEXINIT of this many bytes after the length field.
    Kexinit(u32),
    /// Nothing more to read in the clear.
    Done,
}

/// One direction's banner and HASSH.
#[derive(Debug, Clone)]
struct Side {
    phase: Phase,
    /// The partial line, packet header or KEXINIT.
    buf: Vec<u8>,
    /// Lines seen before the banner.
    lines: u32,
    /// The banner line was cut at [`MAX_BANNER`]: the rest up to its newline is skipped.
    cut: bool,
    proto: Option<Vec<u8>>,
    software: Option<Vec<u8>>,
    hassh_string: Option<Vec<u8>>,
    hassh: Option<Vec<u8>>,
}

impl Side {
    fn new() -> Side {
        Side {
            phase: Phase::Banner,
            buf: Vec::new(),
            lines: 0,
            cut: false,
            proto: None,
            software: None,
            hassh_string: None,
            hassh: None,
        }
    }
}

/// One SSH connection's parser (both directions).
#[derive(Debug, Clone)]
pub struct SshConn {
    /// [client, server].
    sides: [Side; 2],
    events: Vec<SshEvent>,
}

impl Default for SshConn {
    fn default() -> Self {
        SshConn::new()
    }
}

impl SshConn {
    /// A connection with nothing seen.
    pub fn new() -> SshConn {
        SshConn {
            sides: [Side::new(), Side::new()],
            events: Vec::new(),
        }
    }

    /// Feeds in-order stream bytes of one direction (the client's when `to_server`).
    pub fn feed(&mut self, to_server: bool, mut bytes: &[u8]) -> SshUpdate {
        let mut up = SshUpdate::default();
        let side = usize::from(!to_server);
        while !bytes.is_empty() {
            let s = &mut self.sides[side];
            let used = match s.phase {
                Phase::Banner => banner_step(s, bytes, to_server, &mut self.events, &mut up),
                Phase::Header => header_step(s, bytes, &mut self.events, &mut up),
                Phase::Skip(n) => {
                    let k = bytes.len().min(n as usize);
                    let left = n - k as u32;
                    s.phase = if left == 0 {
                        Phase::Header
                    } else {
                        Phase::Skip(left)
                    };
                    k
                }
                Phase::Kexinit(n) => kexinit_step(s, bytes, n, to_server, &mut up),
                Phase::Done => bytes.len(),
            };
            bytes = &bytes[used.min(bytes.len())..];
        }
        up
    }

    /// A stream gap in one direction: lines and packets cannot be found again, so that
    /// direction stops (what it parsed stays).
    pub fn gap(&mut self, to_server: bool) {
        let s = &mut self.sides[usize::from(!to_server)];
        s.phase = Phase::Done;
        s.buf = Vec::new();
    }

    /// Events raised so far, in order.
    pub fn events(&self) -> &[SshEvent] {
        &self.events
    }

    /// The protocol version of a side's banner (`2.0`).
    pub fn proto(&self, to_server: bool) -> Option<&[u8]> {
        self.sides[usize::from(!to_server)].proto.as_deref()
    }

    /// The software version of a side's banner (`OpenSSH_9.6`).
    pub fn software(&self, to_server: bool) -> Option<&[u8]> {
        self.sides[usize::from(!to_server)].software.as_deref()
    }

    /// True once both directions have nothing more in the clear (KEXINIT seen or stopped).
    pub fn done(&self) -> bool {
        self.sides.iter().all(|s| s.phase == Phase::Done)
    }

    /// Instance `i` of an SSH buffer for a direction. `ssh.proto`/`ssh.software` read the
    /// banner of that direction; `ssh.hassh*` are the client's KEXINIT and
    /// `ssh.hassh.server*` the server's, whatever the direction asked.
    pub fn buffer_n(&self, b: AppBuffer, to_server: bool, i: usize) -> Option<&[u8]> {
        if i > 0 {
            return None;
        }
        let [cli, srv] = &self.sides;
        match b {
            AppBuffer::SshProto => self.proto(to_server),
            AppBuffer::SshSoftware => self.software(to_server),
            AppBuffer::SshHassh => cli.hassh.as_deref(),
            AppBuffer::SshHasshString => cli.hassh_string.as_deref(),
            AppBuffer::SshHasshServer => srv.hassh.as_deref(),
            AppBuffer::SshHasshServerString => srv.hassh_string.as_deref(),
            _ => None,
        }
    }
}

/// Reads banner-phase bytes up to and including one newline; returns how many it used.
fn banner_step(
    s: &mut Side,
    bytes: &[u8],
    to_server: bool,
    events: &mut Vec<SshEvent>,
    up: &mut SshUpdate,
) -> usize {
    let nl = memchr::memchr(b'\n', bytes);
    let take = nl.map_or(bytes.len(), |p| p + 1);
    let room = MAX_BANNER.saturating_sub(s.buf.len());
    if !s.cut {
        let line_part = &bytes[..take];
        s.buf
            .extend_from_slice(&line_part[..line_part.len().min(room)]);
        if line_part.len() > room {
            s.cut = true;
            push_event(events, SshEvent::LongBanner, up);
        }
    }
    if nl.is_none() {
        // A cut banner still yields its fields once the line ends.
        return take;
    }
    let line = std::mem::take(&mut s.buf);
    s.cut = false;
    let line = trim_eol(&line);
    if line.starts_with(b"SSH-") {
        match parse_banner(line) {
            Some((proto, software)) => {
                s.proto = Some(proto.to_vec());
                s.software = Some(software.to_vec());
                up.0 |= SshUpdate::BANNER;
            }
            None => push_event(events, SshEvent::InvalidBanner, up),
        }
        s.phase = Phase::Header;
    } else {
        s.lines += 1;
        // Only a server may send lines before its banner (RFC 4253 section 4.2).
        if to_server || s.lines > MAX_PRE_BANNER_LINES {
            push_event(events, SshEvent::InvalidBanner, up);
            s.phase = Phase::Done;
        }
    }
    take
}

/// `SSH-protoversion-softwareversion[ comments]`: (protoversion, softwareversion). The
/// software ends at a space, as Suricata's `ssh_parse_banner` reads it.
pub fn parse_banner(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = line.strip_prefix(b"SSH-")?;
    let dash = memchr::memchr(b'-', rest)?;
    let (proto, sw) = (&rest[..dash], &rest[dash + 1..]);
    let end = sw.iter().position(|&b| b == b' ').unwrap_or(sw.len());
    if proto.is_empty() {
        return None;
    }
    Some((proto, &sw[..end]))
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn push_event(events: &mut Vec<SshEvent>, e: SshEvent, up: &mut SshUpdate) {
    if !events.contains(&e) {
        events.push(e);
    }
    up.0 |= SshUpdate::EVENT;
}

/// Reads a packet header: 4-byte length, padding length, message code.
fn header_step(
    s: &mut Side,
    bytes: &[u8],
    events: &mut Vec<SshEvent>,
    up: &mut SshUpdate,
) -> usize {
    const HDR: usize = 6;
    let k = (HDR - s.buf.len()).min(bytes.len());
    s.buf.extend_from_slice(&bytes[..k]);
    if s.buf.len() < HDR {
        return k;
    }
    let len = u32::from_be_bytes([s.buf[0], s.buf[1], s.buf[2], s.buf[3]]);
    let code = s.buf[5];
    // The length covers the padding-length byte, the payload and the padding; what is
    // left after the two bytes already read:
    let Some(rest) = len.checked_sub(2) else {
        push_event(events, SshEvent::InvalidRecordLength, up);
        s.phase = Phase::Done;
        s.buf = Vec::new();
        return k;
    };
    s.phase = match code {
        MSG_KEXINIT if s.hassh.is_none() => {
            if len as usize > MAX_KEXINIT {
                push_event(events, SshEvent::LongKexRecord, up);
                s.phase = Phase::Done;
                s.buf = Vec::new();
                return k;
            }
            // Keep padding length and code: the payload parser reads from the code on.
            s.buf.drain(..4);
            Phase::Kexinit(rest)
        }
        MSG_NEWKEYS => Phase::Done,
        _ if s.hassh.is_some() => Phase::Done,
        _ if rest == 0 => Phase::Header,
        _ => Phase::Skip(rest),
    };
    if !matches!(s.phase, Phase::Kexinit(_)) {
        s.buf.clear();
    }
    k
}

/// Collects a KEXINIT (`n` bytes left) and computes the HASSH when it is whole.
fn kexinit_step(s: &mut Side, bytes: &[u8], n: u32, to_server: bool, up: &mut SshUpdate) -> usize {
    let k = bytes.len().min(n as usize);
    s.buf.extend_from_slice(&bytes[..k]);
    let left = n - k as u32;
    if left > 0 {
        s.phase = Phase::Kexinit(left);
        return k;
    }
    let pkt = std::mem::take(&mut s.buf);
    // pkt: padding length, code, payload, padding.
    let pad = usize::from(pkt[0]);
    let body = pkt.get(2..pkt.len().saturating_sub(pad)).unwrap_or(&[]);
    if let Some(hs) = hassh_string(body, to_server) {
        let digest = Md5::digest(&hs);
        s.hassh = Some(hex(&digest).into_bytes());
        s.hassh_string = Some(hs);
        up.0 |= SshUpdate::KEXINIT;
    }
    // What follows the KEXINIT is the key exchange and then ciphertext.
    s.phase = Phase::Done;
    k
}

/// HASSH's algorithm string from a KEXINIT body (after the message code): the key
/// exchange list, then the encryption, MAC and compression lists of the sender's own
/// direction, joined by `;` (salesforce/hassh, as Suricata's `generate_hassh`).
pub fn hassh_string(body: &[u8], client: bool) -> Option<Vec<u8>> {
    let mut rest = body.get(16..)?; // cookie
    let mut lists: [&[u8]; 8] = [&[]; 8];
    for l in &mut lists {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        *l = rest.get(4..4usize.checked_add(len)?)?;
        rest = &rest[4 + len..];
    }
    // kex, host key, enc c2s, enc s2c, mac c2s, mac s2c, comp c2s, comp s2c
    let pick = |c2s: usize| if client { lists[c2s] } else { lists[c2s + 1] };
    let parts = [lists[0], pick(2), pick(4), pick(6)];
    Some(parts.join(&b';'))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A KEXINIT binary packet (4-byte padding) with the given name-lists.
    pub(crate) fn kexinit(lists: [&str; 10]) -> Vec<u8> {
        let mut payload = vec![MSG_KEXINIT];
        payload.extend([0x11; 16]);
        for l in lists {
            payload.extend((l.len() as u32).to_be_bytes());
            payload.extend(l.as_bytes());
        }
        payload.extend([0, 0, 0, 0, 0]); // first_kex_packet_follows, reserved
        let pad = 4u8;
        let mut pkt = ((payload.len() + 1 + usize::from(pad)) as u32)
            .to_be_bytes()
            .to_vec();
        pkt.push(pad);
        pkt.extend(&payload);
        pkt.extend([0; 4]);
        pkt
    }

    const LISTS: [&str; 10] = [
        "curve25519-sha256,diffie-hellman-group14-sha256",
        "ssh-ed25519",
        "chacha20-poly1305@openssh.com,aes128-ctr",
        "aes256-ctr",
        "hmac-sha2-256",
        "hmac-sha2-512",
        "none,zlib@openssh.com",
        "none",
        "",
        "",
    ];

    #[test]
    fn banners_and_hassh_split_anywhere() {
        let mut all = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n".to_vec();
        all.extend(kexinit(LISTS));
        all.extend([0, 0, 0, 12, 10, 21]); // NEWKEYS, then ciphertext
        all.extend([0xee; 40]);
        for cut in 0..all.len() {
            let mut c = SshConn::new();
            let a = c.feed(true, &all[..cut]);
            let b = c.feed(true, &all[cut..]);
            let u = a.union(b);
            assert!(u.banner() && u.kexinit(), "cut {cut}");
            assert_eq!(c.proto(true), Some(&b"2.0"[..]));
            assert_eq!(c.software(true), Some(&b"OpenSSH_9.6p1"[..]));
            let hs = c.buffer_n(AppBuffer::SshHasshString, false, 0).unwrap();
            assert_eq!(
                hs,
                &b"curve25519-sha256,diffie-hellman-group14-sha256;chacha20-poly1305@openssh.com,aes128-ctr;hmac-sha2-256;none,zlib@openssh.com"[..]
            );
            let h = c.buffer_n(AppBuffer::SshHassh, true, 0).unwrap();
            assert_eq!(h, hex(&Md5::digest(hs)).as_bytes());
            assert!(c.buffer_n(AppBuffer::SshHasshServer, true, 0).is_none());
            assert!(c.events().is_empty(), "{:?}", c.events());
        }
    }

    #[test]
    fn server_side_reads_its_own_direction_and_pre_banner_lines() {
        let mut c = SshConn::new();
        c.feed(false, b"Welcome\r\nSSH-1.99-Cisco-1.25\r\n");
        c.feed(false, &kexinit(LISTS));
        assert_eq!(c.proto(false), Some(&b"1.99"[..]));
        assert_eq!(c.software(false), Some(&b"Cisco-1.25"[..]));
        assert_eq!(
            c.buffer_n(AppBuffer::SshHasshServerString, true, 0),
            Some(
                &b"curve25519-sha256,diffie-hellman-group14-sha256;aes256-ctr;hmac-sha2-512;none"[..]
            )
        );
        assert!(c.proto(true).is_none());
        assert!(!c.done());
    }

    #[test]
    fn hostile_input_raises_events_and_never_panics() {
        let mut c = SshConn::new();
        c.feed(true, b"HELLO\n");
        assert_eq!(c.events(), &[SshEvent::InvalidBanner]);
        let mut c = SshConn::new();
        let long = format!("SSH-2.0-{}\r\n", "A".repeat(400));
        c.feed(true, long.as_bytes());
        assert_eq!(c.events(), &[SshEvent::LongBanner]);
        assert_eq!(c.software(true).map(<[u8]>::len), Some(MAX_BANNER - 8));
        // A length of 1 cannot hold padding length and code.
        let mut c = SshConn::new();
        c.feed(true, b"SSH-2.0-x\r\n\x00\x00\x00\x01\x04\x14");
        assert_eq!(c.events(), &[SshEvent::InvalidRecordLength]);
        let mut c = SshConn::new();
        c.feed(true, b"SSH-2.0-x\r\n\x00\x10\x00\x00\x04\x14");
        assert_eq!(c.events(), &[SshEvent::LongKexRecord]);
        // Truncated name-lists: no HASSH, no panic.
        let mut k = kexinit(LISTS);
        k[22] = 0xff;
        let mut c = SshConn::new();
        c.feed(true, b"SSH-2.0-x\r\n");
        c.feed(true, &k);
        assert!(c.buffer_n(AppBuffer::SshHassh, true, 0).is_none());
        // Random bytes right after a banner, each chunk on a fresh connection.
        let alpha: Vec<u8> = (0..=255).collect();
        crate::app::feed_junk(&alpha, 200, |to_server, b| {
            let mut c = SshConn::new();
            c.feed(to_server, b"SSH-2.0-x\r\n");
            c.feed(to_server, b);
        });
    }

    #[test]
    fn banner_fields() {
        assert_eq!(
            parse_banner(b"SSH-2.0-libssh_0.10.6"),
            Some((&b"2.0"[..], &b"libssh_0.10.6"[..]))
        );
        assert_eq!(parse_banner(b"SSH-2.0-"), Some((&b"2.0"[..], &b""[..])));
        assert_eq!(parse_banner(b"SSH-2.0"), None);
        assert_eq!(parse_banner(b"SSH--x"), None);
    }
}

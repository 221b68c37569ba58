//! DNS over TCP: 2-byte length-prefixed messages out of a reassembled byte stream.

use super::header::{self, Header};
use super::probe::header_plausible;
use super::{parse, DnsMessage};

/// The largest message a 2-byte length prefix can announce; at most this many bytes (plus
/// the prefix) are held per direction.
pub const MAX_TCP_MESSAGE: usize = u16::MAX as usize;

/// Length of the message length prefix.
const PREFIX: usize = 2;

/// What happened on a connection, for counters and events (all saturating).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsTcpStats {
    /// Messages framed and parsed.
    pub messages: u64,
    /// Messages framed whose bytes did not parse (includes length prefixes below 12).
    pub parse_errors: u64,
    /// Gaps reported by reassembly.
    pub gaps: u64,
    /// Bytes dropped after a gap while no chunk started with a plausible message.
    pub resync_dropped: u64,
}

/// One direction's framing state.
#[derive(Debug, Clone, Default)]
struct Half {
    /// The message being assembled, prefix included: fewer than `PREFIX + announced`
    /// bytes, so never more than `PREFIX + MAX_TCP_MESSAGE - 1`.
    partial: Vec<u8>,
    /// After a gap message boundaries are unknown until a chunk starts with one.
    lost: bool,
}

/// Frames and parses DNS messages per direction of one TCP connection.
///
/// After [`DnsTcp::gap`] the direction resynchronises at the first later chunk that
/// begins with a plausible message: a length prefix of at least 12 followed by a header
/// that passes [`super::probe`]'s header checks for that direction (at least 14 bytes
/// in the chunk). Senders write a message per write, so after a loss the next segment
/// usually starts one; chunks that do not are dropped and counted. Without a gap the
/// length prefixes are trusted: a message that does not parse is counted and framing
/// goes on after it.
#[derive(Debug, Clone, Default)]
pub struct DnsTcp {
    halves: [Half; 2],
    stats: DnsTcpStats,
}

fn announced(prefix: &[u8]) -> Option<usize> {
    let b: [u8; 2] = prefix.get(..PREFIX)?.try_into().ok()?;
    Some(usize::from(u16::from_be_bytes(b)))
}

/// A whole message at the start of `buf`, and what follows it.
fn frame(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = PREFIX.checked_add(announced(buf)?)?;
    Some((buf.get(PREFIX..end)?, buf.get(end..)?))
}

fn plausible_start(chunk: &[u8], to_server: bool) -> bool {
    let Some(len) = announced(chunk) else {
        return false;
    };
    match chunk.get(PREFIX..).and_then(Header::parse) {
        Some(h) => len >= header::LEN && header_plausible(&h, len, to_server),
        None => false,
    }
}

impl DnsTcp {
    /// A connection with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next in-order bytes of one direction and returns the messages they
    /// complete, in order.
    pub fn feed(&mut self, to_server: bool, bytes: &[u8]) -> Vec<DnsMessage> {
        let Self { halves, stats } = self;
        let half = &mut halves[usize::from(to_server)];
        let mut out = Vec::new();
        if half.lost {
            if !plausible_start(bytes, to_server) {
                stats.resync_dropped = stats.resync_dropped.saturating_add(bytes.len() as u64);
                return out;
            }
            half.lost = false;
        }
        let mut input = bytes;
        let mut deliver = |msg: &[u8]| match parse(msg) {
            Ok(m) => {
                stats.messages = stats.messages.saturating_add(1);
                out.push(m);
            }
            Err(_) => stats.parse_errors = stats.parse_errors.saturating_add(1),
        };
        while !input.is_empty() {
            if half.partial.is_empty() {
                // Whole messages are parsed in place; only a tail is copied.
                match frame(input) {
                    Some((msg, rest)) => {
                        deliver(msg);
                        input = rest;
                    }
                    None => {
                        half.partial.extend_from_slice(input);
                        input = &[];
                    }
                }
                continue;
            }
            let want = match announced(&half.partial) {
                Some(len) => PREFIX + len,
                None => PREFIX,
            };
            let take = want.saturating_sub(half.partial.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            half.partial.extend_from_slice(head);
            input = rest;
            if let Some((msg, _)) = frame(&half.partial) {
                deliver(msg);
                half.partial.clear();
            }
        }
        out
    }

    /// Reassembly lost bytes of one direction: the partial message is dropped and the
    /// direction waits for a chunk that starts a message (see the type docs).
    pub fn gap(&mut self, to_server: bool) {
        let half = &mut self.halves[usize::from(to_server)];
        half.partial.clear();
        half.lost = true;
        self.stats.gaps = self.stats.gaps.saturating_add(1);
    }

    /// Bytes held for an incomplete message of one direction (prefix included).
    pub fn pending(&self, to_server: bool) -> usize {
        self.halves[usize::from(to_server)].partial.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> &DnsTcpStats {
        &self.stats
    }
}

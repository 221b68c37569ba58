//! Is this payload DNS? A check cheap enough to run on the first packet of every UDP flow.

use domain::base::Message;

use super::header::{self, Header};

/// Opcodes in use: query, inverse query (obsolete, still seen), status, notify, update,
/// DNS stateful operations. 3 and 7-15 are unassigned.
fn known_opcode(flags: u16) -> bool {
    matches!((flags >> 11) & 0xf, 0 | 1 | 2 | 4 | 5 | 6)
}

/// More questions than this in one message is not something resolvers send (almost
/// every real message has exactly one).
const MAX_QUESTIONS: u16 = 16;

/// Smallest wire size of a question (root name, type, class) and of a record (root
/// owner, type, class, TTL, RDLENGTH).
const MIN_QUESTION: u32 = 1 + 4;
const MIN_RECORD: u32 = 1 + 10;

/// Whether `payload` (one UDP datagram, or one TCP message without its length prefix)
/// looks like a DNS message sent in this direction.
///
/// Accepts when all of these hold:
/// - at least the 12 header bytes, a known opcode (0, 1, 2, 4, 5, 6);
/// - the QR bit matches the direction: a query to the server, a response to the client;
/// - a query has 1 to 16 questions, a response at most 16;
/// - the counts fit in the length: each question needs at least 5 bytes and each record
///   11, and a message with no questions and no records is exactly 12 bytes (Suricata's
///   rule for FORMERR replies);
/// - the first question, if any, parses (name within the message and the 4 bytes after it).
///
/// The Z bit, rcode and the record contents are not looked at: they vary in real
/// traffic and the parser handles them.
pub fn probe(payload: &[u8], to_server: bool) -> bool {
    let Some(h) = Header::parse(payload) else {
        return false;
    };
    header_plausible(&h, payload.len(), to_server) && first_question_parses(payload, h.qdcount)
}

/// The header checks of [`probe`] for a message of `len` bytes (of which only the
/// header may be at hand: [`super::DnsTcp`] uses this to find a message start).
pub(crate) fn header_plausible(h: &Header, len: usize, to_server: bool) -> bool {
    let is_response = h.flags & header::flags::QR != 0;
    if is_response == to_server || !known_opcode(h.flags) || h.qdcount > MAX_QUESTIONS {
        return false;
    }
    if to_server && h.qdcount == 0 {
        return false;
    }
    let records = h.record_count();
    let min_len = header::LEN as u64
        + u64::from(h.qdcount) * u64::from(MIN_QUESTION)
        + u64::from(records) * u64::from(MIN_RECORD);
    let len = len as u64;
    !(min_len > len || (h.qdcount == 0 && records == 0 && len > header::LEN as u64))
}

fn first_question_parses(payload: &[u8], qdcount: u16) -> bool {
    if qdcount == 0 {
        return true;
    }
    match Message::from_octets(payload) {
        Ok(m) => matches!(m.question().next(), Some(Ok(_))),
        Err(_) => false,
    }
}

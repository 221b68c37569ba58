//! The fixed 12-byte DNS header, read without the wire crate so [`super::probe`] stays
//! cheap and the raw flags word is kept exactly.

use std::ops::Range;

/// Byte ranges of the header fields.
mod field {
    use super::Range;
    pub const ID: Range<usize> = 0..2;
    pub const FLAGS: Range<usize> = 2..4;
    pub const QDCOUNT: Range<usize> = 4..6;
    pub const ANCOUNT: Range<usize> = 6..8;
    pub const NSCOUNT: Range<usize> = 8..10;
    pub const ARCOUNT: Range<usize> = 10..12;
}

/// Bits of the header flags word ([`super::DnsMessage::flags`]).
pub mod flags {
    /// Query (0) or response (1).
    pub const QR: u16 = 0x8000;
    /// The 4-bit opcode field.
    pub const OPCODE_MASK: u16 = 0x7800;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated by the sender.
    pub const TC: u16 = 0x0200;
    /// Recursion desired.
    pub const RD: u16 = 0x0100;
    /// Recursion available.
    pub const RA: u16 = 0x0080;
    /// Reserved, must be zero.
    pub const Z: u16 = 0x0040;
    /// Authentic data (DNSSEC).
    pub const AD: u16 = 0x0020;
    /// Checking disabled (DNSSEC).
    pub const CD: u16 = 0x0010;
    /// The 4-bit rcode field.
    pub const RCODE_MASK: u16 = 0x000f;
}

/// Length of the header.
pub(crate) const LEN: usize = 12;

/// The decoded header. Constructed only by [`Header::parse`], so it always came from 12
/// real bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

fn be16(msg: &[u8], r: Range<usize>) -> Option<u16> {
    let b: [u8; 2] = msg.get(r)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

impl Header {
    /// Reads the header; `None` when `msg` is shorter than 12 bytes.
    pub fn parse(msg: &[u8]) -> Option<Header> {
        Some(Header {
            id: be16(msg, field::ID)?,
            flags: be16(msg, field::FLAGS)?,
            qdcount: be16(msg, field::QDCOUNT)?,
            ancount: be16(msg, field::ANCOUNT)?,
            nscount: be16(msg, field::NSCOUNT)?,
            arcount: be16(msg, field::ARCOUNT)?,
        })
    }

    /// The records of the three record sections together.
    pub fn record_count(&self) -> u32 {
        u32::from(self.ancount) + u32::from(self.nscount) + u32::from(self.arcount)
    }
}

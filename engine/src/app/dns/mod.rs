//! DNS (RFC 1035) messages into Suricata's DNS buffers, integers and EVE `dns` objects.
//!
//! [`parse`] turns one message (a UDP payload, or one length-prefixed TCP message out of
//! [`DnsTcp`]) into a [`DnsMessage`]: header fields, questions and the three record
//! sections with decompressed names. [`DnsMessage::buffers`] yields the instances of the
//! `dns.*` multi-buffers, [`DnsMessage::rrtypes`] the values `dns.rrtype` compares, and
//! [`DnsInfo`] the EVE object. [`probe`] says whether a payload is plausibly DNS.
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::dns;
//!
//! // A query for www.example.com/A, id 0x1234, RD set.
//! let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
//!           \x03www\x07example\x03com\x00\x00\x01\x00\x01";
//! assert!(dns::probe(q, true));
//! let msg = dns::parse(q).unwrap();
//! assert!(!msg.is_response());
//! assert_eq!(msg.buffer_n(AppBuffer::DnsQuery, 0), Some(&b"www.example.com"[..]));
//! assert_eq!(msg.buffer_n(AppBuffer::DnsQuery, 1), None);
//! assert_eq!(msg.rrtypes().collect::<Vec<_>>(), [1]);
//! ```
//!
//! ## Names
//! Names are decompressed by the `domain` crate: at most 255 wire bytes, at most 255
//! compression pointers per name and every pointer must point before itself, so a pointer
//! loop cannot exist. They are rendered as Suricata renders them: labels joined with `.`,
//! bytes exactly as in the packet (no case folding, no escaping of dots or binary bytes
//! inside labels), no trailing dot; the root name is the empty string.
//!
//! ## How much of a broken message is kept
//! A message shorter than the header, or whose question section does not parse, is an
//! error: there is nothing a rule could inspect. Past the questions, records are kept up
//! to the first one that does not parse (a name past the end, a bad pointer, an RDLENGTH
//! beyond the message); that section and all later ones stop there and
//! [`DnsMessage::malformed`] names the section. Suricata drops the whole message when an
//! answer is broken and keeps it when an authority or additional record is; keeping the
//! questions and the good answers is a superset, so a rule that Suricata would fire on
//! still fires. Bytes after the last section are ignored (Suricata too), as are unknown
//! types and classes, the Z bit and unknown opcodes. A record whose framing is sound but
//! whose data does not decode for its type (an A record of 3 bytes, a CNAME with trailing
//! bytes) is kept with [`RData::Malformed`].
//!
//! Known difference: Suricata also follows compression pointers that point forward;
//! `domain` refuses them, so such a name ends its section here (counted in `malformed`).

mod buffers;
mod eve;
mod header;
mod parse;
mod probe;
mod tcp;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use buffers::Instances;
pub use eve::{DnsAnswerInfo, DnsInfo, SoaInfo, SrvInfo};
pub use header::flags;
pub use parse::parse;
pub use probe::probe;
pub use tcp::{DnsTcp, DnsTcpStats, MAX_TCP_MESSAGE};
pub use verdict_compiler::dns_names::{rcode_from_name, rcode_name, rrtype_from_name, rrtype_name};

/// A DNS message that cannot be inspected at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Fewer than the 12 header bytes.
    #[error("dns: message of {0} bytes is shorter than the 12-byte header")]
    ShortHeader(usize),
    /// A question (0-based index) runs past the end or has a bad name.
    #[error("dns: question {0} does not parse")]
    BadQuestion(u16),
}

/// One of the three record sections (and the question section, for [`DnsMessage::malformed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// The question section.
    Question,
    /// The answer section.
    Answer,
    /// The authority (name server) section.
    Authority,
    /// The additional section.
    Additional,
}

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The decompressed name, rendered as Suricata does (see the module docs).
    pub name: Vec<u8>,
    /// QTYPE (may be a meta type such as ANY = 255).
    pub rrtype: u16,
    /// QCLASS as on the wire (the mDNS unicast-response bit is not split off).
    pub rrclass: u16,
}

/// The start-of-authority data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// Primary name server (what `dns.response.rrname` inspects).
    pub mname: Vec<u8>,
    /// Mailbox of the responsible person.
    pub rname: Vec<u8>,
    /// Zone serial number.
    pub serial: u32,
    /// Refresh interval in seconds.
    pub refresh: u32,
    /// Retry interval in seconds.
    pub retry: u32,
    /// Expiry limit in seconds.
    pub expire: u32,
    /// Negative-caching TTL in seconds.
    pub minimum: u32,
}

/// Decoded record data for the types detection and EVE use; everything else stays raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// Canonical name target.
    Cname(Vec<u8>),
    /// Pointer target (reverse lookups).
    Ptr(Vec<u8>),
    /// Name server.
    Ns(Vec<u8>),
    /// Delegation target of a DNAME.
    Dname(Vec<u8>),
    /// Mail exchange.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The exchange host.
        exchange: Vec<u8>,
    },
    /// Zone authority.
    Soa(Soa),
    /// Service location.
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Relative weight among equal priorities.
        weight: u16,
        /// Service port.
        port: u16,
        /// The host offering the service.
        target: Vec<u8>,
    },
    /// The character strings of a TXT record, each without its length byte.
    Txt(Vec<Vec<u8>>),
    /// Raw data of a type not decoded here (unknown types, OPT, DNSSEC, ...).
    Other(Vec<u8>),
    /// Raw data of a decoded type that did not decode (wrong length, bad embedded name).
    Malformed(Vec<u8>),
}

/// One resource record of the answer, authority or additional section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The decompressed owner name.
    pub name: Vec<u8>,
    /// TYPE.
    pub rrtype: u16,
    /// CLASS as on the wire (for OPT: the requestor's UDP payload size).
    pub rrclass: u16,
    /// TTL as on the wire (for OPT: extended rcode, version and flags).
    pub ttl: u32,
    /// The record data.
    pub data: RData,
}

impl Record {
    /// The name carried in the data: CNAME, PTR, NS and DNAME targets, the MX exchange,
    /// the SOA mname and the SRV target; `None` for other types.
    pub fn rdata_name(&self) -> Option<&[u8]> {
        match &self.data {
            RData::Cname(n) | RData::Ptr(n) | RData::Ns(n) | RData::Dname(n) => Some(n),
            RData::Mx { exchange, .. } => Some(exchange),
            RData::Soa(soa) => Some(&soa.mname),
            RData::Srv { target, .. } => Some(target),
            _ => None,
        }
    }
}

/// One parsed DNS message. The header flags word is the single source of QR, opcode,
/// the flag bits and rcode, so they cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// Transaction ID.
    pub id: u16,
    /// The 16-bit header flags word as on the wire (see [`flags`] for the bits).
    pub flags: u16,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section (records up to the first broken one).
    pub answers: Vec<Record>,
    /// The authority section.
    pub authorities: Vec<Record>,
    /// The additional section (the EDNS OPT record, if any, stays here).
    pub additionals: Vec<Record>,
    /// The first section that did not parse to its end; it and all later sections hold
    /// only what came before the failure.
    pub malformed: Option<Section>,
}

impl DnsMessage {
    /// QR: the message is a response.
    pub fn is_response(&self) -> bool {
        self.flags & flags::QR != 0
    }

    /// The 4-bit OPCODE (0 query, 1 inverse query, 2 status, 4 notify, 5 update, 6 DSO).
    pub fn opcode(&self) -> u8 {
        // Masked to 4 bits, so the cast cannot truncate.
        ((self.flags >> 11) & 0xf) as u8
    }

    /// The 4-bit header RCODE (the EDNS extension bits are not folded in, as in Suricata).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }

    /// AA: authoritative answer.
    pub fn aa(&self) -> bool {
        self.flags & flags::AA != 0
    }

    /// TC: the message was truncated by the sender.
    pub fn tc(&self) -> bool {
        self.flags & flags::TC != 0
    }

    /// RD: recursion desired.
    pub fn rd(&self) -> bool {
        self.flags & flags::RD != 0
    }

    /// RA: recursion available.
    pub fn ra(&self) -> bool {
        self.flags & flags::RA != 0
    }

    /// Z: the reserved bit, which must be zero (Suricata raises an event when it is set).
    pub fn z(&self) -> bool {
        self.flags & flags::Z != 0
    }

    /// AD: authentic data (DNSSEC).
    pub fn ad(&self) -> bool {
        self.flags & flags::AD != 0
    }

    /// CD: checking disabled (DNSSEC).
    pub fn cd(&self) -> bool {
        self.flags & flags::CD != 0
    }
}

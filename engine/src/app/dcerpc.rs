//! DCE/RPC (C706, with Microsoft's MS-RPCE extensions): connection-oriented over TCP
//! (`ncacn_ip_tcp`, the endpoint mapper on 135, 593 and dynamic ports) and connectionless
//! over UDP (`ncadg_ip_udp`), for `dce_iface`, `dce_opnum`, `dce_stub_data` and the `dce`
//! byte order, as Snort 2.9's DCE2 preprocessor and Suricata's DCERPC parser provide them.
//!
//! Hand-written: no maintained Rust crate parses DCE/RPC PDUs (the `dcerpc` and `msrpc`
//! crates on crates.io are client stubs or abandoned; Suricata's parser lives inside
//! Suricata); the parts read here are a few fixed headers.
//!
//! ## Connection-oriented
//! Each direction is a sequence of PDUs, each starting with the 16-byte common header
//! (version 5.0 or 5.1, type, flags, data representation, fragment length, auth length,
//! call id); a PDU may be split across segments and several may share one. BIND and
//! ALTER_CONTEXT from the client propose presentation contexts (context id → abstract
//! syntax: interface UUID and version); the server's BIND_ACK / ALTER_CONTEXT_RESP accepts
//! or rejects each, in order. A REQUEST names a context id and an operation number and
//! carries stub data; a call split into fragments (first/last fragment flags) is one
//! request whose stub data is the fragments' concatenated, up to [`MAX_STUB`]. Each request
//! is a transaction; rules see it when a fragment arrives, with the stub data so far.
//! Numbers are read in the byte order of each PDU's data representation (its first byte's
//! high nibble: 1 little-endian, 0 big-endian), which is also the order `dce` byte
//! options use.
//!
//! A request's interface is its context's if the server accepted the context (Suricata's
//! rule: a rejected or unanswered context names no interface).
//!
//! ## Connectionless
//! One datagram is one PDU: an 80-byte header naming the interface, its version, the
//! operation number and the fragment number, then the body. Each request datagram is a
//! transaction on its own; a fragment other than number 0 matches `dce_iface` only with
//! `any_frag`, as DCE2 evaluates connectionless fragments.
//!
//! ## Memory
//! A direction buffers at most one PDU ([`MAX_PDU`], the 16-bit fragment length); PDUs
//! that carry nothing read here (responses, faults, auth3) are skipped without buffering.
//! The requests in progress keep [`MAX_STUB`] of stub data between them; a complete
//! request's stub data is freed with the connection's next bytes (it was inspected with
//! the packet that completed it).
//! A connection keeps [`MAX_CONTEXTS`] contexts and the last [`MAX_TXS`] requests. Bytes that
//! are not a version-5 PDU header, or a gap in the stream, end parsing of that direction:
//! PDU boundaries cannot be found again.

use std::collections::VecDeque;

pub mod pdu;

/// Largest connection-oriented PDU (the fragment length is 16 bits).
pub const MAX_PDU: usize = 65535;
/// Stub data kept per request, and per connection over the requests in progress (fragments
/// past it are counted, not kept).
pub const MAX_STUB: usize = 256 * 1024;
/// Presentation contexts kept per connection.
pub const MAX_CONTEXTS: usize = 64;
/// Requests kept per connection.
pub const MAX_TXS: usize = 8;

/// Common-header length of a connection-oriented PDU.
const CO_HDR: usize = 16;
/// Header length of a connectionless PDU.
pub const CL_HDR: usize = 80;

/// PDU types read here.
mod ptype {
    pub const REQUEST: u8 = 0;
    pub const BIND: u8 = 11;
    pub const BIND_ACK: u8 = 12;
    pub const ALTER_CONTEXT: u8 = 14;
    pub const ALTER_CONTEXT_RESP: u8 = 15;
}

/// Connection-oriented `pfc_flags`.
const PFC_FIRST_FRAG: u8 = 0x01;
const PFC_LAST_FRAG: u8 = 0x02;
const PFC_OBJECT_UUID: u8 = 0x80;

/// Connectionless `flags1`.
const CL_LAST_FRAG: u8 = 0x02;
const CL_FRAG: u8 = 0x04;

/// Reads a 16-bit number in the PDU's byte order.
fn u16_at(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let v: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    })
}

/// Reads a 32-bit number in the PDU's byte order.
fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let v: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    })
}

/// A UUID as NDR encodes it (time_low, time_mid and time_hi_and_version in the PDU's
/// byte order, then 8 bytes as they are), in text order.
fn uuid_at(b: &[u8], at: usize, big: bool) -> Option<[u8; 16]> {
    let raw: [u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
    let mut u = raw;
    if !big {
        u[0..4].reverse();
        u[4..6].reverse();
        u[6..8].reverse();
    }
    Some(u)
}

/// The data representation's integer order: the high nibble of its first byte is 0 for
/// big-endian, 1 for little-endian.
fn big_endian(drep0: u8) -> bool {
    drep0 >> 4 == 0
}

/// A connection-oriented common header.
#[derive(Debug, Clone, Copy)]
struct CoHeader {
    ptype: u8,
    flags: u8,
    big: bool,
    frag_len: usize,
    auth_len: usize,
    call_id: u32,
}

/// Parses a connection-oriented common header: version 5, minor 0 or 1, a known
/// representation, and a fragment length that holds the header and the auth trailer.
fn co_header(b: &[u8]) -> Option<CoHeader> {
    let h = b.get(..CO_HDR)?;
    if h[0] != 5 || h[1] > 1 || h[2] > 20 || h[4] >> 4 > 1 {
        return None;
    }
    let big = big_endian(h[4]);
    let frag_len = usize::from(u16_at(h, 8, big)?);
    let auth_len = usize::from(u16_at(h, 10, big)?);
    if frag_len < CO_HDR || auth_len > frag_len - CO_HDR {
        return None;
    }
    Some(CoHeader {
        ptype: h[2],
        flags: h[3],
        big,
        frag_len,
        auth_len,
        call_id: u32_at(h, 12, big)?,
    })
}

/// Whether `first` (a TCP direction's first bytes) starts like connection-oriented
/// DCE/RPC: `Some(true)` yes, `Some(false)` no, `None` too short to tell. The client
/// opens with BIND, ALTER_CONTEXT or (on a reused association) REQUEST; a server's first
/// PDU is BIND_ACK.
pub fn probe_co(first: &[u8], to_server: bool) -> Option<bool> {
    let looks = |b: &[u8]| {
        co_header(b).is_some_and(|h| {
            if to_server {
                matches!(h.ptype, ptype::BIND | ptype::ALTER_CONTEXT | ptype::REQUEST)
            } else {
                h.ptype == ptype::BIND_ACK
            }
        })
    };
    if first.len() >= CO_HDR {
        return Some(looks(first));
    }
    // A prefix that could still grow into a header: version 5.0/5.1 so far.
    let ok = first.first().is_none_or(|&v| v == 5) && first.get(1).is_none_or(|&m| m <= 1);
    if ok {
        None
    } else {
        Some(false)
    }
}

/// One presentation context of the association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Context {
    id: u16,
    uuid: [u8; 16],
    major: u16,
    /// The server's answer: `None` not seen yet, `Some(true)` accepted.
    accepted: Option<bool>,
}

/// One DCE/RPC request (a call), a transaction.
#[derive(Debug, Clone, Default)]
pub struct DceTx {
    id: u64,
    call_id: u32,
    context_id: u16,
    opnum: u16,
    /// The interface of the request's context, if the server accepted it: UUID (text
    /// order) and major version.
    iface: Option<([u8; 16], u16)>,
    big: bool,
    /// The request started with a first fragment (or is a connectionless fragment 0).
    first: bool,
    /// The last fragment arrived.
    complete: bool,
    stub: Vec<u8>,
    /// Stub bytes past [`MAX_STUB`], not kept.
    dropped: u64,
    frags: u32,
}

impl DceTx {
    /// The transaction id (increasing per connection).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The operation number.
    pub fn opnum(&self) -> u16 {
        self.opnum
    }
    /// The presentation context id the request names (0 over UDP).
    pub fn context_id(&self) -> u16 {
        self.context_id
    }
    /// The interface UUID (text order) and major version, when known.
    pub fn iface(&self) -> Option<([u8; 16], u16)> {
        self.iface
    }
    /// The request's stub data (reassembled from its fragments so far).
    pub fn stub(&self) -> &[u8] {
        &self.stub
    }
    /// The request's data representation is big-endian (what `dce` byte options read).
    pub fn big_endian(&self) -> bool {
        self.big
    }
    /// The request began with a first fragment (or is a whole request).
    pub fn first_frag(&self) -> bool {
        self.first
    }
    /// The last fragment arrived.
    pub fn complete(&self) -> bool {
        self.complete
    }
    /// Fragments seen.
    pub fn frags(&self) -> u32 {
        self.frags
    }
    /// The call id.
    pub fn call_id(&self) -> u32 {
        self.call_id
    }

    /// Appends stub data, at most `budget` bytes of it (and up to [`MAX_STUB`] in all).
    fn push_stub(&mut self, data: &[u8], budget: usize) {
        let room = MAX_STUB.saturating_sub(self.stub.len()).min(budget);
        let keep = data.len().min(room);
        self.stub.extend_from_slice(&data[..keep]);
        self.dropped = self.dropped.saturating_add((data.len() - keep) as u64);
    }
}

/// One direction's PDU framing.
#[derive(Debug, Default)]
struct Framer {
    /// The bytes of the PDU being assembled (header first).
    buf: Vec<u8>,
    /// Bytes of an uninteresting PDU still to skip.
    skip: usize,
    /// The direction lost its PDU boundaries (junk or a gap): nothing more is parsed.
    dead: bool,
}

/// A connection-oriented DCE/RPC association over one TCP connection.
#[derive(Debug, Default)]
pub struct DceConn {
    dirs: [Framer; 2],
    contexts: Vec<Context>,
    /// Context ids of the last BIND/ALTER_CONTEXT, in order, awaiting the server's answer.
    proposed: VecDeque<u16>,
    txs: VecDeque<DceTx>,
    next_id: u64,
}

impl DceConn {
    /// An association with nothing seen.
    pub fn new() -> DceConn {
        DceConn::default()
    }

    /// Feeds in-order stream bytes of one direction; returns the ids of the requests that
    /// progressed.
    pub fn feed(&mut self, to_server: bool, mut bytes: &[u8]) -> Vec<u64> {
        let mut out = Vec::new();
        // A complete request was inspected with the packet that completed it and never
        // progresses again: its stub data is not needed any more.
        for t in self.txs.iter_mut().filter(|t| t.complete) {
            t.stub = Vec::new();
        }
        let d = usize::from(!to_server);
        while !bytes.is_empty() && !self.dirs[d].dead {
            let f = &mut self.dirs[d];
            if f.skip > 0 {
                let n = f.skip.min(bytes.len());
                f.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            // Complete the header, then the PDU if it is one we read.
            let want = match co_header(&f.buf) {
                Some(h) if interesting(h.ptype, to_server) => h.frag_len,
                Some(h) => {
                    f.skip = h.frag_len.saturating_sub(f.buf.len());
                    f.buf.clear();
                    continue;
                }
                None if f.buf.len() >= CO_HDR => {
                    f.dead = true;
                    f.buf = Vec::new();
                    break;
                }
                None => CO_HDR,
            };
            let n = want.saturating_sub(f.buf.len()).min(bytes.len());
            f.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            let whole = co_header(&f.buf)
                .is_some_and(|h| interesting(h.ptype, to_server) && h.frag_len == f.buf.len());
            if whole {
                let pdu = std::mem::take(&mut self.dirs[d].buf);
                if let Some(id) = self.pdu(&pdu, to_server) {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
                // Keep the allocation for the next PDU.
                let mut pdu = pdu;
                pdu.clear();
                self.dirs[d].buf = pdu;
            }
        }
        out
    }

    /// A gap in one direction: its PDU boundaries are lost.
    pub fn gap(&mut self, to_server: bool) {
        let f = &mut self.dirs[usize::from(!to_server)];
        f.dead = true;
        f.buf = Vec::new();
    }

    /// Request `id`, if still kept.
    pub fn tx(&self, id: u64) -> Option<&DceTx> {
        self.txs.iter().find(|t| t.id == id)
    }

    /// The requests kept, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &DceTx> {
        self.txs.iter()
    }

    /// One whole PDU of an interesting type; the request it advanced, if any.
    fn pdu(&mut self, pdu: &[u8], to_server: bool) -> Option<u64> {
        let h = co_header(pdu)?;
        match h.ptype {
            ptype::BIND | ptype::ALTER_CONTEXT if to_server => {
                self.bind(pdu, h);
                None
            }
            ptype::BIND_ACK | ptype::ALTER_CONTEXT_RESP if !to_server => {
                self.bind_ack(pdu, h);
                None
            }
            ptype::REQUEST if to_server => self.request(pdu, h),
            _ => None,
        }
    }

    /// BIND / ALTER_CONTEXT: the proposed contexts (`p_cont_list_t` at offset 24).
    fn bind(&mut self, pdu: &[u8], h: CoHeader) {
        self.proposed.clear();
        let Some(&n) = pdu.get(24) else { return };
        let mut at = 28usize;
        for _ in 0..n {
            let (Some(id), Some(&nsyn), Some(uuid), Some(major)) = (
                u16_at(pdu, at, h.big),
                pdu.get(at + 2),
                uuid_at(pdu, at + 4, h.big),
                u16_at(pdu, at + 20, h.big),
            ) else {
                return;
            };
            self.contexts.retain(|c| c.id != id);
            if self.contexts.len() >= MAX_CONTEXTS {
                self.contexts.remove(0);
            }
            self.contexts.push(Context {
                id,
                uuid,
                major,
                accepted: None,
            });
            if self.proposed.len() < MAX_CONTEXTS {
                self.proposed.push_back(id);
            }
            // Element: id, count, reserved, abstract syntax (20), transfer syntaxes (20 each).
            at = at.saturating_add(24 + 20 * usize::from(nsyn));
        }
    }

    /// BIND_ACK / ALTER_CONTEXT_RESP: one result per proposed context, in order, after the
    /// secondary address (`port_spec`) padded to 4 bytes.
    fn bind_ack(&mut self, pdu: &[u8], h: CoHeader) {
        let Some(sec_len) = u16_at(pdu, 24, h.big) else {
            return;
        };
        let after = 26 + usize::from(sec_len);
        let at = after.next_multiple_of(4);
        let Some(&n) = pdu.get(at) else { return };
        let mut r = at + 4;
        for _ in 0..n {
            let Some(result) = u16_at(pdu, r, h.big) else {
                return;
            };
            let Some(id) = self.proposed.pop_front() else {
                return;
            };
            if let Some(c) = self.contexts.iter_mut().find(|c| c.id == id) {
                c.accepted = Some(result == 0);
            }
            r += 24;
        }
    }

    /// REQUEST: alloc hint, context id, opnum, the object UUID when flagged, then stub data
    /// up to the auth trailer (8-byte `sec_trailer` plus the auth value).
    fn request(&mut self, pdu: &[u8], h: CoHeader) -> Option<u64> {
        let context_id = u16_at(pdu, 20, h.big)?;
        let opnum = u16_at(pdu, 22, h.big)?;
        let start = if h.flags & PFC_OBJECT_UUID != 0 {
            40
        } else {
            24
        };
        let trailer = if h.auth_len > 0 { h.auth_len + 8 } else { 0 };
        let end = h.frag_len.saturating_sub(trailer).max(start);
        let stub = pdu.get(start..end).unwrap_or_default();
        let first = h.flags & PFC_FIRST_FRAG != 0;
        let last = h.flags & PFC_LAST_FRAG != 0;
        // A continuation fragment joins the open call with its call id.
        let open = if first {
            None
        } else {
            self.txs
                .iter()
                .position(|t| t.call_id == h.call_id && !t.complete)
        };
        let pos = match open {
            Some(p) => p,
            None => {
                let iface = self
                    .contexts
                    .iter()
                    .find(|c| c.id == context_id && c.accepted == Some(true))
                    .map(|c| (c.uuid, c.major));
                let tx = DceTx {
                    id: self.next_id,
                    call_id: h.call_id,
                    context_id,
                    opnum,
                    iface,
                    big: h.big,
                    first,
                    ..DceTx::default()
                };
                self.next_id += 1;
                self.txs.push_back(tx);
                if self.txs.len() > MAX_TXS {
                    self.txs.pop_front();
                }
                self.txs.len() - 1
            }
        };
        let kept: usize = self.txs.iter().map(|t| t.stub.len()).sum();
        let tx = &mut self.txs[pos];
        tx.push_stub(stub, MAX_STUB.saturating_sub(kept));
        tx.frags = tx.frags.saturating_add(1);
        tx.complete = last;
        Some(tx.id)
    }
}

/// Whether a direction's PDU of type `t` is assembled and read (else skipped).
fn interesting(t: u8, to_server: bool) -> bool {
    if to_server {
        matches!(t, ptype::BIND | ptype::ALTER_CONTEXT | ptype::REQUEST)
    } else {
        matches!(t, ptype::BIND_ACK | ptype::ALTER_CONTEXT_RESP)
    }
}

/// Parses a UDP datagram as a connectionless DCE/RPC request (version 4, type 0): a
/// transaction of its own. Other datagrams (responses, pings, acks, junk) are `None`.
pub fn parse_cl_request(d: &[u8]) -> Option<DceTx> {
    let h = d.get(..CL_HDR)?;
    if h[0] != 4 || h[1] != ptype::REQUEST || h[4] >> 4 > 1 {
        return None;
    }
    let big = big_endian(h[4]);
    let len = usize::from(u16_at(h, 74, big)?);
    let body = d.get(CL_HDR..CL_HDR.checked_add(len)?)?;
    let fragnum = u16_at(h, 76, big)?;
    let fragmented = h[2] & CL_FRAG != 0;
    let mut tx = DceTx {
        id: 0,
        call_id: u32_at(h, 64, big)?,
        context_id: 0,
        opnum: u16_at(h, 68, big)?,
        // The interface version is 32 bits here: major in the low half.
        iface: Some((uuid_at(h, 24, big)?, (u32_at(h, 60, big)? & 0xffff) as u16)),
        big,
        first: fragnum == 0,
        complete: !fragmented || h[2] & CL_LAST_FRAG != 0,
        frags: 1,
        ..DceTx::default()
    };
    tx.push_stub(body, MAX_STUB);
    Some(tx)
}

#[cfg(test)]
mod tests;

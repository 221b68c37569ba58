//! Encodes the DCE/RPC PDUs the parser reads: BIND, BIND_ACK, REQUEST (connection-oriented)
//! and a connectionless REQUEST, in either byte order. Used by the parser's tests, the
//! replay and netns tests' generated traffic, and benchmarks.

use verdict_compiler::keywords::dce::parse_uuid;

/// NDR transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860 version 2.
const NDR: &str = "8a885d04-1ceb-11c9-9fe8-08002b104860";

/// Writes numbers in one data representation.
#[derive(Debug, Clone, Copy)]
pub struct Enc {
    /// Big-endian integers (drep byte 0x00) rather than little-endian (0x10).
    pub big: bool,
}

impl Enc {
    fn u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    fn u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    /// A UUID given as text, NDR-encoded (its first three fields in this byte order).
    pub fn uuid(self, out: &mut Vec<u8>, text: &str) {
        let mut u = parse_uuid(text).unwrap_or_default();
        if !self.big {
            u[0..4].reverse();
            u[4..6].reverse();
            u[6..8].reverse();
        }
        out.extend_from_slice(&u);
    }
    fn drep(self) -> [u8; 4] {
        [if self.big { 0x00 } else { 0x10 }, 0, 0, 0]
    }

    /// A connection-oriented PDU: the common header around `body`.
    pub fn co(self, ptype: u8, flags: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
        let mut out = vec![5, 0, ptype, flags];
        out.extend_from_slice(&self.drep());
        let len = u16::try_from(16 + body.len()).unwrap_or(u16::MAX);
        self.u16(&mut out, len);
        self.u16(&mut out, 0);
        self.u32(&mut out, call_id);
        out.extend_from_slice(body);
        out
    }

    /// BIND proposing each `(context id, interface UUID, major version)` with NDR.
    pub fn bind(self, call_id: u32, contexts: &[(u16, &str, u16)]) -> Vec<u8> {
        let mut b = Vec::new();
        self.u16(&mut b, 4280);
        self.u16(&mut b, 4280);
        self.u32(&mut b, 0);
        b.extend_from_slice(&[contexts.len() as u8, 0, 0, 0]);
        for &(id, uuid, major) in contexts {
            self.u16(&mut b, id);
            b.extend_from_slice(&[1, 0]);
            self.uuid(&mut b, uuid);
            self.u16(&mut b, major);
            self.u16(&mut b, 0);
            self.uuid(&mut b, NDR);
            self.u32(&mut b, 2);
        }
        self.co(11, 0x03, call_id, &b)
    }

    /// BIND_ACK answering each proposed context with `accepted[i]`.
    pub fn bind_ack(self, call_id: u32, accepted: &[bool]) -> Vec<u8> {
        let mut b = Vec::new();
        self.u16(&mut b, 4280);
        self.u16(&mut b, 4280);
        self.u32(&mut b, 0x1234);
        // Secondary address "135\0", then padding to 4 bytes from the PDU start.
        self.u16(&mut b, 4);
        b.extend_from_slice(b"135\0");
        while !(16 + b.len()).is_multiple_of(4) {
            b.push(0);
        }
        b.extend_from_slice(&[accepted.len() as u8, 0, 0, 0]);
        for &ok in accepted {
            self.u16(&mut b, if ok { 0 } else { 2 });
            self.u16(&mut b, 0);
            self.uuid(&mut b, NDR);
            self.u32(&mut b, 2);
        }
        self.co(12, 0x03, call_id, &b)
    }

    /// A REQUEST fragment on context `ctx` for `opnum` carrying `stub` (`flags`: first
    /// 0x01 and/or last 0x02 fragment).
    pub fn request(self, call_id: u32, flags: u8, ctx: u16, opnum: u16, stub: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        self.u32(&mut b, stub.len() as u32);
        self.u16(&mut b, ctx);
        self.u16(&mut b, opnum);
        b.extend_from_slice(stub);
        self.co(0, flags, call_id, &b)
    }

    /// A connectionless REQUEST datagram on interface `uuid` (major version `major`), with
    /// fragment number `fragnum` (`last`: the last fragment; both zero/true: unfragmented).
    pub fn cl_request(
        self,
        uuid: &str,
        major: u16,
        opnum: u16,
        fragnum: u16,
        last: bool,
        body: &[u8],
    ) -> Vec<u8> {
        let fragmented = !(fragnum == 0 && last);
        let flags1 = if fragmented {
            0x04 | if last { 0x02 } else { 0 }
        } else {
            0
        };
        let d = self.drep();
        let mut out = vec![4, 0, flags1, 0, d[0], d[1], d[2], 0];
        self.uuid(&mut out, "00000000-0000-0000-0000-000000000000");
        self.uuid(&mut out, uuid);
        self.uuid(&mut out, "6d8f2b1a-0000-4000-8000-00000000beef");
        self.u32(&mut out, 0);
        self.u32(&mut out, u32::from(major));
        self.u32(&mut out, 7);
        self.u16(&mut out, opnum);
        self.u16(&mut out, 0xffff);
        self.u16(&mut out, 0xffff);
        self.u16(&mut out, u16::try_from(body.len()).unwrap_or(u16::MAX));
        self.u16(&mut out, fragnum);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(body);
        out
    }
}

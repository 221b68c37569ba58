//! Kerberos 5 (RFC 4120) over UDP and TCP, for `krb5_msg_type`, `krb5_err_code`,
//! `krb5.cname`, `krb5.sname` and the `krb5.weak_encryption` event: each message the parser
//! decodes is a transaction of its own, as in Suricata's KRB5 parser (which uses the same
//! `kerberos-parser` crate).
//!
//! - UDP: one message per datagram, on port 88 ([`PORT`]).
//! - TCP: each message follows a 4-byte record marker (RFC 4120 section 7.2.2: its length,
//!   the top bit reserved); [`Krb5Tcp`] reassembles records across segments. A TCP flow is
//!   Kerberos when its first bytes are such a record ([`detect_tcp`]), whatever the port.
//!
//! Messages decoded: AS-REQ (10) and TGS-REQ (12) with the request body's `cname`, `realm`
//! and `sname`; AS-REP (11) and TGS-REP (13) with the client's name and the ticket's server
//! name; AP-REQ (14) with the ticket's server name; KRB-ERROR (30) with its `error-code`,
//! `cname` (optional) and `sname`. `krb5.cname`/`krb5.sname` are multi-buffers: each name
//! component (`krbtgt`, `EXAMPLE.ORG`) is an instance, so a content matches one component,
//! as Suricata's "compared to each part". A reply whose enc-part uses a weak encryption
//! type ([`verdict_compiler::keywords::krb5::weak_etype`]) raises `weak_encryption`.
//!
//! ```
//! use verdict_engine::app::krb5;
//!
//! // Not a Kerberos message.
//! assert!(krb5::parse(b"\x30\x03\x02\x01\x05").is_none());
//! ```

use crate::session::Detected;
use der_parser::asn1_rs::FromDer;
use der_parser::ber::Class;
use der_parser::der::der_read_element_header;
use kerberos_parser::krb5::{ApReq, KdcRep, KrbError, PrincipalName};
use kerberos_parser::krb5_parser::{parse_as_rep, parse_as_req, parse_tgs_rep, parse_tgs_req};
use serde_json::{json, Map, Value};
use verdict_compiler::ir::AppBuffer;
use verdict_compiler::keywords::krb5::weak_etype;

/// The Kerberos port (UDP and TCP).
pub const PORT: u16 = 88;
/// Largest TCP record accepted: Suricata's probe refuses more than 16 KiB at detection;
/// later records (tickets with large PACs) may be bigger, up to this.
pub const MAX_RECORD: usize = 65536;
/// Largest record a TCP flow's first bytes may announce to be detected as Kerberos.
const MAX_FIRST_RECORD: u32 = 16384;

/// What one Kerberos message holds for detection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Krb5Msg {
    /// The message type (its APPLICATION tag: 10 AS-REQ, …, 30 KRB-ERROR).
    pub msg_type: u32,
    /// Client name components.
    pub cname: Vec<Vec<u8>>,
    /// Server name components.
    pub sname: Vec<Vec<u8>>,
    /// The realm (the request's, the client's in a reply, the server's in an error).
    pub realm: Option<Vec<u8>>,
    /// A KRB-ERROR's error code.
    pub error_code: Option<i32>,
    /// A reply's enc-part encryption type.
    pub etype: Option<i32>,
    /// A reply's or AP-REQ's ticket encryption type.
    pub ticket_etype: Option<i32>,
}

fn names(p: &PrincipalName) -> Vec<Vec<u8>> {
    p.name_string
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
}

fn from_rep(msg_type: u32, r: &KdcRep<'_>) -> Krb5Msg {
    Krb5Msg {
        msg_type,
        cname: names(&r.cname),
        sname: names(&r.ticket.sname),
        realm: Some(r.crealm.0.as_bytes().to_vec()),
        etype: Some(r.enc_part.etype.0),
        ticket_etype: Some(r.ticket.enc_part.etype.0),
        ..Krb5Msg::default()
    }
}

/// Decodes one whole message; `None` when it is not a Kerberos message this parser knows
/// (or it is malformed).
pub fn parse(data: &[u8]) -> Option<Krb5Msg> {
    let (_, hdr) = der_read_element_header(data).ok()?;
    if hdr.class() != Class::Application {
        return None;
    }
    let tag = hdr.tag().0;
    let req = |r: kerberos_parser::krb5::KdcReq<'_>| Krb5Msg {
        msg_type: tag,
        cname: r.req_body.cname.as_ref().map(names).unwrap_or_default(),
        sname: r.req_body.sname.as_ref().map(names).unwrap_or_default(),
        realm: Some(r.req_body.realm.0.as_bytes().to_vec()),
        ..Krb5Msg::default()
    };
    Some(match tag {
        10 => req(parse_as_req(data).ok()?.1),
        12 => req(parse_tgs_req(data).ok()?.1),
        11 => from_rep(tag, &parse_as_rep(data).ok()?.1),
        13 => from_rep(tag, &parse_tgs_rep(data).ok()?.1),
        14 => {
            let (_, ap) = ApReq::from_der(data).ok()?;
            Krb5Msg {
                msg_type: tag,
                sname: names(&ap.ticket.sname),
                realm: Some(ap.ticket.realm.0.as_bytes().to_vec()),
                ticket_etype: Some(ap.ticket.enc_part.etype.0),
                ..Krb5Msg::default()
            }
        }
        30 => {
            let (_, e) = KrbError::from_der(data).ok()?;
            Krb5Msg {
                msg_type: tag,
                cname: e.cname.as_ref().map(names).unwrap_or_default(),
                sname: names(&e.sname),
                realm: Some(e.realm.0.as_bytes().to_vec()),
                error_code: Some(e.error_code.0),
                ..Krb5Msg::default()
            }
        }
        _ => return None,
    })
}

/// Suricata's probe of a message start: an APPLICATION tag of at most 30, a SEQUENCE, and
/// in it a first field holding the INTEGER 5 (`pvno`).
pub fn probe(data: &[u8]) -> Detected {
    match der_read_element_header(data) {
        Ok((rest, hdr)) => {
            if hdr.class() != Class::Application || hdr.tag().0 > 30 {
                return Detected::Unknown;
            }
            let Some((&first, _)) = rest.split_first() else {
                return Detected::NeedMore;
            };
            if first != 0x30 {
                return Detected::Unknown;
            }
            match der_read_element_header(rest) {
                Ok((inner, _)) => match inner.get(2..5) {
                    Some([2, 1, 5]) => Detected::Proto(verdict_compiler::ir::AppProto::Krb5),
                    Some(_) => Detected::Unknown,
                    None => Detected::NeedMore,
                },
                Err(der_parser::nom::Err::Incomplete(_)) => Detected::NeedMore,
                Err(_) => Detected::Unknown,
            }
        }
        Err(der_parser::nom::Err::Incomplete(_)) => Detected::NeedMore,
        Err(_) => Detected::Unknown,
    }
}

/// Kerberos over TCP by a flow's first bytes: a record marker of at most 16 KiB, then a
/// message start [`probe`] accepts.
pub fn detect_tcp(first: &[u8]) -> Detected {
    let Some(marker) = first.get(..4) else {
        return if first.iter().all(|&b| b == 0) {
            Detected::NeedMore
        } else {
            Detected::Unknown
        };
    };
    let len = u32::from_be_bytes([marker[0], marker[1], marker[2], marker[3]]);
    if !(8..=MAX_FIRST_RECORD).contains(&len) {
        return Detected::Unknown;
    }
    probe(&first[4..])
}

impl Krb5Msg {
    /// Instance `i` of a Kerberos buffer: each name component of `krb5.cname`/`krb5.sname`.
    pub fn buffer_n(&self, b: AppBuffer, i: usize) -> Option<&[u8]> {
        match b {
            AppBuffer::Krb5Cname => self.cname.get(i).map(Vec::as_slice),
            AppBuffer::Krb5Sname => self.sname.get(i).map(Vec::as_slice),
            _ => None,
        }
    }

    /// The reply's enc-part uses a weak encryption type (Suricata's `weak_encryption`
    /// event, raised on AS-REP and TGS-REP).
    pub fn weak_encryption(&self) -> bool {
        self.etype.is_some_and(weak_etype)
    }

    /// Suricata's EVE `krb5` object: `msg_type`, `cname`, `realm`, `sname`, `encryption`,
    /// `weak_encryption`, `error_code`.
    pub fn eve(&self) -> Value {
        let join = |parts: &[Vec<u8>]| {
            let v: Vec<String> = parts
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            v.join("/")
        };
        let mut m = Map::new();
        m.insert("msg_type".into(), msg_type_name(self.msg_type).into());
        if !self.cname.is_empty() {
            m.insert("cname".into(), join(&self.cname).into());
        }
        if let Some(r) = &self.realm {
            m.insert("realm".into(), String::from_utf8_lossy(r).into());
        }
        if !self.sname.is_empty() {
            m.insert("sname".into(), join(&self.sname).into());
        }
        if let Some(e) = self.etype {
            m.insert("encryption".into(), e.into());
            m.insert("weak_encryption".into(), weak_etype(e).into());
        }
        if let Some(c) = self.error_code {
            m.insert("error_code".into(), c.into());
        }
        json!(m)
    }
}

fn msg_type_name(t: u32) -> String {
    match t {
        10 => "KRB_AS_REQ".into(),
        11 => "KRB_AS_REP".into(),
        12 => "KRB_TGS_REQ".into(),
        13 => "KRB_TGS_REP".into(),
        14 => "KRB_AP_REQ".into(),
        30 => "KRB_ERROR".into(),
        n => format!("{n}"),
    }
}

/// One TCP direction's record reassembly.
#[derive(Debug, Default)]
struct Records {
    buf: Vec<u8>,
    /// A record longer than [`MAX_RECORD`] was announced: the direction is no longer framed
    /// (its later bytes cannot be trusted to start records).
    lost: bool,
}

impl Records {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Krb5Msg>) {
        if self.lost {
            return;
        }
        self.buf.extend_from_slice(bytes);
        let mut at = 0usize;
        while let Some(m) = self.buf.get(at..at + 4) {
            let len = u32::from_be_bytes([m[0], m[1], m[2], m[3]]) & 0x7fff_ffff;
            let len = len as usize;
            if len > MAX_RECORD {
                self.lost = true;
                self.buf = Vec::new();
                return;
            }
            let start = at + 4;
            let Some(rec) = self.buf.get(start..start + len) else {
                break;
            };
            out.extend(parse(rec));
            at = start + len;
        }
        self.buf.drain(..at);
    }
}

/// Kerberos over one TCP connection: both directions' record framing.
#[derive(Debug, Default)]
pub struct Krb5Tcp {
    dirs: [Records; 2],
}

impl Krb5Tcp {
    /// Feeds in-order stream bytes of one direction; returns the messages they completed.
    pub fn feed(&mut self, to_server: bool, bytes: &[u8]) -> Vec<Krb5Msg> {
        let mut out = Vec::new();
        self.dirs[usize::from(!to_server)].feed(bytes, &mut out);
        out
    }

    /// A gap in one direction: the record boundary is lost there.
    pub fn gap(&mut self, to_server: bool) {
        let d = &mut self.dirs[usize::from(!to_server)];
        d.lost = true;
        d.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::der::*;
    use verdict_compiler::ir::AppProto;

    fn comps(v: &[Vec<u8>]) -> Vec<&str> {
        v.iter().map(|c| std::str::from_utf8(c).unwrap()).collect()
    }

    #[test]
    fn as_req_names() {
        let m = parse(&krb_kdc_req(
            10,
            &["alice"],
            "EXAMPLE.ORG",
            &["krbtgt", "EXAMPLE.ORG"],
        ))
        .unwrap();
        assert_eq!(m.msg_type, 10);
        assert_eq!(comps(&m.cname), ["alice"]);
        assert_eq!(comps(&m.sname), ["krbtgt", "EXAMPLE.ORG"]);
        assert_eq!(
            m.buffer_n(AppBuffer::Krb5Sname, 1),
            Some(&b"EXAMPLE.ORG"[..])
        );
        assert_eq!(m.buffer_n(AppBuffer::Krb5Sname, 2), None);
        assert_eq!(m.error_code, None);
        assert!(!m.weak_encryption());
        assert_eq!(m.eve()["sname"], "krbtgt/EXAMPLE.ORG");
        let t = parse(&krb_kdc_req(12, &[], "EXAMPLE.ORG", &["cifs", "fs1"])).unwrap();
        assert_eq!(t.msg_type, 12);
        assert!(t.cname.is_empty());
    }

    #[test]
    fn replies_and_errors() {
        let r = parse(&krb_kdc_rep(
            11,
            &["bob"],
            "EXAMPLE.ORG",
            &["krbtgt", "EXAMPLE.ORG"],
            23,
        ))
        .unwrap();
        assert_eq!(r.msg_type, 11);
        assert_eq!(comps(&r.cname), ["bob"]);
        assert_eq!((r.etype, r.ticket_etype), (Some(23), Some(18)));
        assert!(r.weak_encryption(), "rc4-hmac");
        let r = parse(&krb_kdc_rep(
            13,
            &["bob"],
            "EXAMPLE.ORG",
            &["http", "web"],
            18,
        ))
        .unwrap();
        assert_eq!(r.msg_type, 13);
        assert!(!r.weak_encryption(), "aes256");
        let e = parse(&krb_error(25, "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"])).unwrap();
        assert_eq!((e.msg_type, e.error_code), (30, Some(25)));
        assert_eq!(comps(&e.sname), ["krbtgt", "EXAMPLE.ORG"]);
        assert!(!e.weak_encryption());
    }

    #[test]
    fn probes() {
        let req = krb_kdc_req(10, &["alice"], "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]);
        assert_eq!(probe(&req), Detected::Proto(AppProto::Krb5));
        assert_eq!(probe(&req[..2]), Detected::NeedMore);
        assert_eq!(probe(b"\x30\x03\x02\x01\x05"), Detected::Unknown);
        let err = krb_error(6, "EXAMPLE.ORG", &["x"]);
        assert_eq!(probe(&err), Detected::Proto(AppProto::Krb5));
        let framed = krb_tcp(&req);
        assert_eq!(detect_tcp(&framed), Detected::Proto(AppProto::Krb5));
        assert_eq!(detect_tcp(&framed[..3]), Detected::NeedMore);
        assert_eq!(detect_tcp(b"GET / HTTP/1.1\r\n"), Detected::Unknown);
        assert_eq!(detect_tcp(b"\x00\x01\x00\x00\x6a\x30"), Detected::Unknown);
    }

    #[test]
    fn tcp_records_across_segments() {
        let a = krb_tcp(&krb_kdc_req(
            10,
            &["alice"],
            "EXAMPLE.ORG",
            &["krbtgt", "EXAMPLE.ORG"],
        ));
        let b = krb_tcp(&krb_kdc_req(12, &["alice"], "EXAMPLE.ORG", &["host", "db"]));
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let mut t = Krb5Tcp::default();
        let mut got = Vec::new();
        for chunk in both.chunks(7) {
            got.extend(t.feed(true, chunk));
        }
        assert_eq!(got.iter().map(|m| m.msg_type).collect::<Vec<_>>(), [10, 12]);
        // The other direction has its own framing.
        let e = krb_tcp(&krb_error(24, "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]));
        assert_eq!(t.feed(false, &e[..10]), []);
        assert_eq!(t.feed(false, &e[10..])[0].error_code, Some(24));
        // An oversized record ends the direction's framing.
        let mut t = Krb5Tcp::default();
        assert_eq!(t.feed(true, b"\x7f\x00\x00\x00junk"), []);
        assert_eq!(t.feed(true, &a), []);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&data);
            let _ = probe(&data);
            let _ = detect_tcp(&data);
            let mut t = Krb5Tcp::default();
            let _ = t.feed(true, &data);
        }

        #[test]
        fn mutated_messages_never_panic(at in 0usize..200, byte in proptest::num::u8::ANY) {
            let mut m = krb_kdc_rep(11, &["bob"], "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"], 23);
            let i = at % m.len();
            m[i] = byte;
            let _ = parse(&m);
        }
    }
}

//! Suricata's EVE `dns` object, version 2 ("detailed" answers), for the common types.
//!
//! A request logs one object per question:
//! `{"type":"query","id":4660,"rrname":"example.com","rrtype":"A","tx_id":0,"opcode":0}`.
//! A response logs one object: header id and flags (hex, plus `qr`/`aa`/`tc`/`rd`/`ra`/`z`
//! when set), opcode, the first question's name and type, rcode, then `answers`,
//! `authorities` and `additionals` arrays (each omitted when empty). Record entries carry
//! `rrname`, `rrtype`, `ttl` and, by type: `rdata` (A/AAAA address, CNAME/PTR/NS/MX/DNAME
//! name, one entry per TXT string, NULL bytes), `soa` or `srv` objects. Like Suricata,
//! names and text are printed as UTF-8 when they are, else with bytes above 0x7f as `\xNN`, unknown
//! types as their number, and OPT records without options are not logged.

use std::borrow::Cow;

use serde::Serialize;

use super::{rcode_name, rrtype_name, DnsMessage, RData, Record};

/// One EVE `dns` object (a question of a request, or a whole response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsInfo {
    /// Only responses carry `"version":2` in Suricata 7's version-2 output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// "query" or "answer".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The DNS transaction id.
    pub id: u16,
    /// Header flags word as lowercase hex without leading zeros (responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// QR set (responses).
    #[serde(skip_serializing_if = "is_false")]
    pub qr: bool,
    /// AA set.
    #[serde(skip_serializing_if = "is_false")]
    pub aa: bool,
    /// TC set.
    #[serde(skip_serializing_if = "is_false")]
    pub tc: bool,
    /// RD set.
    #[serde(skip_serializing_if = "is_false")]
    pub rd: bool,
    /// RA set.
    #[serde(skip_serializing_if = "is_false")]
    pub ra: bool,
    /// Z set.
    #[serde(skip_serializing_if = "is_false")]
    pub z: bool,
    /// The question name (a query's own, a response's first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrname: Option<String>,
    /// The question type mnemonic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrtype: Option<String>,
    /// The engine's transaction number on the flow (queries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<u64>,
    /// The header opcode.
    pub opcode: u8,
    /// The rcode mnemonic (responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<Cow<'static, str>>,
    /// The answer records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswerInfo>,
    /// The authority records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorities: Vec<DnsAnswerInfo>,
    /// The additional records (OPT without options left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additionals: Vec<DnsAnswerInfo>,
}

/// One logged record (TXT records log one of these per string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsAnswerInfo {
    /// Owner name.
    pub rrname: String,
    /// Type mnemonic.
    pub rrtype: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Address, name or text, by type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdata: Option<String>,
    /// SOA fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soa: Option<SoaInfo>,
    /// SRV fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srv: Option<SrvInfo>,
}

/// The `soa` object of a record entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoaInfo {
    /// Primary name server.
    pub mname: String,
    /// Responsible mailbox.
    pub rname: String,
    /// Zone serial.
    pub serial: u32,
    /// Refresh interval.
    pub refresh: u32,
    /// Retry interval.
    pub retry: u32,
    /// Expiry limit.
    pub expire: u32,
    /// Negative-caching TTL.
    pub minimum: u32,
}

/// The `srv` object of a record entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SrvInfo {
    /// Priority.
    pub priority: u16,
    /// Weight.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host.
    pub name: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Suricata's `set_string_from_bytes`: valid UTF-8 as it is (JSON escapes control
/// characters), otherwise ASCII bytes as characters and the rest as `\xNN`.
fn printable(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii() {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Suricata prints unnamed types as the bare number, not RFC 3597's TYPEnnn.
fn eve_rrtype(rrtype: u16) -> String {
    let name = rrtype_name(rrtype);
    if name.starts_with("TYPE") {
        rrtype.to_string()
    } else {
        name.into_owned()
    }
}

fn entries(r: &Record) -> Vec<DnsAnswerInfo> {
    let base = DnsAnswerInfo {
        rrname: printable(&r.name),
        rrtype: eve_rrtype(r.rrtype),
        ttl: r.ttl,
        rdata: None,
        soa: None,
        srv: None,
    };
    let with = |rdata: String| DnsAnswerInfo {
        rdata: Some(rdata),
        ..base.clone()
    };
    match &r.data {
        RData::A(a) => vec![with(a.to_string())],
        RData::Aaaa(a) => vec![with(aaaa(&a.octets()))],
        RData::Cname(n) | RData::Ptr(n) | RData::Ns(n) | RData::Dname(n) => {
            vec![with(printable(n))]
        }
        RData::Mx { exchange, .. } => vec![with(printable(exchange))],
        RData::Txt(strings) => strings.iter().map(|t| with(printable(t))).collect(),
        RData::Other(bytes) if r.rrtype == 10 => vec![with(printable(bytes))],
        RData::Soa(s) => vec![DnsAnswerInfo {
            soa: Some(SoaInfo {
                mname: printable(&s.mname),
                rname: printable(&s.rname),
                serial: s.serial,
                refresh: s.refresh,
                retry: s.retry,
                expire: s.expire,
                minimum: s.minimum,
            }),
            ..base
        }],
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => vec![DnsAnswerInfo {
            srv: Some(SrvInfo {
                priority: *priority,
                weight: *weight,
                port: *port,
                name: printable(target),
            }),
            ..base
        }],
        _ => vec![base],
    }
}

/// Suricata's fixed-width IPv6 form: eight groups of four hex digits, no `::`.
fn aaaa(o: &[u8; 16]) -> String {
    let groups: Vec<String> = o
        .chunks_exact(2)
        .map(|g| g.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    groups.join(":")
}

fn section(records: &[Record], skip_empty_opt: bool) -> Vec<DnsAnswerInfo> {
    records
        .iter()
        .filter(|r| {
            !(skip_empty_opt
                && r.rrtype == 41
                && matches!(&r.data, RData::Other(d) if d.is_empty()))
        })
        .flat_map(entries)
        .collect()
}

impl DnsInfo {
    /// The EVE object for question `index` of a request, with the engine's `tx_id`;
    /// `None` past the last question.
    pub fn query(msg: &DnsMessage, index: usize, tx_id: u64) -> Option<DnsInfo> {
        let q = msg.questions.get(index)?;
        Some(DnsInfo {
            version: None,
            kind: "query",
            id: msg.id,
            flags: None,
            qr: false,
            aa: false,
            tc: false,
            rd: false,
            ra: false,
            z: msg.z(),
            rrname: Some(printable(&q.name)),
            rrtype: Some(eve_rrtype(q.rrtype)),
            tx_id: Some(tx_id),
            opcode: msg.opcode(),
            rcode: None,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        })
    }

    /// The EVE object of a response.
    pub fn answer(msg: &DnsMessage) -> DnsInfo {
        let first = msg.questions.first();
        DnsInfo {
            version: Some(2),
            kind: "answer",
            id: msg.id,
            flags: Some(format!("{:x}", msg.flags)),
            qr: msg.is_response(),
            aa: msg.aa(),
            tc: msg.tc(),
            rd: msg.rd(),
            ra: msg.ra(),
            z: msg.z(),
            rrname: first.map(|q| printable(&q.name)),
            rrtype: first.map(|q| eve_rrtype(q.rrtype)),
            tx_id: None,
            opcode: msg.opcode(),
            rcode: Some(rcode_name(u16::from(msg.rcode()))),
            answers: section(&msg.answers, false),
            authorities: section(&msg.authorities, false),
            additionals: section(&msg.additionals, true),
        }
    }

    /// All EVE objects of a message: one per question of a request, one for a response.
    pub fn from_message(msg: &DnsMessage, tx_id: u64) -> Vec<DnsInfo> {
        if msg.is_response() {
            vec![DnsInfo::answer(msg)]
        } else {
            (0..msg.questions.len())
                .filter_map(|i| DnsInfo::query(msg, i, tx_id))
                .collect()
        }
    }
}

//! From wire bytes to [`DnsMessage`] with the `domain` crate doing the name and record
//! framing, and this file deciding how much of a broken message to keep.

use domain::base::name::ParsedName;
use domain::base::{Message, ParseRecordData, ParsedRecord, RecordSection, UnknownRecordData};
use domain::rdata::{Aaaa, Cname, Dname, Mx, Ns, Ptr, Soa as DSoa, Srv, Txt, A};

use super::header::Header;
use super::{DnsError, DnsMessage, Question, RData, Record, Section, Soa};

type Octs<'a> = &'a [u8];
type Name<'a> = ParsedName<&'a [u8]>;

/// Parses one DNS message (a UDP payload, or a TCP message without its length prefix).
///
/// Errors only when the header is short or a question does not parse; see the module
/// docs for what is kept of a message broken further on.
pub fn parse(msg: &[u8]) -> Result<DnsMessage, DnsError> {
    let header = Header::parse(msg).ok_or(DnsError::ShortHeader(msg.len()))?;
    let message = Message::from_octets(msg).map_err(|_| DnsError::ShortHeader(msg.len()))?;

    let mut questions = Vec::new();
    let mut qsection = message.question();
    let mut index: u16 = 0;
    for q in &mut qsection {
        let q = q.map_err(|_| DnsError::BadQuestion(index))?;
        questions.push(Question {
            name: render_name(q.qname()),
            rrtype: q.qtype().to_int(),
            rrclass: q.qclass().to_int(),
        });
        index = index.saturating_add(1);
    }

    let mut out = DnsMessage {
        id: header.id,
        flags: header.flags,
        questions,
        answers: Vec::new(),
        authorities: Vec::new(),
        additionals: Vec::new(),
        malformed: None,
    };
    // The question iterator fused without error, so moving on cannot fail; treat it as
    // a broken answer section anyway rather than trusting that.
    match qsection.answer() {
        Ok(answers) => read_record_sections(answers, &mut out),
        Err(_) => out.malformed = Some(Section::Answer),
    }
    Ok(out)
}

/// Reads answer, authority and additional records, stopping at the first broken record.
fn read_record_sections(first: RecordSection<'_, Octs<'_>>, out: &mut DnsMessage) {
    let mut section = first;
    for which in [Section::Answer, Section::Authority, Section::Additional] {
        let records = match which {
            Section::Answer => &mut out.answers,
            Section::Authority => &mut out.authorities,
            _ => &mut out.additionals,
        };
        for rec in &mut section {
            match rec {
                Ok(rec) => records.push(record(&rec)),
                Err(_) => {
                    out.malformed = Some(which);
                    return;
                }
            }
        }
        match section.next_section() {
            Ok(Some(next)) => section = next,
            Ok(None) => return,
            Err(_) => {
                out.malformed = Some(which);
                return;
            }
        }
    }
}

fn record(rec: &ParsedRecord<'_, Octs<'_>>) -> Record {
    let rrtype = rec.rtype().to_int();
    Record {
        name: render_name(&rec.owner()),
        rrtype,
        rrclass: rec.class().to_int(),
        ttl: rec.ttl().as_secs(),
        data: rdata(rec, rrtype),
    }
}

/// Decodes the data of the types detection and EVE use. A type's parser failing (or
/// leaving bytes over) makes it [`RData::Malformed`] with the raw bytes.
fn rdata(rec: &ParsedRecord<'_, Octs<'_>>, rrtype: u16) -> RData {
    let decoded = match rrtype {
        1 => typed::<A>(rec).map(|a| RData::A(a.addr())),
        28 => typed::<Aaaa>(rec).map(|a| RData::Aaaa(a.addr())),
        5 => typed::<Cname<Name<'_>>>(rec).map(|c| RData::Cname(render_name(c.cname()))),
        12 => typed::<Ptr<Name<'_>>>(rec).map(|p| RData::Ptr(render_name(p.ptrdname()))),
        2 => typed::<Ns<Name<'_>>>(rec).map(|n| RData::Ns(render_name(n.nsdname()))),
        39 => typed::<Dname<Name<'_>>>(rec).map(|d| RData::Dname(render_name(d.dname()))),
        15 => typed::<Mx<Name<'_>>>(rec).map(|m| RData::Mx {
            preference: m.preference(),
            exchange: render_name(m.exchange()),
        }),
        6 => typed::<DSoa<Name<'_>>>(rec).map(|s| RData::Soa(soa(&s))),
        33 => typed::<Srv<Name<'_>>>(rec).map(|s| RData::Srv {
            priority: s.priority(),
            weight: s.weight(),
            port: s.port(),
            target: render_name(s.target()),
        }),
        16 => typed::<Txt<&[u8]>>(rec).map(|t| RData::Txt(t.iter().map(<[u8]>::to_vec).collect())),
        _ => return RData::Other(raw(rec)),
    };
    decoded.unwrap_or_else(|| RData::Malformed(raw(rec)))
}

fn soa(s: &DSoa<Name<'_>>) -> Soa {
    Soa {
        mname: render_name(s.mname()),
        rname: render_name(s.rname()),
        serial: s.serial().into_int(),
        refresh: s.refresh().as_secs(),
        retry: s.retry().as_secs(),
        expire: s.expire().as_secs(),
        minimum: s.minimum().as_secs(),
    }
}

/// The record data as `D`, or `None` when it does not decode as that type.
fn typed<'a, D>(rec: &ParsedRecord<'a, Octs<'a>>) -> Option<D>
where
    D: ParseRecordData<'a, Octs<'a>>,
{
    rec.to_record::<D>().ok().flatten().map(|r| r.into_data())
}

fn raw(rec: &ParsedRecord<'_, Octs<'_>>) -> Vec<u8> {
    rec.to_record::<UnknownRecordData<&[u8]>>()
        .ok()
        .flatten()
        .map(|r| r.data().data().to_vec())
        .unwrap_or_default()
}

/// Labels joined by `.`, bytes as on the wire, no trailing dot; root is empty.
fn render_name<O: AsRef<[u8]>>(name: &ParsedName<O>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for label in name.iter() {
        if label.is_root() {
            break;
        }
        if !out.is_empty() {
            out.push(b'.');
        }
        out.extend_from_slice(label.as_slice());
    }
    out
}

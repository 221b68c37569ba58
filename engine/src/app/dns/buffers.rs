//! The `dns.*` multi-buffers and the integer keywords, as Suricata 8 fills them.
//!
//! | buffer | messages | instances, in order |
//! |---|---|---|
//! | `dns.query` / `dns_query` | requests (QR=0) | each question name |
//! | `dns.queries.rrname` | both | each question name |
//! | `dns.answers.rrname` | both | each answer owner name |
//! | `dns.authorities.rrname` | responses (QR=1) | each authority owner name |
//! | `dns.additionals.rrname` | responses | each additional owner name |
//! | `dns.response.rrname` | responses | question names, then per answer, authority and additional record its owner name followed by its data name if it is a CNAME, PTR, MX, NS or SOA (mname) |
//!
//! Suricata picks the message by flow direction (`dns.query` reads the request of a
//! transaction, `dns.response.rrname` and the authority/additional buffers the
//! response, whatever their docs say about "both"); here QR stands in for direction, so
//! the caller should only ask for `DnsQuery` on to-server messages and for the response
//! buffers on to-client ones to match Suricata exactly.
//!
//! Root names (empty) are not instances. Suricata ends a section's iteration at an empty
//! name; skipping it instead keeps the names after it inspectable, which only ever adds
//! matches, and closes an evasion (an OPT-style root owner placed first).

use verdict_compiler::ir::AppBuffer;

use super::{DnsMessage, Question, RData, Record};

/// The data name `dns.response.rrname` inspects: Suricata's list (no SRV, no DNAME).
fn response_rdata_name(r: &Record) -> Option<&[u8]> {
    match &r.data {
        RData::Cname(n) | RData::Ptr(n) | RData::Ns(n) => Some(n),
        RData::Mx { exchange, .. } => Some(exchange),
        RData::Soa(soa) => Some(&soa.mname),
        _ => None,
    }
}

/// The instances of one DNS multi-buffer, without allocating: every buffer is some
/// question names followed by the owner names (and maybe data names) of up to three
/// record sections.
#[derive(Debug, Clone)]
pub struct Instances<'a> {
    questions: std::slice::Iter<'a, Question>,
    sections: [std::slice::Iter<'a, Record>; 3],
    with_rdata: bool,
    /// The data name of the record whose owner was yielded last.
    pending: Option<&'a [u8]>,
}

impl<'a> Instances<'a> {
    fn empty() -> Self {
        Instances {
            questions: [].iter(),
            sections: [[].iter(), [].iter(), [].iter()],
            with_rdata: false,
            pending: None,
        }
    }

    fn next_any(&mut self) -> Option<&'a [u8]> {
        if let Some(q) = self.questions.next() {
            return Some(&q.name);
        }
        if let Some(n) = self.pending.take() {
            return Some(n);
        }
        for section in &mut self.sections {
            if let Some(r) = section.next() {
                if self.with_rdata {
                    self.pending = response_rdata_name(r);
                }
                return Some(&r.name);
            }
        }
        None
    }
}

impl<'a> Iterator for Instances<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let n = self.next_any()?;
            if !n.is_empty() {
                return Some(n);
            }
        }
    }
}

impl DnsMessage {
    /// The instances of a DNS multi-buffer in inspection order (none for non-DNS
    /// buffers and for buffers this kind of message does not carry; see the table above).
    pub fn buffers(&self, buffer: AppBuffer) -> Instances<'_> {
        let resp = self.is_response();
        let mut it = Instances::empty();
        match buffer {
            AppBuffer::DnsQuery if !resp => it.questions = self.questions.iter(),
            AppBuffer::DnsQueriesRrname => it.questions = self.questions.iter(),
            AppBuffer::DnsAnswersRrname => it.sections[0] = self.answers.iter(),
            AppBuffer::DnsAuthoritiesRrname if resp => it.sections[0] = self.authorities.iter(),
            AppBuffer::DnsAdditionalsRrname if resp => it.sections[0] = self.additionals.iter(),
            AppBuffer::DnsResponseRrname if resp => {
                it.questions = self.questions.iter();
                it.sections = [
                    self.answers.iter(),
                    self.authorities.iter(),
                    self.additionals.iter(),
                ];
                it.with_rdata = true;
            }
            _ => {}
        }
        it
    }

    /// The `i`-th instance of a DNS multi-buffer; `None` past the last one or when the
    /// buffer is not one this message carries.
    pub fn buffer_n(&self, buffer: AppBuffer, i: usize) -> Option<&[u8]> {
        self.buffers(buffer).nth(i)
    }

    /// The values `dns.rrtype` compares (a multi-integer): question types of a request,
    /// answer types of a response, as Suricata does.
    pub fn rrtypes(&self) -> impl Iterator<Item = u16> + '_ {
        let (questions, answers) = if self.is_response() {
            (&[][..], &self.answers[..])
        } else {
            (&self.questions[..], &[][..])
        };
        questions
            .iter()
            .map(|q| q.rrtype)
            .chain(answers.iter().map(|r| r.rrtype))
    }
}

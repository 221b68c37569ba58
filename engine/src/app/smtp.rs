//! SMTP commands (RFC 5321) for `smtp.helo`, `smtp.mail_from` and `smtp.rcpt_to`, with
//! transactions cut as Suricata's `app-layer-smtp.c` cuts them.
//!
//! A transaction starts with the first command after the previous one ended and ends with
//! the end of its mail data (the `.` line after `DATA`, or the last `BDAT` chunk) or with
//! `RSET`. `smtp.helo` is the argument of the session's first `HELO`/`EHLO` and is visible
//! in every transaction; `smtp.mail_from` is the transaction's `MAIL FROM` argument and
//! `smtp.rcpt_to` each `RCPT TO` argument. Arguments are read as Suricata's
//! `SMTPParseCommandWithParam` reads them: after the command and one separator byte, spaces
//! skipped, up to the next space (so `MAIL FROM:<a@b> SIZE=10` gives `<a@b>`).
//!
//! Mail data after `DATA` is dot-unstuffed and read by the MIME decoder ([`super::mime`]):
//! its attachments, decoded, are the transaction's `file.data` instances, as Suricata's SMTP
//! files (`BDAT` chunks are skipped, not decoded). After `STARTTLS` is accepted (a `220`
//! reply) the rest of the connection is TLS and both directions stop.
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::smtp::SmtpConn;
//!
//! let mut c = SmtpConn::new();
//! c.feed(true, b"EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=10\r\n");
//! let ids = c.feed(true, b"RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\n");
//! assert_eq!(c.buffer_n(ids[0], AppBuffer::SmtpHelo, 0), Some(&b"client.example"[..]));
//! assert_eq!(c.buffer_n(ids[0], AppBuffer::SmtpMailFrom, 0), Some(&b"<a@example.com>"[..]));
//! assert_eq!(c.buffer_n(ids[0], AppBuffer::SmtpRcptTo, 1), Some(&b"<c@example.com>"[..]));
//! ```
//!
//! ## Memory
//! Lines are cut at [`MAX_LINE`] bytes, a transaction keeps at most [`MAX_RCPT`]
//! recipients, and the connection its last [`MAX_TXS`] transactions.

use crate::app::http::line::{LineBuf, LineEnds};
use crate::app::mime::Mime;
use std::collections::VecDeque;
use verdict_compiler::ir::AppBuffer;

/// Longest command line kept (RFC 5321 allows 512 bytes; servers accept more).
pub const MAX_LINE: usize = 4096;
/// Recipients kept per transaction.
pub const MAX_RCPT: usize = 256;
/// Transactions kept per connection.
pub const MAX_TXS: usize = 16;

/// One mail transaction.
#[derive(Debug, Clone, Default)]
pub struct SmtpTx {
    id: u64,
    mail_from: Option<Vec<u8>>,
    rcpt_to: Vec<Vec<u8>>,
    done: bool,
    /// The mail data's MIME decoder, from `DATA` on.
    mime: Option<Box<Mime>>,
}

impl SmtpTx {
    /// The transaction id (increasing per connection).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The mail data ended (or `RSET`): the transaction is over.
    pub fn done(&self) -> bool {
        self.done
    }
}

/// Where the client's side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Commands,
    /// Mail data after `DATA`, until a line with a single `.`.
    Data,
    /// `BDAT` chunk bytes still to skip; `true` when it is the last chunk.
    Bdat(u64, bool),
    /// TLS after STARTTLS, or a gap.
    Stopped,
}

/// One SMTP connection.
#[derive(Debug)]
pub struct SmtpConn {
    helo: Option<Vec<u8>>,
    txs: VecDeque<SmtpTx>,
    next_id: u64,
    /// [client, server] partial lines.
    lines: [LineBuf; 2],
    client: Client,
    /// STARTTLS sent, its reply not seen yet.
    starttls: bool,
    server_stopped: bool,
}

impl Default for SmtpConn {
    fn default() -> Self {
        SmtpConn::new()
    }
}

impl SmtpConn {
    /// A connection with nothing seen.
    pub fn new() -> SmtpConn {
        SmtpConn {
            helo: None,
            txs: VecDeque::new(),
            next_id: 0,
            lines: [LineBuf::default(), LineBuf::default()],
            client: Client::Commands,
            starttls: false,
            server_stopped: false,
        }
    }

    /// Feeds in-order stream bytes of one direction; returns the ids of the transactions
    /// a client command created or changed (server bytes change none).
    pub fn feed(&mut self, to_server: bool, mut bytes: &[u8]) -> Vec<u64> {
        let mut ids = Vec::new();
        if !to_server {
            self.server(bytes);
            return ids;
        }
        while !bytes.is_empty() {
            if let Client::Bdat(n, last) = self.client {
                let k = u64::try_from(bytes.len()).unwrap_or(u64::MAX).min(n);
                bytes = &bytes[usize::try_from(k).unwrap_or(bytes.len())..];
                self.client = if n - k > 0 {
                    Client::Bdat(n - k, last)
                } else {
                    if last {
                        self.end_tx();
                    }
                    Client::Commands
                };
                continue;
            }
            if self.client == Client::Stopped {
                break;
            }
            let Some(line) = self.lines[0].take(&mut bytes, LineEnds::Lf, MAX_LINE) else {
                break;
            };
            let content = line.content();
            if self.client == Client::Data {
                let id = self.current().id;
                let grew = if content == b"." {
                    self.client = Client::Commands;
                    self.end_tx();
                    true
                } else {
                    // RFC 5321 4.5.2: a leading dot was doubled by the sender.
                    let line = content.strip_prefix(b".").unwrap_or(content);
                    let tx = self.current();
                    tx.mime.get_or_insert_with(Box::default).line(line)
                };
                if grew && !ids.contains(&id) {
                    ids.push(id);
                }
                continue;
            }
            if let Some(id) = self.command(content) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// A gap in one direction: lines cannot be found again, so that direction stops.
    pub fn gap(&mut self, to_server: bool) {
        if to_server {
            self.client = Client::Stopped;
            self.lines[0].clear();
        } else {
            self.server_stopped = true;
            self.lines[1].clear();
        }
    }

    /// Instance `i` of an SMTP buffer of transaction `id`.
    pub fn buffer_n(&self, id: u64, b: AppBuffer, i: usize) -> Option<&[u8]> {
        let tx = self.tx(id)?;
        match b {
            AppBuffer::SmtpHelo if i == 0 => self.helo.as_deref(),
            AppBuffer::SmtpMailFrom if i == 0 => tx.mail_from.as_deref(),
            AppBuffer::SmtpRcptTo => tx.rcpt_to.get(i).map(Vec::as_slice),
            _ => None,
        }
    }

    /// The transaction `id`, if still kept.
    pub fn tx(&self, id: u64) -> Option<&SmtpTx> {
        self.txs.iter().find(|t| t.id == id)
    }

    /// The kept transactions, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &SmtpTx> {
        self.txs.iter()
    }

    /// The session's HELO/EHLO argument.
    pub fn helo(&self) -> Option<&[u8]> {
        self.helo.as_deref()
    }

    /// The current transaction, created when there is none or the last one is over.
    fn current(&mut self) -> &mut SmtpTx {
        if self.txs.back().is_none_or(|t| t.done) {
            let id = self.next_id;
            self.next_id += 1;
            self.txs.push_back(SmtpTx {
                id,
                ..SmtpTx::default()
            });
            if self.txs.len() > MAX_TXS {
                self.txs.pop_front();
            }
        }
        let last = self.txs.len() - 1;
        &mut self.txs[last]
    }

    fn end_tx(&mut self) {
        if let Some(t) = self.txs.back_mut() {
            t.done = true;
            if let Some(m) = t.mime.as_mut() {
                m.finish();
            }
        }
    }

    /// Attachment `i` of transaction `id`, decoded (`file.data`).
    pub fn file(&self, id: u64, i: usize) -> Option<&[u8]> {
        self.tx(id)?.mime.as_ref()?.file(i)
    }

    /// One client command line; the id of the transaction it belongs to.
    fn command(&mut self, line: &[u8]) -> Option<u64> {
        let upper = |n: usize| line.get(..n).map(<[u8]>::to_ascii_uppercase);
        let starts = |p: &[u8]| upper(p.len()).as_deref() == Some(p);
        let id = self.current().id;
        if starts(b"HELO") || starts(b"EHLO") {
            if self.helo.is_none() {
                self.helo = Some(param(line, 4));
            }
        } else if starts(b"MAIL FROM") {
            let from = param(line, 9);
            self.current().mail_from = Some(from);
        } else if starts(b"RCPT TO") {
            let to = param(line, 7);
            let tx = self.current();
            if tx.rcpt_to.len() < MAX_RCPT {
                tx.rcpt_to.push(to);
            }
        } else if starts(b"DATA") && line.len() == 4 {
            self.client = Client::Data;
        } else if starts(b"BDAT ") {
            let mut words = line[5..].split(|&b| b == b' ').filter(|w| !w.is_empty());
            let n = words
                .next()
                .and_then(|w| std::str::from_utf8(w).ok()?.parse::<u64>().ok());
            let last = words
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(b"LAST"));
            match n {
                Some(n) if n > 0 => self.client = Client::Bdat(n, last),
                Some(_) if last => self.end_tx(),
                _ => {}
            }
        } else if starts(b"RSET") {
            self.end_tx();
        } else if starts(b"STARTTLS") {
            self.starttls = true;
        }
        Some(id)
    }

    /// Server lines: only the answer to STARTTLS matters here.
    fn server(&mut self, mut bytes: &[u8]) {
        if self.server_stopped {
            return;
        }
        while let Some(line) = self.lines[1].take(&mut bytes, LineEnds::Lf, MAX_LINE) {
            if !self.starttls {
                continue;
            }
            if line.content().starts_with(b"220") {
                self.client = Client::Stopped;
                self.server_stopped = true;
                return;
            }
            self.starttls = false;
        }
    }
}

/// A command's parameter: after `prefix` bytes and one separator, spaces skipped, up to
/// the next space.
fn param(line: &[u8], prefix: usize) -> Vec<u8> {
    let rest = line.get(prefix + 1..).unwrap_or_default();
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let rest = &rest[start..];
    let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    rest[..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"EHLO mx.example\r\nMAIL FROM:<spam@example.net> SIZE=100\r\n\
RCPT TO:<a@example.com>\r\nRCPT TO: <b@example.com>\r\nDATA\r\nSubject: x\r\n\r\n\
MAIL FROM:<not@a.command>\r\n.\r\nMAIL FROM:<second@example.net>\r\nQUIT\r\n";

    fn check(c: &SmtpConn) {
        let txs: Vec<&SmtpTx> = c.txs().collect();
        assert_eq!(txs.len(), 2);
        assert!(txs[0].done() && !txs[1].done());
        let b = |id, buf, i| c.buffer_n(id, buf, i).map(<[u8]>::to_vec);
        assert_eq!(
            b(0, AppBuffer::SmtpHelo, 0).as_deref(),
            Some(&b"mx.example"[..])
        );
        assert_eq!(
            b(1, AppBuffer::SmtpHelo, 0).as_deref(),
            Some(&b"mx.example"[..])
        );
        assert_eq!(
            b(0, AppBuffer::SmtpMailFrom, 0).as_deref(),
            Some(&b"<spam@example.net>"[..])
        );
        assert_eq!(
            b(0, AppBuffer::SmtpRcptTo, 1).as_deref(),
            Some(&b"<b@example.com>"[..])
        );
        assert_eq!(b(0, AppBuffer::SmtpRcptTo, 2), None);
        assert_eq!(
            b(1, AppBuffer::SmtpMailFrom, 0).as_deref(),
            Some(&b"<second@example.net>"[..])
        );
    }

    #[test]
    fn attachments_are_file_data_dot_unstuffed() {
        let mail: &[u8] = b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n\
Content-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\n\
hello\r\n--q\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n\r\n\
..leading dot\r\nline two\r\n--q--\r\n.\r\nQUIT\r\n";
        for cut in [0, 40, 97, mail.len() - 9] {
            let mut c = SmtpConn::new();
            let mut ids = c.feed(true, &mail[..cut]);
            ids.extend(c.feed(true, &mail[cut..]));
            assert!(ids.contains(&0));
            assert_eq!(c.file(0, 0), Some(&b".leading dot\r\nline two\r\n"[..]));
            assert_eq!(c.file(0, 1), None);
            assert!(c.tx(0).is_some_and(SmtpTx::done));
        }
    }

    #[test]
    fn transactions_split_anywhere() {
        for cut in 0..MAIL.len() {
            let mut c = SmtpConn::new();
            c.feed(false, b"220 mx ESMTP\r\n");
            c.feed(true, &MAIL[..cut]);
            c.feed(true, &MAIL[cut..]);
            check(&c);
        }
    }

    #[test]
    fn bdat_rset_and_starttls() {
        let mut c = SmtpConn::new();
        c.feed(
            true,
            b"HELO a\r\nMAIL FROM:<x@y>\r\nBDAT 20 LAST\r\nRCPT TO:<in@chunk>\r\n\r\n",
        );
        c.feed(true, b"MAIL FROM:<z@y>\r\nRSET\r\nMAIL FROM:<w@y>\r\n");
        let froms: Vec<_> = c
            .txs()
            .map(|t| {
                c.buffer_n(t.id(), AppBuffer::SmtpMailFrom, 0)
                    .unwrap()
                    .to_vec()
            })
            .collect();
        assert_eq!(
            froms,
            vec![b"<x@y>".to_vec(), b"<z@y>".to_vec(), b"<w@y>".to_vec()]
        );
        assert!(c.buffer_n(0, AppBuffer::SmtpRcptTo, 0).is_none());
        c.feed(true, b"STARTTLS\r\n");
        c.feed(false, b"220 go ahead\r\n");
        assert!(c
            .feed(true, b"\x16\x03\x01MAIL FROM:<tls@x>\r\n")
            .is_empty());
    }

    #[test]
    fn bounded_and_hostile() {
        const ALPHA: &[u8] = b"MAILFROM:RCPTTOBDAT DATA 0123456789 LAST\r\n.";
        let mut c = SmtpConn::new();
        c.feed(true, b"MAIL FROM:<a@b>\r\n");
        for _ in 0..1000 {
            c.feed(true, b"RCPT TO:<x@y>\r\n");
        }
        assert_eq!(c.txs().next().map(|t| t.rcpt_to.len()), Some(MAX_RCPT));
        for _ in 0..100 {
            c.feed(true, b"RSET\r\nMAIL FROM:<a@b>\r\n");
        }
        assert!(c.txs().count() <= MAX_TXS);
        crate::app::feed_junk(ALPHA, 300, |to_server, b| {
            c.feed(to_server, b);
        });
        c.gap(true);
        assert!(c.feed(true, b"HELO x\r\n").is_empty());
        assert_eq!(param(b"HELO", 4), b"");
    }
}

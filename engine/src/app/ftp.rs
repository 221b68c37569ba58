//! FTP control channel (RFC 959): each client command and the replies that answer it form
//! a transaction, as in Suricata's FTP parser, for `ftp.command`, `ftp.command_data`,
//! `ftp.reply`, `ftp.completion_code`, `ftp.dynamic_port` and `ftpbounce`.
//!
//! Lines end at LF (a CR before it is dropped). A client line is a command: its first word
//! upper-cased is `ftp.command`, the rest after one space `ftp.command_data`. A server line
//! `NNN text` or `NNN-text` is a reply line (`NNN` the completion code, `text` the reply);
//! lines of a multi-line reply without a code belong to it. Replies answer the oldest
//! command still waiting; a reply whose code starts with `1` is preliminary and more
//! follow (`150 Opening…` then `226 Transfer complete`). A reply before any command (the
//! `220` greeting) is a transaction without a command.
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::ftp::FtpConn;
//!
//! let mut c = FtpConn::new();
//! c.feed(false, b"220 ready\r\n");
//! let ids = c.feed(true, b"RETR temp.txt\r\n");
//! c.feed(false, b"150 Opening BINARY mode\r\n226 Transfer complete.\r\n");
//! let tx = c.tx(ids[0]).unwrap();
//! assert_eq!(tx.buffer_n(AppBuffer::FtpCommand, 0), Some(&b"RETR"[..]));
//! assert_eq!(tx.buffer_n(AppBuffer::FtpReply, 1), Some(&b"Transfer complete."[..]));
//! assert!(tx.reply_complete());
//! ```
//!
//! ## Memory
//! Lines are cut at [`MAX_LINE`] bytes; a transaction keeps at most [`MAX_REPLY_LINES`]
//! reply lines, and the connection the last [`MAX_TXS`] transactions (older ones were
//! inspected when they progressed).

use crate::app::http::line::{LineBuf, LineEnds};
use std::collections::VecDeque;
use verdict_compiler::ir::AppBuffer;
use verdict_compiler::keywords::ftp::{port_address, port_port};

/// Longest line kept (Suricata's default `ftp.max-line-length` is 4 KiB).
pub const MAX_LINE: usize = 4096;
/// Reply lines kept per transaction.
pub const MAX_REPLY_LINES: usize = 64;
/// Transactions kept per connection.
pub const MAX_TXS: usize = 32;

/// One command and its replies.
#[derive(Debug, Clone, Default)]
pub struct FtpTx {
    id: u64,
    command: Vec<u8>,
    data: Vec<u8>,
    /// The raw argument of a PORT command, for `ftpbounce`.
    port_arg: Option<Vec<u8>>,
    codes: Vec<Vec<u8>>,
    replies: Vec<Vec<u8>>,
    dynamic_port: Option<u16>,
    /// The data port was announced by the client (PORT/EPRT), not by a PASV/EPSV reply.
    active: bool,
    /// A final (non-1xx) reply line ended the reply.
    complete: bool,
    /// The command line was longer than [`MAX_LINE`].
    truncated: bool,
}

impl FtpTx {
    /// The transaction id (increasing per connection).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Instance `i` of an FTP buffer: the command and its data exist once, the reply lines
    /// and their codes once per line.
    pub fn buffer_n(&self, b: AppBuffer, i: usize) -> Option<&[u8]> {
        match b {
            AppBuffer::FtpCommand if i == 0 && !self.command.is_empty() => Some(&self.command),
            AppBuffer::FtpCommandData if i == 0 && !self.command.is_empty() => Some(&self.data),
            AppBuffer::FtpReply => self.replies.get(i).map(Vec::as_slice),
            AppBuffer::FtpCompletionCode => self.codes.get(i).map(Vec::as_slice),
            _ => None,
        }
    }

    /// The upper-cased command name (empty for the greeting's transaction).
    pub fn command(&self) -> &[u8] {
        &self.command
    }

    /// The data port announced by PORT/EPRT or a 227/229 reply.
    pub fn dynamic_port(&self) -> Option<u16> {
        self.dynamic_port
    }

    /// A final reply was received.
    pub fn reply_complete(&self) -> bool {
        self.complete
    }

    /// `ftp.mode`: `Some(true)` when the client announced the data port (PORT/EPRT),
    /// `Some(false)` when a PASV/EPSV reply did, `None` without a data port.
    pub fn active(&self) -> Option<bool> {
        self.dynamic_port.map(|_| self.active)
    }

    /// `ftpbounce`: a PORT command whose address is not `client` (IPv4).
    pub fn bounces(&self, client: Option<[u8; 4]>) -> bool {
        match (&self.port_arg, client) {
            (Some(arg), Some(c)) => port_address(arg).is_some_and(|a| a != c),
            _ => false,
        }
    }
}

/// One FTP control connection.
#[derive(Debug, Default)]
pub struct FtpConn {
    txs: VecDeque<FtpTx>,
    next_id: u64,
    /// [client, server] partial lines.
    lines: [LineBuf; 2],
    /// The server's multi-line reply in progress: its code (`NNN-` seen, `NNN ` not yet).
    multi: Option<[u8; 3]>,
    /// A direction stopped (a gap): nothing more is parsed from it.
    stopped: [bool; 2],
}

impl FtpConn {
    /// A connection with nothing seen.
    pub fn new() -> FtpConn {
        FtpConn::default()
    }

    /// Feeds in-order stream bytes of one direction; returns the ids of the transactions
    /// that progressed (a new command, new reply lines).
    pub fn feed(&mut self, to_server: bool, mut bytes: &[u8]) -> Vec<u64> {
        let side = usize::from(!to_server);
        let mut ids = Vec::new();
        if self.stopped[side] {
            return ids;
        }
        while let Some(line) = self.lines[side].take(&mut bytes, LineEnds::Lf, MAX_LINE) {
            let id = if to_server {
                self.command(line.content(), line.overflow)
            } else {
                self.reply(line.content())
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// A gap in one direction: lines cannot be found again, so that direction stops.
    pub fn gap(&mut self, to_server: bool) {
        let side = usize::from(!to_server);
        self.stopped[side] = true;
        self.lines[side].clear();
    }

    /// The transaction `id`, if still kept.
    pub fn tx(&self, id: u64) -> Option<&FtpTx> {
        self.txs.iter().find(|t| t.id == id)
    }

    /// The kept transactions, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &FtpTx> {
        self.txs.iter()
    }

    fn push(&mut self, tx: FtpTx) -> u64 {
        let id = tx.id;
        self.txs.push_back(tx);
        if self.txs.len() > MAX_TXS {
            self.txs.pop_front();
        }
        id
    }

    fn new_tx(&mut self) -> FtpTx {
        let id = self.next_id;
        self.next_id += 1;
        FtpTx {
            id,
            ..FtpTx::default()
        }
    }

    fn command(&mut self, line: &[u8], truncated: bool) -> u64 {
        let (word, data) = match memchr::memchr(b' ', line) {
            Some(p) => (&line[..p], &line[p + 1..]),
            None => (line, &b""[..]),
        };
        let mut tx = self.new_tx();
        tx.command = word.to_ascii_uppercase();
        tx.data = data.to_vec();
        tx.truncated = truncated;
        match tx.command.as_slice() {
            b"PORT" => {
                tx.dynamic_port = port_port(data);
                tx.port_arg = Some(data.to_vec());
                tx.active = true;
            }
            b"EPRT" => {
                tx.dynamic_port = eprt_port(data);
                tx.active = true;
            }
            _ => {}
        }
        self.push(tx)
    }

    fn reply(&mut self, line: &[u8]) -> u64 {
        let coded = match line {
            [a, b, c, rest @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                match rest.first() {
                    Some(b' ') | None => Some(([*a, *b, *c], &rest[rest.len().min(1)..], true)),
                    Some(b'-') => Some(([*a, *b, *c], &rest[1..], false)),
                    _ => None,
                }
            }
            _ => None,
        };
        let (code, text, last) = match (coded, self.multi) {
            // `NNN ` closes a multi-line reply only with the code that opened it.
            (Some((code, text, last)), m) => (code, text, last && m.is_none_or(|m| m == code)),
            (None, Some(code)) => (code, line, false),
            (None, None) => (*b"000", line, true),
        };
        self.multi = if last { None } else { Some(code) };
        let idx = match self.txs.iter().position(|t| !t.complete) {
            Some(i) => i,
            None => {
                let tx = self.new_tx();
                self.push(tx);
                self.txs.len() - 1
            }
        };
        let tx = &mut self.txs[idx];
        if tx.replies.len() < MAX_REPLY_LINES {
            tx.codes.push(code.to_vec());
            tx.replies.push(text.to_vec());
        }
        match &code {
            b"227" => tx.dynamic_port = tx.dynamic_port.or(pasv_port(text)),
            b"229" => tx.dynamic_port = tx.dynamic_port.or(epsv_port(text)),
            _ => {}
        }
        if last && code[0] != b'1' {
            tx.complete = true;
        }
        tx.id
    }
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
fn pasv_port(text: &[u8]) -> Option<u16> {
    let start = text.iter().position(u8::is_ascii_digit)?;
    let end = text[start..]
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b',' || *b == b' '))
        .map_or(text.len(), |e| start + e);
    port_port(&text[start..end])
}

/// The port of a `229 Entering Extended Passive Mode (|||port|)` reply.
fn epsv_port(text: &[u8]) -> Option<u16> {
    let open = memchr::memchr(b'(', text)?;
    let inner = &text[open + 1..];
    let close = memchr::memchr(b')', inner)?;
    let f: Vec<&[u8]> = inner[..close].split(|&b| b == b'|').collect();
    parse_port(f.get(3)?)
}

/// The port of an `EPRT |af|addr|port|` argument (RFC 2428).
fn eprt_port(arg: &[u8]) -> Option<u16> {
    let arg = arg.trim_ascii();
    let delim = *arg.first()?;
    let f: Vec<&[u8]> = arg[1..].split(|&b| b == delim).collect();
    parse_port(f.get(2)?)
}

fn parse_port(s: &[u8]) -> Option<u16> {
    std::str::from_utf8(s.trim_ascii()).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Vec<(bool, &'static [u8])> {
        vec![
            (false, b"220-Welcome\r\n more text\r\n220 ready\r\n"),
            (true, b"USER anonymous\r\n"),
            (false, b"331 Please specify the password.\r\n"),
            (true, b"pasv\r\n"),
            (false, b"227 Entering Passive Mode (192,0,2,1,195,80).\r\n"),
            (true, b"RETR temp.txt\r\n"),
            (
                false,
                b"150 Opening BINARY mode\r\n226 Transfer complete.\r\n",
            ),
            (true, b"PORT 203,0,113,9,4,1\r\n"),
            (false, b"200 PORT command successful.\r\n"),
            (true, b"EPSV\r\n"),
            (false, b"229 Entering Extended Passive Mode (|||50001|)\r\n"),
            (true, b"EPRT |2|2001:db8::2|50002|\r\n"),
        ]
    }

    fn check(c: &FtpConn) {
        let txs: Vec<&FtpTx> = c.txs().collect();
        assert_eq!(txs.len(), 7);
        let g = txs[0];
        assert!(g.command().is_empty() && g.reply_complete());
        assert_eq!(g.buffer_n(AppBuffer::FtpCommand, 0), None);
        assert_eq!(g.buffer_n(AppBuffer::FtpReply, 1), Some(&b" more text"[..]));
        assert_eq!(g.buffer_n(AppBuffer::FtpReply, 2), Some(&b"ready"[..]));
        let u = txs[1];
        assert_eq!(
            u.buffer_n(AppBuffer::FtpCommandData, 0),
            Some(&b"anonymous"[..])
        );
        assert_eq!(
            u.buffer_n(AppBuffer::FtpCompletionCode, 0),
            Some(&b"331"[..])
        );
        assert_eq!(txs[2].command(), b"PASV");
        assert_eq!(txs[2].dynamic_port(), Some(195 * 256 + 80));
        assert_eq!(txs[2].active(), Some(false));
        assert_eq!(txs[1].active(), None);
        let r = txs[3];
        assert_eq!(
            r.buffer_n(AppBuffer::FtpReply, 0),
            Some(&b"Opening BINARY mode"[..])
        );
        assert_eq!(
            r.buffer_n(AppBuffer::FtpCompletionCode, 1),
            Some(&b"226"[..])
        );
        assert!(r.reply_complete());
        let p = txs[4];
        assert_eq!(p.dynamic_port(), Some(1025));
        assert_eq!(p.active(), Some(true));
        assert!(p.bounces(Some([192, 0, 2, 2])));
        assert!(!p.bounces(Some([203, 0, 113, 9])));
        assert!(!p.bounces(None));
        assert!(!r.bounces(Some([192, 0, 2, 2])));
        assert_eq!(txs[5].dynamic_port(), Some(50001));
        assert_eq!(txs[6].dynamic_port(), Some(50002));
        assert!(!txs[6].reply_complete());
    }

    #[test]
    fn commands_replies_and_ports_split_anywhere() {
        let s = session();
        let mut c = FtpConn::new();
        for (to_server, b) in &s {
            c.feed(*to_server, b);
        }
        check(&c);
        // Every message cut at every byte.
        for cut in 0..20 {
            let mut c = FtpConn::new();
            for (to_server, b) in &s {
                let k = cut.min(b.len());
                c.feed(*to_server, &b[..k]);
                c.feed(*to_server, &b[k..]);
            }
            check(&c);
        }
    }

    #[test]
    fn bounded_and_hostile() {
        const ALPHA: &[u8] = b"0123456789 -,|()\r\nPORTEPRT227229";
        let mut c = FtpConn::new();
        for _ in 0..100 {
            c.feed(true, b"NOOP\r\n");
        }
        assert_eq!(c.txs().count(), MAX_TXS);
        assert_eq!(c.txs().last().map(FtpTx::id), Some(99));
        let long = vec![b'A'; 10_000];
        let ids = c.feed(true, &[&long[..], b"\r\n"].concat());
        let tx = c.tx(ids[0]).unwrap();
        assert!(tx.truncated && tx.command().len() == MAX_LINE);
        for _ in 0..100 {
            c.feed(false, b"500-x\r\n");
        }
        assert!(c.txs().all(|t| t.replies.len() <= MAX_REPLY_LINES));
        crate::app::feed_junk(ALPHA, 300, |to_server, b| {
            c.feed(to_server, b);
        });
        c.gap(true);
        assert!(c.feed(true, b"USER x\r\n").is_empty());
    }
}

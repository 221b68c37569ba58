//! SIP (RFC 3261): each message, request or response, is a transaction of its own, as in
//! Suricata's SIP parser, for the `sip.*` sticky buffers, Snort's `sip_header`/`sip_body`
//! and the `sip_method`/`sip_stat_code` predicates.
//!
//! Over UDP a datagram is one message ([`parse`]); over TCP messages are framed out of the
//! stream by their `Content-Length` ([`SipTcp`]). A direction speaks one kind: requests go
//! to the server, responses to the client, and a message of the other kind is a parse error
//! (Suricata's request parser fails on a status line and vice versa).
//!
//! A message is its start line (`INVITE sip:bob@example.com SIP/2.0` or `SIP/2.0 180
//! Ringing`), header fields up to an empty line, and a body. Lines end at LF (a CR before it
//! is dropped); leading empty lines (keep-alives) are skipped. Header names are
//! case-insensitive and RFC 3261's compact forms (`f:`, `t:`, `v:`, `i:`, `m:`, `l:`, `c:`,
//! …) stand for their long names, so `sip.via` reads `v:` headers too. A line starting with
//! a space or a tab continues the header before it (folding): its text joins the value after
//! one space. Each occurrence of a header is one instance of its buffer (`Via` repeats).
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::sip;
//!
//! let m = sip::parse(b"INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP a\r\nl: 0\r\n\r\n", true).unwrap();
//! assert_eq!(m.buffer_n(AppBuffer::SipMethod, 0), Some(&b"INVITE"[..]));
//! assert_eq!(m.buffer_n(AppBuffer::SipVia, 0), Some(&b"SIP/2.0/UDP a"[..]));
//! assert!(sip::parse(b"SIP/2.0 200 OK\r\n\r\n", true).is_err());
//! ```
//!
//! ## Memory
//! A message keeps at most [`MAX_HEADERS`] header fields; over TCP a direction buffers at
//! most [`MAX_HEAD`] bytes of headers and [`MAX_BODY`] of body before it gives up (the
//! direction stops, as after a gap).

use verdict_compiler::ir::AppBuffer;

/// Header fields kept per message (later ones stay in the raw header block only).
pub const MAX_HEADERS: usize = 128;
/// Longest header section a TCP direction buffers while waiting for its end.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body (`Content-Length`) a TCP direction buffers.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest method name [`probe`] waits for (`UNSUBSCRIBE` is 11).
const MAX_METHOD: usize = 16;
/// Ports SIP is expected on (Suricata's default `detection-ports`).
pub const PORTS: [u16; 2] = [5060, 5061];

/// Why bytes are not a SIP message of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// Nothing but empty lines.
    #[error("empty message")]
    Empty,
    /// The first line is not a request line (to the server) or status line (to the client).
    #[error("not a SIP {0} line")]
    StartLine(&'static str),
    /// A header line without a name and colon, or a continuation with no header before it.
    #[error("malformed header line")]
    Header,
}

/// What the first line of a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD Request-URI SIP-Version`.
    Request {
        /// The method as sent (`INVITE`).
        method: Vec<u8>,
        /// The Request-URI (`sip:bob@example.com`).
        uri: Vec<u8>,
    },
    /// `SIP-Version Status-Code Reason-Phrase`.
    Response {
        /// The three digits.
        code: Vec<u8>,
        /// The reason phrase (may be empty).
        reason: Vec<u8>,
    },
}

/// One SIP message: a request or a response, each a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    start: StartLine,
    /// `SIP/2.0`.
    version: Vec<u8>,
    /// The whole start line without its line end.
    line: Vec<u8>,
    /// (lower-case long name, value) of each header field, folded lines joined.
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The header section as sent, after the start line up to the empty line.
    header_block: Vec<u8>,
    body: Vec<u8>,
}

impl SipMessage {
    /// The start line's content.
    pub fn start(&self) -> &StartLine {
        &self.start
    }

    /// The request's method (`None` for a response).
    pub fn method(&self) -> Option<&[u8]> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The response's status code as a number (`None` for a request).
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => std::str::from_utf8(code).ok()?.parse().ok(),
            StartLine::Request { .. } => None,
        }
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// Instance `i` of header `name` (lower-case long form), in message order.
    pub fn header(&self, name: &[u8], i: usize) -> Option<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .nth(i)
            .map(|(_, v)| v.as_slice())
    }

    /// Instance `i` of a SIP buffer: the start line's parts and the header block exist once,
    /// a header buffer once per occurrence of its header. `None` where the message has none
    /// (a response has no method, a request no status code).
    pub fn buffer_n(&self, b: AppBuffer, i: usize) -> Option<&[u8]> {
        let header = |name: &[u8]| self.header(name, i);
        fn once(v: &[u8], i: usize) -> Option<&[u8]> {
            (i == 0).then_some(v)
        }
        match (b, &self.start) {
            (AppBuffer::SipMethod, StartLine::Request { method, .. }) => once(method, i),
            (AppBuffer::SipUri, StartLine::Request { uri, .. }) => once(uri, i),
            (AppBuffer::SipRequestLine, StartLine::Request { .. }) => once(&self.line, i),
            (AppBuffer::SipStatCode, StartLine::Response { code, .. }) => once(code, i),
            (AppBuffer::SipStatMsg, StartLine::Response { reason, .. }) => {
                once(reason, i).filter(|r| !r.is_empty())
            }
            (AppBuffer::SipResponseLine, StartLine::Response { .. }) => once(&self.line, i),
            (AppBuffer::SipProtocol, _) => once(&self.version, i),
            (AppBuffer::SipFrom, _) => header(b"from"),
            (AppBuffer::SipTo, _) => header(b"to"),
            (AppBuffer::SipVia, _) => header(b"via"),
            (AppBuffer::SipUserAgent, _) => header(b"user-agent"),
            (AppBuffer::SipContentType, _) => header(b"content-type"),
            (AppBuffer::SipContentLength, _) => header(b"content-length"),
            (AppBuffer::SipHeader, _) => once(&self.header_block, i).filter(|h| !h.is_empty()),
            (AppBuffer::SipBody, _) => once(&self.body, i).filter(|b| !b.is_empty()),
            _ => None,
        }
    }
}

/// RFC 3261 (and later RFCs') compact header names and the long names they stand for.
const COMPACT: &[(u8, &[u8])] = &[
    (b'a', b"accept-contact"),
    (b'b', b"referred-by"),
    (b'c', b"content-type"),
    (b'd', b"request-disposition"),
    (b'e', b"content-encoding"),
    (b'f', b"from"),
    (b'i', b"call-id"),
    (b'j', b"reject-contact"),
    (b'k', b"supported"),
    (b'l', b"content-length"),
    (b'm', b"contact"),
    (b'n', b"identity-info"),
    (b'o', b"event"),
    (b'r', b"refer-to"),
    (b's', b"subject"),
    (b't', b"to"),
    (b'u', b"allow-events"),
    (b'v', b"via"),
    (b'x', b"session-expires"),
    (b'y', b"identity"),
];

/// The lower-case long form of a header name.
fn long_name(name: &[u8]) -> Vec<u8> {
    if let [c] = name {
        let c = c.to_ascii_lowercase();
        if let Some((_, long)) = COMPACT.iter().find(|(k, _)| *k == c) {
            return long.to_vec();
        }
    }
    name.to_ascii_lowercase()
}

/// RFC 3261's `token` characters (methods, header names).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `SIP/` followed by `digits.digits`.
fn is_version(v: &[u8]) -> bool {
    let Some(rest) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case(b"SIP/"))
        .map(|_| &v[4..])
    else {
        return false;
    };
    let mut parts = rest.splitn(2, |&b| b == b'.');
    let digits =
        |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next())
}

/// Splits off one line (without its LF and a CR before it); `None` at the end of `buf`.
fn next_line<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    if buf.is_empty() {
        return None;
    }
    let (line, rest) = match memchr::memchr(b'\n', buf) {
        Some(p) => (&buf[..p], &buf[p + 1..]),
        None => (*buf, &buf[buf.len()..]),
    };
    *buf = rest;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

fn parse_request_line(line: &[u8]) -> Option<(StartLine, Vec<u8>)> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts
        .next()
        .filter(|m| !m.is_empty() && m.iter().all(|&b| is_token(b)))?;
    let uri = parts.next().filter(|u| !u.is_empty())?;
    let version = parts.next().filter(|v| is_version(v))?;
    let start = StartLine::Request {
        method: method.to_vec(),
        uri: uri.to_vec(),
    };
    Some((start, version.to_vec()))
}

fn parse_status_line(line: &[u8]) -> Option<(StartLine, Vec<u8>)> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().filter(|v| is_version(v))?;
    let code = parts
        .next()
        .filter(|c| c.len() == 3 && c.iter().all(u8::is_ascii_digit))?;
    let reason = parts.next().unwrap_or_default();
    let start = StartLine::Response {
        code: code.to_vec(),
        reason: reason.to_vec(),
    };
    Some((start, version.to_vec()))
}

/// The message `head` (up to, not including, its body) starts, without a body yet.
fn parse_head(mut head: &[u8], to_server: bool) -> Result<SipMessage, SipError> {
    let line = loop {
        match next_line(&mut head) {
            None => return Err(SipError::Empty),
            Some([]) => continue,
            Some(l) => break l,
        }
    };
    let parsed = if to_server {
        parse_request_line(line).ok_or(SipError::StartLine("request"))?
    } else {
        parse_status_line(line).ok_or(SipError::StartLine("status"))?
    };
    let block_start = head;
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    // None before the first header; else whether the last one was kept (under the cap).
    let mut last_kept: Option<bool> = None;
    let mut block_len = 0;
    while let Some(l) = next_line(&mut head) {
        if l.is_empty() {
            break;
        }
        block_len = block_start.len() - head.len();
        if matches!(l.first(), Some(b' ' | b'\t')) {
            // A folded continuation: one space stands for the line break and its whitespace.
            match last_kept {
                None => return Err(SipError::Header),
                Some(true) => {
                    if let Some((_, v)) = headers.last_mut() {
                        if !v.is_empty() {
                            v.push(b' ');
                        }
                        v.extend_from_slice(l.trim_ascii());
                    }
                }
                Some(false) => {}
            }
            continue;
        }
        let colon = memchr::memchr(b':', l).ok_or(SipError::Header)?;
        let name = l[..colon].trim_ascii_end();
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(SipError::Header);
        }
        let keep = headers.len() < MAX_HEADERS;
        if keep {
            headers.push((long_name(name), l[colon + 1..].trim_ascii().to_vec()));
        }
        last_kept = Some(keep);
    }
    // The raw block ends with the last header line's end, without the empty line.
    let block = block_start[..block_len].to_vec();
    let (start, version) = parsed;
    Ok(SipMessage {
        start,
        version,
        line: line.to_vec(),
        headers,
        header_block: block,
        body: Vec::new(),
    })
}

/// Parses one whole message sent to the server (`to_server`: a request) or to the client
/// (a response); whatever follows the header section is the body (one UDP datagram).
pub fn parse(msg: &[u8], to_server: bool) -> Result<SipMessage, SipError> {
    let (head, body) = match header_end(msg) {
        Some(end) => (&msg[..end], &msg[end..]),
        None => (msg, &msg[msg.len()..]),
    };
    let mut m = parse_head(head, to_server)?;
    m.body = body.to_vec();
    Ok(m)
}

/// A UDP datagram as SIP: on the SIP ports ([`PORTS`], either side) or, elsewhere, when its
/// first line looks like SIP ([`probe`]); `None` when it is not a message of its direction's
/// kind (Suricata's parser fails those, and they are no transaction).
pub fn udp(payload: &[u8], to_server: bool, sport: u16, dport: u16) -> Option<SipMessage> {
    let on_port = PORTS.contains(&sport) || PORTS.contains(&dport);
    if !on_port && probe(payload, to_server) != Some(true) {
        return None;
    }
    parse(payload, to_server).ok()
}

/// Where the body starts: past the empty line that ends the header section (after any
/// leading empty lines), if `buf` has it.
fn header_end(buf: &[u8]) -> Option<usize> {
    let lead = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    let mut at = lead;
    while let Some(p) = memchr::memchr(b'\n', &buf[at..]) {
        let nl = at + p;
        // The line after this LF is empty: LF, or CR LF.
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => at = nl + 1,
        }
    }
    None
}

/// True if `first` (a direction's first bytes) starts a SIP message: a request line whose
/// method is followed by a `sip:`, `sips:` or `tel:` URI (to the server), or a status line
/// starting `SIP/2.0 ` (to the client). `None` when more bytes are needed to tell.
pub fn probe(first: &[u8], to_server: bool) -> Option<bool> {
    fn prefix(data: &[u8], p: &[u8]) -> Option<bool> {
        let n = data.len().min(p.len());
        if !data[..n].eq_ignore_ascii_case(&p[..n]) {
            Some(false)
        } else if n == p.len() {
            Some(true)
        } else {
            None
        }
    }
    let data = &first[first
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()..];
    if !to_server {
        return prefix(data, b"SIP/2.0 ");
    }
    // Methods are case-sensitive and every registered one is upper-case letters; waiting
    // on other first bytes would delay every other protocol's detection.
    let Some(sp) = data.iter().position(|b| !b.is_ascii_uppercase()) else {
        return if data.len() > MAX_METHOD {
            Some(false)
        } else {
            None
        };
    };
    if sp == 0 || sp > MAX_METHOD || data[sp] != b' ' {
        return Some(false);
    }
    let uri = &data[sp + 1..];
    let schemes: [&[u8]; 3] = [b"sip:", b"sips:", b"tel:"];
    let answers: Vec<Option<bool>> = schemes.iter().map(|s| prefix(uri, s)).collect();
    if answers.contains(&Some(true)) {
        Some(true)
    } else if answers.contains(&None) && METHODS.contains(&&data[..sp]) {
        // Only a registered SIP method is worth waiting for: `GET ` cut after its space is
        // HTTP at once.
        None
    } else {
        Some(false)
    }
}

/// The SIP methods of RFC 3261 and its extensions (RFC 3262, 3265, 3311, 3428, 3515,
/// 3903, 6086).
const METHODS: &[&[u8]] = &[
    b"INVITE",
    b"ACK",
    b"BYE",
    b"CANCEL",
    b"REGISTER",
    b"OPTIONS",
    b"PRACK",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"PUBLISH",
    b"INFO",
    b"REFER",
    b"MESSAGE",
    b"UPDATE",
];

/// One TCP connection's SIP: messages framed out of each direction's stream.
#[derive(Debug, Default)]
pub struct SipTcp {
    /// [client, server] bytes not yet a whole message.
    bufs: [Vec<u8>; 2],
    /// A direction stopped (a gap, a malformed or oversized message).
    stopped: [bool; 2],
}

impl SipTcp {
    /// A connection with nothing seen.
    pub fn new() -> SipTcp {
        SipTcp::default()
    }

    /// Feeds in-order stream bytes of one direction; returns the messages they completed.
    pub fn feed(&mut self, to_server: bool, bytes: &[u8]) -> Vec<SipMessage> {
        let side = usize::from(!to_server);
        let mut out = Vec::new();
        if self.stopped[side] {
            return out;
        }
        self.bufs[side].extend_from_slice(bytes);
        loop {
            match self.frame(side) {
                Frame::More => break,
                Frame::Stop => {
                    self.gap(to_server);
                    break;
                }
                Frame::Message(len) => {
                    let msg: Vec<u8> = self.bufs[side].drain(..len).collect();
                    match parse(&msg, to_server) {
                        Ok(m) => out.push(m),
                        // Keep-alive empty lines between messages.
                        Err(SipError::Empty) => {}
                        Err(_) => {
                            self.gap(to_server);
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// A gap in one direction: message boundaries cannot be found again, so it stops.
    pub fn gap(&mut self, to_server: bool) {
        let side = usize::from(!to_server);
        self.stopped[side] = true;
        self.bufs[side] = Vec::new();
    }

    /// The length of the next whole message in `side`'s buffer.
    fn frame(&self, side: usize) -> Frame {
        let buf = &self.bufs[side];
        let lead = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if lead == buf.len() {
            // Only keep-alive line ends so far: nothing to keep but at most one CR.
            return if lead > 0 && buf.last() == Some(&b'\n') {
                Frame::Message(lead)
            } else {
                Frame::More
            };
        }
        let Some(end) = header_end(buf) else {
            return if buf.len() > MAX_HEAD {
                Frame::Stop
            } else {
                Frame::More
            };
        };
        let len = content_length(&buf[..end]);
        match len {
            Some(n) if n > MAX_BODY => Frame::Stop,
            // Over a stream the length is mandatory (RFC 3261 section 18.3); none means none.
            n => {
                let total = end.saturating_add(n.unwrap_or(0));
                if buf.len() >= total {
                    Frame::Message(total)
                } else {
                    Frame::More
                }
            }
        }
    }
}

enum Frame {
    More,
    Stop,
    Message(usize),
}

/// The `Content-Length` (or `l`) of a header section; `Some(usize::MAX)` when it is not a
/// number, which no buffer accepts.
fn content_length(mut head: &[u8]) -> Option<usize> {
    while let Some(l) = next_line(&mut head) {
        let Some(colon) = memchr::memchr(b':', l) else {
            continue;
        };
        if long_name(l[..colon].trim_ascii_end()) == b"content-length" {
            let v = l[colon + 1..].trim_ascii();
            return Some(
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(usize::MAX),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
v: SIP/2.0/UDP proxy.example.com\r\n\
Max-Forwards: 70\r\n\
To: Bob\r\n <sip:bob@example.com>\r\n\
f: Alice <sip:alice@example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
user-agent: softphone/1.0\r\n\
c: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn request_fields_compact_and_folded() {
        let m = parse(INVITE, true).unwrap();
        let b = |k, i| m.buffer_n(k, i);
        assert_eq!(b(AppBuffer::SipMethod, 0), Some(&b"INVITE"[..]));
        assert_eq!(b(AppBuffer::SipUri, 0), Some(&b"sip:bob@example.com"[..]));
        assert_eq!(
            b(AppBuffer::SipRequestLine, 0),
            Some(&b"INVITE sip:bob@example.com SIP/2.0"[..])
        );
        assert_eq!(b(AppBuffer::SipProtocol, 0), Some(&b"SIP/2.0"[..]));
        assert_eq!(b(AppBuffer::SipStatCode, 0), None);
        assert_eq!(
            b(AppBuffer::SipVia, 1),
            Some(&b"SIP/2.0/UDP proxy.example.com"[..])
        );
        assert_eq!(b(AppBuffer::SipVia, 2), None);
        assert_eq!(
            b(AppBuffer::SipTo, 0),
            Some(&b"Bob <sip:bob@example.com>"[..])
        );
        assert!(b(AppBuffer::SipFrom, 0).unwrap().starts_with(b"Alice"));
        assert_eq!(b(AppBuffer::SipUserAgent, 0), Some(&b"softphone/1.0"[..]));
        assert_eq!(
            b(AppBuffer::SipContentType, 0),
            Some(&b"application/sdp"[..])
        );
        assert_eq!(b(AppBuffer::SipContentLength, 0), Some(&b"4"[..]));
        assert_eq!(b(AppBuffer::SipBody, 0), Some(&b"v=0\n"[..]));
        let h = b(AppBuffer::SipHeader, 0).unwrap();
        assert!(h.starts_with(b"Via: ") && h.ends_with(b"l: 4\r\n"));
        assert_eq!(
            m.header(b"call-id", 0),
            Some(&b"a84b4c76e66710@pc33.example.com"[..])
        );
        assert!(m.is_request() && m.status().is_none());
    }

    #[test]
    fn responses_and_wrong_kinds() {
        let m = parse(
            b"SIP/2.0 180 Ringing\r\nVia: x\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.buffer_n(AppBuffer::SipStatMsg, 0), Some(&b"Ringing"[..]));
        assert_eq!(
            m.buffer_n(AppBuffer::SipResponseLine, 0),
            Some(&b"SIP/2.0 180 Ringing"[..])
        );
        assert_eq!(m.buffer_n(AppBuffer::SipMethod, 0), None);
        assert_eq!(m.buffer_n(AppBuffer::SipBody, 0), None);
        assert!(parse(b"SIP/2.0 200 OK\r\n\r\n", true).is_err());
        assert!(parse(INVITE, false).is_err());
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n", true).is_err());
        assert_eq!(parse(b"\r\n\r\n", true), Err(SipError::Empty));
        assert_eq!(
            parse(b"OPTIONS sip:x SIP/2.0\r\n continued\r\n\r\n", true),
            Err(SipError::Header)
        );
        assert_eq!(
            parse(b"OPTIONS sip:x SIP/2.0\r\nno colon\r\n\r\n", true),
            Err(SipError::Header)
        );
        // Past the cap headers stay in the raw block only.
        let mut many = b"OPTIONS sip:x SIP/2.0\r\n".to_vec();
        for i in 0..MAX_HEADERS + 10 {
            many.extend_from_slice(format!("Via: v{i}\r\nTo:\r\n\t t{i}\r\n").as_bytes());
        }
        let m = parse(&many, true).unwrap();
        assert_eq!(m.headers.len(), MAX_HEADERS);
        assert_eq!(m.header(b"to", 0), Some(&b"t0"[..]));
        assert!(m
            .buffer_n(AppBuffer::SipHeader, 0)
            .unwrap()
            .ends_with(b"t137\r\n"));
        // Without an empty line the headers run to the end of the datagram.
        let m = parse(b"OPTIONS sip:x SIP/2.0\nTo: y", true).unwrap();
        assert_eq!(m.buffer_n(AppBuffer::SipTo, 0), Some(&b"y"[..]));
    }

    #[test]
    fn probes() {
        assert_eq!(probe(b"INVITE sip:bob@x SIP/2.0", true), Some(true));
        assert_eq!(probe(b"OPTIONS sips:x", true), Some(true));
        assert_eq!(probe(b"OPTIONS / HTTP/1.1", true), Some(false));
        assert_eq!(probe(b"OPTIONS si", true), None);
        assert_eq!(probe(b"GET ", true), Some(false));
        assert_eq!(probe(b"FOO sip:x SIP/2.0", true), Some(true));
        assert_eq!(probe(b"REGIS", true), None);
        assert_eq!(probe(b"SIP/2.0 200 OK", false), Some(true));
        assert_eq!(probe(b"HTTP/1.1 200", false), Some(false));
        assert_eq!(probe(b"SIP", false), None);
    }

    #[test]
    fn tcp_framing_split_anywhere() {
        let second = b"BYE sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        let stream = [&b"\r\n"[..], INVITE, b"\r\n\r\n", second].concat();
        for cut in 0..stream.len() {
            let mut c = SipTcp::new();
            let mut got = c.feed(true, &stream[..cut]);
            got.extend(c.feed(true, &stream[cut..]));
            assert_eq!(got.len(), 2, "cut {cut}");
            assert_eq!(got[0].buffer_n(AppBuffer::SipBody, 0), Some(&b"v=0\n"[..]));
            assert_eq!(got[1].method(), Some(&b"BYE"[..]));
        }
    }

    #[test]
    fn tcp_bounded_and_hostile() {
        let mut c = SipTcp::new();
        let big = b"INVITE sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n";
        assert!(c.feed(true, big).is_empty());
        assert!(c.stopped[0] && c.bufs[0].is_empty());
        let mut c = SipTcp::new();
        let head = vec![b'a'; MAX_HEAD + 10];
        assert!(c.feed(false, &head).is_empty());
        assert!(c.stopped[1] && c.bufs[1].is_empty());
        let mut c = SipTcp::new();
        crate::app::feed_junk(b"SIP/2.0 INVITE :\r\n0l", 300, |to_server, b| {
            c.feed(to_server, b);
        });
        assert!(c.bufs.iter().all(|b| b.len() <= MAX_HEAD + MAX_BODY + 64));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), to_server: bool) {
            let _ = parse(&bytes, to_server);
            let _ = probe(&bytes, to_server);
            let mut c = SipTcp::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let k = rest.len().min(7);
                let _ = c.feed(to_server, &rest[..k]);
                rest = &rest[k..];
            }
        }
    }
}

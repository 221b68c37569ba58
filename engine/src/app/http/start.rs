//! Request and status lines. A head block that is strict HTTP/1.x goes through `httparse`;
//! anything it refuses (LF-only or bare-CR line ends, obs-fold, spaces before the colon,
//! missing protocol, odd status lines, ...) goes through the lenient parsers here, which
//! follow libhtp's generic personality (what Suricata uses), and the transaction gets an
//! [`HttpEvent::LenientParse`](super::event::HttpEvent::LenientParse).

use super::headers::{is_lws, trim_by, HeaderTable};

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestLine {
    /// The whole line without its terminator.
    pub line: Vec<u8>,
    pub method: Vec<u8>,
    /// The request target as sent.
    pub uri: Vec<u8>,
    /// `None` for an HTTP/0.9 style line without protocol.
    pub protocol: Option<Vec<u8>>,
    /// Whitespace before the method.
    pub leading_ws: bool,
}

/// A parsed status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusLine {
    /// The whole line without its terminator.
    pub line: Vec<u8>,
    pub protocol: Vec<u8>,
    /// The status code as sent.
    pub status: Vec<u8>,
    /// The code when it is a number in 100..=999.
    pub code: Option<u16>,
    pub message: Vec<u8>,
}

/// libhtp's `htp_is_space`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

fn split_word(s: &[u8], sep: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let end = s.iter().position(|&b| sep(b)).unwrap_or(s.len());
    let rest = &s[end..];
    let skip = rest.iter().position(|&b| !sep(b)).unwrap_or(rest.len());
    (&s[..end], &rest[skip..])
}

/// Parses a request line leniently: method, URI, then everything else as protocol (so
/// `GET /a b HTTP/1.1` has URI `/a` and protocol `b HTTP/1.1`, as in Suricata).
pub(crate) fn parse_request_line(content: &[u8]) -> RequestLine {
    let start = content
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(content.len());
    let (method, rest) = split_word(&content[start..], is_space);
    let (uri, rest) = split_word(rest, is_space);
    let protocol = trim_by(rest, is_space);
    RequestLine {
        line: content.to_vec(),
        method: method.to_vec(),
        uri: uri.to_vec(),
        protocol: (!protocol.is_empty()).then(|| protocol.to_vec()),
        leading_ws: start > 0,
    }
}

/// Parses a status line leniently (protocol, code, message separated by whitespace).
pub(crate) fn parse_status_line(content: &[u8]) -> StatusLine {
    let start = content
        .iter()
        .position(|&b| !is_space(b) && b != 0)
        .unwrap_or(content.len());
    let (protocol, rest) = split_word(&content[start..], is_space);
    let (status, rest) = split_word(rest, is_space);
    let code = parse_status_code(status);
    StatusLine {
        line: content.to_vec(),
        protocol: protocol.to_vec(),
        status: status.to_vec(),
        code,
        message: trim_by(rest, is_space).to_vec(),
    }
}

/// A status code: decimal digits (leading zeros allowed, as libhtp) with a value in 100..=999.
fn parse_status_code(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = s
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(n).ok().filter(|c| (100..=999).contains(c))
}

/// Whether a line looks like a status line the way browsers decide it (libhtp's
/// `htp_treat_response_line_as_body` inverted): optional whitespace/NUL, then `HTTP`
/// case-insensitively. `None` when too few bytes are known yet to tell.
pub(crate) fn resembles_status_line(data: &[u8], complete: bool) -> Option<bool> {
    let start = data.iter().position(|&b| !is_space(b) && b != 0);
    let Some(start) = start else {
        return complete.then_some(false);
    };
    let rest = &data[start..];
    if rest.len() < 4 {
        let prefix_ok = rest
            .iter()
            .zip(b"http")
            .all(|(a, b)| a.to_ascii_lowercase() == *b);
        return if complete || !prefix_ok {
            Some(false)
        } else {
            None
        };
    }
    Some(rest[..4].eq_ignore_ascii_case(b"http"))
}

/// The protocol number when it is `HTTP/1.0` or `HTTP/1.1` (case-insensitively).
pub(crate) fn http_minor(protocol: &[u8]) -> Option<u8> {
    if protocol.len() == 8 && protocol[..7].eq_ignore_ascii_case(b"HTTP/1.") {
        return match protocol[7] {
            b'0' => Some(0),
            b'1' => Some(1),
            _ => None,
        };
    }
    None
}

/// Every LF is preceded by a CR.
fn crlf_only(head: &[u8]) -> bool {
    head.first() != Some(&b'\n') && !head.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
}

const MAX_STRICT_HEADERS: usize = 96;

fn strict_headers(headers: &[httparse::Header<'_>]) -> HeaderTable {
    let mut t = HeaderTable::default();
    for h in headers {
        t.add(h.name.as_bytes(), trim_by(h.value, is_lws));
    }
    t
}

fn first_line(head: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    trim_by(&head[..end], |b| b == b'\r')
}

/// Parses a whole request head with `httparse`; `None` unless it is strict and exactly
/// `head` long (then the lenient parser decides).
pub(crate) fn strict_request(head: &[u8]) -> Option<(RequestLine, HeaderTable)> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_STRICT_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    // httparse accepts LF-only line ends; those are lenient territory for our events.
    if !crlf_only(head) {
        return None;
    }
    let line = first_line(head);
    let rl = RequestLine {
        line: line.to_vec(),
        method: req.method?.as_bytes().to_vec(),
        uri: req.path?.as_bytes().to_vec(),
        protocol: Some(format!("HTTP/1.{}", req.version?).into_bytes()),
        leading_ws: false,
    };
    Some((rl, strict_headers(req.headers)))
}

/// Parses a whole response head with `httparse`; `None` unless it is strict, exactly
/// `head` long and has a reason phrase (the lenient parser handles the rest).
pub(crate) fn strict_response(head: &[u8]) -> Option<(StatusLine, HeaderTable)> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_STRICT_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    if !crlf_only(head) {
        return None;
    }
    let line = first_line(head);
    let code = resp.code?;
    let sl = StatusLine {
        line: line.to_vec(),
        protocol: format!("HTTP/1.{}", resp.version?).into_bytes(),
        status: format!("{code:03}").into_bytes(),
        code: (100..=999).contains(&code).then_some(code),
        message: resp.reason?.as_bytes().to_vec(),
    };
    // httparse normalises nothing else; require the line to read back the same.
    let mut expect = sl.protocol.clone();
    expect.push(b' ');
    expect.extend_from_slice(&sl.status);
    if !sl.message.is_empty() {
        expect.push(b' ');
        expect.extend_from_slice(&sl.message);
    }
    (expect == line).then_some((sl, strict_headers(resp.headers)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = parse_request_line(b"GET /uid=0(root) gid=0(root) HTTP/1.1");
        assert_eq!(
            (r.method.as_slice(), r.uri.as_slice()),
            (&b"GET"[..], &b"/uid=0(root)"[..])
        );
        assert_eq!(r.protocol.as_deref(), Some(&b"gid=0(root) HTTP/1.1"[..]));
        let r = parse_request_line(b"  GET /");
        assert!(r.leading_ws && r.protocol.is_none());
    }

    #[test]
    fn status_lines() {
        let s = parse_status_line(b"HTTP/1.1 200 ok");
        assert_eq!((s.code, s.message.as_slice()), (Some(200), &b"ok"[..]));
        assert_eq!(parse_status_line(b"HTTP/1.1  0200 x").code, Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.1 2xx ok").code, None);
        assert_eq!(parse_status_line(b"HTTP/1.1 000 ok").code, None);
        assert_eq!(parse_status_line(b"HTTP/1.1").code, None);
        assert_eq!(resembles_status_line(b"\r\rHTTP/1.1", true), Some(true));
        assert_eq!(resembles_status_line(b"ht", false), None);
        assert_eq!(resembles_status_line(b"foobar", false), Some(false));
        assert_eq!(resembles_status_line(b"\r\n", true), Some(false));
    }

    #[test]
    fn strict_and_lenient_agree_on_clean_heads() {
        let head = b"GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n\r\n";
        let (rl, t) = strict_request(head).unwrap();
        assert_eq!(rl, parse_request_line(b"GET /a?b HTTP/1.1"));
        assert_eq!(t.value("accept"), Some(&b"a, b"[..]));
        let head = b"HTTP/1.1 404 Not Found\r\nServer: s\r\n\r\n";
        let (sl, _) = strict_response(head).unwrap();
        assert_eq!(sl, parse_status_line(b"HTTP/1.1 404 Not Found"));
        // Refused: LF-only ends, folding, space before colon.
        assert!(strict_request(b"GET / HTTP/1.1\nHost: x\n\n").is_none());
        assert!(strict_response(b"HTTP/1.1 200 ok\r\nA: b\r\n c\r\n\r\n").is_none());
        assert!(strict_response(b"HTTP/1.1 200 ok\r\nA : b\r\n\r\n").is_none());
    }
}

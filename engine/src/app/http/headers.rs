//! Header fields: folding, name/value extraction, the combined header table, and the
//! lenient readings of the fields that decide framing (`Content-Length`,
//! `Transfer-Encoding`, `Content-Encoding`).
//!
//! Why lenient: an IPS must decode a body the way the receiving browser or server does, and
//! they accept far more than RFC 9112 (http-evader shows dozens of shapes). The rules here
//! follow libhtp (what Suricata uses) and, where libhtp and browsers disagree on whether a
//! body is chunked or compressed, pick the reading that lets both be decoded: a chunked
//! reading that fails falls back to reading to close, a decompression that fails passes the
//! bytes through.

/// One header field as the table keeps it (repeats merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name as sent, without surrounding whitespace.
    pub name: Vec<u8>,
    /// The value with leading/trailing space and tab removed; repeats joined with ", ".
    pub value: Vec<u8>,
    /// Lowercase name without NULs or any surrounding whitespace, used for lookups: servers
    /// and browsers match `Content\0-Encoding` and `Content-Encoding\x0b` too.
    key: Vec<u8>,
    /// How many times the name appeared.
    pub count: u32,
    /// `name: value` (`http.request_header` / `http.response_header` instances).
    line: Vec<u8>,
}

/// Headers in first-seen order, repeated names merged the way libhtp does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderTable {
    fields: Vec<Header>,
}

/// Whitespace that browsers and libhtp tolerate around names and in framing values.
fn is_ws_like(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c | 0)
}

/// Space and tab: what libhtp trims around values (`htp_is_lws`).
pub(crate) fn is_lws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whether `b` is an RFC 9110 token character.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn trim_by(mut s: &[u8], f: impl Fn(u8) -> bool) -> &[u8] {
    while let [first, rest @ ..] = s {
        if f(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if f(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Lowercase copy without NUL bytes: the form framing values and names are compared in.
pub(crate) fn canonical(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|&&b| b != 0)
        .map(u8::to_ascii_lowercase)
        .collect()
}

impl HeaderTable {
    /// Looks a field up by (lowercase) name.
    pub fn get(&self, name: &str) -> Option<&Header> {
        self.fields.iter().find(|h| h.key == name.as_bytes())
    }

    /// The value of a field, by (lowercase) name.
    pub fn value(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|h| h.value.as_slice())
    }

    /// All fields in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.fields.iter()
    }

    /// Number of distinct fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Field `i` as `name: value` (repeats merged), for the per-header multi-buffers.
    pub fn line(&self, i: usize) -> Option<&[u8]> {
        self.fields.get(i).map(|h| h.line.as_slice())
    }

    /// Adds a field; a repeated name joins its value with ", " except `Content-Length`,
    /// whose first value stays (libhtp; browsers accept equal repeats).
    pub(crate) fn add(&mut self, name: &[u8], value: &[u8]) {
        let key = canonical(trim_by(name, is_ws_like));
        if let Some(h) = self.fields.iter_mut().find(|h| h.key == key) {
            h.count = h.count.saturating_add(1);
            if key != b"content-length" {
                h.value.extend_from_slice(b", ");
                h.value.extend_from_slice(value);
                h.line.extend_from_slice(b", ");
                h.line.extend_from_slice(value);
            }
            return;
        }
        let mut line = Vec::with_capacity(name.len() + 2 + value.len());
        line.extend_from_slice(name);
        line.extend_from_slice(b": ");
        line.extend_from_slice(value);
        self.fields.push(Header {
            name: name.to_vec(),
            value: value.to_vec(),
            key,
            count: 1,
            line,
        });
    }
}

/// Whether a line that starts with whitespace is really a new `name: value` field (a tab-
/// or space-indented header, which some browsers take as a header, not a continuation).
pub(crate) fn looks_like_field(line: &[u8]) -> bool {
    let line = trim_by(line, |b| is_lws(b) || b == 0);
    let Some(colon) = memchr::memchr(b':', line) else {
        return false;
    };
    let name = trim_by(&line[..colon], is_ws_like);
    !name.is_empty() && name.iter().all(|&b| is_token(b))
}

/// Collects header lines into logical fields, joining obs-fold continuation lines.
#[derive(Debug, Default)]
pub(crate) struct FieldLines {
    fields: Vec<Vec<u8>>,
    bytes: usize,
}

impl FieldLines {
    /// Adds one header line (without its terminator). Reports a continuation line with
    /// nothing to continue. `max` bounds the stored bytes.
    pub fn push(&mut self, content: &[u8], max: usize) -> Option<FieldIssue> {
        let room = max.saturating_sub(self.bytes);
        let content = &content[..content.len().min(room)];
        self.bytes = self.bytes.saturating_add(content.len());
        let folded =
            matches!(content.first(), Some(b' ' | b'\t' | 0)) && !looks_like_field(content);
        match self.fields.last_mut() {
            Some(last) if folded => {
                last.extend_from_slice(content);
                None
            }
            None if folded => {
                self.fields.push(content.to_vec());
                Some(FieldIssue::InvalidFolding)
            }
            _ => {
                self.fields.push(content.to_vec());
                None
            }
        }
    }

    /// Parses the collected fields into a table, reporting anomalies through `ev`.
    pub fn into_table(self, mut ev: impl FnMut(FieldIssue)) -> HeaderTable {
        let mut table = HeaderTable::default();
        for f in self.fields {
            let (name, value) = split_field(&f, &mut ev);
            table.add(name, value);
        }
        table
    }
}

/// What was wrong with a header line (mapped to a direction-specific event by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldIssue {
    MissingColon,
    InvalidName,
    InvalidFolding,
}

/// Splits `name: value` the way libhtp does: a line without a colon becomes a field with an
/// empty name and the whole line as value, so its bytes are still inspected.
fn split_field<'a>(line: &'a [u8], ev: &mut impl FnMut(FieldIssue)) -> (&'a [u8], &'a [u8]) {
    let Some(colon) = memchr::memchr(b':', line) else {
        ev(FieldIssue::MissingColon);
        return (&[], trim_by(line, is_lws));
    };
    let raw_name = &line[..colon];
    let name = trim_by(raw_name, |b| {
        is_lws(b) || b == 0 || b == 0x0b || b == 0x0c || b == b'\r'
    });
    if name.is_empty() || name.len() != raw_name.len() || !name.iter().all(|&b| is_token(b)) {
        ev(FieldIssue::InvalidName);
    }
    (name, trim_by(&line[colon + 1..], is_lws))
}

/// A `Content-Length` value: digits, optionally a comma list of equal numbers ("68, 68",
/// which RFC 9110 §8.6 lets a recipient take as one). Anything else is invalid.
pub(crate) fn parse_content_length(v: &[u8]) -> Option<u64> {
    let mut result: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = trim_by(part, is_ws_like);
        if part.is_empty() || part.len() > 18 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        match result {
            Some(prev) if prev != n => return None,
            _ => result = Some(n),
        }
    }
    result
}

/// `Transfer-Encoding` says chunked: libhtp and browsers look for the substring, case- and
/// NUL-insensitively (`chUnked`, `xchunked`, `chu\0nked`).
pub(crate) fn te_is_chunked(v: &[u8]) -> bool {
    memchr::memmem::find(&canonical(v), b"chunked").is_some()
}

/// Whether a chunked `Transfer-Encoding` value is exactly `chunked`.
pub(crate) fn te_is_plain_chunked(v: &[u8]) -> bool {
    v.eq_ignore_ascii_case(b"chunked")
}

/// The decoding layers a `Content-Encoding` value asks for, outermost last as listed.
/// Tokens are split on commas and whitespace; a token containing `gzip` or `deflate` (after
/// removing NULs) is one layer. Returns the layer count and whether unknown tokens were seen.
/// The number of `Content-Encoding` tokens of any kind, which libhtp counts against its
/// layer limit (so `identity, identity, gzip` is three layers there).
pub(crate) fn content_encoding_tokens(v: &[u8]) -> usize {
    v.split(|&b| b == b',' || b == b' ')
        .filter(|t| !t.is_empty())
        .count()
}

pub(crate) fn content_encoding_layers(v: &[u8]) -> (usize, bool) {
    let canon = canonical(v);
    let mut layers = 0usize;
    let mut odd = false;
    for tok in canon
        .split(|&b| b == b',' || is_ws_like(b))
        .filter(|t| !t.is_empty())
    {
        if memchr::memmem::find(tok, b"gzip").is_some()
            || memchr::memmem::find(tok, b"deflate").is_some()
        {
            layers += 1;
            if !matches!(tok, b"gzip" | b"x-gzip" | b"deflate" | b"x-deflate") {
                odd = true;
            }
        } else if !matches!(tok, b"identity" | b"none") {
            odd = true;
        }
    }
    (layers, odd)
}

/// The `filename` parameter of a `Content-Disposition` value (quotes removed), what
/// Suricata's fileinfo shows.
pub(crate) fn disposition_filename(v: &[u8]) -> Option<&[u8]> {
    let lower = v.to_ascii_lowercase();
    let mut from = 0;
    while let Some(rel) = memchr::memmem::find(&lower[from..], b"filename") {
        let at = from + rel;
        from = at + 8;
        let before_ok = at == 0 || matches!(lower[at - 1], b';' | b' ' | b'\t');
        let rest = &v[from..];
        let rest_trim = trim_by(rest, is_lws);
        if !before_ok || rest_trim.first() != Some(&b'=') {
            continue;
        }
        let val = trim_by(&rest_trim[1..], is_lws);
        if let Some(q) = val.strip_prefix(b"\"") {
            let end = memchr::memchr(b'"', q).unwrap_or(q.len());
            return Some(&q[..end]);
        }
        let end = val
            .iter()
            .position(|&b| b == b';' || is_ws_like(b))
            .unwrap_or(val.len());
        return (end > 0).then(|| &val[..end]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(lines: &[&[u8]]) -> HeaderTable {
        let mut f = FieldLines::default();
        for l in lines {
            f.push(l, 1 << 16);
        }
        f.into_table(|_| {})
    }

    #[test]
    fn folding_and_repeats() {
        let t = table(&[
            b"Transfer-Encoding: ",
            b" chunked",
            b"Accept: a",
            b"accept: b",
            b"X:  v  ",
        ]);
        assert_eq!(t.value("transfer-encoding"), Some(&b"chunked"[..]));
        assert_eq!(t.value("accept"), Some(&b"a, b"[..]));
        assert_eq!(t.value("x"), Some(&b"v"[..]));
        // A tab-indented `name: value` line is a new field, not a continuation.
        let t = table(&[b"Connection: close", b"\tTransfer-Encoding: chunked"]);
        assert_eq!(t.value("connection"), Some(&b"close"[..]));
        assert_eq!(t.value("transfer-encoding"), Some(&b"chunked"[..]));
        // Odd names still match: NUL inside, VT before the colon, folded colon.
        let t = table(&[b"Content\0-Encoding:gzip", b"Transfer-Encoding\x0b:chunked"]);
        assert!(t.get("content-encoding").is_some() && t.get("transfer-encoding").is_some());
        let t = table(&[b"Content-Encoding", b" :", b" gzip"]);
        assert_eq!(t.value("content-encoding"), Some(&b"gzip"[..]));
    }

    #[test]
    fn framing_values() {
        assert_eq!(parse_content_length(b" 68 "), Some(68));
        assert_eq!(parse_content_length(b"68,68"), Some(68));
        assert_eq!(parse_content_length(b"68, 69"), None);
        assert_eq!(parse_content_length(b"34 68"), None);
        assert_eq!(parse_content_length(b"68.9"), None);
        assert_eq!(parse_content_length(b""), None);
        assert!(
            te_is_chunked(b"chu\0nked") && te_is_chunked(b"x chunked") && !te_is_chunked(b"lalala")
        );
        assert_eq!(content_encoding_layers(b"gzip, deflate"), (2, false));
        assert_eq!(content_encoding_layers(b"gz\0ip"), (1, false));
        assert_eq!(content_encoding_layers(b"gzip x"), (1, true));
        assert_eq!(content_encoding_layers(b"identity"), (0, false));
        assert_eq!(content_encoding_tokens(b"identity, identity,gzip"), 3);
        assert_eq!(content_encoding_tokens(b" , "), 0);
    }

    #[test]
    fn filenames() {
        assert_eq!(
            disposition_filename(b"attachment; filename=\"eicar.txt\""),
            Some(&b"eicar.txt"[..])
        );
        assert_eq!(
            disposition_filename(b"attachment; filename=a.exe; x=y"),
            Some(&b"a.exe"[..])
        );
        assert_eq!(disposition_filename(b"attachment; xfilename=a"), None);
        assert_eq!(disposition_filename(b"inline"), None);
    }
}

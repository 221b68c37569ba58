//! MIME mail bodies (RFC 2045/2046) for SMTP's `file.data`: the attachments of a message,
//! decoded, as Suricata's SMTP parser stores them as files (`app-layer-smtp.c` with its MIME
//! decoder: a part is a file when its `Content-Disposition` or `Content-Type` names a file,
//! or the disposition is `attachment`).
//!
//! The decoder reads the mail data line by line (after SMTP's dot-unstuffing): headers
//! (folded lines joined), `multipart/*` bodies cut at their boundaries (nested), and each
//! attachment decoded by its `Content-Transfer-Encoding`: base64 as RFC 2045 (bytes outside
//! the alphabet skipped), quoted-printable (`=XX`, soft line breaks), anything else kept as
//! it is with its line ends.
//!
//! ## Memory
//! At most [`MAX_FILES`] attachments per message and [`MAX_DATA`] decoded bytes in all (the
//! rest of a larger attachment is not kept), [`MAX_NESTING`] levels of multipart, header
//! values cut at [`MAX_HEADER`] bytes (Suricata's `header-value-depth`).

/// Attachments kept per message.
pub const MAX_FILES: usize = 8;
/// Decoded bytes kept per message, over all its attachments.
pub const MAX_DATA: usize = 128 * 1024;
/// Nested multiparts followed.
pub const MAX_NESTING: usize = 8;
/// Bytes kept of one header value (Suricata's default `header-value-depth`).
pub const MAX_HEADER: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Encoding {
    Base64,
    QuotedPrintable,
    #[default]
    Other,
}

/// The headers of the part being read that decide what its body is.
#[derive(Debug, Clone, Default)]
struct Headers {
    content_type: Vec<u8>,
    encoding: Vec<u8>,
    disposition: Vec<u8>,
    /// The header the last line belonged to (folded lines continue it).
    last: Option<usize>,
}

impl Headers {
    fn line(&mut self, line: &[u8]) {
        if line.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
            if let Some(v) = self.last.and_then(|k| self.value(k)) {
                append_bounded(v, line);
            }
            return;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            self.last = None;
            return;
        };
        let name = line[..colon].trim_ascii().to_ascii_lowercase();
        self.last = match name.as_slice() {
            b"content-type" => Some(0),
            b"content-transfer-encoding" => Some(1),
            b"content-disposition" => Some(2),
            _ => None,
        };
        if let Some(v) = self.last.and_then(|k| self.value(k)) {
            v.clear();
            append_bounded(v, &line[colon + 1..]);
        }
    }

    fn value(&mut self, k: usize) -> Option<&mut Vec<u8>> {
        match k {
            0 => Some(&mut self.content_type),
            1 => Some(&mut self.encoding),
            2 => Some(&mut self.disposition),
            _ => None,
        }
    }

    /// The `multipart/*` boundary, if the part is one.
    fn boundary(&self) -> Option<Vec<u8>> {
        let ct = self.content_type.to_ascii_lowercase();
        if !ct.trim_ascii_start().starts_with(b"multipart/") {
            return None;
        }
        param(&self.content_type, b"boundary").filter(|b| !b.is_empty())
    }

    /// True if the part is an attachment (names a file, or says `attachment`).
    fn attachment(&self) -> bool {
        let disposition = self.disposition.to_ascii_lowercase();
        disposition.trim_ascii_start().starts_with(b"attachment")
            || param(&self.disposition, b"filename").is_some()
            || param(&self.content_type, b"name").is_some()
    }

    fn encoding(&self) -> Encoding {
        match self.encoding.trim_ascii().to_ascii_lowercase().as_slice() {
            b"base64" => Encoding::Base64,
            b"quoted-printable" => Encoding::QuotedPrintable,
            _ => Encoding::Other,
        }
    }
}

fn append_bounded(v: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_HEADER.saturating_sub(v.len());
    v.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// The value of parameter `name` in a header value (`; name="v"` or `; name=v`),
/// case-insensitive name.
fn param(value: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    value.split(|&c| c == b';').skip(1).find_map(|p| {
        let (k, v) = p.split_at(memchr::memchr(b'=', p)?);
        if !k.trim_ascii().eq_ignore_ascii_case(name) {
            return None;
        }
        let v = v[1..].trim_ascii();
        let v = v
            .strip_prefix(b"\"")
            .map(|x| x.strip_suffix(b"\"").unwrap_or(x))
            .unwrap_or(v);
        Some(v.to_vec())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Headers,
    Body,
}

/// One message's MIME decoder.
#[derive(Debug, Clone)]
pub struct Mime {
    state: State,
    headers: Headers,
    /// Open multipart boundaries, outermost first.
    boundaries: Vec<Vec<u8>>,
    /// The body being read: its encoding and the file it fills, if it is an attachment.
    encoding: Encoding,
    file: Option<usize>,
    /// Base64 characters of an incomplete group, carried to the next line.
    carry: Vec<u8>,
    files: Vec<Vec<u8>>,
    kept: usize,
}

impl Default for Mime {
    fn default() -> Self {
        Mime::new()
    }
}

impl Mime {
    /// A decoder at the start of a message's headers.
    pub fn new() -> Mime {
        Mime {
            state: State::Headers,
            headers: Headers::default(),
            boundaries: Vec::new(),
            encoding: Encoding::Other,
            file: None,
            carry: Vec::new(),
            files: Vec::new(),
            kept: 0,
        }
    }

    /// One line of mail data, without its line end; true if an attachment's bytes grew.
    pub fn line(&mut self, line: &[u8]) -> bool {
        if let Some(closing) = self.boundary_line(line) {
            self.end_part();
            if closing {
                self.state = State::Body;
                self.file = None;
            } else {
                self.state = State::Headers;
                self.headers = Headers::default();
            }
            return false;
        }
        match self.state {
            State::Headers if line.is_empty() => {
                self.start_body();
                false
            }
            State::Headers => {
                self.headers.line(line);
                false
            }
            State::Body => self.body(line),
        }
    }

    /// The end of the message: a base64 group still open is decoded.
    pub fn finish(&mut self) {
        self.end_part();
    }

    /// Attachment `i`, decoded (at most [`MAX_DATA`] bytes over all of them).
    pub fn file(&self, i: usize) -> Option<&[u8]> {
        self.files.get(i).map(Vec::as_slice)
    }

    /// `Some(closing)` for a line that is one of the open boundaries (`--b` or `--b--`);
    /// boundaries nested deeper than the one found are closed too.
    fn boundary_line(&mut self, line: &[u8]) -> Option<bool> {
        let rest = line.strip_prefix(b"--")?;
        let depth = self.boundaries.iter().rposition(|b| rest.starts_with(b))?;
        let after = &rest[self.boundaries[depth].len()..];
        let closing = after.starts_with(b"--");
        if !closing && !after.trim_ascii().is_empty() {
            return None;
        }
        self.boundaries.truncate(depth + usize::from(!closing));
        Some(closing)
    }

    fn start_body(&mut self) {
        self.state = State::Body;
        self.file = None;
        self.carry.clear();
        if let Some(b) = self.headers.boundary() {
            if self.boundaries.len() < MAX_NESTING {
                self.boundaries.push(b);
            }
            return;
        }
        self.encoding = self.headers.encoding();
        if self.headers.attachment() && self.files.len() < MAX_FILES {
            self.files.push(Vec::new());
            self.file = Some(self.files.len() - 1);
        }
    }

    fn body(&mut self, line: &[u8]) -> bool {
        if self.file.is_none() {
            return false;
        }
        let before = self.kept;
        match self.encoding {
            Encoding::Base64 => {
                self.carry.extend(
                    line.iter()
                        .copied()
                        .filter(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')),
                );
                let whole = self.carry.len() / 4 * 4;
                let mut out = Vec::new();
                crate::vm::base64_decode::decode_rfc4648(&self.carry[..whole], &mut out);
                self.carry.drain(..whole);
                self.keep(&out);
            }
            Encoding::QuotedPrintable => {
                let (text, soft) = match line.strip_suffix(b"=") {
                    Some(t) => (t, true),
                    None => (line, false),
                };
                let mut out = Vec::with_capacity(text.len() + 2);
                crate::app::http::hex_unescape_into(text, b'=', &mut out);
                if !soft {
                    out.extend_from_slice(b"\r\n");
                }
                self.keep(&out);
            }
            Encoding::Other => {
                self.keep(line);
                self.keep(b"\r\n");
            }
        }
        self.kept != before
    }

    /// Decodes what is left of a base64 body (a partial group) into its file.
    fn end_part(&mut self) {
        if self.file.is_some() && self.encoding == Encoding::Base64 && !self.carry.is_empty() {
            let mut out = Vec::new();
            crate::vm::base64_decode::decode_rfc4648(&self.carry, &mut out);
            self.keep(&out);
        }
        self.carry.clear();
        self.file = None;
    }

    fn keep(&mut self, bytes: &[u8]) {
        let Some(f) = self.file.and_then(|i| self.files.get_mut(i)) else {
            return;
        };
        let n = bytes.len().min(MAX_DATA.saturating_sub(self.kept));
        f.extend_from_slice(&bytes[..n]);
        self.kept += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(msg: &[u8]) -> Mime {
        let mut m = Mime::new();
        for line in msg.split(|&c| c == b'\n') {
            m.line(line.strip_suffix(b"\r").unwrap_or(line));
        }
        m.finish();
        m
    }

    const MULTI: &[u8] = b"From: a@example.net\r\n\
Subject: invoice\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed;\r\n boundary=\"XX-outer\"\r\n\
\r\n\
preamble\r\n\
--XX-outer\r\n\
Content-Type: text/plain\r\n\
\r\n\
see attached\r\n\
--XX-outer\r\n\
Content-Type: application/octet-stream; name=\"inv.exe\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"inv.exe\"\r\n\
\r\n\
TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\
AAAAgAAAAA4fug4AtAnNIbgBTM0hVGhpcyBwcm9ncmFtIGNhbm5vdCBiZSBydW4gaW4gRE9TIG1v\r\n\
ZGUu\r\n\
--XX-outer\r\n\
Content-Type: text/plain; name=notes.txt\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 soft=\r\n\
break\r\n\
--XX-outer--\r\n\
epilogue\r\n";

    #[test]
    fn attachments_decoded_body_text_not_a_file() {
        let m = decode(MULTI);
        let exe = m.file(0).unwrap();
        assert!(exe.starts_with(b"MZ\x90\x00"));
        assert!(exe.ends_with(b"This program cannot be run in DOS mode."));
        assert_eq!(m.file(1).unwrap(), "café softbreak\r\n".as_bytes());
        assert_eq!(m.file(2), None);
    }

    #[test]
    fn nested_multipart_and_partial_groups() {
        let msg = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Disposition: attachment\r\nContent-Transfer-Encoding: BASE64\r\n\r\n\
Zm9v\r\nYmE\r\n--b--\r\n--a\r\nContent-Disposition: inline; filename=x.bin\r\n\r\nraw\r\n--a--\r\n";
        let m = decode(msg);
        // "Zm9vYmE": the partial group ends the part.
        assert_eq!(m.file(0).unwrap(), b"fooba");
        assert_eq!(m.file(1).unwrap(), b"raw\r\n");
    }

    #[test]
    fn a_single_part_message_with_a_name_is_a_file() {
        let m = decode(b"Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0x\r\n");
        assert_eq!(m.file(0).unwrap(), b"%PDF-1");
        let text = decode(b"Subject: hi\r\n\r\nJVBERi0x\r\n");
        assert_eq!(text.file(0), None);
    }

    #[test]
    fn bounded() {
        let mut m = Mime::new();
        m.line(b"Content-Type: multipart/mixed; boundary=z");
        m.line(b"");
        for _ in 0..(MAX_FILES + 3) {
            m.line(b"--z");
            m.line(b"Content-Disposition: attachment; filename=f");
            m.line(b"");
            for _ in 0..4000 {
                m.line(&[b'A'; 76]);
            }
        }
        m.finish();
        assert_eq!(m.files.len(), MAX_FILES);
        assert_eq!(m.files.iter().map(Vec::len).sum::<usize>(), MAX_DATA);
        // Deep nesting stops at the bound; long header values are cut.
        let mut n = Mime::new();
        for i in 0..(MAX_NESTING + 4) {
            n.line(format!("Content-Type: multipart/mixed; boundary=b{i}").as_bytes());
            n.line(b"");
            n.line(format!("--b{i}").as_bytes());
        }
        assert!(n.boundaries.len() <= MAX_NESTING);
        n.line(b"Content-Type: text/plain");
        n.line(&[b' '; 3 * MAX_HEADER]);
        assert!(n.headers.content_type.len() <= MAX_HEADER);
    }

    #[test]
    fn hostile_lines_never_panic() {
        crate::app::feed_junk(b"-=:;\"\r\n Aa/+zboundaryname", 300, |_, junk| {
            let mut m = Mime::new();
            for l in junk.split(|&c| c == b'\n') {
                m.line(l);
            }
            m.finish();
        });
    }
}

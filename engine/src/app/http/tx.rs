//! A transaction (one request and its response) and the sticky buffers computed from it.
//! Buffers are built once, when a line or head completes, so [`Tx::buffer`] is a borrow.

use verdict_compiler::ir::AppBuffer;

use super::event::EventSet;
use super::files::{FileMeta, FileNeeds, Multipart};
use super::headers::{disposition_filename, HeaderTable};
use super::start::{RequestLine, StatusLine};
use super::uri;
use super::Dir;

/// Request-line buffers, available from [`Progress::RequestLine`](super::Progress::RequestLine).
#[derive(Debug, Clone)]
pub(crate) struct ReqLine {
    pub line: RequestLine,
    pub uri_norm: Vec<u8>,
}

impl ReqLine {
    pub fn new(line: RequestLine) -> Self {
        let connect = line.method.eq_ignore_ascii_case(b"CONNECT");
        ReqLine {
            uri_norm: uri::normalized(&line.uri, connect),
            line,
        }
    }

    pub fn is_connect(&self) -> bool {
        self.line.method.eq_ignore_ascii_case(b"CONNECT")
    }
}

/// Buffers derived from a header table, shared by both directions.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeadBufs {
    pub headers: HeaderTable,
    /// `http.header.raw`: header lines as received, line ends and the empty line included.
    pub raw: Vec<u8>,
    /// `http.header`: `Name: value\r\n` per field, cookies excluded.
    pub header: Vec<u8>,
    /// `http.header_names`: `\r\n` + `Name\r\n` per field + `\r\n`.
    pub names: Vec<u8>,
    /// `http.start`: start line, `\r\n`, `Name: value\r\n` per field, `\r\n`.
    pub start: Vec<u8>,
}

impl HeadBufs {
    /// Builds the buffers; `cookie` names the field `http.header` leaves out.
    pub fn new(start_line: &[u8], headers: HeaderTable, raw: Vec<u8>, cookie: &str) -> Self {
        let mut header = Vec::new();
        let mut names = b"\r\n".to_vec();
        let mut start = start_line.to_vec();
        start.extend_from_slice(b"\r\n");
        for h in headers.iter() {
            let mut field = h.name.clone();
            field.extend_from_slice(b": ");
            field.extend_from_slice(&h.value);
            field.extend_from_slice(b"\r\n");
            if !h.name.eq_ignore_ascii_case(cookie.as_bytes()) {
                header.extend_from_slice(&field);
            }
            start.extend_from_slice(&field);
            names.extend_from_slice(&h.name);
            names.extend_from_slice(b"\r\n");
        }
        names.extend_from_slice(b"\r\n");
        start.extend_from_slice(b"\r\n");
        HeadBufs {
            headers,
            raw,
            header,
            names,
            start,
        }
    }
}

/// Request head buffers, available from [`Progress::RequestHeaders`](super::Progress::RequestHeaders).
#[derive(Debug, Clone)]
pub(crate) struct ReqHead {
    pub bufs: HeadBufs,
    pub host: Option<Vec<u8>>,
    pub host_raw: Option<Vec<u8>>,
}

impl ReqHead {
    pub fn new(line: &ReqLine, bufs: HeadBufs) -> Self {
        let from_uri = uri::split(&line.line.uri, line.is_connect())
            .authority
            .filter(|a| !a.is_empty());
        let host_raw = from_uri
            .map(<[u8]>::to_vec)
            .or_else(|| bufs.headers.value("host").map(<[u8]>::to_vec));
        ReqHead {
            host: host_raw.as_deref().map(uri::normalize_host),
            host_raw,
            bufs,
        }
    }
}

/// A body kept for inspection: the first `limit` bytes after transfer (and, for
/// responses, content) decoding.
#[derive(Debug, Clone, Default)]
pub(crate) struct Body {
    pub data: Vec<u8>,
    pub limit: usize,
    /// Decoded bytes offered, kept or not.
    pub seen: u64,
    /// Bytes of this body were lost in a stream gap.
    pub gap: bool,
    /// The limit was hit and counted.
    pub limit_counted: bool,
}

impl Body {
    pub fn with_limit(limit: usize) -> Self {
        Body {
            limit,
            ..Default::default()
        }
    }

    /// Keeps what fits; returns whether more is wanted.
    pub fn push(&mut self, d: &[u8]) -> bool {
        self.seen = self.seen.saturating_add(d.len() as u64);
        let room = self.limit.saturating_sub(self.data.len());
        self.data.extend_from_slice(&d[..d.len().min(room)]);
        self.data.len() < self.limit
    }

    pub fn is_truncated(&self) -> bool {
        self.seen > self.data.len() as u64
    }
}

/// One HTTP transaction: a request and the response matched to it in order.
#[derive(Debug, Clone)]
pub struct Tx {
    pub(crate) id: u64,
    pub(crate) req_line: Option<ReqLine>,
    pub(crate) req_head: Option<ReqHead>,
    pub(crate) status: Option<StatusLine>,
    pub(crate) resp_head: Option<HeadBufs>,
    pub(crate) req_body: Body,
    pub(crate) resp_body: Body,
    /// Response body bytes after transfer decoding, before content decoding (EVE `length`).
    pub(crate) resp_len: u64,
    pub(crate) req_done: bool,
    pub(crate) resp_done: bool,
    /// HTTP/0.9 request: the response is a bare body.
    pub(crate) simple: bool,
    pub(crate) seen_100: bool,
    pub(crate) events: EventSet,
    /// The response body as a file.
    pub(crate) resp_file: FileMeta,
    /// The request body as one file (when it is not multipart/form-data).
    pub(crate) req_file: FileMeta,
    /// The file parts of a multipart/form-data request body.
    pub(crate) multipart: Option<Multipart>,
}

/// One file of a transaction, as the file keywords see it.
#[derive(Debug, Clone, Copy)]
pub struct File<'a> {
    /// `file.name`: the part's filename, the response's `Content-Disposition` filename, or
    /// the URI path.
    pub name: &'a [u8],
    /// `file.data`: the bytes kept for inspection (decoded).
    pub data: &'a [u8],
    /// Bytes seen so far, kept or not.
    pub size: u64,
    /// The file ended (its message or part is complete).
    pub complete: bool,
    /// Bytes of it were lost or not kept.
    pub truncated: bool,
    /// libmagic's description, once known (and only when a rule reads it).
    pub magic: Option<&'a [u8]>,
    /// MD5 of a complete file (when a rule reads it).
    pub md5: Option<&'a [u8]>,
    /// SHA-1 of a complete file (when a rule reads it).
    pub sha1: Option<&'a [u8]>,
    /// SHA-256 of a complete file (when a rule reads it).
    pub sha256: Option<&'a [u8]>,
}

impl<'a> File<'a> {
    fn new(name: &'a [u8], data: &'a [u8], meta: &'a FileMeta) -> Self {
        File {
            name,
            data,
            size: data.len() as u64,
            complete: false,
            truncated: false,
            magic: meta.magic.as_deref(),
            md5: meta.md5.as_ref().map(|d| &d[..]),
            sha1: meta.sha1.as_ref().map(|d| &d[..]),
            sha256: meta.sha256.as_ref().map(|d| &d[..]),
        }
    }
}

fn nonempty(v: &[u8]) -> Option<&[u8]> {
    (!v.is_empty()).then_some(v)
}

impl Tx {
    pub(crate) fn new(id: u64, req_limit: usize, resp_limit: usize) -> Self {
        Tx {
            id,
            req_line: None,
            req_head: None,
            status: None,
            resp_head: None,
            req_body: Body::with_limit(req_limit),
            resp_body: Body::with_limit(resp_limit),
            resp_len: 0,
            req_done: false,
            resp_done: false,
            simple: false,
            seen_100: false,
            events: EventSet::default(),
            resp_file: FileMeta::default(),
            req_file: FileMeta::default(),
            multipart: None,
        }
    }

    /// Transaction number on this connection, from 0, in request order.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The bytes of sticky buffer `b`, or `None` while it is absent or not yet known.
    ///
    /// Buffers that exist in both directions (`http.header`, `http.header.raw`,
    /// `http.header_names`, `http.cookie`, `http.content_type`, `http.content_len`,
    /// `http.start`, `http.protocol`) give the request side here; use [`Tx::buffer_in`]
    /// for a rule that inspects the response (`flow:to_client`). Non-HTTP buffers are `None`.
    pub fn buffer(&self, b: AppBuffer) -> Option<&[u8]> {
        self.buffer_in(b, Dir::ToServer)
    }

    /// Like [`Tx::buffer`], choosing the side of the two-direction buffers: `ToServer` is
    /// the request, `ToClient` the response. One-direction buffers ignore `dir`.
    pub fn buffer_in(&self, b: AppBuffer, dir: Dir) -> Option<&[u8]> {
        use AppBuffer as A;
        let line = self.req_line.as_ref();
        let req = self.req_head.as_ref();
        let reqv = |name: &str| req.and_then(|r| r.bufs.headers.value(name));
        let resp = self.resp_head.as_ref();
        let respv = |name: &str| resp.and_then(|r| r.headers.value(name));
        let side = match dir {
            Dir::ToServer => req.map(|r| &r.bufs),
            Dir::ToClient => resp,
        };
        let sidev = |name: &str| side.and_then(|s| s.headers.value(name));
        match b {
            A::HttpUri => line.map(|l| l.uri_norm.as_slice()),
            A::HttpRawUri => line.map(|l| l.line.uri.as_slice()),
            A::HttpMethod => line.map(|l| l.line.method.as_slice()),
            A::HttpRequestLine => line.map(|l| l.line.line.as_slice()),
            A::HttpProtocol => match dir {
                Dir::ToServer => line.and_then(|l| l.line.protocol.as_deref()),
                Dir::ToClient => self.status.as_ref().and_then(|s| nonempty(&s.protocol)),
            },
            A::HttpHeader => side.map(|s| s.header.as_slice()),
            A::HttpRawHeader => side.map(|s| s.raw.as_slice()),
            A::HttpHeaderNames => side.map(|s| s.names.as_slice()),
            A::HttpStart => side.map(|s| s.start.as_slice()),
            A::HttpCookie | A::HttpRawCookie => match dir {
                Dir::ToServer => reqv("cookie"),
                Dir::ToClient => respv("set-cookie"),
            },
            A::HttpContentType => sidev("content-type"),
            A::HttpContentLen => sidev("content-length"),
            A::HttpUserAgent => reqv("user-agent"),
            A::HttpAccept => reqv("accept"),
            A::HttpAcceptLang => reqv("accept-language"),
            A::HttpAcceptEnc => reqv("accept-encoding"),
            A::HttpReferer => reqv("referer"),
            A::HttpConnection => reqv("connection"),
            A::HttpTrueIp => reqv("true-client-ip"),
            A::HttpHost => req.and_then(|r| r.host.as_deref()),
            A::HttpRawHost => req.and_then(|r| r.host_raw.as_deref()),
            A::HttpClientBody => nonempty(&self.req_body.data),
            A::HttpServerBody => nonempty(&self.resp_body.data),
            A::HttpStatCode => self.status.as_ref().and_then(|s| nonempty(&s.status)),
            A::HttpStatMsg => self.status.as_ref().and_then(|s| nonempty(&s.message)),
            A::HttpResponseLine => self.status.as_ref().map(|s| s.line.as_slice()),
            A::HttpServer => respv("server"),
            A::HttpLocation => respv("location"),
            _ => None,
        }
    }

    /// Suricata's `file.data`: the response body (dechunked and decompressed) for
    /// `ToClient`, the request body (dechunked) for `ToServer`; `None` while empty.
    pub fn file_data(&self, dir: Dir) -> Option<&[u8]> {
        match dir {
            Dir::ToServer => nonempty(&self.req_body.data),
            Dir::ToClient => nonempty(&self.resp_body.data),
        }
    }

    /// File `i` of direction `dir` (see [`super::files`]); `None` past the last one.
    pub fn file(&self, dir: Dir, i: usize) -> Option<File<'_>> {
        let (body, done) = match dir {
            Dir::ToServer => (&self.req_body, self.req_done),
            Dir::ToClient => (&self.resp_body, self.resp_done),
        };
        if let (Dir::ToServer, Some(m)) = (dir, &self.multipart) {
            let p = m.parts.get(i)?;
            let data = body.data.get(p.start..p.end)?;
            return Some(File {
                complete: p.complete,
                truncated: p.meta.broken,
                ..File::new(&p.name, data, &p.meta)
            });
        }
        if i > 0 || body.seen == 0 {
            return None;
        }
        let (name, meta) = match dir {
            Dir::ToServer => (self.uri_path(), &self.req_file),
            Dir::ToClient => (self.filename(), &self.resp_file),
        };
        Some(File {
            size: body.seen,
            complete: done,
            truncated: body.is_truncated() || body.gap,
            ..File::new(name.unwrap_or_default(), &body.data, meta)
        })
    }

    /// Bodies grew: describe files that now have enough bytes, parse new multipart parts.
    pub(crate) fn grow_files(&mut self, dir: Dir, needs: FileNeeds) {
        match dir {
            Dir::ToServer => match self.multipart.as_mut() {
                Some(m) => m.update(
                    &self.req_body.data,
                    false,
                    needs,
                    self.req_body.is_truncated(),
                ),
                None => self.req_file.describe(needs, &self.req_body.data, false),
            },
            Dir::ToClient => self.resp_file.describe(needs, &self.resp_body.data, false),
        }
    }

    /// A direction completed: its files end (digests final, described).
    pub(crate) fn finish_files(&mut self, dir: Dir, needs: FileNeeds) {
        match dir {
            Dir::ToServer => match self.multipart.as_mut() {
                Some(m) => m.update(
                    &self.req_body.data,
                    true,
                    needs,
                    self.req_body.is_truncated(),
                ),
                None if self.req_body.seen > 0 => {
                    self.req_file.broken |= self.req_body.gap;
                    self.req_file.finish(needs, &self.req_body.data)
                }
                None => {}
            },
            Dir::ToClient if self.resp_body.seen > 0 => {
                self.resp_file.broken |= self.resp_body.gap;
                self.resp_file.finish(needs, &self.resp_body.data)
            }
            Dir::ToClient => {}
        }
    }

    /// The normalised URI path, without query or fragment (a request file's name).
    fn uri_path(&self) -> Option<&[u8]> {
        let l = self.req_line.as_ref()?;
        let end = l
            .uri_norm
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(l.uri_norm.len());
        nonempty(&l.uri_norm[..end])
    }

    /// The file name fileinfo shows: `Content-Disposition` filename of the response (then
    /// of the request), else the normalised URI path.
    pub fn filename(&self) -> Option<&[u8]> {
        fn cd(h: Option<&HeadBufs>) -> Option<&[u8]> {
            h.and_then(|h| h.headers.value("content-disposition"))
                .and_then(disposition_filename)
        }
        cd(self.resp_head.as_ref())
            .or_else(|| cd(self.req_head.as_ref().map(|r| &r.bufs)))
            .filter(|f| !f.is_empty())
            .or_else(|| self.uri_path())
    }

    /// Normalised host (EVE `hostname`).
    pub fn hostname(&self) -> Option<&[u8]> {
        self.req_head.as_ref()?.host.as_deref()
    }

    /// The request target as sent (EVE `url`).
    pub fn url(&self) -> Option<&[u8]> {
        Some(&self.req_line.as_ref()?.line.uri)
    }

    /// `User-Agent` value (EVE `http_user_agent`).
    pub fn user_agent(&self) -> Option<&[u8]> {
        self.buffer(AppBuffer::HttpUserAgent)
    }

    /// `Content-Type` of the response (EVE `http_content_type`).
    pub fn content_type(&self) -> Option<&[u8]> {
        self.buffer_in(AppBuffer::HttpContentType, Dir::ToClient)
    }

    /// Request method (EVE `http_method`).
    pub fn method(&self) -> Option<&[u8]> {
        Some(&self.req_line.as_ref()?.line.method)
    }

    /// Request protocol, e.g. `HTTP/1.1` (EVE `protocol`); `None` for HTTP/0.9.
    pub fn protocol(&self) -> Option<&[u8]> {
        self.req_line.as_ref()?.line.protocol.as_deref()
    }

    /// Response status code when it is a valid number (EVE `status`).
    pub fn status(&self) -> Option<u16> {
        self.status.as_ref()?.code
    }

    /// Response body bytes after dechunking, before decompression (EVE `length`).
    pub fn response_len(&self) -> u64 {
        self.resp_len
    }

    /// Request headers, once complete.
    pub fn request_headers(&self) -> Option<&HeaderTable> {
        Some(&self.req_head.as_ref()?.bufs.headers)
    }

    /// Response headers, once complete.
    pub fn response_headers(&self) -> Option<&HeaderTable> {
        Some(&self.resp_head.as_ref()?.headers)
    }

    /// Whether the request (head and body) has been fully seen.
    pub fn request_complete(&self) -> bool {
        self.req_done
    }

    /// Whether the response (head and body) has been fully seen.
    pub fn response_complete(&self) -> bool {
        self.resp_done
    }

    /// Whether a body kept for inspection is shorter than what was sent (limit or gap).
    pub fn body_truncated(&self, dir: Dir) -> bool {
        let b = match dir {
            Dir::ToServer => &self.req_body,
            Dir::ToClient => &self.resp_body,
        };
        b.is_truncated() || b.gap
    }

    /// Anomalies seen in this transaction.
    pub fn events(&self) -> &EventSet {
        &self.events
    }
}

//! HTTP/1.x parsing into Suricata's HTTP sticky buffers.
//!
//! [`HttpConn`] takes the reassembled, in-order bytes of one TCP connection, per direction
//! and split anywhere, and keeps a list of [`Tx`]s (a request and the response matched to
//! it in order, so pipelining and keep-alive work). Each call returns an [`Update`] that
//! says which transactions progressed and how, so detection can run when a buffer appears
//! or a body grows. [`Tx::buffer`] returns the bytes of any `AppBuffer::Http*` buffer.
//!
//! ```
//! use verdict_compiler::ir::AppBuffer;
//! use verdict_engine::app::http::{Dir, HttpConfig, HttpConn, Progress};
//!
//! let mut conn = HttpConn::new(&HttpConfig::default());
//! conn.feed(Dir::ToServer, b"GET /a/../b%20c HTTP/1.1\r\nHost: Example.com:8080\r\n\r\n");
//! let up = conn.feed(Dir::ToClient, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
//! assert!(up.iter().any(|(id, p)| id == 0 && p == Progress::ResponseComplete));
//! let tx = conn.tx(0).unwrap();
//! assert_eq!(tx.buffer(AppBuffer::HttpUri), Some(&b"/b c"[..]));
//! assert_eq!(tx.buffer(AppBuffer::HttpHost), Some(&b"example.com"[..]));
//! assert_eq!(tx.buffer(AppBuffer::HttpServerBody), Some(&b"hi"[..]));
//! ```
//!
//! ## How lenient, and why
//! Strict heads (CRLF line ends, no folding, token names) are parsed with `httparse`.
//! `httparse` (rightly, as a server library) refuses what real servers and browsers
//! exchange anyway, and an IPS that refuses to parse what the browser accepts is blind to
//! it. Such heads go through a small lenient parser modelled on libhtp (Suricata's HTTP
//! library) and the transaction gets [`HttpEvent::LenientParse`]:
//! - LF-only line ends; in responses a bare CR also ends a line (browsers agree). A
//!   response head line of CRs only (`\r\r\n`) ends the head as libhtp reads it, unless
//!   a header field follows, which is how Chrome reads it; a line of one blank ends the
//!   head unless an empty line follows at once (libhtp);
//! - obs-fold continuation lines (leading SP/HT/NUL) are joined, except an indented line
//!   that itself reads `name: value`, which is a new header;
//! - whitespace (and VT/FF/NUL) between name and colon; names and framing values compared
//!   case-insensitively with NUL bytes ignored;
//! - request lines without protocol (HTTP/0.9: no headers, bare response body), extra
//!   words (`GET /a b HTTP/1.1` has protocol `b HTTP/1.1`, as in Suricata);
//! - status lines with odd protocols or codes; junk lines before the status line are
//!   skipped when a status line follows, else the response is a headerless body; bytes
//!   after a complete response that are not a status line extend the previous body.
//!
//! Body framing follows RFC 9112 §6.3 as browsers apply it: `Transfer-Encoding` that
//! mentions `chunked` wins over `Content-Length` (event for the smuggling shape); a
//! chunked body whose size line is not hex is read to close instead; an invalid
//! `Content-Length` in a response means "until close". HEAD, 1xx, 204 and 304 responses
//! have no body; a successful CONNECT or a 101 turns the connection into a tunnel.
//! Response bodies are decoded through up to `max_decompress_layers` gzip/deflate layers;
//! each layer sniffs gzip, zlib or raw deflate (so the declared order does not matter) and
//! passes its input through unchanged when it is not compressed after all, as libhtp does.
//! Request bodies are dechunked, not decompressed (Suricata's default).
//!
//! ## Memory
//! Per connection: one partial line and one head (`max_header_bytes` each), per kept
//! transaction its heads and the kept parts of both bodies, up to `max_txs` transactions
//! (finished ones are freed when the next request starts, so that bound is reached only by
//! pipelined requests awaiting their responses),
//! and for the body being decoded up to `max_decompress_layers` inflate states with 16 KiB
//! of output scratch each. Nothing grows with the bytes a peer sends.

mod chunked;
mod conn;
mod decode;
mod event;
mod files;
mod headers;
pub(crate) mod line;
mod start;
mod tx;
mod uri;
pub(crate) use uri::hex_unescape_into;

pub use conn::HttpConn;
pub use event::{EventSet, HttpEvent};
pub use files::{describe as describe_file, FileNeeds, MAGIC_MIN_SIZE};
pub use headers::{Header, HeaderTable};
pub use tx::{File, Tx};
pub use uri::normalize_path;

/// Direction of stream bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client to server: requests.
    ToServer,
    /// Server to client: responses.
    ToClient,
}

/// Limits of one connection's parser. All are hard bounds on memory per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Request body bytes kept per transaction for inspection (default 1 MiB, like
    /// Suricata's `request-body-limit` order of magnitude); the rest is counted, not kept.
    pub request_body_limit: usize,
    /// Response body bytes kept per transaction after decoding (default 1 MiB).
    pub response_body_limit: usize,
    /// Decompressed bytes produced per body over all layers before decoding stops and a
    /// compression-bomb event is raised (default 8 MiB).
    pub max_decompressed_bytes: u64,
    /// Content-encoding layers decoded (default 3, Suricata's
    /// `response-body-decompress-layer-limit` used by the http-evader suite).
    pub max_decompress_layers: usize,
    /// Bytes of one head (start line plus header block) kept (default 64 KiB); longer
    /// lines and heads are cut and raise `http.*_field_too_long`.
    pub max_header_bytes: usize,
    /// Transactions kept per connection (default 128); the oldest are dropped first.
    pub max_txs: usize,
    /// A start or header line longer than this raises `http.*_field_too_long` as soon as
    /// that many bytes of it arrived (default 18000, libhtp's hard field limit that
    /// Suricata configures); unlike `max_header_bytes` nothing is cut.
    pub field_limit: usize,
    /// File facts (magic, digests) loaded rules read; none by default.
    pub files: FileNeeds,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_body_limit: 1 << 20,
            response_body_limit: 1 << 20,
            max_decompressed_bytes: 8 << 20,
            max_decompress_layers: 3,
            max_header_bytes: 64 << 10,
            max_txs: 128,
            field_limit: 18000,
            files: FileNeeds::default(),
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpConfigError {
    /// `max_txs` must keep at least the transaction being parsed.
    #[error("http: max_txs must be at least 1")]
    NoTransactions,
    /// Heads shorter than this cannot hold a request line.
    #[error("http: max_header_bytes must be at least 256 (got {0})")]
    HeaderLimitTooSmall(usize),
    /// More layers than any real server sends only helps bombs.
    #[error("http: max_decompress_layers must be at most 16 (got {0})")]
    TooManyLayers(usize),
}

impl HttpConfig {
    /// Checks the limits for values that cannot work.
    pub fn validate(&self) -> Result<(), HttpConfigError> {
        if self.max_txs == 0 {
            return Err(HttpConfigError::NoTransactions);
        }
        if self.max_header_bytes < 256 {
            return Err(HttpConfigError::HeaderLimitTooSmall(self.max_header_bytes));
        }
        if self.max_decompress_layers > 16 {
            return Err(HttpConfigError::TooManyLayers(self.max_decompress_layers));
        }
        Ok(())
    }
}

/// How a transaction progressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Progress {
    /// Request line parsed: `http.method`, `http.uri`, `http.uri.raw`,
    /// `http.request_line`, `http.protocol` are available.
    RequestLine,
    /// Request headers complete: all request header buffers are available.
    RequestHeaders,
    /// The request body (`http.request_body`, `file.data` to server) grew.
    RequestBody,
    /// The request is complete.
    RequestComplete,
    /// Status line parsed: `http.stat_code`, `http.stat_msg`, `http.response_line`.
    ResponseLine,
    /// Response headers complete: all response header buffers are available.
    ResponseHeaders,
    /// The response body (`http.response_body`, `file.data` to client) grew.
    ResponseBody,
    /// The response is complete.
    ResponseComplete,
    /// An anomaly event was raised on the transaction without a buffer progressing (a
    /// line still being received went over the field limit): `app-layer-event` rules run.
    Event,
}

/// What one `feed`/`gap`/`close` call changed: (transaction id, progress) in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    items: Vec<(u64, Progress)>,
}

impl Update {
    fn push(&mut self, id: u64, p: Progress) {
        // Body growth is reported once per call and transaction.
        if matches!(p, Progress::RequestBody | Progress::ResponseBody)
            && self.items.contains(&(id, p))
        {
            return;
        }
        self.items.push((id, p));
    }

    /// The progress items in the order they happened.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Progress)> + '_ {
        self.items.iter().copied()
    }

    /// Whether nothing progressed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends one progress item (a body growth already reported is not repeated).
    pub fn merge_one(&mut self, id: u64, p: Progress) {
        self.push(id, p);
    }

    /// Transaction ids that progressed, each once, in first-progress order.
    pub fn tx_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = Vec::new();
        for &(id, _) in &self.items {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// Per-connection counters (add them up per worker for metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCounters {
    /// Transactions created.
    pub txs: u64,
    /// Transactions dropped because more than `max_txs` were kept.
    pub txs_evicted: u64,
    /// Bodies whose decompression hit `max_decompressed_bytes`.
    pub decompression_bombs: u64,
    /// Bodies that failed to decompress (inspected as sent instead).
    pub decompression_failures: u64,
    /// Lines or heads cut at `max_header_bytes`.
    pub header_limit_hits: u64,
    /// Bodies longer than their kept limit (the rest is counted, not kept).
    pub body_limit_hits: u64,
    /// Heads parsed with the lenient parser.
    pub lenient_parses: u64,
    /// Gaps reported.
    pub gaps: u64,
    /// Anomaly events raised (each kind once per transaction).
    pub anomalies: u64,
}

#[cfg(test)]
mod tests;

//! The per-connection parser: one state machine per direction, transactions matched in
//! order (pipelining and keep-alive), bounded memory throughout.

use std::collections::VecDeque;

use super::chunked::{ChunkStatus, Chunked};
use super::decode::{ContentDecoder, DecodeIssue};
use super::event::{EventSet, HttpEvent};
use super::files::{multipart_boundary, Multipart};
use super::headers::{
    content_encoding_layers, content_encoding_tokens, is_token, looks_like_field,
    parse_content_length, te_is_chunked, te_is_plain_chunked, FieldIssue, FieldLines, HeaderTable,
};
use super::line::{Line, LineBuf, LineEnds};
use super::start::{
    http_minor, parse_request_line, parse_status_line, resembles_status_line, strict_request,
    strict_response,
};
use super::tx::{HeadBufs, ReqHead, ReqLine, Tx};
use super::{Dir, HttpConfig, HttpCounters, Progress, Update};

/// More than this many bytes after a protocol-less request line mean headers follow
/// (libhtp's `HTTP09_MAX_JUNK_LEN`).
const HTTP09_MAX_JUNK: usize = 16;

/// How a body ends.
#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(Chunked),
    /// Until the connection closes (responses only).
    Close,
}

#[derive(Debug)]
enum State {
    /// Expecting a start line.
    Line,
    Headers,
    Body(Framing),
    /// After a CONNECT request: holding request bytes until the response says tunnel or not.
    AwaitConnect,
    /// Not HTTP any more (CONNECT 2xx, 101): bytes are ignored.
    Tunnel,
    /// After a gap: skipping lines until one that looks like a start line.
    Resync,
    /// FIN seen.
    Closed,
}

/// A head being collected.
#[derive(Debug, Default)]
struct HeadAcc {
    raw: Vec<u8>,
    line_len: usize,
    fields: FieldLines,
    overflow: bool,
}

#[derive(Debug)]
struct Side {
    state: State,
    line: LineBuf,
    /// The transaction this side is working on.
    tx: Option<u64>,
    head: HeadAcc,
}

impl Side {
    fn new() -> Self {
        Side {
            state: State::Line,
            line: LineBuf::default(),
            tx: None,
            head: HeadAcc::default(),
        }
    }
}

/// Incremental HTTP/1.x parser for one TCP connection.
pub struct HttpConn {
    cfg: HttpConfig,
    txs: VecDeque<Tx>,
    next_id: u64,
    req: Side,
    resp: Side,
    /// Content decoder of the response body being read.
    decoder: Option<ContentDecoder>,
    /// Next transaction id a response is matched to.
    next_match: u64,
    /// The last response completed and no status line has started since: junk that follows
    /// is appended to its body.
    after_complete: Option<u64>,
    /// A non-status line before the status line, kept until the next line shows whether it
    /// was junk (skip) or the start of a headerless body.
    junk: Option<Vec<u8>>,
    /// A response header line of one blank and LF: it ends the head unless an empty line
    /// follows at once (libhtp), so it waits for the next byte.
    ws_line: Option<Line>,
    /// A response header line of CRs only (`\r\r\n`, a bare `\r`): the end of the head
    /// for libhtp, a stray line for Chrome. It ends the head unless a header field follows.
    maybe_end: Option<Line>,
    /// Request bytes held during [`State::AwaitConnect`].
    held: Vec<u8>,
    counters: HttpCounters,
    events: EventSet,
    /// Transactions that got a new event during the current call (reported as
    /// [`Progress::Event`] unless they progressed otherwise).
    raised: Vec<u64>,
}

/// libhtp's authorization schemes: a value that starts with one of them (any case) is
/// recognized; anything else raises `http.request_auth_unrecognized`.
fn auth_recognized(value: &[u8]) -> bool {
    let v = value.trim_ascii_start();
    [&b"basic"[..], b"digest", b"bearer"]
        .iter()
        .any(|s| v.len() >= s.len() && v[..s.len()].eq_ignore_ascii_case(s))
}

fn is_blank(content: &[u8]) -> bool {
    content
        .iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c | 0))
}

/// Whether a line has the `METHOD target HTTP/x` shape (used only to resync after a gap).
fn looks_like_request_line(content: &[u8]) -> bool {
    let rl = parse_request_line(content);
    !rl.leading_ws
        && !rl.method.is_empty()
        && rl.method.iter().all(u8::is_ascii_uppercase)
        && rl
            .protocol
            .as_deref()
            .is_some_and(|p| p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"HTTP/"))
}

impl HttpConn {
    /// A parser with limits from `cfg`.
    pub fn new(cfg: &HttpConfig) -> Self {
        HttpConn {
            cfg: cfg.clone(),
            txs: VecDeque::new(),
            next_id: 0,
            req: Side::new(),
            resp: Side::new(),
            decoder: None,
            next_match: 0,
            after_complete: None,
            junk: None,
            ws_line: None,
            maybe_end: None,
            held: Vec::new(),
            counters: HttpCounters::default(),
            events: EventSet::default(),
            raised: Vec::new(),
        }
    }

    /// The transaction with id `id`, if still kept.
    pub fn tx(&self, id: u64) -> Option<&Tx> {
        let front = self.txs.front()?.id;
        self.txs.get(usize::try_from(id.checked_sub(front)?).ok()?)
    }

    fn tx_mut(&mut self, id: u64) -> Option<&mut Tx> {
        let front = self.txs.front()?.id;
        self.txs
            .get_mut(usize::try_from(id.checked_sub(front)?).ok()?)
    }

    /// Kept transactions, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &Tx> {
        self.txs.iter()
    }

    /// Counters for this connection (sum them per worker).
    pub fn counters(&self) -> &HttpCounters {
        &self.counters
    }

    /// Anomalies not tied to a transaction.
    pub fn events(&self) -> &EventSet {
        &self.events
    }

    /// Feeds in-order stream bytes of one direction, split anywhere.
    pub fn feed(&mut self, dir: Dir, data: &[u8]) -> Update {
        let mut up = Update::default();
        match dir {
            Dir::ToServer => self.feed_req(data, &mut up),
            Dir::ToClient => self.feed_resp(data, &mut up),
        }
        self.report_raised(&mut up);
        up
    }

    /// Reports the transactions that got an event but no other progress in this call.
    fn report_raised(&mut self, up: &mut Update) {
        let ids = up.tx_ids();
        for id in self.raised.drain(..) {
            if !ids.contains(&id) {
                up.push(id, Progress::Event);
            }
        }
    }

    /// `len` bytes of `dir` were lost. A body of known length skips them (its buffers are
    /// marked incomplete and decompression stops); anything else abandons the current
    /// transaction of that direction and resyncs on the next start line.
    pub fn gap(&mut self, dir: Dir, len: u64) -> Update {
        let mut up = Update::default();
        self.counters.gaps += 1;
        let side = match dir {
            Dir::ToServer => &mut self.req,
            Dir::ToClient => &mut self.resp,
        };
        let tx = side.tx;
        match &mut side.state {
            State::Closed | State::Tunnel => return up,
            State::Body(Framing::Length(left)) if len < *left => {
                *left -= len;
            }
            State::Body(Framing::Length(left)) if len == *left => {
                // The gap ends exactly with the body: the next message starts cleanly.
                if let Some(id) = tx {
                    self.mark_gap(id, dir);
                    match dir {
                        Dir::ToServer => self.end_request(id, false, &mut up),
                        Dir::ToClient => self.end_response(id, &mut up),
                    }
                }
                return up;
            }
            State::Body(Framing::Close) if dir == Dir::ToClient => {}
            _ => {
                side.line.clear();
                side.head = HeadAcc::default();
                side.state = State::Resync;
                side.tx = None;
                if dir == Dir::ToClient {
                    self.junk = None;
                    self.ws_line = None;
                    self.maybe_end = None;
                    self.after_complete = None;
                    self.decoder = None;
                }
                if let Some(id) = tx {
                    self.mark_gap(id, dir);
                    self.complete(id, dir, &mut up);
                }
                return up;
            }
        }
        if dir == Dir::ToClient {
            if let Some(d) = self.decoder.as_mut() {
                d.stop();
            }
        }
        if let Some(id) = tx {
            self.mark_gap(id, dir);
        }
        up
    }

    fn mark_gap(&mut self, id: u64, dir: Dir) {
        if let Some(t) = self.tx_mut(id) {
            match dir {
                Dir::ToServer => {
                    t.req_body.gap = true;
                    t.req_file.broken = true;
                }
                Dir::ToClient => {
                    t.resp_body.gap = true;
                    t.resp_file.broken = true;
                }
            }
        }
        self.event(Some(id), HttpEvent::StreamGap);
    }

    /// The peer closed `dir` (FIN): ends a body delimited by close and finishes what is
    /// pending; later bytes of `dir` are ignored.
    pub fn close(&mut self, dir: Dir) -> Update {
        let mut up = Update::default();
        match dir {
            Dir::ToServer => self.close_req(&mut up),
            Dir::ToClient => self.close_resp(&mut up),
        }
        self.report_raised(&mut up);
        up
    }

    // ---- shared helpers -------------------------------------------------------------

    fn event(&mut self, tx: Option<u64>, e: HttpEvent) {
        let new = match tx.and_then(|id| self.tx_mut(id)) {
            Some(t) => t.events.add(e),
            None => self.events.add(e),
        };
        if new {
            self.counters.anomalies += 1;
            if let Some(id) = tx {
                if !self.raised.contains(&id) {
                    self.raised.push(id);
                }
            }
        }
    }

    fn new_tx(&mut self) -> u64 {
        // Parsing, detection and logging of a transaction all happen on the packet that
        // completes it, so once both sides are complete nothing reads it again: keeping it
        // would only hold its heads and bodies (up to both body limits) per connection.
        while self
            .txs
            .front()
            .is_some_and(|t| t.request_complete() && t.response_complete())
        {
            self.txs.pop_front();
        }
        if self.txs.len() >= self.cfg.max_txs.max(1) {
            self.txs.pop_front();
            self.counters.txs_evicted += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.counters.txs += 1;
        self.txs.push_back(Tx::new(
            id,
            self.cfg.request_body_limit,
            self.cfg.response_body_limit,
        ));
        id
    }

    fn complete(&mut self, id: u64, dir: Dir, up: &mut Update) {
        let needs = self.cfg.files;
        if let Some(t) = self.tx_mut(id) {
            let done = match dir {
                Dir::ToServer => &mut t.req_done,
                Dir::ToClient => &mut t.resp_done,
            };
            if !*done {
                *done = true;
                t.finish_files(dir, needs);
                up.push(
                    id,
                    if dir == Dir::ToServer {
                        Progress::RequestComplete
                    } else {
                        Progress::ResponseComplete
                    },
                );
            }
        }
    }

    fn field_issue(&mut self, id: Option<u64>, dir: Dir, issue: FieldIssue) {
        let e = match (dir, issue) {
            (Dir::ToServer, FieldIssue::MissingColon) => HttpEvent::RequestFieldMissingColon,
            (Dir::ToClient, FieldIssue::MissingColon) => HttpEvent::ResponseFieldMissingColon,
            (Dir::ToServer, FieldIssue::InvalidName) => HttpEvent::RequestHeaderInvalid,
            (Dir::ToClient, FieldIssue::InvalidName) => HttpEvent::ResponseHeaderInvalid,
            (Dir::ToServer, FieldIssue::InvalidFolding) => HttpEvent::InvalidRequestFieldFolding,
            (Dir::ToClient, FieldIssue::InvalidFolding) => HttpEvent::InvalidResponseFieldFolding,
        };
        self.event(id, e);
    }

    fn too_long(dir: Dir) -> HttpEvent {
        match dir {
            Dir::ToServer => HttpEvent::RequestFieldTooLong,
            Dir::ToClient => HttpEvent::ResponseFieldTooLong,
        }
    }

    /// A header line still arriving is already over `field_limit`: libhtp raises the event
    /// when it buffers that much, not when the line ends.
    fn partial_too_long(&mut self, dir: Dir) {
        let side = match dir {
            Dir::ToServer => &self.req,
            Dir::ToClient => &self.resp,
        };
        if side.line.pending_len() > self.cfg.field_limit {
            let id = side.tx;
            self.event(id, Self::too_long(dir));
        }
    }

    /// Adds a header line to the head being collected; `true` at the empty line.
    fn head_line(&mut self, dir: Dir, line: &Line) -> bool {
        let max = self.cfg.max_header_bytes;
        let side = match dir {
            Dir::ToServer => &mut self.req,
            Dir::ToClient => &mut self.resp,
        };
        let id = side.tx;
        let room = max.saturating_sub(side.head.raw.len());
        let overflow = line.overflow || line.raw.len() > room;
        side.head
            .raw
            .extend_from_slice(&line.raw[..line.raw.len().min(room)]);
        let content = line.content();
        if content.is_empty() {
            return true;
        }
        let issue = side.head.fields.push(content, max);
        if overflow && !side.head.overflow {
            side.head.overflow = true;
            self.counters.header_limit_hits += 1;
            self.event(id, Self::too_long(dir));
        }
        if line.len > self.cfg.field_limit {
            self.event(id, Self::too_long(dir));
        }
        if let Some(i) = issue {
            self.field_issue(id, dir, i);
        }
        false
    }

    /// Ends a head with `line` as its terminator.
    fn end_head_with(&mut self, dir: Dir, line: &Line) {
        let max = self.cfg.max_header_bytes;
        let side = match dir {
            Dir::ToServer => &mut self.req,
            Dir::ToClient => &mut self.resp,
        };
        let room = max.saturating_sub(side.head.raw.len());
        side.head
            .raw
            .extend_from_slice(&line.raw[..line.raw.len().min(room)]);
    }

    /// Takes the collected head: raw bytes, start-line length, the first field issues of
    /// the lenient reading, and that reading's table.
    fn take_head(&mut self, dir: Dir) -> (Vec<u8>, usize, Vec<FieldIssue>, HeaderTable) {
        let side = match dir {
            Dir::ToServer => &mut self.req,
            Dir::ToClient => &mut self.resp,
        };
        let head = std::mem::take(&mut side.head);
        let mut issues = Vec::new();
        let table = head.fields.into_table(|i| {
            if !issues.contains(&i) {
                issues.push(i);
            }
        });
        (head.raw, head.line_len, issues, table)
    }

    // ---- requests ---------------------------------------------------------------------

    fn feed_req(&mut self, mut data: &[u8], up: &mut Update) {
        while !data.is_empty() {
            match &mut self.req.state {
                State::Closed | State::Tunnel => return,
                State::AwaitConnect => {
                    let room = self.cfg.max_header_bytes.saturating_sub(self.held.len());
                    self.held.extend_from_slice(&data[..data.len().min(room)]);
                    return;
                }
                State::Line | State::Resync => {
                    let Some(line) =
                        self.req
                            .line
                            .take(&mut data, LineEnds::Lf, self.cfg.max_header_bytes)
                    else {
                        return;
                    };
                    self.on_request_line(line, data, up);
                }
                State::Headers => {
                    let Some(line) =
                        self.req
                            .line
                            .take(&mut data, LineEnds::Lf, self.cfg.max_header_bytes)
                    else {
                        self.partial_too_long(Dir::ToServer);
                        return;
                    };
                    if self.head_line(Dir::ToServer, &line) {
                        self.finish_request_head(up);
                    }
                }
                State::Body(_) => self.request_body(&mut data, up),
            }
        }
    }

    /// `rest` is what followed the line in the same chunk: libhtp reads a line without a
    /// protocol as HTTP/0.9 only when nothing but whitespace comes with it; otherwise the
    /// protocol is merely missing and headers follow.
    fn on_request_line(&mut self, line: Line, rest: &[u8], up: &mut Update) {
        let content = line.content();
        if is_blank(content) {
            return;
        }
        if matches!(self.req.state, State::Resync) {
            if !looks_like_request_line(content) {
                return;
            }
            self.req.state = State::Line;
        }
        let rl = parse_request_line(content);
        let id = self.new_tx();
        if line.overflow {
            self.counters.header_limit_hits += 1;
        }
        if line.overflow || line.len > self.cfg.field_limit {
            self.event(Some(id), HttpEvent::RequestFieldTooLong);
        }
        if rl.leading_ws {
            self.event(Some(id), HttpEvent::RequestLineLeadingWhitespace);
        }
        if rl.uri.is_empty() || !rl.method.iter().all(|&b| is_token(b)) {
            self.event(Some(id), HttpEvent::RequestLineInvalid);
        }
        let missing_protocol = rl.protocol.is_none();
        let simple = missing_protocol
            && rest.len() <= HTTP09_MAX_JUNK
            && rest.iter().all(|b| b.is_ascii_whitespace() || *b == 0x0b);
        let rl = ReqLine::new(rl);
        if let Some(t) = self.tx_mut(id) {
            t.req_line = Some(rl.clone());
            t.simple = simple;
        }
        up.push(id, Progress::RequestLine);
        self.req.tx = Some(id);
        if simple {
            // HTTP/0.9: no headers, no body; the response is a bare body.
            self.event(Some(id), HttpEvent::RequestLineMissingProtocol);
            if let Some(t) = self.tx_mut(id) {
                t.req_head = Some(ReqHead::new(
                    &rl,
                    HeadBufs::new(&rl.line.line, Default::default(), Vec::new(), "cookie"),
                ));
            }
            up.push(id, Progress::RequestHeaders);
            self.complete(id, Dir::ToServer, up);
            self.req.tx = None;
            return;
        }
        if missing_protocol {
            self.event(Some(id), HttpEvent::RequestLineMissingProtocol);
        }
        self.req.head = HeadAcc {
            line_len: line.raw.len(),
            raw: line.raw,
            ..Default::default()
        };
        self.req.state = State::Headers;
    }

    fn finish_request_head(&mut self, up: &mut Update) {
        let id = self.req.tx;
        let (raw, line_len, issues, lenient_table) = self.take_head(Dir::ToServer);
        let (table, strict_line) = match strict_request(&raw) {
            Some((rl, t)) => (t, Some(rl)),
            None => {
                self.counters.lenient_parses += 1;
                self.event(id, HttpEvent::LenientParse);
                for i in issues {
                    self.field_issue(id, Dir::ToServer, i);
                }
                (lenient_table, None)
            }
        };
        let mut framing = None;
        let te = table.value("transfer-encoding").map(<[u8]>::to_vec);
        let cl = table
            .get("content-length")
            .map(|h| (h.value.clone(), h.count));
        let mut evs = Vec::new();
        if table
            .value("authorization")
            .is_some_and(|v| !auth_recognized(v))
        {
            evs.push(HttpEvent::RequestAuthUnrecognized);
        }
        if let Some(te) = &te {
            if te_is_chunked(te) {
                if !te_is_plain_chunked(te) {
                    evs.push(HttpEvent::InvalidTransferEncodingValueInRequest);
                }
                if cl.is_some() {
                    evs.push(HttpEvent::RequestSmuggling);
                }
                framing = Some(Framing::Chunked(Chunked::new()));
            } else {
                evs.push(HttpEvent::InvalidTransferEncodingValueInRequest);
            }
        }
        if framing.is_none() {
            if let Some((v, count)) = &cl {
                if *count > 1 {
                    evs.push(HttpEvent::DuplicateContentLengthFieldInRequest);
                }
                match parse_content_length(v) {
                    Some(n) if n > 0 => framing = Some(Framing::Length(n)),
                    Some(_) => {}
                    None => evs.push(HttpEvent::InvalidContentLengthFieldInRequest),
                }
            }
        }
        for e in evs {
            self.event(id, e);
        }
        let Some(id) = id else {
            self.req.state = State::Line;
            return;
        };
        let raw_headers = raw.get(line_len..).unwrap_or_default().to_vec();
        let connect = match self.tx_mut(id) {
            Some(t) => {
                if let (Some(strict), Some(l)) = (strict_line, t.req_line.as_mut()) {
                    if strict != l.line {
                        *l = ReqLine::new(strict);
                    }
                }
                let Some(l) = t.req_line.as_ref() else { return };
                t.multipart = table
                    .value("content-type")
                    .and_then(multipart_boundary)
                    .map(|b| Multipart::new(&b));
                let bufs = HeadBufs::new(&l.line.line, table, raw_headers, "cookie");
                t.req_head = Some(ReqHead::new(l, bufs));
                l.is_connect()
            }
            None => false,
        };
        up.push(id, Progress::RequestHeaders);
        match framing {
            Some(f) => self.req.state = State::Body(f),
            None => self.end_request(id, connect, up),
        }
    }

    fn end_request(&mut self, id: u64, connect: bool, up: &mut Update) {
        self.complete(id, Dir::ToServer, up);
        self.req.tx = None;
        self.req.state = if connect {
            State::AwaitConnect
        } else {
            State::Line
        };
    }

    fn request_body(&mut self, data: &mut &[u8], up: &mut Update) {
        let Some(id) = self.req.tx else {
            self.req.state = State::Line;
            return;
        };
        let State::Body(framing) = &mut self.req.state else {
            return;
        };
        let mut grew = false;
        let needs = self.cfg.files;
        let txs = &mut self.txs;
        let limit_hits = &mut self.counters.body_limit_hits;
        let front = txs.front().map_or(0, |t| t.id);
        let mut sink = |d: &[u8]| {
            if let Some(t) = usize::try_from(id.wrapping_sub(front))
                .ok()
                .and_then(|i| txs.get_mut(i))
            {
                grew |= !d.is_empty() && t.req_body.data.len() < t.req_body.limit;
                if t.multipart.is_none() {
                    t.req_file.update(needs, d);
                }
                t.req_body.push(d);
                if t.req_body.is_truncated() && !t.req_body.limit_counted {
                    t.req_body.limit_counted = true;
                    *limit_hits += 1;
                }
            }
        };
        let done = match framing {
            Framing::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                sink(&data[..n]);
                *data = &data[n..];
                *left -= n as u64;
                *left == 0
            }
            Framing::Chunked(c) => match c.feed(data, &mut sink) {
                ChunkStatus::More => false,
                ChunkStatus::Done => true,
                ChunkStatus::NotChunked(_) => {
                    self.event(Some(id), HttpEvent::InvalidRequestChunkLen);
                    self.req.state = State::Resync;
                    self.complete(id, Dir::ToServer, up);
                    self.req.tx = None;
                    if grew {
                        up.push(id, Progress::RequestBody);
                    }
                    return;
                }
            },
            Framing::Close => false,
        };
        if grew {
            if let Some(t) = self.tx_mut(id) {
                t.grow_files(Dir::ToServer, needs);
            }
            up.push(id, Progress::RequestBody);
        }
        if done {
            self.end_request(id, false, up);
        }
    }

    fn close_req(&mut self, up: &mut Update) {
        if let Some(line) = self.req.line.take_rest() {
            if matches!(self.req.state, State::Headers) {
                self.head_line(Dir::ToServer, &line);
                self.finish_request_head(up);
            }
        }
        if let (State::Body(f), Some(id)) = (&self.req.state, self.req.tx) {
            if !matches!(f, Framing::Chunked(c) if c.is_done()) {
                self.event(Some(id), HttpEvent::TruncatedBody);
            }
            self.complete(id, Dir::ToServer, up);
        }
        self.req.tx = None;
        self.req.state = State::Closed;
    }

    // ---- responses --------------------------------------------------------------------

    fn feed_resp(&mut self, mut data: &[u8], up: &mut Update) {
        while !data.is_empty() {
            match &mut self.resp.state {
                State::Closed | State::Tunnel | State::AwaitConnect => return,
                State::Line | State::Resync => {
                    if self.start_simple_response(up) {
                        continue;
                    }
                    // Capped: a "status line" longer than a head can be is body data.
                    let Some(line) = self.resp.line.take_capped(
                        &mut data,
                        LineEnds::LfOrBareCr,
                        self.cfg.max_header_bytes,
                    ) else {
                        return;
                    };
                    self.on_status_line(line, up);
                }
                State::Headers => {
                    if let Some(ws) = self.ws_line.take() {
                        if data[0] != b'\n' {
                            self.end_head_with(Dir::ToClient, &ws);
                            self.finish_response_head(up);
                            continue;
                        }
                        self.head_line(Dir::ToClient, &ws);
                    }
                    if let Some(end) = self.maybe_end.take() {
                        // Capped, so a body line that follows is never cut.
                        let Some(next) = self.resp.line.take_capped(
                            &mut data,
                            LineEnds::LfOrBareCr,
                            self.cfg.max_header_bytes,
                        ) else {
                            self.maybe_end = Some(end);
                            return;
                        };
                        if !next.overflow && looks_like_field(next.content()) {
                            // A stray CR line inside the head (what Chrome reads).
                            self.end_head_with(Dir::ToClient, &end);
                            if self.head_line(Dir::ToClient, &next) {
                                self.finish_response_head(up);
                            }
                        } else {
                            // The end of the head (what libhtp reads); `next` is body.
                            self.end_head_with(Dir::ToClient, &end);
                            self.finish_response_head(up);
                            self.feed_resp(&next.raw, up);
                        }
                        continue;
                    }
                    let Some(line) = self.resp.line.take(
                        &mut data,
                        LineEnds::LfOrBareCr,
                        self.cfg.max_header_bytes,
                    ) else {
                        self.partial_too_long(Dir::ToClient);
                        return;
                    };
                    if matches!(line.raw.as_slice(), [b' ' | b'\t', b'\n']) {
                        self.ws_line = Some(line);
                    } else if line.content().is_empty()
                        && !matches!(line.raw.as_slice(), b"\n" | b"\r\n")
                    {
                        self.maybe_end = Some(line);
                    } else if self.head_line(Dir::ToClient, &line) {
                        self.finish_response_head(up);
                    }
                }
                State::Body(_) => self.response_body(&mut data, up),
            }
        }
    }

    /// The next transaction a response belongs to, creating one when none is waiting.
    fn match_response(&mut self) -> u64 {
        if let Some(id) = self.resp.tx {
            return id;
        }
        let id = if self.tx(self.next_match).is_some() {
            self.next_match
        } else {
            // Evicted or never requested.
            let first_kept = self
                .txs
                .front()
                .map(|t| t.id)
                .filter(|&f| f > self.next_match && f < self.next_id);
            match first_kept {
                Some(f) => f,
                None => {
                    let id = self.new_tx();
                    self.event(Some(id), HttpEvent::UnableToMatchResponseToRequest);
                    if let Some(t) = self.tx_mut(id) {
                        t.req_done = true;
                    }
                    id
                }
            }
        };
        self.next_match = id + 1;
        self.resp.tx = Some(id);
        id
    }

    /// An HTTP/0.9 request gets a bare body until close.
    fn start_simple_response(&mut self, up: &mut Update) -> bool {
        if self.resp.tx.is_some()
            || self.junk.is_some()
            || !self.resp.line.is_empty()
            || !matches!(self.resp.state, State::Line)
        {
            return false;
        }
        if !self.tx(self.next_match).is_some_and(|t| t.simple) {
            return false;
        }
        let id = self.match_response();
        self.after_complete = None;
        up.push(id, Progress::ResponseHeaders);
        self.resp.state = State::Body(Framing::Close);
        true
    }

    fn on_status_line(&mut self, line: Line, up: &mut Update) {
        let content = line.content();
        let resembles = resembles_status_line(content, true) == Some(true);
        if let Some(junk) = self.junk.take() {
            if resembles {
                let id = self.resp.tx;
                self.event(id, HttpEvent::ResponseJunkBeforeStatusLine);
            } else {
                // Not a response head at all: a body without headers, up to close.
                let id = self.match_response();
                self.resp.state = State::Body(Framing::Close);
                self.deliver_response(id, &junk, up);
                self.deliver_response(id, &line.raw, up);
                return;
            }
        }
        if is_blank(content) {
            return;
        }
        if !resembles {
            if matches!(self.resp.state, State::Resync) {
                return;
            }
            if let (Some(prev), None) = (self.after_complete, self.resp.tx) {
                self.event(Some(prev), HttpEvent::UnexpectedResponseBody);
                self.append_unexpected(prev, &line.raw, up);
                return;
            }
            if line.overflow {
                // Too long to be a junk line before a head: a headerless body.
                let id = self.match_response();
                self.resp.state = State::Body(Framing::Close);
                self.deliver_response(id, &line.raw, up);
                return;
            }
            self.junk = Some(line.raw);
            return;
        }
        self.resp.state = State::Line;
        self.after_complete = None;
        let id = self.match_response();
        let sl = parse_status_line(content);
        if line.overflow {
            self.counters.header_limit_hits += 1;
        }
        if line.overflow || line.len > self.cfg.field_limit {
            self.event(Some(id), HttpEvent::ResponseFieldTooLong);
        }
        if http_minor(&sl.protocol).is_none() {
            self.event(Some(id), HttpEvent::ResponseInvalidProtocol);
        }
        if sl.code.is_none() {
            self.event(Some(id), HttpEvent::ResponseInvalidStatus);
        }
        if let Some(t) = self.tx_mut(id) {
            t.status = Some(sl);
            t.resp_head = None;
        }
        up.push(id, Progress::ResponseLine);
        self.resp.head = HeadAcc {
            line_len: line.raw.len(),
            raw: line.raw,
            ..Default::default()
        };
        self.resp.state = State::Headers;
    }

    fn append_unexpected(&mut self, id: u64, data: &[u8], up: &mut Update) {
        let needs = self.cfg.files;
        if let Some(t) = self.tx_mut(id) {
            let before = t.resp_body.data.len();
            t.resp_file.update(needs, data);
            t.resp_body.push(data);
            if t.resp_body.data.len() > before {
                up.push(id, Progress::ResponseBody);
            }
        }
    }

    fn finish_response_head(&mut self, up: &mut Update) {
        let Some(id) = self.resp.tx else {
            self.resp.state = State::Line;
            return;
        };
        let (raw, line_len, issues, lenient_table) = self.take_head(Dir::ToClient);
        let table = match strict_response(&raw) {
            Some((sl, t)) => {
                if let Some(tx) = self.tx_mut(id) {
                    if tx.status.as_ref() != Some(&sl) {
                        tx.status = Some(sl);
                    }
                }
                t
            }
            None => {
                self.counters.lenient_parses += 1;
                self.event(Some(id), HttpEvent::LenientParse);
                for i in issues {
                    self.field_issue(Some(id), Dir::ToClient, i);
                }
                lenient_table
            }
        };
        let Some(t) = self.tx_mut(id) else {
            self.resp.tx = None;
            self.resp.state = State::Line;
            return;
        };
        let code = t.status.as_ref().and_then(|s| s.code);
        let minor = t.status.as_ref().and_then(|s| http_minor(&s.protocol));
        let connect = t.req_line.as_ref().is_some_and(ReqLine::is_connect);
        let head = t
            .req_line
            .as_ref()
            .is_some_and(|l| l.line.method.eq_ignore_ascii_case(b"HEAD"));
        let status_line = t
            .status
            .as_ref()
            .map(|s| s.line.clone())
            .unwrap_or_default();
        let raw_headers = raw.get(line_len..).unwrap_or_default().to_vec();
        let te = table.value("transfer-encoding").map(<[u8]>::to_vec);
        let cl = table
            .get("content-length")
            .map(|h| (h.value.clone(), h.count));
        let ce = table.value("content-encoding").map(<[u8]>::to_vec);
        t.resp_head = Some(HeadBufs::new(
            &status_line,
            table,
            raw_headers,
            "set-cookie",
        ));
        up.push(id, Progress::ResponseHeaders);
        // Interim responses (100, 102, 103): the final one follows for the same request and
        // replaces this head; until then (or if none comes) this head is what we have.
        if matches!(code, Some(100..=199)) && code != Some(101) {
            let again = t.seen_100;
            t.seen_100 = true;
            if again {
                self.event(Some(id), HttpEvent::ContinueAlreadySeen);
            }
            self.resp.state = State::Line;
            return;
        }

        let tunnel = code == Some(101) || (connect && matches!(code, Some(200..=299)));
        if tunnel {
            self.complete(id, Dir::ToClient, up);
            self.resp.state = State::Tunnel;
            self.req.state = State::Tunnel;
            self.held = Vec::new();
            return;
        }
        if connect {
            // A refused CONNECT: the client's held bytes are HTTP again.
            self.release_held(up);
        }
        if head || matches!(code, Some(204 | 304)) {
            self.end_response(id, up);
            return;
        }
        let mut evs = Vec::new();
        let mut framing = Framing::Close;
        if let Some(te) = te.as_deref().filter(|te| te_is_chunked(te)) {
            if !te_is_plain_chunked(te) {
                evs.push(HttpEvent::ResponseAbnormalTransferEncoding);
            }
            if minor == Some(0) {
                evs.push(HttpEvent::ResponseChunkedOldProto);
            }
            if cl.is_some() {
                evs.push(HttpEvent::RequestSmuggling);
            }
            framing = Framing::Chunked(Chunked::new());
        } else if let Some((v, count)) = &cl {
            if *count > 1 {
                evs.push(HttpEvent::DuplicateContentLengthFieldInResponse);
            }
            match parse_content_length(v) {
                Some(0) => {
                    for e in evs {
                        self.event(Some(id), e);
                    }
                    self.end_response(id, up);
                    return;
                }
                Some(n) => framing = Framing::Length(n),
                // Browsers read an unusable length as "until close".
                None => evs.push(HttpEvent::InvalidContentLengthFieldInResponse),
            }
        }
        if let Some(ce) = ce {
            let (mut layers, odd) = content_encoding_layers(&ce);
            if odd {
                evs.push(HttpEvent::AbnormalCeHeader);
            }
            let limit = self.cfg.max_decompress_layers;
            // The event follows libhtp, which counts every token against the limit; only
            // compressed layers cost decoding work, so only they are capped.
            if layers > limit || content_encoding_tokens(&ce) > limit {
                evs.push(HttpEvent::TooManyEncodingLayers);
            }
            layers = layers.min(limit);
            if layers > 0 {
                self.decoder = Some(ContentDecoder::new(layers, self.cfg.max_decompressed_bytes));
            }
        }
        for e in evs {
            self.event(Some(id), e);
        }
        self.resp.state = State::Body(framing);
    }

    fn release_held(&mut self, up: &mut Update) {
        if matches!(self.req.state, State::AwaitConnect) {
            self.req.state = State::Line;
            let held = std::mem::take(&mut self.held);
            self.feed_req(&held, up);
        }
    }

    fn end_response(&mut self, id: u64, up: &mut Update) {
        self.complete(id, Dir::ToClient, up);
        self.resp.tx = None;
        self.resp.state = State::Line;
        self.decoder = None;
        self.after_complete = Some(id);
    }

    /// Hands response body bytes (after transfer decoding) to the content decoder and the
    /// transaction's body.
    fn deliver_response(&mut self, id: u64, data: &[u8], up: &mut Update) {
        if data.is_empty() {
            return;
        }
        let front = self.txs.front().map_or(0, |t| t.id);
        let Some(t) = usize::try_from(id.wrapping_sub(front))
            .ok()
            .and_then(|i| self.txs.get_mut(i))
        else {
            return;
        };
        t.resp_len = t.resp_len.saturating_add(data.len() as u64);
        let before = t.resp_body.data.len();
        let issue_before = self.decoder.as_ref().and_then(ContentDecoder::issue);
        let needs = self.cfg.files;
        match self.decoder.as_mut() {
            Some(d) => d.push(data, &mut |out| {
                t.resp_file.update(needs, out);
                t.resp_body.push(out)
            }),
            None => {
                t.resp_file.update(needs, data);
                t.resp_body.push(data);
            }
        }
        let grew = t.resp_body.data.len() > before;
        if grew {
            t.grow_files(Dir::ToClient, needs);
        }
        if t.resp_body.is_truncated() && !t.resp_body.limit_counted {
            t.resp_body.limit_counted = true;
            self.counters.body_limit_hits += 1;
        }
        let issue = self.decoder.as_ref().and_then(ContentDecoder::issue);
        if issue != issue_before {
            match issue {
                Some(DecodeIssue::Bomb) => {
                    self.counters.decompression_bombs += 1;
                    self.event(Some(id), HttpEvent::CompressionBomb);
                }
                Some(DecodeIssue::Failed) => {
                    self.counters.decompression_failures += 1;
                    self.event(Some(id), HttpEvent::GzipDecompressionFailed);
                }
                None => {}
            }
        }
        if grew {
            up.push(id, Progress::ResponseBody);
        }
    }

    fn response_body(&mut self, data: &mut &[u8], up: &mut Update) {
        let Some(id) = self.resp.tx else {
            self.resp.state = State::Line;
            return;
        };
        let State::Body(framing) = &mut self.resp.state else {
            return;
        };
        match framing {
            Framing::Close => {
                let d = std::mem::take(data);
                self.deliver_response(id, d, up);
            }
            Framing::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                *left -= n as u64;
                let done = *left == 0;
                let (body, rest) = data.split_at(n);
                *data = rest;
                self.deliver_response(id, body, up);
                if done {
                    self.end_response(id, up);
                }
            }
            Framing::Chunked(c) => {
                let mut out = Vec::new();
                let status = c.feed(data, &mut |d| out.extend_from_slice(d));
                self.deliver_response(id, &out, up);
                match status {
                    ChunkStatus::More => {}
                    ChunkStatus::Done => self.end_response(id, up),
                    ChunkStatus::NotChunked(replay) => {
                        self.event(Some(id), HttpEvent::InvalidResponseChunkLen);
                        self.resp.state = State::Body(Framing::Close);
                        self.deliver_response(id, &replay, up);
                    }
                }
            }
        }
    }

    fn close_resp(&mut self, up: &mut Update) {
        if let Some(end) = self.maybe_end.take() {
            if matches!(self.resp.state, State::Headers) {
                self.end_head_with(Dir::ToClient, &end);
                self.finish_response_head(up);
                if let Some(rest) = self.resp.line.take_rest() {
                    self.feed_resp(&rest.raw, up);
                }
            }
        }
        if let Some(ws) = self.ws_line.take() {
            if matches!(self.resp.state, State::Headers) {
                self.end_head_with(Dir::ToClient, &ws);
                self.finish_response_head(up);
            }
        }
        if let Some(line) = self.resp.line.take_rest() {
            match self.resp.state {
                State::Line | State::Resync => self.on_status_line(line, up),
                State::Headers => {
                    if !self.head_line(Dir::ToClient, &line) {
                        self.head_line(
                            Dir::ToClient,
                            &Line {
                                raw: Vec::new(),
                                overflow: false,
                                len: 0,
                            },
                        );
                    }
                    self.finish_response_head(up);
                }
                _ => {}
            }
        } else if matches!(self.resp.state, State::Headers) {
            // Complete header lines but no empty line before the close: the close ends the
            // head, as libhtp and browsers take it.
            self.head_line(
                Dir::ToClient,
                &Line {
                    raw: Vec::new(),
                    overflow: false,
                    len: 0,
                },
            );
            self.finish_response_head(up);
        }
        if let Some(junk) = self.junk.take() {
            let id = self.match_response();
            self.resp.state = State::Body(Framing::Close);
            self.deliver_response(id, &junk, up);
        }
        if let (State::Body(f), Some(id)) = (&self.resp.state, self.resp.tx) {
            let truncated = match f {
                Framing::Close => false,
                Framing::Length(_) => true,
                Framing::Chunked(c) => !c.is_done(),
            };
            if truncated {
                self.event(Some(id), HttpEvent::TruncatedBody);
            }
            self.end_response(id, up);
        }
        self.resp.tx = None;
        self.resp.state = State::Closed;
    }
}

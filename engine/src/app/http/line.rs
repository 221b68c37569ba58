//! Incremental line splitting with libhtp's line-end rules.
//!
//! Requests end lines at LF only. Responses also end a line at a bare CR (a CR not followed
//! by LF), because browsers do and servers in the wild send such headers (http-evader's
//! "cronly" cases); libhtp does the same. A CR that is the last byte seen so far is held
//! until the next byte (or the end of the stream) says which it is, so the result does not
//! depend on how the stream was split.

/// Which bytes end a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnds {
    /// LF (an optional CR before it belongs to the terminator).
    Lf,
    /// LF, CRLF, or a bare CR.
    LfOrBareCr,
}

/// One complete line: its bytes including the terminator (up to the length limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Raw bytes, terminator included; at most the limit given to [`LineBuf::take`].
    pub raw: Vec<u8>,
    /// Bytes were dropped because the line was longer than the limit.
    pub overflow: bool,
    /// The line's full length, terminator included (kept or not).
    pub len: usize,
}

impl Line {
    /// The line without trailing CR/LF bytes (libhtp's `htp_chomp`).
    pub fn content(&self) -> &[u8] {
        let mut end = self.raw.len();
        while end > 0 && matches!(self.raw[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        &self.raw[..end]
    }
}

/// Accumulates a partial line across calls; memory is bounded by the limit passed to `take`.
#[derive(Debug, Default)]
pub(crate) struct LineBuf {
    buf: Vec<u8>,
    overflow: bool,
    /// The buffered line ends with a CR whose follower has not been seen yet.
    cr_pending: bool,
    /// Bytes of the current line seen so far, kept or not.
    seen: usize,
}

impl LineBuf {
    /// Whether a partial line is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && !self.overflow
    }

    /// Drops any partial line.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflow = false;
        self.cr_pending = false;
        self.seen = 0;
    }

    /// Bytes of the partial line received so far (including any cut at the limit).
    pub fn pending_len(&self) -> usize {
        self.seen
    }

    fn push_bounded(&mut self, bytes: &[u8], max: usize) {
        self.seen = self.seen.saturating_add(bytes.len());
        let room = max.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn finish(&mut self) -> Line {
        self.cr_pending = false;
        let line = Line {
            raw: std::mem::take(&mut self.buf),
            overflow: self.overflow,
            len: self.seen,
        };
        self.seen = 0;
        self.overflow = false;
        line
    }

    /// Consumes bytes from `input` until a line is complete and returns it, or returns
    /// `None` with all of `input` consumed when more data is needed.
    pub fn take(&mut self, input: &mut &[u8], ends: LineEnds, max: usize) -> Option<Line> {
        loop {
            if self.cr_pending {
                let &first = input.first()?;
                self.cr_pending = false;
                match first {
                    b'\n' => {
                        self.push_bounded(b"\n", max);
                        *input = &input[1..];
                        return Some(self.finish());
                    }
                    b'\r' => {} // a run of CRs: keep scanning
                    _ => return Some(self.finish()),
                }
            }
            let pos = match ends {
                LineEnds::Lf => memchr::memchr(b'\n', input),
                LineEnds::LfOrBareCr => memchr::memchr2(b'\n', b'\r', input),
            };
            let Some(pos) = pos else {
                self.push_bounded(input, max);
                *input = &[];
                return None;
            };
            // A CR in a response: the next byte decides between CRLF, a run of CRs (part
            // of the line, so `\r\r\n` is one empty line) and a bare CR.
            let end = match (input[pos], ends, input.get(pos + 1)) {
                (b'\n', _, _) | (_, LineEnds::Lf, _) => pos + 1,
                (_, _, Some(b'\n')) => pos + 2,
                (_, _, Some(b'\r')) => {
                    self.push_bounded(&input[..=pos], max);
                    *input = &input[pos + 1..];
                    continue;
                }
                (_, _, Some(_)) => pos + 1,
                (_, _, None) => {
                    self.push_bounded(input, max);
                    *input = &[];
                    self.cr_pending = true;
                    return None;
                }
            };
            let (line, rest) = input.split_at(end);
            self.push_bounded(line, max);
            *input = rest;
            return Some(self.finish());
        }
    }

    /// Like [`LineBuf::take`], but a line that reaches `max` bytes without a terminator is
    /// returned at once (flagged `overflow`) instead of discarding the rest of it: for
    /// places where a long "line" is really body data that must not be lost.
    pub fn take_capped(&mut self, input: &mut &[u8], ends: LineEnds, max: usize) -> Option<Line> {
        let room = max.saturating_sub(self.buf.len());
        let mut view = &input[..room.min(input.len())];
        let before = view.len();
        let line = self.take(&mut view, ends, max);
        *input = &input[before - view.len()..];
        if line.is_some() {
            return line;
        }
        if self.buf.len() >= max {
            let mut l = self.finish();
            l.overflow = true;
            return Some(l);
        }
        None
    }

    /// At the end of the stream: whatever is buffered is the last (unterminated) line.
    pub fn take_rest(&mut self) -> Option<Line> {
        if self.is_empty() {
            return None;
        }
        Some(self.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(data: &[u8], ends: LineEnds, step: usize) -> Vec<Vec<u8>> {
        let mut lb = LineBuf::default();
        let mut out = Vec::new();
        for chunk in data.chunks(step.max(1)) {
            let mut input = chunk;
            while let Some(l) = lb.take(&mut input, ends, 1000) {
                out.push(l.raw);
            }
        }
        if let Some(l) = lb.take_rest() {
            out.push(l.raw);
        }
        out
    }

    #[test]
    fn bare_cr_ends_response_lines_only() {
        let data = b"a\r\nb\rc\nd\r\r\ne\r\rf";
        let want: Vec<Vec<u8>> = vec![
            b"a\r\n".to_vec(),
            b"b\r".to_vec(),
            b"c\n".to_vec(),
            b"d\r\r\n".to_vec(),
            b"e\r\r".to_vec(),
            b"f".to_vec(),
        ];
        for step in 1..data.len() + 1 {
            assert_eq!(
                split_all(data, LineEnds::LfOrBareCr, step),
                want,
                "step {step}"
            );
        }
        let req = split_all(data, LineEnds::Lf, 1);
        assert_eq!(
            req,
            vec![
                b"a\r\n".to_vec(),
                b"b\rc\n".to_vec(),
                b"d\r\r\n".to_vec(),
                b"e\r\rf".to_vec()
            ]
        );
    }

    #[test]
    fn capped_lines_keep_every_byte() {
        for step in 1..12 {
            let data = b"0123456789ab\ncd";
            let mut lb = LineBuf::default();
            let mut got = Vec::new();
            for chunk in data.chunks(step) {
                let mut input = chunk;
                while let Some(l) = lb.take_capped(&mut input, LineEnds::LfOrBareCr, 5) {
                    got.push((l.raw, l.overflow));
                }
            }
            let want = vec![
                (b"01234".to_vec(), true),
                (b"56789".to_vec(), true),
                (b"ab\n".to_vec(), false),
            ];
            assert_eq!(got, want, "step {step}");
        }
    }

    #[test]
    fn long_lines_are_cut_and_flagged() {
        let mut lb = LineBuf::default();
        let mut input: &[u8] = b"0123456789\nok\n";
        let l = lb.take(&mut input, LineEnds::Lf, 4).unwrap();
        assert_eq!((l.raw.as_slice(), l.overflow), (&b"0123"[..], true));
        let l = lb.take(&mut input, LineEnds::Lf, 4).unwrap();
        assert_eq!(
            (l.raw.as_slice(), l.overflow, l.content()),
            (&b"ok\n"[..], false, &b"ok"[..])
        );
    }
}

//! Chunked transfer coding, decoded the way libhtp does it.
//!
//! A size line is leading whitespace/control bytes, hex digits, then anything (an
//! extension, `f x`, `f,`, ... browsers ignore the junk and so does libhtp). Empty size
//! lines are skipped. A size line that does not start with a hex digit means the body was
//! not chunked after all (servers send `Transfer-Encoding: chunked` with a plain body, and
//! browsers then show the plain body): the caller gets the line's bytes back and reads the
//! rest of the body to the end of the stream. To avoid buffering an unbounded "line", the
//! first 8 bytes already decide when they hold no hex digit (libhtp's
//! `data_probe_chunk_length`).

/// Longest size line kept; longer lines are not chunk sizes.
const SIZE_LINE_MAX: usize = 1024;
/// Trailer lines read before giving up on the trailer and ending the body.
const TRAILER_LINES_MAX: usize = 64;
const TRAILER_LINE_MAX: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailer { lines: usize, len: usize },
    Done,
}

/// What a call to [`Chunked::feed`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkStatus {
    /// All input consumed; the body goes on.
    More,
    /// The last chunk and trailer were read; unconsumed input follows the body.
    Done,
    /// Not chunked: these bytes (already consumed) start a body that runs to close.
    NotChunked(Vec<u8>),
}

/// Incremental chunked decoder.
#[derive(Debug)]
pub(crate) struct Chunked {
    state: State,
    line: Vec<u8>,
    /// A size line had an extension (`;`).
    pub extension: bool,
}

fn is_ctl(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0x0b | 0x0c)
}

/// libhtp's `htp_parse_chunked_length`: `Ok(None)` for an empty line.
fn parse_size(line: &[u8]) -> Result<Option<(u64, bool)>, ()> {
    let start = line.iter().position(|&b| !is_ctl(b)).unwrap_or(line.len());
    let s = &line[start..];
    if s.is_empty() {
        return Ok(None);
    }
    let digits = s.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(());
    }
    let n = s[..digits].iter().fold(0u64, |acc, &b| {
        acc * 16 + u64::from((b as char).to_digit(16).unwrap_or(0))
    });
    Ok(Some((n, s[digits..].contains(&b';'))))
}

/// Whether buffered size-line bytes can still be a chunk size.
fn probe_ok(buf: &[u8]) -> bool {
    match buf.iter().find(|&&b| !is_ctl(b)) {
        Some(b) => b.is_ascii_hexdigit(),
        None => true,
    }
}

impl Chunked {
    pub fn new() -> Self {
        Chunked {
            state: State::Size,
            line: Vec::new(),
            extension: false,
        }
    }

    /// Whether the last chunk has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes from `input`, handing chunk data to `data`.
    pub fn feed(&mut self, input: &mut &[u8], data: &mut dyn FnMut(&[u8])) -> ChunkStatus {
        loop {
            if input.is_empty() {
                return if self.state == State::Done {
                    ChunkStatus::Done
                } else {
                    ChunkStatus::More
                };
            }
            match self.state {
                State::Done => return ChunkStatus::Done,
                State::Data(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    data(&input[..n]);
                    *input = &input[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => match memchr::memchr(b'\n', input) {
                    Some(p) => {
                        *input = &input[p + 1..];
                        self.state = State::Size;
                    }
                    None => *input = &[],
                },
                State::Size => {
                    let Some(p) = memchr::memchr(b'\n', input) else {
                        self.line
                            .extend_from_slice(&input[..input.len().min(SIZE_LINE_MAX + 1)]);
                        let rest = &input[input.len().min(SIZE_LINE_MAX + 1)..];
                        *input = &[];
                        if (self.line.len() >= 8 && !probe_ok(&self.line))
                            || self.line.len() > SIZE_LINE_MAX
                        {
                            let mut replay = std::mem::take(&mut self.line);
                            replay.extend_from_slice(rest);
                            self.state = State::Done;
                            return ChunkStatus::NotChunked(replay);
                        }
                        return ChunkStatus::More;
                    };
                    self.line.extend_from_slice(&input[..=p]);
                    *input = &input[p + 1..];
                    if self.line.len() > SIZE_LINE_MAX + 1 {
                        self.state = State::Done;
                        return ChunkStatus::NotChunked(std::mem::take(&mut self.line));
                    }
                    match parse_size(&self.line) {
                        Ok(None) => {} // empty line: keep reading (libhtp -1004)
                        Ok(Some((n, ext))) => {
                            self.extension |= ext;
                            self.line.clear();
                            self.state = if n == 0 {
                                State::Trailer { lines: 0, len: 0 }
                            } else {
                                State::Data(n)
                            };
                        }
                        Err(()) => {
                            self.state = State::Done;
                            return ChunkStatus::NotChunked(std::mem::take(&mut self.line));
                        }
                    }
                }
                State::Trailer { lines, len } => match memchr::memchr(b'\n', input) {
                    Some(p) => {
                        let empty = len == 0 && input[..p].iter().all(|&b| b == b'\r');
                        *input = &input[p + 1..];
                        self.state = if empty || lines + 1 >= TRAILER_LINES_MAX {
                            State::Done
                        } else {
                            State::Trailer {
                                lines: lines + 1,
                                len: 0,
                            }
                        };
                    }
                    None => {
                        // CRs alone do not make a trailer line non-empty.
                        let len = len.saturating_add(input.iter().filter(|&&b| b != b'\r').count());
                        *input = &[];
                        self.state = if len > TRAILER_LINE_MAX {
                            State::Done
                        } else {
                            State::Trailer { lines, len }
                        };
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &[u8], step: usize) -> (Vec<u8>, ChunkStatus, Vec<u8>) {
        let mut c = Chunked::new();
        let mut out = Vec::new();
        let mut status = ChunkStatus::More;
        let mut rest = Vec::new();
        for chunk in body.chunks(step.max(1)) {
            let mut input = chunk;
            if status == ChunkStatus::More {
                status = c.feed(&mut input, &mut |d| out.extend_from_slice(d));
            }
            rest.extend_from_slice(input);
        }
        (out, status, rest)
    }

    #[test]
    fn chunk_shapes() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n", b"hello"),
            (b"\r\n5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\nhello\n0\n\n", b"hello"),
            (b"0F\r\n0123456789abcde\r\n0000\r\n\r\n", b"0123456789abcde"),
            (b"5 \r\nhello\r\n5\t\r\nworld\r\n0\r\n\r\n", b"helloworld"),
            (
                b"5x\r\nhello\r\n\x0c5,\r\nworld\r\n0\r\n\r\n",
                b"helloworld",
            ),
        ];
        for (body, want) in cases {
            for step in [1, 2, 5, 100] {
                let (out, status, rest) = run(body, step);
                assert_eq!(
                    (out.as_slice(), &status, rest.len()),
                    (*want, &ChunkStatus::Done, 0),
                    "{:?} step {step}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn not_chunked_after_all() {
        let body = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR";
        for step in [1, 3, 8, 100] {
            let (out, status, rest) = run(body, step);
            let ChunkStatus::NotChunked(replay) = status else {
                panic!("{status:?}")
            };
            assert!(out.is_empty());
            assert_eq!([replay, rest].concat(), body.to_vec(), "step {step}");
        }
        let (_, status, _) = run(b"zz\r\n", 1);
        assert_eq!(status, ChunkStatus::NotChunked(b"zz\r\n".to_vec()));
    }
}

//! Content-Encoding decoding (gzip, zlib-wrapped and raw deflate), incremental and bounded.
//!
//! Each layer named in `Content-Encoding` becomes one decoder that sniffs its input: a gzip
//! header (parsed here, so reserved flag bits, odd FEXTRA/FNAME/FCOMMENT/FHCRC fields and a
//! missing or wrong CRC/ISIZE trailer are tolerated the way browsers tolerate them), a zlib
//! header, or else raw deflate. Sniffing makes the declared order irrelevant (libhtp also
//! retries other formats), which matters because servers list layers in any order.
//! When a layer cannot decode its input before producing any output, the input is passed
//! through unchanged (libhtp does this: a body declared `gzip` that is plain text is still
//! inspected as plain text). Output is bounded per body by `max_decompressed_bytes`
//! summed over all layers: a decompression bomb costs CPU up to that bound and a counter,
//! never memory.

use flate2::{Decompress, FlushDecompress, Status};
use std::cell::RefCell;

/// Output of one inflate call; also the granularity of bomb checks.
const SCRATCH: usize = 16 * 1024;
/// Input kept while a layer has produced nothing, to pass it through if it turns out not
/// to be compressed. Beyond this a failing layer stops instead.
const PROBE_MAX: usize = 64 * 1024;
/// Longest gzip header (FEXTRA/FNAME/FCOMMENT) accepted.
const GZIP_HEADER_MAX: usize = 64 * 1024;

/// Inflate states and scratch buffers kept per thread for reuse (see [`Spare`]).
const SPARE_MAX: usize = 8;

/// Inflate states and scratch buffers of finished bodies, reused by the next bodies on the
/// same worker thread: a fresh inflate state is ~43 KB of zeroed memory and a scratch 16 KB,
/// and allocating both per compressed response cost more than inflating a small one.
#[derive(Default)]
struct Spare {
    // Boxed as layers hold them: moving one between a layer and the pool allocates nothing.
    #[allow(clippy::vec_box)]
    inflaters: Vec<Box<Decompress>>,
    scratch: Vec<Vec<u8>>,
}

thread_local! {
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

/// An inflate state for a new stream: a spare one reset, or a new one.
fn take_inflater(zlib: bool) -> Box<Decompress> {
    let spare = SPARE
        .try_with(|s| s.borrow_mut().inflaters.pop())
        .ok()
        .flatten();
    match spare {
        Some(mut d) => {
            d.reset(zlib);
            d
        }
        None => Box::new(Decompress::new(zlib)),
    }
}

/// A zeroed scratch buffer of `len` bytes: a spare one when it has that size.
fn take_scratch(len: usize) -> Vec<u8> {
    let spare = SPARE
        .try_with(|s| {
            let mut s = s.borrow_mut();
            let at = s.scratch.iter().position(|b| b.len() == len)?;
            Some(s.scratch.swap_remove(at))
        })
        .ok()
        .flatten();
    // Decoded bytes are only read up to what inflate wrote, so old contents never leak
    // into a new body; the buffer only needs the right length.
    spare.unwrap_or_else(|| vec![0; len])
}

/// Why decoding stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeIssue {
    /// A layer failed (before output: its input was passed through instead).
    Failed,
    /// The output bound was reached.
    Bomb,
}

enum State {
    /// Fewer than two bytes seen: format unknown.
    Sniff,
    /// Collecting a gzip header.
    GzipHeader,
    Inflate(Box<Decompress>),
    /// Not compressed after all: bytes go through unchanged.
    Pass,
    /// The stream ended (or failed after output): further input is ignored.
    Done,
}

struct Layer {
    state: State,
    /// Input since the layer started, while it has produced nothing (bounded).
    probe: Vec<u8>,
    probe_overflow: bool,
    produced: bool,
}

impl Layer {
    fn new() -> Self {
        Layer {
            state: State::Sniff,
            probe: Vec::new(),
            probe_overflow: false,
            produced: false,
        }
    }
}

/// The decoding chain of one body.
pub(crate) struct ContentDecoder {
    layers: Vec<Layer>,
    scratch: Vec<u8>,
    /// Decompressed bytes produced by all layers.
    produced: u64,
    limit: u64,
    stopped: bool,
    issue: Option<DecodeIssue>,
}

/// Parses a gzip header: `Ok(Some(len))` when complete, `Ok(None)` when more bytes are
/// needed, `Err` when it is not one we can decode.
fn gzip_header_len(h: &[u8]) -> Result<Option<usize>, ()> {
    if h.len() < 10 {
        return Ok(None);
    }
    if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
        return Err(());
    }
    let flags = h[3];
    let mut pos = 10usize;
    if flags & 0x04 != 0 {
        let Some(x) = h.get(pos..pos + 2) else {
            return Ok(None);
        };
        pos += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
        if pos > h.len() {
            return Ok(None);
        }
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            match memchr::memchr(0, &h[pos..]) {
                Some(z) => pos += z + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
        if pos > h.len() {
            return Ok(None);
        }
    }
    Ok(Some(pos))
}

/// A zlib header: CM 8, window ≤ 32K, check bits valid.
fn is_zlib(b0: u8, b1: u8) -> bool {
    b0 & 0x0f == 8 && b0 >> 4 <= 7 && (u16::from(b0) << 8 | u16::from(b1)) % 31 == 0
}

impl ContentDecoder {
    /// A chain of `layers` decoders whose summed output stops at `limit` bytes.
    pub fn new(layers: usize, limit: u64) -> Self {
        ContentDecoder {
            layers: (0..layers).map(|_| Layer::new()).collect(),
            scratch: Vec::new(),
            produced: 0,
            limit,
            stopped: false,
            issue: None,
        }
    }

    /// The first problem met, if any.
    pub fn issue(&self) -> Option<DecodeIssue> {
        self.issue
    }

    /// Stops decoding (the consumer wants no more output, or bytes were lost).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Decodes `input`, handing decoded bytes to `out`. `out` returns `false` when it wants
    /// no more, which stops the chain.
    pub fn push(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8]) -> bool) {
        if self.stopped || input.is_empty() {
            return;
        }
        if self.scratch.is_empty() {
            self.scratch = take_scratch(SCRATCH * self.layers.len().max(1));
        }
        let mut ctx = Ctx {
            produced: &mut self.produced,
            limit: self.limit,
            issue: &mut self.issue,
            stop: false,
        };
        run(&mut self.layers, &mut self.scratch, input, &mut ctx, out);
        if ctx.stop {
            self.stopped = true;
        }
    }
}

/// Ends a layer: further input is ignored, and its inflate state goes back to the spares.
fn retire(layer: &mut Layer) {
    if let State::Inflate(d) = std::mem::replace(&mut layer.state, State::Done) {
        give_back(|s| {
            if s.inflaters.len() < SPARE_MAX {
                s.inflaters.push(d);
            }
        });
    }
}

/// Hands something to this thread's spares. During thread teardown the pool may be gone:
/// what was given is then simply freed.
fn give_back(f: impl FnOnce(&mut Spare)) {
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            f(&mut s);
        }
    });
}

impl Drop for ContentDecoder {
    fn drop(&mut self) {
        for l in &mut self.layers {
            retire(l);
        }
        let scratch = std::mem::take(&mut self.scratch);
        if !scratch.is_empty() {
            give_back(|s| {
                if s.scratch.len() < SPARE_MAX {
                    s.scratch.push(scratch);
                }
            });
        }
    }
}

struct Ctx<'a> {
    produced: &'a mut u64,
    limit: u64,
    issue: &'a mut Option<DecodeIssue>,
    stop: bool,
}

impl Ctx<'_> {
    fn note(&mut self, i: DecodeIssue) {
        if self.issue.is_none() || i == DecodeIssue::Bomb {
            *self.issue = Some(i);
        }
    }
}

/// Feeds `input` through `layers[0]` and its output through the rest.
fn run(
    layers: &mut [Layer],
    scratch: &mut [u8],
    input: &[u8],
    ctx: &mut Ctx<'_>,
    out: &mut dyn FnMut(&[u8]) -> bool,
) {
    let Some((layer, rest)) = layers.split_first_mut() else {
        if !out(input) {
            ctx.stop = true;
        }
        return;
    };
    let (mine, rest_scratch) = scratch.split_at_mut(SCRATCH.min(scratch.len()));
    let mut emit = |data: &[u8], ctx: &mut Ctx<'_>| -> bool {
        run(rest, rest_scratch, data, ctx, out);
        !ctx.stop
    };
    step(layer, mine, input, ctx, &mut emit);
}

fn step(
    layer: &mut Layer,
    scratch: &mut [u8],
    input: &[u8],
    ctx: &mut Ctx<'_>,
    emit: &mut dyn FnMut(&[u8], &mut Ctx<'_>) -> bool,
) {
    if !layer.produced && !layer.probe_overflow {
        if layer.probe.len() + input.len() <= PROBE_MAX {
            layer.probe.extend_from_slice(input);
        } else {
            layer.probe_overflow = true;
            layer.probe = Vec::new();
        }
    }
    match &layer.state {
        State::Done => {}
        State::Pass => {
            emit(input, ctx);
        }
        State::Inflate(_) => inflate(layer, scratch, input, ctx, emit),
        State::Sniff | State::GzipHeader => {
            // Everything seen so far is in the probe (unless it overflowed).
            let seen: Vec<u8> = if layer.probe_overflow {
                input.to_vec()
            } else {
                layer.probe.clone()
            };
            if seen.len() < 2 {
                return;
            }
            let mut start = 0;
            let mut zlib = false;
            if seen[0] == 0x1f && seen[1] == 0x8b {
                match gzip_header_len(&seen) {
                    Ok(None) if seen.len() < GZIP_HEADER_MAX && !layer.probe_overflow => {
                        layer.state = State::GzipHeader;
                        return;
                    }
                    Ok(Some(n)) => start = n,
                    _ => return passthrough(layer, ctx, emit),
                }
            } else {
                zlib = is_zlib(seen[0], seen[1]);
            }
            layer.state = State::Inflate(take_inflater(zlib));
            inflate(layer, scratch, &seen[start..], ctx, emit);
        }
    }
}

/// Switches a layer that failed before producing anything to pass-through, replaying what
/// it was given.
fn passthrough(
    layer: &mut Layer,
    ctx: &mut Ctx<'_>,
    emit: &mut dyn FnMut(&[u8], &mut Ctx<'_>) -> bool,
) {
    ctx.note(DecodeIssue::Failed);
    if layer.probe_overflow {
        retire(layer);
        return;
    }
    retire(layer);
    layer.state = State::Pass;
    let probe = std::mem::take(&mut layer.probe);
    emit(&probe, ctx);
}

fn inflate(
    layer: &mut Layer,
    scratch: &mut [u8],
    mut input: &[u8],
    ctx: &mut Ctx<'_>,
    emit: &mut dyn FnMut(&[u8], &mut Ctx<'_>) -> bool,
) {
    loop {
        let State::Inflate(d) = &mut layer.state else {
            return;
        };
        let (in0, out0) = (d.total_in(), d.total_out());
        let res = d.decompress(input, scratch, FlushDecompress::None);
        let used = usize::try_from(d.total_in() - in0)
            .unwrap_or(input.len())
            .min(input.len());
        let made = usize::try_from(d.total_out() - out0)
            .unwrap_or(0)
            .min(scratch.len());
        input = &input[used..];
        if made > 0 {
            if !layer.produced {
                layer.produced = true;
                layer.probe = Vec::new();
            }
            let room = ctx.limit.saturating_sub(*ctx.produced);
            let take = made.min(usize::try_from(room).unwrap_or(usize::MAX));
            *ctx.produced = ctx.produced.saturating_add(take as u64);
            let go_on = emit(&scratch[..take], ctx);
            if take < made {
                ctx.note(DecodeIssue::Bomb);
                ctx.stop = true;
                retire(layer);
                return;
            }
            if !go_on {
                retire(layer);
                return;
            }
        }
        match res {
            Ok(Status::StreamEnd) => {
                retire(layer);
                return;
            }
            Ok(_) => {
                if input.is_empty() && made < scratch.len() {
                    return;
                }
                if used == 0 && made == 0 {
                    return;
                }
            }
            Err(_) => {
                if layer.produced {
                    ctx.note(DecodeIssue::Failed);
                    retire(layer);
                } else {
                    passthrough(layer, ctx, emit);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn raw(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(
        layers: usize,
        limit: u64,
        input: &[u8],
        step: usize,
    ) -> (Vec<u8>, Option<DecodeIssue>) {
        let mut d = ContentDecoder::new(layers, limit);
        let mut got = Vec::new();
        for c in input.chunks(step.max(1)) {
            d.push(c, &mut |b| {
                got.extend_from_slice(b);
                true
            });
        }
        (got, d.issue())
    }

    #[test]
    fn formats_layers_and_splits() {
        let text = b"hello hello hello compressed world".repeat(20);
        for enc in [
            gzip(&text),
            zlib(&text),
            raw(&text),
            gzip(&zlib(&text)),
            raw(&gzip(&text)),
        ] {
            let layers = if enc == gzip(&zlib(&text)) || enc == raw(&gzip(&text)) {
                2
            } else {
                1
            };
            for step in [1, 3, 7, 1000] {
                assert_eq!(decode(layers, 1 << 20, &enc, step).0, text, "step {step}");
            }
        }
    }

    #[test]
    fn plain_bodies_pass_through() {
        let text = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
        for step in [1, 5, 100] {
            let (got, issue) = decode(2, 1 << 20, text, step);
            assert_eq!(got, text);
            assert_eq!(issue, Some(DecodeIssue::Failed));
        }
        // One real layer, one declared but absent: the absent one passes through.
        assert_eq!(decode(2, 1 << 20, &gzip(text), 4).0, text);
    }

    #[test]
    fn odd_gzip_headers() {
        let text = b"some text to compress, some text to compress";
        let mut g = gzip(text);
        g[3] = 0x80; // reserved flag bit
        let trail = g.len() - 8;
        g.truncate(trail); // no CRC/ISIZE
        assert_eq!(decode(1, 1 << 20, &g, 3).0, text);
        let mut g = gzip(text);
        g[3] = 0x08 | 0x10 | 0x04 | 0x02;
        let mut with = g[..10].to_vec();
        with.extend_from_slice(&[3, 0, b'a', b'b', b'c', b'n', 0, b'c', 0, 0xaa, 0xbb]);
        with.extend_from_slice(&g[10..]);
        assert_eq!(decode(1, 1 << 20, &with, 2).0, text);
    }

    #[test]
    fn bomb_is_bounded() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = gzip(&gzip(&zeros));
        let (got, issue) = decode(2, 1 << 20, &bomb, 4096);
        assert!(got.len() <= 1 << 20);
        assert_eq!(issue, Some(DecodeIssue::Bomb));
    }
}

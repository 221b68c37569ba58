//! Transaction rules: programs that read an app-layer buffer (`http.uri`, `file.data`, …) are
//! run per app-layer transaction, not per packet.
//!
//! - Each such program has a [`Side`]: the direction whose data completes what it reads.
//!   A rule that reads a response buffer waits for the response (request buffers of the same
//!   transaction are still there), as Suricata inspects a rule at the progress its buffers
//!   need.
//! - One prefilter per buffer (see [`TxIndex`]) over the programs whose fast pattern lives in
//!   that buffer; a buffer is scanned only in its new bytes (plus an overlap the length of the
//!   longest pattern), and a program that became a candidate stays one for the rest of its
//!   transaction ([`TxDetect::sticky`]), so a rule whose pattern arrived in an earlier packet
//!   still runs when the rest of its buffer arrives.
//! - A program alerts at most once per transaction ([`TxDetect::fired`]).

use crate::prefilter::{app_pattern_of, Class, Prefilter, Scratch, Strategy};
use crate::vm::CompiledProgram;
use verdict_compiler::bytecode::Program;
use verdict_compiler::caps::EngineCaps;
use verdict_compiler::ir::{AppBuffer, AppProto, Buffer};

/// The direction whose data a transaction rule waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Request data (client to server).
    ToServer,
    /// Response data (server to client).
    ToClient,
    /// Either: buffers that exist in both directions (headers, file data) read the
    /// direction of the packet being inspected.
    Either,
}

impl Side {
    /// True if a progress in this direction runs the rule.
    pub fn runs_on(self, to_server: bool) -> bool {
        match self {
            Side::ToServer => to_server,
            Side::ToClient => !to_server,
            Side::Either => true,
        }
    }
}

/// Which side of a transaction fills a buffer (`None`: both have one — HTTP headers, file
/// data, the cookie (`Set-Cookie` in a response), DNS question names, the TLS random and
/// ALPN of each hello).
pub fn buffer_side(b: Buffer) -> Option<Side> {
    b.tx_side()
        .map(|ts| if ts { Side::ToServer } else { Side::ToClient })
}

/// The side of a program: a response buffer (or a predicate on the server's certificate)
/// makes it wait for the response; else a request buffer for the request; else its `flow`
/// direction decides.
pub fn program_side(p: &Program, cp: &CompiledProgram) -> Side {
    // A `=>` rule's two-sided buffer reads the side it named.
    let sides: Vec<Side> = cp
        .segments
        .iter()
        .filter_map(|s| match s.dir {
            Some(true) => Some(Side::ToServer),
            Some(false) => Some(Side::ToClient),
            None => buffer_side(s.buffer),
        })
        .chain(
            cp.tx_preds
                .iter()
                .filter(|t| t.to_client_only())
                .map(|_| Side::ToClient),
        )
        .chain(cp.files.iter().filter_map(|f| match f.side() {
            Some(true) => Some(Side::ToServer),
            Some(false) => Some(Side::ToClient),
            None => None,
        }))
        .collect();
    if sides.contains(&Side::ToClient) {
        Side::ToClient
    } else if sides.contains(&Side::ToServer) {
        Side::ToServer
    } else {
        match p.flow.to_server {
            Some(true) => Side::ToServer,
            Some(false) => Side::ToClient,
            None => Side::Either,
        }
    }
}

/// The app protocol a program needs the flow to speak: its header's, else its buffers' or
/// its transaction predicates'.
pub fn program_app(p: &Program, cp: &CompiledProgram) -> Option<AppProto> {
    p.app.or_else(|| {
        cp.segments
            .iter()
            .find_map(|s| EngineCaps::buffer_proto(s.buffer))
            .or_else(|| cp.tx_preds.first().map(|t| t.app()))
            .or_else(|| (!cp.files.is_empty()).then_some(AppProto::Http))
    })
}

/// Buffers that often hold the very same bytes, whose prefilters then run as one: an HTTP
/// body and the `file.data` of a body that is one file (not multipart), and a normalised
/// buffer and its raw form when normalising changed nothing (most URIs, hosts and heads).
const ALIASES: [(Buffer, Buffer); 6] = [
    (Buffer::FileData, Buffer::App(AppBuffer::HttpServerBody)),
    (Buffer::FileData, Buffer::App(AppBuffer::HttpClientBody)),
    (
        Buffer::App(AppBuffer::HttpUri),
        Buffer::App(AppBuffer::HttpRawUri),
    ),
    (
        Buffer::App(AppBuffer::HttpHost),
        Buffer::App(AppBuffer::HttpRawHost),
    ),
    (
        Buffer::App(AppBuffer::HttpHeader),
        Buffer::App(AppBuffer::HttpRawHeader),
    ),
    (
        Buffer::App(AppBuffer::HttpCookie),
        Buffer::App(AppBuffer::HttpRawCookie),
    ),
];

/// Transaction programs and their per-buffer prefilters.
#[derive(Debug, Default)]
pub struct TxIndex {
    /// Per buffer: its prefilter, and the longest pattern in it (the rescan overlap).
    pub(crate) by_buffer: Vec<(Buffer, Prefilter, usize)>,
    /// Per pair of [`ALIASES`] that both have patterns: the prefilter over both buffers'
    /// patterns, for a transaction where they are the same bytes.
    pub(crate) aliases: Vec<(Buffer, Buffer, Prefilter, usize)>,
    /// Transaction programs without a usable fast pattern: candidates on every progress.
    pub(crate) no_pattern: Vec<u32>,
    /// Per program: its side (meaningful for transaction programs only).
    pub(crate) side: Vec<Side>,
    /// Per program: true if it is a transaction program.
    pub(crate) is_tx: Vec<bool>,
    /// Per program: true if it tests an `app-layer-event`. Such a program also runs on
    /// packets that bring its transaction no progress, because the event may have been
    /// raised by the other direction (a to_server rule on a response anomaly, as
    /// Suricata inspects a transaction's events from either side).
    pub(crate) has_event: Vec<bool>,
    /// `is_tx` has a true entry: asked on every packet, so not a scan of all programs.
    any_tx: bool,
    /// `has_event` has a true entry (likewise).
    any_event: bool,
}

impl TxIndex {
    /// Builds the index over the programs for which `is_tx` holds.
    pub fn build(
        programs: &[Program],
        compiled: &[CompiledProgram],
        order: &[u32],
        strategy: Strategy,
    ) -> Result<TxIndex, String> {
        let is_tx: Vec<bool> = compiled.iter().map(|c| !c.packet_only()).collect();
        let has_event: Vec<bool> = compiled
            .iter()
            .map(|c| {
                c.tx_preds
                    .iter()
                    .any(|t| matches!(t, verdict_compiler::ir::TxPred::AppEvent(_)))
            })
            .collect();
        let side = programs
            .iter()
            .zip(compiled)
            .map(|(p, c)| program_side(p, c))
            .collect();
        let pats: Vec<Option<(Buffer, crate::prefilter::Pattern)>> = programs
            .iter()
            .zip(&is_tx)
            .map(|(p, tx)| if *tx { app_pattern_of(p) } else { None })
            .collect();
        let mut buffers: Vec<Buffer> = Vec::new();
        for (b, _) in pats.iter().flatten() {
            if !buffers.contains(b) {
                buffers.push(*b);
            }
        }
        // The prefilter over the patterns of the buffers `of` accepts, and its longest pattern.
        let build = |of: &dyn Fn(Buffer) -> bool| -> Result<(Prefilter, usize), String> {
            let mine: Vec<Option<crate::prefilter::Pattern>> = pats
                .iter()
                .map(|p| {
                    p.as_ref()
                        .filter(|(pb, _)| of(*pb))
                        .map(|(_, pat)| pat.clone())
                })
                .collect();
            let longest = mine
                .iter()
                .flatten()
                .map(|p| p.bytes.len())
                .max()
                .unwrap_or(0);
            let include = |i: usize| mine[i].is_some();
            let pf = Prefilter::build(programs, order.to_vec(), strategy, mine.clone(), include)?;
            Ok((pf, longest))
        };
        let mut aliases = Vec::new();
        for (a, b) in ALIASES {
            if buffers.contains(&a) && buffers.contains(&b) {
                let (pf, longest) = build(&|x| x == a || x == b)?;
                aliases.push((a, b, pf, longest));
            }
        }
        let mut by_buffer = Vec::new();
        for b in buffers {
            let (pf, longest) = build(&|x| x == b)?;
            by_buffer.push((b, pf, longest));
        }
        let no_pattern = (0..programs.len() as u32)
            .filter(|&i| is_tx[i as usize] && pats[i as usize].is_none())
            .collect();
        Ok(TxIndex {
            by_buffer,
            aliases,
            no_pattern,
            side,
            any_tx: is_tx.iter().any(|t| *t),
            any_event: has_event.iter().any(|t| *t),
            is_tx,
            has_event,
        })
    }

    /// True if program `p` runs per transaction.
    pub fn is_tx(&self, p: usize) -> bool {
        self.is_tx.get(p).copied().unwrap_or(false)
    }

    /// True if there is any transaction program.
    pub fn any(&self) -> bool {
        self.any_tx
    }

    /// True if some program tests an `app-layer-event`.
    pub fn any_event(&self) -> bool {
        self.any_event
    }
}

/// Detection state of one transaction.
#[derive(Debug, Default, Clone)]
pub struct TxDetect {
    /// The transaction's id in its parser.
    pub tx_id: u64,
    /// Programs that matched on this transaction (each alerts once).
    pub fired: Vec<u32>,
    /// Programs that became candidates (their pattern was seen in one of the buffers).
    pub sticky: Vec<u32>,
    /// Per buffer and direction: how many bytes the prefilter has scanned. A two-sided
    /// buffer (HTTP headers, the TLS random) holds other bytes in each direction.
    scanned: Vec<((Buffer, bool), usize)>,
}

impl TxDetect {
    /// Fresh state for transaction `tx_id`.
    pub fn new(tx_id: u64) -> TxDetect {
        TxDetect {
            tx_id,
            ..Default::default()
        }
    }

    /// Scans the unscanned part of every available buffer, as seen from direction
    /// `to_server`, with its prefilter and adds the hits to [`TxDetect::sticky`]; `ports`
    /// is the packet's transport class and ports, which select the rules by header.
    pub fn prefilter(
        &mut self,
        idx: &TxIndex,
        src: &dyn crate::vm::BufferSource,
        to_server: bool,
        ports: (Class, u16, u16),
        scratch: &mut Scratch,
    ) {
        // Buffers that are the same bytes (an HTTP body and its `file.data`, a URI that
        // needed no normalising and its raw form) are scanned once, by the union of their
        // prefilters.
        let mut handled = 0u32;
        for (i, (a, b, pf, longest)) in idx.aliases.iter().enumerate() {
            let (Some(x), Some(y)) = (src.buffer(*a), src.buffer(*b)) else {
                continue;
            };
            let same = std::ptr::eq(x, y) || x == y;
            if !same || *self.progress(*a, to_server) != *self.progress(*b, to_server) {
                continue;
            }
            self.scan_new(*a, to_server, x, pf, *longest, ports, scratch);
            *self.progress(*b, to_server) = x.len();
            handled |= 1 << i;
        }
        let handled = |b: &Buffer| {
            idx.aliases
                .iter()
                .enumerate()
                .any(|(i, (x, y, ..))| handled & (1 << i) != 0 && (x == b || y == b))
        };
        for (b, pf, longest) in &idx.by_buffer {
            // Further instances of a multi-buffer (more DNS names, certificates) are small
            // and complete when they appear: scanned whole each time.
            for i in 1..crate::vm::MAX_BUFFER_INSTANCES {
                let Some(bytes) = src.buffer_n(*b, i) else {
                    break;
                };
                let cands = pf.candidates(ports.0, None, ports.1, ports.2, bytes, scratch);
                add_sticky(&mut self.sticky, cands);
            }
            if handled(b) {
                continue;
            }
            if let Some(bytes) = src.buffer(*b) {
                self.scan_new(*b, to_server, bytes, pf, *longest, ports, scratch);
            }
        }
    }

    /// How many bytes of buffer `b` the prefilter has scanned from direction `to_server`.
    fn progress(&mut self, b: Buffer, to_server: bool) -> &mut usize {
        let key = (b, to_server);
        let at = match self.scanned.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.scanned.push((key, 0));
                self.scanned.len() - 1
            }
        };
        &mut self.scanned[at].1
    }

    /// Scans what buffer `b` holds beyond its scanned part (and the tail of that part a
    /// pattern may straddle).
    #[allow(clippy::too_many_arguments)]
    fn scan_new(
        &mut self,
        b: Buffer,
        to_server: bool,
        bytes: &[u8],
        pf: &Prefilter,
        longest: usize,
        ports: (Class, u16, u16),
        scratch: &mut Scratch,
    ) {
        let done = self.progress(b, to_server);
        if bytes.len() <= *done && *done != 0 {
            return;
        }
        let from = done
            .saturating_sub(longest.saturating_sub(1))
            .min(bytes.len());
        *done = bytes.len();
        let cands = pf.candidates(ports.0, None, ports.1, ports.2, &bytes[from..], scratch);
        add_sticky(&mut self.sticky, cands);
    }
}

/// Adds the candidates not yet in `sticky`.
fn add_sticky(sticky: &mut Vec<u32>, cands: &[u32]) {
    for &c in cands {
        if !sticky.contains(&c) {
            sticky.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::AppBuffer;

    #[test]
    fn two_direction_buffers_have_no_fixed_side() {
        assert_eq!(
            buffer_side(Buffer::App(AppBuffer::HttpUri)),
            Some(Side::ToServer)
        );
        assert_eq!(
            buffer_side(Buffer::App(AppBuffer::HttpStatCode)),
            Some(Side::ToClient)
        );
        for b in [
            AppBuffer::HttpCookie,
            AppBuffer::HttpRawCookie,
            AppBuffer::HttpHeader,
        ] {
            assert_eq!(buffer_side(Buffer::App(b)), None, "{b:?}");
        }
        assert_eq!(buffer_side(Buffer::FileData), None);
    }
}

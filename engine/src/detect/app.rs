//! The stream and app-layer passes of one packet's inspection, after the packet pass:
//!
//! - **Stream pass** ([`Scan::match_stream`]): packet programs (`tcp` rules on the payload)
//!   that did not match the packet alone run over the reassembled window — the bytes this
//!   packet completed plus up to `retain` earlier ones — so a content split across segments
//!   (or delivered out of order) matches on the packet that completes it. Programs anchored
//!   at absolute offsets run there only while the window still starts at the stream's first
//!   byte, where their offsets mean what they say.
//! - **Transaction pass** ([`Scan::match_txs`]): for each transaction the packet advanced,
//!   the transaction programs whose side this direction is, from their per-buffer
//!   prefilters; each alerts once per transaction.
//! - **fileinfo** ([`log_files`]): a response body that completed is logged as a file.

use super::memo::StreamHits;
use super::tx::TxDetect;
use super::{Counters, Ctx, Detector, Scan, Stream};
use crate::app::dns::DnsMessage;
use crate::app::http;
use crate::app::sources::MsgBuffers;
use crate::detect::threshold::ThresholdState;
use crate::flow::Flow;
use crate::output::{AppInfo, Event, FileInfoEvent, HttpInfo};
use crate::prefilter::Class;
use crate::session::{DnsBuffers, HttpBuffers, Session, Step, TlsBuffers};
use crate::vm::BufferSource;
use crate::wire::Packet;
use crossbeam_channel::Sender;
use std::sync::Arc;
use verdict_compiler::ir::AppProto;

impl Scan {
    /// The stream pass (see the module docs).
    pub(super) fn match_stream(
        &mut self,
        pass: &mut Pass<'_, '_>,
        sess: &mut Session,
        step: &Step,
        cands: &mut Vec<u32>,
    ) {
        let dir = usize::from(!pass.ctx.pflow.to_server);
        let mut memo = std::mem::take(&mut sess.stream_hits[dir]);
        self.stream_window(pass, sess, step, cands, &mut memo);
        sess.stream_hits[dir] = memo;
    }

    fn stream_window(
        &mut self,
        pass: &mut Pass<'_, '_>,
        sess: &Session,
        step: &Step,
        cands: &mut Vec<u32>,
        memo: &mut StreamHits,
    ) {
        let (det, ctx, parsed) = (pass.det, pass.ctx, pass.parsed);
        let new = &step.progress.new;
        if new.is_empty() {
            return;
        }
        let half = sess.half(ctx.pflow.to_server);
        let (mut win, mut ws) = (half.window(), half.window_start());
        let inline = det.cfg.inline;
        if inline {
            // Suricata's inline raw inspection: a chunk of the stream around the packet,
            // whatever was inspected before.
            let before = inline_lookback(parsed.payload().len());
            let from = new.start.saturating_sub(before as u64).max(ws);
            let skip = usize::try_from(from - ws).unwrap_or(usize::MAX);
            win = win.get(skip..).unwrap_or_default();
            ws = from;
        }
        let Ok(boundary) = u32::try_from(new.start.saturating_sub(ws)) else {
            memo.forget();
            return;
        };
        let b = boundary as usize;
        // In order, the window ends with exactly the bytes the packet pass scanned, whose
        // candidates `cands` still holds and whose pattern hits the scratch still has.
        let reuse = !pass.scanned.is_empty() && win.get(b..) == Some(pass.scanned);
        self.memo_buf.clear();
        if reuse {
            let at = new.start;
            let hits = self.pf.pattern_hits();
            self.memo_buf
                .extend(hits.map(|(p, off)| (p, at.saturating_add(u64::from(off)))));
        }
        let end = ws.saturating_add(win.len() as u64);
        // Nothing to gain when the window is exactly this packet's payload: the packet pass
        // saw the same bytes.
        let plen = parsed.payload().len() as u64;
        if boundary == 0 && new.end - new.start <= plen {
            if reuse {
                memo.restart(ws);
                memo.record(self.memo_buf.iter().copied(), end);
            } else {
                memo.forget();
            }
            return;
        }
        // The bytes before the packet were scanned when they arrived: with the memo
        // vouching for them, only patterns that straddle the boundary need a scan. Without
        // it, the lookback is scanned (bulk TCP: not the 64 KB segment again), or the whole
        // window when the packet's bytes are not its end (out of order, a gap filled).
        let reach = det.prefilter.longest().saturating_sub(1);
        let covered = reuse && memo.covers(ws, new.start);
        let (from, to) = if covered {
            (
                b.saturating_sub(reach),
                b.saturating_add(reach).min(win.len()),
            )
        } else if reuse {
            (0, b.saturating_add(reach).min(win.len()))
        } else {
            cands.clear();
            (0, win.len())
        };
        let scan = win.get(from..to).unwrap_or_default();
        cands.extend_from_slice(det.prefilter.candidates(
            Class::Tcp,
            Some((ctx.ip.src, ctx.ip.dst)),
            ctx.sport,
            ctx.dport,
            scan,
            &mut self.pf,
        ));
        if covered {
            memo.recall(ws, cands);
        } else {
            memo.restart(ws);
        }
        let at = ws.saturating_add(from as u64);
        let scanned = self.pf.pattern_hits();
        let scanned = scanned.map(|(p, off)| (p, at.saturating_add(u64::from(off))));
        memo.record(scanned.chain(self.memo_buf.iter().copied()), end);
        if reuse {
            cands.sort_unstable_by_key(|p| det.rank[*p as usize]);
            cands.dedup();
        }
        let app_proto = sess.app_proto();
        for &p in cands.iter() {
            let pi = p as usize;
            if det.tx.is_tx(pi)
                || det.app_of[pi].is_some_and(|need| app_proto != Some(need))
                // `no_stream` / `tcp-pkt`: the packet alone, never the reassembled window.
                || det.programs[pi].flow.stream == Some(false)
                || det.compiled[pi].reads_headers()
                || (ws > 0 && !det.compiled[pi].stream_anywhere)
                || self.matched.iter().any(|m| m.prog == p)
            {
                continue;
            }
            self.consider(
                det,
                p,
                ctx,
                parsed,
                pass.flow,
                pass.thresholds,
                pass.counters,
                win,
                None,
                Stream::Window {
                    boundary,
                    reach_new: !inline,
                },
            );
        }
    }
}

/// Suricata's default `stream.reassembly.toserver-chunk-size` / `toclient-chunk-size`.
const INLINE_CHUNK: usize = 2560;

/// How many bytes before an inline packet's data its stream inspection includes: the rest
/// of a chunk, or a third of one for a packet of more than two thirds of a chunk (as
/// Suricata's `StreamReassembleRawInline` sizes it).
fn inline_lookback(payload_len: usize) -> usize {
    if payload_len > INLINE_CHUNK / 3 * 2 {
        INLINE_CHUNK / 3
    } else {
        INLINE_CHUNK - payload_len
    }
}

impl Scan {
    /// The transaction pass (see the module docs): the HTTP transactions, the TLS handshake
    /// and the DNS messages this packet advanced.
    pub(super) fn match_txs(
        &mut self,
        pass: &mut Pass<'_, '_>,
        sess: &mut Session,
        step: &Step,
        cands: &mut Vec<u32>,
    ) {
        if !pass.det.tx.any() {
            return;
        }
        let to_server = pass.ctx.pflow.to_server;
        let ids = step.http.tx_ids();
        for &id in &ids {
            let Some((tx, txd)) = sess.tx_and_detect(id) else {
                continue;
            };
            let src = HttpBuffers { tx, to_server };
            self.run_tx(pass, AppProto::Http, &src, txd, cands, false, &mut || {
                AppInfo::Http(http_info(tx))
            });
        }
        let events = pass.det.tx.any_event();
        if events {
            // Event programs also run on transactions this packet did not advance: the
            // event may have come from the other direction.
            let kept = sess
                .http()
                .and_then(|c| Some((c.txs().next()?.id(), c.txs().last()?.id())));
            for id in kept.into_iter().flat_map(|(lo, hi)| lo..=hi) {
                if ids.contains(&id) {
                    continue;
                }
                let Some((tx, txd)) = sess.tx_and_detect(id) else {
                    continue;
                };
                if tx.events().is_empty() {
                    continue;
                }
                let src = HttpBuffers { tx, to_server };
                self.run_tx(pass, AppProto::Http, &src, txd, cands, true, &mut || {
                    AppInfo::Http(http_info(tx))
                });
            }
        }
        let tls_events = events && sess.tls_events();
        if !step.tls.is_empty() || tls_events {
            if let Some((conn, txd)) = sess.tls_detect() {
                let src = TlsBuffers { conn, to_server };
                let only = step.tls.is_empty();
                self.run_tx(pass, AppProto::Tls, &src, txd, cands, only, &mut || {
                    AppInfo::Tls(conn.eve())
                });
            }
        }
        for msg in &step.dns {
            self.match_dns(pass, msg, cands);
        }
        for msg in &step.sip {
            self.match_sip(pass, msg, cands);
        }
        for msg in &step.krb5 {
            self.match_msg(pass, MsgBuffers::Krb5(msg), cands);
        }
        self.match_line_protos(pass, sess, step, cands);
        sess.prune_txd();
    }

    /// The transaction pass over SSH (the connection), DCE/RPC (each request), FTP (each command with its
    /// replies) and SMTP (each mail transaction) progress of this packet.
    fn match_line_protos(
        &mut self,
        pass: &mut Pass<'_, '_>,
        sess: &mut Session,
        step: &Step,
        cands: &mut Vec<u32>,
    ) {
        use crate::app::sources::{
            ftp_eve, smtp_eve, ssh_eve, FtpBuffers, SmtpBuffers, SshBuffers,
        };
        let to_server = pass.ctx.pflow.to_server;
        if !step.ssh.is_empty() {
            if let Some((conn, txd)) = sess.ssh_detect() {
                let src = SshBuffers { conn, to_server };
                self.run_tx(pass, AppProto::Ssh, &src, txd, cands, false, &mut || {
                    AppInfo::Object {
                        proto: "ssh",
                        object: ssh_eve(conn),
                    }
                });
            }
        }
        let client = if to_server {
            pass.ctx.ip.src
        } else {
            pass.ctx.ip.dst
        };
        let client_v4 = match client {
            std::net::IpAddr::V4(a) => Some(a.octets()),
            std::net::IpAddr::V6(_) => None,
        };
        for &id in &step.ftp {
            if let Some((tx, txd)) = sess.ftp_tx_and_detect(id) {
                let src = FtpBuffers { tx, client_v4 };
                self.run_tx(pass, AppProto::Ftp, &src, txd, cands, false, &mut || {
                    AppInfo::Object {
                        proto: "ftp",
                        object: ftp_eve(tx),
                    }
                });
            }
        }
        for &id in &step.dcerpc {
            if let Some((tx, txd)) = sess.dcerpc_tx_and_detect(id) {
                self.match_dce(pass, tx, txd, cands);
            }
        }
        for &id in &step.smtp {
            if let Some((conn, txd)) = sess.smtp_tx_and_detect(id) {
                let src = SmtpBuffers { conn, id };
                self.run_tx(pass, AppProto::Smtp, &src, txd, cands, false, &mut || {
                    AppInfo::Object {
                        proto: "smtp",
                        object: smtp_eve(conn, id),
                    }
                });
            }
        }
    }

    /// The transaction pass over one DCE/RPC request (of a TCP association, or a UDP
    /// datagram).
    pub(super) fn match_dce(
        &mut self,
        pass: &mut Pass<'_, '_>,
        tx: &crate::app::dcerpc::DceTx,
        txd: &mut TxDetect,
        cands: &mut Vec<u32>,
    ) {
        use crate::app::sources::{dcerpc_eve, DceBuffers};
        let src = DceBuffers { tx };
        self.run_tx(pass, AppProto::Dcerpc, &src, txd, cands, false, &mut || {
            AppInfo::Object {
                proto: "dcerpc",
                object: dcerpc_eve(tx),
            }
        });
    }

    /// The transaction pass over one DNS message (over UDP, or framed out of a TCP stream):
    /// each message is a transaction of its own.
    pub(super) fn match_dns(
        &mut self,
        pass: &mut Pass<'_, '_>,
        msg: &DnsMessage,
        cands: &mut Vec<u32>,
    ) {
        let src = DnsBuffers {
            msg,
            to_server: pass.ctx.pflow.to_server,
        };
        self.run_msg(pass, AppProto::Dns, &src, cands, &mut || {
            AppInfo::Dns(dns_info(msg))
        });
    }

    /// The transaction pass over one SNMP or Kerberos message (a UDP datagram, or a
    /// Kerberos record framed out of a TCP stream).
    pub(super) fn match_msg(
        &mut self,
        pass: &mut Pass<'_, '_>,
        src: MsgBuffers<'_>,
        cands: &mut Vec<u32>,
    ) {
        self.run_msg(pass, src.app(), &src, cands, &mut || {
            let (proto, object) = src.eve();
            AppInfo::Object { proto, object }
        });
    }

    /// Runs the transaction programs of `app` on one message that is a transaction of its
    /// own, with fresh detection state.
    fn run_msg(
        &mut self,
        pass: &mut Pass<'_, '_>,
        app: AppProto,
        src: &dyn BufferSource,
        cands: &mut Vec<u32>,
        info: &mut dyn FnMut() -> AppInfo,
    ) {
        if !pass.det.tx.any() {
            return;
        }
        let mut txd = TxDetect::new(0);
        self.run_tx(pass, app, src, &mut txd, cands, false, info);
    }

    /// The transaction pass over one SIP message (a UDP datagram, or framed out of a TCP
    /// stream): each message is a transaction of its own, as a DNS message.
    pub(super) fn match_sip(
        &mut self,
        pass: &mut Pass<'_, '_>,
        msg: &crate::app::sip::SipMessage,
        cands: &mut Vec<u32>,
    ) {
        use crate::app::sources::{sip_eve, SipBuffers};
        let src = SipBuffers { msg };
        self.run_msg(pass, AppProto::Sip, &src, cands, &mut || AppInfo::Object {
            proto: "sip",
            object: sip_eve(msg),
        });
    }

    /// Runs the transaction programs of `app` whose side this packet's direction is on one
    /// transaction: the per-buffer prefilters first, then each candidate once per
    /// transaction; a match carries the transaction's EVE object. `events_only`: the
    /// packet did not advance the transaction, so only `app-layer-event` programs run.
    #[allow(clippy::too_many_arguments)]
    fn run_tx(
        &mut self,
        pass: &mut Pass<'_, '_>,
        app: AppProto,
        src: &dyn BufferSource,
        txd: &mut TxDetect,
        cands: &mut Vec<u32>,
        events_only: bool,
        info: &mut dyn FnMut() -> AppInfo,
    ) {
        let (det, ctx) = (pass.det, pass.ctx);
        let to_server = ctx.pflow.to_server;
        txd.prefilter(
            &det.tx,
            src,
            to_server,
            // The rules' class is the packet's: a DCE/RPC or DNS rule written `alert udp`
            // reads its transactions from UDP datagrams.
            (
                crate::prefilter::Class::of_proto(ctx.ip.proto),
                ctx.sport,
                ctx.dport,
            ),
            &mut self.pf,
        );
        cands.clear();
        cands.extend(
            txd.sticky
                .iter()
                .chain(&det.tx.no_pattern)
                .copied()
                .filter(|p| {
                    let pi = *p as usize;
                    det.tx.side[pi].runs_on(to_server)
                        && det.app_of[pi] == Some(app)
                        && !txd.fired.contains(p)
                        && (!events_only || det.tx.has_event[pi])
                }),
        );
        cands.sort_unstable_by_key(|p| det.rank[*p as usize]);
        cands.dedup();
        let payload = pass.parsed.payload();
        let mut idx: Option<u16> = None;
        for &p in cands.iter() {
            let matched = self.consider(
                det,
                p,
                ctx,
                pass.parsed,
                pass.flow,
                pass.thresholds,
                pass.counters,
                payload,
                Some(src),
                Stream::Packet,
            );
            if matched {
                txd.fired.push(p);
                let i = *idx.get_or_insert_with(|| {
                    self.apps.push(Arc::new(info()));
                    u16::try_from(self.apps.len() - 1).unwrap_or(u16::MAX)
                });
                if let Some(m) = self.matched.last_mut() {
                    m.app = Some(i);
                }
            }
        }
    }
}

/// What the stream and transaction passes need of the packet's inspection, borrowed
/// together once by `Worker::inspect`.
pub(super) struct Pass<'a, 'p> {
    pub(super) det: &'a Detector,
    pub(super) ctx: &'a Ctx,
    pub(super) parsed: &'a Packet<'p>,
    pub(super) flow: &'a mut Flow,
    pub(super) thresholds: &'a mut ThresholdState,
    pub(super) counters: &'a Counters,
    /// The payload the packet pass ran the prefilter over (empty if it scanned none); its
    /// candidates are what the pass left in `cands`.
    pub(super) scanned: &'a [u8],
}

/// What EVE shows of a DNS message (Suricata's v2 object: the query, or the answer).
pub fn dns_info(msg: &DnsMessage) -> crate::app::dns::DnsInfo {
    if msg.is_response() {
        crate::app::dns::DnsInfo::answer(msg)
    } else {
        crate::app::dns::DnsInfo::query(msg, 0, 0)
            .unwrap_or_else(|| crate::app::dns::DnsInfo::answer(msg))
    }
}

/// What EVE shows of a transaction.
pub fn http_info(tx: &http::Tx) -> HttpInfo {
    let s = |b: Option<&[u8]>| b.map(|v| String::from_utf8_lossy(v).into_owned());
    HttpInfo {
        hostname: s(tx.hostname()),
        url: s(tx.url()),
        user_agent: s(tx.user_agent()),
        content_type: s(tx.content_type()),
        method: s(tx.method()),
        protocol: s(tx.protocol()),
        status: tx.status(),
        length: tx.response_len(),
    }
}

/// Writes a `fileinfo` record for every response body this packet completed.
pub(super) fn log_files(
    sess: &mut Session,
    step: &Step,
    ctx: &Ctx,
    meta: &super::PacketMeta,
    flow_id: u64,
    events: &Sender<Event>,
    counters: &Counters,
) {
    for (id, p) in step.http.iter() {
        if p != http::Progress::ResponseComplete || sess.files_logged.contains(&id) {
            continue;
        }
        let Some(tx) = sess.http().and_then(|c| c.tx(id)) else {
            continue;
        };
        let Some(body) = tx.file_data(http::Dir::ToClient) else {
            continue;
        };
        let filename = tx
            .filename()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .unwrap_or_default();
        let ev = FileInfoEvent {
            pkt: Arc::new(ctx.packet_info(meta, flow_id, Vec::new())),
            http: Arc::new(http_info(tx)),
            filename,
            size: body.len() as u64,
            state: if tx.body_truncated(http::Dir::ToClient) {
                "TRUNCATED"
            } else {
                "CLOSED"
            },
            tx_id: id,
        };
        sess.files_logged.push(id);
        if sess.files_logged.len() > 256 {
            sess.files_logged.remove(0);
        }
        super::send(events, counters, Event::FileInfo(Box::new(ev)));
    }
}

impl Session {
    /// The transaction `id` and its detection state (created on first use).
    pub fn tx_and_detect(&mut self, id: u64) -> Option<(&http::Tx, &mut TxDetect)> {
        // Only transactions the parser still has get detection state.
        self.http()?.tx(id)?;
        let pos = match self.txd.iter().position(|t| t.tx_id == id) {
            Some(p) => p,
            None => {
                self.txd.push(TxDetect::new(id));
                self.txd.len() - 1
            }
        };
        let (app, txd) = self.split_detect();
        Some((app?.tx(id)?, &mut txd[pos]))
    }
}

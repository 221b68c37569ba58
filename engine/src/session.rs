//! A TCP flow's session: its two reassembled directions ([`crate::stream`]) and the app-layer
//! parser fed with them ([`crate::app`]), chosen by content, not by port.
//!
//! [`Session::step`] takes one TCP packet of the flow and returns what it completed: the
//! stream range in its direction (inspected with the packet, before its verdict) and the
//! app-layer transactions that progressed. The detection side lives in `detect`; this module
//! only moves bytes.
//!
//! Protocol detection: a direction's first bytes decide, whatever the ports. A request line's
//! method followed by a space (`GET `, `POST `, … and the WebDAV methods), or a response
//! starting with `HTTP/`, make the flow HTTP (HTTP on 8080 is HTTP); a TLS handshake record
//! header (content type 22, version 3.x) makes it TLS (TLS on 80 is not HTTP); a 2-byte
//! length followed by a plausible DNS header makes it DNS over TCP; a DCE/RPC version 5 PDU
//! header that opens an association makes it DCE/RPC. Anything else that is long enough to
//! tell makes it unknown, and the flow is left to packet rules.

use crate::app::dcerpc::{self, DceConn, DceTx};
use crate::app::dns::{self, DnsMessage, DnsTcp};
use crate::app::ftp::{FtpConn, FtpTx};
use crate::app::http::{self, HttpConfig, HttpConn};
use crate::app::krb5::{Krb5Msg, Krb5Tcp};
use crate::app::sip::{SipMessage, SipTcp};
use crate::app::smtp::SmtpConn;
use crate::app::ssh::{SshConn, SshUpdate};
use crate::app::tls::{TlsConfig, TlsConn, TlsUpdate};
use crate::stream::{HalfStream, Progress, SeqNumber, StreamConfig, StreamEvents, StreamMem};
use crate::wire::tcp_flags;
use verdict_compiler::ir::AppProto;

/// HTTP request methods that start a request line (RFC 9110, WebDAV, and the ones libhtp
/// knows), each followed by a space in the stream.
const HTTP_METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"CHECKOUT",
    b"CHECKIN",
    b"REPORT",
    b"MERGE",
    b"MKACTIVITY",
    b"VERSION-CONTROL",
    b"BASELINE-CONTROL",
    b"MKWORKSPACE",
    b"UPDATE",
    b"LABEL",
    b"ACL",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"NOTIFY",
    b"POLL",
    b"BMOVE",
    b"BDELETE",
    b"BPROPFIND",
    b"BPROPPATCH",
];

/// What content says about a direction's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// Not enough bytes yet.
    NeedMore,
    /// The protocol.
    Proto(AppProto),
    /// No parser of ours speaks it.
    Unknown,
}

/// Detects the app protocol from the first bytes one side sent.
pub fn detect(first: &[u8], to_server: bool) -> Detected {
    // SIP first: `OPTIONS`, `NOTIFY` and `SUBSCRIBE` are HTTP methods too, and only the
    // request URI's scheme (`sip:` rather than `/`) tells them apart.
    let sip = crate::app::sip::probe(first, to_server);
    if sip == Some(true) {
        return Detected::Proto(AppProto::Sip);
    }
    let all = [
        detect_http(first, to_server),
        detect_tls(first),
        detect_dns_tcp(first, to_server),
        detect_by_prefix(first, to_server),
        detect_smb(first),
        crate::app::krb5::detect_tcp(first),
        detect_dcerpc(first, to_server),
    ];
    if let Some(p) = all.iter().find_map(|d| match d {
        Detected::Proto(p) => Some(*p),
        _ => None,
    }) {
        if sip.is_none() && p == AppProto::Http {
            return Detected::NeedMore;
        }
        return Detected::Proto(p);
    }
    if sip.is_none() || all.contains(&Detected::NeedMore) {
        Detected::NeedMore
    } else {
        Detected::Unknown
    }
}

/// Protocols recognised by how a side's first bytes start, as Suricata's detection patterns
/// (case-insensitive, at offset 0): (prefix, to_server side, protocol).
const PREFIXES: &[(&[u8], bool, AppProto)] = &[
    (b"SSH-", true, AppProto::Ssh),
    (b"SSH-", false, AppProto::Ssh),
    (b"USER ", true, AppProto::Ftp),
    (b"PASS ", true, AppProto::Ftp),
    (b"PORT ", true, AppProto::Ftp),
    (b"FEAT", true, AppProto::Ftp),
    (b"220 (", false, AppProto::Ftp),
    (b"EHLO", true, AppProto::Smtp),
    (b"HELO", true, AppProto::Smtp),
    (b"QUIT", true, AppProto::Smtp),
];

/// SSH, FTP and SMTP by their first bytes ([`PREFIXES`]).
fn detect_by_prefix(first: &[u8], to_server: bool) -> Detected {
    let mut more = false;
    for &(prefix, side, proto) in PREFIXES {
        if side != to_server {
            continue;
        }
        let n = first.len().min(prefix.len());
        if first[..n].eq_ignore_ascii_case(&prefix[..n]) {
            if n == prefix.len() {
                return Detected::Proto(proto);
            }
            more = true;
        }
    }
    if more {
        Detected::NeedMore
    } else {
        Detected::Unknown
    }
}

/// SMB over a NetBIOS session message: type 0, then an SMB1 (`\xffSMB`), SMB2/3
/// (`\xfeSMB`) or SMB3 transform (`\xfdSMB`) header.
fn detect_smb(first: &[u8]) -> Detected {
    if first.first().is_some_and(|&t| t != 0) {
        return Detected::Unknown;
    }
    match first.get(4..8) {
        Some([0xfd..=0xff, b'S', b'M', b'B']) => Detected::Proto(AppProto::Smb),
        Some(_) => Detected::Unknown,
        None => Detected::NeedMore,
    }
}

/// Connection-oriented DCE/RPC: a version 5.0/5.1 PDU header of a type that opens an
/// association (BIND, ALTER_CONTEXT or REQUEST from the client, BIND_ACK from the server).
fn detect_dcerpc(first: &[u8], to_server: bool) -> Detected {
    match dcerpc::probe_co(first, to_server) {
        Some(true) => Detected::Proto(AppProto::Dcerpc),
        Some(false) => Detected::Unknown,
        None => Detected::NeedMore,
    }
}

/// A TLS record header: handshake (22) with version 3.0–3.4, as every hello starts.
fn detect_tls(first: &[u8]) -> Detected {
    match first {
        [] | [0x16] | [0x16, 0x03] => Detected::NeedMore,
        [0x16, 0x03, minor, ..] if *minor <= 4 => Detected::Proto(AppProto::Tls),
        _ => Detected::Unknown,
    }
}

/// DNS over TCP: a 2-byte length of at least a header, then a header `dns::probe` accepts.
fn detect_dns_tcp(first: &[u8], to_server: bool) -> Detected {
    let Some(len) = first
        .get(..2)
        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
    else {
        return Detected::NeedMore;
    };
    // A first message is a query (or, midstream, a response) of a few hundred bytes: a
    // larger "length" is some other protocol's bytes, not worth waiting for.
    if !(12..=4096).contains(&len) {
        return Detected::Unknown;
    }
    match first.get(2..2 + len) {
        Some(msg) if dns::probe(msg, to_server) => Detected::Proto(AppProto::Dns),
        Some(_) => Detected::Unknown,
        // The whole first message is needed to probe it.
        None => Detected::NeedMore,
    }
}

fn detect_http(first: &[u8], to_server: bool) -> Detected {
    // Leading blank lines are tolerated by servers before a request line.
    let data = {
        let skip = first
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        &first[skip..]
    };
    if to_server {
        let word_end = data.iter().position(|b| *b == b' ' || *b == b'\t');
        match word_end {
            Some(n) => {
                let word = &data[..n];
                if n > 0 && HTTP_METHODS.iter().any(|m| m.eq_ignore_ascii_case(word)) {
                    return Detected::Proto(AppProto::Http);
                }
                Detected::Unknown
            }
            None if data.len() >= 20 => Detected::Unknown,
            None if data.iter().any(|b| !b.is_ascii_alphabetic() && *b != b'-') => {
                Detected::Unknown
            }
            None => Detected::NeedMore,
        }
    } else if data.len() >= 5 {
        if data[..5].eq_ignore_ascii_case(b"HTTP/") {
            Detected::Proto(AppProto::Http)
        } else {
            Detected::Unknown
        }
    } else if b"HTTP/"[..data.len()].eq_ignore_ascii_case(data) {
        Detected::NeedMore
    } else {
        Detected::Unknown
    }
}

/// Settings of sessions: reassembly limits, parser limits, and which parsers run.
#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// Reassembly limits.
    pub stream: StreamConfig,
    /// HTTP parser limits.
    pub http: HttpConfig,
    /// Run the HTTP parser (off when no rule reads HTTP: detection alone costs nothing).
    pub http_enabled: bool,
    /// TLS parser limits.
    pub tls: TlsConfig,
    /// Run the TLS parser (when some rule reads TLS).
    pub tls_enabled: bool,
    /// Run the DNS parser on TCP flows and UDP port 53 (when some rule reads DNS).
    pub dns_enabled: bool,
    /// Run the SSH banner/KEXINIT parser (when some rule reads SSH).
    pub ssh_enabled: bool,
    /// Run the FTP control-channel parser (when some rule reads FTP).
    pub ftp_enabled: bool,
    /// Run the SMTP command parser (when some rule reads SMTP).
    pub smtp_enabled: bool,
    /// Run the SIP parser on TCP flows and on UDP datagrams (when some rule reads SIP).
    pub sip_enabled: bool,
    /// Run the SNMP parser on UDP ports 161/162 (when some rule reads SNMP).
    pub snmp_enabled: bool,
    /// Run the Kerberos parser on TCP flows and UDP port 88 (when some rule reads it).
    pub krb5_enabled: bool,
    /// Run the DCE/RPC parser on TCP flows and UDP datagrams (when some rule reads
    /// DCE/RPC).
    pub dcerpc_enabled: bool,
}

enum App {
    Detecting,
    Http(Box<HttpConn>),
    Tls(Box<TlsConn>),
    Dns(Box<DnsTcp>),
    Ssh(Box<SshConn>),
    Ftp(Box<FtpConn>),
    Smtp(Box<SmtpConn>),
    Sip(Box<SipTcp>),
    Krb5(Box<Krb5Tcp>),
    Dcerpc(Box<DceConn>),
    Unknown,
    /// A protocol detected by content that no loaded rule needs parsed (or that verdict
    /// has no parser for): rules naming it still run on its packets and stream.
    Known(AppProto),
}

/// What protocol detection concluded for one direction (or the flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirProto {
    /// Not concluded yet (or no data in that direction).
    #[default]
    Unknown,
    /// This protocol.
    Known(AppProto),
    /// Detection gave up: no protocol matched either direction.
    Failed,
}

/// Detection's results for a flow, as `app-layer-protocol` reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Detection {
    /// `[to_server, to_client]`.
    pub dirs: [DirProto; 2],
    /// The flow's protocol.
    pub flow: DirProto,
}

/// Protocol detection on a UDP flow, as Suricata's: the first datagram of each direction is
/// probed ([`detect_udp`]), and the first protocol found is the flow's, which a direction
/// whose own probe failed adopts once it sent data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpDetect {
    /// `[to_server, to_client]`: that direction's probe (`Unknown` before its first datagram).
    dirs: [DirProto; 2],
    flow: DirProto,
}

impl UdpDetect {
    /// Records a datagram of direction `to_server` with payload `p` between `sport` and
    /// `dport`; only a direction's first datagram is probed.
    pub fn note(&mut self, to_server: bool, sport: u16, dport: u16, p: &[u8]) {
        let d = &mut self.dirs[usize::from(!to_server)];
        if *d != DirProto::Unknown || p.is_empty() {
            return;
        }
        *d = match detect_udp(sport, dport, p) {
            Some(a) => DirProto::Known(a),
            None => DirProto::Failed,
        };
        if let (DirProto::Unknown, DirProto::Known(a)) = (self.flow, *d) {
            self.flow = DirProto::Known(a);
        }
    }

    /// The flow's protocol, once a direction's probe found one.
    pub fn app_proto(&self) -> Option<AppProto> {
        match self.flow {
            DirProto::Known(a) => Some(a),
            _ => None,
        }
    }

    /// Detection's results for `app-layer-protocol`.
    pub fn detection(&self) -> Detection {
        if self.dirs == [DirProto::Failed; 2] {
            return Detection {
                dirs: [DirProto::Failed; 2],
                flow: DirProto::Failed,
            };
        }
        let dir = |d: DirProto| match (d, self.flow) {
            (DirProto::Unknown, _) => DirProto::Unknown,
            (_, DirProto::Known(a)) => DirProto::Known(a),
            (d, _) => d,
        };
        Detection {
            dirs: [dir(self.dirs[0]), dir(self.dirs[1])],
            flow: self.flow,
        }
    }
}

/// The UDP protocols verdict detects, by Suricata's probing on their ports (either side):
/// DNS on 53, SNMP on 161/162, Kerberos on 88 — a datagram that decodes as their message.
pub fn detect_udp(sport: u16, dport: u16, p: &[u8]) -> Option<AppProto> {
    let on = |ports: &[u16]| ports.contains(&sport) || ports.contains(&dport);
    if on(&[53]) && crate::app::dns::parse(p).is_ok() {
        return Some(AppProto::Dns);
    }
    if on(&crate::app::snmp::PORTS) && crate::app::snmp::parse(p).is_some() {
        return Some(AppProto::Snmp);
    }
    if on(&[crate::app::krb5::PORT])
        && crate::app::krb5::probe(p) == Detected::Proto(AppProto::Krb5)
    {
        return Some(AppProto::Krb5);
    }
    None
}

/// The fields of one TCP packet a session needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Segment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with the ACK flag).
    pub ack: u32,
    /// Flag bits ([`tcp_flags`]).
    pub flags: u8,
    /// The packet carries a TCP Fast Open option (a cookie or a cookie request): see
    /// [`crate::wire::tcpopt::has_fast_open`].
    pub fast_open: bool,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// One TCP flow's reassembly and app-layer state.
pub struct Session {
    /// [client → server, server → client].
    halves: [HalfStream; 2],
    /// The client's SYN carried a Fast Open option: the payload of the SYN-ACK is stream
    /// data too (RFC 7413 section 4.2.2; Linux clients queue it only in that case).
    fast_open: bool,
    app: App,
    /// [client, server]: that direction's first bytes matched no protocol. Detection then
    /// waits for the other direction (a server answering junk with an HTTP response is
    /// still HTTP, as Suricata detects per direction); both failed is `App::Unknown`.
    detect_failed: [bool; 2],
    /// The half whose bytes decided the protocol.
    detected_by: Option<usize>,
    /// The other side has sent a packet since (past the handshake): what an IDS that parses
    /// a direction's data once the peer acknowledges it (Suricata) knows of the protocol.
    acked_app: bool,
    /// `[client, server]`: the other side has sent a packet since this direction's first
    /// data, acknowledging it: an IDS that parses data once acknowledged (Suricata) has run
    /// detection on this direction by then.
    acked_dirs: [bool; 2],
    /// Per-transaction detection state (`detect::tx`).
    pub txd: Vec<crate::detect::tx::TxDetect>,
    /// Transactions whose fileinfo record was written.
    pub files_logged: Vec<u64>,
    /// [client → server, server → client]: the stream pass's prefilter hits (`detect::memo`).
    pub stream_hits: [crate::detect::memo::StreamHits; 2],
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("app", &self.app_proto())
            .field("txd", &self.txd.len())
            .finish()
    }
}

/// What one packet did to its session.
#[derive(Debug, Default)]
pub struct Step {
    /// Stream bytes of the packet's direction it completed (offsets in that direction).
    pub progress: Progress,
    /// App-layer transactions that progressed in the packet's direction.
    pub http: http::Update,
    /// What the TLS handshake made available with this packet.
    pub tls: TlsUpdate,
    /// DNS messages this packet completed (DNS over TCP), each a transaction.
    pub dns: Vec<DnsMessage>,
    /// What the SSH parser made available with this packet.
    pub ssh: SshUpdate,
    /// FTP transactions this packet advanced (a command, reply lines).
    pub ftp: Vec<u64>,
    /// SMTP transactions this packet's commands advanced.
    pub smtp: Vec<u64>,
    /// SIP messages this packet completed (SIP over TCP), each a transaction.
    pub sip: Vec<SipMessage>,
    /// Kerberos messages this packet completed (Kerberos over TCP), each a transaction.
    pub krb5: Vec<Krb5Msg>,
    /// DCE/RPC requests this packet's PDUs advanced.
    pub dcerpc: Vec<u64>,
    /// The packet's direction turned out to be server to client (its first bytes are a
    /// response): the flow's roles must be swapped, and the packet is `to_client`.
    pub reversed: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A session with nothing seen.
    pub fn new() -> Session {
        Session {
            halves: [HalfStream::new(), HalfStream::new()],
            fast_open: false,
            app: App::Detecting,
            detect_failed: [false; 2],
            detected_by: None,
            acked_app: false,
            acked_dirs: [false; 2],
            txd: Vec::new(),
            stream_hits: Default::default(),
            files_logged: Vec::new(),
        }
    }

    /// The detected app protocol.
    pub fn app_proto(&self) -> Option<AppProto> {
        match self.app {
            App::Http(_) => Some(AppProto::Http),
            App::Tls(_) => Some(AppProto::Tls),
            App::Dns(_) => Some(AppProto::Dns),
            App::Ssh(_) => Some(AppProto::Ssh),
            App::Ftp(_) => Some(AppProto::Ftp),
            App::Smtp(_) => Some(AppProto::Smtp),
            App::Sip(_) => Some(AppProto::Sip),
            App::Krb5(_) => Some(AppProto::Krb5),
            App::Dcerpc(_) => Some(AppProto::Dcerpc),
            App::Known(a) => Some(a),
            App::Detecting | App::Unknown => None,
        }
    }

    /// What detection concluded for each direction `[to_server, to_client]` and for the
    /// flow, as Suricata's `alproto_ts`, `alproto_tc` and `alproto`. A direction takes the
    /// flow's protocol once it has sent data (Suricata runs detection on it then and adopts
    /// the other direction's result); both directions failing fails both. `acked`: seen as
    /// an IDS that parses a direction's data when the peer acknowledges it, so a
    /// direction's result is known from the other side's next packet on, and the flow's
    /// from when the direction that decided it is.
    pub fn detection(&self, acked: bool) -> Detection {
        let seen = |h: usize| !acked || self.acked_dirs[h];
        let known = |h: usize, a: AppProto| {
            let sent = self.detected_by == Some(h) || self.halves[h].contiguous_end() > 0;
            if sent && seen(h) {
                DirProto::Known(a)
            } else {
                DirProto::Unknown
            }
        };
        match (&self.app, self.app_proto(), self.detected_by) {
            (App::Unknown, _, _) => Detection {
                dirs: [DirProto::Failed; 2],
                flow: DirProto::Failed,
            },
            (_, Some(a), Some(by)) if seen(by) => Detection {
                dirs: [known(0, a), known(1, a)],
                flow: DirProto::Known(a),
            },
            _ => Detection::default(),
        }
    }

    /// The app protocol as an IDS that parses each direction's data when the peer
    /// acknowledges it knows it on this packet: known from the other side's first packet
    /// after the handshake that follows detection (Suricata's per-packet `alproto` in IDS
    /// mode, which rules naming only a protocol test).
    pub fn acked_app_proto(&self) -> Option<AppProto> {
        self.app_proto().filter(|_| self.acked_app)
    }

    /// The TLS parser, when the flow is TLS.
    pub fn tls(&self) -> Option<&TlsConn> {
        match &self.app {
            App::Tls(c) => Some(c),
            _ => None,
        }
    }

    /// The TLS parser and the connection's detection state (TLS is one transaction per
    /// connection), borrowed apart.
    pub fn tls_detect(&mut self) -> Option<(&TlsConn, &mut crate::detect::tx::TxDetect)> {
        match &self.app {
            App::Tls(c) => {
                if self.txd.is_empty() {
                    self.txd.push(crate::detect::tx::TxDetect::new(0));
                }
                Some((&**c, &mut self.txd[0]))
            }
            _ => None,
        }
    }

    /// The SSH parser and the connection's detection state (one transaction per
    /// connection, as TLS).
    pub fn ssh_detect(&mut self) -> Option<(&SshConn, &mut crate::detect::tx::TxDetect)> {
        match &self.app {
            App::Ssh(c) => {
                if self.txd.is_empty() {
                    self.txd.push(crate::detect::tx::TxDetect::new(0));
                }
                Some((&**c, &mut self.txd[0]))
            }
            _ => None,
        }
    }

    /// The FTP parser, when the flow is FTP.
    pub fn ftp(&self) -> Option<&FtpConn> {
        match &self.app {
            App::Ftp(c) => Some(c),
            _ => None,
        }
    }

    /// The SMTP parser, when the flow is SMTP.
    pub fn smtp(&self) -> Option<&SmtpConn> {
        match &self.app {
            App::Smtp(c) => Some(c),
            _ => None,
        }
    }

    /// FTP transaction `id` and its detection state (created on first use).
    pub fn ftp_tx_and_detect(
        &mut self,
        id: u64,
    ) -> Option<(&FtpTx, &mut crate::detect::tx::TxDetect)> {
        let App::Ftp(c) = &self.app else {
            return None;
        };
        let tx = c.tx(id)?;
        Some((tx, txd_slot(&mut self.txd, id)))
    }

    /// SMTP connection, transaction `id` and its detection state (created on first use).
    pub fn smtp_tx_and_detect(
        &mut self,
        id: u64,
    ) -> Option<(&SmtpConn, &mut crate::detect::tx::TxDetect)> {
        let App::Smtp(c) = &self.app else {
            return None;
        };
        c.tx(id)?;
        Some((&**c, txd_slot(&mut self.txd, id)))
    }

    /// DCE/RPC request `id` and its detection state (created on first use).
    pub fn dcerpc_tx_and_detect(
        &mut self,
        id: u64,
    ) -> Option<(&DceTx, &mut crate::detect::tx::TxDetect)> {
        let App::Dcerpc(c) = &self.app else {
            return None;
        };
        let tx = c.tx(id)?;
        Some((tx, txd_slot(&mut self.txd, id)))
    }

    /// True if the flow is TLS and its parser raised an event.
    pub fn tls_events(&self) -> bool {
        matches!(&self.app, App::Tls(c) if !c.events().is_empty())
    }

    /// The HTTP parser, when the flow is HTTP.
    pub fn http(&self) -> Option<&HttpConn> {
        match &self.app {
            App::Http(c) => Some(c),
            _ => None,
        }
    }

    /// The HTTP parser and the per-transaction detection state, borrowed apart.
    pub fn split_detect(&mut self) -> (Option<&HttpConn>, &mut Vec<crate::detect::tx::TxDetect>) {
        let conn = match &self.app {
            App::Http(c) => Some(&**c),
            _ => None,
        };
        (conn, &mut self.txd)
    }

    /// Drops the detection state of transactions the parser no longer keeps.
    pub fn prune_txd(&mut self) {
        let oldest = match &self.app {
            App::Http(c) => c.txs().map(|t| t.id()).min(),
            App::Ftp(c) => c.txs().map(FtpTx::id).min(),
            App::Smtp(c) => c.txs().map(|t| t.id()).min(),
            App::Dcerpc(c) => c.txs().map(DceTx::id).min(),
            _ => return,
        };
        self.txd.retain(|t| oldest.is_some_and(|o| t.tx_id >= o));
    }

    /// The reassembled half of one direction.
    pub fn half(&self, to_server: bool) -> &HalfStream {
        &self.halves[usize::from(!to_server)]
    }

    /// Gives the halves' memory back to the worker's account (flow end).
    pub fn release(&mut self, mem: &mut StreamMem) {
        for h in &mut self.halves {
            h.release(mem);
        }
        for m in &mut self.stream_hits {
            m.forget();
        }
    }

    /// Gives one half's memory back (its direction was handed back to the kernel: nothing
    /// reads its bytes any more).
    pub fn release_half(&mut self, to_server: bool, mem: &mut StreamMem) {
        self.halves[usize::from(!to_server)].release(mem);
    }

    /// One TCP packet of the flow, sent by the client when `to_server`.
    pub fn step(
        &mut self,
        to_server: bool,
        seg: &Segment<'_>,
        cfg: &SessionConfig,
        mem: &mut StreamMem,
    ) -> Step {
        let Segment {
            seq,
            ack,
            flags,
            payload,
            ..
        } = *seg;
        let me = usize::from(!to_server);
        let syn = flags & tcp_flags::SYN != 0;
        let fin = flags & tcp_flags::FIN != 0;
        let rst = flags & tcp_flags::RST != 0;
        let mut out = Step::default();
        if !syn && self.detected_by == Some(1 - me) {
            self.acked_app = true;
        }
        if !syn && self.halves[1 - me].contiguous_end() > 0 {
            self.acked_dirs[1 - me] = true;
        }
        // The other side's acknowledgment may reveal bytes we never saw (capture loss,
        // asymmetric routing): that half skips the gap, and its parser hears about it.
        if flags & tcp_flags::ACK != 0 && !rst {
            let other = 1 - me;
            let before = self.halves[other].contiguous_end();
            let p = self.halves[other].on_ack(SeqNumber(ack), &cfg.stream, mem);
            if p.events.contains(StreamEvents::GAP) {
                let lost = p.new.start.saturating_sub(before);
                self.app_gap(other == 0, lost);
                // What the other direction completed is not this packet's to inspect.
                let mut ignored = Step::default();
                self.feed_app(other, &p, cfg, &mut ignored);
            }
        }
        let synack = syn && flags & tcp_flags::ACK != 0;
        if syn && !synack {
            self.fast_open |= seg.fast_open;
        }
        let half = &mut self.halves[me];
        let progress = if syn
            && !rst
            && (if synack {
                self.fast_open
            } else {
                seg.fast_open
            }) {
            // TCP Fast Open: a server that accepts the cookie hands the SYN's data to its
            // application before the handshake completes, so it is stream data inspected
            // now; if the server refuses it, the client's resend is a retransmission.
            half.on_syn_data(SeqNumber(seq), payload, fin, &cfg.stream, mem)
        } else if syn {
            // Data on a SYN is inspected as a packet but is not stream data: without a TCP
            // Fast Open cookie the receiver discards it and the sender resends it after the
            // handshake, possibly with other bytes — the resent copy is what gets delivered.
            half.on_syn(SeqNumber(seq));
            Progress::default()
        } else if payload.is_empty() && !fin && !rst {
            Progress::default()
        } else {
            // Data on a RST is inspected as a packet but is not stream data: the receiver
            // drops it with the connection (Suricata's bug 6244 likewise).
            let data = if rst { &[][..] } else { payload };
            half.on_segment(SeqNumber(seq), data, fin, rst, &cfg.stream, mem)
        };
        if progress.events.contains(StreamEvents::GAP) {
            self.app_gap(to_server, 0);
        }
        let me = if self.looks_reversed(me, &progress) {
            // Seen from the server first (midstream or asynchronous): swap the halves so
            // half 0 is the client's again; the caller swaps the flow's roles.
            self.halves.swap(0, 1);
            self.detect_failed.swap(0, 1);
            self.acked_dirs.swap(0, 1);
            self.detected_by = self.detected_by.map(|h| 1 - h);
            out.reversed = true;
            1 - me
        } else {
            me
        };
        self.feed_app(me, &progress, cfg, &mut out);
        out.progress = progress;
        out
    }

    /// True if the "client" direction's first bytes are an HTTP response while nothing was
    /// detected yet and the other direction is still empty.
    fn looks_reversed(&self, me: usize, p: &Progress) -> bool {
        me == 0
            && matches!(self.app, App::Detecting)
            && !p.new.is_empty()
            && self.halves[0].window_start() == 0
            && self.halves[1].contiguous_end() == 0
            && detect(self.halves[0].window(), false) == Detected::Proto(AppProto::Http)
    }

    fn app_gap(&mut self, to_server: bool, lost: u64) {
        match &mut self.app {
            App::Http(c) => {
                c.gap(dir(to_server), lost);
            }
            App::Tls(c) => {
                c.gap(to_server);
            }
            App::Dns(c) => c.gap(to_server),
            App::Ssh(c) => c.gap(to_server),
            App::Ftp(c) => c.gap(to_server),
            App::Smtp(c) => c.gap(to_server),
            App::Sip(c) => c.gap(to_server),
            App::Krb5(c) => c.gap(to_server),
            App::Dcerpc(c) => c.gap(to_server),
            _ => {}
        }
    }

    /// Feeds the newly contiguous bytes of half `me` to the app layer (detecting it first)
    /// and records what progressed in `out`.
    fn feed_app(&mut self, me: usize, p: &Progress, cfg: &SessionConfig, out: &mut Step) {
        let to_server = me == 0;
        let ws = self.halves[me].window_start();
        if matches!(self.app, App::Detecting) && !p.new.is_empty() {
            if self.detect_failed[me] {
                return;
            }
            // Detection reads from the direction's start while the window still has it.
            let found = if ws != 0 {
                Detected::Unknown
            } else {
                detect(self.halves[me].window(), to_server)
            };
            match found {
                Detected::NeedMore => return,
                Detected::Unknown => {
                    self.detect_failed[me] = true;
                    if self.detect_failed[1 - me] {
                        self.app = App::Unknown;
                    }
                    return;
                }
                Detected::Proto(a) => {
                    self.app = start_app(a, cfg);
                    self.detected_by = Some(me);
                    // The other side spoke first: its bytes come first for the parser.
                    if self.detect_failed[1 - me] {
                        self.catch_up(1 - me);
                    }
                    // Everything before this packet's data was held back for detection.
                    let win = self.halves[me].window();
                    let upto = usize::try_from(p.new.start).unwrap_or(usize::MAX);
                    if upto > 0 {
                        let held = &win[..upto.min(win.len())];
                        feed_bytes(&mut self.app, to_server, held, out);
                    }
                }
            }
        }
        let win = self.halves[me].window();
        if !p.new.is_empty() {
            let at = |off: u64| usize::try_from(off.saturating_sub(ws)).unwrap_or(usize::MAX);
            if let Some(bytes) = win.get(at(p.new.start)..at(p.new.end)) {
                feed_bytes(&mut self.app, to_server, bytes, out);
            }
        }
        if p.events.contains(StreamEvents::FIN) || p.events.contains(StreamEvents::RST) {
            if let App::Http(conn) = &mut self.app {
                let closed = conn.close(dir(to_server));
                for (id, pr) in closed.iter() {
                    out.http.merge_one(id, pr);
                }
            }
        }
    }
}

impl Session {
    /// Gives the parser what direction `other` sent before the protocol was detected on the
    /// opposite side: the parser sees the whole connection, as a server does (bytes already
    /// released from the window reach it as a gap, so it resyncs).
    fn catch_up(&mut self, other: usize) {
        let to_server = other == 0;
        let ws = self.halves[other].window_start();
        if ws != 0 {
            self.app_gap(to_server, ws);
        }
        // What that direction completed is not this packet's to inspect.
        let mut ignored = Step::default();
        feed_bytes(
            &mut self.app,
            to_server,
            self.halves[other].window(),
            &mut ignored,
        );
    }
}

/// The parser for a detected protocol, if some rule needs it.
fn start_app(a: AppProto, cfg: &SessionConfig) -> App {
    match a {
        AppProto::Http if cfg.http_enabled => App::Http(Box::new(HttpConn::new(&cfg.http))),
        AppProto::Tls if cfg.tls_enabled => App::Tls(Box::new(TlsConn::new(&cfg.tls))),
        AppProto::Dns if cfg.dns_enabled => App::Dns(Box::new(DnsTcp::new())),
        AppProto::Ssh if cfg.ssh_enabled => App::Ssh(Box::default()),
        AppProto::Ftp if cfg.ftp_enabled => App::Ftp(Box::default()),
        AppProto::Smtp if cfg.smtp_enabled => App::Smtp(Box::default()),
        AppProto::Sip if cfg.sip_enabled => App::Sip(Box::default()),
        AppProto::Krb5 if cfg.krb5_enabled => App::Krb5(Box::default()),
        AppProto::Dcerpc if cfg.dcerpc_enabled => App::Dcerpc(Box::default()),
        a => App::Known(a),
    }
}

/// Feeds stream bytes of one direction to the flow's parser.
fn feed_bytes(app: &mut App, to_server: bool, bytes: &[u8], out: &mut Step) {
    match app {
        App::Http(c) => {
            let u = c.feed(dir(to_server), bytes);
            for (id, pr) in u.iter() {
                out.http.merge_one(id, pr);
            }
        }
        App::Tls(c) => out.tls = out.tls.union(c.feed(to_server, bytes)),
        App::Dns(c) => out.dns.extend(c.feed(to_server, bytes)),
        App::Ssh(c) => out.ssh = out.ssh.union(c.feed(to_server, bytes)),
        App::Ftp(c) => merge_ids(&mut out.ftp, c.feed(to_server, bytes)),
        App::Smtp(c) => merge_ids(&mut out.smtp, c.feed(to_server, bytes)),
        App::Sip(c) => out.sip.extend(c.feed(to_server, bytes)),
        App::Krb5(c) => out.krb5.extend(c.feed(to_server, bytes)),
        App::Dcerpc(c) => merge_ids(&mut out.dcerpc, c.feed(to_server, bytes)),
        App::Detecting | App::Unknown | App::Known(_) => {}
    }
}

fn merge_ids(into: &mut Vec<u64>, ids: Vec<u64>) {
    for id in ids {
        if !into.contains(&id) {
            into.push(id);
        }
    }
}

/// The detection state of transaction `id` (created on first use).
fn txd_slot(
    txd: &mut Vec<crate::detect::tx::TxDetect>,
    id: u64,
) -> &mut crate::detect::tx::TxDetect {
    let pos = match txd.iter().position(|t| t.tx_id == id) {
        Some(p) => p,
        None => {
            txd.push(crate::detect::tx::TxDetect::new(id));
            txd.len() - 1
        }
    };
    &mut txd[pos]
}

fn dir(to_server: bool) -> http::Dir {
    if to_server {
        http::Dir::ToServer
    } else {
        http::Dir::ToClient
    }
}

/// A transaction seen from one direction, as detection's [`crate::vm::BufferSource`].
pub struct HttpBuffers<'a> {
    /// The transaction.
    pub tx: &'a http::Tx,
    /// The direction of the packet being inspected: two-direction buffers read its side.
    pub to_server: bool,
}

impl crate::vm::BufferSource for HttpBuffers<'_> {
    fn buffer_n(&self, b: verdict_compiler::ir::Buffer, i: usize) -> Option<&[u8]> {
        http_buffer(self.tx, b, i, self.to_server)
    }
    fn buffer_side_n(
        &self,
        b: verdict_compiler::ir::Buffer,
        i: usize,
        to_server: bool,
    ) -> Option<&[u8]> {
        http_buffer(self.tx, b, i, to_server)
    }

    fn view(&self) -> crate::detect::pred::TxView<'_> {
        crate::detect::pred::TxView::Http { tx: self.tx }
    }

    fn settled(&self, b: verdict_compiler::ir::Buffer, to_server: Option<bool>) -> bool {
        use crate::detect::tx::{buffer_side, Side};
        let side = to_server.unwrap_or(match buffer_side(b) {
            Some(Side::ToServer) => true,
            Some(Side::ToClient) => false,
            _ => self.to_server,
        });
        let complete = if side {
            self.tx.request_complete()
        } else {
            self.tx.response_complete()
        };
        complete || http_buffer(self.tx, b, 0, side).is_some()
    }

    fn file(&self, to_server: Option<bool>, i: usize) -> Option<http::File<'_>> {
        self.tx.file(dir(to_server.unwrap_or(self.to_server)), i)
    }
}

/// Instance `i` of buffer `b` of a transaction; two-direction buffers read `to_server`'s side.
fn http_buffer(
    tx: &http::Tx,
    b: verdict_compiler::ir::Buffer,
    i: usize,
    to_server: bool,
) -> Option<&[u8]> {
    use verdict_compiler::ir::{AppBuffer, Buffer};
    match b {
        Buffer::App(AppBuffer::HttpRequestHeader) => tx.request_headers()?.line(i),
        Buffer::App(AppBuffer::HttpResponseHeader) => tx.response_headers()?.line(i),
        // One instance per file of the side.
        Buffer::FileData => Some(tx.file(dir(to_server), i)?.data).filter(|d| !d.is_empty()),
        Buffer::App(AppBuffer::FileName) => Some(tx.file(dir(to_server), i)?.name),
        Buffer::App(AppBuffer::FileMagic) => tx.file(dir(to_server), i)?.magic,
        _ if i > 0 => None,
        Buffer::App(a) => tx.buffer_in(a, dir(to_server)),
        _ => None,
    }
}

/// A TLS connection as detection's [`crate::vm::BufferSource`]. A buffer that belongs to
/// one side (the SNI to the client's hello, certificates to the server's) reads that side
/// whatever the packet's direction; the random and ALPN read the packet's side.
pub struct TlsBuffers<'a> {
    /// The connection.
    pub conn: &'a TlsConn,
    /// The direction of the packet being inspected.
    pub to_server: bool,
}

impl crate::vm::BufferSource for TlsBuffers<'_> {
    fn buffer_n(&self, b: verdict_compiler::ir::Buffer, i: usize) -> Option<&[u8]> {
        use crate::detect::tx::{buffer_side, Side};
        let verdict_compiler::ir::Buffer::App(a) = b else {
            return None;
        };
        let to_server = match buffer_side(b) {
            Some(Side::ToServer) => true,
            Some(Side::ToClient) => false,
            _ => self.to_server,
        };
        self.conn.buffer_n(a, to_server, i)
    }
    fn buffer_side_n(
        &self,
        b: verdict_compiler::ir::Buffer,
        i: usize,
        to_server: bool,
    ) -> Option<&[u8]> {
        let verdict_compiler::ir::Buffer::App(a) = b else {
            return None;
        };
        self.conn.buffer_n(a, to_server, i)
    }

    fn view(&self) -> crate::detect::pred::TxView<'_> {
        crate::detect::pred::TxView::Tls {
            conn: self.conn,
            to_server: self.to_server,
        }
    }
}

/// One DNS message (a transaction) as detection's [`crate::vm::BufferSource`].
pub struct DnsBuffers<'a> {
    /// The message.
    pub msg: &'a DnsMessage,
    /// The message goes to the server (the packet's direction).
    pub to_server: bool,
}

impl crate::vm::BufferSource for DnsBuffers<'_> {
    fn buffer_n(&self, b: verdict_compiler::ir::Buffer, i: usize) -> Option<&[u8]> {
        match b {
            verdict_compiler::ir::Buffer::App(a) => self.msg.buffer_n(a, i),
            _ => None,
        }
    }

    fn view(&self) -> crate::detect::pred::TxView<'_> {
        crate::detect::pred::TxView::Dns {
            msg: self.msg,
            to_server: self.to_server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_by_content_not_port() {
        assert_eq!(
            detect(b"GET / HTTP/1.1\r\n", true),
            Detected::Proto(AppProto::Http)
        );
        assert_eq!(
            detect(b"\r\nPOST /x HTTP/1.0", true),
            Detected::Proto(AppProto::Http)
        );
        assert_eq!(detect(b"GE", true), Detected::NeedMore);
        // SIP and HTTP share methods: the request URI's scheme decides.
        assert_eq!(
            detect(b"OPTIONS sip:bob@example.com SIP/2.0\r\n", true),
            Detected::Proto(AppProto::Sip)
        );
        assert_eq!(detect(b"OPTIONS si", true), Detected::NeedMore);
        assert_eq!(
            detect(b"OPTIONS / HTTP/1.1\r\n", true),
            Detected::Proto(AppProto::Http)
        );
        assert_eq!(
            detect(b"SIP/2.0 200 OK\r\n", false),
            Detected::Proto(AppProto::Sip)
        );
        assert_eq!(
            detect(b"\x16\x03\x01\x02\x00", true),
            Detected::Proto(AppProto::Tls)
        );
        assert_eq!(detect(b"\x16\x03", true), Detected::NeedMore);
        // DNS over TCP: a length, then a query header with one question.
        let mut q = vec![0, 29, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(detect(&q, true), Detected::Proto(AppProto::Dns));
        assert_eq!(detect(&q[..10], true), Detected::NeedMore);
        assert_eq!(
            detect(b"SSH-2.0-OpenSSH", true),
            Detected::Proto(AppProto::Ssh)
        );
        assert_eq!(detect(b"RFB 003.008", true), Detected::Unknown);
        // DCE/RPC: a BIND from the client, a BIND_ACK from the server, on any port.
        let e = crate::app::dcerpc::pdu::Enc { big: false };
        let bind = e.bind(1, &[(0, "4b324fc8-1670-01d3-1278-5a47bf6ee188", 3)]);
        assert_eq!(detect(&bind, true), Detected::Proto(AppProto::Dcerpc));
        assert_eq!(detect(&bind[..8], true), Detected::NeedMore);
        assert_eq!(
            detect(&e.bind_ack(1, &[true]), false),
            Detected::Proto(AppProto::Dcerpc)
        );
        assert_eq!(
            detect(b"HTTP/1.1 200 OK", false),
            Detected::Proto(AppProto::Http)
        );
        assert_eq!(detect(b"HTT", false), Detected::NeedMore);
        assert_eq!(detect(b"220 smtp", false), Detected::Unknown);
        // Protocols known by their first bytes, without a parser.
        assert_eq!(
            detect(b"SSH-2.0-OpenSSH_9.6\r\n", false),
            Detected::Proto(AppProto::Ssh)
        );
        assert_eq!(
            detect(b"user anonymous\r\n", true),
            Detected::Proto(AppProto::Ftp)
        );
        assert_eq!(
            detect(b"220 (vsFTPd 3.0.5)\r\n", false),
            Detected::Proto(AppProto::Ftp)
        );
        assert_eq!(
            detect(b"EHLO mail.example\r\n", true),
            Detected::Proto(AppProto::Smtp)
        );
        assert_eq!(detect(b"EH", true), Detected::NeedMore);
        let smb = b"\x00\x00\x00\x45\xfeSMB\x40\x00";
        assert_eq!(detect(smb, true), Detected::Proto(AppProto::Smb));
        assert_eq!(detect(&smb[..5], true), Detected::NeedMore);
        assert_eq!(detect(b"\x00\x00\x00\x45\xfeXYZ", true), Detected::Unknown);
    }

    fn seg(seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Segment<'_> {
        Segment {
            seq,
            ack,
            flags,
            fast_open: false,
            payload,
        }
    }

    /// A session past the SYN (client ISN 1000) and SYN-ACK (server ISN 5000).
    fn handshake(cfg: &SessionConfig, mem: &mut StreamMem) -> Session {
        let mut s = Session::new();
        s.step(true, &seg(1000, 0, tcp_flags::SYN, b""), cfg, mem);
        let synack = seg(5000, 1001, tcp_flags::SYN | tcp_flags::ACK, b"");
        s.step(false, &synack, cfg, mem);
        s
    }

    fn cfg() -> SessionConfig {
        SessionConfig {
            http_enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_response_seen_first_reverses_the_roles() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let mut s = Session::new();
        // Midstream: the server's response is the first packet of the flow.
        let st = s.step(
            true,
            &seg(9000, 100, tcp_flags::ACK, b"HTTP/1.0 200 OK\r\n\r\n"),
            &cfg,
            &mut mem,
        );
        assert!(st.reversed);
        assert_eq!(s.app_proto(), Some(AppProto::Http));
        assert_eq!(s.half(false).contiguous_end(), 19);
        assert_eq!(s.half(true).contiguous_end(), 0);
        s.release(&mut mem);
    }

    #[test]
    fn junk_from_the_client_then_an_http_response_is_http() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let mut s = handshake(&cfg, &mut mem);
        let junk = b"\x16\x99\x00binary\nnot a protocol at all";
        s.step(true, &seg(1001, 5001, tcp_flags::ACK, junk), &cfg, &mut mem);
        // One direction failing does not decide: the server has not spoken yet.
        assert!(s.app_proto().is_none());
        let resp = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno";
        let end = 1001 + u32::try_from(junk.len()).unwrap();
        let st = s.step(false, &seg(5001, end, tcp_flags::ACK, resp), &cfg, &mut mem);
        assert!(!st.reversed);
        assert_eq!(s.app_proto(), Some(AppProto::Http));
        let c = s.http().expect("http parser");
        let tx = c.txs().last().expect("the response's transaction");
        let line = verdict_compiler::ir::AppBuffer::HttpResponseLine;
        assert_eq!(tx.buffer(line), Some(&b"HTTP/1.1 400 Bad Request"[..]));
        s.release(&mut mem);
        // Both directions unknown: no parser.
        let mut s = Session::new();
        s.step(true, &seg(1000, 0, tcp_flags::SYN, b""), &cfg, &mut mem);
        s.step(true, &seg(1001, 5001, tcp_flags::ACK, junk), &cfg, &mut mem);
        s.step(
            false,
            &seg(5001, end, tcp_flags::ACK, b"RFB 003.008\n"),
            &cfg,
            &mut mem,
        );
        assert!(s.app_proto().is_none() && s.http().is_none());
        s.release(&mut mem);
    }

    #[test]
    fn an_ids_knows_the_protocol_once_the_peer_answers() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let mut s = handshake(&cfg, &mut mem);
        let req = b"GET / HTTP/1.1\r\n\r\n";
        s.step(true, &seg(1001, 5001, tcp_flags::ACK, req), &cfg, &mut mem);
        assert_eq!(s.app_proto(), Some(AppProto::Http));
        assert_eq!(s.acked_app_proto(), None);
        // The client's next packet does not change that; the server's acknowledgment does.
        s.step(true, &seg(1019, 5001, tcp_flags::ACK, b""), &cfg, &mut mem);
        assert_eq!(s.acked_app_proto(), None);
        s.step(false, &seg(5001, 1019, tcp_flags::ACK, b""), &cfg, &mut mem);
        assert_eq!(s.acked_app_proto(), Some(AppProto::Http));
        s.release(&mut mem);
    }

    #[test]
    fn detection_per_direction_inline_and_as_an_ids() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let mut s = handshake(&cfg, &mut mem);
        let http = DirProto::Known(AppProto::Http);
        let unknown = DirProto::Unknown;
        let req = b"GET / HTTP/1.1\r\n\r\n";
        s.step(true, &seg(1001, 5001, tcp_flags::ACK, req), &cfg, &mut mem);
        let d = s.detection(false);
        assert_eq!((d.dirs, d.flow), ([http, unknown], http));
        assert_eq!(s.detection(true), Detection::default());
        // The server's answer acknowledges the request: the IDS knows its side, and the flow.
        let resp = b"HTTP/1.1 200 OK\r\n\r\n";
        s.step(
            false,
            &seg(5001, 1019, tcp_flags::ACK, resp),
            &cfg,
            &mut mem,
        );
        assert_eq!(s.detection(false).dirs, [http, http]);
        let d = s.detection(true);
        assert_eq!((d.dirs, d.flow), ([http, unknown], http));
        s.step(true, &seg(1019, 5020, tcp_flags::ACK, b""), &cfg, &mut mem);
        assert_eq!(s.detection(true).dirs, [http, http]);
        s.release(&mut mem);
        // Neither side's bytes match a protocol: both directions failed.
        let mut s = handshake(&cfg, &mut mem);
        s.step(
            true,
            &seg(1001, 5001, tcp_flags::ACK, b"hello\n"),
            &cfg,
            &mut mem,
        );
        assert_eq!(s.detection(false), Detection::default());
        s.step(
            false,
            &seg(5001, 1007, tcp_flags::ACK, b"junk\n"),
            &cfg,
            &mut mem,
        );
        let failed = DirProto::Failed;
        let d = s.detection(true);
        assert_eq!((d.dirs, d.flow), ([failed, failed], failed));
        s.release(&mut mem);
    }

    #[test]
    fn a_request_split_over_segments_makes_one_transaction() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let mut s = handshake(&cfg, &mut mem);
        let a = s.step(
            true,
            &seg(1001, 5001, tcp_flags::ACK, b"GE"),
            &cfg,
            &mut mem,
        );
        assert!(a.http.is_empty() && s.app_proto().is_none());
        let b = s.step(
            true,
            &seg(1003, 5001, tcp_flags::ACK, b"T /evil HTTP/1.1\r\n"),
            &cfg,
            &mut mem,
        );
        assert_eq!(s.app_proto(), Some(AppProto::Http));
        assert!(!b.http.is_empty());
        s.step(
            true,
            &seg(1021, 5001, tcp_flags::ACK, b"Host: x\r\n\r\n"),
            &cfg,
            &mut mem,
        );
        // Pure ACKs both ways bring no stream data: nothing is fed again.
        let ack = s.step(false, &seg(5001, 1032, tcp_flags::ACK, b""), &cfg, &mut mem);
        assert!(ack.http.is_empty());
        let ack = s.step(true, &seg(1032, 5001, tcp_flags::ACK, b""), &cfg, &mut mem);
        assert!(ack.http.is_empty());
        assert_eq!(s.http().map(|c| c.txs().count()), Some(1));
        let tx = s.http().and_then(|c| c.tx(0)).expect("one transaction");
        let uri = verdict_compiler::ir::AppBuffer::HttpUri;
        assert_eq!(tx.buffer(uri), Some(&b"/evil"[..]));
        s.release(&mut mem);
        assert_eq!(mem.used(), 0);
    }

    /// A Fast Open SYN from the client at ISN 1000 carrying `data`.
    fn tfo_syn(data: &[u8]) -> Segment<'_> {
        Segment {
            fast_open: true,
            ..seg(1000, 0, tcp_flags::SYN, data)
        }
    }

    fn uri_of_first_tx(s: &Session) -> Option<Vec<u8>> {
        let tx = s.http()?.tx(0)?;
        tx.buffer(verdict_compiler::ir::AppBuffer::HttpUri)
            .map(<[u8]>::to_vec)
    }

    #[test]
    fn fast_open_syn_data_is_parsed_with_the_syn() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let mut s = Session::new();
        let st = s.step(true, &tfo_syn(b"GET /a"), &cfg, &mut mem);
        assert_eq!(st.progress.new, 0..6);
        assert_eq!(s.app_proto(), Some(AppProto::Http));
        // The server accepts the cookie: its SYN-ACK acknowledges the data too.
        let synack = tcp_flags::SYN | tcp_flags::ACK;
        let st = s.step(false, &seg(5000, 1007, synack, b""), &cfg, &mut mem);
        assert!(st.progress.is_empty() && !st.progress.events.contains(StreamEvents::GAP));
        let st = s.step(
            true,
            &seg(1007, 5001, tcp_flags::ACK, b"bc HTTP/1.0\r\n\r\n"),
            &cfg,
            &mut mem,
        );
        assert_eq!(st.progress.new, 6..21);
        assert_eq!(uri_of_first_tx(&s).as_deref(), Some(&b"/abc"[..]));
        s.release(&mut mem);
        assert_eq!(mem.used(), 0);
    }

    #[test]
    fn refused_fast_open_data_is_neither_lost_nor_fed_twice() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let mut s = Session::new();
        let req = b"GET /x HTTP/1.0\r\n\r\n";
        s.step(true, &tfo_syn(req), &cfg, &mut mem);
        // The SYN-ACK acknowledges only the SYN: the cookie was refused.
        let synack = tcp_flags::SYN | tcp_flags::ACK;
        s.step(false, &seg(5000, 1001, synack, b""), &cfg, &mut mem);
        let st = s.step(true, &seg(1001, 5001, tcp_flags::ACK, req), &cfg, &mut mem);
        assert!(st.progress.is_empty() && st.http.is_empty());
        assert!(st.progress.events.contains(StreamEvents::RETRANSMISSION));
        assert_eq!(s.http().map(|c| c.txs().count()), Some(1));
        assert_eq!(uri_of_first_tx(&s).as_deref(), Some(&b"/x"[..]));
        s.release(&mut mem);
    }

    #[test]
    fn syn_data_without_fast_open_is_not_stream_data_and_synack_data_needs_it() {
        let (cfg, mut mem) = (cfg(), StreamMem::new());
        let synack = tcp_flags::SYN | tcp_flags::ACK;
        // No Fast Open option: the receiver discards SYN data, so do we, both ways.
        let mut s = Session::new();
        let st = s.step(
            true,
            &seg(1000, 0, tcp_flags::SYN, b"GET / HTTP/1.0\r\n"),
            &cfg,
            &mut mem,
        );
        assert!(st.progress.is_empty() && s.app_proto().is_none());
        s.step(
            false,
            &seg(5000, 1001, synack, b"HTTP/1.0 200 OK\r\n"),
            &cfg,
            &mut mem,
        );
        assert_eq!(s.half(false).contiguous_end(), 0);
        s.release(&mut mem);
        // A Fast Open client (here a cookie request without data) takes the server's
        // SYN-ACK data as stream data (RFC 7413 section 4.2.2).
        let mut s = Session::new();
        s.step(true, &tfo_syn(b""), &cfg, &mut mem);
        let st = s.step(
            false,
            &seg(5000, 1001, synack, b"HTTP/1.0 200 OK\r\n"),
            &cfg,
            &mut mem,
        );
        assert_eq!(st.progress.new, 0..17);
        assert_eq!(s.half(false).contiguous_end(), 17);
        s.release(&mut mem);
        assert_eq!(mem.used(), 0);
    }
}

//! The per-connection parser: two record readers and what their handshakes revealed.

use verdict_compiler::ir::AppBuffer;

use super::cert::{parse_certificate, CertChain};
use super::eve::TlsInfo;
use super::event::{TlsEvent, TlsEvents};
use super::hello::{parse_client_hello, parse_server_hello, ClientHello, ServerHello};
use super::record::{content, Next, Reader, Unit};
use super::{SslStates, SslVersion, TlsConfig, TlsUpdate};

/// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
mod hs {
    pub const HELLO_REQUEST: u8 = 0;
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    pub const FINISHED: u8 = 20;
    pub const CERTIFICATE_URL: u8 = 21;
    pub const CERTIFICATE_STATUS: u8 = 22;
}

/// What one direction revealed.
#[derive(Debug, Default)]
struct Seen {
    /// The latest record-layer version, Suricata's version until a hello sets one.
    record_version: Option<u16>,
    ccs: bool,
    certs: Option<CertChain>,
}

/// Everything the two directions' handshake units update (split from the readers so a
/// reader can call into it while it holds its own buffer).
#[derive(Debug, Default)]
struct State {
    client: Seen,
    server: Seen,
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    states: SslStates,
    current_state: SslStates,
    events: TlsEvents,
    done: bool,
}

/// Incremental TLS handshake parser for one TCP connection.
///
/// Feed it each direction's reassembled, in-order bytes; it keeps the hellos, the
/// certificate chains and the fingerprints, and says with each [`TlsUpdate`] what became
/// available. Memory per connection is bounded by two record headers, two handshake
/// messages of at most [`TlsConfig::max_handshake_message`] bytes and what was parsed.
#[derive(Debug)]
pub struct TlsConn {
    to_server: Reader,
    to_client: Reader,
    st: State,
}

impl TlsConn {
    /// A parser with limits from `cfg`.
    pub fn new(cfg: &TlsConfig) -> Self {
        TlsConn {
            to_server: Reader::new(cfg.max_handshake_message),
            to_client: Reader::new(cfg.max_handshake_message),
            st: State::default(),
        }
    }

    /// Feeds in-order stream bytes of one direction, split anywhere.
    pub fn feed(&mut self, to_server: bool, bytes: &[u8]) -> TlsUpdate {
        let mut up = TlsUpdate::default();
        let (reader, st) = if to_server {
            (&mut self.to_server, &mut self.st)
        } else {
            (&mut self.to_client, &mut self.st)
        };
        let was_stopped = reader.stopped();
        let mut hs_events = Vec::new();
        let mut record_events = Vec::new();
        reader.push(
            bytes,
            &mut |u| st.unit(to_server, u, &mut up, &mut hs_events),
            &mut |e| record_events.push(e),
        );
        for e in hs_events.into_iter().chain(record_events) {
            st.events.insert(e);
            up.insert(TlsUpdate::EVENT);
        }
        if !was_stopped && reader.stopped() {
            up.insert(TlsUpdate::STOPPED);
        }
        up
    }

    /// Stream bytes of one direction were lost. Records cannot be re-framed after a gap,
    /// so that direction stops parsing (with [`TlsEvent::StreamGap`]); what was parsed stays.
    pub fn gap(&mut self, to_server: bool) -> TlsUpdate {
        let reader = if to_server {
            &mut self.to_server
        } else {
            &mut self.to_client
        };
        let mut up = TlsUpdate::default();
        if !reader.stopped() {
            reader.stop();
            self.st.events.insert(TlsEvent::StreamGap);
            up.insert(TlsUpdate::EVENT);
            up.insert(TlsUpdate::STOPPED);
        }
        up
    }

    /// The parsed ClientHello (the last one, after a HelloRetryRequest).
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.st.client_hello.as_ref()
    }

    /// The parsed ServerHello.
    pub fn server_hello(&self) -> Option<&ServerHello> {
        self.st.server_hello.as_ref()
    }

    /// The certificate chain one side sent: the server's (`to_server == false`) or a client
    /// certificate (`to_server == true`, mutual TLS). TLS 1.3 chains are encrypted: `None`.
    pub fn certs(&self, to_server: bool) -> Option<&CertChain> {
        self.seen(to_server).certs.as_ref()
    }

    /// Events raised so far.
    pub fn events(&self) -> TlsEvents {
        self.st.events
    }

    /// Whether the handshake is over (both ChangeCipherSpecs, application data, or a TLS 1.3
    /// ServerHello): nothing later is visible to TLS rules.
    pub fn handshake_done(&self) -> bool {
        self.st.done
    }

    /// Whether a direction stopped parsing (garbage, a limit, a gap).
    pub fn stopped(&self, to_server: bool) -> bool {
        if to_server {
            self.to_server.stopped()
        } else {
            self.to_client.stopped()
        }
    }

    /// Bytes held for reassembly in both directions (bounded by the configuration).
    pub fn buffered_bytes(&self) -> usize {
        self.to_server.buffered() + self.to_client.buffered()
    }

    fn seen(&self, to_server: bool) -> &Seen {
        if to_server {
            &self.st.client
        } else {
            &self.st.server
        }
    }

    /// The version Suricata's `tls.version` compares for a direction: the record-layer
    /// version until that side's hello, then the hello's (`supported_versions` first, so a
    /// TLS 1.3 client and server both say 0x0304). `tls.version` treats 0x7fXX drafts as
    /// 0x0304 unless the rule gives a raw hex value.
    pub fn version(&self, to_server: bool) -> Option<u16> {
        let hello = if to_server {
            self.st.client_hello.as_ref().map(ClientHello::version)
        } else {
            self.st.server_hello.as_ref().map(ServerHello::version)
        };
        hello.or(self.seen(to_server).record_version)
    }

    /// The version as an `ssl_version` keyword value, for a direction.
    pub fn ssl_version(&self, to_server: bool) -> Option<SslVersion> {
        self.version(to_server).and_then(SslVersion::from_wire)
    }

    /// Every handshake state seen so far (`ssl_state`), both directions.
    pub fn ssl_states(&self) -> SslStates {
        self.st.states
    }

    /// The state of the last handshake message parsed (Suricata's `ssl_state` matches this
    /// one, not the accumulated set).
    pub fn ssl_state_current(&self) -> SslStates {
        self.st.current_state
    }

    /// notBefore of the server's leaf certificate, unix seconds (`tls_cert_notbefore`).
    pub fn cert_not_before(&self) -> Option<i64> {
        Some(self.certs(false)?.leaf.as_ref()?.not_before)
    }

    /// notAfter of the server's leaf certificate, unix seconds (`tls_cert_notafter`).
    pub fn cert_not_after(&self) -> Option<i64> {
        Some(self.certs(false)?.leaf.as_ref()?.not_after)
    }

    /// Number of certificates in the server's chain (`tls.cert_chain_len`); 0 when none.
    pub fn cert_chain_len(&self) -> usize {
        self.certs(false).map_or(0, |c| c.der.len())
    }

    /// The `i`-th instance (from 0) of a TLS buffer for a direction, or `None` when it does
    /// not exist. Buffers belong to the direction whose message carries them, as Suricata
    /// registers them: SNI, JA3 and JA4 to the server; certificate fields and JA3S to the
    /// client (or, with `to_server`, the client's own certificate in mutual TLS); the random
    /// and ALPN of the hello of that direction. Single buffers have only instance 0.
    /// `AppBuffer::TlsVersion` is not a byte buffer here: see [`TlsConn::version`].
    pub fn buffer_n(&self, b: AppBuffer, to_server: bool, i: usize) -> Option<&[u8]> {
        let ch = self.st.client_hello.as_ref().filter(|_| to_server);
        let sh = self.st.server_hello.as_ref().filter(|_| !to_server);
        let chain = self.certs(to_server);
        let leaf = chain.and_then(|c| c.leaf.as_ref());
        match b {
            AppBuffer::TlsSni => only_first(i, ch?.sni.as_deref()),
            AppBuffer::Ja3String => only_first(i, Some(ch?.ja3.as_bytes())),
            AppBuffer::Ja3Hash => only_first(i, Some(ch?.ja3_hash.as_bytes())),
            AppBuffer::Ja4Hash => only_first(i, Some(ch?.ja4.as_bytes())),
            AppBuffer::Ja3sString => only_first(i, Some(sh?.ja3s.as_bytes())),
            AppBuffer::Ja3sHash => only_first(i, Some(sh?.ja3s_hash.as_bytes())),
            AppBuffer::TlsCertSubject => only_first(i, Some(leaf?.subject.as_bytes())),
            AppBuffer::TlsCertIssuer => only_first(i, Some(leaf?.issuer.as_bytes())),
            AppBuffer::TlsCertSerial => only_first(i, Some(leaf?.serial.as_bytes())),
            AppBuffer::TlsCertFingerprint => {
                only_first(i, chain?.fingerprint.as_deref().map(str::as_bytes))
            }
            AppBuffer::TlsCerts => chain?.der.get(i).map(Vec::as_slice),
            AppBuffer::TlsSubjectAltName => leaf?.san_dns.get(i).map(Vec::as_slice),
            AppBuffer::TlsRandom => only_first(i, self.random(to_server)),
            AppBuffer::TlsRandomTime => only_first(i, self.random(to_server)?.get(..4)),
            AppBuffer::TlsRandomBytes => only_first(i, self.random(to_server)?.get(4..)),
            AppBuffer::TlsAlpn => {
                let alpn = if to_server { &ch?.alpn } else { &sh?.alpn };
                alpn.get(i).map(Vec::as_slice)
            }
            _ => None,
        }
    }

    fn random(&self, to_server: bool) -> Option<&[u8]> {
        if to_server {
            self.st.client_hello.as_ref().map(|h| &h.random[..])
        } else {
            self.st.server_hello.as_ref().map(|h| &h.random[..])
        }
    }

    /// The EVE `tls` object for this connection; unknown fields are omitted.
    pub fn eve(&self) -> TlsInfo {
        TlsInfo::from_conn(self)
    }
}

/// A single buffer has only instance 0.
fn only_first(i: usize, v: Option<&[u8]>) -> Option<&[u8]> {
    v.filter(|_| i == 0)
}

impl State {
    fn unit(
        &mut self,
        to_server: bool,
        u: Unit<'_>,
        up: &mut TlsUpdate,
        events: &mut Vec<TlsEvent>,
    ) -> Next {
        let seen = if to_server {
            &mut self.client
        } else {
            &mut self.server
        };
        match u {
            Unit::Record {
                content_type,
                version,
            } => {
                seen.record_version = Some(version);
                if content_type == content::APPLICATION_DATA {
                    self.finish(up);
                }
            }
            Unit::ChangeCipherSpec => {
                seen.ccs = true;
                if self.client.ccs && self.server.ccs {
                    self.finish(up);
                }
            }
            Unit::ApplicationData => self.finish(up),
            Unit::Handshake { msg_type, msg } => {
                return self.handshake(to_server, msg_type, msg, up, events);
            }
        }
        Next::Plaintext
    }

    fn finish(&mut self, up: &mut TlsUpdate) {
        if !self.done {
            self.done = true;
            up.insert(TlsUpdate::HANDSHAKE_DONE);
        }
    }

    fn handshake(
        &mut self,
        to_server: bool,
        msg_type: u8,
        msg: &[u8],
        up: &mut TlsUpdate,
        events: &mut Vec<TlsEvent>,
    ) -> Next {
        let mut ev = |e| events.push(e);
        let state = match msg_type {
            hs::CLIENT_HELLO => {
                if let Some(h) = parse_client_hello(msg, &mut ev) {
                    self.client_hello = Some(h);
                    up.insert(TlsUpdate::CLIENT_HELLO);
                }
                SslStates::CLIENT_HELLO
            }
            hs::SERVER_HELLO => return self.server_hello(msg, up, &mut ev),
            hs::CERTIFICATE => {
                if let Some(c) = parse_certificate(msg, &mut ev) {
                    let seen = if to_server {
                        &mut self.client
                    } else {
                        &mut self.server
                    };
                    seen.certs = Some(c);
                    up.insert(TlsUpdate::CERTIFICATE);
                }
                SslStates::empty()
            }
            hs::SERVER_KEY_EXCHANGE => SslStates::SERVER_KEYX,
            hs::CLIENT_KEY_EXCHANGE => SslStates::CLIENT_KEYX,
            hs::HELLO_REQUEST
            | hs::NEW_SESSION_TICKET
            | hs::CERTIFICATE_REQUEST
            | hs::SERVER_HELLO_DONE
            | hs::CERTIFICATE_VERIFY
            | hs::FINISHED
            | hs::CERTIFICATE_URL
            | hs::CERTIFICATE_STATUS => SslStates::empty(),
            _ => {
                ev(TlsEvent::InvalidHandshakeMessage);
                SslStates::UNKNOWN
            }
        };
        self.set_state(state, up);
        Next::Plaintext
    }

    fn server_hello(
        &mut self,
        msg: &[u8],
        up: &mut TlsUpdate,
        ev: &mut dyn FnMut(TlsEvent),
    ) -> Next {
        self.set_state(SslStates::SERVER_HELLO, up);
        let Some(h) = parse_server_hello(msg, ev) else {
            return Next::Plaintext;
        };
        // After a TLS 1.3 ServerHello every server record is ciphertext; a HelloRetryRequest
        // instead asks for a second cleartext ClientHello, so the handshake goes on.
        let encrypted = h.is_tls13() && !h.is_retry_request();
        self.server_hello = Some(h);
        up.insert(TlsUpdate::SERVER_HELLO);
        if encrypted {
            self.finish(up);
            Next::Ciphertext
        } else {
            Next::Plaintext
        }
    }

    fn set_state(&mut self, s: SslStates, up: &mut TlsUpdate) {
        if !s.is_empty() {
            self.states = self.states.union(s);
            self.current_state = s;
            up.insert(TlsUpdate::STATE);
        }
    }
}

//! ClientHello and ServerHello: the fields rules and fingerprints read, decoded with
//! `tls-parser` and kept owned so the connection can outlive the stream bytes.

use tls_parser::{parse_tls_extension, parse_tls_message_handshake, TlsExtension, TlsMessage};
use tls_parser::{SNIType, TlsMessageHandshake};

use super::event::TlsEvent;
use super::ja;

/// Extension type numbers (IANA "TLS ExtensionType Values").
pub(crate) mod ext {
    pub const SERVER_NAME: u16 = 0x0000;
    pub const SUPPORTED_GROUPS: u16 = 0x000a;
    pub const EC_POINT_FORMATS: u16 = 0x000b;
    pub const SIGNATURE_ALGORITHMS: u16 = 0x000d;
    pub const ALPN: u16 = 0x0010;
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
}

/// RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest; the client sends
/// a second, cleartext ClientHello after it.
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// RFC 8701 GREASE values (0x0a0a, 0x1a1a, ... 0xfafa), ignored by JA3, JA4 and versions.
pub(crate) fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Versions Suricata accepts from `supported_versions`: SSLv3 to TLS 1.3 and TLS 1.3 drafts.
fn known_version(v: u16) -> bool {
    (0x0300..=0x0304).contains(&v) || v >> 8 == 0x7f
}

/// A parsed ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The hello's `legacy_version` field.
    pub legacy_version: u16,
    /// The 32-byte client random.
    pub random: [u8; 32],
    /// Offered cipher suites in wire order, GREASE included.
    pub ciphers: Vec<u16>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    /// `supported_groups` (elliptic curves) in wire order.
    pub groups: Vec<u16>,
    /// `ec_point_formats` in wire order.
    pub point_formats: Vec<u8>,
    /// `signature_algorithms` in wire order.
    pub signature_algorithms: Vec<u16>,
    /// `supported_versions` in wire order.
    pub supported_versions: Vec<u16>,
    /// The first host_name of the first SNI extension.
    pub sni: Option<Vec<u8>>,
    /// ALPN protocol names offered, in order.
    pub alpn: Vec<Vec<u8>>,
    /// JA3 string (`SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`).
    pub ja3: String,
    /// MD5 of [`ClientHello::ja3`], lowercase hex.
    pub ja3_hash: String,
    /// JA4 fingerprint (`t13d1516h2_8daaf6152771_…`).
    pub ja4: String,
}

impl ClientHello {
    /// The client's version as Suricata's `tls.version` sees it: the first known entry of
    /// `supported_versions` (GREASE skipped), else `legacy_version`.
    pub fn version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .find(|v| known_version(*v))
            .unwrap_or(self.legacy_version)
    }
}

/// A parsed ServerHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The hello's `legacy_version` field.
    pub legacy_version: u16,
    /// The 32-byte server random.
    pub random: [u8; 32],
    /// The chosen cipher suite.
    pub cipher: u16,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    /// The version chosen through `supported_versions` (TLS 1.3), if any.
    pub selected_version: Option<u16>,
    /// ALPN protocol chosen (zero or one name).
    pub alpn: Vec<Vec<u8>>,
    /// JA3S string (`SSLVersion,Cipher,Extensions`).
    pub ja3s: String,
    /// MD5 of [`ServerHello::ja3s`], lowercase hex.
    pub ja3s_hash: String,
}

impl ServerHello {
    /// The negotiated version: `supported_versions` when present, else `legacy_version`.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }

    /// Whether this "ServerHello" is a TLS 1.3 HelloRetryRequest.
    pub fn is_retry_request(&self) -> bool {
        self.random == HELLO_RETRY_RANDOM
    }

    /// Whether TLS 1.3 (or a draft) was chosen: everything after this hello is encrypted.
    pub fn is_tls13(&self) -> bool {
        let v = self.version();
        v == 0x0304 || v >> 8 == 0x7f
    }
}

/// Extension fields both hellos read.
#[derive(Debug, Default)]
struct Extensions {
    types: Vec<u16>,
    groups: Vec<u16>,
    point_formats: Vec<u8>,
    signature_algorithms: Vec<u16>,
    supported_versions: Vec<u16>,
    sni: Option<Vec<u8>>,
    alpn: Vec<Vec<u8>>,
}

/// Walks an extension block, keeping every type (for fingerprints) and decoding the
/// contents rules and fingerprints need. A cut block keeps what came before the cut.
fn parse_extensions(block: &[u8], events: &mut dyn FnMut(TlsEvent)) -> Extensions {
    let mut out = Extensions::default();
    let mut rest = block;
    while !rest.is_empty() {
        let (Some(&[t0, t1, l0, l1]), Some(after)) = (rest.get(..4), rest.get(4..)) else {
            events(TlsEvent::HandshakeInvalidLength);
            break;
        };
        let ext_type = u16::from_be_bytes([t0, t1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let (Some(raw), Some(next)) = (rest.get(..4 + len), after.get(len..)) else {
            events(TlsEvent::HandshakeInvalidLength);
            break;
        };
        out.types.push(ext_type);
        rest = next;
        if !matches!(
            ext_type,
            ext::SERVER_NAME
                | ext::SUPPORTED_GROUPS
                | ext::EC_POINT_FORMATS
                | ext::SIGNATURE_ALGORITHMS
                | ext::ALPN
                | ext::SUPPORTED_VERSIONS
        ) || len == 0
        {
            continue;
        }
        match parse_tls_extension(raw) {
            Ok((_, e)) => out.absorb(e, events),
            Err(_) => events(TlsEvent::HandshakeInvalidLength),
        }
    }
    out
}

impl Extensions {
    fn absorb(&mut self, e: TlsExtension<'_>, events: &mut dyn FnMut(TlsEvent)) {
        match e {
            TlsExtension::SNI(names) => self.absorb_sni(&names, events),
            TlsExtension::EllipticCurves(groups) => {
                self.groups.extend(groups.iter().map(|g| g.0));
            }
            TlsExtension::EcPointFormats(pf) => self.point_formats.extend_from_slice(pf),
            TlsExtension::SignatureAlgorithms(algs) => self.signature_algorithms.extend(algs),
            TlsExtension::ALPN(protos) => {
                self.alpn.extend(protos.iter().map(|p| p.to_vec()));
            }
            TlsExtension::SupportedVersions(vs) => {
                self.supported_versions.extend(vs.iter().map(|v| v.0));
            }
            _ => {}
        }
    }

    /// Suricata reads the first entry only, refuses non-host_name types and lengths outside
    /// 1..=255, and keeps the first of several SNI extensions.
    fn absorb_sni(&mut self, names: &[(SNIType, &[u8])], events: &mut dyn FnMut(TlsEvent)) {
        let Some((kind, name)) = names.first() else {
            return;
        };
        if *kind != SNIType::HostName {
            events(TlsEvent::InvalidSniType);
        } else if name.is_empty() || name.len() > 255 {
            events(TlsEvent::InvalidSniLength);
        } else if self.sni.is_some() {
            events(TlsEvent::MultipleSniExtensions);
        } else {
            self.sni = Some(name.to_vec());
        }
    }
}

fn random32(r: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    if let Some(src) = r.get(..32) {
        out.copy_from_slice(src);
    }
    out
}

/// Decodes a complete ClientHello message (header included).
pub(crate) fn parse_client_hello(
    msg: &[u8],
    events: &mut dyn FnMut(TlsEvent),
) -> Option<ClientHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        parse_tls_message_handshake(msg)
    else {
        events(TlsEvent::HandshakeInvalidLength);
        return None;
    };
    let exts = ch
        .ext
        .map(|b| parse_extensions(b, events))
        .unwrap_or_default();
    let mut hello = ClientHello {
        legacy_version: ch.version.0,
        random: random32(ch.random),
        ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
        extensions: exts.types,
        groups: exts.groups,
        point_formats: exts.point_formats,
        signature_algorithms: exts.signature_algorithms,
        supported_versions: exts.supported_versions,
        sni: exts.sni,
        alpn: exts.alpn,
        ja3: String::new(),
        ja3_hash: String::new(),
        ja4: String::new(),
    };
    hello.ja3 = ja::ja3_string(&hello);
    hello.ja3_hash = ja::md5_hex(hello.ja3.as_bytes());
    hello.ja4 = ja::ja4(&hello);
    Some(hello)
}

/// Decodes a complete ServerHello message (header included).
pub(crate) fn parse_server_hello(
    msg: &[u8],
    events: &mut dyn FnMut(TlsEvent),
) -> Option<ServerHello> {
    let (version, random, cipher, ext) = match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) => {
            (sh.version.0, sh.random, sh.cipher.0, sh.ext)
        }
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHelloV13Draft18(sh)))) => {
            (sh.version.0, sh.random, sh.cipher.0, sh.ext)
        }
        _ => {
            events(TlsEvent::HandshakeInvalidLength);
            return None;
        }
    };
    let exts = ext.map(|b| parse_extensions(b, events)).unwrap_or_default();
    let mut hello = ServerHello {
        legacy_version: version,
        random: random32(random),
        cipher,
        extensions: exts.types,
        selected_version: exts.supported_versions.first().copied(),
        alpn: exts.alpn,
        ja3s: String::new(),
        ja3s_hash: String::new(),
    };
    hello.ja3s = ja::ja3s_string(&hello);
    hello.ja3s_hash = ja::md5_hex(hello.ja3s.as_bytes());
    Some(hello)
}

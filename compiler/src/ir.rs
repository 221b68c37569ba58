//! Typed intermediate representation of a rule: everything resolved (variables, ports,
//! addresses), every option typed. Produced by `lower`, consumed by `classify`, the nft
//! planner and the bytecode generator.
//!
//! Invariants are carried by the types: a [`Rule`] cannot hold an unknown keyword (there is no
//! "other" variant), address and port sets are canonical interval sets, and a [`Content`] can
//! only be built through [`Content::new`], which checks its bounds.

pub use crate::keywords::tag::{Tag, TagMetric, TagScope};
pub use crate::keywords::txpred::TxPred;
pub use crate::keywords::uint::UintCmp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Snort signature id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sid(pub u32);

/// Snort generator id (1 for text rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gid(pub u32);

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Log an alert, let the packet through.
    Alert,
    /// Log the packet without an alert (Snort 2 `log`); treated as alert-only.
    Log,
    /// Stop inspecting this packet, let it through.
    Pass,
    /// Drop the packet (and the rest of its flow) and alert.
    Drop,
    /// Drop silently (no alert).
    Sdrop,
    /// Drop and send a reset / ICMP unreachable.
    Reject(RejectTarget),
}

/// Which side(s) receive the reset for a `reject*` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectTarget {
    /// `reject`: verdict resets both ends of a TCP connection (so neither side hangs);
    /// ICMP port unreachable to the sender for other protocols.
    Default,
    /// `rejectsrc`: only the packet's source.
    Src,
    /// `rejectdst`: only the packet's destination.
    Dst,
    /// `rejectboth`: both ends.
    Both,
}

impl Action {
    /// The keyword as written in rule text.
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Log => "log",
            Action::Pass => "pass",
            Action::Drop => "drop",
            Action::Sdrop => "sdrop",
            Action::Reject(RejectTarget::Default) => "reject",
            Action::Reject(RejectTarget::Src) => "rejectsrc",
            Action::Reject(RejectTarget::Dst) => "rejectdst",
            Action::Reject(RejectTarget::Both) => "rejectboth",
        }
    }
    /// Whether the action stops the packet (drop, sdrop, reject).
    pub fn blocks(self) -> bool {
        matches!(self, Action::Drop | Action::Sdrop | Action::Reject(_))
    }
}

/// The protocol field of the rule header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Any IP packet.
    Ip,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (v4 and v6, as Suricata treats `icmp`).
    Icmp,
    /// ICMPv6 only.
    Icmpv6,
    /// SCTP.
    Sctp,
    /// An application-layer protocol name (Suricata/Snort 3 style `alert http ...`).
    App(AppProto),
}

/// Application-layer protocols that may appear in the rule header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppProto {
    Http,
    Http2,
    Ftp,
    FtpData,
    Tls,
    Ssh,
    Smtp,
    Imap,
    Pop3,
    Dns,
    Smb,
    Dcerpc,
    Dhcp,
    Ntp,
    Snmp,
    Sip,
    Krb5,
    Nfs,
    Tftp,
    Ike,
    Modbus,
    Dnp3,
    Enip,
    Mqtt,
    Rdp,
    Rfb,
    Pgsql,
    Telnet,
    Quic,
    Ldap,
}

impl AppProto {
    /// Every app protocol, for name lookup.
    pub const ALL: &'static [AppProto] = &[
        AppProto::Http,
        AppProto::Http2,
        AppProto::Ftp,
        AppProto::FtpData,
        AppProto::Tls,
        AppProto::Ssh,
        AppProto::Smtp,
        AppProto::Imap,
        AppProto::Pop3,
        AppProto::Dns,
        AppProto::Smb,
        AppProto::Dcerpc,
        AppProto::Dhcp,
        AppProto::Ntp,
        AppProto::Snmp,
        AppProto::Sip,
        AppProto::Krb5,
        AppProto::Nfs,
        AppProto::Tftp,
        AppProto::Ike,
        AppProto::Modbus,
        AppProto::Dnp3,
        AppProto::Enip,
        AppProto::Mqtt,
        AppProto::Rdp,
        AppProto::Rfb,
        AppProto::Pgsql,
        AppProto::Telnet,
        AppProto::Quic,
        AppProto::Ldap,
    ];

    /// The name as written in rules.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Http => "http",
            AppProto::Http2 => "http2",
            AppProto::Ftp => "ftp",
            AppProto::FtpData => "ftp-data",
            AppProto::Tls => "tls",
            AppProto::Ssh => "ssh",
            AppProto::Smtp => "smtp",
            AppProto::Imap => "imap",
            AppProto::Pop3 => "pop3",
            AppProto::Dns => "dns",
            AppProto::Smb => "smb",
            AppProto::Dcerpc => "dcerpc",
            AppProto::Dhcp => "dhcp",
            AppProto::Ntp => "ntp",
            AppProto::Snmp => "snmp",
            AppProto::Sip => "sip",
            AppProto::Krb5 => "krb5",
            AppProto::Nfs => "nfs",
            AppProto::Tftp => "tftp",
            AppProto::Ike => "ike",
            AppProto::Modbus => "modbus",
            AppProto::Dnp3 => "dnp3",
            AppProto::Enip => "enip",
            AppProto::Mqtt => "mqtt",
            AppProto::Rdp => "rdp",
            AppProto::Rfb => "rfb",
            AppProto::Pgsql => "pgsql",
            AppProto::Telnet => "telnet",
            AppProto::Quic => "quic",
            AppProto::Ldap => "ldap",
        }
    }

    /// Looks a protocol name up (case-insensitive; `ssl` is an alias of `tls`, `http1` of
    /// `http`).
    pub fn from_name(name: &str) -> Option<AppProto> {
        let lower = name.to_ascii_lowercase();
        if lower == "ssl" {
            return Some(AppProto::Tls);
        }
        // Suricata's `http1` is HTTP/1 only, where `http` also covers HTTP/2; verdict parses
        // HTTP/1 alone, so both names select the same transactions.
        if lower == "http1" {
            return Some(AppProto::Http);
        }
        AppProto::ALL.iter().copied().find(|p| p.name() == lower)
    }

    /// The transport(s) this app protocol runs over, for steering.
    pub fn transports(self) -> &'static [Protocol] {
        match self {
            AppProto::Dns
            | AppProto::Smb
            | AppProto::Dcerpc
            | AppProto::Sip
            | AppProto::Krb5
            | AppProto::Nfs
            | AppProto::Snmp
            | AppProto::Ldap => &[Protocol::Tcp, Protocol::Udp],
            AppProto::Dhcp | AppProto::Ntp | AppProto::Tftp | AppProto::Ike | AppProto::Quic => {
                &[Protocol::Udp]
            }
            _ => &[Protocol::Tcp],
        }
    }
}

impl Protocol {
    /// The name as written in rules.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ip => "ip",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Sctp => "sctp",
            Protocol::App(a) => a.name(),
        }
    }
}

/// A canonical set of closed intervals over an ordered integer domain: sorted, disjoint,
/// non-adjacent. Exact union, intersection and complement, so `!$HOME_NET` with nested
/// negations is resolved without approximation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RangeSet<T> {
    ranges: Vec<(T, T)>,
}

/// Integer domain of a [`RangeSet`].
pub trait Domain: Copy + Ord + fmt::Debug {
    /// Smallest value.
    const MIN: Self;
    /// Largest value.
    const MAX: Self;
    /// `self + 1`, or `None` at `MAX`.
    fn succ(self) -> Option<Self>;
    /// `self - 1`, or `None` at `MIN`.
    fn pred(self) -> Option<Self>;
}

macro_rules! domain {
    ($t:ty) => {
        impl Domain for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn succ(self) -> Option<Self> {
                self.checked_add(1)
            }
            fn pred(self) -> Option<Self> {
                self.checked_sub(1)
            }
        }
    };
}
domain!(u16);
domain!(u32);
domain!(u128);

impl<T: Domain> RangeSet<T> {
    /// The empty set.
    pub fn empty() -> Self {
        RangeSet { ranges: Vec::new() }
    }
    /// The whole domain.
    pub fn full() -> Self {
        RangeSet {
            ranges: vec![(T::MIN, T::MAX)],
        }
    }
    /// One closed interval `lo..=hi` (empty if `lo > hi`).
    pub fn range(lo: T, hi: T) -> Self {
        if lo > hi {
            Self::empty()
        } else {
            RangeSet {
                ranges: vec![(lo, hi)],
            }
        }
    }
    /// Builds a canonical set from arbitrary intervals.
    pub fn from_ranges(mut ranges: Vec<(T, T)>) -> Self {
        ranges.retain(|(a, b)| a <= b);
        ranges.sort();
        let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            if let Some(last) = out.last_mut() {
                let touches = match last.1.succ() {
                    Some(next) => lo <= next,
                    None => true,
                };
                if touches {
                    if hi > last.1 {
                        last.1 = hi;
                    }
                    continue;
                }
            }
            out.push((lo, hi));
        }
        RangeSet { ranges: out }
    }
    /// The intervals, sorted and disjoint.
    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }
    /// True if no value is in the set.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// True if every value of the domain is in the set.
    pub fn is_full(&self) -> bool {
        self.ranges.len() == 1 && self.ranges[0] == (T::MIN, T::MAX)
    }
    /// Membership test (binary search).
    pub fn contains(&self, v: T) -> bool {
        self.ranges
            .binary_search_by(|(lo, hi)| {
                if v < *lo {
                    std::cmp::Ordering::Greater
                } else if v > *hi {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }
    /// Set union.
    pub fn union(&self, other: &Self) -> Self {
        let mut all = self.ranges.clone();
        all.extend_from_slice(&other.ranges);
        Self::from_ranges(all)
    }
    /// Union of many sets in one sort, linear-logarithmic in their total size.
    pub fn union_all(sets: &[Self]) -> Self {
        Self::from_ranges(sets.iter().flat_map(|s| s.ranges.iter().copied()).collect())
    }
    /// Set complement within the domain.
    pub fn complement(&self) -> Self {
        let mut out = Vec::new();
        let mut next = Some(T::MIN);
        for &(lo, hi) in &self.ranges {
            if let Some(start) = next {
                if lo > start {
                    out.push((start, lo.pred().expect("lo > MIN")));
                }
            }
            next = hi.succ();
        }
        if let Some(start) = next {
            out.push((start, T::MAX));
        }
        RangeSet { ranges: out }
    }
    /// Set intersection.
    pub fn intersect(&self, other: &Self) -> Self {
        self.complement().union(&other.complement()).complement()
    }
    /// Set difference `self \ other`.
    pub fn difference(&self, other: &Self) -> Self {
        self.intersect(&other.complement())
    }
}

/// A set of ports.
pub type PortSet = RangeSet<u16>;

/// A set of IP addresses, per family; `v4`/`v6` are canonical interval sets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpSet {
    /// IPv4 addresses as big-endian integers.
    pub v4: RangeSet<u32>,
    /// IPv6 addresses as big-endian integers.
    pub v6: RangeSet<u128>,
}

impl IpSet {
    /// Every address of both families (`any`).
    pub fn any() -> Self {
        IpSet {
            v4: RangeSet::full(),
            v6: RangeSet::full(),
        }
    }
    /// No address.
    pub fn empty() -> Self {
        IpSet {
            v4: RangeSet::empty(),
            v6: RangeSet::empty(),
        }
    }
    /// True for `any`.
    pub fn is_any(&self) -> bool {
        self.v4.is_full() && self.v6.is_full()
    }
    /// True if no address matches (such a rule can never fire).
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
    /// Union.
    pub fn union(&self, o: &Self) -> Self {
        IpSet {
            v4: self.v4.union(&o.v4),
            v6: self.v6.union(&o.v6),
        }
    }
    /// Union of many sets (address lists) in one sort per family.
    pub fn union_all(sets: &[Self]) -> Self {
        IpSet {
            v4: RangeSet::from_ranges(
                sets.iter()
                    .flat_map(|s| s.v4.ranges().iter().copied())
                    .collect(),
            ),
            v6: RangeSet::from_ranges(
                sets.iter()
                    .flat_map(|s| s.v6.ranges().iter().copied())
                    .collect(),
            ),
        }
    }
    /// Complement.
    pub fn complement(&self) -> Self {
        IpSet {
            v4: self.v4.complement(),
            v6: self.v6.complement(),
        }
    }
    /// Intersection.
    pub fn intersect(&self, o: &Self) -> Self {
        IpSet {
            v4: self.v4.intersect(&o.v4),
            v6: self.v6.intersect(&o.v6),
        }
    }
    /// Membership test.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        match ip {
            std::net::IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            std::net::IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }
}

/// Direction operator of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// `->`
    To,
    /// `<>`: either direction.
    Both,
    /// `=>`: one app-layer transaction, request keywords on its request and response
    /// keywords on its response (Suricata 8 transactional rules).
    Tx,
}

/// A numeric comparison as used by dsize, ttl, itype, icode, byte_test, … (`=N`, `!N`,
/// `<N`, `>N`, `<=N`, `>=N`, `N-M` / `N<>M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NumCmp {
    /// `N`
    Eq(u64),
    /// `!N`
    Ne(u64),
    /// `<N`
    Lt(u64),
    /// `<=N`
    Le(u64),
    /// `>N`
    Gt(u64),
    /// `>=N`
    Ge(u64),
    /// `N<>M`: exclusive range (Snort semantics, min < x < max).
    RangeExclusive(u64, u64),
    /// `N-M` / `N<=>M`: inclusive range.
    RangeInclusive(u64, u64),
}

impl NumCmp {
    /// Evaluates the comparison.
    pub fn test(self, v: u64) -> bool {
        match self {
            NumCmp::Eq(n) => v == n,
            NumCmp::Ne(n) => v != n,
            NumCmp::Lt(n) => v < n,
            NumCmp::Le(n) => v <= n,
            NumCmp::Gt(n) => v > n,
            NumCmp::Ge(n) => v >= n,
            NumCmp::RangeExclusive(a, b) => v > a && v < b,
            NumCmp::RangeInclusive(a, b) => v >= a && v <= b,
        }
    }
}

/// Index of a `byte_extract`/`byte_math` variable within a rule (at most 8 per rule, as
/// Snort allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VarSlot(pub u8);

/// A numeric operand: a literal or a variable written by an earlier `byte_extract`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operand {
    /// A literal.
    Lit(i64),
    /// A byte_extract/byte_math variable.
    Var(VarSlot),
}

/// The buffer a payload test inspects. Snort 2 modifiers (`http_uri`), Snort 3 / Suricata
/// sticky buffers (`http.uri;`, `http_uri;` in Snort 3 syntax) and `pkt_data`/`file_data`
/// all map here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Buffer {
    /// The packet's transport payload (or reassembled stream when available); `pkt_data`
    /// switches back to it.
    Payload,
    /// The raw packet payload, before any normalization (Snort 2 `rawbytes`, Snort 3
    /// `raw_data`, pcre `B`).
    Raw,
    /// `file_data` / `file.data`.
    FileData,
    /// `base64_data` after `base64_decode`.
    Base64Data,
    /// `ip.src`: the packet's source address, 4 or 16 raw bytes.
    IpSrc,
    /// `ip.dst`: the packet's destination address, 4 or 16 raw bytes.
    IpDst,
    /// An application-layer buffer.
    App(AppBuffer),
    /// A packet header as raw bytes (`ipv4.hdr`, `tcp.hdr`, …).
    Hdr(HdrBuffer),
}

/// The packet headers Suricata exposes as sticky buffers, each over its raw bytes as the
/// decoder delimits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HdrBuffer {
    /// `ipv4.hdr`: the IPv4 header with its options (IHL × 4 bytes).
    Ipv4,
    /// `ipv6.hdr`: the 40-byte IPv6 header followed by its extension headers.
    Ipv6,
    /// `tcp.hdr`: the TCP header with its options (data offset × 4 bytes).
    Tcp,
    /// `udp.hdr`: the 8-byte UDP header.
    Udp,
    /// `icmpv4.hdr`: the ICMPv4 header, 8 bytes plus the timestamp or router-advert body.
    Icmpv4,
    /// `icmpv6.hdr`: the 8-byte ICMPv6 header.
    Icmpv6,
}

impl HdrBuffer {
    /// True if a rule whose header names `proto` may select this buffer: Suricata refuses a
    /// transport header buffer in a rule whose protocol cannot carry that transport.
    pub fn fits(self, proto: Protocol) -> bool {
        match self {
            HdrBuffer::Ipv4 | HdrBuffer::Ipv6 => true,
            HdrBuffer::Tcp | HdrBuffer::Udp => {
                matches!(proto, Protocol::Ip | Protocol::App(_))
                    || proto
                        == if self == HdrBuffer::Tcp {
                            Protocol::Tcp
                        } else {
                            Protocol::Udp
                        }
            }
            HdrBuffer::Icmpv4 => matches!(proto, Protocol::Ip | Protocol::Icmp),
            HdrBuffer::Icmpv6 => matches!(proto, Protocol::Ip | Protocol::Icmp | Protocol::Icmpv6),
        }
    }
}

impl Buffer {
    /// The one side of a transaction that fills this buffer (true: the request), or `None`
    /// when both do (HTTP headers, file data, the cookie — `Set-Cookie` in a response —, DNS
    /// question names, the TLS random and ALPN of each hello) or it is not a transaction
    /// buffer.
    pub fn tx_side(self) -> Option<bool> {
        use AppBuffer::*;
        match self {
            Buffer::App(
                HttpUri | HttpRawUri | HttpMethod | HttpClientBody | HttpUserAgent | HttpHost
                | HttpRawHost | HttpAccept | HttpAcceptLang | HttpAcceptEnc | HttpReferer
                | HttpRequestLine | HttpTrueIp | HttpRequestHeader | DnsQuery | TlsSni | Ja3Hash
                | Ja3String | Ja4Hash | SshHassh | SshHasshString | FtpCommand | FtpCommandData
                | SmtpHelo | SmtpMailFrom | SmtpRcptTo | SipMethod | SipUri | SipRequestLine,
            ) => Some(true),
            // dns.answers.rrname reads either direction (a request may carry answers).
            Buffer::App(
                HttpServerBody | HttpStatCode | HttpStatMsg | HttpResponseLine | HttpLocation
                | HttpServer | HttpResponseHeader | DnsAuthoritiesRrname | DnsAdditionalsRrname
                | DnsResponseRrname | Ja3sHash | Ja3sString | TlsCertSubject | TlsCertIssuer
                | TlsCertSerial | TlsCertFingerprint | TlsCerts | TlsSubjectAltName
                | SshHasshServer | SshHasshServerString | FtpReply | FtpCompletionCode
                | SipStatCode | SipStatMsg | SipResponseLine,
            ) => Some(false),
            _ => None,
        }
    }

    /// True for a transaction buffer that both sides fill, which a transactional (`=>`)
    /// rule must read from one named side.
    pub fn two_sided(self) -> bool {
        matches!(self, Buffer::App(_) | Buffer::FileData) && self.tx_side().is_none()
    }

    /// True for the per-file buffers (`file.data`, `file.name`, `file.magic`): one instance
    /// per file, and selecting one again in a rule starts a new, independent instance
    /// (`file.data; content:"a"; file.data; content:"b";` may match two files), as
    /// Suricata 7 inspects repeated multi-buffer selections.
    pub fn per_file(self) -> bool {
        matches!(
            self,
            Buffer::FileData | Buffer::App(AppBuffer::FileName | AppBuffer::FileMagic)
        )
    }
}

/// Named application-layer buffers (Suricata names in parentheses in docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppBuffer {
    HttpUri,
    HttpRawUri,
    HttpMethod,
    HttpHeader,
    HttpRawHeader,
    HttpCookie,
    HttpClientBody,
    HttpServerBody,
    HttpStatCode,
    HttpStatMsg,
    HttpUserAgent,
    HttpHost,
    HttpRawHost,
    HttpAccept,
    HttpAcceptLang,
    HttpAcceptEnc,
    HttpReferer,
    HttpContentType,
    HttpContentLen,
    HttpConnection,
    HttpProtocol,
    HttpRequestLine,
    HttpResponseLine,
    HttpStart,
    HttpLocation,
    HttpServer,
    HttpHeaderNames,
    HttpTrueIp,
    /// `http.request_header`: each request header as `name: value` (a multi-buffer).
    HttpRequestHeader,
    /// `http.response_header`: each response header as `name: value` (a multi-buffer).
    HttpResponseHeader,
    /// `dns.query`: each question name of a request (a multi-buffer).
    DnsQuery,
    /// `dns.queries.rrname`: each question name, requests and responses.
    DnsQueriesRrname,
    /// `dns.answers.rrname`: each answer record's owner name.
    DnsAnswersRrname,
    /// `dns.authorities.rrname`: each authority record's owner name.
    DnsAuthoritiesRrname,
    /// `dns.additionals.rrname`: each additional record's owner name.
    DnsAdditionalsRrname,
    /// `dns.response.rrname`: every name a response carries (questions, owners, and names in
    /// answer data such as CNAME/PTR/MX targets).
    DnsResponseRrname,
    TlsSni,
    TlsCertSubject,
    TlsCertIssuer,
    TlsCertSerial,
    TlsCertFingerprint,
    TlsVersion,
    Ja3Hash,
    Ja3String,
    Ja3sHash,
    Ja3sString,
    /// `tls.certs`: each DER certificate of the server's chain (a multi-buffer).
    TlsCerts,
    /// `tls.subjectaltname`: each DNS name of the server certificate's SAN (a multi-buffer).
    TlsSubjectAltName,
    /// `tls.random`: the 32-byte ClientHello/ServerHello random of the packet's direction.
    TlsRandom,
    /// `tls.random_time`: the first 4 bytes of the random.
    TlsRandomTime,
    /// `tls.random_bytes`: the last 28 bytes of the random.
    TlsRandomBytes,
    /// `tls.alpn`: each ALPN protocol name offered (client) or chosen (server).
    TlsAlpn,
    /// `ja4.hash`: the JA4 TLS client fingerprint.
    Ja4Hash,
    /// `ssh.proto`: the protocol version of the packet side's banner (`2.0`).
    SshProto,
    /// `ssh.software`: the software version of the packet side's banner (`OpenSSH_9.6`).
    SshSoftware,
    /// `ssh.hassh`: MD5 (hex) of the client's HASSH algorithm string.
    SshHassh,
    /// `ssh.hassh.string`: the client's HASSH algorithm string.
    SshHasshString,
    /// `ssh.hassh.server`: MD5 (hex) of the server's HASSH algorithm string.
    SshHasshServer,
    /// `ssh.hassh.server.string`: the server's HASSH algorithm string.
    SshHasshServerString,
    /// `ftp.command`: the command name of an FTP request (`RETR`).
    FtpCommand,
    /// `ftp.command_data`: what follows the command name (`temp.txt`).
    FtpCommandData,
    /// `ftp.reply`: each reply line's text without its completion code (a multi-buffer).
    FtpReply,
    /// `ftp.completion_code`: each reply line's completion code (a multi-buffer).
    FtpCompletionCode,
    /// `smtp.helo`: the argument of the session's first HELO/EHLO.
    SmtpHelo,
    /// `smtp.mail_from`: the argument of the transaction's MAIL FROM.
    SmtpMailFrom,
    /// `smtp.rcpt_to`: each RCPT TO argument of the transaction (a multi-buffer).
    SmtpRcptTo,
    FileName,
    SmbNamedPipe,
    SmbShare,
    DceStubData,
    /// `sip.method`: the method of a SIP request (`INVITE`).
    SipMethod,
    /// `sip.uri`: the Request-URI of a SIP request.
    SipUri,
    Krb5Cname,
    Krb5Sname,
    /// Snort `http_raw_cookie` / pcre `K`.
    HttpRawCookie,
    /// Snort `sip_header`: the header section of a SIP message as sent (after the start
    /// line, up to the empty line).
    SipHeader,
    /// Snort `sip_body`: the SIP message body.
    SipBody,
    /// `sip.request_line`: a SIP request's whole first line.
    SipRequestLine,
    /// `sip.stat_code`: a SIP response's status code (`180`).
    SipStatCode,
    /// `sip.stat_msg`: a SIP response's reason phrase (`Ringing`).
    SipStatMsg,
    /// `sip.response_line`: a SIP response's whole first line.
    SipResponseLine,
    /// `sip.protocol`: the SIP version of the message's first line (`SIP/2.0`).
    SipProtocol,
    /// `sip.from`: each `From` (`f`) header value of the message (a multi-buffer).
    SipFrom,
    /// `sip.to`: each `To` (`t`) header value (a multi-buffer).
    SipTo,
    /// `sip.via`: each `Via` (`v`) header value (a multi-buffer).
    SipVia,
    /// `sip.user_agent`: each `User-Agent` header value (a multi-buffer).
    SipUserAgent,
    /// `sip.content_type`: each `Content-Type` (`c`) header value (a multi-buffer).
    SipContentType,
    /// `sip.content_length`: each `Content-Length` (`l`) header value (a multi-buffer).
    SipContentLength,
    /// `file.magic`: libmagic's description of each file of the transaction's direction
    /// (a multi-buffer, one instance per file).
    FileMagic,
    /// `snmp.community`: the community string of an SNMPv1/v2c message.
    SnmpCommunity,
    /// `snmp.usm`: the USM user name of an SNMPv3 message.
    SnmpUsm,
}

/// A Suricata buffer transform: rewrites a sticky buffer before the rule's tests on it read
/// it (`dns.query; dotprefix; content:".evil.com"; endswith;`). A chain runs in rule order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transform {
    /// `dotprefix`: a `.` before the buffer, so `.evil.com` matches the domain and its
    /// subdomains but not `notevil.com`.
    DotPrefix,
    /// `to_lowercase`
    ToLowercase,
    /// `to_uppercase`
    ToUppercase,
    /// `strip_whitespace`: every whitespace byte removed.
    StripWhitespace,
    /// `compress_whitespace`: each run of whitespace becomes one space.
    CompressWhitespace,
    /// `url_decode`: `%XX` and `+` decoded.
    UrlDecode,
    /// `xor:[offset N,]<key>`: each byte from `offset` on xor-ed with the key, repeated; the
    /// bytes before `offset` are kept (they may hold the key itself).
    Xor {
        /// Where the key comes from.
        key: XorKey,
        /// First byte decoded.
        offset: u32,
    },
    /// `from_base64[:bytes N, offset N, mode M]`.
    FromBase64 {
        /// Bytes to skip before decoding.
        offset: u32,
        /// Bytes to decode (0: to the end).
        bytes: u32,
        /// RFC 4648 (true, the default: stop at the first byte outside the alphabet) or
        /// RFC 2045 (skip such bytes).
        strict: bool,
    },
    /// `to_md5`: the buffer's MD5 digest (16 raw bytes).
    ToMd5,
    /// `to_sha1`: the buffer's SHA-1 digest (20 raw bytes).
    ToSha1,
    /// `to_sha256`: the buffer's SHA-256 digest (32 raw bytes).
    ToSha256,
    /// `header_lowercase`: header names (before each line's `:`) lower-cased.
    HeaderLowercase,
    /// `strip_pseudo_headers`: lines starting with `:` removed.
    StripPseudoHeaders,
    /// `pcrexform:"<regex>"`: the buffer becomes the regex's first capture.
    PcreXform(String),
    /// `subslice:offset[,nbytes][,truncate]`: a slice of the buffer; negative values count
    /// from its end. Out of range without `truncate` empties the buffer.
    Subslice {
        /// Start (negative: from the end).
        offset: i64,
        /// Length (negative: end that many bytes before the buffer end); `None`: to the end.
        nbytes: Option<i64>,
        /// Clamp out-of-range values to the buffer instead of emptying it.
        truncate: bool,
    },
    /// `gunzip[:max-size N]`: the gzip-decompressed buffer, at most `max_size` bytes; empty
    /// when the data is not gzip.
    Gunzip {
        /// Output bound (Suricata's default 1024, at most 16 MiB).
        max_size: u32,
    },
    /// `zlib_deflate[:max-size N]`: the zlib-decompressed buffer, bounded as `Gunzip`.
    ZlibDeflate {
        /// Output bound.
        max_size: u32,
    },
    /// `domain`: the registrable domain of a DNS name (public suffix plus one label).
    Domain,
    /// `tld`: the public suffix of a DNS name (`co.uk` for `www.bbc.co.uk`).
    Tld,
}

/// Where `xor` takes its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum XorKey {
    /// A fixed key written in the rule in hex.
    Hex(Vec<u8>),
    /// `extract <nbytes> <offset>`: the key is `nbytes` bytes of the buffer at `offset`,
    /// read before decoding; the transform leaves the buffer alone when they are not there.
    Extract {
        /// Key length (1..=255).
        nbytes: u8,
        /// Key position in the buffer.
        offset: u16,
    },
}

/// A transform chain on one selection of a sticky buffer: the rule's tests on `buffer` with
/// indices in `tests` read the transformed bytes. As in Suricata, selecting the same buffer
/// again starts a new instance with its own transforms (`http.uri; content:"/get";
/// http.uri; pcrexform:"…"; content:"…";`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BufferTransforms {
    /// The buffer the chain rewrites.
    pub buffer: Buffer,
    /// The transforms, in rule order.
    pub chain: Vec<Transform>,
    /// The payload tests (indices into the rule's payload, or the program's ops) of this
    /// selection.
    pub tests: std::ops::Range<u32>,
}

/// In a transactional (`=>`) rule, the side a selection of a two-sided buffer reads
/// (`http.connection: to_client;`), whatever the direction of the packet being inspected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxDirSelection {
    /// The two-sided buffer.
    pub buffer: Buffer,
    /// True: the request's instance of the buffer; false: the response's.
    pub to_server: bool,
    /// The payload tests of the selection.
    pub tests: std::ops::Range<u32>,
}

impl TxDirSelection {
    /// True if test `i`, reading buffer `b`, belongs to this selection.
    pub fn covers(&self, i: usize, b: Buffer) -> bool {
        b == self.buffer && u32::try_from(i).is_ok_and(|i| self.tests.contains(&i))
    }
}

impl BufferTransforms {
    /// True if test `i`, reading buffer `b`, reads through this chain.
    pub fn covers(&self, i: usize, b: Buffer) -> bool {
        b == self.buffer && u32::try_from(i).is_ok_and(|i| self.tests.contains(&i))
    }
}

/// Where a content (or pcre/byte op) is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Position {
    /// From the start of the buffer: `offset` (default 0) and optional `depth`.
    Absolute {
        /// Bytes to skip from the buffer start.
        offset: Operand,
        /// Bytes to search from `offset`, if bounded.
        depth: Option<Operand>,
    },
    /// From the end of the previous match: `distance` (may be negative) and optional `within`.
    Relative {
        /// Bytes to skip after the previous match (may be negative).
        distance: Operand,
        /// Bytes to search from there, if bounded.
        within: Option<Operand>,
    },
    /// Suricata `startswith`: at offset 0, depth = pattern length.
    StartsWith,
}

/// Fast-pattern selection on a content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FastPattern {
    /// `fast_pattern;`
    Whole,
    /// `fast_pattern:only;` (Snort 2): the content is only used for the prefilter.
    Only,
    /// `fast_pattern:OFF,LEN;`: only that slice feeds the prefilter.
    Slice {
        /// Start of the slice within the pattern.
        offset: u16,
        /// Length of the slice.
        len: u16,
    },
}

/// Why a [`Content`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// Empty pattern.
    #[error("content pattern is empty")]
    Empty,
    /// `depth` smaller than the pattern.
    #[error("depth {depth} is shorter than the content ({len} bytes), so it can never match")]
    DepthTooShort {
        /// depth value
        depth: i64,
        /// pattern length
        len: usize,
    },
    /// `within` smaller than the pattern.
    #[error("within {within} is shorter than the content ({len} bytes), so it can never match")]
    WithinTooShort {
        /// within value
        within: i64,
        /// pattern length
        len: usize,
    },
    /// Negative offset or depth.
    #[error("{0} must not be negative")]
    Negative(&'static str),
    /// replace length differs.
    #[error("replace is {replace} bytes but the content is {len} bytes; replace must have the same length")]
    ReplaceLength {
        /// replace length
        replace: usize,
        /// pattern length
        len: usize,
    },
    /// fast_pattern slice out of bounds.
    #[error("fast_pattern slice {offset},{len} lies outside the {pattern} byte content")]
    FastPatternSlice {
        /// slice offset
        offset: u16,
        /// slice length
        len: u16,
        /// pattern length
        pattern: usize,
    },
}

/// A `content` test with its modifiers. Built only through [`Content::new`], which checks
/// that bounds are consistent with the pattern, so later stages can trust them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Content {
    pattern: Vec<u8>,
    negated: bool,
    nocase: bool,
    position: Position,
    // Left out of the JSON when false, so IR dumps and snapshots read as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ends_with: bool,
    buffer: Buffer,
    fast_pattern: Option<FastPattern>,
    replace: Option<Vec<u8>>,
}

/// Everything a content carries, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSpec {
    /// The bytes to find.
    pub pattern: Vec<u8>,
    /// `content:!"..."`
    pub negated: bool,
    /// `nocase`
    pub nocase: bool,
    /// offset/depth or distance/within.
    pub position: Position,
    /// Suricata `endswith`: the match must also end at the buffer's end (combinable with any
    /// position, as Suricata allows `depth` or `distance` with it).
    pub ends_with: bool,
    /// The buffer searched.
    pub buffer: Buffer,
    /// fast_pattern, if given.
    pub fast_pattern: Option<FastPattern>,
    /// replace bytes, if given.
    pub replace: Option<Vec<u8>>,
}

impl Content {
    /// Validates and builds a content.
    pub fn new(spec: ContentSpec) -> Result<Content, ContentError> {
        let len = spec.pattern.len();
        if len == 0 {
            return Err(ContentError::Empty);
        }
        match spec.position {
            Position::Absolute { offset, depth } => {
                if let Operand::Lit(o) = offset {
                    if o < 0 {
                        return Err(ContentError::Negative("offset"));
                    }
                }
                if let Some(Operand::Lit(d)) = depth {
                    if d < 0 {
                        return Err(ContentError::Negative("depth"));
                    }
                    if (d as u64) < len as u64 {
                        return Err(ContentError::DepthTooShort { depth: d, len });
                    }
                }
            }
            Position::Relative { within, .. } => {
                if let Some(Operand::Lit(w)) = within {
                    if w < 0 {
                        return Err(ContentError::Negative("within"));
                    }
                    if (w as u64) < len as u64 {
                        return Err(ContentError::WithinTooShort { within: w, len });
                    }
                }
            }
            Position::StartsWith => {}
        }
        if let Some(r) = &spec.replace {
            if r.len() != len {
                return Err(ContentError::ReplaceLength {
                    replace: r.len(),
                    len,
                });
            }
        }
        if let Some(FastPattern::Slice { offset, len: l }) = spec.fast_pattern {
            if l == 0 || offset as usize + l as usize > len {
                return Err(ContentError::FastPatternSlice {
                    offset,
                    len: l,
                    pattern: len,
                });
            }
        }
        Ok(Content {
            pattern: spec.pattern,
            negated: spec.negated,
            nocase: spec.nocase,
            position: spec.position,
            ends_with: spec.ends_with,
            buffer: spec.buffer,
            fast_pattern: spec.fast_pattern,
            replace: spec.replace,
        })
    }
    /// The bytes to find.
    pub fn pattern(&self) -> &[u8] {
        &self.pattern
    }
    /// True for `content:!"..."`.
    pub fn negated(&self) -> bool {
        self.negated
    }
    /// True with `nocase`.
    pub fn nocase(&self) -> bool {
        self.nocase
    }
    /// Where it is anchored.
    pub fn position(&self) -> Position {
        self.position
    }
    /// True with `endswith`: the match must end where the buffer ends.
    pub fn ends_with(&self) -> bool {
        self.ends_with
    }
    /// The buffer searched.
    pub fn buffer(&self) -> Buffer {
        self.buffer
    }
    /// fast_pattern setting.
    pub fn fast_pattern(&self) -> Option<FastPattern> {
        self.fast_pattern
    }
    /// replace bytes (same length as the pattern).
    pub fn replace(&self) -> Option<&[u8]> {
        self.replace.as_deref()
    }
    /// The bytes that feed the prefilter when this content is the fast pattern.
    pub fn fast_pattern_bytes(&self) -> &[u8] {
        match self.fast_pattern {
            Some(FastPattern::Slice { offset, len }) => {
                &self.pattern[offset as usize..offset as usize + len as usize]
            }
            _ => &self.pattern,
        }
    }
    /// If the content is at a fixed, known place in the buffer (offset literal and depth equal
    /// to the pattern length), the byte offset where it must start.
    pub fn fixed_offset(&self) -> Option<u32> {
        if self.ends_with {
            // Also tied to the buffer's length, which a fixed-offset compare does not check.
            return None;
        }
        match self.position {
            Position::StartsWith => Some(0),
            Position::Absolute {
                offset: Operand::Lit(o),
                depth: Some(Operand::Lit(d)),
            } if d as usize == self.pattern.len() => u32::try_from(o).ok(),
            _ => None,
        }
    }
}

/// A `pcre` test. `pattern` is the regex body (between the slashes), `flags` the
/// PCRE flags (`i`, `s`, `m`, `x`, …) and Snort/Suricata modifiers are broken out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pcre {
    /// Regex body.
    pub pattern: String,
    /// PCRE compile flags: caseless (i).
    pub caseless: bool,
    /// dotall (s).
    pub dotall: bool,
    /// multiline (m).
    pub multiline: bool,
    /// extended (x).
    pub extended: bool,
    /// anchored (A).
    pub anchored: bool,
    /// dollar_endonly (E).
    pub dollar_endonly: bool,
    /// ungreedy (G).
    pub ungreedy: bool,
    /// `R`: relative to the previous match.
    pub relative: bool,
    /// `!` before the slash.
    pub negated: bool,
    /// Buffer (from a modifier letter such as `U`, or the sticky buffer).
    pub buffer: Buffer,
}

/// Endianness for byte_* keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Endian {
    /// big endian (default).
    Big,
    /// little endian.
    Little,
    /// DCE/RPC: endianness from the DCE header (treated as little if unknown).
    Dce,
}

/// How bytes are converted to a number in byte_* keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NumBase {
    /// Raw binary integer of `count` bytes.
    Binary,
    /// ASCII decimal string.
    Dec,
    /// ASCII hex string.
    Hex,
    /// ASCII octal string.
    Oct,
}

/// byte_test operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ByteOp {
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `&` (bitwise and is non-zero)
    And,
    /// `^` (bitwise xor is non-zero)
    Xor,
}

/// `byte_test:count,[!]op,value,offset[,relative][,endian][,string,base][,dce][,bitmask]`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteTest {
    /// Number of bytes (1..=10 for strings, 1..=8 for binary): a literal, or an earlier
    /// variable whose value must obey the same bounds when the test runs.
    pub count: Operand,
    /// Comparison.
    pub op: ByteOp,
    /// `!op`
    pub negated: bool,
    /// Value compared against.
    pub value: Operand,
    /// Offset from the buffer start or the cursor.
    pub offset: Operand,
    /// `relative`
    pub relative: bool,
    /// Endianness.
    pub endian: Endian,
    /// Number base.
    pub base: NumBase,
    /// Optional bitmask applied before the comparison.
    pub bitmask: Option<u64>,
    /// Buffer inspected.
    pub buffer: Buffer,
}

/// `byte_jump:count,offset[,relative][,multiplier N][,endian][,string,base][,align][,from_beginning][,from_end][,post_offset N][,dce][,bitmask N]`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteJump {
    /// Bytes to read (0 allowed with from_end in Suricata; 1..=10 otherwise): a literal, or
    /// an earlier variable whose value must obey the same bounds when the jump runs.
    pub count: Operand,
    /// Offset of the bytes.
    pub offset: Operand,
    /// `relative`
    pub relative: bool,
    /// multiplier
    pub multiplier: u32,
    /// Endianness.
    pub endian: Endian,
    /// Number base.
    pub base: NumBase,
    /// `align`: round up to 4.
    pub align: bool,
    /// `from_beginning`
    pub from_beginning: bool,
    /// `from_end`
    pub from_end: bool,
    /// post_offset
    pub post_offset: i64,
    /// bitmask
    pub bitmask: Option<u64>,
    /// Buffer inspected.
    pub buffer: Buffer,
}

/// `byte_extract:count,offset,name[,relative][,multiplier N][,endian][,string,base][,align N][,dce][,bitmask N]`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteExtract {
    /// Bytes to read.
    pub count: u8,
    /// Offset of the bytes.
    pub offset: i64,
    /// Variable written.
    pub slot: VarSlot,
    /// Variable name as written (for canonical text and disassembly).
    pub name: String,
    /// `relative`
    pub relative: bool,
    /// multiplier
    pub multiplier: u32,
    /// Endianness.
    pub endian: Endian,
    /// Number base.
    pub base: NumBase,
    /// align (2 or 4), if any.
    pub align: Option<u8>,
    /// bitmask
    pub bitmask: Option<u64>,
    /// Buffer inspected.
    pub buffer: Buffer,
}

/// A `byte_math` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MathOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
}

/// `byte_math:bytes N,offset N,oper OP,rvalue V,result NAME[,relative][,endian E][,string B][,dce][,bitmask M]`:
/// reads a number, combines it with `rvalue`, masks it and stores it in a variable; moves the
/// cursor past the bytes read, as byte_extract does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteMath {
    /// Bytes to read (1..=10 as a string, 1..=8 binary, 1..=4 with a shift, 1, 2 or 4 with
    /// dce): a literal, or an earlier variable whose value must obey the same bounds when the
    /// op runs.
    pub count: Operand,
    /// Offset of the bytes (-65535..=65535).
    pub offset: i64,
    /// Operator.
    pub oper: MathOp,
    /// Right operand: a literal (0..=u32::MAX) or an earlier variable.
    pub rvalue: Operand,
    /// Variable written.
    pub slot: VarSlot,
    /// Variable name as written.
    pub name: String,
    /// `relative`
    pub relative: bool,
    /// Endianness.
    pub endian: Endian,
    /// Number base.
    pub base: NumBase,
    /// Mask applied to the result (then shifted right by its trailing zeros).
    pub bitmask: Option<u32>,
    /// Buffer inspected.
    pub buffer: Buffer,
}

/// What a `dataset` keyword does with the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetCmd {
    /// `set`: adds the buffer; matches when it was not in the set yet.
    Set,
    /// `isset`: matches when the buffer is in the set.
    IsSet,
    /// `isnotset`: matches when it is not.
    IsNotSet,
    /// `datarep`: matches when the buffer is in the set with a reputation passing `cmp`.
    Rep(NumCmp),
}

/// How a `dataset` compares the buffer with the set's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetMatch {
    /// `match exact` (the default): the whole buffer.
    Exact,
    /// `match subdomain`: the buffer, or any of its suffixes starting at a `.`, so a set
    /// entry for a domain also matches its subdomains.
    Subdomain,
}

/// The layout of a data set file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetFormat {
    /// `format csv` (the default): one value per line, `,rep` after it for `datarep`.
    Csv,
    /// `format json`: one JSON array of objects (or the array at `array_key`).
    Json(DatasetJson),
    /// `format ndjson`: one JSON object per line.
    Ndjson(DatasetJson),
}

/// Where a JSON data set file keeps the value and the context of each entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatasetJson {
    /// `value_key`: dotted path of the value in each object.
    pub value_key: String,
    /// `context_key`: the name under which a match adds the object to the alert's context.
    pub context_key: Option<String>,
    /// `array_key`: dotted path of the array of objects (`format json`).
    pub array_key: Option<String>,
    /// `remove_key`: leave the value out of the context.
    pub remove_key: bool,
}

/// The type of a data set's values, which fixes both the file format and the buffer form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetType {
    /// Any bytes; one base64 value per file line.
    String,
    /// 16 raw bytes (e.g. after `to_md5`); hex in the file.
    Md5,
    /// 32 raw bytes (e.g. after `to_sha256`); hex in the file.
    Sha256,
    /// 4 raw bytes; dotted quads in the file.
    Ipv4,
    /// 16 raw bytes (an IPv4 buffer is taken as `::ffff:a.b.c.d`); IPv4 or IPv6 text.
    Ip,
}

/// `dataset:set|isset|isnotset,name,type T[,load FILE][,memcap N][,hashsize N]`: a
/// membership test of the current buffer's whole bytes. Sets are shared by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dataset {
    /// Command.
    pub cmd: DatasetCmd,
    /// Set name.
    pub name: String,
    /// Value type.
    pub kind: DatasetType,
    /// File the engine loads at start: relative to the rule file's directory once lowered.
    pub load: Option<String>,
    /// `state FILE`: loaded when present (verdict does not write it back).
    pub state: Option<String>,
    /// `match exact|subdomain`.
    pub matching: DatasetMatch,
    /// File layout.
    pub format: DatasetFormat,
    /// Bound on the bytes the set holds (values plus per-entry overhead).
    pub memcap: Option<u64>,
    /// Suricata's hash table size hint (no effect on what matches).
    pub hashsize: Option<u32>,
    /// Buffer tested.
    pub buffer: Buffer,
}

/// `isdataat:[!]N[,relative][,rawbytes]`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Isdataat {
    /// Position that must (or, negated, must not) exist.
    pub offset: Operand,
    /// `relative`
    pub relative: bool,
    /// `!`
    pub negated: bool,
    /// Buffer inspected.
    pub buffer: Buffer,
}

/// An ordered payload test. Order matters: relative tests are relative to the one before.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PayloadTest {
    /// `content`
    Content(Content),
    /// `pcre`
    Pcre(Pcre),
    /// `byte_test`
    ByteTest(ByteTest),
    /// `byte_jump`
    ByteJump(ByteJump),
    /// `byte_extract`
    ByteExtract(ByteExtract),
    /// `byte_math`
    ByteMath(ByteMath),
    /// `dataset`
    Dataset(Dataset),
    /// `isdataat`
    Isdataat(Isdataat),
    /// `absent` / `absent: or_else`: the buffer is absent (or, with `or_else`, present and
    /// the tests after it match). Always the first test of its buffer.
    Absent {
        /// `or_else`
        or_else: bool,
        /// buffer
        buffer: Buffer,
    },
    /// `bsize` / `urilen`: size of the current buffer.
    BufferSize {
        /// comparison
        cmp: NumCmp,
        /// buffer
        buffer: Buffer,
    },
    /// `base64_decode`: decodes part of the buffer into [`Buffer::Base64Data`].
    Base64Decode(Base64Decode),
    /// `asn1`: BER/DER structure checks.
    Asn1(Asn1),
    /// A transaction predicate (`dns.opcode`, `tls.version`, `tls_cert_notafter`, …): a test
    /// on a decoded app-layer value, no buffer.
    Tx(TxPred),
}

/// `base64_decode[:bytes N][,offset N][,relative]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Base64Decode {
    /// Number of encoded bytes to decode (all remaining if `None`).
    pub bytes: Option<u32>,
    /// Offset from the buffer start or the cursor.
    pub offset: u32,
    /// `relative`
    pub relative: bool,
    /// Buffer decoded.
    pub buffer: Buffer,
}

/// `asn1:[bitstring_overflow][,double_overflow][,oversize_length N][,absolute_offset N|relative_offset N]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Asn1 {
    /// A BIT STRING whose unused-bits count is larger than its length.
    pub bitstring_overflow: bool,
    /// The MS04-007 double ASN.1 length overflow.
    pub double_overflow: bool,
    /// Any length field larger than this.
    pub oversize_length: Option<u32>,
    /// Where decoding starts.
    pub offset: i64,
    /// `relative_offset` (true) or `absolute_offset` (false).
    pub relative: bool,
    /// Buffer inspected.
    pub buffer: Buffer,
}

/// `flow:` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FlowOpts {
    /// `established` (Some(true)), `not_established` (Some(false)).
    pub established: Option<bool>,
    /// `stateless`
    pub stateless: bool,
    /// `to_server`/`from_client` (Some(true)), `to_client`/`from_server` (Some(false)).
    pub to_server: Option<bool>,
    /// `only_stream` (Some(true)) / `no_stream` (Some(false)).
    pub stream: Option<bool>,
    /// `only_frag` (Some(true)) / `no_frag` (Some(false)).
    pub frag: Option<bool>,
}

/// flowbits command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowbitCmd {
    /// `set`
    Set,
    /// `unset`
    Unset,
    /// `toggle`
    Toggle,
    /// `isset`
    IsSet,
    /// `isnotset`
    IsNotSet,
    /// `noalert`
    NoAlert,
    /// `reset`
    Reset,
}

/// How several flowbit names combine (`a|b` any, `a&b` all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BitsOp {
    /// single name or `&`
    All,
    /// `|`
    Any,
}

/// `flowbits:cmd[,name[&name|name]][,group]`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flowbits {
    /// Command.
    pub cmd: FlowbitCmd,
    /// Bit names (empty for noalert/reset).
    pub names: Vec<String>,
    /// How names combine.
    pub op: BitsOp,
    /// Snort 2.9 flowbit group (`flowbits:set,name,group`; the group of `reset`/`toggle`).
    pub group: Option<String>,
}

/// Who the threshold is tracked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Track {
    /// `by_src`
    BySrc,
    /// `by_dst`
    ByDst,
    /// `by_rule` (Suricata)
    ByRule,
    /// `by_both` (Suricata)
    ByBoth,
    /// `by_flow` (Suricata 8): per flow.
    ByFlow,
}

/// threshold type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ThresholdKind {
    /// alert at most `count` times per `seconds`.
    Limit,
    /// alert every `count`th time per `seconds`.
    Threshold,
    /// alert once per `seconds` after `count` events.
    Both,
}

/// `threshold:type T, track X, count N, seconds S`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Threshold {
    /// Type.
    pub kind: ThresholdKind,
    /// Tracking key.
    pub track: Track,
    /// Count.
    pub count: u32,
    /// Window in seconds.
    pub seconds: u32,
}

/// `detection_filter:track X, count N, seconds S`: the rule only fires after N matches in S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DetectionFilter {
    /// Tracking key.
    pub track: Track,
    /// Count.
    pub count: u32,
    /// Window in seconds.
    pub seconds: u32,
    /// `unique_on`: count distinct values of this port instead of matches. Always
    /// serialized: the bytecode is bincode, which cannot skip a field.
    pub unique_on: Option<UniqueOn>,
}

/// The field a `detection_filter` with `unique_on` counts distinct values of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UniqueOn {
    /// `unique_on src_port`
    SrcPort,
    /// `unique_on dst_port`
    DstPort,
}

/// TCP flag test `flags:[modifier]flags[,mask]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpFlags {
    /// Flags that must be set (bitmask: FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128).
    pub flags: u8,
    /// Match mode.
    pub mode: FlagMode,
    /// Flags ignored in the comparison.
    pub ignore: u8,
}

/// How `flags` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlagMode {
    /// exactly these flags (after the mask).
    Exact,
    /// `+`: at least these.
    All,
    /// `*`: any of these.
    Any,
    /// `!`: not exactly these.
    Not,
}

/// Header tests on IP/TCP/UDP/ICMP fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HeaderTest {
    /// `dsize`: payload length.
    Dsize(NumCmp),
    /// `ttl`
    Ttl(NumCmp),
    /// `tos`
    Tos(NumCmp),
    /// `id` (IP id)
    IpId(NumCmp),
    /// `ip_proto`
    IpProto(NumCmp),
    /// `flags` (TCP)
    Flags(TcpFlags),
    /// `seq`
    Seq(NumCmp),
    /// `ack`
    Ack(NumCmp),
    /// `window`
    Window(NumCmp),
    /// `itype`
    Itype(NumCmp),
    /// `icode`
    Icode(NumCmp),
    /// `icmp_id`
    IcmpId(NumCmp),
    /// `icmp_seq`
    IcmpSeq(NumCmp),
    /// `fragbits`: bits R=4(reserved) D=2(DF) M=1(MF) in the flags nibble, with mode.
    Fragbits {
        /// bits (M=1, D=2, R=4)
        bits: u8,
        /// mode
        mode: FlagMode,
    },
    /// `fragoffset`
    FragOffset(NumCmp),
    /// `sameip`
    SameIp,
    /// `ipopts`
    IpOpts(String),
    /// `tcp.mss`: the MSS option's value; false when the packet carries no MSS option.
    TcpMss(UintCmp),
    /// `icmpv6.mtu`: the MTU of a Packet Too Big message; false for any other packet.
    Icmpv6Mtu(UintCmp),
}

/// A reference (`reference:type,id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    /// e.g. `cve`, `url`.
    pub system: String,
    /// the id.
    pub id: String,
}

/// Rule metadata that does not affect matching.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Meta {
    /// `sid`
    pub sid: Sid,
    /// `gid` (1 if absent)
    pub gid: Gid,
    /// `rev` (1 if absent... 0 when not given, as Snort reports)
    pub rev: u32,
    /// `msg`
    pub msg: String,
    /// `classtype`
    pub classtype: Option<String>,
    /// `priority`, explicit or from the classtype.
    pub priority: Option<u32>,
    /// `reference`s
    pub references: Vec<Reference>,
    /// `metadata` key/value pairs, in order.
    pub metadata: Vec<(String, String)>,
    /// `target:src_ip|dest_ip`
    pub target: Option<String>,
    /// `alert` (Suricata 8): a `pass` rule that also logs an alert when it passes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alert: bool,
}

/// SnortSam/fwsam-style active response attached to a rule (`fwsam:src,1 hour` or
/// Suricata-ish metadata): block the attacker for a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockOnMatch {
    /// Block the source (true) or the destination (false).
    pub src: bool,
    /// Duration in seconds (0 = permanent).
    pub seconds: u32,
    /// Which of the blocked address's packets are dropped (SnortSam's `[how]`).
    pub how: BlockHow,
}

/// SnortSam's blocking mode: which packets of the blocked address the firewall drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum BlockHow {
    /// `[in]`: packets coming from the address.
    In,
    /// `[out]`: packets going to the address.
    Out,
    /// `[either]`/`[both]`, and the default: all of its packets.
    #[default]
    Both,
}

/// Where a rule came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// File path as given.
    pub file: String,
    /// 1-based line of the rule's first character.
    pub line: u32,
    /// True if the rule was commented out (`# alert ...`) and parsed on request.
    pub commented: bool,
}

/// Which TCP stream(s) `stream_size` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StreamSide {
    /// `client`: the client-to-server stream.
    Client,
    /// `server`: the server-to-client stream.
    Server,
    /// `both`: both streams must satisfy the comparison.
    Both,
    /// `either`: one of the streams must satisfy it.
    Either,
}

/// `stream_size:side,op,N`: compares a TCP stream's sequence-number progress, Suricata's
/// `next_seq - isn`: 1 for the SYN plus the in-order bytes the sender has delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamSize {
    /// Which stream.
    pub side: StreamSide,
    /// Comparison against the progress.
    pub cmp: NumCmp,
}

/// What an xbit is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum XbitTrack {
    /// `ip_src`: the packet's source host.
    IpSrc,
    /// `ip_dst`: the packet's destination host.
    IpDst,
    /// `ip_pair`: the two hosts, in either direction.
    IpPair,
}

/// `xbits:cmd,name,track T[,expire S]`: a bit kept per host or host pair, with expiry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Xbits {
    /// `Set`, `Unset`, `Toggle`, `IsSet` or `IsNotSet`.
    pub cmd: FlowbitCmd,
    /// Bit name.
    pub name: String,
    /// Key.
    pub track: XbitTrack,
    /// Seconds a set bit lives (Suricata's default is 30).
    pub expire: u32,
}

/// A `flowint` modifier or comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowintOp {
    /// `=`: set (effect).
    Set,
    /// `+`: add (effect; an unset variable starts at 0).
    Add,
    /// `-`: subtract (effect; no effect on an unset variable).
    Sub,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `isset`
    IsSet,
    /// `notset` / `isnotset`
    NotSet,
}

impl FlowintOp {
    /// True for the modifiers that run after the rule matched (`=`, `+`, `-`).
    pub fn is_effect(self) -> bool {
        matches!(self, FlowintOp::Set | FlowintOp::Add | FlowintOp::Sub)
    }
}

/// The right-hand side of a `flowint`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowintValue {
    /// A number (0..=u32::MAX).
    Lit(u32),
    /// Another flowint of the flow (0 when it is unset, as Suricata).
    Var(String),
}

/// `flowint:name,op[,value]`: an unsigned 32-bit integer per flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flowint {
    /// Variable name.
    pub name: String,
    /// Modifier or comparison.
    pub op: FlowintOp,
    /// Operand; `None` for isset/notset.
    pub value: Option<FlowintValue>,
}

/// Tests and effects on state outside the packet: TCP stream progress, per-host/pair bits,
/// per-flow integers. Tests run before the payload, effects after a match, in rule order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateTest {
    /// `stream_size`
    StreamSize(StreamSize),
    /// `xbits`
    Xbits(Xbits),
    /// `flowint`
    Flowint(Flowint),
    /// `app-layer-protocol`
    AppProto(crate::keywords::app_proto::AppLayerProtocol),
}

/// A fully lowered rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// Action.
    pub action: Action,
    /// Protocol.
    pub proto: Protocol,
    /// Source addresses.
    pub src: IpSet,
    /// Source ports.
    pub src_ports: PortSet,
    /// `->` or `<>`.
    pub direction: Direction,
    /// Destination addresses.
    pub dst: IpSet,
    /// Destination ports.
    pub dst_ports: PortSet,
    /// Metadata (sid, msg, …).
    pub meta: Meta,
    /// Header field tests.
    pub header: Vec<HeaderTest>,
    /// Ordered payload tests.
    pub payload: Vec<PayloadTest>,
    /// `flow`
    pub flow: FlowOpts,
    /// `flowbits`, in order.
    pub flowbits: Vec<Flowbits>,
    /// `threshold` (or `event_filter` equivalents).
    pub threshold: Option<Threshold>,
    /// `detection_filter`
    pub detection_filter: Option<DetectionFilter>,
    /// `fwsam` style block.
    pub block: Option<BlockOnMatch>,
    /// Variables introduced by byte_extract, by slot.
    pub vars: Vec<String>,
    /// Transform chains on the rule's buffers (at most one per buffer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<BufferTransforms>,
    /// `=>` rules: the side each selection of a two-sided buffer reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tx_dirs: Vec<TxDirSelection>,
    /// `stream_size`, `xbits`, `flowint` and `app-layer-protocol`, in rule order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<StateTest>,
    /// `tag` options: packets to log after the rule fires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// Origin.
    pub origin: Origin,
}

impl Rule {
    /// Contents in order.
    pub fn contents(&self) -> impl Iterator<Item = &Content> {
        self.payload.iter().filter_map(|t| match t {
            PayloadTest::Content(c) => Some(c),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_proto_names_and_aliases() {
        for &p in AppProto::ALL {
            assert_eq!(AppProto::from_name(p.name()), Some(p));
        }
        assert_eq!(AppProto::from_name("SSL"), Some(AppProto::Tls));
        assert_eq!(AppProto::from_name("http1"), Some(AppProto::Http));
        assert_eq!(AppProto::from_name("http3"), None);
    }

    #[test]
    fn rangeset_canonicalises_and_complements() {
        let s = RangeSet::<u16>::from_ranges(vec![(10, 20), (21, 30), (5, 7), (40, 39)]);
        assert_eq!(s.ranges(), &[(5, 7), (10, 30)]);
        let c = s.complement();
        assert_eq!(c.ranges(), &[(0, 4), (8, 9), (31, u16::MAX)]);
        assert_eq!(c.complement(), s);
        assert!(s.contains(25) && !s.contains(8) && !s.contains(31));
        assert!(RangeSet::<u16>::full().complement().is_empty());
        assert_eq!(
            s.intersect(&RangeSet::range(6, 12)).ranges(),
            &[(6, 7), (10, 12)]
        );
    }

    #[test]
    fn union_all_equals_pairwise_unions() {
        let sets: Vec<RangeSet<u16>> = (0..200u16)
            .map(|i| RangeSet::range(i.wrapping_mul(37) % 1000, i.wrapping_mul(37) % 1000 + i % 5))
            .collect();
        let pairwise = sets.iter().skip(1).fold(sets[0].clone(), |a, b| a.union(b));
        assert_eq!(RangeSet::union_all(&sets), pairwise);
        let ips: Vec<IpSet> = sets
            .iter()
            .map(|s| IpSet {
                v4: RangeSet::from_ranges(
                    s.ranges()
                        .iter()
                        .map(|&(a, b)| (a.into(), b.into()))
                        .collect(),
                ),
                v6: RangeSet::from_ranges(
                    s.ranges()
                        .iter()
                        .map(|&(_, b)| (b.into(), (b + 1).into()))
                        .collect(),
                ),
            })
            .collect();
        let pairwise = ips.iter().skip(1).fold(ips[0].clone(), |a, b| a.union(b));
        assert_eq!(IpSet::union_all(&ips), pairwise);
        assert_eq!(RangeSet::<u16>::union_all(&[]), RangeSet::empty());
    }

    #[test]
    fn content_checks_its_bounds() {
        let spec = |position| ContentSpec {
            pattern: b"abcd".to_vec(),
            negated: false,
            nocase: false,
            position,
            ends_with: false,
            buffer: Buffer::Payload,
            fast_pattern: None,
            replace: None,
        };
        let depth = |d| Position::Absolute {
            offset: Operand::Lit(0),
            depth: Some(Operand::Lit(d)),
        };
        assert!(matches!(
            Content::new(spec(depth(3))),
            Err(ContentError::DepthTooShort { .. })
        ));
        let c = Content::new(spec(depth(4))).unwrap();
        assert_eq!(c.fixed_offset(), Some(0));
        let mut r = spec(depth(8));
        r.replace = Some(b"xyz".to_vec());
        assert!(matches!(
            Content::new(r),
            Err(ContentError::ReplaceLength { .. })
        ));
    }
}

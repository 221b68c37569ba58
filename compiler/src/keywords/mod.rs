//! Keywords: one file per keyword or family, each with its typed data, a pure parser and a
//! table of valid/invalid inputs in its tests; plus the [`KEYWORDS`] registry that names
//! every keyword of Snort 2.9, Snort 3 and Suricata verdict knows about, so that each one
//! either lowers to typed IR or is rejected with a precise reason (never dropped silently).
//! Buffer keywords (`http_uri`, `http.uri`, `file_data`, …) are registered in
//! [`buffers::BUFFERS`].

pub mod absent;
pub mod app_event;
pub mod app_proto;
pub mod asn1;
pub mod base64;
pub mod buffers;
pub mod byte;
pub mod byte_math;
pub mod content;
pub mod dataset;
pub mod dce;
pub mod dns;
pub mod file;
pub mod flow;
pub mod ftp;
pub mod fwsam;
pub mod header;
pub mod icmpv6;
pub mod krb5;
pub mod meta;
pub mod numeric;
pub mod pcre;
pub mod sip;
pub mod snmp;
pub mod ssh;
pub mod state;
pub mod tag;
pub mod tcp_opt;
pub mod tls_cert;
pub mod tls_state;
pub mod transform;
pub mod txdir;
pub mod txpred;
pub mod uint;

use crate::diag::Code;

/// An error from a keyword parser: message, optional byte range relative to the value, help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KwError {
    /// Diagnostic code.
    pub code: Code,
    /// Message.
    pub msg: String,
    /// Offending range, relative to the start of the value text.
    pub at: Option<(usize, usize)>,
    /// How to fix it.
    pub help: Option<String>,
}

impl KwError {
    /// A malformed value.
    pub fn value(msg: impl Into<String>) -> KwError {
        KwError {
            code: Code::BadValue,
            msg: msg.into(),
            at: None,
            help: None,
        }
    }
    /// An error with a specific code.
    pub fn code(code: Code, msg: impl Into<String>) -> KwError {
        KwError {
            code,
            msg: msg.into(),
            at: None,
            help: None,
        }
    }
    /// Points the error at `start..end` of the value.
    pub fn at(mut self, start: usize, end: usize) -> KwError {
        self.at = Some((start, end.max(start)));
        self
    }
    /// Adds help.
    pub fn help(mut self, h: impl Into<String>) -> KwError {
        self.help = Some(h.into());
        self
    }
}

/// Splits a value on commas, trimming each part; each part comes with its offset in `value`.
pub fn split_args(value: &str) -> Vec<(usize, &str)> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut off = 0;
    for part in value.split(',') {
        let lead = part.len() - part.trim_start().len();
        out.push((off + lead, part.trim()));
        off += part.len() + 1;
    }
    out
}

/// The words of a value with their offsets, split on commas and blanks: Suricata's option
/// parsers take either separator (`bytes 10 offset 2 relative`), Snort's write commas.
pub fn split_words(value: &str) -> Vec<(usize, &str)> {
    split_args(value)
        .into_iter()
        .flat_map(|(at, part)| {
            part.split_whitespace().map(move |w| {
                // `w` is a sub-slice of `part`: its offset is the pointer distance.
                let off = w.as_ptr() as usize - part.as_ptr() as usize;
                (at + off, w)
            })
        })
        .collect()
}

/// What a keyword takes after the colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// No value (`nocase;`).
    None,
    /// A number (`sid:1;`).
    Number,
    /// A comparison (`dsize:>10;`).
    Compare,
    /// A quoted string (`msg:"...";`).
    String,
    /// Content text with `|hex|` (`content:"a|00|";`).
    Content,
    /// A comma-separated list of words or settings.
    List,
    /// An optional value.
    Optional,
}

/// Whether verdict implements a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Lowered to typed IR.
    Supported,
    /// Known, but verdict cannot honour it; the reason is shown.
    Unsupported(&'static str),
    /// Removed or renamed; says what replaces it.
    Obsolete(&'static str),
}

/// A registered keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    /// Name as written in rules.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Argument kind.
    pub arg: ArgKind,
    /// Support status.
    pub status: Status,
}

const fn kw(name: &'static str, description: &'static str, arg: ArgKind) -> Keyword {
    Keyword {
        name,
        description,
        arg,
        status: Status::Supported,
    }
}
const fn no(
    name: &'static str,
    description: &'static str,
    arg: ArgKind,
    why: &'static str,
) -> Keyword {
    Keyword {
        name,
        description,
        arg,
        status: Status::Unsupported(why),
    }
}
const fn old(
    name: &'static str,
    description: &'static str,
    arg: ArgKind,
    instead: &'static str,
) -> Keyword {
    Keyword {
        name,
        description,
        arg,
        status: Status::Obsolete(instead),
    }
}

const NEEDS_STREAM: &str = "it needs stream/session state verdict does not track yet";
const NO_PARSER: &str = "verdict has no decoder for this protocol yet";
const NO_FILES: &str = "verdict does not store files or identify Snort 3 file types";
/// Every keyword verdict knows (buffers are in [`buffers::BUFFERS`]).
pub const KEYWORDS: &[Keyword] = &[
    // Metadata.
    kw("msg", "alert message", ArgKind::String),
    kw("sid", "signature id", ArgKind::Number),
    kw("gid", "generator id", ArgKind::Number),
    kw("rev", "revision", ArgKind::Number),
    kw(
        "classtype",
        "classification (sets the default priority)",
        ArgKind::String,
    ),
    kw("priority", "alert priority (1 = highest)", ArgKind::Number),
    kw("reference", "external reference `system,id`", ArgKind::List),
    kw("metadata", "`key value` pairs", ArgKind::List),
    kw(
        "target",
        "which side is the target: src_ip or dest_ip",
        ArgKind::String,
    ),
    kw(
        "service",
        "Snort 3 service list (kept as metadata service)",
        ArgKind::List,
    ),
    kw(
        "rem",
        "Snort 3 comment (kept as metadata rem)",
        ArgKind::String,
    ),
    // Payload.
    kw("content", "match bytes", ArgKind::Content),
    kw(
        "uricontent",
        "content in the normalized URI (Snort 2)",
        ArgKind::Content,
    ),
    kw("nocase", "content is case-insensitive", ArgKind::None),
    kw(
        "rawbytes",
        "content looks at the raw packet payload",
        ArgKind::None,
    ),
    kw(
        "depth",
        "content must be within N bytes of the buffer start (+offset)",
        ArgKind::Number,
    ),
    kw(
        "offset",
        "content search starts N bytes into the buffer",
        ArgKind::Number,
    ),
    kw(
        "distance",
        "content starts N bytes after the previous match",
        ArgKind::Number,
    ),
    kw(
        "within",
        "content lies within N bytes after the previous match (+distance)",
        ArgKind::Number,
    ),
    kw(
        "fast_pattern",
        "use this content for the prefilter (`only`, `off,len`)",
        ArgKind::Optional,
    ),
    kw(
        "replace",
        "rewrite the matched content (same length)",
        ArgKind::Content,
    ),
    kw(
        "startswith",
        "content is at the buffer start",
        ArgKind::None,
    ),
    kw("endswith", "content is at the buffer end", ArgKind::None),
    kw(
        "absent",
        "the sticky buffer is absent (`or_else`: or the tests after it match)",
        ArgKind::Optional,
    ),
    kw(
        "pcre",
        "Perl-compatible regular expression",
        ArgKind::String,
    ),
    kw(
        "byte_test",
        "compare bytes read from the payload",
        ArgKind::List,
    ),
    kw(
        "byte_jump",
        "move the cursor by a number read from the payload",
        ArgKind::List,
    ),
    kw(
        "byte_extract",
        "read a number into a variable",
        ArgKind::List,
    ),
    kw("isdataat", "data exists at a position", ArgKind::List),
    kw(
        "bsize",
        "size of the current sticky buffer",
        ArgKind::Compare,
    ),
    kw("bufferlen", "Snort 3 name of bsize", ArgKind::Compare),
    kw("urilen", "length of the URI", ArgKind::Compare),
    kw(
        "base64_decode",
        "decode base64 into base64_data",
        ArgKind::Optional,
    ),
    kw("asn1", "ASN.1 BER structure checks", ArgKind::List),
    kw(
        "dce_iface",
        "DCE/RPC request's interface UUID (and major version)",
        ArgKind::List,
    ),
    kw("dcerpc.iface", "Suricata name of dce_iface", ArgKind::List),
    kw(
        "dce_opnum",
        "DCE/RPC request's operation number",
        ArgKind::List,
    ),
    kw("dcerpc.opnum", "Suricata name of dce_opnum", ArgKind::List),
    kw("ssl_state", "SSL/TLS handshake state", ArgKind::List),
    kw("ssl_version", "SSL/TLS version", ArgKind::List),
    kw(
        "sip_method",
        "SIP request method is one of a list (or, with !, is not the one)",
        ArgKind::List,
    ),
    kw(
        "sip_stat_code",
        "SIP response status code or class (1-9)",
        ArgKind::List,
    ),
    // Flow.
    kw("flow", "direction and state of the session", ArgKind::List),
    kw("flowbits", "set/test per-flow bits", ArgKind::List),
    kw(
        "noalert",
        "do not alert (Suricata; same as flowbits:noalert)",
        ArgKind::None,
    ),
    kw(
        "alert",
        "a pass rule also logs an alert (Suricata 8)",
        ArgKind::None,
    ),
    // Header.
    kw("dsize", "payload size", ArgKind::Compare),
    kw("flags", "TCP flags", ArgKind::List),
    kw(
        "tcp.flags",
        "TCP flags (Suricata 8's name for flags)",
        ArgKind::List,
    ),
    kw("ttl", "IP time to live", ArgKind::Compare),
    kw("tos", "IP type of service", ArgKind::Compare),
    kw("id", "IP identification", ArgKind::Compare),
    kw("ip_proto", "IP protocol number", ArgKind::Compare),
    kw("itype", "ICMP type", ArgKind::Compare),
    kw("icode", "ICMP code", ArgKind::Compare),
    kw("icmp_id", "ICMP echo id", ArgKind::Compare),
    kw("icmp_seq", "ICMP echo sequence", ArgKind::Compare),
    kw("fragbits", "IP fragment bits", ArgKind::List),
    kw("fragoffset", "IP fragment offset", ArgKind::Compare),
    kw(
        "sameip",
        "source address equals destination address",
        ArgKind::None,
    ),
    kw("ipopts", "IP option present", ArgKind::String),
    kw("seq", "TCP sequence number", ArgKind::Compare),
    kw("ack", "TCP acknowledgement number", ArgKind::Compare),
    kw("window", "TCP window", ArgKind::Compare),
    kw(
        "fwsam",
        "SnortSam: block the source or destination for a duration",
        ArgKind::List,
    ),
    // Rate.
    kw(
        "threshold",
        "limit how often the rule alerts",
        ArgKind::List,
    ),
    kw(
        "detection_filter",
        "alert only after N matches in S seconds",
        ArgKind::List,
    ),
    kw(
        "tag",
        "log follow-up packets of the session or host (EVE `packet` records, evidence pcap)",
        ArgKind::List,
    ),
    // Known, not supported.
    no(
        "session",
        "print session data",
        ArgKind::List,
        "session text logging is not supported; use the evidence pcap",
    ),
    no(
        "react",
        "send an HTML page to the client",
        ArgKind::List,
        "HTML injection is not supported; use the drop or reject action",
    ),
    kw(
        "stream_size",
        "TCP stream sequence progress comparison",
        ArgKind::List,
    ),
    no(
        "stream_reassemble",
        "turn reassembly on/off",
        ArgKind::List,
        NEEDS_STREAM,
    ),
    kw("flowint", "per-flow integer variables", ArgKind::List),
    kw(
        "xbits",
        "bits tracked per host or host pair, with expiry",
        ArgKind::List,
    ),
    no(
        "hostbits",
        "bits tracked per host",
        ArgKind::List,
        "hostbits are not supported yet; flowbits are",
    ),
    kw(
        "byte_math",
        "arithmetic on payload bytes into a variable",
        ArgKind::List,
    ),
    no(
        "entropy",
        "payload entropy",
        ArgKind::List,
        "entropy is not supported yet",
    ),
    kw(
        "ftp.dynamic_port",
        "FTP data port announced by PORT/EPRT or a PASV/EPSV reply",
        ArgKind::Compare,
    ),
    kw(
        "ftp.mode",
        "FTP data channel announced actively (PORT/EPRT) or passively (PASV/EPSV)",
        ArgKind::String,
    ),
    kw(
        "ftp.reply_received",
        "an FTP command's final reply arrived (yes) or not yet (no)",
        ArgKind::String,
    ),
    kw(
        "ftpbounce",
        "FTP PORT command naming an address other than the client's",
        ArgKind::None,
    ),
    no("cvs", "CVS protocol check", ArgKind::List, NO_PARSER),
    no(
        "rpc",
        "SunRPC app/version/procedure",
        ArgKind::List,
        NO_PARSER,
    ),
    no(
        "sd_pattern",
        "sensitive data (credit card, SSN) patterns",
        ArgKind::String,
        "sensitive data patterns are not supported",
    ),
    no(
        "http_encode",
        "HTTP encoding type",
        ArgKind::List,
        "HTTP normalization details are not tracked",
    ),
    no(
        "http_param",
        "Snort 3 HTTP parameter buffer",
        ArgKind::String,
        NO_PARSER,
    ),
    no(
        "http_version",
        "Snort 3 HTTP version buffer",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "http_raw_request",
        "Snort 3 raw request line",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "http_raw_status",
        "Snort 3 raw status line",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "http_raw_body",
        "Snort 3 raw HTTP body",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "http_trailer",
        "Snort 3 HTTP trailers",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "http_raw_trailer",
        "Snort 3 raw HTTP trailers",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "http_num_headers",
        "Snort 3 header count",
        ArgKind::Compare,
        NO_PARSER,
    ),
    no(
        "http_num_trailers",
        "Snort 3 trailer count",
        ArgKind::Compare,
        NO_PARSER,
    ),
    no(
        "http_num_cookies",
        "Snort 3 cookie count",
        ArgKind::Compare,
        NO_PARSER,
    ),
    no(
        "http_max_header_line",
        "Snort 3 longest header line",
        ArgKind::Compare,
        NO_PARSER,
    ),
    no(
        "http_max_trailer_line",
        "Snort 3 longest trailer line",
        ArgKind::Compare,
        NO_PARSER,
    ),
    no(
        "http_version_match",
        "Snort 3 HTTP version test",
        ArgKind::List,
        NO_PARSER,
    ),
    no(
        "http_header_test",
        "Snort 3 header test",
        ArgKind::List,
        NO_PARSER,
    ),
    no(
        "http_trailer_test",
        "Snort 3 trailer test",
        ArgKind::List,
        NO_PARSER,
    ),
    no(
        "js_data",
        "Snort 3 normalized JavaScript",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "vba_data",
        "Snort 3 decompressed VBA macros",
        ArgKind::None,
        NO_PARSER,
    ),
    no(
        "ber_data",
        "Snort 3 BER element data",
        ArgKind::List,
        NO_PARSER,
    ),
    no(
        "ber_skip",
        "Snort 3 skip a BER element",
        ArgKind::List,
        NO_PARSER,
    ),
    no(
        "regex",
        "Snort 3 hyperscan regex",
        ArgKind::String,
        "write it as pcre",
    ),
    no("file_type", "Snort 3 file type", ArgKind::List, NO_FILES),
    no(
        "file_meta",
        "Snort 3 file metadata",
        ArgKind::List,
        NO_FILES,
    ),
    kw(
        "filename",
        "file name contains (legacy form of file.name; content; nocase)",
        ArgKind::String,
    ),
    kw(
        "fileext",
        "file name extension equals, case-insensitive",
        ArgKind::String,
    ),
    kw(
        "filemagic",
        "libmagic description contains (legacy form of file.magic; content; nocase)",
        ArgKind::String,
    ),
    kw(
        "filemd5",
        "file MD5 is (or with `!` is not) in a list file",
        ArgKind::String,
    ),
    kw(
        "filesha1",
        "file SHA-1 is (or with `!` is not) in a list file",
        ArgKind::String,
    ),
    kw(
        "filesha256",
        "file SHA-256 is (or with `!` is not) in a list file",
        ArgKind::String,
    ),
    kw(
        "filesize",
        "size of a file compared, once the size is final",
        ArgKind::Compare,
    ),
    no("filestore", "store files", ArgKind::List, NO_FILES),
    no(
        "appids",
        "Snort 3 application ids",
        ArgKind::List,
        "application identification is not supported",
    ),
    no("gtp_type", "GTP message type", ArgKind::List, NO_PARSER),
    no(
        "gtp_info",
        "GTP information element",
        ArgKind::List,
        NO_PARSER,
    ),
    no("gtp_version", "GTP version", ArgKind::Number, NO_PARSER),
    no("modbus_func", "Modbus function", ArgKind::String, NO_PARSER),
    no("modbus_unit", "Modbus unit", ArgKind::Number, NO_PARSER),
    no(
        "modbus_data",
        "Modbus data buffer",
        ArgKind::None,
        NO_PARSER,
    ),
    no("modbus", "Suricata modbus test", ArgKind::List, NO_PARSER),
    no("dnp3_func", "DNP3 function", ArgKind::String, NO_PARSER),
    no("dnp3_ind", "DNP3 indicators", ArgKind::List, NO_PARSER),
    no("dnp3_obj", "DNP3 object", ArgKind::List, NO_PARSER),
    no("dnp3_data", "DNP3 data buffer", ArgKind::None, NO_PARSER),
    no("cip_service", "CIP service", ArgKind::List, NO_PARSER),
    no("enip_command", "ENIP command", ArgKind::List, NO_PARSER),
    no(
        "ssl.version",
        "Suricata ssl version",
        ArgKind::List,
        "write it as ssl_version",
    ),
    kw(
        "tls.version",
        "TLS version of the packet's side",
        ArgKind::String,
    ),
    kw(
        "tls.subject",
        "TLS certificate subject contains (legacy form of tls.cert_subject)",
        ArgKind::Content,
    ),
    kw(
        "tls.issuerdn",
        "TLS certificate issuer contains (legacy form of tls.cert_issuer)",
        ArgKind::Content,
    ),
    kw(
        "tls.fingerprint",
        "TLS certificate fingerprint equals (legacy form of tls.cert_fingerprint)",
        ArgKind::Content,
    ),
    no(
        "tls.store",
        "store TLS certificates",
        ArgKind::None,
        NO_FILES,
    ),
    kw(
        "tls_cert_notbefore",
        "server certificate validity start compared with a date",
        ArgKind::Compare,
    ),
    kw(
        "tls_cert_notafter",
        "server certificate validity end compared with a date",
        ArgKind::Compare,
    ),
    kw(
        "tls_cert_expired",
        "server certificate expired at the packet's time",
        ArgKind::None,
    ),
    kw(
        "tls_cert_valid",
        "server certificate not expired at the packet's time",
        ArgKind::None,
    ),
    kw(
        "tls.cert_chain_len",
        "number of certificates the server sent",
        ArgKind::Compare,
    ),
    kw("dns.opcode", "DNS header opcode", ArgKind::Compare),
    kw("dns.rcode", "DNS header response code", ArgKind::Compare),
    kw(
        "dns.rrtype",
        "DNS question (request) or answer (response) record type",
        ArgKind::Compare,
    ),
    kw(
        "app-layer-protocol",
        "the application protocol detection found (`[!]proto[,…][,mode]`)",
        ArgKind::List,
    ),
    kw(
        "app-layer-event",
        "an anomaly the HTTP, TLS or DNS parser raised (`http.request_field_too_long`)",
        ArgKind::String,
    ),
    no(
        "app-layer-state",
        "application transaction state",
        ArgKind::String,
        NO_PARSER,
    ),
    no(
        "decode-event",
        "packet decoder event",
        ArgKind::String,
        "decoder events are not raised by verdict",
    ),
    no(
        "stream-event",
        "stream engine event",
        ArgKind::String,
        NEEDS_STREAM,
    ),
    no(
        "engine-event",
        "engine event",
        ArgKind::String,
        "engine events are not raised by verdict",
    ),
    no(
        "iprep",
        "IP reputation",
        ArgKind::List,
        "IP reputation lists are not supported",
    ),
    no(
        "geoip",
        "GeoIP country",
        ArgKind::List,
        "GeoIP is not supported",
    ),
    kw(
        "dataset",
        "membership of the buffer in a named data set",
        ArgKind::List,
    ),
    kw(
        "datarep",
        "reputation of the buffer in a named data set, compared with a value",
        ArgKind::List,
    ),
    no(
        "lua",
        "Lua script",
        ArgKind::String,
        "scripted detection is not supported",
    ),
    no(
        "luajit",
        "Lua script",
        ArgKind::String,
        "scripted detection is not supported",
    ),
    no(
        "pktvar",
        "packet variable",
        ArgKind::List,
        "packet variables are not supported",
    ),
    no(
        "flowvar",
        "flow variable",
        ArgKind::List,
        "flow variables are not supported",
    ),
    no(
        "bypass",
        "bypass the rest of the flow",
        ArgKind::None,
        "flow bypass is not supported",
    ),
    no(
        "prefilter",
        "Suricata prefilter hint",
        ArgKind::None,
        "prefilter hints are not supported; use fast_pattern",
    ),
    no(
        "requires",
        "Suricata engine requirements",
        ArgKind::List,
        "engine requirement checks are not supported",
    ),
    no(
        "config",
        "Suricata per-flow logging config",
        ArgKind::List,
        "per-flow config is not supported",
    ),
    kw(
        "tcp.mss",
        "TCP MSS option value (only when the option is present)",
        ArgKind::Compare,
    ),
    kw(
        "icmpv6.mtu",
        "MTU of an ICMPv6 Packet Too Big message",
        ArgKind::Compare,
    ),
    kw("dotprefix", "transform: prefix a dot", ArgKind::None),
    kw(
        "strip_whitespace",
        "transform: strip whitespace",
        ArgKind::None,
    ),
    kw(
        "compress_whitespace",
        "transform: compress whitespace",
        ArgKind::None,
    ),
    kw("to_md5", "transform: md5", ArgKind::None),
    kw("to_sha1", "transform: sha1", ArgKind::None),
    kw("to_sha256", "transform: sha256", ArgKind::None),
    kw("to_lowercase", "transform: lower-case", ArgKind::None),
    kw("to_uppercase", "transform: upper-case", ArgKind::None),
    kw("url_decode", "transform: URL decode", ArgKind::None),
    kw(
        "xor",
        "transform: xor with a hex or in-buffer key",
        ArgKind::String,
    ),
    kw("pcrexform", "transform: regex capture", ArgKind::String),
    kw(
        "header_lowercase",
        "transform: lower-case header names",
        ArgKind::None,
    ),
    kw(
        "strip_pseudo_headers",
        "transform: strip HTTP/2 pseudo headers",
        ArgKind::None,
    ),
    kw("from_base64", "transform: base64 decode", ArgKind::List),
    kw("subslice", "transform: slice of the buffer", ArgKind::List),
    kw("gunzip", "transform: gzip decompress", ArgKind::Optional),
    kw(
        "zlib_deflate",
        "transform: zlib decompress",
        ArgKind::Optional,
    ),
    kw("domain", "transform: registrable domain", ArgKind::None),
    kw("tld", "transform: public suffix", ArgKind::None),
    no(
        "luaxform",
        "transform: Lua script",
        ArgKind::String,
        "scripted transforms are not supported",
    ),
    no(
        "http2.frametype",
        "HTTP/2 frame type",
        ArgKind::String,
        NO_PARSER,
    ),
    no(
        "http2.errorcode",
        "HTTP/2 error code",
        ArgKind::String,
        NO_PARSER,
    ),
    kw(
        "ssh.protoversion",
        "SSH protocol version of the packet side's banner (`2_compat`: 2.0 or 1.99)",
        ArgKind::String,
    ),
    kw(
        "ssh.softwareversion",
        "SSH software version of the packet side's banner equals",
        ArgKind::String,
    ),
    kw(
        "krb5_msg_type",
        "Kerberos message type (10 AS-REQ, 11 AS-REP, 12 TGS-REQ, 13 TGS-REP, 14 AP-REQ, 30 KRB-ERROR)",
        ArgKind::Compare,
    ),
    kw(
        "krb5_err_code",
        "Kerberos error code of a KRB-ERROR message",
        ArgKind::Compare,
    ),
    kw(
        "snmp.version",
        "SNMP version of the message (1, 2 for v2c, 3)",
        ArgKind::Compare,
    ),
    kw(
        "snmp.pdu_type",
        "SNMP PDU type (0 get-request ... 8 report) of an unencrypted message",
        ArgKind::Compare,
    ),
    no(
        "nfs_procedure",
        "NFS procedure",
        ArgKind::Compare,
        NO_PARSER,
    ),
    no(
        "ftpdata_command",
        "FTP data command",
        ArgKind::String,
        NO_PARSER,
    ),
    no(
        "s7commplus_opcode",
        "S7comm+ opcode",
        ArgKind::String,
        NO_PARSER,
    ),
    no(
        "iec104_apci_type",
        "IEC 104 APCI type",
        ArgKind::String,
        NO_PARSER,
    ),
    no("mms_func", "MMS function", ArgKind::String, NO_PARSER),
    // Obsolete.
    old(
        "activates",
        "dynamic rule trigger (Snort 2.8)",
        ArgKind::Number,
        "dynamic rules were removed in Snort 2.9; use flowbits",
    ),
    old(
        "activated_by",
        "dynamic rule (Snort 2.8)",
        ArgKind::Number,
        "dynamic rules were removed in Snort 2.9; use flowbits",
    ),
    old(
        "count",
        "dynamic rule packet count (Snort 2.8)",
        ArgKind::Number,
        "dynamic rules were removed in Snort 2.9; use flowbits",
    ),
    old(
        "logto",
        "per-rule log file",
        ArgKind::String,
        "per-rule log files are gone (Snort 3); all alerts go to the configured outputs",
    ),
    old(
        "resp",
        "flexible response",
        ArgKind::List,
        "use the reject, rejectsrc, rejectdst or rejectboth action",
    ),
    old(
        "fast_pattern_offset",
        "Snort 3 content sub-option",
        ArgKind::Number,
        "write fast_pattern:OFFSET,LENGTH after the content",
    ),
    old(
        "fast_pattern_length",
        "Snort 3 content sub-option",
        ArgKind::Number,
        "write fast_pattern:OFFSET,LENGTH after the content",
    ),
    old(
        "http_request_body",
        "misspelt buffer",
        ArgKind::None,
        "use http_client_body (Snort 2) or http.request_body (Suricata)",
    ),
];

/// Looks a keyword up in the registry.
pub fn lookup(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == name)
}

/// Edit distance, for "did you mean".
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest known name (keywords and buffers) to an unknown keyword, if close enough.
pub fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    KEYWORDS
        .iter()
        .filter(|k| k.status == Status::Supported)
        .map(|k| k.name)
        .chain(buffers::BUFFERS.iter().map(|b| b.0))
        .map(|n| (levenshtein(&lower, n), n))
        .filter(|&(d, n)| d <= 2.max(n.len() / 4) && d < n.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_consistent() {
        let mut names: Vec<&str> = KEYWORDS.iter().map(|k| k.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate keyword names");
        for b in buffers::BUFFERS {
            assert!(lookup(b.0).is_none(), "{} registered twice", b.0);
        }
        assert_eq!(suggest("contnet"), Some("content"));
        assert_eq!(suggest("http_urii"), Some("http_uri"));
        assert_eq!(suggest("zzzzzzzz"), None);
        assert_eq!(
            split_args(" a , b c,d"),
            vec![(1, "a"), (5, "b c"), (9, "d")]
        );
        assert_eq!(
            split_words(" a , b  c,d\n e"),
            vec![(1, "a"), (5, "b"), (8, "c"), (10, "d"), (13, "e")]
        );
    }
}

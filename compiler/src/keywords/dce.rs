//! DCE/RPC keywords of Snort 2.9's DCE2 preprocessor and Suricata: `dce_iface`
//! (`dcerpc.iface`) and `dce_opnum` (`dcerpc.opnum`); the sticky buffer `dce_stub_data`
//! (`dcerpc.stub_data`) is in [`super::buffers`] and the `dce` byte order of
//! byte_test/byte_jump/byte_extract/byte_math in [`super::byte`].
//!
//! Both are transaction predicates ([`TxPred`]) on one DCE/RPC request:
//!
//! - `dce_iface:UUID[,<|>|=|!VERSION][,any_frag]`: the request's presentation context was
//!   bound (and accepted) to interface `UUID` (over UDP: the header names it), and the
//!   interface's major version compares as given. `any_frag` lets a non-first fragment of
//!   a connectionless request match; without it only a first fragment (or a whole request)
//!   does, as DCE2 and Suricata evaluate it.
//! - `dce_opnum:N|N-M[,…]`: the request's operation number is one of them.

use super::numeric::{cmp_text, parse_cmp, parse_u64};
use super::txpred::{TxKeyword, TxPred};
use super::{split_args, KwError};
use crate::ir::{AppBuffer, Buffer, NumCmp, PayloadTest, RangeSet, Rule};
use serde::{Deserialize, Serialize};

/// The DCE/RPC predicate keywords, Snort's names and Suricata's.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "dce_iface",
        parse: parse_iface,
    },
    TxKeyword {
        name: "dcerpc.iface",
        parse: parse_iface,
    },
    TxKeyword {
        name: "dce_opnum",
        parse: parse_opnum,
    },
    TxKeyword {
        name: "dcerpc.opnum",
        parse: parse_opnum,
    },
];

/// `dce_iface`'s value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DceIface {
    /// The interface UUID in its text order (time_low, time_mid and time_hi_and_version
    /// big-endian, then the clock sequence and node bytes); serialized as its text.
    #[serde(with = "uuid_serde")]
    pub uuid: [u8; 16],
    /// The comparison with the interface's major version.
    pub version: Option<NumCmp>,
    /// Non-first fragments match too.
    pub any_frag: bool,
}

impl DceIface {
    /// Whether a request on interface `uuid`, major version `major`, matches; `first`: the
    /// request is a first fragment (or whole).
    pub fn matches(&self, uuid: &[u8; 16], major: u16, first: bool) -> bool {
        (first || self.any_frag)
            && *uuid == self.uuid
            && self.version.is_none_or(|c| c.test(u64::from(major)))
    }

    /// The value as written in a rule.
    pub fn text(&self) -> String {
        let mut s = uuid_text(&self.uuid);
        if let Some(v) = self.version {
            s.push(',');
            s.push_str(&match v {
                NumCmp::Eq(n) => format!("={n}"),
                c => cmp_text(c),
            });
        }
        if self.any_frag {
            s.push_str(",any_frag");
        }
        s
    }
}

/// A UUID in its usual `8-4-4-4-12` hex form, lower case.
pub fn uuid_text(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A UUID in serialized rules: its text, as a rule writes it.
mod uuid_serde {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(u: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::uuid_text(u))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
        let t = String::deserialize(d)?;
        super::parse_uuid(&t).ok_or_else(|| D::Error::custom(format!("`{t}` is not a UUID")))
    }
}

/// Parses `8-4-4-4-12` hex groups into the UUID's 16 bytes in text order.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let groups: Vec<&str> = text.split('-').collect();
    let shape = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if !shape {
        return None;
    }
    let hex: String = groups.concat();
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `dce_iface:UUID[,<|>|=|!version][,any_frag][,preack]` (`preack` only changes SMB
/// named-pipe traffic, not carried here).
pub fn parse_iface(value: Option<&str>) -> Result<TxPred, KwError> {
    let value = value.ok_or_else(|| KwError::value("dce_iface needs an interface UUID"))?;
    let args = split_args(value);
    let Some(&(uat, text)) = args.first() else {
        return Err(KwError::value("dce_iface needs an interface UUID"));
    };
    let Some(uuid) = parse_uuid(text) else {
        return Err(KwError::value(format!("`{text}` is not a UUID"))
            .at(uat, uat + text.len())
            .help("e.g. dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188;"));
    };
    let mut version = None;
    let mut any_frag = false;
    for &(at, a) in &args[1..] {
        match a {
            "any_frag" => any_frag = true,
            // Suricata: match before the server's acknowledgment, on SMB named pipes only;
            // the acknowledgment is always awaited over TCP, so it changes nothing here.
            "preack" => {}
            _ if version.is_none() && a.starts_with(['<', '>', '=', '!']) => {
                // DCE2 and Suricata take one operator and a decimal version of 0-65535.
                let cmp = match a.strip_prefix('=') {
                    Some(n) => parse_cmp(n, 65535, "interface version"),
                    None => parse_cmp(a, 65535, "interface version"),
                };
                version = Some(cmp.map_err(|e| e.at(at, at + a.len()))?);
            }
            _ => {
                return Err(KwError::value(format!("unexpected `{a}` in dce_iface"))
                    .at(at, at + a.len())
                    .help("after the UUID: <N, >N, =N or !N, then any_frag"));
            }
        }
    }
    Ok(TxPred::DceIface(DceIface {
        uuid,
        version,
        any_frag,
    }))
}

/// `dce_opnum:N|N-M[,…]`
pub fn parse_opnum(value: Option<&str>) -> Result<TxPred, KwError> {
    let value = value.unwrap_or_default();
    let mut ranges = Vec::new();
    for (at, a) in split_args(value) {
        let e = |err: KwError| err.at(at, at + a.len());
        let (lo, hi) = match a.split_once('-') {
            Some((l, h)) => (parse_u64(l).map_err(e)?, parse_u64(h).map_err(e)?),
            None => {
                let v = parse_u64(a).map_err(e)?;
                (v, v)
            }
        };
        let (Ok(lo), Ok(hi)) = (u16::try_from(lo), u16::try_from(hi)) else {
            return Err(KwError::value(format!("opnum `{a}` is over 65535")).at(at, at + a.len()));
        };
        if lo > hi {
            return Err(KwError::value(format!("bad opnum range `{a}`")).at(at, at + a.len()));
        }
        ranges.push((lo, hi));
    }
    if ranges.is_empty() {
        return Err(KwError::value(
            "dce_opnum needs at least one operation number",
        ));
    }
    Ok(TxPred::DceOpnum(RangeSet::from_ranges(ranges)))
}

/// SMB's ports: NetBIOS session service and SMB over TCP.
const SMB_PORTS: [u16; 2] = [139, 445];

/// Why a DCE/RPC rule cannot run yet: on SMB's ports only (139, 445) its requests travel
/// in SMB named pipes (transactions, reads and writes on `\\PIPE\\...`), which the engine
/// does not unwrap; such a rule would never see a request.
pub fn rejection(rule: &Rule) -> Option<String> {
    let reads_dce = rule.payload.iter().any(|t| match t {
        PayloadTest::Tx(p) => matches!(p, TxPred::DceIface(_) | TxPred::DceOpnum(_)),
        t => crate::classify::test_buffer(t) == Some(Buffer::App(AppBuffer::DceStubData)),
    });
    let ports = rule.dst_ports.ranges();
    let smb_only = !ports.is_empty()
        && ports
            .iter()
            .all(|&(lo, hi)| (lo..=hi).all(|p| SMB_PORTS.contains(&p)));
    (reads_dce && smb_only)
        .then(|| "DCE/RPC over SMB named pipes (ports 139, 445) not supported yet".to_string())
}

/// `dce_opnum`'s value as written in a rule.
pub fn opnum_text(r: &RangeSet<u16>) -> String {
    r.ranges()
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_option_text;

    #[test]
    fn iface_forms() {
        let p = parse_iface(Some("4B324FC8-1670-01D3-1278-5A47BF6EE188,>2,any_frag")).unwrap();
        assert_eq!(
            tx_option_text(&p),
            "dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188,>2,any_frag;"
        );
        let TxPred::DceIface(i) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(i.uuid[..4], [0x4b, 0x32, 0x4f, 0xc8]);
        assert!(i.matches(&i.uuid, 3, false) && !i.matches(&i.uuid, 2, true));
        let p = parse_iface(Some("4b324fc8-1670-01d3-1278-5a47bf6ee188,=1")).unwrap();
        let TxPred::DceIface(i) = &p else {
            panic!("{p:?}")
        };
        assert!(i.matches(&i.uuid, 1, true) && !i.matches(&i.uuid, 1, false));
        assert_eq!(
            tx_option_text(&p),
            "dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188,=1;"
        );
        assert!(parse_iface(Some("4b324fc8-1670-01d3-1278")).is_err());
        assert!(parse_iface(Some("4b324fc8-1670-01d3-1278-5a47bf6ee188,70000")).is_err());
        assert!(parse_iface(Some("4b324fc8-1670-01d3-1278-5a47bf6ee188,bogus")).is_err());
        assert!(parse_iface(None).is_err());
        let p = parse_iface(Some("4b324fc8-1670-01d3-1278-5a47bf6ee188,any_frag,preack")).unwrap();
        assert_eq!(
            tx_option_text(&p),
            "dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188,any_frag;"
        );
    }

    #[test]
    fn opnum_forms() {
        let p = parse_opnum(Some("15,0-3,17")).unwrap();
        assert_eq!(tx_option_text(&p), "dce_opnum:0-3,15,17;");
        let TxPred::DceOpnum(r) = &p else {
            panic!("{p:?}")
        };
        assert!(r.contains(2) && r.contains(17) && !r.contains(4));
        assert!(parse_opnum(Some("5-2")).is_err());
        assert!(parse_opnum(Some("70000")).is_err());
        assert!(parse_opnum(None).is_err());
    }
}

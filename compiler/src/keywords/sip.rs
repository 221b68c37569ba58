//! The Snort 2.9/3 sip preprocessor's predicates, `sip_method` and `sip_stat_code`, which
//! test the SIP message being inspected (each message is a transaction). The sticky
//! buffers — Suricata's `sip.method`, `sip.uri`, `sip.request_line`, `sip.stat_code`,
//! `sip.stat_msg`, `sip.response_line`, `sip.protocol`, `sip.from`, `sip.to`, `sip.via`,
//! `sip.user_agent`, `sip.content_type`, `sip.content_length` and Snort's `sip_header`,
//! `sip_body` — are in [`super::buffers`].
//!
//! - `sip_method:name[,name…]` or `sip_method:!name`: the message is a request whose method
//!   is one of the names (compared without case, as Snort's method table does), or, negated,
//!   a request whose method is not the name. Snort allows `!` only with a single method.
//!   Never true on a response (Snort's `SIP_MethodEval` requires a request).
//! - `sip_stat_code:code[,code…]`: the message is a response whose status code is one of the
//!   codes; a one-digit code 1–9 stands for its class (`4` is any 4xx). At most 20 codes
//!   (Snort's `SIP_NUM_STAT_CODE_MAX`).

use super::txpred::{TxKeyword, TxPred};
use super::{split_args, KwError};

/// The SIP predicate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "sip_method",
        parse: parse_method,
    },
    TxKeyword {
        name: "sip_stat_code",
        parse: parse_stat_code,
    },
];

/// Most codes one `sip_stat_code` takes (Snort's limit).
pub const MAX_STAT_CODES: usize = 20;

/// `sip_method:name[,name…]` or `sip_method:!name`.
pub fn parse_method(value: Option<&str>) -> Result<TxPred, KwError> {
    let args = split_args(value.unwrap_or_default());
    if args.is_empty() {
        return Err(KwError::value("sip_method needs at least one method"));
    }
    let mut methods = Vec::new();
    let mut negated = false;
    for &(at, a) in &args {
        let name = match a.strip_prefix('!') {
            Some(n) => {
                negated = true;
                n.trim()
            }
            None => a,
        };
        if negated && args.len() > 1 {
            return Err(KwError::value("only one method is allowed with `!`")
                .at(at, at + a.len())
                .help("e.g. sip_method:!invite; or sip_method:invite,cancel;"));
        }
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(KwError::value(format!("`{a}` is not a SIP method")).at(at, at + a.len()));
        }
        methods.push(name.to_ascii_lowercase());
    }
    Ok(TxPred::SipMethod { methods, negated })
}

/// RFC 3261 `token` characters, which a method name is made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `sip_stat_code:code[,code…]` (1–9 for a class, 100–999 for a code).
pub fn parse_stat_code(value: Option<&str>) -> Result<TxPred, KwError> {
    let args = split_args(value.unwrap_or_default());
    if args.is_empty() {
        return Err(KwError::value("sip_stat_code needs at least one code"));
    }
    if args.len() > MAX_STAT_CODES {
        return Err(KwError::value(format!(
            "sip_stat_code takes at most {MAX_STAT_CODES} codes"
        )));
    }
    let mut codes = Vec::new();
    for (at, a) in args {
        let bad = || {
            KwError::value(format!("`{a}` is not a SIP status code (1-9 or 100-999)"))
                .at(at, at + a.len())
        };
        let v: u16 = a.parse().map_err(|_| bad())?;
        if !(1..=9).contains(&v) && !(100..=999).contains(&v) {
            return Err(bad());
        }
        codes.push(v);
    }
    Ok(TxPred::SipStatCode(codes))
}

/// Whether `sip_method` holds on a message: `method` is the request's (`None` for a
/// response).
pub fn method_matches(methods: &[String], negated: bool, method: Option<&[u8]>) -> bool {
    let Some(m) = method else { return false };
    let listed = methods.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(m));
    listed != negated
}

/// Whether `sip_stat_code` holds on a message: `status` is the response's (`None` for a
/// request).
pub fn stat_code_matches(codes: &[u16], status: Option<u16>) -> bool {
    let Some(s) = status else { return false };
    codes.iter().any(|&c| c == s || c == s / 100)
}

/// The canonical value text of `sip_method`.
pub fn method_text(methods: &[String], negated: bool) -> String {
    let list = methods.join(",");
    if negated {
        format!("!{list}")
    } else {
        list
    }
}

/// The canonical value text of `sip_stat_code`.
pub fn stat_code_text(codes: &[u16]) -> String {
    codes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_option_text;

    #[test]
    fn methods() {
        let p = parse_method(Some("invite, CANCEL")).unwrap();
        assert_eq!(tx_option_text(&p), "sip_method:invite,cancel;");
        let TxPred::SipMethod { methods, negated } = &p else {
            panic!("{p:?}")
        };
        assert!(method_matches(methods, *negated, Some(b"INVITE")));
        assert!(method_matches(methods, *negated, Some(b"cancel")));
        assert!(!method_matches(methods, *negated, Some(b"BYE")));
        assert!(!method_matches(methods, *negated, None));
        let n = parse_method(Some("!invite")).unwrap();
        assert_eq!(tx_option_text(&n), "sip_method:!invite;");
        let TxPred::SipMethod { methods, negated } = &n else {
            panic!("{n:?}")
        };
        assert!(method_matches(methods, *negated, Some(b"OPTIONS")));
        assert!(!method_matches(methods, *negated, Some(b"INVITE")));
        // A response is never a method's.
        assert!(!method_matches(methods, *negated, None));
        assert!(parse_method(Some("invite,!cancel")).is_err());
        assert!(parse_method(Some("!invite,cancel")).is_err());
        assert!(parse_method(Some("in vite")).is_err());
        assert!(parse_method(None).is_err());
        assert_eq!(n.app(), crate::ir::AppProto::Sip);
    }

    #[test]
    fn stat_codes() {
        let p = parse_stat_code(Some("4,180")).unwrap();
        assert_eq!(tx_option_text(&p), "sip_stat_code:4,180;");
        assert!(p.to_client_only());
        let TxPred::SipStatCode(c) = &p else {
            panic!("{p:?}")
        };
        assert!(stat_code_matches(c, Some(401)));
        assert!(stat_code_matches(c, Some(180)));
        assert!(!stat_code_matches(c, Some(183)));
        assert!(!stat_code_matches(c, None));
        for bad in ["0", "10", "99", "1000", "x", ""] {
            assert!(parse_stat_code(Some(bad)).is_err(), "{bad}");
        }
        let many = vec!["200"; MAX_STAT_CODES + 1].join(",");
        assert!(parse_stat_code(Some(&many)).is_err());
    }
}

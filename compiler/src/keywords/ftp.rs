//! FTP keywords that are not buffers: `ftpbounce` (Snort 2, Suricata) and Suricata 8's
//! `ftp.dynamic_port`, `ftp.mode` and `ftp.reply_received`. The sticky buffers `ftp.command`, `ftp.command_data`, `ftp.reply`
//! and `ftp.completion_code` are in [`super::buffers`].
//!
//! - `ftpbounce`: the transaction's command is `PORT` and the IPv4 address in its first
//!   four numbers is not the client's (the flow's source), which is how a bounce scan
//!   makes a server connect elsewhere; Suricata's `DetectFtpbounceMatchArgs`. An IPv6
//!   control connection never matches (PORT carries IPv4; EPRT is not checked there either).
//! - `ftp.dynamic_port:N` (Suricata's unsigned-integer syntax): the data port the
//!   transaction announced, by `PORT`/`EPRT` from the client or by the server's `227`
//!   (PASV) or `229` (EPSV) reply.
//! - `ftp.mode:active|passive`: the transaction announced a data port by PORT/EPRT (active)
//!   or got one from a PASV/EPSV reply (passive); false without a data port.
//! - `ftp.reply_received:yes|no` (also `on|true|1`, `off|false|0`): whether the command's
//!   final reply arrived. Both are false on a transaction without a command (the greeting),
//!   as Suricata's are on an unknown command.

use super::txpred::{TxKeyword, TxPred};
use super::uint::parse_uint;
use super::KwError;

/// The FTP predicate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "ftpbounce",
        parse: parse_ftpbounce,
    },
    TxKeyword {
        name: "ftp.dynamic_port",
        parse: parse_dynamic_port,
    },
    TxKeyword {
        name: "ftp.mode",
        parse: parse_mode,
    },
    TxKeyword {
        name: "ftp.reply_received",
        parse: parse_reply_received,
    },
];

/// `ftp.mode:active|passive`.
pub fn parse_mode(value: Option<&str>) -> Result<TxPred, KwError> {
    match value.map(str::trim) {
        Some("active") => Ok(TxPred::FtpMode { active: true }),
        Some("passive") => Ok(TxPred::FtpMode { active: false }),
        v => Err(
            KwError::value(format!("`{}` is not an FTP mode", v.unwrap_or_default()))
                .help("active or passive"),
        ),
    }
}

/// `ftp.reply_received:yes|no` and Suricata's other spellings of a boolean.
pub fn parse_reply_received(value: Option<&str>) -> Result<TxPred, KwError> {
    match value.map(str::trim) {
        Some("yes" | "on" | "true" | "1") => Ok(TxPred::FtpReplyReceived(true)),
        Some("no" | "off" | "false" | "0") => Ok(TxPred::FtpReplyReceived(false)),
        v => Err(
            KwError::value(format!("`{}` is not yes or no", v.unwrap_or_default()))
                .help("yes, on, true, 1, no, off, false or 0 (without quotes)"),
        ),
    }
}

/// `ftpbounce` (no value).
pub fn parse_ftpbounce(value: Option<&str>) -> Result<TxPred, KwError> {
    match value.map(str::trim) {
        None | Some("") => Ok(TxPred::FtpBounce),
        Some(v) => Err(KwError::value(format!(
            "ftpbounce takes no value (got `{v}`)"
        ))),
    }
}

/// `ftp.dynamic_port:[!]N`, ranges and comparisons (u16).
pub fn parse_dynamic_port(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = value.ok_or_else(|| KwError::value("ftp.dynamic_port needs a value"))?;
    parse_uint(v, u64::from(u16::MAX), "ftp.dynamic_port", None).map(TxPred::FtpDynamicPort)
}

/// The IPv4 address a `PORT` argument names (`h1,h2,h3,h4,p1,p2`), read as Suricata reads
/// it: from the first digit, four comma-separated numbers (spaces allowed before a comma).
/// `None` when they are not four numbers below 256.
pub fn port_address(arg: &[u8]) -> Option<[u8; 4]> {
    let start = arg.iter().position(u8::is_ascii_digit)?;
    let mut out = [0u8; 4];
    let mut it = arg[start..].split(|&b| b == b',');
    for o in &mut out {
        let part = it.next()?.trim_ascii();
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u32 = part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
        *o = u8::try_from(n).ok()?;
    }
    // A fifth field must follow: the port.
    it.next()?;
    Some(out)
}

/// The port a `PORT` argument (`h1,h2,h3,h4,p1,p2`) names.
pub fn port_port(arg: &[u8]) -> Option<u16> {
    let mut parts = arg.trim_ascii().split(|&b| b == b',').skip(4);
    let hi = num(parts.next()?)?;
    let lo = num(parts.next()?)?;
    Some(u16::from(u8::try_from(hi).ok()?) << 8 | u16::from(u8::try_from(lo).ok()?))
}

fn num(s: &[u8]) -> Option<u32> {
    let s = s.trim_ascii();
    if s.is_empty() || s.len() > 3 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_option_text;

    #[test]
    fn port_arguments() {
        assert_eq!(port_address(b"192,0,2,7,4,1"), Some([192, 0, 2, 7]));
        assert_eq!(port_address(b" 10 ,0,0,1,4,1"), Some([10, 0, 0, 1]));
        assert_eq!(port_address(b"300,0,0,1,4,1"), None);
        assert_eq!(port_address(b"1,2,3"), None);
        assert_eq!(port_address(b"1,2,3,4"), None);
        assert_eq!(port_address(b"x"), None);
        assert_eq!(port_port(b"192,0,2,7,4,1"), Some(1025));
        assert_eq!(port_port(b"192,0,2,7,4"), None);
        assert_eq!(port_port(b"192,0,2,7,400,1"), None);
    }

    #[test]
    fn keywords() {
        assert_eq!(parse_ftpbounce(None), Ok(TxPred::FtpBounce));
        assert!(parse_ftpbounce(Some("x")).is_err());
        assert_eq!(tx_option_text(&TxPred::FtpBounce), "ftpbounce;");
        let p = parse_dynamic_port(Some(">1024")).unwrap();
        assert_eq!(tx_option_text(&p), "ftp.dynamic_port:>1024;");
        assert!(parse_dynamic_port(Some("70000")).is_err());
        let m = parse_mode(Some("passive")).unwrap();
        assert_eq!(tx_option_text(&m), "ftp.mode:passive;");
        assert!(parse_mode(Some("both")).is_err() && parse_mode(None).is_err());
        let r = parse_reply_received(Some("on")).unwrap();
        assert_eq!(tx_option_text(&r), "ftp.reply_received:yes;");
        assert_eq!(
            parse_reply_received(Some("0")),
            Ok(TxPred::FtpReplyReceived(false))
        );
        assert!(parse_reply_received(Some("\"yes\"")).is_err());
    }
}

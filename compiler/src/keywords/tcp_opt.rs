//! TCP option keywords: `tcp.mss` (Suricata 6+).
//!
//! `tcp.mss` compares the value of the packet's Maximum Segment Size option with Suricata's
//! integer syntax ([`super::uint`], u16). A packet without a well-formed MSS option (kind 2,
//! length 4) never matches, whatever the comparison (`tcp.mss:!1460` needs the option too),
//! as Suricata's `DetectTcpmssMatch` returns early when `TCP_HAS_MSS` is false.

use super::uint::{parse_uint, uint_text, UintCmp};
use super::KwError;
use crate::ir::HeaderTest;

/// `tcp.mss:<cmp>` as a header test.
pub fn parse_tcp_mss(value: &str) -> Result<HeaderTest, KwError> {
    parse_uint(value, u64::from(u16::MAX), "tcp.mss", None).map(HeaderTest::TcpMss)
}

/// The canonical `tcp.mss` value.
pub fn tcp_mss_text(c: UintCmp) -> String {
    uint_text(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_values() {
        for (text, want) in [
            ("536", UintCmp::Eq(536)),
            ("<536", UintCmp::Lt(536)),
            (">=1460", UintCmp::Ge(1460)),
            ("!1460", UintCmp::Ne(1460)),
            ("500-1000", UintCmp::Range(500, 1000)),
            ("65535", UintCmp::Eq(65535)),
        ] {
            assert_eq!(
                parse_tcp_mss(text).unwrap(),
                HeaderTest::TcpMss(want),
                "{text}"
            );
            let HeaderTest::TcpMss(c) = parse_tcp_mss(text).unwrap() else {
                unreachable!()
            };
            assert_eq!(
                parse_tcp_mss(&tcp_mss_text(c)).unwrap(),
                HeaderTest::TcpMss(c)
            );
        }
    }

    #[test]
    fn invalid_values() {
        for bad in ["", "65536", "abc", "<", "1000-500", "-1"] {
            assert!(parse_tcp_mss(bad).is_err(), "{bad}");
        }
    }
}

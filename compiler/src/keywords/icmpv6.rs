//! ICMPv6 header keywords: `icmpv6.mtu` (Suricata 6+).
//!
//! `icmpv6.mtu` compares the MTU of an ICMPv6 Packet Too Big message (type 2, code 0) with
//! Suricata's integer syntax ([`super::uint`], u32). Any other packet has no MTU and never
//! matches, whatever the comparison, as Suricata's `DetectICMPv6mtuGetValue` returns early.

use super::uint::{parse_uint, uint_text, UintCmp};
use super::KwError;
use crate::ir::HeaderTest;

/// `icmpv6.mtu:<cmp>` as a header test.
pub fn parse_icmpv6_mtu(value: &str) -> Result<HeaderTest, KwError> {
    parse_uint(value, u64::from(u32::MAX), "icmpv6.mtu", None).map(HeaderTest::Icmpv6Mtu)
}

/// The canonical `icmpv6.mtu` value.
pub fn icmpv6_mtu_text(c: UintCmp) -> String {
    uint_text(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        for (text, want) in [
            ("<1280", UintCmp::Lt(1280)),
            ("1500", UintCmp::Eq(1500)),
            ("4294967295", UintCmp::Eq(u64::from(u32::MAX))),
        ] {
            let h = parse_icmpv6_mtu(text).unwrap();
            assert_eq!(h, HeaderTest::Icmpv6Mtu(want), "{text}");
            assert_eq!(parse_icmpv6_mtu(&icmpv6_mtu_text(want)).unwrap(), h);
        }
        for bad in ["", "4294967296", "mtu", "<"] {
            assert!(parse_icmpv6_mtu(bad).is_err(), "{bad}");
        }
    }
}

//! The `asn1` keyword's checks, as Suricata's `rust/src/asn1` runs them: the buffer from the
//! keyword's position is decoded as consecutive BER elements with der-parser (the parser
//! Suricata uses, so the same inputs decode or fail), and each element and the elements
//! nested in its SEQUENCEs and SETs is checked.
//!
//! Bounds: at most [`MAX_FRAMES`] top-level elements, and the same nesting depth (Suricata's
//! `asn1-max-frames`); der-parser refuses lengths past the buffer, so a decode reads nothing
//! outside it. An element that fails to decode ends the run: the elements before it are
//! still checked (Suricata drops the whole run only past the frame limit; verdict checks the
//! frames within it, so padding a message with elements cannot hide an earlier one).

use der_parser::ber::{parse_ber_recursive, BerObject, Class, Length, Tag};
use verdict_compiler::ir::Asn1;
pub use verdict_compiler::keywords::asn1::MAX_FRAMES;

/// The decoding start: `cursor + offset` for `relative_offset`, else `offset`; `None` when
/// it lies before the buffer or at/after its end (Suricata: no match).
fn start(a: &Asn1, cursor: usize, len: usize) -> Option<usize> {
    let pos = if a.relative {
        i64::try_from(cursor).ok()?.checked_add(a.offset)?
    } else {
        a.offset
    };
    usize::try_from(pos).ok().filter(|&p| p < len)
}

/// True when one of `a`'s checks holds on `buf` decoded from its position.
pub fn matches(a: &Asn1, buf: &[u8], cursor: usize) -> bool {
    let Some(from) = start(a, cursor, buf.len()) else {
        return false;
    };
    let mut rest = &buf[from..];
    for _ in 0..MAX_FRAMES {
        if rest.is_empty() {
            break;
        }
        let Ok((next, obj)) = parse_ber_recursive(rest, MAX_FRAMES) else {
            break;
        };
        if check_tree(&obj, a, MAX_FRAMES) {
            return true;
        }
        rest = next;
    }
    false
}

fn check_tree(obj: &BerObject<'_>, a: &Asn1, depth: usize) -> bool {
    if depth == 0 {
        return false;
    }
    check(obj, a) || obj.ref_iter().any(|child| check_tree(child, a, depth - 1))
}

/// The element's definite length (0 for the indefinite form, as it states none).
fn length(obj: &BerObject<'_>) -> u64 {
    match obj.header.length() {
        Length::Definite(n) => n as u64,
        Length::Indefinite => 0,
    }
}

fn universal_primitive(obj: &BerObject<'_>, tag: Tag) -> bool {
    obj.header.class() == Class::Universal && obj.header.is_primitive() && obj.header.tag() == tag
}

/// Suricata's `check_object`.
fn check(obj: &BerObject<'_>, a: &Asn1) -> bool {
    let len = length(obj);
    let data = obj.content.as_slice().unwrap_or(&[]);
    if let Some(max) = a.oversize_length {
        if len > u64::from(max) || data.len() as u64 > u64::from(max) {
            return true;
        }
    }
    if a.bitstring_overflow && universal_primitive(obj, Tag::BitString) {
        if let der_parser::ber::BerObjectContent::BitString(unused, _) = &obj.content {
            // More unused bits than the string has bits.
            if len > 0 && u64::from(*unused) > len.saturating_mul(8) {
                return true;
            }
        }
    }
    // MS04-007: an ASCII-encoded (decimal) REAL longer than 256 bytes overflowed MSASN1.
    if a.double_overflow
        && universal_primitive(obj, Tag::RealType)
        && len > 0
        && data.first().is_some_and(|b| b & 0xC0 == 0)
        && (len > 256 || data.len() > 256)
    {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use verdict_compiler::ir::Buffer;

    fn rule(v: &str) -> Asn1 {
        verdict_compiler::keywords::asn1::parse(v, Buffer::Payload).unwrap()
    }

    /// X.690 (07/2002) Appendix A.3, as in Suricata's tests: a 133-byte personnel record.
    const A3: &[u8] =
        b"\x60\x81\x85\x61\x10\x1A\x04John\x1A\x01P\x1A\x05Smith\xA0\x0A\x1A\x08Director\
\x42\x01\x33\xA1\x0A\x43\x0819710917\xA2\x12\x61\x10\x1A\x04Mary\x1A\x01T\x1A\x05Smith\
\xA3\x42\x31\x1F\x61\x11\x1A\x05Ralph\x1A\x01T\x1A\x05Smith\xA0\x0A\x43\x0819571111\
\x31\x1F\x61\x11\x1A\x05Susan\x1A\x01B\x1A\x05Jones\xA0\x0A\x43\x0819590717";

    fn real(len: u16) -> Vec<u8> {
        // Universal primitive REAL with a two-byte length, decimal-encoded content.
        let mut b = vec![0x09, 0x82];
        b.extend_from_slice(&len.to_be_bytes());
        b.extend(std::iter::repeat_n(0x05, usize::from(len)));
        b
    }

    #[test]
    fn suricata_checks() {
        assert!(matches(
            &rule("oversize_length 132 absolute_offset 0"),
            A3,
            0
        ));
        assert!(!matches(
            &rule("oversize_length 133 absolute_offset 0"),
            A3,
            0
        ));
        assert!(matches(
            &rule("bitstring_overflow, absolute_offset 0"),
            b"\x03\x01\xFF",
            0
        ));
        assert!(!matches(
            &rule("bitstring_overflow, absolute_offset 0"),
            b"\x03\x01\x07",
            0
        ));
        assert!(matches(
            &rule("double_overflow, absolute_offset 0"),
            &real(257),
            0
        ));
        assert!(!matches(
            &rule("double_overflow, absolute_offset 0"),
            &real(256),
            0
        ));
    }

    #[test]
    fn positions() {
        let mut aa = b"AA".to_vec();
        aa.extend_from_slice(A3);
        let r = rule("oversize_length 130, relative_offset 0");
        // Relative to a match that ended after "AA".
        assert!(matches(&r, &aa, 2));
        assert!(!matches(&r, &aa, 1));
        // Before the buffer or at its end: no match.
        assert!(!matches(
            &rule("oversize_length 1, relative_offset -3"),
            &aa,
            2
        ));
        assert!(!matches(
            &rule("oversize_length 1, absolute_offset 135"),
            &aa,
            0
        ));
        assert!(matches(
            &rule("bitstring_overflow, relative_offset 2"),
            b"AA\x03\x01\xFF",
            0
        ));
        // The check reaches a second top-level element and a nested one.
        let mut two = b"\x04\x01x".to_vec();
        two.extend_from_slice(b"\x30\x03\x03\x01\xFF");
        assert!(matches(&rule("bitstring_overflow"), &two, 0));
        // An element whose length runs past the buffer does not decode (as in Suricata).
        assert!(!matches(
            &rule("oversize_length 10"),
            b"\x04\x82\x10\x00abc",
            0
        ));
    }

    /// A bad BIT STRING inside `depth` nested SEQUENCEs.
    fn nested(depth: usize) -> Vec<u8> {
        let mut b = b"\x03\x01\xFF".to_vec();
        for _ in 0..depth {
            let mut outer = vec![0x30, 0x82];
            outer.extend_from_slice(&(b.len() as u16).to_be_bytes());
            outer.extend_from_slice(&b);
            b = outer;
        }
        b
    }

    #[test]
    fn deep_nesting_is_bounded() {
        // Deeper than the limit: the decode fails instead of recursing without bound.
        assert!(!matches(&rule("bitstring_overflow"), &nested(300), 0));
        // Within the limit it is found.
        assert!(matches(&rule("bitstring_overflow"), &nested(40), 0));
        assert!(matches(
            &rule("bitstring_overflow"),
            &nested(MAX_FRAMES - 2),
            0
        ));
    }

    proptest! {
        /// Hostile bytes at any position: never a panic.
        #[test]
        fn never_panics(buf in proptest::collection::vec(any::<u8>(), 0..400),
                        cursor in 0usize..450, off in -500i64..500) {
            for v in ["bitstring_overflow, double_overflow, oversize_length 0", "oversize_length 7"] {
                let mut a = rule(v);
                a.offset = off;
                a.relative = off % 2 == 0;
                let _ = matches(&a, &buf, cursor);
            }
        }

        /// Structured hostile input: nested headers with random tags and lengths.
        #[test]
        fn nested_headers(parts in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..200)) {
            let buf: Vec<u8> = parts.iter().flat_map(|&(t, l)| [t | 0x20, l]).collect();
            let _ = matches(&rule("bitstring_overflow, double_overflow, oversize_length 3"), &buf, 0);
        }
    }
}

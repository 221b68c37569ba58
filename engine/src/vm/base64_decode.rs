//! `base64_decode`'s decoder: Suricata's RFC 4648 mode (`util-base64.c`,
//! `DecodeBase64RFC4648` without `strict`), which the `base64_data` tests read.
//!
//! Decoding stops at the first byte that is neither in the standard alphabet nor `=`
//! (whitespace and line breaks included). Each group of four characters yields three bytes
//! less one per `=` in it, wherever the `=` stands (`=` reads as the value 0, and a group
//! after a padded one still decodes: `Zg==Zm9v` is "f" then "foo"). A trailing partial group
//! yields one byte for one or two characters and two for three.
//!
//! The `base64` crate does the bit work: each group goes to it with its `=` as `A`
//! (value 0). It cannot decode the stream whole, as Suricata decodes groups after padding
//! and a lone trailing character that the crate (rightly, for RFC 4648) refuses.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// Groups are complete and unpadded by construction; trailing bits of a short last group
/// are Suricata's to drop, so the crate must not refuse them.
const GROUP: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

fn in_alphabet(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

/// Decodes `input` into `out` (cleared first) as Suricata's `base64_decode` does; returns
/// how many input bytes it read (up to the first byte outside the alphabet).
pub fn decode_rfc4648(input: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let text_len = input
        .iter()
        .position(|&c| !(in_alphabet(c) || c == b'='))
        .unwrap_or(input.len());
    let text = &input[..text_len];
    // The unpadded run of whole groups at the start decodes in one call.
    let clean = text.iter().position(|&c| c == b'=').unwrap_or(text.len()) / 4 * 4;
    out.reserve(text_len / 4 * 3 + 3);
    let (head, rest) = text.split_at(clean);
    if GROUP.decode_vec(head, out).is_err() {
        // Unreachable for alphabet-only whole groups; nothing decoded beats a wrong prefix.
        out.clear();
        return 0;
    }
    for group in rest.chunks(4) {
        let mut block = [b'A'; 4];
        let mut pad = 0;
        for (d, &s) in block.iter_mut().zip(group) {
            if s == b'=' {
                pad += 1;
            } else {
                *d = s;
            }
        }
        let keep = if group.len() == 4 {
            3 - pad.min(3)
        } else {
            // A partial group is padded to four by position, whatever `=` it holds.
            group.len().saturating_sub(1).max(1)
        };
        let mut bytes = [0u8; 3];
        if GROUP.decode_slice(block, &mut bytes).is_err() {
            return text_len;
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    text_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let read = decode_rfc4648(s, &mut out);
        assert!(read <= s.len());
        out
    }

    #[test]
    fn suricata_vectors() {
        // util-base64.c B64TestVectorsRFC4648.
        for (src, want) in [
            (&b""[..], &b""[..]),
            (b"Zg==", b"f"),
            (b"Zm8=", b"fo"),
            (b"Zm9v", b"foo"),
            (b"Zm9vYg==", b"foob"),
            (b"Zm9vYmE=", b"fooba"),
            (b"Zm9vYmFy", b"foobar"),
            // Stops at the blank: "Zm" is a partial group of one byte.
            (b"Zm 9v Ym Fy", b"f"),
            (b"Zm$9vYm.Fy", b"f"),
            (
                b"Y21Wd2IzSjBaVzFoYVd4bWNtRjFaRUJoZEc4dVoyOTJMbUYxOmpqcHh4b3Rhb2w%3D",
                b"cmVwb3J0ZW1haWxmcmF1ZEBhdG8uZ292LmF1:jjpxxotaol",
            ),
            (b"SGVsbG8gV29ybGQ=", b"Hello World"),
            (b"SGVsbG8gV29ybGR6", b"Hello Worldz"),
        ] {
            assert_eq!(d(src), want, "{}", String::from_utf8_lossy(src));
        }
    }

    #[test]
    fn padding_and_partial_groups() {
        // A padded group does not end the stream.
        assert_eq!(d(b"Zg==Zm9v"), b"ffoo");
        // A line break ends it.
        assert_eq!(d(b"Zm9v\r\nYmFy"), b"foo");
        let mut out = Vec::new();
        assert_eq!(decode_rfc4648(b"Zm9v\r\nYmFy", &mut out), 4);
        // One trailing character still yields a byte (its six bits, shifted).
        assert_eq!(d(b"Zm9vY"), [b'f', b'o', b'o', 0x60]);
        assert_eq!(d(b"Zm9vYm"), b"foob");
        assert_eq!(d(b"Zm9vYmE"), b"fooba");
        // `=` in a partial group counts only by position.
        assert_eq!(d(b"Zg="), [b'f', 0]);
        // Nothing decodable.
        assert_eq!(d(b"%%%"), b"");
        assert_eq!(d(b"===="), b"");
    }

    proptest! {
        /// Any input: no panic, at most three bytes per four characters (rounded up).
        #[test]
        fn bounded(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let out = d(&input);
            prop_assert!(out.len() <= input.len().div_ceil(4) * 3);
        }

        /// Clean base64 of any bytes decodes back to them, padded or not.
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let padded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            prop_assert_eq!(d(padded.as_bytes()), bytes.clone());
            let bare = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
            prop_assert_eq!(d(bare.as_bytes()), bytes);
        }
    }
}

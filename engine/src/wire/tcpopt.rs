//! TCP options the engine reads: TCP Fast Open (RFC 7413), whose presence decides whether
//! data on a SYN or SYN-ACK is stream data, and the MSS that `tcp.mss` compares.

/// Option kinds (IANA "TCP Option Kind Numbers").
mod kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size (RFC 9293).
    pub const MSS: u8 = 2;
    /// TCP Fast Open cookie (RFC 7413).
    pub const FAST_OPEN: u8 = 34;
    /// RFC 3692-style experiments, shared through an experiment id (RFC 6994).
    pub const EXP1: u8 = 253;
    /// Second experimental kind, used by Linux for Fast Open before kind 34 was assigned.
    pub const EXP2: u8 = 254;
}

/// Experiment id of Fast Open under the experimental kinds (RFC 7413 section 4.1.1).
const FAST_OPEN_EXID: [u8; 2] = [0xf9, 0x89];

/// The shortest and longest cookies (RFC 7413 section 4.1.1: 4 to 16 bytes, even).
const COOKIE_LEN: std::ops::RangeInclusive<usize> = 4..=16;

/// The options of `opts` (the bytes between the fixed 20-byte header and the payload) as
/// (kind, body) pairs, NOPs skipped. A malformed option list ends the walk, as a receiver
/// (and Suricata's decoder) stops parsing there too; the options before it still count.
pub fn options(opts: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = opts;
    std::iter::from_fn(move || loop {
        let (&k, tail) = rest.split_first()?;
        match k {
            kind::EOL => return None,
            kind::NOP => {
                rest = tail;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*tail.first()?);
        // A length below 2 or past the header is malformed.
        let Some(body) = rest.get(2..len) else {
            rest = &[];
            return None;
        };
        rest = rest.get(len..).unwrap_or(&[]);
        return Some((k, body));
    })
}

/// True if the TCP options `opts` carry a Fast Open option: a cookie request (empty) or a
/// cookie, under kind 34 or the experimental kinds with id 0xF989.
pub fn has_fast_open(opts: &[u8]) -> bool {
    options(opts).any(|(k, body)| is_fast_open(k, body))
}

/// The value of the MSS option, if `opts` carry one of the right length (4 bytes). As in
/// Suricata's decoder, a later duplicate does not replace the first, and an MSS option of
/// another length is ignored.
pub fn mss(opts: &[u8]) -> Option<u16> {
    options(opts).find_map(|(k, body)| match (k, body) {
        (kind::MSS, &[a, b]) => Some(u16::from_be_bytes([a, b])),
        _ => None,
    })
}

fn is_fast_open(k: u8, body: &[u8]) -> bool {
    let cookie_ok =
        |c: &[u8]| c.is_empty() || (COOKIE_LEN.contains(&c.len()) && c.len().is_multiple_of(2));
    match k {
        kind::FAST_OPEN => cookie_ok(body),
        kind::EXP1 | kind::EXP2 => match body {
            [a, b, cookie @ ..] => [*a, *b] == FAST_OPEN_EXID && cookie_ok(cookie),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_open_is_found_in_its_forms_and_not_in_others() {
        let cases: &[(&[u8], bool)] = &[
            (b"", false),
            // mss, sackOK, timestamps, nop, wscale: an ordinary SYN.
            (
                &[
                    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
                ],
                false,
            ),
            // Cookie request (kind 34, length 2) after a NOP.
            (&[1, 34, 2], true),
            // Cookie of 8 bytes.
            (&[34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1], true),
            // Linux's experimental form: kind 254, id 0xF989, request and cookie.
            (&[254, 4, 0xf9, 0x89], true),
            (&[1, 1, 254, 12, 0xf9, 0x89, 1, 2, 3, 4, 5, 6, 7, 8], true),
            // Another experiment under kind 254.
            (&[254, 4, 0x12, 0x34], false),
            // Odd or too short cookies are not Fast Open.
            (&[34, 5, 1, 2, 3], false),
            (&[34, 4, 1, 2], false),
            // After end-of-list, nothing counts.
            (&[0, 34, 2], false),
            // Malformed lengths stop the search without panicking.
            (&[2, 0, 34, 2], false),
            (&[2, 1, 34, 2], false),
            (&[34, 10, 1, 2], false),
            (&[8], false),
        ];
        for (opts, want) in cases {
            assert_eq!(has_fast_open(opts), *want, "{opts:?}");
        }
    }

    #[test]
    fn mss_needs_a_well_formed_option_and_the_first_wins() {
        let cases: &[(&[u8], Option<u16>)] = &[
            (b"", None),
            (&[2, 4, 5, 0xb4], Some(1460)),
            (&[1, 1, 2, 4, 0x02, 0x18, 4, 2], Some(536)),
            // A duplicate does not replace the first value.
            (&[2, 4, 0, 100, 2, 4, 0, 200], Some(100)),
            // Wrong length: ignored, a later well-formed one counts.
            (&[2, 3, 1, 2, 4, 1, 0], Some(256)),
            (&[2, 5, 1, 2, 3], None),
            // After end-of-list or a malformed length, nothing counts.
            (&[0, 2, 4, 5, 0xb4], None),
            (&[8, 1, 2, 4, 5, 0xb4], None),
            (&[2, 4, 5], None),
            (&[2], None),
        ];
        for (opts, want) in cases {
            assert_eq!(mss(opts), *want, "{opts:?}");
        }
    }
}

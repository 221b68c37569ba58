//! Application-layer parsers that run on reassembled, in-order stream bytes and fill the
//! per-transaction sticky buffers rules inspect (Suricata's `http.*`, `file.data`, ...).

pub mod dcerpc;
/// SNMP and Kerberos messages in DER for the parsers' tests (shared with the replay and
/// netns tests).
#[cfg(test)]
#[path = "../../../tests/common/der.rs"]
pub(crate) mod der;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod krb5;
pub mod mime;
pub mod sip;
pub mod smtp;
pub mod snmp;
pub mod sources;
pub mod ssh;
pub mod tls;

/// Feeds `rounds` chunks of pseudo-random bytes drawn from `alpha` to `feed`, both
/// directions: the no-panic check of the line parsers' tests.
#[cfg(test)]
pub(crate) fn feed_junk(alpha: &[u8], rounds: usize, mut feed: impl FnMut(bool, &[u8])) {
    let mut seed = 0x2545_f491u32;
    for _ in 0..rounds {
        let junk: Vec<u8> = (0..64)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                alpha[(seed >> 16) as usize % alpha.len()]
            })
            .collect();
        feed(true, &junk);
        feed(false, &junk);
    }
}

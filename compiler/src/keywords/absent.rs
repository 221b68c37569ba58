//! `absent` (Suricata 8): a test that the sticky buffer before it is absent on the
//! transaction — `http.request_body; absent;` matches a request without a body. With
//! `absent: or_else;` the buffer's tests run when it is present, so the segment matches
//! when the buffer is absent *or* those tests match.
//!
//! Suricata's rules for where it may stand, kept here:
//! - right after a sticky buffer, before any other test of that buffer (`absent must come
//!   first right after buffer`); the packet payload is never absent, so `pkt_data`,
//!   `raw_data`, `base64_data` and the address buffers are refused;
//! - plain `absent` is the buffer's only test; `or_else` needs at least one other test;
//! - no `fast_pattern` on a content of that buffer (an absent buffer has no pattern to
//!   prefilter on).
//!
//! The engine decides "absent" only once the buffer can no longer appear (the request or
//! response it belongs to is complete), so a body that is still on its way is not absent.

use super::KwError;
use crate::ir::Buffer;

/// Parses the value: none (plain `absent`) or `or_else`; returns whether it is `or_else`.
pub fn parse(value: Option<&str>) -> Result<bool, KwError> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some("or_else") => Ok(true),
        Some(v) => {
            let lead = value.map_or(0, |r| r.len() - r.trim_start().len());
            Err(KwError::value(format!("`{v}` is not `or_else`"))
                .at(lead, lead + v.len())
                .help("write `absent;` or `absent: or_else;`"))
        }
    }
}

/// Whether `absent` can follow buffer `b`: only a sticky app-layer or file buffer can be
/// missing from a transaction.
pub fn buffer_can_be_absent(b: Buffer) -> bool {
    matches!(b, Buffer::App(_) | Buffer::FileData)
}

/// Checks one `absent` once the rule is read: `others` is how many other tests read its
/// buffer and `fast_pattern` whether a content of it carries `fast_pattern`.
pub fn check(or_else: bool, others: usize, fast_pattern: bool) -> Result<(), KwError> {
    if fast_pattern {
        return Err(KwError::value(
            "a buffer tested with `absent` cannot hold the fast_pattern",
        ));
    }
    match (or_else, others) {
        (false, n) if n > 0 => Err(KwError::value(
            "a buffer that must be absent cannot be tested otherwise",
        )
        .help("use `absent: or_else;` to match when it is absent or the tests match")),
        (true, 0) => Err(KwError::value("`absent: or_else` needs a test after it")
            .help("add the tests for a present buffer, or write plain `absent;`")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AppBuffer;

    #[test]
    fn values() {
        assert_eq!(parse(None), Ok(false));
        assert_eq!(parse(Some(" or_else ")), Ok(true));
        let e = parse(Some(" maybe")).unwrap_err();
        assert_eq!(e.at, Some((1, 6)));
    }

    #[test]
    fn placement_rules() {
        assert!(buffer_can_be_absent(Buffer::App(AppBuffer::HttpClientBody)));
        assert!(buffer_can_be_absent(Buffer::FileData));
        for b in [
            Buffer::Payload,
            Buffer::Raw,
            Buffer::Base64Data,
            Buffer::IpSrc,
        ] {
            assert!(!buffer_can_be_absent(b), "{b:?}");
        }
        assert!(check(false, 0, false).is_ok());
        assert!(check(true, 1, false).is_ok());
        assert!(check(false, 1, false).is_err());
        assert!(check(true, 0, false).is_err());
        assert!(check(true, 1, true).is_err());
    }
}

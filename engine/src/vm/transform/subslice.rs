//! `subslice`: the slice `[start, end)` of the buffer, with Suricata's rules for negative and
//! out-of-range values (`transforms/subslice.rs`).

/// The slice, or the empty buffer when a value is out of range and `truncate` is off.
pub fn subslice(b: &[u8], offset: i64, nbytes: Option<i64>, truncate: bool) -> &[u8] {
    range(b.len(), offset, nbytes, truncate)
        .and_then(|(s, e)| b.get(s..e))
        .unwrap_or_default()
}

/// `(start, end)` within `0..=len`, or `None` for "out of range, not truncated".
fn range(len: usize, offset: i64, nbytes: Option<i64>, truncate: bool) -> Option<(usize, usize)> {
    let len = i64::try_from(len).ok()?;
    if offset.unsigned_abs() > len.unsigned_abs() && !truncate {
        return None;
    }
    // Both clamps keep the start in 0..=len.
    let start = if offset >= 0 {
        offset.min(len)
    } else {
        len.saturating_add(offset.max(-len))
    };
    let end = match nbytes {
        None => len,
        Some(n) if n < 0 => match len.saturating_add(n) {
            e if e < 0 && !truncate => return None,
            e => e.max(0),
        },
        Some(n) => match start.saturating_add(n) {
            e if e > len && !truncate => return None,
            e => e.min(len),
        },
    };
    // A negative nbytes may end before the start: Suricata swaps the two.
    let (start, end) = if end < start {
        (end, start)
    } else {
        (start, end)
    };
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &[u8] = b"curl/7.64.1";

    #[test]
    fn offsets_and_lengths() {
        let s = |o, n, t| subslice(UA, o, n, t);
        assert_eq!(s(-6, None, false), b"7.64.1");
        assert_eq!(s(-10, Some(3), false), b"url");
        assert_eq!(s(1, Some(-3), false), b"url/7.6");
        assert_eq!(s(0, Some(-6), false), b"curl/");
        assert_eq!(s(-11, Some(-6), true), b"curl/");
        assert_eq!(s(0, Some(-8), true), b"cur");
        assert_eq!(s(2, None, false), b"rl/7.64.1");
        // Suricata's unit test: an end before the start swaps them.
        assert_eq!(
            subslice(b"this is suricata", 13, Some(-12), false),
            b" is suric"
        );
    }

    #[test]
    fn out_of_range() {
        let s = |o, n, t| subslice(UA, o, n, t);
        // Without truncate: empty.
        assert_eq!(s(0, Some(13), false), b"");
        assert_eq!(s(0, Some(-30), false), b"");
        assert_eq!(s(12, None, false), b"");
        assert_eq!(s(-12, None, false), b"");
        // With truncate: clamped.
        assert_eq!(s(0, Some(-30), true), b"");
        assert_eq!(s(-20, Some(-30), true), b"");
        assert_eq!(s(2, Some(30), true), b"rl/7.64.1");
        assert_eq!(s(-20, None, true), UA);
        // Past the end is empty either way; extremes do not overflow.
        assert_eq!(subslice(b"*/*", 9, Some(2), false), b"");
        assert_eq!(s(i64::MIN, Some(i64::MIN), true), b"");
        assert_eq!(s(i64::MAX, Some(i64::MAX), true), b"");
        assert_eq!(s(5, Some(i64::MAX), true), b"7.64.1");
    }
}

//! `domain` and `tld`: the registrable domain and the public suffix of a DNS name, looked up
//! in the Public Suffix List compiled into the `psl` crate (the crate Suricata uses, so the
//! two agree on every name).

/// The registrable domain (`bbc.co.uk` for `www.bbc.co.uk`), or empty when the name has
/// none (a bare suffix, an invalid name).
pub fn domain(b: &[u8]) -> &[u8] {
    psl::domain(b).map(|d| d.as_bytes()).unwrap_or_default()
}

/// The public suffix of the registrable domain (`co.uk`), or empty as for [`domain`].
pub fn tld(b: &[u8]) -> &[u8] {
    // psl's suffix is a tail of the name; its borrow ends with the lookup, so cut it again.
    psl::domain(b)
        .map(|d| d.suffix().as_bytes().len())
        .and_then(|n| b.get(b.len().checked_sub(n)?..))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(domain(b"www.bbc.co.uk"), b"bbc.co.uk");
        assert_eq!(tld(b"www.bbc.co.uk"), b"co.uk");
        assert_eq!(domain(b"suricata.io"), b"suricata.io");
        assert_eq!(tld(b"docs.suricata.io"), b"io");
        // A bare public suffix has no registrable domain.
        assert_eq!(domain(b"co.uk"), b"");
        assert_eq!(tld(b"co.uk"), b"");
        assert_eq!(domain(b""), b"");
    }
}

//! Request-target splitting and Suricata/libhtp URI normalisation (the `http.uri` buffer).
//!
//! The path is normalised the way libhtp's IDS personality (Suricata's default) does:
//! `%XX` and `%uXXXX` decoded (code points above 0xFF map best-fit: full-width ASCII to
//! ASCII, anything else to `?`), `\` taken as `/`, runs of `/` compressed, then `.` and `..`
//! segments removed (RFC 3986 §5.2.4). Invalid `%` sequences stay as sent. The query and
//! fragment follow the path `%XX`-decoded only (libhtp's URL-encoded decoder; `+` stays, as
//! Suricata's `query-plusspace-decode` default leaves it). `http.uri.raw` keeps the target
//! exactly as sent.

/// The parts of a request target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct UriParts<'a> {
    /// `host[:port]` of an absolute-form (proxy) or authority-form (CONNECT) target.
    pub authority: Option<&'a [u8]>,
    pub path: &'a [u8],
    pub query: Option<&'a [u8]>,
    pub fragment: Option<&'a [u8]>,
}

/// Splits a request target. `connect` selects authority-form (`host:port`).
pub(crate) fn split(raw: &[u8], connect: bool) -> UriParts<'_> {
    if connect && !raw.starts_with(b"/") {
        return UriParts {
            authority: Some(raw),
            ..Default::default()
        };
    }
    let mut rest = raw;
    let mut authority = None;
    if let Some(p) = memchr::memmem::find(raw, b"://") {
        let scheme = &raw[..p];
        if !scheme.is_empty()
            && scheme
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        {
            let after = &raw[p + 3..];
            let end = after
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(after.len());
            let auth = &after[..end];
            // Drop userinfo, as libhtp does for the hostname.
            let host = match memchr::memrchr(b'@', auth) {
                Some(at) => &auth[at + 1..],
                None => auth,
            };
            authority = Some(host);
            rest = &after[end..];
        }
    }
    let (rest, fragment) = match memchr::memchr(b'#', rest) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (path, query) = match memchr::memchr(b'?', rest) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    UriParts {
        authority,
        path,
        query,
        fragment,
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Best-fit mapping of a `%u` code point to one byte (libhtp maps, it does not drop).
fn best_fit(cp: u16) -> u8 {
    match cp {
        0..=0xff => cp as u8,
        0xff01..=0xff5e => (cp - 0xfee0) as u8,
        _ => b'?',
    }
}

/// Percent- and %u-decodes, converts `\` to `/` and compresses `/` runs.
fn decode_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        let (byte, used) = if b == b'%' {
            let u = path
                .get(i + 1)
                .is_some_and(|c| c.eq_ignore_ascii_case(&b'u'));
            let digits = |from: usize, n: usize| -> Option<u32> {
                let s = path.get(from..from + n)?;
                s.iter()
                    .try_fold(0u32, |acc, &c| Some(acc * 16 + u32::from(hex(c)?)))
            };
            if u {
                match digits(i + 2, 4) {
                    Some(cp) => (best_fit(cp as u16), 6),
                    None => (b'%', 1),
                }
            } else {
                match digits(i + 1, 2) {
                    Some(v) => (v as u8, 3),
                    None => (b'%', 1),
                }
            }
        } else {
            (b, 1)
        };
        i += used;
        let byte = if byte == b'\\' { b'/' } else { byte };
        if byte == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(byte);
    }
    out
}

/// RFC 3986 §5.2.4 on bytes.
fn remove_dot_segments(mut input: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    while !input.is_empty() {
        if let Some(r) = input
            .strip_prefix(b"../")
            .or_else(|| input.strip_prefix(b"./"))
        {
            input = r;
        } else if input.starts_with(b"/./") {
            input = &input[2..];
        } else if input == b"/." {
            input = b"/";
        } else if input.starts_with(b"/../") || input == b"/.." {
            input = if input.len() == 3 { b"/" } else { &input[3..] };
            let cut = memchr::memrchr(b'/', &out).unwrap_or(0);
            out.truncate(cut);
        } else if input == b"." || input == b".." {
            input = b"";
        } else {
            let start = usize::from(input[0] == b'/');
            let end = input[start..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(input.len(), |p| p + start);
            out.extend_from_slice(&input[..end]);
            input = &input[end..];
        }
    }
    out
}

/// The normalised path alone.
pub fn normalize_path(path: &[u8]) -> Vec<u8> {
    remove_dot_segments(&decode_path(path))
}

/// The `http.uri` bytes for a request target.
pub(crate) fn normalized(raw: &[u8], connect: bool) -> Vec<u8> {
    let parts = split(raw, connect);
    if parts.authority.is_some() && connect && parts.path.is_empty() {
        return raw.to_vec();
    }
    let mut out = normalize_path(parts.path);
    if out.is_empty() && parts.authority.is_some() {
        out.push(b'/');
    }
    if let Some(q) = parts.query {
        out.push(b'?');
        percent_decode_into(q, &mut out);
    }
    if let Some(f) = parts.fragment {
        out.push(b'#');
        percent_decode_into(f, &mut out);
    }
    out
}

/// `%XX` decoded; anything else (an invalid `%`, `+`, `%u`) as sent.
fn percent_decode_into(s: &[u8], out: &mut Vec<u8>) {
    hex_unescape_into(s, b'%', out);
}

/// `<esc>XX` (two hex digits) becomes the byte; an `esc` without them stays as it is. URIs
/// escape with `%`, quoted-printable mail bodies with `=`.
pub(crate) fn hex_unescape_into(s: &[u8], esc: u8, out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == esc {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
}

/// `http.host`: lowercase, port and trailing dots removed. A merged multi-value Host
/// (`a, b`) is only lowercased, as Suricata documents.
pub(crate) fn normalize_host(h: &[u8]) -> Vec<u8> {
    let mut v = h.to_ascii_lowercase();
    if memchr::memmem::find(&v, b", ").is_some() {
        return v;
    }
    if v.first() == Some(&b'[') {
        if let Some(close) = memchr::memchr(b']', &v) {
            v.truncate(close + 1);
        }
    } else if let Some(colon) = memchr::memrchr(b':', &v) {
        if v[colon + 1..].iter().all(u8::is_ascii_digit) {
            v.truncate(colon);
        }
    }
    while v.last() == Some(&b'.') {
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let table: &[(&[u8], &[u8])] = &[
            (b"/index.html", b"/index.html"),
            (b"/a/./b", b"/a/b"),
            (b"/a/../b", b"/b"),
            (b"/../../etc/passwd", b"/etc/passwd"),
            (b"/a/b/..", b"/a/"),
            (b"//a///b", b"/a/b"),
            (b"/a%2fb", b"/a/b"),
            (b"/a/%2e%2e/b", b"/b"),
            (b"/a%2e%2e/b", b"/a../b"),
            (b"/%41%u0042%uFF0E%u2215", b"/AB.?"),
            (b"/a\\b\\..\\c", b"/a/c"),
            (b"/%zz%4", b"/%zz%4"),
            (b"/a b", b"/a b"),
            (b"/p/../q?x=%41/../#frag", b"/q?x=A/../#frag"),
            (b"/s?q=a+b%2Bc%zz%u0041", b"/s?q=a+b+c%zz%u0041"),
            (b"http://Example.COM:8080/p/./q?x", b"/p/q?x"),
            (b"http://example.com", b"/"),
        ];
        for (raw, want) in table {
            assert_eq!(
                normalized(raw, false),
                *want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert_eq!(normalized(b"example.com:443", true), b"example.com:443");
    }

    #[test]
    fn hosts() {
        assert_eq!(normalize_host(b"WWW.Example.com:8080"), b"www.example.com");
        assert_eq!(normalize_host(b"[::1]:80"), b"[::1]");
        assert_eq!(normalize_host(b"example.com."), b"example.com");
        assert_eq!(normalize_host(b"ABC.com, efg.net"), b"abc.com, efg.net");
        let p = split(b"http://user@Host:1/x?y#z", false);
        assert_eq!(
            (p.authority, p.path, p.query, p.fragment),
            (
                Some(&b"Host:1"[..]),
                &b"/x"[..],
                Some(&b"y"[..]),
                Some(&b"z"[..])
            )
        );
    }
}

//! `pcre:[!]"/regex/flags"`: PCRE options plus Snort/Suricata modifier letters, the HTTP
//! ones mapped to buffers (U uri, I raw uri, P request body, Q response body, H header,
//! D raw header, M method, C cookie, K raw cookie, S status code, Y status message,
//! V user agent, W host, Z raw host, B raw bytes).

use super::KwError;
use crate::ir::{AppBuffer, Buffer, Pcre};

/// Parses a pcre value; `sticky` is the buffer in effect when no modifier letter names one.
pub fn parse_pcre(value: &str, sticky: Buffer) -> Result<Pcre, KwError> {
    let t = value;
    let (negated, rest) = match t.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, t),
    };
    let q0 = t.len() - rest.len();
    // Suricata strips optional quotes before reading `/regex/flags`, so `pcre:/a/i;` is
    // the same rule as `pcre:"/a/i";` there.
    let (body, body_at) = if let Some(inner) = rest.strip_prefix('"') {
        let close = closing_quote(inner).ok_or_else(|| {
            KwError::code(crate::diag::Code::UnterminatedString, "unterminated string")
                .at(q0, q0 + 1)
        })?;
        if !inner[close + 1..].trim().is_empty() {
            return Err(KwError::value("unexpected text after the closing quote")
                .at(q0 + 2 + close, t.len()));
        }
        (&inner[..close], q0 + 1)
    } else if rest.starts_with('/') {
        (rest.trim_end(), q0)
    } else {
        return Err(KwError::value("pcre must be a quoted string")
            .at(q0, q0 + 1)
            .help("write pcre:\"/regex/flags\";"));
    };
    let Some(after_open) = body.strip_prefix('/') else {
        return Err(KwError::value("the regex must be written between slashes")
            .at(body_at, body_at + 1)
            .help("write pcre:\"/regex/flags\";"));
    };
    let Some(last) = after_open.rfind('/') else {
        return Err(
            KwError::value("the regex has no closing `/`").at(body_at, body_at + 1 + body.len())
        );
    };
    let pattern = &after_open[..last];
    let flags = &after_open[last + 1..];
    let flags_at = body_at + 2 + last;
    let mut p = Pcre {
        pattern: pattern.to_string(),
        caseless: false,
        dotall: false,
        multiline: false,
        extended: false,
        anchored: false,
        dollar_endonly: false,
        ungreedy: false,
        relative: false,
        negated,
        buffer: sticky,
    };
    let mut named: Option<(char, Buffer)> = None;
    for (k, f) in flags.char_indices() {
        let at = flags_at + k;
        let buf = match f {
            'i' => { p.caseless = true; None }
            's' => { p.dotall = true; None }
            'm' => { p.multiline = true; None }
            'x' => { p.extended = true; None }
            'A' => { p.anchored = true; None }
            'E' => { p.dollar_endonly = true; None }
            'G' => { p.ungreedy = true; None }
            'R' => { p.relative = true; None }
            'U' => Some(Buffer::App(AppBuffer::HttpUri)),
            'I' => Some(Buffer::App(AppBuffer::HttpRawUri)),
            'P' => Some(Buffer::App(AppBuffer::HttpClientBody)),
            'Q' => Some(Buffer::App(AppBuffer::HttpServerBody)),
            'H' => Some(Buffer::App(AppBuffer::HttpHeader)),
            'D' => Some(Buffer::App(AppBuffer::HttpRawHeader)),
            'M' => Some(Buffer::App(AppBuffer::HttpMethod)),
            'C' => Some(Buffer::App(AppBuffer::HttpCookie)),
            'K' => Some(Buffer::App(AppBuffer::HttpRawCookie)),
            'S' => Some(Buffer::App(AppBuffer::HttpStatCode)),
            'Y' => Some(Buffer::App(AppBuffer::HttpStatMsg)),
            'V' => Some(Buffer::App(AppBuffer::HttpUserAgent)),
            'W' => Some(Buffer::App(AppBuffer::HttpHost)),
            'Z' => Some(Buffer::App(AppBuffer::HttpRawHost)),
            'B' => Some(Buffer::Raw),
            'O' => {
                return Err(KwError::code(crate::diag::Code::UnsupportedKeyword, "pcre flag `O` (no match limit) is not supported")
                    .at(at, at + 1)
                    .help("verdict always bounds regex matching; remove the flag"))
            }
            _ => {
                return Err(KwError::value(format!("unknown pcre flag `{f}`"))
                    .at(at, at + f.len_utf8())
                    .help("flags are i s m x A E G R and the buffer letters U I P Q H D M C K S Y V W Z B"))
            }
        };
        if let Some(b) = buf {
            if let Some((prev, pb)) = named {
                if pb != b {
                    return Err(KwError::code(
                        crate::diag::Code::Conflict,
                        format!("pcre flags `{prev}` and `{f}` name different buffers"),
                    )
                    .at(at, at + 1));
                }
            }
            named = Some((f, b));
            p.buffer = b;
        }
    }
    if p.pattern.is_empty() {
        return Err(KwError::value("empty regex").at(q0, t.len()));
    }
    Ok(p)
}

fn closing_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The flag letters of `p` in canonical order (buffer letters excluded).
pub fn pcre_flags(p: &Pcre) -> String {
    let mut flags = String::new();
    for (on, c) in [
        (p.caseless, 'i'),
        (p.dotall, 's'),
        (p.multiline, 'm'),
        (p.extended, 'x'),
        (p.anchored, 'A'),
        (p.dollar_endonly, 'E'),
        (p.ungreedy, 'G'),
        (p.relative, 'R'),
    ] {
        if on {
            flags.push(c);
        }
    }
    flags
}

/// Canonical text (buffer letters are not written: the caller emits a sticky buffer).
pub fn pcre_text(p: &Pcre) -> String {
    let flags = pcre_flags(p);
    format!(
        "{}\"/{}/{}\"",
        if p.negated { "!" } else { "" },
        p.pattern,
        flags
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_buffers() {
        let p = parse_pcre(r#""/a\/b;c/smiUR""#, Buffer::Payload).unwrap();
        assert_eq!(p.pattern, r"a\/b;c");
        assert!(p.dotall && p.multiline && p.caseless && p.relative);
        assert_eq!(p.buffer, Buffer::App(AppBuffer::HttpUri));
        let n = parse_pcre(r#"!"/x/""#, Buffer::FileData).unwrap();
        assert!(n.negated);
        assert_eq!(n.buffer, Buffer::FileData);
        assert_eq!(parse_pcre(&pcre_text(&p), p.buffer).unwrap(), p);
        // Unquoted, as Suricata also reads it.
        let u = parse_pcre(r"/\.\/a/I", Buffer::Payload).unwrap();
        assert_eq!(u, parse_pcre(r#""/\.\/a/I""#, Buffer::Payload).unwrap());
        assert_eq!(u.buffer, Buffer::App(AppBuffer::HttpRawUri));
        for bad in [
            r#""/x/q""#,
            r#""x""#,
            r#""/x"#,
            "x/",
            "/x",
            "/x/q",
            r#""/x/UH""#,
            r#""//""#,
            r#""/x/O""#,
        ] {
            assert!(parse_pcre(bad, Buffer::Payload).is_err(), "{bad}");
        }
    }
}

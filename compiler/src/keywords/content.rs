//! `content`, `replace` and quoted strings: text with `|hex|` blocks and `\` escapes,
//! optional `!`, and Snort 3's trailing `,modifier value` list.

use super::KwError;

/// A decoded content value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentValue<'a> {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `!"..."`
    pub negated: bool,
    /// Snort 3 inline modifiers after the string (`"abc",nocase,depth 4`), with their
    /// offsets relative to the value start.
    pub inline: Vec<(&'a str, Option<&'a str>, usize)>,
}

/// Characters that may follow a backslash in a content or string.
const ESCAPABLE: &[u8] = b"\";\\:|";

/// Decodes `[!]"text|hex|text"[,mod[ value]]*`.
pub fn parse_content(value: &str) -> Result<ContentValue<'_>, KwError> {
    let b = value.as_bytes();
    let mut i = 0;
    let mut negated = false;
    if b.first() == Some(&b'!') {
        negated = true;
        i = 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    if b.get(i) != Some(&b'"') {
        return Err(KwError::value("content must be a quoted string")
            .at(i, (i + 1).min(b.len()))
            .help("write content:\"abc|0d 0a|\";"));
    }
    let open = i;
    i += 1;
    let mut out = Vec::new();
    let mut hex_start: Option<usize> = None;
    let mut nibble: Option<(u8, usize)> = None;
    loop {
        let Some(&c) = b.get(i) else {
            if let Some(h) = hex_start {
                return Err(KwError::code(
                    crate::diag::Code::UnterminatedHex,
                    "unterminated hex block",
                )
                .at(h, h + 1)
                .help("close the hex block with `|`"));
            }
            return Err(KwError::code(
                crate::diag::Code::UnterminatedString,
                "unterminated string",
            )
            .at(open, open + 1));
        };
        if let Some(h) = hex_start {
            match c {
                b'|' => {
                    if let Some((_, at)) = nibble {
                        return Err(KwError::code(
                            crate::diag::Code::BadHex,
                            "odd number of hex digits",
                        )
                        .at(at, at + 1)
                        .help("each byte is two hex digits, e.g. |0d 0a|"));
                    }
                    hex_start = None;
                    let _ = h;
                }
                b' ' | b'\t' => {
                    if let Some((_, at)) = nibble {
                        return Err(KwError::code(
                            crate::diag::Code::BadHex,
                            "hex byte split by a space",
                        )
                        .at(at, at + 1)
                        .help("each byte is two hex digits, e.g. |0d 0a|"));
                    }
                }
                b'"' => {
                    return Err(KwError::code(
                        crate::diag::Code::UnterminatedHex,
                        "unterminated hex block",
                    )
                    .at(h, h + 1)
                    .help("close the hex block with `|` before the closing quote"));
                }
                _ => {
                    let Some(d) = (c as char).to_digit(16) else {
                        let ch = value[i..].chars().next().unwrap_or('?');
                        return Err(KwError::code(
                            crate::diag::Code::BadHex,
                            format!("`{ch}` is not a hex digit"),
                        )
                        .at(i, i + ch.len_utf8())
                        .help("hex blocks hold pairs of 0-9a-f digits, e.g. |0d 0a|"));
                    };
                    match nibble.take() {
                        None => nibble = Some((d as u8, i)),
                        Some((hi, _)) => out.push(hi << 4 | d as u8),
                    }
                }
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => break,
            b'|' => hex_start = Some(i),
            b'\\' => {
                let Some(&n) = b.get(i + 1) else {
                    return Err(KwError::code(
                        crate::diag::Code::UnterminatedString,
                        "unterminated string",
                    )
                    .at(open, open + 1));
                };
                if !ESCAPABLE.contains(&n) {
                    let ch = value[i + 1..].chars().next().unwrap_or('?');
                    return Err(KwError::code(crate::diag::Code::BadEscape, format!("unknown escape `\\{ch}`"))
                        .at(i, i + 1 + ch.len_utf8())
                        .help("only \\\" \\; \\\\ \\: and \\| are escapes; write other bytes as hex, e.g. |5c|"));
                }
                out.push(n);
                i += 1;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    i += 1; // closing quote
    let mut inline = Vec::new();
    let rest = &value[i..];
    let rest_t = rest.trim_start();
    if !rest_t.is_empty() {
        let Some(mods) = rest_t.strip_prefix(',') else {
            let at = i + (rest.len() - rest_t.len());
            return Err(KwError::value("unexpected text after the closing quote")
                .at(at, value.len())
                .help("is a `;` missing after the string? (a quote inside the string is written `\\\"`)"));
        };
        let mut off = value.len() - mods.len();
        for part in mods.split(',') {
            let t = part.trim();
            let lead = part.len() - part.trim_start().len();
            let (k, v) = match t.split_once(char::is_whitespace) {
                Some((k, v)) => (k, Some(v.trim())),
                None => (t, None),
            };
            inline.push((k, v, off + lead));
            off += part.len() + 1;
        }
    }
    Ok(ContentValue {
        bytes: out,
        negated,
        inline,
    })
}

/// Decodes a quoted string with `\` escapes (msg, reference text); unquoted text is taken
/// as is.
pub fn parse_string(value: &str) -> Result<String, KwError> {
    let t = value.trim();
    let Some(inner) = t.strip_prefix('"') else {
        return Ok(t.to_string());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n)) => out.push(n),
                None => {
                    return Err(KwError::code(
                        crate::diag::Code::UnterminatedString,
                        "unterminated string",
                    )
                    .at(0, 1))
                }
            },
            '"' => {
                let (j, _) = chars.next().unwrap_or((inner.len(), ' '));
                if !inner[j..].trim().is_empty() {
                    return Err(KwError::value("unexpected text after the closing quote")
                        .at(j + 1, t.len())
                        .help("is a `;` missing after the string? (a quote inside the string is written `\\\"`)"));
                }
                return Ok(out);
            }
            _ => out.push(c),
        }
    }
    Err(
        KwError::code(crate::diag::Code::UnterminatedString, "unterminated string")
            .at(0, 1)
            .help("close the string with `\"`"),
    )
}

/// Writes bytes as content text: printable ASCII as is, everything else (and the
/// characters that would need escaping) as `|hex|` blocks.
pub fn content_text(bytes: &[u8]) -> String {
    format!("\"{}\"", hex_escape(bytes, b":"))
}

/// Printable ASCII as is, the rest, `"|\\;` and the bytes in `also` as `|hex|` runs (unquoted).
pub fn hex_escape(bytes: &[u8], also: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    let mut in_hex = false;
    for &b in bytes {
        let plain = (0x20..0x7f).contains(&b)
            && !matches!(b, b'"' | b';' | b'\\' | b'|')
            && !also.contains(&b);
        if plain {
            if in_hex {
                s.push('|');
                in_hex = false;
            }
            s.push(b as char);
        } else {
            if in_hex {
                s.push(' ');
            } else {
                s.push('|');
                in_hex = true;
            }
            s.push_str(&format!("{b:02X}"));
        }
    }
    if in_hex {
        s.push('|');
    }
    s
}

/// Quotes a string, escaping `"`, `;` and `\`.
pub fn string_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | ';' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_text_hex_and_escapes() {
        let c = parse_content(r#"!"GET|20 2f|a\"b\;c""#).unwrap();
        assert!(c.negated);
        assert_eq!(c.bytes, b"GET /a\"b;c");
        assert_eq!(
            parse_content(&content_text(&c.bytes)).unwrap().bytes,
            c.bytes
        );
        let c = parse_content(r#""abc",nocase, depth 5"#).unwrap();
        assert_eq!(
            c.inline
                .iter()
                .map(|(k, v, _)| (*k, *v))
                .collect::<Vec<_>>(),
            vec![("nocase", None), ("depth", Some("5"))]
        );
        for bad in [
            r#""a|0g|""#,
            r#""a|0|""#,
            r#""a|00"#,
            r#""abc"#,
            "abc",
            r#""a\x""#,
            r#""a" b"#,
            r#""|0 0|""#,
        ] {
            assert!(parse_content(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_string(r#""a \"q\" \; b""#).unwrap(), "a \"q\" ; b");
        assert_eq!(parse_string(&string_text("x;\"y\\")).unwrap(), "x;\"y\\");
    }
}

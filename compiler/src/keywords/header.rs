//! Header keywords: `flags`, `fragbits`, `ip_proto`, `ipopts`, and the plain numeric ones
//! (dsize, ttl, tos, id, seq, ack, window, itype, icode, icmp_id, icmp_seq, fragoffset).

use super::numeric::{cmp_text, parse_cmp};
use super::KwError;
use crate::ir::{FlagMode, HeaderTest, NumCmp, TcpFlags};

/// Builds a header test from a comparison.
pub type MakeTest = fn(NumCmp) -> HeaderTest;

/// The numeric header keywords: name, IR constructor and the largest value.
pub fn numeric(name: &str) -> Option<(MakeTest, u64)> {
    Some(match name {
        "dsize" => (HeaderTest::Dsize as MakeTest, 65535),
        "ttl" => (HeaderTest::Ttl, 255),
        "tos" => (HeaderTest::Tos, 255),
        "id" => (HeaderTest::IpId, 65535),
        "seq" => (HeaderTest::Seq, u32::MAX as u64),
        "ack" => (HeaderTest::Ack, u32::MAX as u64),
        "window" => (HeaderTest::Window, 65535),
        "itype" => (HeaderTest::Itype, 255),
        "icode" => (HeaderTest::Icode, 255),
        "icmp_id" => (HeaderTest::IcmpId, 65535),
        "icmp_seq" => (HeaderTest::IcmpSeq, 65535),
        "fragoffset" => (HeaderTest::FragOffset, 8191),
        _ => return None,
    })
}

const TCP_FLAGS: &[(char, u8)] = &[
    ('F', 1),
    ('S', 2),
    ('R', 4),
    ('P', 8),
    ('A', 16),
    ('U', 32),
    ('E', 64),
    ('C', 128),
    ('2', 64),
    ('1', 128),
];

fn mode_of(c: char) -> Option<FlagMode> {
    match c {
        '+' => Some(FlagMode::All),
        '*' => Some(FlagMode::Any),
        '!' => Some(FlagMode::Not),
        _ => None,
    }
}

fn letters(text: &str, table: &[(char, u8)], at: usize, what: &str) -> Result<u8, KwError> {
    let mut bits = 0;
    for (i, c) in text.char_indices() {
        let c2 = c.to_ascii_uppercase();
        if c2 == '0' {
            continue;
        }
        let Some(&(_, b)) = table.iter().find(|(l, _)| *l == c2) else {
            let valid: String = table.iter().map(|(l, _)| *l).collect();
            return Err(KwError::value(format!("`{c}` is not a {what} letter"))
                .at(at + i, at + i + c.len_utf8())
                .help(format!("valid letters: {valid} (and 0 for none)")));
        };
        bits |= b;
    }
    Ok(bits)
}

/// Splits an optional `+*!` modifier written before or after the letters.
fn with_mode(text: &str) -> (FlagMode, &str, usize) {
    let t = text.trim();
    if let Some(m) = t.chars().next().and_then(mode_of) {
        return (m, &t[1..], 1);
    }
    if let Some(m) = t.chars().last().and_then(mode_of) {
        return (m, &t[..t.len() - 1], 0);
    }
    (FlagMode::Exact, t, 0)
}

/// `flags:[+*!]FSRPAUCE120[,mask]`
pub fn parse_flags(value: &str) -> Result<TcpFlags, KwError> {
    let (main, mask) = match value.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (value, None),
    };
    let (mode, body, skip) = with_mode(main);
    if body.is_empty() {
        return Err(KwError::value(
            "flags needs at least one flag letter (or 0 for none)",
        ));
    }
    let flags = letters(body, TCP_FLAGS, skip, "TCP flag")?;
    let ignore = match mask {
        Some(m) => letters(m.trim(), TCP_FLAGS, main.len() + 1, "TCP flag")?,
        None => 0,
    };
    Ok(TcpFlags {
        flags,
        mode,
        ignore,
    })
}

/// Canonical `flags` value.
pub fn flags_text(f: &TcpFlags) -> String {
    let mut s = String::new();
    s.push_str(mode_text(f.mode));
    s.push_str(&bits_text(f.flags, &TCP_FLAGS[..8]));
    if f.ignore != 0 {
        s.push(',');
        s.push_str(&bits_text(f.ignore, &TCP_FLAGS[..8]));
    }
    s
}

fn mode_text(m: FlagMode) -> &'static str {
    match m {
        FlagMode::Exact => "",
        FlagMode::All => "+",
        FlagMode::Any => "*",
        FlagMode::Not => "!",
    }
}

fn bits_text(bits: u8, table: &[(char, u8)]) -> String {
    if bits == 0 {
        return "0".into();
    }
    table
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(c, _)| *c)
        .collect()
}

const FRAG_BITS: &[(char, u8)] = &[('M', 1), ('D', 2), ('R', 4)];

/// `fragbits:[+*!]MDR`
pub fn parse_fragbits(value: &str) -> Result<(u8, FlagMode), KwError> {
    let (mode, body, skip) = with_mode(value);
    if body.is_empty() {
        return Err(KwError::value("fragbits needs letters M, D or R"));
    }
    Ok((letters(body, FRAG_BITS, skip, "fragbits")?, mode))
}

/// Canonical `fragbits` value.
pub fn fragbits_text(bits: u8, mode: FlagMode) -> String {
    format!("{}{}", mode_text(mode), bits_text(bits, FRAG_BITS))
}

const IP_PROTOS: &[(&str, u64)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("ipv6", 41),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("pim", 103),
    ("sctp", 132),
];

/// `ip_proto:[!<>]N|name`
pub fn parse_ip_proto(value: &str) -> Result<NumCmp, KwError> {
    let t = value.trim();
    let op_len = t.len() - t.trim_start_matches(['!', '<', '>', '=']).len();
    let (op, name) = t.split_at(op_len);
    if let Some(&(_, n)) = IP_PROTOS
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(name.trim()))
    {
        return parse_cmp(&format!("{op}{n}"), 255, "ip_proto");
    }
    parse_cmp(t, 255, "ip_proto").map_err(|e| {
        e.help("use a protocol number 0-255 or a name such as tcp, udp, icmp, igmp, gre, esp")
    })
}

const IP_OPTS: &[&str] = &[
    "rr", "eol", "nop", "ts", "sec", "esec", "lsrr", "lsre", "ssrr", "satid", "any",
];

/// `ipopts:rr|eol|nop|ts|sec|esec|lsrr|lsre|ssrr|satid|any`
pub fn parse_ipopts(value: &str) -> Result<String, KwError> {
    let t = value.trim().to_ascii_lowercase();
    if IP_OPTS.contains(&t.as_str()) {
        Ok(t)
    } else {
        Err(
            KwError::value(format!("unknown IP option `{}`", value.trim()))
                .help(format!("one of: {}", IP_OPTS.join(", "))),
        )
    }
}

/// Canonical text of a numeric header test value.
pub fn numeric_text(c: NumCmp) -> String {
    cmp_text(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_friends() {
        let f = parse_flags("SA+,12").unwrap();
        assert_eq!((f.flags, f.mode, f.ignore), (18, FlagMode::All, 192));
        assert_eq!(parse_flags(&flags_text(&f)).unwrap(), f);
        assert_eq!(parse_flags("0").unwrap().flags, 0);
        assert!(parse_flags("SX").is_err() && parse_flags("").is_err());
        assert_eq!(parse_fragbits("M+").unwrap(), (1, FlagMode::All));
        assert_eq!(parse_fragbits("!D").unwrap(), (2, FlagMode::Not));
        assert_eq!(parse_ip_proto("!igmp").unwrap(), NumCmp::Ne(2));
        assert_eq!(parse_ip_proto("<6").unwrap(), NumCmp::Lt(6));
        assert!(parse_ip_proto("bogus").is_err());
        assert!(parse_ipopts("lsrr").is_ok() && parse_ipopts("xx").is_err());
    }
}

//! File keywords (Suricata 7/8) on the files an HTTP transaction carries: the response
//! body, and the request body (each multipart/form-data part with a filename, else the
//! whole body named after the URI path).
//!
//! | keyword | lowers to |
//! |---|---|
//! | `file.data`, `file.name`, `file.magic` | sticky buffers ([`super::buffers`]), one instance per file |
//! | `filename:"x"` | `file.name; content:"x"; nocase;` (Suricata 7's legacy form) |
//! | `fileext:"pdf"` | `file.name; content:".pdf"; endswith; nocase;` |
//! | `filemagic:"PDF"` | `file.magic; content:"PDF"; nocase;` |
//! | `filemd5:[!]list`, `filesha1:…`, `filesha256:…` | [`TxPred::FileHash`]: the list file, one hex hash a line |
//! | `filesize:[to_client,|to_server,]N` | [`TxPred::FileSize`]: Suricata's integer syntax on a u64 |
//!
//! The predicates (`filesize`, the hash lists) of one rule hold for one and the same file, as
//! Suricata inspects its file-match list per file; the sticky buffers are inspected each on
//! its own, so two selections may match two files (Suricata's `file-match-crossed`).
//! A hash list path is relative to the rule file's directory; the engine loads it at start
//! and reports a bad line with file and line number.

use super::txpred::{TxKeyword, TxPred};
use super::uint::{parse_uint, uint_text, UintCmp};
use super::KwError;
use serde::{Deserialize, Serialize};

/// The digest a hash list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashAlgo {
    /// `filemd5`: 16 bytes.
    Md5,
    /// `filesha1`: 20 bytes.
    Sha1,
    /// `filesha256`: 32 bytes.
    Sha256,
}

impl HashAlgo {
    /// Digest length in bytes (a list line has twice as many hex digits).
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
        }
    }

    /// The keyword that names this digest.
    pub fn keyword(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "filemd5",
            HashAlgo::Sha1 => "filesha1",
            HashAlgo::Sha256 => "filesha256",
        }
    }
}

/// The file predicate keywords.
pub const KEYWORDS: &[TxKeyword] = &[
    TxKeyword {
        name: "filesize",
        parse: parse_filesize,
    },
    TxKeyword {
        name: "filemd5",
        parse: |v| parse_hash(v, HashAlgo::Md5),
    },
    TxKeyword {
        name: "filesha1",
        parse: |v| parse_hash(v, HashAlgo::Sha1),
    },
    TxKeyword {
        name: "filesha256",
        parse: |v| parse_hash(v, HashAlgo::Sha256),
    },
];

/// `filesize:[to_client,|to_server,]CMP`: the side prefix names the direction's files in a
/// transactional (`=>`) rule; without it the packet's direction decides.
pub fn parse_filesize(value: Option<&str>) -> Result<TxPred, KwError> {
    let v = value.ok_or_else(|| {
        KwError::value("filesize needs a value").help("e.g. filesize:>100000; or filesize:100-200;")
    })?;
    let (dir, rest, at) = match v.split_once(',') {
        Some((d, rest)) => {
            let dir = match d.trim() {
                "to_server" | "toserver" => true,
                "to_client" | "toclient" => false,
                other => {
                    return Err(KwError::value(format!("`{other}` is not a direction"))
                        .at(0, d.len())
                        .help("write to_client or to_server before the comparison"))
                }
            };
            (Some(dir), rest, d.len() + 1)
        }
        None => (None, v, 0),
    };
    let cmp = parse_uint(rest, u64::MAX, "filesize", None).map_err(|e| match e.at {
        Some((s, t)) => KwError {
            at: Some((s + at, t + at)),
            ..e
        },
        None => e,
    })?;
    Ok(TxPred::FileSize {
        cmp,
        to_server: dir,
    })
}

/// `filemd5:[!]FILE` (and the sha forms): the file's digest is in (`!`: not in) the list.
pub fn parse_hash(value: Option<&str>, algo: HashAlgo) -> Result<TxPred, KwError> {
    let kw = algo.keyword();
    let v = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            KwError::value(format!("{kw} needs a list file"))
                .help(format!("e.g. {kw}:bad-files.list; (one hex hash per line)"))
        })?;
    let (negated, path) = match v.strip_prefix('!') {
        Some(p) => (true, p.trim()),
        None => (false, v),
    };
    let path = path
        .strip_prefix('"')
        .and_then(|p| p.strip_suffix('"'))
        .unwrap_or(path);
    if path.is_empty() {
        return Err(KwError::value(format!("{kw} needs a list file after `!`")));
    }
    Ok(TxPred::FileHash {
        algo,
        negated,
        path: path.to_string(),
    })
}

/// Resolves a hash list path against the directory of the rule file that names it, as
/// Suricata 7 does; absolute paths are kept.
pub fn resolve_list(path: &str, rule_file: &str) -> String {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        return path.to_string();
    }
    match std::path::Path::new(rule_file).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(p).to_string_lossy().into_owned(),
        _ => path.to_string(),
    }
}

/// Canonical value of `filesize`.
pub fn filesize_text(cmp: UintCmp, to_server: Option<bool>) -> String {
    match to_server {
        Some(true) => format!("to_server,{}", uint_text(cmp)),
        Some(false) => format!("to_client,{}", uint_text(cmp)),
        None => uint_text(cmp),
    }
}

/// Canonical value of a hash keyword.
pub fn hash_text(negated: bool, path: &str) -> String {
    format!("{}{path}", if negated { "!" } else { "" })
}

/// One line of a hash list: `Ok(None)` for blank lines and `#` comments, else the digest.
/// What follows the hash after a blank or comma (a file name, a note) is ignored.
pub fn parse_hash_line(line: &str, algo: HashAlgo) -> Result<Option<Vec<u8>>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let hex = t.split([' ', '\t', ',']).next().unwrap_or(t);
    let want = algo.digest_len() * 2;
    if hex.len() != want {
        return Err(format!(
            "`{hex}` is not a {} hash ({want} hex digits expected, got {})",
            algo.keyword(),
            hex.len()
        ));
    }
    let mut out = Vec::with_capacity(algo.digest_len());
    for pair in hex.as_bytes().chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|_| format!("`{hex}` is not hex"))?;
        out.push(u8::from_str_radix(s, 16).map_err(|_| format!("`{hex}` is not hex"))?);
    }
    Ok(Some(out))
}

/// The content a legacy string keyword (`filename`, `fileext`, `filemagic`) means:
/// (pattern, ends_with). Content escapes (`|2e|`) are allowed; the match is case-insensitive.
pub fn legacy_pattern(keyword: &str, bytes: Vec<u8>) -> (Vec<u8>, bool) {
    if keyword == "fileext" {
        let mut p = b".".to_vec();
        p.extend(bytes);
        (p, true)
    } else {
        (bytes, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::txpred::tx_text;

    #[test]
    fn parse_table() {
        let ok = [
            (
                "filesize",
                ">100",
                TxPred::FileSize {
                    cmp: UintCmp::Gt(100),
                    to_server: None,
                },
            ),
            (
                "filesize",
                "to_client, <100",
                TxPred::FileSize {
                    cmp: UintCmp::Lt(100),
                    to_server: Some(false),
                },
            ),
            (
                "filesize",
                "100-200",
                TxPred::FileSize {
                    cmp: UintCmp::Range(100, 200),
                    to_server: None,
                },
            ),
            (
                "filemd5",
                "md5list",
                TxPred::FileHash {
                    algo: HashAlgo::Md5,
                    negated: false,
                    path: "md5list".into(),
                },
            ),
            (
                "filesha256",
                "!good.sha256",
                TxPred::FileHash {
                    algo: HashAlgo::Sha256,
                    negated: true,
                    path: "good.sha256".into(),
                },
            ),
        ];
        for (kw, v, want) in ok {
            let k = KEYWORDS.iter().find(|k| k.name == kw).unwrap();
            let got = (k.parse)(Some(v)).unwrap();
            assert_eq!(got, want, "{kw}:{v}");
            let (k2, v2) = tx_text(&got);
            assert_eq!(k2, kw);
            assert_eq!((k.parse)(Some(&v2)).unwrap(), got, "round trip {v2}");
        }
        for (kw, bad) in [
            ("filesize", "big"),
            ("filesize", "sideways,10"),
            ("filesize", ""),
            ("filemd5", ""),
            ("filemd5", "!"),
        ] {
            let k = KEYWORDS.iter().find(|k| k.name == kw).unwrap();
            assert!((k.parse)(Some(bad)).is_err(), "{kw}:{bad}");
        }
        assert!(parse_filesize(None).is_err());
        // An error in the comparison points past the side prefix.
        let e = parse_filesize(Some("to_client,x")).unwrap_err();
        assert!(e.at.is_none_or(|a| a.0 >= 10), "{e:?}");
    }

    #[test]
    fn hash_lines_and_paths() {
        assert_eq!(
            parse_hash_line("090fe607a5be1228362614ccaa088577", HashAlgo::Md5)
                .unwrap()
                .unwrap()[..2],
            [0x09, 0x0f]
        );
        assert_eq!(parse_hash_line("  # c", HashAlgo::Md5), Ok(None));
        assert_eq!(parse_hash_line("", HashAlgo::Sha1), Ok(None));
        assert!(parse_hash_line("090fe607", HashAlgo::Md5).is_err());
        assert!(parse_hash_line(&"zz".repeat(16), HashAlgo::Md5).is_err());
        assert_eq!(resolve_list("l.md5", "rules/a.rules"), "rules/l.md5");
        assert_eq!(resolve_list("/x/l.md5", "rules/a.rules"), "/x/l.md5");
        assert_eq!(resolve_list("l.md5", "a.rules"), "l.md5");
        assert_eq!(
            legacy_pattern("fileext", b"pdf".to_vec()),
            (b".pdf".to_vec(), true)
        );
        assert_eq!(
            legacy_pattern("filename", b"a".to_vec()),
            (b"a".to_vec(), false)
        );
    }
}

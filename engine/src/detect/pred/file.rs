//! `filesize`, `filemd5`, `filesha1`, `filesha256` at run time. A rule's file predicates
//! hold together for one file of the direction it reads (Suricata's file-match list is
//! inspected per file), so `filesize:>100; filemd5:bad.md5;` never pairs the size of one
//! upload with the digest of another.

use crate::app::http::File;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use verdict_compiler::ir::TxPred;
use verdict_compiler::keywords::file::{parse_hash_line, HashAlgo};
use verdict_compiler::keywords::uint::UintCmp;

/// A loaded hash list.
pub type HashList = Arc<HashSet<Vec<u8>>>;

/// A file predicate ready to run.
#[derive(Debug, Clone)]
pub enum FileTest {
    /// `filesize`.
    Size {
        /// The comparison.
        cmp: UintCmp,
        /// `=>` rules: the side whose files it reads; `None`: the packet's.
        to_server: Option<bool>,
    },
    /// A digest in (or, negated, not in) a list.
    Hash {
        /// Which digest.
        algo: HashAlgo,
        /// `!list`.
        negated: bool,
        /// The list.
        list: HashList,
    },
}

impl FileTest {
    /// Compiles a file predicate, loading its list; `Ok(None)` for other predicates.
    pub fn from_pred(p: &TxPred) -> Result<Option<FileTest>, String> {
        Ok(match p {
            TxPred::FileSize { cmp, to_server } => Some(FileTest::Size {
                cmp: *cmp,
                to_server: *to_server,
            }),
            TxPred::FileHash {
                algo,
                negated,
                path,
            } => Some(FileTest::Hash {
                algo: *algo,
                negated: *negated,
                list: load_list(path, *algo)?,
            }),
            _ => None,
        })
    }

    /// The side of the transaction this test names, if any.
    pub fn side(&self) -> Option<bool> {
        match self {
            FileTest::Size { to_server, .. } => *to_server,
            FileTest::Hash { .. } => None,
        }
    }

    /// Whether the test holds for `f`.
    pub fn holds(&self, f: &File<'_>) -> bool {
        match self {
            FileTest::Size { cmp, .. } => {
                if f.complete && !f.truncated {
                    cmp.matches(f.size)
                } else {
                    // Before its end only a lower bound already passed is final.
                    matches!(cmp, UintCmp::Gt(_) | UintCmp::Ge(_)) && cmp.matches(f.size)
                }
            }
            FileTest::Hash {
                algo,
                negated,
                list,
            } => {
                let d = match algo {
                    HashAlgo::Md5 => f.md5,
                    HashAlgo::Sha1 => f.sha1,
                    HashAlgo::Sha256 => f.sha256,
                };
                // No digest (file not complete, bytes lost): neither in nor out of the list.
                d.is_some_and(|d| list.contains(d) != *negated)
            }
        }
    }
}

/// Whether one file of the list `files(i)` satisfies every test.
pub fn any_file_holds<'a>(
    tests: &[FileTest],
    mut files: impl FnMut(usize) -> Option<File<'a>>,
) -> bool {
    (0..crate::vm::MAX_BUFFER_INSTANCES)
        .map_while(&mut files)
        .any(|f| tests.iter().all(|t| t.holds(&f)))
}

/// Loads a hash list (shared by every rule naming the same file and digest).
pub fn load_list(path: &str, algo: HashAlgo) -> Result<HashList, String> {
    static LISTS: OnceLock<Mutex<HashMap<(String, HashAlgo), HashList>>> = OnceLock::new();
    let mut lists = LISTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(l) = lists.get(&(path.to_string(), algo)) {
        return Ok(l.clone());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read {path}: {e}", algo.keyword()))?;
    let mut set = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        match parse_hash_line(line, algo) {
            Ok(Some(h)) => {
                set.insert(h);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("{path}:{}: {e}", n + 1)),
        }
    }
    let l = Arc::new(set);
    lists.insert((path.to_string(), algo), l.clone());
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(size: u64, complete: bool, md5: Option<&'a [u8]>) -> File<'a> {
        File {
            name: b"a.pdf",
            data: b"",
            size,
            complete,
            truncated: false,
            magic: None,
            md5,
            sha1: None,
            sha256: None,
        }
    }

    #[test]
    fn size_is_final_at_the_end_or_past_a_lower_bound() {
        let gt = FileTest::Size {
            cmp: UintCmp::Gt(100),
            to_server: None,
        };
        let lt = FileTest::Size {
            cmp: UintCmp::Lt(100),
            to_server: None,
        };
        assert!(gt.holds(&file(101, true, None)));
        assert!(gt.holds(&file(101, false, None)));
        assert!(!lt.holds(&file(50, false, None)));
        assert!(lt.holds(&file(50, true, None)));
        assert!(!lt.holds(&file(150, true, None)));
    }

    #[test]
    fn lists_load_with_line_numbers_and_match_one_file() {
        let dir = std::env::temp_dir();
        let good = dir.join(format!("verdict-md5-good-{}", std::process::id()));
        std::fs::write(&good, "# bad files\n090fe607a5be1228362614ccaa088577\n\n").unwrap();
        let bad = dir.join(format!("verdict-md5-bad-{}", std::process::id()));
        std::fs::write(&bad, "090fe607a5be1228362614ccaa088577\nnothex\n").unwrap();
        let l = load_list(good.to_str().unwrap(), HashAlgo::Md5).unwrap();
        let e = load_list(bad.to_str().unwrap(), HashAlgo::Md5).unwrap_err();
        assert!(
            e.ends_with(":2: `nothex` is not a filemd5 hash (32 hex digits expected, got 6)"),
            "{e}"
        );
        let digest = [
            0x09, 0x0f, 0xe6, 0x07, 0xa5, 0xbe, 0x12, 0x28, 0x36, 0x26, 0x14, 0xcc, 0xaa, 0x08,
            0x85, 0x77,
        ];
        let has = FileTest::Hash {
            algo: HashAlgo::Md5,
            negated: false,
            list: l.clone(),
        };
        let hasnt = FileTest::Hash {
            algo: HashAlgo::Md5,
            negated: true,
            list: l,
        };
        let big = FileTest::Size {
            cmp: UintCmp::Gt(100),
            to_server: None,
        };
        let other = [0u8; 16];
        let files = [file(10, true, Some(&digest)), file(500, true, Some(&other))];
        assert!(any_file_holds(std::slice::from_ref(&has), |i| files
            .get(i)
            .copied()));
        assert!(any_file_holds(&[hasnt.clone(), big.clone()], |i| files
            .get(i)
            .copied()));
        // The listed file is small and the big one is not listed: no single file has both.
        assert!(!any_file_holds(&[has.clone(), big], |i| files
            .get(i)
            .copied()));
        // No digest yet: neither listed nor unlisted.
        assert!(!hasnt.holds(&file(10, false, None)));
        std::fs::remove_file(good).ok();
        std::fs::remove_file(bad).ok();
    }
}

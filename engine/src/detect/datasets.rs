//! Data sets for the `dataset` keyword: named sets of strings, hashes or addresses, loaded
//! from their files when a rule set is loaded and shared by every rule and worker that names
//! them. `dataset:set` adds the inspected buffer at run time, so a set lives for the process
//! (a reload keeps what was added), as Suricata's do; it is never written back to a file.
//!
//! File formats are Suricata's: a `string` set holds one base64 value per line, `md5` and
//! `sha256` sets hex digests, `ipv4`/`ip` sets addresses as text; a number after a `,` on a
//! line is the value's reputation (`datarep`). JSON and NDJSON files (see [`super::datajson`])
//! give each value a JSON context that alerts carry. Each set is bounded by its
//! `memcap` (default [`DEFAULT_MEMCAP`]): loading more fails the rule set, adding more at run
//! time does not add (so `set` does not match).

use base64::Engine as _;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use verdict_compiler::ir::{Dataset, DatasetFormat, DatasetMatch, DatasetType};

/// memcap of a set whose rule gives none.
pub const DEFAULT_MEMCAP: u64 = 16 << 20;
/// Bytes each value costs besides its own length (hash slot, allocation).
const ENTRY_OVERHEAD: u64 = 48;

/// One named set.
#[derive(Debug)]
pub struct Set {
    name: String,
    kind: DatasetType,
    memcap: u64,
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
pub(super) struct Inner {
    values: HashMap<Box<[u8]>, Meta>,
    used: u64,
}

#[cfg(test)]
impl Inner {
    /// The entry of `k`, for tests of the loaders.
    pub(super) fn values_for_test(&self, k: &[u8]) -> Option<Meta> {
        self.values.get(k).cloned()
    }
}

/// What a set file says about one value besides its presence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Reputation (the CSV column after the value).
    pub rep: Option<u64>,
    /// The JSON object the value came with (`format json|ndjson`).
    pub context: Option<Arc<str>>,
}

impl Set {
    /// The value a buffer stands for in a set of this type, or None if the buffer cannot be
    /// one (an md5 set only ever holds 16-byte digests, …).
    fn key<'a>(&self, buf: &'a [u8], mapped: &'a mut [u8; 16]) -> Option<&'a [u8]> {
        match (self.kind, buf.len()) {
            (DatasetType::String, _) => Some(buf),
            (DatasetType::Md5, 16) | (DatasetType::Sha256, 32) | (DatasetType::Ipv4, 4) => {
                Some(buf)
            }
            (DatasetType::Ip, 16) => Some(buf),
            (DatasetType::Ip, 4) => {
                mapped[10] = 0xff;
                mapped[11] = 0xff;
                mapped[12..].copy_from_slice(buf);
                Some(&mapped[..])
            }
            _ => None,
        }
    }

    /// True if the buffer is in the set.
    pub fn contains(&self, buf: &[u8]) -> bool {
        self.lookup(buf, DatasetMatch::Exact).is_some()
    }

    /// The entry the buffer matches: the whole buffer, or with `match subdomain` also any
    /// suffix starting at or just after a `.` (a set entry `evil.com` or `.evil.com`
    /// matches `www.evil.com`, never `notevil.com`).
    pub fn lookup(&self, buf: &[u8], how: DatasetMatch) -> Option<Meta> {
        let mut m = [0u8; 16];
        let k = self.key(buf, &mut m)?;
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if let Some(meta) = g.values.get(k) {
            return Some(meta.clone());
        }
        if how == DatasetMatch::Exact || self.kind != DatasetType::String {
            return None;
        }
        k.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'.')
            .find_map(|(i, _)| {
                g.values
                    .get(&k[i..])
                    .or_else(|| k.get(i + 1..).and_then(|s| g.values.get(s)))
            })
            .cloned()
    }

    /// Adds the buffer; true if it was not there and fit in the memcap.
    pub fn insert(&self, buf: &[u8]) -> bool {
        let mut m = [0u8; 16];
        let Some(k) = self.key(buf, &mut m) else {
            return false;
        };
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        add(&mut g, self.memcap, k, Meta::default())
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values
            .len()
    }

    /// True if the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Adds `k` unless present (the first entry of a value wins, as in Suricata); false if it
/// was present or does not fit in the memcap.
pub(super) fn add(g: &mut Inner, memcap: u64, k: &[u8], meta: Meta) -> bool {
    if g.values.contains_key(k) {
        return false;
    }
    let extra = meta.context.as_ref().map_or(0, |c| c.len() as u64);
    let cost = (k.len() as u64)
        .saturating_add(ENTRY_OVERHEAD)
        .saturating_add(extra);
    match g.used.checked_add(cost).filter(|u| *u <= memcap) {
        Some(u) => {
            g.used = u;
            g.values.insert(k.into(), meta).is_none()
        }
        None => false,
    }
}

/// True if `k` is in the set (for load errors: a duplicate is not an overflow).
pub(super) fn has(g: &Inner, k: &[u8]) -> bool {
    g.values.contains_key(k)
}

/// Parses one value of a set file.
pub(super) fn parse_value(kind: DatasetType, field: &str) -> Result<Vec<u8>, String> {
    let hex = |want: usize| -> Result<Vec<u8>, String> {
        if field.len() != want * 2 || !field.is_ascii() {
            return Err(format!("`{field}` is not {want} bytes of hex"));
        }
        (0..want)
            .map(|i| {
                u8::from_str_radix(&field[2 * i..2 * i + 2], 16)
                    .map_err(|_| format!("`{field}` is not hex"))
            })
            .collect()
    };
    match kind {
        DatasetType::String => base64::engine::general_purpose::STANDARD
            .decode(field)
            .map_err(|e| format!("`{field}` is not base64: {e}")),
        DatasetType::Md5 => hex(16),
        DatasetType::Sha256 => hex(32),
        DatasetType::Ipv4 => field
            .parse::<std::net::Ipv4Addr>()
            .map(|a| a.octets().to_vec())
            .map_err(|_| format!("`{field}` is not an IPv4 address")),
        DatasetType::Ip => match field.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Ok(a.to_ipv6_mapped().octets().to_vec()),
            Ok(IpAddr::V6(a)) => Ok(a.octets().to_vec()),
            Err(_) => Err(format!("`{field}` is not an IP address")),
        },
    }
}

/// Loads the lines of a set file into `g`.
fn load_text(
    g: &mut Inner,
    kind: DatasetType,
    memcap: u64,
    text: &str,
    path: &str,
) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let mut cols = line.split(',');
        let field = cols.next().unwrap_or_default().trim();
        if field.is_empty() || field.starts_with('#') {
            continue;
        }
        let v = parse_value(kind, field).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let rep = cols.next().and_then(|r| r.trim().parse::<u64>().ok());
        let meta = Meta { rep, context: None };
        if !add(g, memcap, &v, meta) && !has(g, &v) {
            return Err(format!(
                "{path}:{}: the set is over its memcap of {memcap} bytes",
                n + 1
            ));
        }
    }
    Ok(())
}

/// The set a rule names, loading its file the first time the name is seen. Every rule
/// naming a set must agree on its type; a later rule may add the file the first one lacked.
pub fn open(d: &Dataset) -> Result<Arc<Set>, String> {
    static SETS: OnceLock<Mutex<HashMap<String, Arc<Set>>>> = OnceLock::new();
    let mut sets = SETS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let memcap = d.memcap.unwrap_or(DEFAULT_MEMCAP);
    let set = match sets.get(&d.name) {
        Some(s) if s.kind != d.kind => {
            return Err(format!(
                "data set `{}` is used with two types ({:?} and {:?})",
                d.name, s.kind, d.kind
            ))
        }
        Some(s) => s.clone(),
        None => {
            let s = Arc::new(Set {
                name: d.name.clone(),
                kind: d.kind,
                memcap,
                inner: RwLock::default(),
            });
            sets.insert(d.name.clone(), s.clone());
            s
        }
    };
    // A `state` file is loaded like `load` when it exists: it is where Suricata would have
    // saved the set, so a missing one is an empty set, not an error.
    let state = d
        .state
        .as_ref()
        .filter(|p| std::path::Path::new(p).exists());
    for path in [d.load.as_ref(), state].into_iter().flatten() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("data set `{}`: cannot read {path}: {e}", set.name))?;
        let mut g = set.inner.write().unwrap_or_else(|e| e.into_inner());
        match &d.format {
            DatasetFormat::Csv => load_text(&mut g, set.kind, set.memcap, &text, path)?,
            DatasetFormat::Json(j) => {
                super::datajson::load(&mut g, set.kind, set.memcap, &text, path, j, false)?
            }
            DatasetFormat::Ndjson(j) => {
                super::datajson::load(&mut g, set.kind, set.memcap, &text, path, j, true)?
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::{Buffer, DatasetCmd};

    fn ds(name: &str, kind: DatasetType, load: Option<String>, memcap: Option<u64>) -> Dataset {
        Dataset {
            cmd: DatasetCmd::IsSet,
            name: name.into(),
            kind,
            load,
            state: None,
            matching: DatasetMatch::Exact,
            format: DatasetFormat::Csv,
            memcap,
            hashsize: None,
            buffer: Buffer::Payload,
        }
    }

    fn file(tag: &str, text: &str) -> String {
        let p = std::env::temp_dir().join(format!("verdict-ds-{tag}-{}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn files_load_in_suricata_formats() {
        let s = open(&ds(
            "t-str",
            DatasetType::String,
            Some(file("str", "Y3VybC83LjQzLjA=\n\nZXZpbA==,5\n")),
            None,
        ))
        .unwrap();
        assert!(s.contains(b"curl/7.43.0") && s.contains(b"evil") && !s.contains(b"curl"));
        let h = open(&ds(
            "t-md5",
            DatasetType::Md5,
            Some(file("md5", "00112233445566778899aabbccddeeff\n")),
            None,
        ))
        .unwrap();
        let digest: Vec<u8> = (0..16u8).map(|i| i * 0x11).collect();
        assert!(h.contains(&digest) && !h.contains(b"00112233445566778899aabbccddeeff"));
        let v4 = open(&ds(
            "t-v4",
            DatasetType::Ipv4,
            Some(file("v4", "82.165.177.154\n")),
            None,
        ))
        .unwrap();
        assert!(v4.contains(&[82, 165, 177, 154]) && !v4.contains(&[82, 165, 177, 155]));
        let ip = open(&ds(
            "t-ip",
            DatasetType::Ip,
            Some(file("ip", "::ffff:82.165.177.154\n2001:db8::1\n")),
            None,
        ))
        .unwrap();
        assert!(ip.contains(&[82, 165, 177, 154]));
        assert!(ip.contains(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        ));
        // Bad lines, missing files and conflicting types are load errors.
        assert!(open(&ds(
            "t-bad",
            DatasetType::Md5,
            Some(file("bad", "zz\n")),
            None
        ))
        .unwrap_err()
        .contains(":1:"));
        assert!(open(&ds(
            "t-none",
            DatasetType::String,
            Some("/nonexistent/x.lst".into()),
            None
        ))
        .is_err());
        assert!(open(&ds("t-str", DatasetType::Md5, None, None)).is_err());
    }

    #[test]
    fn subdomains_and_reputations() {
        let s = open(&ds(
            "t-sub",
            DatasetType::String,
            Some(file("sub", "LmV2aWwuY29t\nZXhhbXBsZS5vcmc=,300\n")),
            None,
        ))
        .unwrap();
        let sub = DatasetMatch::Subdomain;
        // `.evil.com` (base64 above) covers the domain and its subdomains, dot-prefixed or not.
        assert!(s.lookup(b".www.evil.com", sub).is_some());
        assert!(s.lookup(b"a.b.evil.com", sub).is_some());
        assert!(s.lookup(b".notevil.com", sub).is_none());
        assert!(s.lookup(b".www.evil.com", DatasetMatch::Exact).is_none());
        // `example.org,300`: the entry after the value is its reputation.
        assert_eq!(
            s.lookup(b"www.example.org", sub).and_then(|m| m.rep),
            Some(300)
        );
        assert_eq!(
            s.lookup(b"example.org", DatasetMatch::Exact)
                .and_then(|m| m.rep),
            Some(300)
        );
        assert_eq!(
            s.lookup(b".evil.com", DatasetMatch::Exact)
                .and_then(|m| m.rep),
            None
        );
        // A state file that does not exist yet is an empty set.
        let mut d = ds("t-state", DatasetType::Ip, None, None);
        d.state = Some("/nonexistent/state.lst".into());
        assert!(open(&d).unwrap().is_empty());
    }

    #[test]
    fn set_adds_once_within_the_memcap() {
        let s = open(&ds(
            "t-set",
            DatasetType::String,
            None,
            Some(2 * (ENTRY_OVERHEAD + 3)),
        ))
        .unwrap();
        assert!(s.insert(b"abc") && !s.insert(b"abc"));
        assert!(s.insert(b"def"));
        assert!(!s.insert(b"ghi"), "over the memcap");
        assert_eq!(s.len(), 2);
        // The same name from another rule is the same set.
        assert!(open(&ds("t-set", DatasetType::String, None, None))
            .unwrap()
            .contains(b"def"));
        assert!(open(&ds(
            "t-cap",
            DatasetType::String,
            Some(file("cap", "YQ==\nYg==\n")),
            Some(ENTRY_OVERHEAD + 1)
        ))
        .is_err());
    }
}

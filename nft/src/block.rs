//! Block sets: addresses the kernel drops before anything else looks at them.
//!
//! They live in their own table, [`BLOCK_TABLE`], next to `table inet verdict`, because
//! verdict's main table is replaced as a whole on every load and deleted when the engine
//! stops (so a stopped or crashed engine never blocks traffic). A timed block is a promise to
//! the operator that must outlive both: `verdict block` works with no engine running, and a
//! block made while the engine runs survives its restart until it expires. The table is only
//! ever changed element by element (or created if missing), never replaced, so its contents
//! survive every load.
//!
//! Its `forward` chain hooks at priority [`BLOCK_PRIORITY`], before verdict's own chain (-10)
//! and the xt NFQUEUE steering (0): a blocked packet is dropped by the kernel and never
//! queued. Four interval sets with timeouts hold the entries: `src4`/`src6` drop packets *from*
//! an address or network, `dst4`/`dst6` packets *to* it. The reason (who blocked and why) is
//! the element's nft comment, so `nft list table inet verdict_block` tells the whole story and
//! nothing else needs to be persisted.

use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

/// Name of the nft table (family inet) that holds the block sets.
pub const BLOCK_TABLE: &str = "verdict_block";

/// Priority of the block chain: after conntrack (-200), before verdict's chain (-10).
pub const BLOCK_PRIORITY: i32 = -20;

/// nft limits element comments to 128 bytes.
pub const MAX_COMMENT: usize = 128;

/// Why a block-set operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// `nft` could not be started.
    #[error("cannot run `nft`")]
    Spawn(#[source] std::io::Error),
    /// `nft` refused a command; its message says why (e.g. an overlapping network).
    #[error("nft: {0}")]
    Nft(String),
    /// `nft -j` printed something we could not read.
    #[error("cannot read nft's JSON listing: {0}")]
    Listing(String),
}

/// Why an address or network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an address or network ({why})")]
pub struct CidrError {
    text: String,
    why: &'static str,
}

/// An IPv4 or IPv6 network in canonical form: host bits are zero and the prefix fits the
/// family, so two values that cover the same addresses compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix` bits (host bits are cleared); `None` if the
    /// prefix is longer than the family allows.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let bits = family_bits(addr);
        if prefix > bits {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => {
                let m = mask32(prefix);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = mask128(prefix);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        };
        Some(Cidr { addr, prefix })
    }

    /// A single address (/32 or /128).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: family_bits(addr),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True for IPv4 networks.
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// True if the network is a single address.
    pub fn is_host(&self) -> bool {
        self.prefix == family_bits(self.addr)
    }

    /// Whether `ip` lies inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        Cidr::new(ip, self.prefix).is_some_and(|n| n.addr == self.addr && ip_family_eq(ip, self))
    }

    /// Whether the two networks share at least one address (one contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.is_v4() != other.is_v4() {
            return false;
        }
        let p = self.prefix.min(other.prefix);
        Cidr::new(self.addr, p) == Cidr::new(other.addr, p)
    }
}

fn ip_family_eq(ip: IpAddr, c: &Cidr) -> bool {
    ip.is_ipv4() == c.is_v4()
}

fn family_bits(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = |why| CidrError {
            text: s.chars().take(64).collect(),
            why,
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| err("not an IP address"))?;
        let prefix = match p {
            None => family_bits(addr),
            Some(p) => p.parse::<u8>().map_err(|_| err("bad prefix length"))?,
        };
        Cidr::new(addr, prefix).ok_or_else(|| err("prefix longer than the address"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which packets of a blocked address are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Packets coming from it (SnortSam's `in`).
    Src,
    /// Packets going to it (SnortSam's `out`).
    Dst,
    /// Both.
    #[default]
    Both,
}

impl Direction {
    /// The keyword used on the command line and in the control protocol.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Src => "src",
            Direction::Dst => "dst",
            Direction::Both => "both",
        }
    }
    fn sides(self) -> &'static [Side] {
        match self {
            Direction::Src => &[Side::Src],
            Direction::Dst => &[Side::Dst],
            Direction::Both => &[Side::Src, Side::Dst],
        }
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Direction, String> {
        match s {
            "src" | "in" | "from" => Ok(Direction::Src),
            "dst" | "out" | "to" => Ok(Direction::Dst),
            "both" | "either" => Ok(Direction::Both),
            _ => Err(format!(
                "direction is src, dst or both, not `{}`",
                s.chars().take(32).collect::<String>()
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

fn set_name(side: Side, v4: bool) -> &'static str {
    match (side, v4) {
        (Side::Src, true) => "src4",
        (Side::Src, false) => "src6",
        (Side::Dst, true) => "dst4",
        (Side::Dst, false) => "dst6",
    }
}

const SETS: [(&str, Side, bool); 4] = [
    ("src4", Side::Src, true),
    ("src6", Side::Src, false),
    ("dst4", Side::Dst, true),
    ("dst6", Side::Dst, false),
];

/// A block to add: what, which way, for how long (`None`: until removed), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    /// The address or network.
    pub net: Cidr,
    /// Which packets are dropped.
    pub dir: Direction,
    /// How long; `None` for no expiry.
    pub timeout: Option<Duration>,
    /// Why (stored as the element's comment; sanitized and cut to [`MAX_COMMENT`] bytes).
    pub reason: String,
}

/// An entry as the kernel has it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The address or network.
    pub net: Cidr,
    /// Which packets are dropped (src and dst entries of one network are merged to `both`).
    pub dir: Direction,
    /// Seconds left; `None` for a block without expiry.
    pub expires_secs: Option<u64>,
    /// The timeout it was added with, in seconds.
    pub timeout_secs: Option<u64>,
    /// The stored reason.
    pub reason: String,
}

/// Makes a reason safe to place inside an nft double-quoted string: printable ASCII without
/// quotes or backslashes, at most [`MAX_COMMENT`] bytes.
pub fn sanitize_reason(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_COMMENT)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The nft script that creates the block table if it is missing. Running it again keeps every
/// element and recreates the chain's rules (flush, then add), so it is safe at every start.
pub fn table_script() -> String {
    let mut s = format!("table inet {BLOCK_TABLE} {{\n");
    for (name, _, v4) in SETS {
        let ty = if v4 { "ipv4_addr" } else { "ipv6_addr" };
        s.push_str(&format!(
            "\tset {name} {{\n\t\ttype {ty}\n\t\tflags interval,timeout\n\t}}\n"
        ));
    }
    s.push_str(&format!(
        "\tchain forward {{\n\t\ttype filter hook forward priority {BLOCK_PRIORITY}; policy accept;\n\t}}\n}}\n"
    ));
    s.push_str(&format!("flush chain inet {BLOCK_TABLE} forward\n"));
    for (name, side, v4) in SETS {
        let fam = if v4 { "ip" } else { "ip6" };
        let field = if side == Side::Src { "saddr" } else { "daddr" };
        s.push_str(&format!(
            "add rule inet {BLOCK_TABLE} forward {fam} {field} @{name} counter drop comment \"verdict block {name}\"\n"
        ));
    }
    s
}

fn nft_script(script: &str) -> Result<(), BlockError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BlockError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(BlockError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(BlockError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BlockError::Nft(first_error(&out.stderr)))
    }
}

/// nft's message without the echoed command and caret lines, on one line.
fn first_error(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Error: "))
        .unwrap_or_else(|| text.lines().next().unwrap_or("failed"));
    match line.split_once("Error: ") {
        Some((_, msg)) => msg.to_string(),
        None => line.to_string(),
    }
}

/// Creates the block table if missing (keeping its elements if present).
pub fn ensure() -> Result<(), BlockError> {
    nft_script(&table_script())
}

fn timeout_text(d: Duration) -> String {
    // nft's minimum is one second; a sub-second block rounds up rather than becoming permanent.
    format!("{}s", d.as_secs().max(1))
}

/// Adds the blocks in one nft transaction (creating the table if missing). Adding an address
/// that is already in a set refreshes its timeout.
pub fn add(blocks: &[NewBlock]) -> Result<(), BlockError> {
    if blocks.is_empty() {
        return Ok(());
    }
    let mut s = table_script();
    for b in blocks {
        for &side in b.dir.sides() {
            let timeout = b
                .timeout
                .map(|d| format!(" timeout {}", timeout_text(d)))
                .unwrap_or_default();
            let reason = sanitize_reason(&b.reason);
            s.push_str(&format!(
                "add element inet {BLOCK_TABLE} {} {{ {}{timeout} comment \"{reason}\" }}\n",
                set_name(side, b.net.is_v4()),
                b.net
            ));
        }
    }
    nft_script(&s)
}

/// Removes every entry for exactly these networks, in one transaction; returns the entries
/// that were removed (an address that was not blocked is simply not in the result).
pub fn delete(nets: &[Cidr]) -> Result<Vec<Entry>, BlockError> {
    let raw = list_raw()?;
    let mut s = String::new();
    let mut removed = Vec::new();
    for r in raw.iter().filter(|r| nets.contains(&r.net)) {
        s.push_str(&format!(
            "delete element inet {BLOCK_TABLE} {} {{ {} }}\n",
            set_name(r.side, r.net.is_v4()),
            r.net
        ));
        removed.push(r.clone());
    }
    if s.is_empty() {
        return Ok(Vec::new());
    }
    nft_script(&s)?;
    Ok(merge(removed))
}

#[derive(Debug, Clone)]
struct RawEntry {
    side: Side,
    net: Cidr,
    timeout: Option<u64>,
    expires: Option<u64>,
    comment: String,
}

/// Every blocked address with its time left and reason; empty when the table does not exist.
pub fn list() -> Result<Vec<Entry>, BlockError> {
    Ok(merge(list_raw()?))
}

/// True if the table exists and has no elements.
pub fn is_empty() -> Result<bool, BlockError> {
    Ok(list_raw()?.is_empty())
}

/// Deletes the block table if it holds no block, so a stopped engine that blocked nothing
/// leaves no trace; a table with blocks stays (they must outlive the engine).
pub fn remove_if_empty() -> Result<bool, BlockError> {
    if !table_exists()? || !list_raw()?.is_empty() {
        return Ok(false);
    }
    nft_script(&format!("delete table inet {BLOCK_TABLE}\n"))?;
    Ok(true)
}

/// Deletes the block table and every block in it (tests and `verdict unblock --all`).
pub fn remove_all() -> Result<(), BlockError> {
    if !table_exists()? {
        return Ok(());
    }
    nft_script(&format!("delete table inet {BLOCK_TABLE}\n"))
}

/// Whether the block table exists.
pub fn table_exists() -> Result<bool, BlockError> {
    let out = Command::new("nft")
        .args(["list", "table", "inet", BLOCK_TABLE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(BlockError::Spawn)?;
    Ok(out.success())
}

fn list_raw() -> Result<Vec<RawEntry>, BlockError> {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "inet", BLOCK_TABLE])
        .output()
        .map_err(BlockError::Spawn)?;
    if !out.status.success() {
        // No table: nothing is blocked.
        if !table_exists()? {
            return Ok(Vec::new());
        }
        return Err(BlockError::Nft(first_error(&out.stderr)));
    }
    parse_listing(&out.stdout)
}

fn parse_listing(json: &[u8]) -> Result<Vec<RawEntry>, BlockError> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| BlockError::Listing(e.to_string()))?;
    let items = v["nftables"]
        .as_array()
        .ok_or_else(|| BlockError::Listing("no `nftables` array".into()))?;
    let mut out = Vec::new();
    for item in items {
        let Some(set) = item.get("set") else { continue };
        let Some(&(_, side, _)) = SETS.iter().find(|(n, _, _)| set["name"] == *n) else {
            continue;
        };
        for e in set["elem"].as_array().into_iter().flatten() {
            // Elements with a timeout or comment are wrapped in {"elem": {...}}.
            let (val, meta) = match e.get("elem") {
                Some(inner) => (&inner["val"], inner),
                None => (e, e),
            };
            let net = match val {
                serde_json::Value::String(s) => s.parse::<Cidr>().ok(),
                serde_json::Value::Object(o) => o.get("prefix").and_then(|p| {
                    let a: IpAddr = p["addr"].as_str()?.parse().ok()?;
                    let len = u8::try_from(p["len"].as_u64()?).ok()?;
                    Cidr::new(a, len)
                }),
                _ => None,
            };
            let Some(net) = net else {
                return Err(BlockError::Listing(format!("unexpected element {val}")));
            };
            out.push(RawEntry {
                side,
                net,
                timeout: meta.get("timeout").and_then(|t| t.as_u64()),
                expires: meta.get("expires").and_then(|t| t.as_u64()),
                comment: meta
                    .get("comment")
                    .and_then(|c| c.as_str())
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    Ok(out)
}

/// One entry per network: a src and a dst element of the same network become `both`.
fn merge(raw: Vec<RawEntry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for r in raw {
        let dir = if r.side == Side::Src {
            Direction::Src
        } else {
            Direction::Dst
        };
        if let Some(e) = out.iter_mut().find(|e| e.net == r.net) {
            if e.dir != dir {
                e.dir = Direction::Both;
            }
            e.expires_secs = match (e.expires_secs, r.expires) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            continue;
        }
        out.push(Entry {
            net: r.net,
            dir,
            expires_secs: r.expires,
            timeout_secs: r.timeout,
            reason: r.comment,
        });
    }
    out.sort_by_key(|e| e.net);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_canonical_and_overlap() {
        let c: Cidr = "192.0.2.77/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert!(c.contains("192.0.2.1".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let h: Cidr = "192.0.2.5".parse().unwrap();
        assert!(h.is_host() && c.overlaps(&h) && h.overlaps(&c));
        assert_eq!(
            "2001:db8::1/32".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::/32"
        );
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert!(!all.overlaps(&"::/0".parse().unwrap()));
        for bad in ["", "x", "192.0.2.1/33", "::1/129", "1.2.3.4/-1", "1.2.3.4/"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn reasons_cannot_break_out_of_the_nft_string() {
        let r = sanitize_reason("a\"b\\c\nd; delete table inet verdict");
        assert!(!r.contains('"') && !r.contains('\\') && !r.contains('\n'));
        assert!(sanitize_reason(&"x".repeat(500)).len() <= MAX_COMMENT);
    }

    #[test]
    fn listing_is_parsed_and_merged() {
        let json = br#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"set": {"family": "inet", "name": "src4", "table": "verdict_block", "type": "ipv4_addr",
            "elem": [{"elem": {"val": {"prefix": {"addr": "192.0.2.0", "len": 24}}, "timeout": 3600, "expires": 3599, "comment": "manual: x"}},
                     {"elem": {"val": "198.51.100.7", "timeout": 5, "expires": 4, "comment": "sid:1"}}]}},
          {"set": {"family": "inet", "name": "dst4", "table": "verdict_block", "type": "ipv4_addr",
            "elem": [{"elem": {"val": "198.51.100.7", "timeout": 5, "expires": 3, "comment": "sid:1"}}]}},
          {"set": {"family": "inet", "name": "src6", "table": "verdict_block", "type": "ipv6_addr",
            "elem": ["2001:db8::9"]}}]}"#;
        let raw = parse_listing(json).unwrap();
        assert_eq!(raw.len(), 4);
        let m = merge(raw);
        assert_eq!(m.len(), 3);
        let e = m
            .iter()
            .find(|e| e.net.to_string() == "198.51.100.7")
            .unwrap();
        assert_eq!((e.dir, e.expires_secs), (Direction::Both, Some(4)));
        let p = m
            .iter()
            .find(|e| e.net.to_string() == "2001:db8::9")
            .unwrap();
        assert_eq!((p.dir, p.expires_secs), (Direction::Src, None));
        assert!(parse_listing(b"{}").is_err());
    }

    #[test]
    fn table_script_declares_sets_and_drops_early() {
        let s = table_script();
        assert!(s.contains("priority -20"));
        assert!(s.contains("flags interval,timeout"));
        assert!(s.contains("ip6 daddr @dst6 counter drop"));
        assert!(s.contains("flush chain inet verdict_block forward"));
    }
}

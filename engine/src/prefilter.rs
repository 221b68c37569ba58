//! Multi-pattern prefilter: which rules could match this packet at all.
//!
//! Per transport class (TCP, UDP, ICMP, other) a multi-pattern matcher (see [`Strategy`]
//! for how patterns are split; "automaton" below means one such matcher: a hashed
//! three-byte-prefix filter plus exact confirmation, which replaced Aho-Corasick because
//! its DFA over ~1000 patterns was memory-latency bound). A hit makes the rules
//! owning that pattern candidates. Rules without any usable pattern are always candidates for
//! the ports they name: their lists are precomputed per destination port (or source port for
//! rules that only constrain the source, e.g. server responses), so a packet touches only the
//! rules that could match it. No allocation per packet: the caller owns the [`Scratch`].
//!
//! When the compiler did not pick a fast pattern, the longest non-negated payload content is
//! used: any non-negated content must occur in the buffer for the rule to match, wherever its
//! modifiers put it.

mod addr;

use addr::AddrIndex;
use std::collections::HashMap;
use std::net::IpAddr;
use verdict_compiler::bytecode::{Insn, Program, L4};
use verdict_compiler::ir::{Buffer, IpSet, PortSet};

/// Transport class used to pick automata and port tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// TCP
    Tcp = 0,
    /// UDP
    Udp = 1,
    /// ICMP / ICMPv6
    Icmp = 2,
    /// everything else
    Other = 3,
}

impl Class {
    /// The class of an IP protocol number.
    pub fn of_proto(p: u8) -> Class {
        match p {
            6 => Class::Tcp,
            17 => Class::Udp,
            1 | 58 => Class::Icmp,
            _ => Class::Other,
        }
    }
    fn of_program(l4: L4) -> &'static [Class] {
        match l4 {
            L4::Any => &[Class::Tcp, Class::Udp, Class::Icmp, Class::Other],
            L4::Tcp => &[Class::Tcp],
            L4::Udp => &[Class::Udp],
            L4::Icmp | L4::Icmpv6 => &[Class::Icmp],
            L4::Sctp => &[Class::Other],
        }
    }
}

/// A fast pattern chosen for a program.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// bytes (lower-cased when nocase)
    pub bytes: Vec<u8>,
    /// nocase
    pub nocase: bool,
}

impl Pattern {
    /// The pattern as the matcher stores it (lower-cased when `nocase`).
    pub fn new(bytes: &[u8], nocase: bool) -> Pattern {
        Pattern {
            bytes: if nocase {
                bytes.to_ascii_lowercase()
            } else {
                bytes.to_vec()
            },
            nocase,
        }
    }

    /// The bytes escaped for one line of text (explain, snapshots).
    pub fn escaped(&self) -> String {
        self.bytes
            .iter()
            .flat_map(|b| std::ascii::escape_default(*b))
            .map(char::from)
            .collect()
    }
}

/// The fast pattern of a program: the compiler's choice, else the longest non-negated
/// payload content.
pub fn pattern_of(p: &Program) -> Option<Pattern> {
    pattern_of_any_len(p).filter(|pat| pat.bytes.len() >= MIN_PATTERN_LEN)
}

/// The fast pattern of an app-layer program and the buffer it lives in: the compiler's
/// choice when it is on an app-layer buffer, else the longest non-negated content on one
/// that no transform rewrites (the prefilter scans the raw buffer, where a transformed
/// content's bytes need not be).
pub fn app_pattern_of(p: &Program) -> Option<(Buffer, Pattern)> {
    let norm = Pattern::new;
    let app = |b: Buffer| {
        !matches!(
            b,
            Buffer::Payload
                | Buffer::Raw
                | Buffer::Base64Data
                | Buffer::IpSrc
                | Buffer::IpDst
                | Buffer::Hdr(_)
        )
    };
    // `absent: or_else` buffers may be missing, so their contents cannot gate the rule.
    let may_be_absent = |b: Buffer| {
        p.ops
            .iter()
            .any(|i| matches!(i, Insn::Absent { buffer, .. } if *buffer == b))
    };
    // The compiler's choice already went through the chain (what the raw buffer must hold).
    if let Some(f) = &p.fast_pattern {
        if app(f.buffer) && f.bytes.len() >= MIN_PATTERN_LEN {
            return Some((f.buffer, norm(&f.bytes, f.nocase)));
        }
    }
    p.ops
        .iter()
        .filter_map(|i| match i {
            Insn::Content {
                pattern,
                nocase,
                negated: false,
                buffer,
                ..
            } if app(*buffer)
                && !p
                    .transforms
                    .iter()
                    .any(|t| t.buffer == *buffer && !t.chain.is_empty())
                && !may_be_absent(*buffer) =>
            {
                Some((*buffer, pattern, *nocase))
            }
            _ => None,
        })
        .rev()
        .max_by_key(|(_, pat, _)| pat.len())
        .filter(|(_, pat, _)| pat.len() >= MIN_PATTERN_LEN)
        .map(|(b, pat, n)| (b, norm(pat, n)))
}

/// Patterns shorter than this are not worth the automaton: one- and two-byte patterns hit
/// every few hundred bytes of binary payload, costing more in match handling than running
/// the (usually anchored) rule directly. Such rules are candidates by port instead.
pub const MIN_PATTERN_LEN: usize = 3;

fn pattern_of_any_len(p: &Program) -> Option<Pattern> {
    let norm = Pattern::new;
    if let Some(f) = &p.fast_pattern {
        if matches!(f.buffer, Buffer::Payload | Buffer::Raw) && !f.bytes.is_empty() {
            return Some(norm(&f.bytes, f.nocase));
        }
    }
    p.ops
        .iter()
        .filter_map(|i| match i {
            Insn::Content {
                pattern,
                nocase,
                negated: false,
                buffer: Buffer::Payload | Buffer::Raw,
                ..
            } => Some((pattern, *nocase)),
            _ => None,
        })
        .max_by_key(|(pat, _)| pat.len())
        .map(|(b, n)| norm(b, n))
}

/// How fast patterns are split over automata. Measured (with the former Aho-Corasick DFA)
/// with `cargo bench --bench replay`
/// (community set incl. commented rules, one core): `OneCaseless` 1.75 Gbit/s on mixed
/// traffic and 2.06 on iperf3-like bulk TCP, 48 ms to build; `Grouped` 1.56 and 2.44, 389 ms
/// to build (HTTP-heavy traffic gains nothing from port groups and answers take two passes);
/// `TwoAutomata` 1.18 on mixed. Hence the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// One ASCII case-insensitive automaton per transport class; hits of case-sensitive
    /// patterns are confirmed by an exact compare at the match position. One pass over the
    /// payload whatever its ports.
    #[default]
    OneCaseless,
    /// Per transport class and destination-port group, one case-insensitive automaton over
    /// the patterns of the rules that can apply to that port (plus the port-agnostic ones),
    /// and a second, smaller one per source-port group (server responses): traffic on ports
    /// few rules name scans smaller automata.
    Grouped,
    /// Two automata per class (case-sensitive and case-insensitive): two passes.
    TwoAutomata,
}

/// Owner of a pattern: the program, and the exact bytes to confirm when the automaton is
/// case-insensitive but the pattern is not.
type Owner = (u32, Option<Box<[u8]>>);

/// A multi-pattern matcher over patterns of at least [`MIN_PATTERN_LEN`] bytes.
///
/// Profiles of the replay bench showed the Aho-Corasick DFA over the ~1000 community fast
/// patterns (11 MB of transitions) stepping at ~3 ns per byte: every byte is a dependent load
/// into a table far larger than L2. This matcher instead tests, at every position, a bit
/// indexed by a hash of the next three bytes (folded with `| 0x20`, a superset of ASCII case
/// folding) in a 16 KB bitset; those tests are independent of each other, so they pipeline.
/// Only positions whose bit is set (well under 1 % on binary payload) look up the patterns
/// with that three-byte prefix and compare them in full, so the set of patterns found is
/// exactly the set occurring in the payload.
#[derive(Debug, Default)]
struct Automaton {
    /// One bit per folded two-byte prefix: a cheaper first test (no multiply) that rejects
    /// most positions of binary payload before the three-byte test.
    filter2: Vec<u64>,
    /// One bit per folded byte pair at offset 0 or 1 of some pattern (the stride-2 scan).
    pairs: Vec<u64>,
    /// One bit per hash of a folded three-byte prefix.
    filter: Vec<u64>,
    /// (folded prefix, first, end) ranges into `order`, sorted by prefix.
    buckets: Vec<(u32, u32, u32)>,
    /// Pattern indexes grouped by folded prefix.
    order: Vec<u32>,
    /// Patterns (lower-cased when `nocase`).
    pats: Vec<Box<[u8]>>,
    nocase: bool,
    owners: Vec<Vec<Owner>>,
}

const FILTER_BITS: u32 = 17;
/// Starts tested per branch-free block of the dense scan (the bits of a `u64` mask).
const DENSE_BLOCK: usize = 64;

/// The folded three-byte key of the bytes at the start of `b` (at least three).
#[inline(always)]
fn key3(b0: u8, b1: u8, b2: u8) -> u32 {
    u32::from_le_bytes([b0, b1, b2, 0]) | 0x0020_2020
}

#[inline(always)]
fn hash3(k: u32) -> usize {
    (k.wrapping_mul(0x9E37_79B1) >> (32 - FILTER_BITS)) as usize
}

impl Automaton {
    fn build(pats: Vec<(Vec<u8>, Vec<Owner>)>, nocase: bool) -> Result<Automaton, String> {
        if pats.is_empty() {
            return Ok(Automaton::default());
        }
        let mut filter = vec![0u64; 1 << (FILTER_BITS - 6)];
        let mut filter2 = vec![0u64; 1 << (16 - 6)];
        let mut pairs = vec![0u64; 1 << (16 - 6)];
        let mut keyed: Vec<(u32, u32)> = Vec::with_capacity(pats.len());
        for (i, (b, _)) in pats.iter().enumerate() {
            if b.len() < MIN_PATTERN_LEN {
                return Err(format!("pattern shorter than {MIN_PATTERN_LEN} bytes"));
            }
            let k = key3(b[0], b[1], b[2]);
            let h = hash3(k);
            filter[h >> 6] |= 1 << (h & 63);
            let k2 = (k & 0xFFFF) as usize;
            filter2[k2 >> 6] |= 1 << (k2 & 63);
            for pk in [k & 0xFFFF, (k >> 8) & 0xFFFF] {
                pairs[pk as usize >> 6] |= 1 << (pk & 63);
            }
            keyed.push((k, i as u32));
        }
        keyed.sort_unstable();
        let mut buckets: Vec<(u32, u32, u32)> = Vec::new();
        for (j, (k, _)) in keyed.iter().enumerate() {
            match buckets.last_mut() {
                Some(last) if last.0 == *k => last.2 = j as u32 + 1,
                _ => buckets.push((*k, j as u32, j as u32 + 1)),
            }
        }
        let (pats, owners): (Vec<_>, Vec<_>) = pats
            .into_iter()
            .map(|(b, o)| (b.into_boxed_slice(), o))
            .unzip();
        Ok(Automaton {
            filter2,
            pairs,
            filter,
            buckets,
            order: keyed.into_iter().map(|(_, i)| i).collect(),
            pats,
            nocase,
            owners,
        })
    }

    fn is_empty(&self) -> bool {
        self.pats.is_empty()
    }

    /// Calls `f` with (pattern index, start) for every occurrence of every pattern.
    #[inline(always)]
    fn for_each_match(&self, hay: &[u8], mut f: impl FnMut(usize, usize)) {
        if hay.len() < MIN_PATTERN_LEN || self.is_empty() {
            return;
        }
        let last = hay.len() - MIN_PATTERN_LEN;
        let filter = &self.filter[..];
        let mut check = |i: usize, k: u32| {
            let Ok(b) = self.buckets.binary_search_by_key(&k, |e| e.0) else {
                return;
            };
            let (_, lo, hi) = self.buckets[b];
            for &pi in &self.order[lo as usize..hi as usize] {
                let p = &self.pats[pi as usize];
                let Some(h) = hay.get(i..i + p.len()) else {
                    continue;
                };
                let hit = if self.nocase {
                    h.eq_ignore_ascii_case(p)
                } else {
                    h == &p[..]
                };
                if hit {
                    f(pi as usize, i);
                }
            }
        };
        let filter2 = &self.filter2[..];
        let pairs = &self.pairs[..];
        // A macro, not a closure: both scans below call `check`.
        macro_rules! probe {
            ($i:expr) => {{
                let i: usize = $i;
                let k = key3(hay[i], hay[i + 1], hay[i + 2]);
                let k2 = (k & 0xFFFF) as usize;
                if filter2[k2 >> 6] & (1 << (k2 & 63)) != 0 {
                    let h = hash3(k);
                    if filter[h >> 6] & (1 << (h & 63)) != 0 {
                        check(i, k);
                    }
                }
            }};
        }
        // Every pattern is at least three bytes long, so an occurrence at `p` puts its first
        // or second byte pair at the odd position `p | 1`: testing only odd positions against
        // `pairs`, then probing both starts such a pair can belong to, finds every occurrence
        // with half the tests (each start is probed at most once). On text the pairs of
        // text patterns hit so often that probing costs more than it saves: when more than a
        // quarter of a window of 64 steps hit, the rest of the buffer probes every start.
        let mut q = 1;
        let (mut steps, mut hits) = (0u32, 0u32);
        while q + 1 < hay.len() {
            if steps == 64 {
                if hits > 16 {
                    break;
                }
                (steps, hits) = (0, 0);
            }
            let k = (u32::from(hay[q]) | u32::from(hay[q + 1]) << 8 | 0x2020) as usize;
            if pairs[k >> 6] & (1 << (k & 63)) != 0 {
                hits += 1;
                probe!(q - 1);
                if q <= last {
                    probe!(q);
                }
            }
            steps += 1;
            q += 2;
        }
        // Starts before `q - 1` are probed; after an early break, probe the rest densely
        // (four-byte loads while they fit, the last start reading its three bytes).
        if q + 1 < hay.len() {
            let mut i = q - 1;
            // Text hits the byte-pair filter at most positions, so a branch per test
            // mispredicts about every other byte. Blocks of 64 starts are tested without
            // branches into a bit mask, and only the starts passing both filters are visited.
            while i + DENSE_BLOCK + 2 <= hay.len() {
                let block = &hay[i..i + DENSE_BLOCK + 2];
                let mut mask = 0u64;
                for j in 0..DENSE_BLOCK {
                    let k = key3(block[j], block[j + 1], block[j + 2]);
                    let k2 = (k & 0xFFFF) as usize;
                    let h = hash3(k);
                    let hit = (filter2[k2 >> 6] >> (k2 & 63)) & (filter[h >> 6] >> (h & 63)) & 1;
                    mask |= hit << j;
                }
                while mask != 0 {
                    let j = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    check(i + j, key3(block[j], block[j + 1], block[j + 2]));
                }
                i += DENSE_BLOCK;
            }
            while i < last {
                let w = u32::from_le_bytes([hay[i], hay[i + 1], hay[i + 2], hay[i + 3]]);
                let k = (w & 0x00FF_FFFF) | 0x0020_2020;
                let k2 = (k & 0xFFFF) as usize;
                if filter2[k2 >> 6] & (1 << (k2 & 63)) != 0 {
                    let h = hash3(k);
                    if filter[h >> 6] & (1 << (h & 63)) != 0 {
                        check(i, k);
                    }
                }
                i += 1;
            }
            // The blocks may have ended just past the last start.
            if i == last {
                probe!(last);
            }
        }
    }
}

#[derive(Debug)]
struct PortIndex {
    table: Vec<u16>,
    groups: Vec<Vec<u32>>,
}

impl PortIndex {
    fn build(entries: &[(&PortSet, u32)]) -> PortIndex {
        if entries.is_empty() {
            return PortIndex {
                table: Vec::new(),
                groups: Vec::new(),
            };
        }
        let mut cuts = vec![0u32, 65536];
        for (set, _) in entries {
            for &(lo, hi) in set.ranges() {
                cuts.push(u32::from(lo));
                cuts.push(u32::from(hi) + 1);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut groups: Vec<Vec<u32>> = Vec::new();
        let mut ids: HashMap<Vec<u32>, u16> = HashMap::new();
        let mut table = vec![0u16; 65536];
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let members: Vec<u32> = entries
                .iter()
                .filter(|(s, _)| s.contains(a as u16))
                .map(|(_, p)| *p)
                .collect();
            let next = groups.len() as u16;
            let id = *ids.entry(members.clone()).or_insert_with(|| {
                groups.push(members);
                next
            });
            table[a as usize..b as usize].fill(id);
        }
        PortIndex { table, groups }
    }
    fn get(&self, port: u16) -> &[u32] {
        match self.table.get(usize::from(port)) {
            Some(&g) => &self.groups[usize::from(g)],
            None => &[],
        }
    }
    /// The group of a port; None when the index is empty.
    fn group_of(&self, port: u16) -> Option<usize> {
        self.table.get(usize::from(port)).map(|g| usize::from(*g))
    }
}

/// Which addresses of a packet make a program without a pattern a candidate.
#[derive(Clone, Copy)]
enum Gate<'p> {
    /// Its source is in the rule's (small) source set.
    Src,
    /// Its destination is in the rule's (small) destination set.
    Dst,
    /// Either address is in this set (rules that also match the other way round).
    Either(&'p IpSet),
}

/// The address gate of a program, if one of its address sets is small.
fn addr_gate(p: &Program) -> Option<Gate<'_>> {
    let (s, d) = (addr::small(&p.src), addr::small(&p.dst));
    if p.bidirectional || p.transactional {
        return match (s, d) {
            (true, _) => Some(Gate::Either(&p.src)),
            (_, true) => Some(Gate::Either(&p.dst)),
            _ => None,
        };
    }
    match (s, d) {
        (true, _) => Some(Gate::Src),
        (_, true) => Some(Gate::Dst),
        _ => None,
    }
}

#[derive(Debug)]
struct ClassIndex {
    /// Automata scanned for a destination port: `fp_dport` maps the port to an entry of
    /// `fp_dsets` (a single entry when not grouped).
    fp_dport: PortIndex,
    fp_dsets: Vec<Vec<usize>>,
    /// Automata scanned for a source port (grouped only).
    fp_sport: PortIndex,
    fp_ssets: Vec<Vec<usize>>,
    automata: Vec<Automaton>,
    by_dport: PortIndex,
    by_sport: PortIndex,
    /// Programs without a pattern whose source (`by_src`) or destination (`by_dst`)
    /// addresses are a small set: candidates only for packets from or to those addresses.
    by_src: AddrIndex,
    by_dst: AddrIndex,
    any: Vec<u32>,
}

impl ClassIndex {
    fn dset(&self, port: u16) -> &[usize] {
        let g = self.fp_dport.group_of(port).unwrap_or(0);
        self.fp_dsets.get(g).map_or(&[], Vec::as_slice)
    }
    fn sset(&self, port: u16) -> &[usize] {
        match self.fp_sport.group_of(port) {
            Some(g) => self.fp_ssets.get(g).map_or(&[], Vec::as_slice),
            None => &[],
        }
    }
}

/// Builds (and shares) the automata of sets of programs.
struct AutomatonCache<'a> {
    pats: &'a [Option<Pattern>],
    strategy: Strategy,
    automata: Vec<Automaton>,
    sets: HashMap<Vec<u32>, Vec<usize>>,
}

impl AutomatonCache<'_> {
    /// The automata for these programs (sorted, deduplicated).
    fn get(&mut self, mut progs: Vec<u32>) -> Result<Vec<usize>, String> {
        progs.sort_unstable();
        progs.dedup();
        if progs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(s) = self.sets.get(&progs) {
            return Ok(s.clone());
        }
        let mut cs: HashMap<Vec<u8>, Vec<Owner>> = HashMap::new();
        let mut ci: HashMap<Vec<u8>, Vec<Owner>> = HashMap::new();
        for &i in &progs {
            let Some(pat) = &self.pats[i as usize] else {
                continue;
            };
            if pat.nocase {
                ci.entry(pat.bytes.clone()).or_default().push((i, None));
            } else if self.strategy == Strategy::TwoAutomata {
                cs.entry(pat.bytes.clone()).or_default().push((i, None));
            } else {
                ci.entry(pat.bytes.to_ascii_lowercase())
                    .or_default()
                    .push((i, Some(pat.bytes.clone().into())));
            }
        }
        let mut ids = Vec::new();
        for (map, nocase) in [(cs, false), (ci, true)] {
            if map.is_empty() {
                continue;
            }
            let mut v: Vec<_> = map.into_iter().collect();
            v.sort();
            self.automata.push(Automaton::build(v, nocase)?);
            ids.push(self.automata.len() - 1);
        }
        self.sets.insert(progs, ids.clone());
        Ok(ids)
    }
}

/// Statistics of the built prefilter, for the report and benches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefilterStats {
    /// Case-sensitive fast patterns, counted once per transport class they apply to.
    pub cs_patterns: usize,
    /// `nocase` fast patterns, counted once per transport class they apply to.
    pub ci_patterns: usize,
    /// Programs without a fast pattern.
    pub no_pattern: usize,
    /// Automata built (all classes and port groups).
    pub automata: usize,
}

/// The built prefilter.
#[derive(Debug)]
pub struct Prefilter {
    classes: Vec<ClassIndex>,
    order: Vec<u32>,
    stats: PrefilterStats,
    described: Vec<String>,
    /// The longest fast pattern: how far a match may reach past a scanned range's start.
    longest: usize,
}

/// Per-worker scratch for [`Prefilter::candidates`].
#[derive(Debug, Default)]
pub struct Scratch {
    marks: Vec<u32>,
    gen: u32,
    out: Vec<u32>,
    /// Per program: where its pattern last started in the haystack of the current call
    /// (valid for the programs in `hits`).
    last: Vec<u32>,
    /// Programs the automata found in the last call, in the order found (the rest of `out`
    /// came from ports and addresses).
    hits: Vec<u32>,
}

impl Scratch {
    /// The programs whose patterns the last [`Prefilter::candidates`] call found in its
    /// haystack, each with the offset in it where the pattern last started: what a caller
    /// needs to remember hits by stream position instead of scanning the bytes again.
    pub fn pattern_hits(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.hits
            .iter()
            .map(|&p| (p, self.last.get(p as usize).copied().unwrap_or(u32::MAX)))
    }
}

impl Prefilter {
    /// Builds the prefilter. `order[p]` is the evaluation rank of program `p` (candidates come
    /// out sorted by it).
    pub fn new(programs: &[Program], order: Vec<u32>) -> Result<Prefilter, String> {
        Prefilter::with_strategy(programs, order, Strategy::default())
    }

    /// Builds the prefilter with an explicit automaton strategy.
    pub fn with_strategy(
        programs: &[Program],
        order: Vec<u32>,
        strategy: Strategy,
    ) -> Result<Prefilter, String> {
        let pats = programs.iter().map(pattern_of).collect();
        Prefilter::build(programs, order, strategy, pats, |_| true)
    }

    /// Builds a prefilter over the programs `include` accepts, with `pats[p]` as program
    /// `p`'s fast pattern (`None`: a candidate by port). The per-buffer prefilters of
    /// app-layer rules are built this way, each over the programs whose pattern lives in its
    /// buffer.
    pub fn build(
        programs: &[Program],
        order: Vec<u32>,
        strategy: Strategy,
        pats: Vec<Option<Pattern>>,
        include: impl Fn(usize) -> bool,
    ) -> Result<Prefilter, String> {
        let mut stats = PrefilterStats::default();
        // Sizing each address set walks all its ranges: once per program without a pattern,
        // not once per transport class and again for its description.
        let gates: Vec<Option<Gate<'_>>> = programs
            .iter()
            .zip(&pats)
            .enumerate()
            .map(|(i, (p, pat))| {
                (include(i) && pat.is_none())
                    .then(|| addr_gate(p))
                    .flatten()
            })
            .collect();
        let mut classes = Vec::new();
        stats.no_pattern = pats
            .iter()
            .enumerate()
            .filter(|(i, p)| p.is_none() && include(*i))
            .count();
        for class in [Class::Tcp, Class::Udp, Class::Icmp, Class::Other] {
            let mut dport = Vec::new();
            let mut sport = Vec::new();
            let mut any = Vec::new();
            let mut fp_d = Vec::new();
            let mut fp_s = Vec::new();
            let mut fp_any = Vec::new();
            let (mut src, mut dst) = (Vec::new(), Vec::new());
            for (i, p) in programs.iter().enumerate() {
                if !include(i) || !Class::of_program(p.l4).contains(&class) {
                    continue;
                }
                let i = i as u32;
                let ported = matches!(class, Class::Tcp | Class::Udp) && !p.bidirectional;
                match &pats[i as usize] {
                    Some(pat) => {
                        if pat.nocase {
                            stats.ci_patterns += 1;
                        } else {
                            stats.cs_patterns += 1;
                        }
                        if strategy == Strategy::Grouped && ported && !p.dst_ports.is_full() {
                            fp_d.push((&p.dst_ports, i));
                        } else if strategy == Strategy::Grouped && ported && !p.src_ports.is_full()
                        {
                            fp_s.push((&p.src_ports, i));
                        } else {
                            fp_any.push(i);
                        }
                    }
                    None => match gates[i as usize] {
                        Some(Gate::Src) => src.push((&p.src, i)),
                        Some(Gate::Dst) => dst.push((&p.dst, i)),
                        Some(Gate::Either(set)) => {
                            src.push((set, i));
                            dst.push((set, i));
                        }
                        None if ported && !p.dst_ports.is_full() => {
                            dport.push((&p.dst_ports, i));
                        }
                        None if ported && !p.src_ports.is_full() => {
                            sport.push((&p.src_ports, i));
                        }
                        None => any.push(i),
                    },
                }
            }
            let mut cache = AutomatonCache {
                pats: &pats,
                strategy,
                automata: Vec::new(),
                sets: HashMap::new(),
            };
            let fp_dport = PortIndex::build(&fp_d);
            let fp_dsets = if fp_dport.groups.is_empty() {
                vec![cache.get(fp_any.clone())?]
            } else {
                fp_dport
                    .groups
                    .iter()
                    .map(|g| cache.get(g.iter().chain(&fp_any).copied().collect()))
                    .collect::<Result<_, _>>()?
            };
            let fp_sport = PortIndex::build(&fp_s);
            let fp_ssets = fp_sport
                .groups
                .iter()
                .map(|g| cache.get(g.clone()))
                .collect::<Result<_, _>>()?;
            stats.automata += cache.automata.len();
            classes.push(ClassIndex {
                fp_dport,
                fp_dsets,
                fp_sport,
                fp_ssets,
                automata: cache.automata,
                by_dport: PortIndex::build(&dport),
                by_sport: PortIndex::build(&sport),
                by_src: AddrIndex::build(&src),
                by_dst: AddrIndex::build(&dst),
                any,
            });
        }
        // Only the programs this prefilter serves are described: the per-buffer prefilters of
        // transaction rules each serve a few, and a string for every program in each of them
        // was most of their memory (14 MB with ET Open) and build time.
        let described = programs
            .iter()
            .zip(&pats)
            .enumerate()
            .map(|(i, (p, pat))| match (pat, gates[i]) {
                _ if !include(i) => String::new(),
                (Some(pat), _) => format!(
                    "prefilter \"{}\"{}",
                    pat.escaped(),
                    if pat.nocase { " nocase" } else { "" }
                ),
                (None, Some(Gate::Src)) => {
                    "no pattern: candidate for packets from its source addresses".to_string()
                }
                (None, Some(Gate::Dst)) => {
                    "no pattern: candidate for packets to its destination addresses".to_string()
                }
                (None, Some(Gate::Either(_))) => {
                    "no pattern: candidate for packets from or to its listed addresses".to_string()
                }
                (None, None)
                    if p.bidirectional || matches!(p.l4, L4::Icmp | L4::Icmpv6 | L4::Sctp) =>
                {
                    "no pattern: candidate for every packet of its protocol".to_string()
                }
                (None, None) if !p.dst_ports.is_full() => {
                    "no pattern: candidate for its destination ports".to_string()
                }
                (None, None) if !p.src_ports.is_full() => {
                    "no pattern: candidate for its source ports".to_string()
                }
                (None, None) => {
                    "no pattern: candidate for every packet of its protocol".to_string()
                }
            })
            .collect();
        let longest = pats
            .iter()
            .enumerate()
            .filter(|(i, _)| include(*i))
            .filter_map(|(_, p)| p.as_ref().map(|p| p.bytes.len()))
            .max()
            .unwrap_or(0);
        Ok(Prefilter {
            classes,
            order,
            stats,
            described,
            longest,
        })
    }

    /// How program `p` reaches the VM (its prefilter pattern or port group), for explain and
    /// snapshots; empty for a program this prefilter does not serve.
    pub fn describe(&self, p: usize) -> &str {
        self.described.get(p).map_or("", String::as_str)
    }

    /// Length of the longest fast pattern (0 without patterns).
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Build statistics.
    pub fn stats(&self) -> PrefilterStats {
        self.stats
    }

    /// Candidate programs for a packet, sorted by evaluation rank. `addrs` (source,
    /// destination) select the address-gated programs; without them all are candidates.
    #[allow(clippy::too_many_arguments)]
    pub fn candidates<'s>(
        &self,
        class: Class,
        addrs: Option<(IpAddr, IpAddr)>,
        sport: u16,
        dport: u16,
        payload: &[u8],
        s: &'s mut Scratch,
    ) -> &'s [u32] {
        let ci = &self.classes[class as usize];
        if s.marks.len() != self.order.len() {
            s.marks = vec![0; self.order.len()];
            s.last = vec![0; self.order.len()];
            s.gen = 0;
        }
        s.gen = s.gen.wrapping_add(1);
        if s.gen == 0 {
            s.marks.fill(0);
            s.gen = 1;
        }
        s.out.clear();
        if !payload.is_empty() {
            for &ai in ci.dset(dport).iter().chain(ci.sset(sport)) {
                let a = &ci.automata[ai];
                let (marks, gen, out, last) = (&mut s.marks, s.gen, &mut s.out, &mut s.last);
                // Payloads are at most a 64 KB packet or a stream window far below 4 GB.
                let at = |start: usize| u32::try_from(start).unwrap_or(u32::MAX);
                a.for_each_match(payload, |pi, start| {
                    for (p, exact) in &a.owners[pi] {
                        if let Some(x) = exact {
                            if payload.get(start..start + x.len()) != Some(&x[..]) {
                                continue;
                            }
                        }
                        let pu = *p as usize;
                        let mark = &mut marks[pu];
                        if *mark != gen {
                            *mark = gen;
                            out.push(*p);
                            last[pu] = at(start);
                        } else {
                            last[pu] = last[pu].max(at(start));
                        }
                    }
                });
            }
        }
        s.hits.clear();
        s.hits.extend_from_slice(&s.out);
        s.out.extend_from_slice(ci.by_dport.get(dport));
        s.out.extend_from_slice(ci.by_sport.get(sport));
        s.out.extend_from_slice(&ci.any);
        if !ci.by_src.is_empty() || !ci.by_dst.is_empty() {
            let (src, dst) = (addrs.map(|a| a.0), addrs.map(|a| a.1));
            // A program gated on either address may be in both lists.
            for &p in ci.by_src.get(src).iter().chain(ci.by_dst.get(dst)) {
                let mark = &mut s.marks[p as usize];
                if *mark != s.gen {
                    *mark = s.gen;
                    s.out.push(p);
                }
            }
        }
        let order = &self.order;
        s.out.sort_unstable_by_key(|p| order[*p as usize]);
        &s.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::{Action, FlowOpts, Gid, IpSet, Operand, Position, Sid};

    fn prog(l4: L4, dst_ports: PortSet, contents: &[(&[u8], bool)]) -> Program {
        Program {
            sid: Sid(1),
            gid: Gid(1),
            rev: 1,
            action: Action::Alert,
            msg: String::new(),
            classtype: None,
            priority: None,
            l4,
            app: None,
            src: IpSet::any(),
            src_ports: PortSet::full(),
            dst: IpSet::any(),
            dst_ports,
            bidirectional: false,
            transactional: false,
            tx_dirs: Vec::new(),
            flow: FlowOpts::default(),
            fast_pattern: None,
            ops: contents
                .iter()
                .map(|(p, nocase)| Insn::Content {
                    pattern: p.to_vec(),
                    nocase: *nocase,
                    negated: false,
                    buffer: Buffer::Payload,
                    position: Position::Absolute {
                        offset: Operand::Lit(0),
                        depth: None,
                    },
                    ends_with: false,
                    replace: None,
                })
                .collect(),
            transforms: Vec::new(),
            threshold: None,
            detection_filter: None,
            block: None,
            tags: vec![],
            strategy: String::new(),
        }
    }

    /// The matcher finds exactly the (pattern, start) pairs a naive scan finds, in both case
    /// modes, including matches ending at the last byte and bytes that `| 0x20` folds
    /// together without being ASCII case pairs ('@' and '`').
    #[test]
    fn matcher_equals_naive_scan() {
        let rng = std::cell::Cell::new(0x9E37_79B9_7F4A_7C15u64);
        let rnd = |n: u64| {
            let mut x = rng.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rng.set(x);
            x % n
        };
        const ALPHA: &[u8] = b"abAB@`\x00\xff/";
        let gen = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| ALPHA[rnd(ALPHA.len() as u64) as usize])
                .collect()
        };
        let mut found = 0;
        for nocase in [false, true] {
            let mut pats: Vec<Vec<u8>> = (0..40).map(|i| gen(3 + i % 5)).collect();
            if nocase {
                for p in &mut pats {
                    p.make_ascii_lowercase();
                }
            }
            pats.sort();
            pats.dedup();
            let a = Automaton::build(
                pats.iter().map(|p| (p.clone(), Vec::new())).collect(),
                nocase,
            )
            .unwrap();
            for len in 0..400 {
                // Short haystacks over the small alphabet hit often (the dense scan takes
                // over); longer ones are mostly arbitrary bytes with a few planted patterns
                // (the stride-2 scan runs to the end).
                let hay = if len < 200 {
                    gen(len)
                } else {
                    let mut h: Vec<u8> = (0..len).map(|_| rnd(256) as u8).collect();
                    for _ in 0..4 {
                        let p = &pats[rnd(pats.len() as u64) as usize];
                        let at = rnd((len - p.len()) as u64) as usize;
                        h[at..at + p.len()].copy_from_slice(p);
                    }
                    h
                };
                let mut got = Vec::new();
                a.for_each_match(&hay, |pi, at| got.push((pi, at)));
                got.sort_unstable();
                let mut want = Vec::new();
                for (pi, p) in pats.iter().enumerate() {
                    for at in 0..hay.len() {
                        if let Some(h) = hay.get(at..at + p.len()) {
                            if (nocase && h.eq_ignore_ascii_case(p)) || h == &p[..] {
                                want.push((pi, at));
                            }
                        }
                    }
                }
                want.sort_unstable();
                assert_eq!(got, want, "nocase {nocase} hay {hay:?}");
                found += want.len();
            }
        }
        assert!(found > 500, "too few matches to test anything: {found}");
    }

    /// Rules over small address lists (IP reputation) are candidates only for packets from
    /// (`->`) or from or to (`<>`) a listed address; a `$HOME_NET`-sized set does not gate.
    #[test]
    fn address_lists_gate_candidates() {
        use std::net::{IpAddr, Ipv4Addr};
        let list = |v4: &[(u32, u32)]| IpSet {
            v4: verdict_compiler::ir::RangeSet::from_ranges(v4.to_vec()),
            v6: verdict_compiler::ir::RangeSet::empty(),
        };
        let bad = list(&[(0x0239_e800, 0x0239_e9ff), (0x0505_0505, 0x0505_0505)]);
        let mut inbound = prog(L4::Any, PortSet::full(), &[]);
        inbound.src = bad.clone();
        let mut outbound = prog(L4::Tcp, PortSet::range(80, 80), &[]);
        outbound.dst = bad.clone();
        let mut either = prog(L4::Udp, PortSet::full(), &[]);
        either.dst = bad.clone();
        either.bidirectional = true;
        let mut home = prog(L4::Any, PortSet::full(), &[]);
        home.src = list(&[(0x0a00_0000, 0x0aff_ffff), (0xc0a8_0000, 0xc0a8_ffff)]);
        let progs = vec![inbound, outbound, either, home];
        let pf = Prefilter::new(&progs, (0..4).collect()).unwrap();
        let ip = |a: u32| IpAddr::V4(Ipv4Addr::from(a));
        let (listed, other, host) = (ip(0x0239_e901), ip(0x0239_ea00), ip(0xc000_0201));
        let mut s = Scratch::default();
        let mut c = |class, src, dst, dport| {
            pf.candidates(class, Some((src, dst)), 40000, dport, b"", &mut s)
                .to_vec()
        };
        assert_eq!(c(Class::Tcp, listed, host, 22), [0, 3]);
        assert_eq!(c(Class::Tcp, other, host, 22), [3]);
        assert_eq!(c(Class::Tcp, host, listed, 80), [1, 3]);
        assert_eq!(c(Class::Tcp, host, ip(0x0505_0505), 80), [1, 3]);
        assert_eq!(c(Class::Udp, host, listed, 53), [2, 3]);
        assert_eq!(c(Class::Udp, listed, host, 53), [0, 2, 3]);
        assert_eq!(c(Class::Icmp, host, other, 0), [3]);
        // Without addresses every gated program is a candidate.
        assert_eq!(
            pf.candidates(Class::Udp, None, 1, 53, b"", &mut s),
            &[0, 2, 3]
        );
        assert!(pf.describe(0).contains("from its source addresses"));
        assert!(pf.describe(1).contains("to its destination addresses"));
        assert!(pf.describe(2).contains("from or to its listed addresses"));
        assert!(!pf.describe(3).contains("addresses"));
    }

    #[test]
    fn patterns_ports_and_case() {
        let mut response = prog(L4::Tcp, PortSet::full(), &[(b"HTTP/1.1 500", false)]);
        response.src_ports = PortSet::range(80, 80);
        let progs = vec![
            prog(
                L4::Tcp,
                PortSet::full(),
                &[(b"GET", false), (b"passwd", false)],
            ),
            prog(L4::Tcp, PortSet::range(80, 80), &[]),
            prog(L4::Udp, PortSet::full(), &[(b"VERSION", true)]),
            prog(L4::Any, PortSet::full(), &[]),
            prog(L4::Tcp, PortSet::range(8000, 9000), &[]),
            prog(L4::Tcp, PortSet::range(80, 80), &[(b"admin", false)]),
            response,
        ];
        for (strategy, automata) in [
            (Strategy::Grouped, 4),
            (Strategy::OneCaseless, 2),
            (Strategy::TwoAutomata, 2),
        ] {
            let pf = Prefilter::with_strategy(&progs, (0..7).collect(), strategy).unwrap();
            let mut s = Scratch::default();
            // case-sensitive pattern in the wrong case: no hit
            assert_eq!(
                pf.candidates(Class::Tcp, None, 1234, 81, b"GET /etc/PASSWD", &mut s),
                &[3]
            );
            assert_eq!(
                pf.candidates(Class::Tcp, None, 1234, 80, b"GET /etc/passwd", &mut s),
                &[0, 1, 3]
            );
            assert_eq!(
                pf.candidates(Class::Tcp, None, 1234, 81, b"GET /", &mut s),
                &[3]
            );
            assert_eq!(
                pf.candidates(Class::Tcp, None, 1234, 8080, b"x", &mut s),
                &[3, 4]
            );
            assert_eq!(
                pf.candidates(Class::Udp, None, 1, 53, b"version.bind", &mut s),
                &[2, 3]
            );
            assert_eq!(pf.candidates(Class::Icmp, None, 0, 0, b"", &mut s), &[3]);
            // Port-specific patterns: found on their ports by every strategy; only the
            // grouped one does not even scan for them elsewhere.
            assert_eq!(
                pf.candidates(Class::Tcp, None, 1234, 80, b"/admin", &mut s),
                &[1, 3, 5]
            );
            assert_eq!(
                pf.candidates(Class::Tcp, None, 80, 1234, b"HTTP/1.1 500 x", &mut s),
                &[3, 6]
            );
            let elsewhere = pf
                .candidates(Class::Tcp, None, 1234, 81, b"/admin", &mut s)
                .to_vec();
            let response = pf
                .candidates(Class::Tcp, None, 81, 1234, b"HTTP/1.1 500 x", &mut s)
                .to_vec();
            if strategy == Strategy::Grouped {
                assert_eq!((elsewhere, response), (vec![3], vec![3]));
            } else {
                assert_eq!((elsewhere, response), (vec![3, 5], vec![3, 6]));
            }
            assert_eq!(
                pf.stats(),
                PrefilterStats {
                    cs_patterns: 3,
                    ci_patterns: 1,
                    no_pattern: 3,
                    automata
                }
            );
        }
    }
}

//! Address-gated candidates. A rule without a fast pattern is otherwise a candidate for every
//! packet on its ports; for the IP reputation lists of ET Open (`alert ip [2.57.232.0/23,…]
//! any -> $HOME_NET any`, dozens of rules with hundreds of networks each) that made every
//! rule of every list a candidate for every packet, each looked up in its address set. Here
//! such rules are indexed by the addresses of their smaller side: a packet's source and
//! destination each select, with one binary search, the rules whose set holds them.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use verdict_compiler::ir::{Domain, IpSet, RangeSet};

/// A set is gated on when it holds at most this share of the IPv4 space (a /8) and of the
/// IPv6 space (a /8 too): reputation lists, not `$HOME_NET`-sized networks, whose rules would
/// be candidates for most packets anyway.
const MAX_V4: u128 = 1 << 24;
const MAX_V6: u128 = 1 << 120;

/// True if `set` is small enough to gate a rule's candidacy on.
pub(super) fn small(set: &IpSet) -> bool {
    fn size<T: Domain + Into<u128>>(s: &RangeSet<T>) -> u128 {
        s.ranges()
            .iter()
            .map(|&(lo, hi)| (hi.into() - lo.into()).saturating_add(1))
            .fold(0u128, u128::saturating_add)
    }
    !set.is_empty() && size(&set.v4) <= MAX_V4 && size(&set.v6) <= MAX_V6
}

/// Elementary intervals of one address family: `starts[i]..starts[i + 1]` maps to
/// `lists[list[i]]`.
#[derive(Debug, Default)]
struct Intervals<T> {
    starts: Vec<T>,
    list: Vec<u32>,
}

impl<T: Copy + Ord> Intervals<T> {
    fn get(&self, a: T) -> Option<u32> {
        let i = self.starts.partition_point(|s| *s <= a).checked_sub(1)?;
        self.list.get(i).copied()
    }
}

/// Programs by the addresses in their gating sets.
#[derive(Debug, Default)]
pub(super) struct AddrIndex {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
    /// Distinct program lists; entry 0 is the empty list.
    lists: Vec<Vec<u32>>,
    /// Every program indexed, for a lookup without addresses.
    all: Vec<u32>,
}

impl AddrIndex {
    /// Indexes program `p` under the addresses of its set, for each `(set, p)`.
    pub(super) fn build(entries: &[(&IpSet, u32)]) -> AddrIndex {
        let mut lists = vec![Vec::new()];
        let mut ids: HashMap<Vec<u32>, u32> = HashMap::from([(Vec::new(), 0)]);
        let v4 = sweep(
            entries.iter().map(|(s, p)| (s.v4.ranges(), *p)),
            &mut lists,
            &mut ids,
        );
        let v6 = sweep(
            entries.iter().map(|(s, p)| (s.v6.ranges(), *p)),
            &mut lists,
            &mut ids,
        );
        let mut all: Vec<u32> = entries.iter().map(|(_, p)| *p).collect();
        all.sort_unstable();
        all.dedup();
        AddrIndex { v4, v6, lists, all }
    }

    /// The programs whose set holds `a`; every indexed program when `a` is unknown.
    pub(super) fn get(&self, a: Option<IpAddr>) -> &[u32] {
        let id = match a {
            None => return &self.all,
            Some(IpAddr::V4(v)) => self.v4.get(u32::from(v)),
            Some(IpAddr::V6(v)) => self.v6.get(u128::from(v)),
        };
        id.and_then(|i| self.lists.get(i as usize))
            .map_or(&[], Vec::as_slice)
    }

    /// True if no program is indexed.
    pub(super) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// Cuts the domain at every range boundary and records which programs cover each piece.
fn sweep<'a, T: Copy + Ord + Default + Checked + 'a>(
    sets: impl Iterator<Item = (&'a [(T, T)], u32)>,
    lists: &mut Vec<Vec<u32>>,
    ids: &mut HashMap<Vec<u32>, u32>,
) -> Intervals<T> {
    // (address, program, +1 at a range's start / -1 after its end)
    let mut events: Vec<(T, u32, i8)> = Vec::new();
    for (ranges, p) in sets {
        for &(lo, hi) in ranges {
            events.push((lo, p, 1));
            if let Some(after) = hi.succ() {
                events.push((after, p, -1));
            }
        }
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut out = Intervals::default();
    let mut active: BTreeMap<u32, u32> = BTreeMap::new();
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        while let Some(&(a, p, d)) = events.get(i) {
            if a != at {
                break;
            }
            let n = active.entry(p).or_insert(0);
            *n = n.saturating_add_signed(i32::from(d));
            if *n == 0 {
                active.remove(&p);
            }
            i += 1;
        }
        let members: Vec<u32> = active.keys().copied().collect();
        let next = u32::try_from(lists.len()).unwrap_or(u32::MAX);
        let id = *ids.entry(members.clone()).or_insert_with(|| {
            lists.push(members);
            next
        });
        if out.list.last() != Some(&id) {
            out.starts.push(at);
            out.list.push(id);
        }
    }
    out
}

/// The successor of an address, if there is one.
trait Checked: Sized {
    fn succ(self) -> Option<Self>;
}

impl Checked for u32 {
    fn succ(self) -> Option<u32> {
        self.checked_add(1)
    }
}

impl Checked for u128 {
    fn succ(self) -> Option<u128> {
        self.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v4: &[(u32, u32)], v6: &[(u128, u128)]) -> IpSet {
        IpSet {
            v4: RangeSet::from_ranges(v4.to_vec()),
            v6: RangeSet::from_ranges(v6.to_vec()),
        }
    }

    fn v4(a: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(a.into()))
    }

    #[test]
    fn lookup_equals_membership() {
        let a = set(&[(10, 20), (100, 100)], &[(5, 9)]);
        let b = set(&[(15, 30), (u32::MAX - 1, u32::MAX)], &[]);
        let c = set(&[(0, 0)], &[(u128::MAX, u128::MAX)]);
        let idx = AddrIndex::build(&[(&a, 1), (&b, 2), (&c, 3)]);
        for x in [0u32, 1, 9, 10, 14, 15, 20, 21, 30, 31, 99, 100, 101]
            .into_iter()
            .chain([u32::MAX - 2, u32::MAX - 1, u32::MAX])
        {
            let want: Vec<u32> = [(&a, 1), (&b, 2), (&c, 3)]
                .iter()
                .filter(|(s, _)| s.contains(IpAddr::V4(x.into())))
                .map(|(_, p)| *p)
                .collect();
            assert_eq!(idx.get(v4(x)), &want[..], "{x}");
        }
        for x in [0u128, 4, 5, 9, 10, u128::MAX - 1, u128::MAX] {
            let got = idx.get(Some(IpAddr::V6(x.into())));
            let want: Vec<u32> = [(&a, 1), (&c, 3)]
                .iter()
                .filter(|(s, _)| s.contains(IpAddr::V6(x.into())))
                .map(|(_, p)| *p)
                .collect();
            assert_eq!(got, &want[..], "{x}");
        }
        assert_eq!(idx.get(None), &[1, 2, 3]);
    }

    #[test]
    fn only_small_sets_gate() {
        assert!(small(&set(&[(1, 1 << 24)], &[])));
        assert!(!small(&set(&[(0, 1 << 24)], &[])));
        assert!(!small(&set(&[], &[])));
        assert!(!small(&set(&[(0, 0)], &[(0, u128::MAX)])));
    }
}

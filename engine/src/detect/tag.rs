//! `tag` at run time: after a rule with `tag` fires, the packets that follow — of its flow,
//! or from and to one of its hosts — are logged as EVE `packet` records and written to the
//! evidence pcap, as Suricata logs tagged packets (`tagged-packets` and conditional pcap
//! logging).
//!
//! Per worker: one entry per tagged flow and one per tagged host (the kernel's queue
//! balancing keeps a flow, and the packets between two hosts, on one worker; a host tag
//! sees that worker's packets only). A new tag on the same flow or host replaces the
//! running one. The packet that fired is the alert's evidence, not a tagged packet; a
//! packet matching both a flow and a host tag is logged once. At most [`MAX_ENTRIES`]
//! flows and as many hosts are tagged at once: expired entries go first, then new tags
//! are refused (counted).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use verdict_compiler::ir::{Tag, TagMetric, TagScope};

/// Tagged flows (and, separately, hosts) a worker follows at most.
pub const MAX_ENTRIES: usize = 4096;

/// What is left of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    Packets(u32),
    Bytes(u64),
    Until(Duration),
}

/// One running tag: what is left and the rule that set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    left: Left,
    gid: u32,
    sid: u32,
}

impl Active {
    /// Whether the packet (of `len` bytes at `now`) is logged, using up the tag's budget.
    fn take(&mut self, now: Duration, len: usize) -> bool {
        match &mut self.left {
            Left::Packets(n) if *n > 0 => {
                *n -= 1;
                true
            }
            Left::Bytes(b) if *b > 0 => {
                *b = b.saturating_sub(len as u64);
                true
            }
            Left::Until(t) => now <= *t,
            _ => false,
        }
    }

    fn expired(&self, now: Duration) -> bool {
        match self.left {
            Left::Packets(n) => n == 0,
            Left::Bytes(b) => b == 0,
            Left::Until(t) => now > t,
        }
    }
}

/// A worker's running tags.
#[derive(Debug, Default)]
pub struct Tags {
    flows: HashMap<u64, Active>,
    hosts: HashMap<IpAddr, Active>,
    /// Tags refused because the tables were full of live entries.
    pub refused: u64,
}

/// The rule whose tag logged a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHit {
    /// gid of the tagging rule.
    pub gid: u32,
    /// sid of the tagging rule.
    pub sid: u32,
}

impl Tags {
    /// True when nothing is tagged (the per-packet check is skipped).
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty() && self.hosts.is_empty()
    }

    /// Starts `tag` of rule `gid:sid`, which fired at `now` on a packet of flow `flow_id`
    /// from `src` to `dst`.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        tag: &Tag,
        flow_id: u64,
        src: IpAddr,
        dst: IpAddr,
        now: Duration,
        gid: u32,
        sid: u32,
    ) {
        let left = match tag.metric {
            TagMetric::Packets => Left::Packets(tag.count),
            TagMetric::Bytes => Left::Bytes(u64::from(tag.count)),
            TagMetric::Seconds => Left::Until(now + Duration::from_secs(u64::from(tag.count))),
        };
        let a = Active { left, gid, sid };
        let ok = match tag.scope {
            TagScope::Session => insert(&mut self.flows, flow_id, a, now),
            TagScope::HostSrc => insert(&mut self.hosts, src, a, now),
            TagScope::HostDst => insert(&mut self.hosts, dst, a, now),
        };
        if !ok {
            self.refused += 1;
        }
    }

    /// Whether a packet of `len` bytes of flow `flow_id` from `src` to `dst` at `now` is
    /// tagged, and by which rule; used-up tags end here.
    pub fn hit(
        &mut self,
        flow_id: u64,
        src: IpAddr,
        dst: IpAddr,
        now: Duration,
        len: usize,
    ) -> Option<TagHit> {
        let mut hit = None;
        let mut note = |a: &mut Active| {
            if a.take(now, len) && hit.is_none() {
                hit = Some(TagHit {
                    gid: a.gid,
                    sid: a.sid,
                });
            }
            !a.expired(now)
        };
        if let Some(a) = self.flows.get_mut(&flow_id) {
            if !note(a) {
                self.flows.remove(&flow_id);
            }
        }
        for h in [src, dst] {
            if let Some(a) = self.hosts.get_mut(&h) {
                if !note(a) {
                    self.hosts.remove(&h);
                }
            }
        }
        hit
    }
}

fn insert<K: std::hash::Hash + Eq>(
    m: &mut HashMap<K, Active>,
    k: K,
    a: Active,
    now: Duration,
) -> bool {
    if m.len() >= MAX_ENTRIES && !m.contains_key(&k) {
        m.retain(|_, v| !v.expired(now));
        if m.len() >= MAX_ENTRIES {
            return false;
        }
    }
    m.insert(k, a);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::keywords::tag::parse_tag;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 2));
    const C: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 3));
    const T0: Duration = Duration::from_secs(1000);

    #[test]
    fn session_packets_bytes_and_seconds() {
        let mut t = Tags::default();
        t.add(&parse_tag("session,2,packets").unwrap(), 7, A, B, T0, 1, 9);
        assert_eq!(t.hit(8, A, B, T0, 60), None, "another flow");
        assert_eq!(t.hit(7, B, A, T0, 60), Some(TagHit { gid: 1, sid: 9 }));
        assert!(t.hit(7, A, B, T0, 60).is_some());
        assert_eq!(t.hit(7, A, B, T0, 60), None);
        assert!(t.is_empty());
        t.add(&parse_tag("session,100,bytes").unwrap(), 7, A, B, T0, 1, 9);
        assert!(t.hit(7, A, B, T0, 60).is_some() && t.hit(7, A, B, T0, 60).is_some());
        assert_eq!(t.hit(7, A, B, T0, 60), None);
        t.add(&parse_tag("session,2,seconds").unwrap(), 7, A, B, T0, 1, 9);
        assert!(t.hit(7, A, B, T0 + Duration::from_secs(2), 60).is_some());
        assert_eq!(t.hit(7, A, B, T0 + Duration::from_secs(3), 60), None);
        assert!(t.is_empty());
    }

    #[test]
    fn host_scope_follows_one_address_both_ways() {
        let mut t = Tags::default();
        t.add(
            &parse_tag("host,10,packets,src").unwrap(),
            7,
            A,
            B,
            T0,
            1,
            5,
        );
        assert!(t.hit(99, C, A, T0, 60).is_some(), "to the host");
        assert!(t.hit(98, A, C, T0, 60).is_some(), "from the host");
        assert_eq!(t.hit(97, B, C, T0, 60), None);
        let mut t = Tags::default();
        t.add(&parse_tag("host").unwrap(), 7, A, B, T0, 1, 5);
        assert!(t.hit(97, B, C, T0, 60).is_some(), "dst by default");
    }

    #[test]
    fn bounded() {
        let mut t = Tags::default();
        let tag = parse_tag("session,1,packets").unwrap();
        for f in 0..(MAX_ENTRIES as u64 + 10) {
            t.add(&tag, f, A, B, T0, 1, 1);
        }
        assert_eq!(t.refused, 10);
        assert_eq!(t.flows.len(), MAX_ENTRIES);
    }
}

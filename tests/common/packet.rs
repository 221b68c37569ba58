//! Hand-built IPv4/IPv6/TCP/UDP packets, valid or broken on purpose, and a raw link to send
//! them from a namespace (included by path in the tests that craft traffic).
//!
//! etherparse builds valid packets only: it computes lengths and checksums and refuses
//! impossible fields. A hostile-traffic test needs exactly those fields wrong (an IHL of 3, a
//! UDP length past the end, a TCP data offset of 15 on a 20-byte header, a bad checksum,
//! fragments that overlap), so the headers are written here byte by byte, with every field
//! the builder does not override computed the RFC way.
//!
//! [`Link`] sends whole Ethernet frames on an interface through an `AF_PACKET` socket, so a
//! frame reaches the next hop exactly as built: nothing in the sender's IP stack checks,
//! fixes or fragments it. [`Pacer`] and [`Barrier`] keep a flood in step with the engine.
//! The tests that include this file also mount `tests/live` (for `InNs`).

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// Not every test crate mounting this file sends ICMP.
#[allow(unused_imports)]
pub use verdict_engine::wire::proto::{ICMP, ICMPV6, TCP, UDP};
/// TCP flag bits.
pub use verdict_engine::wire::tcp_flags as flags;

/// What to put in a checksum field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csum {
    /// The correct checksum.
    Good,
    /// The correct one plus one: wrong, whatever the data.
    Bad,
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`; each part but the last
/// must have an even length (true of headers and pseudo-headers).
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u64;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn apply(c: u16, how: Csum) -> u16 {
    match how {
        Csum::Good => c,
        Csum::Bad => c.wrapping_add(1),
    }
}

/// The TCP/UDP pseudo-header of RFC 9293 §3.1 / RFC 8200 §8.1.
fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, proto]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => panic!("pseudo-header of mixed address families"),
    }
    p
}

/// A TCP header; [`Tcp::segment`] writes it with its payload.
#[derive(Debug, Clone)]
pub struct Tcp {
    /// source port
    pub sport: u16,
    /// destination port
    pub dport: u16,
    /// sequence number
    pub seq: u32,
    /// acknowledgment number
    pub ack: u32,
    /// flag bits ([`flags`])
    pub flags: u8,
    /// window
    pub window: u16,
    /// option bytes, written as given (padded with zeros to 4 bytes)
    pub options: Vec<u8>,
    /// data offset in 32-bit words; `None`: the real header length
    pub data_offset: Option<u8>,
    /// checksum
    pub csum: Csum,
}

impl Tcp {
    /// A header from `sport` to `dport` with no flags, sequence 0 and a 64240-byte window.
    pub fn new(sport: u16, dport: u16) -> Tcp {
        Tcp {
            sport,
            dport,
            seq: 0,
            ack: 0,
            flags: 0,
            window: 64240,
            options: Vec::new(),
            data_offset: None,
            csum: Csum::Good,
        }
    }
    /// With sequence number `seq`.
    pub fn seq(mut self, seq: u32) -> Tcp {
        self.seq = seq;
        self
    }
    /// With the ACK flag and acknowledgment number `ack`.
    pub fn ack(mut self, ack: u32) -> Tcp {
        self.ack = ack;
        self.flags |= flags::ACK;
        self
    }
    /// With `f` added to the flags.
    pub fn flags(mut self, f: u8) -> Tcp {
        self.flags |= f;
        self
    }
    /// With these option bytes.
    pub fn options(mut self, o: &[u8]) -> Tcp {
        self.options = o.to_vec();
        self
    }
    /// With a data offset field that need not match the header.
    pub fn data_offset(mut self, words: u8) -> Tcp {
        self.data_offset = Some(words);
        self
    }
    /// With a checksum that is right or wrong.
    pub fn csum(mut self, c: Csum) -> Tcp {
        self.csum = c;
        self
    }

    /// The header and `payload`, checksummed for `src` → `dst`.
    pub fn segment(&self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
        let mut opts = self.options.clone();
        opts.resize(opts.len().div_ceil(4) * 4, 0);
        let hlen = 20 + opts.len();
        let doff = self.data_offset.unwrap_or((hlen / 4) as u8);
        let mut s = Vec::with_capacity(hlen + payload.len());
        s.extend_from_slice(&self.sport.to_be_bytes());
        s.extend_from_slice(&self.dport.to_be_bytes());
        s.extend_from_slice(&self.seq.to_be_bytes());
        s.extend_from_slice(&self.ack.to_be_bytes());
        s.push(doff << 4);
        s.push(self.flags);
        s.extend_from_slice(&self.window.to_be_bytes());
        s.extend_from_slice(&[0, 0, 0, 0]);
        s.extend_from_slice(&opts);
        s.extend_from_slice(payload);
        let c = inet_checksum(&[&pseudo_header(src, dst, TCP, s.len()), &s]);
        s[16..18].copy_from_slice(&apply(c, self.csum).to_be_bytes());
        s
    }
}

/// A UDP header; [`Udp::datagram`] writes it with its payload.
#[derive(Debug, Clone)]
pub struct Udp {
    /// source port
    pub sport: u16,
    /// destination port
    pub dport: u16,
    /// length field; `None`: header plus payload
    pub len: Option<u16>,
    /// checksum
    pub csum: Csum,
}

impl Udp {
    /// A header from `sport` to `dport`.
    pub fn new(sport: u16, dport: u16) -> Udp {
        Udp {
            sport,
            dport,
            len: None,
            csum: Csum::Good,
        }
    }
    /// With a length field that need not match the datagram.
    pub fn len(mut self, len: u16) -> Udp {
        self.len = Some(len);
        self
    }
    /// With a checksum that is right or wrong.
    pub fn csum(mut self, c: Csum) -> Udp {
        self.csum = c;
        self
    }

    /// The header and `payload`, checksummed for `src` → `dst` over the bytes present.
    pub fn datagram(&self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
        let real = 8 + payload.len();
        let mut d = Vec::with_capacity(real);
        d.extend_from_slice(&self.sport.to_be_bytes());
        d.extend_from_slice(&self.dport.to_be_bytes());
        d.extend_from_slice(&self.len.unwrap_or(real as u16).to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(payload);
        let c = inet_checksum(&[&pseudo_header(src, dst, UDP, d.len()), &d]);
        // 0 means "no checksum" in UDP over IPv4: a computed 0 is sent as 0xffff (RFC 768).
        let c = apply(if c == 0 { 0xffff } else { c }, self.csum);
        d[6..8].copy_from_slice(&c.to_be_bytes());
        d
    }
}

/// An ICMP (IPv4) or ICMPv6 message: type, code, the 4 bytes after the checksum (echo id and
/// sequence, an error's unused word) and data; [`Icmp::message`] writes it checksummed.
#[derive(Debug, Clone)]
pub struct Icmp {
    /// type
    pub kind: u8,
    /// code
    pub code: u8,
    /// the header's last 4 bytes
    pub rest: [u8; 4],
}

impl Icmp {
    /// A message of `kind`/`code` with a zero second word.
    pub fn new(kind: u8, code: u8) -> Icmp {
        Icmp {
            kind,
            code,
            rest: [0; 4],
        }
    }

    /// The message with `data`: ICMP's checksum covers the message alone, ICMPv6's also the
    /// pseudo-header (RFC 4443 §2.3), so the family follows `src`/`dst`.
    pub fn message(&self, src: IpAddr, dst: IpAddr, data: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + data.len());
        m.extend_from_slice(&[self.kind, self.code, 0, 0]);
        m.extend_from_slice(&self.rest);
        m.extend_from_slice(data);
        let c = match src {
            IpAddr::V4(_) => inet_checksum(&[&m]),
            IpAddr::V6(_) => inet_checksum(&[&pseudo_header(src, dst, ICMPV6, m.len()), &m]),
        };
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }
}

/// An IPv4 header; [`Ipv4::packet`] writes it in front of a transport payload.
#[derive(Debug, Clone)]
pub struct Ipv4 {
    /// source
    pub src: Ipv4Addr,
    /// destination
    pub dst: Ipv4Addr,
    /// TTL
    pub ttl: u8,
    /// identification
    pub id: u16,
    /// don't fragment
    pub df: bool,
    /// more fragments
    pub mf: bool,
    /// fragment offset in 8-byte units
    pub frag_offset: u16,
    /// option bytes (padded with zeros to 4 bytes)
    pub options: Vec<u8>,
    /// IHL field in 32-bit words; `None`: the real header length
    pub ihl: Option<u8>,
    /// total length field; `None`: header plus payload
    pub total_len: Option<u16>,
    /// header checksum
    pub csum: Csum,
}

impl Ipv4 {
    /// A header from `src` to `dst`, TTL 64, not fragmented.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Ipv4 {
        Ipv4 {
            src,
            dst,
            ttl: 64,
            id: 1,
            df: false,
            mf: false,
            frag_offset: 0,
            options: Vec::new(),
            ihl: None,
            total_len: None,
            csum: Csum::Good,
        }
    }

    /// The header for protocol `proto` followed by `payload` (a TCP segment, a UDP datagram,
    /// a fragment of one, or anything).
    pub fn packet(&self, proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut opts = self.options.clone();
        opts.resize(opts.len().div_ceil(4) * 4, 0);
        let hlen = 20 + opts.len();
        let ihl = self.ihl.unwrap_or((hlen / 4) as u8);
        let total = self
            .total_len
            .unwrap_or((hlen + payload.len()).min(usize::from(u16::MAX)) as u16);
        let mut frag = self.frag_offset & 0x1fff;
        if self.df {
            frag |= 0x4000;
        }
        if self.mf {
            frag |= 0x2000;
        }
        let mut p = Vec::with_capacity(hlen + payload.len());
        p.push(0x40 | (ihl & 0x0f));
        p.push(0);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&self.id.to_be_bytes());
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[self.ttl, proto, 0, 0]);
        p.extend_from_slice(&self.src.octets());
        p.extend_from_slice(&self.dst.octets());
        p.extend_from_slice(&opts);
        let c = inet_checksum(&[&p]);
        p[10..12].copy_from_slice(&apply(c, self.csum).to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// Fragments of `proto`'s `payload`, one per `(start, end)` byte range of it (starts must
    /// be multiples of 8; ranges may overlap or leave holes); the fragment holding the
    /// payload's end has MF clear, the others set.
    pub fn fragments(&self, proto: u8, payload: &[u8], pieces: &[(usize, usize)]) -> Vec<Vec<u8>> {
        pieces
            .iter()
            .map(|&(start, end)| {
                assert!(start % 8 == 0, "fragment offsets are in 8-byte units");
                let h = Ipv4 {
                    frag_offset: (start / 8) as u16,
                    mf: end < payload.len(),
                    ..self.clone()
                };
                h.packet(proto, &payload[start..end])
            })
            .collect()
    }
}

/// An IPv6 extension header: its type (the next-header value that announces it) and its
/// bytes after the next-header field.
#[derive(Debug, Clone)]
pub struct Ext {
    /// next-header value that announces this header (0 hop-by-hop, 43 routing, 44 fragment,
    /// 60 destination options)
    pub kind: u8,
    /// the header's bytes after its first (next-header) byte
    pub body: Vec<u8>,
}

impl Ext {
    /// A hop-by-hop (0) or destination options (60) header of 8 bytes holding one PadN.
    pub fn padding(kind: u8) -> Ext {
        // Hdr Ext Len 0 (8 bytes), PadN of 4 data bytes.
        Ext {
            kind,
            body: vec![0, 1, 4, 0, 0, 0, 0],
        }
    }
    /// A routing header of type 4 (segment routing) with no segment left, 8 bytes plus one
    /// address: routers forward it unchanged (RFC 8754 §4.3.3 applies at the destination).
    pub fn routing() -> Ext {
        let mut body = vec![2, 4, 0, 0, 0, 0, 0];
        body.extend_from_slice(&[0u8; 16]);
        Ext { kind: 43, body }
    }
}

/// An IPv6 header with a chain of extension headers; [`Ipv6::packet`] writes it.
#[derive(Debug, Clone)]
pub struct Ipv6 {
    /// source
    pub src: Ipv6Addr,
    /// destination
    pub dst: Ipv6Addr,
    /// hop limit
    pub hop_limit: u8,
    /// extension headers, in order
    pub ext: Vec<Ext>,
    /// payload length field; `None`: the real one
    pub payload_len: Option<u16>,
}

impl Ipv6 {
    /// A header from `src` to `dst`, hop limit 64, no extension header.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Ipv6 {
        Ipv6 {
            src,
            dst,
            hop_limit: 64,
            ext: Vec::new(),
            payload_len: None,
        }
    }

    /// The header, its extension headers, and `payload` announced as `proto`.
    pub fn packet(&self, proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut rest = Vec::new();
        for (i, e) in self.ext.iter().enumerate() {
            rest.push(self.ext.get(i + 1).map_or(proto, |n| n.kind));
            rest.extend_from_slice(&e.body);
        }
        rest.extend_from_slice(payload);
        let first = self.ext.first().map_or(proto, |e| e.kind);
        let len = self.payload_len.unwrap_or(rest.len() as u16);
        let mut p = Vec::with_capacity(40 + rest.len());
        p.extend_from_slice(&[0x60, 0, 0, 0]);
        p.extend_from_slice(&len.to_be_bytes());
        p.push(first);
        p.push(self.hop_limit);
        p.extend_from_slice(&self.src.octets());
        p.extend_from_slice(&self.dst.octets());
        p.extend_from_slice(&rest);
        p
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), for payload noise a failure can replay.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// An interface's MAC address, read inside namespace `ns`.
pub fn mac_of(t: &crate::common::netns::Topology, ns: &str, dev: &str) -> [u8; 6] {
    let out = t.exec_ok(ns, &["cat", &format!("/sys/class/net/{dev}/address")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut mac = [0u8; 6];
    let parts: Vec<u8> = text
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex MAC byte"))
        .collect();
    mac.copy_from_slice(&parts);
    mac
}

/// Drops what each nft match of `matches` selects (`"tcp dport 7399"`) on arrival in
/// namespace `ns`, before conntrack: that host's kernel then answers none of the crafted
/// packets (no RST, no ICMP), so the gateway sees only what the test sends.
pub fn mute(t: &crate::common::netns::Topology, ns: &str, matches: &[&str]) {
    t.exec_ok(ns, &["nft", "add", "table", "inet", "vdmute"]);
    t.exec_ok(
        ns,
        &[
            "nft",
            "add chain inet vdmute pre { type filter hook prerouting priority -300; policy accept; }",
        ],
    );
    for m in matches {
        t.exec_ok(ns, &["nft", &format!("add rule inet vdmute pre {m} drop")]);
    }
}

/// An `AF_PACKET` socket bound to one interface of the calling thread's namespace, sending
/// Ethernet frames from `src` to `dst` (MAC addresses).
pub struct Link {
    sock: socket2::Socket,
    src: [u8; 6],
    dst: [u8; 6],
    frame: Vec<u8>,
}

impl Link {
    /// Opens `dev` in the calling thread's network namespace. Protocol 0: the socket only
    /// sends, it receives nothing.
    pub fn open(dev: &str, src: [u8; 6], dst: [u8; 6]) -> std::io::Result<Link> {
        use socket2::{Domain, SockAddr, SockAddrStorage, Socket, Type};
        let name = std::ffi::CString::new(dev).map_err(std::io::Error::other)?;
        // SAFETY: if_nametoindex reads a NUL-terminated string, which CString guarantees.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)?;
        let mut storage = SockAddrStorage::zeroed();
        let len = std::mem::size_of::<libc::sockaddr_ll>();
        // SAFETY: the storage is larger than and suitably aligned for a sockaddr_ll, and
        // zeroed; the fields written are those of a sockaddr_ll for this interface.
        let addr = unsafe {
            let ll = storage.view_as::<libc::sockaddr_ll>();
            ll.sll_family = libc::AF_PACKET as u16;
            ll.sll_ifindex = ifindex as i32;
            SockAddr::new(storage, len as libc::socklen_t)
        };
        sock.bind(&addr)?;
        Ok(Link {
            sock,
            src,
            dst,
            frame: Vec::with_capacity(1600),
        })
    }

    /// A link on `ns`'s `eth0` of the test topology, towards the gateway's `gw_dev` (`c0` from
    /// cli, `s0` from srv).
    pub fn towards_gw(t: &crate::common::netns::Topology, ns: &str, gw_dev: &str) -> Link {
        use crate::live::InNs;
        let (src, dst) = (mac_of(t, ns, "eth0"), mac_of(t, &t.gw, gw_dev));
        t.in_ns(ns, move || Link::open("eth0", src, dst))
            .join()
            .expect("link thread")
            .expect("AF_PACKET socket")
    }

    /// Sends one L3 packet in an Ethernet frame whose EtherType follows its version nibble
    /// (IPv6 for 6, IPv4 otherwise — a broken version is the packet's business).
    pub fn send(&mut self, l3: &[u8]) -> std::io::Result<()> {
        let ethertype: u16 = if l3.first().is_some_and(|b| b >> 4 == 6) {
            0x86dd
        } else {
            0x0800
        };
        self.frame.clear();
        self.frame.extend_from_slice(&self.dst);
        self.frame.extend_from_slice(&self.src);
        self.frame.extend_from_slice(&ethertype.to_be_bytes());
        self.frame.extend_from_slice(l3);
        let n = self.sock.send(&self.frame)?;
        if n != self.frame.len() {
            return Err(std::io::Error::other(format!(
                "sent {n} of {} bytes",
                self.frame.len()
            )));
        }
        Ok(())
    }
}

/// Keeps a sender from outrunning the engine: reads how many packets wait in the gateway's
/// NFQUEUE (`nfnetlink_queue` of its namespace) so a flood is sent no faster than the worker
/// takes it, rather than overflowing the queue into fail-open.
pub struct Pacer {
    file: std::fs::File,
    queue: u16,
}

impl Pacer {
    /// Where the kernel lists its queues; open it from a thread inside the gateway's
    /// namespace (`/proc/thread-self`: that thread's view), then hand the file to [`Pacer::new`].
    pub const PATH: &'static str = "/proc/thread-self/net/netfilter/nfnetlink_queue";

    /// Paces against `queue`, listed in `file` (opened at [`Pacer::PATH`]).
    pub fn new(file: std::fs::File, queue: u16) -> Pacer {
        Pacer { file, queue }
    }

    /// Packets waiting in the queue for a verdict now.
    pub fn waiting(&mut self) -> u64 {
        use std::io::{Read, Seek};
        let mut text = String::new();
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .and_then(|_| self.file.read_to_string(&mut text))
            .expect("reading nfnetlink_queue");
        verdict_engine::metrics::parse_kernel_queues(&text, &[self.queue])
            .first()
            .map_or(0, |q| q.waiting)
    }

    /// Waits (bounded by `limit`, then panics) until at most `n` packets wait.
    pub fn wait_below(&mut self, n: u64, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        while self.waiting() > n {
            assert!(
                std::time::Instant::now() < deadline,
                "the queue stayed above {n} packets for {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
    }

    /// Sends `pkts` on `link` in bursts of `burst`, each after the queue drained to `burst`
    /// packets; `each` runs after every burst (to sample memory, say).
    pub fn send_all(
        &mut self,
        link: &mut Link,
        pkts: &[Vec<u8>],
        burst: usize,
        mut each: impl FnMut(),
    ) {
        for chunk in pkts.chunks(burst.max(1)) {
            self.wait_below(burst as u64, std::time::Duration::from_secs(20));
            for p in chunk {
                link.send(p).expect("raw send");
            }
            each();
        }
    }
}

/// An ordering point for raw traffic: a numbered UDP datagram sent on a [`Link`] after
/// everything else and awaited at the far end. With one queue (one worker) the gateway keeps
/// order, so once the marker is through, every packet sent before it has had its verdict.
pub struct Barrier {
    rx: std::net::UdpSocket,
    from: std::net::SocketAddr,
    to: std::net::SocketAddr,
    n: u32,
}

impl Barrier {
    /// Markers from `from` to `to` received by a socket bound to `to` inside namespace `ns`.
    pub fn bound_in(
        t: &crate::common::netns::Topology,
        ns: &str,
        from: std::net::SocketAddr,
        to: std::net::SocketAddr,
    ) -> Barrier {
        use crate::live::InNs;
        let rx = t
            .in_ns(ns, move || std::net::UdpSocket::bind(to))
            .join()
            .expect("bind thread")
            .expect("bind the barrier's receiver");
        Barrier::new(rx, from, to)
    }

    /// Markers from `from` to `to`, where `rx` (bound to `to` inside the receiving
    /// namespace) waits for them. The marker port must be queued and match no drop rule.
    pub fn new(
        rx: std::net::UdpSocket,
        from: std::net::SocketAddr,
        to: std::net::SocketAddr,
    ) -> Barrier {
        rx.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .expect("read timeout");
        Barrier { rx, from, to, n: 0 }
    }

    /// The marker datagram number `n`.
    fn marker(&self, n: u32) -> Vec<u8> {
        let payload = format!("barrier {n}");
        let udp = Udp::new(self.from.port(), self.to.port());
        match (self.from.ip(), self.to.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let l4 = udp.datagram(s.into(), d.into(), payload.as_bytes());
                Ipv4::new(s, d).packet(UDP, &l4)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let l4 = udp.datagram(s.into(), d.into(), payload.as_bytes());
                Ipv6::new(s, d).packet(UDP, &l4)
            }
            _ => panic!("barrier across address families"),
        }
    }

    /// Sends the next marker on `link` and waits (bounded by `limit`) until it arrives,
    /// resending it every 500 ms in case the link lost it; returns how many copies were sent
    /// (each one is a packet the gateway may count).
    pub fn pass(&mut self, link: &mut Link, limit: std::time::Duration) -> u64 {
        self.n += 1;
        let want = format!("barrier {}", self.n);
        let pkt = self.marker(self.n);
        let deadline = std::time::Instant::now() + limit;
        let mut buf = [0u8; 64];
        let mut sent = 0;
        loop {
            link.send(&pkt).expect("raw send");
            sent += 1;
            let resend = std::time::Instant::now() + std::time::Duration::from_millis(500);
            while std::time::Instant::now() < resend {
                if let Ok(n) = self.rx.recv(&mut buf) {
                    if buf[..n] == *want.as_bytes() {
                        return sent;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{want} did not cross the gateway within {limit:?}"
            );
        }
    }
}

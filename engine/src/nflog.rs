//! NFLOG listener: alerts of rules the kernel enforces itself.
//!
//! Kernel rules log with `log prefix "sid:N " group G`; this module binds group G over
//! netfilter netlink (no libnetfilter_log needed: the protocol is a handful of attributes) and
//! hands each logged packet — its prefix, the L3 bytes and the input interface — to a
//! callback, which turns it into an alert for the same output writer the queue workers use.
//! The group is configured to deliver every packet at once (queue threshold 1), so an alert is
//! not held back for a second by the kernel's batching default.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NFNL_SUBSYS_ULOG: u16 = 4;
const NFULNL_MSG_PACKET: u16 = 0;
const NFULNL_MSG_CONFIG: u16 = 1;
const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULA_CFG_QTHRESH: u16 = 5;
const NFULNL_CFG_CMD_BIND: u8 = 1;
const NFULNL_CFG_CMD_UNBIND: u8 = 2;
const NFULNL_COPY_PACKET: u8 = 2;
const NFULA_IFINDEX_INDEV: u16 = 4;
const NFULA_PAYLOAD: u16 = 9;
const NFULA_PREFIX: u16 = 10;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// One packet the kernel logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The log prefix (`sid:N ` for verdict's kernel rules).
    pub prefix: String,
    /// The L3 packet.
    pub payload: Vec<u8>,
    /// Input interface index (0 if none).
    pub in_ifindex: u32,
}

impl Logged {
    /// The sid in a `sid:N` prefix.
    pub fn sid(&self) -> Option<u32> {
        self.prefix.trim().strip_prefix("sid:")?.trim().parse().ok()
    }
}

/// A socket bound to one NFLOG group.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    group: u16,
    buf: Vec<u8>,
}

impl Listener {
    /// Binds NFLOG group `group`, copying whole packets; `poll` bounds how long
    /// [`Listener::recv`] blocks, so a caller can check a stop flag.
    pub fn bind(group: u16, poll: Duration) -> io::Result<Listener> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh, valid fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; zero is its "any" value.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: sa is a valid sockaddr_nl of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: poll.as_secs() as libc::time_t,
            tv_usec: poll.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: tv is a valid timeval of the given size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut l = Listener {
            fd,
            group,
            buf: vec![0; 0x20000],
        };
        l.config(&attr(NFULA_CFG_CMD, &[NFULNL_CFG_CMD_BIND]))?;
        let mut mode = 0xffffu32.to_be_bytes().to_vec();
        mode.extend([NFULNL_COPY_PACKET, 0]);
        l.config(&attr(NFULA_CFG_MODE, &mode))?;
        l.config(&attr(NFULA_CFG_QTHRESH, &1u32.to_be_bytes()))?;
        Ok(l)
    }

    fn config(&mut self, attrs: &[u8]) -> io::Result<()> {
        let msg = message(
            (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
            (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16,
            self.group,
            attrs,
        );
        // SAFETY: msg is a valid buffer; the kernel is the default destination of a netlink
        // socket bound with pid 0 groups 0.
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // Wait for the ack (an NLMSG_ERROR carrying 0, or the error).
        loop {
            let n = self.recv_raw()?;
            let mut off = 0;
            while let Some((typ, body, next)) = next_msg(&self.buf[..n], off) {
                off = next;
                if typ == NLMSG_ERROR {
                    let err = body
                        .get(..4)
                        .map(|b| i32::from_ne_bytes(b.try_into().unwrap()));
                    return match err {
                        Some(0) => Ok(()),
                        Some(e) => Err(io::Error::from_raw_os_error(-e)),
                        None => Err(io::Error::other("short netlink error message")),
                    };
                }
            }
        }
    }

    fn recv_raw(&mut self) -> io::Result<usize> {
        // SAFETY: buf is a valid writable buffer of its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Receives what is available (waiting at most the poll interval) and calls `f` for each
    /// logged packet. Returns the number of packets; a timeout is `Ok(0)`.
    pub fn recv(&mut self, mut f: impl FnMut(Logged)) -> io::Result<usize> {
        let n = match self.recv_raw() {
            Ok(n) => n,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) => {
                return Ok(0)
            }
            Err(e) => return Err(e),
        };
        let mut count = 0;
        let mut off = 0;
        while let Some((typ, body, next)) = next_msg(&self.buf[..n], off) {
            off = next;
            if typ == NLMSG_DONE || typ == NLMSG_ERROR {
                continue;
            }
            if typ != (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET || body.len() < NFGENMSG_LEN {
                continue;
            }
            let mut logged = Logged {
                prefix: String::new(),
                payload: Vec::new(),
                in_ifindex: 0,
            };
            for (t, data) in attrs(&body[NFGENMSG_LEN..]) {
                match t {
                    NFULA_PREFIX => {
                        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                        logged.prefix = String::from_utf8_lossy(&data[..end]).into_owned();
                    }
                    NFULA_PAYLOAD => logged.payload = data.to_vec(),
                    NFULA_IFINDEX_INDEV if data.len() >= 4 => {
                        logged.in_ifindex = u32::from_be_bytes(data[..4].try_into().unwrap());
                    }
                    _ => {}
                }
            }
            count += 1;
            f(logged);
        }
        Ok(count)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let msg = message(
            (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
            libc::NLM_F_REQUEST as u16,
            self.group,
            &attr(NFULA_CFG_CMD, &[NFULNL_CFG_CMD_UNBIND]),
        );
        // SAFETY: as in `config`; best effort, the kernel also unbinds when the socket closes.
        unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink attribute, padded.
fn attr(typ: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut v = Vec::with_capacity(align4(len));
    v.extend((len as u16).to_ne_bytes());
    v.extend(typ.to_ne_bytes());
    v.extend(data);
    v.resize(align4(len), 0);
    v
}

/// nlmsghdr + nfgenmsg (family unspecified, version 0, res_id = group, big endian) + attrs.
fn message(typ: u16, flags: u16, group: u16, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len();
    let mut v = Vec::with_capacity(len);
    v.extend((len as u32).to_ne_bytes());
    v.extend(typ.to_ne_bytes());
    v.extend(flags.to_ne_bytes());
    v.extend(0u32.to_ne_bytes()); // seq
    v.extend(0u32.to_ne_bytes()); // pid: the kernel
    v.extend([libc::AF_UNSPEC as u8, 0]);
    v.extend(group.to_be_bytes());
    v.extend(attrs);
    v
}

/// The message at `off`: (type, body after the header, offset of the next message).
fn next_msg(buf: &[u8], off: usize) -> Option<(u16, &[u8], usize)> {
    let hdr = buf.get(off..off + NLMSG_HDRLEN)?;
    let len = u32::from_ne_bytes(hdr[0..4].try_into().unwrap()) as usize;
    let typ = u16::from_ne_bytes(hdr[4..6].try_into().unwrap());
    if len < NLMSG_HDRLEN {
        return None;
    }
    let body = buf.get(off + NLMSG_HDRLEN..off + len)?;
    Some((typ, body, off + align4(len)))
}

/// Iterates the attributes of a message body; stops at the first malformed one.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let typ = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let data = &b[4..len];
        b = &b[align4(len).min(b.len())..];
        Some((typ, data))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_message_parses_and_truncation_is_safe() {
        let mut body = Vec::new();
        body.extend(attr(NFULA_PREFIX, b"sid:2100498 \0"));
        body.extend(attr(NFULA_IFINDEX_INDEV, &7u32.to_be_bytes()));
        body.extend(attr(NFULA_PAYLOAD, &[0x45, 0, 0, 20]));
        let msg = message((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET, 0, 5, &body);
        let (typ, b, next) = next_msg(&msg, 0).unwrap();
        assert_eq!(typ, (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET);
        assert_eq!(next, msg.len());
        let got: Vec<_> = attrs(&b[NFGENMSG_LEN..]).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (NFULA_PAYLOAD, &[0x45u8, 0, 0, 20][..]));
        for cut in 0..msg.len() {
            if let Some((_, b, _)) = next_msg(&msg[..cut], 0) {
                let _ = attrs(b.get(NFGENMSG_LEN..).unwrap_or(&[])).count();
            }
        }
        let l = Logged {
            prefix: "sid:2100498 ".into(),
            payload: vec![],
            in_ifindex: 0,
        };
        assert_eq!(l.sid(), Some(2100498));
    }
}

//! Scratch directories, pcap writing and generated TCP conversations for the replay tests
//! (included by path, so only the tests that replay captures compile it; each uses a part).
#![allow(dead_code)]

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A temporary directory removed when dropped.
pub struct Dir(pub PathBuf);
impl Dir {
    /// A fresh directory named after the test `tag` and the process.
    pub fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("verdict-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    /// Writes `text` to `name` in the directory.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes Ethernet `frames` as a pcap, one second apart.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::with_header(
        f,
        PcapHeader {
            datalink: DataLink::ETHERNET,
            ..Default::default()
        },
    )
    .unwrap();
    for (i, fr) in frames.iter().enumerate() {
        let ts = Duration::from_secs(1_700_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, fr.len() as u32, fr))
            .unwrap();
    }
}

/// Client and server of the generated conversations (documentation ranges).
pub const CLI: [u8; 4] = [192, 0, 2, 7];
/// The server side.
pub const SRV: [u8; 4] = [198, 51, 100, 7];

/// One TCP segment with the ACK flag (and SYN when `syn`).
pub fn seg(
    to_server: bool,
    sp: u16,
    dp: u16,
    seq: u32,
    ack: u32,
    syn: bool,
    data: &[u8],
) -> Vec<u8> {
    let (src, dst, s, d) = if to_server {
        (CLI, SRV, sp, dp)
    } else {
        (SRV, CLI, dp, sp)
    };
    let mut b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(s, d, seq, 64240);
    if syn {
        b = b.syn();
    }
    if ack != 0 {
        b = b.ack(ack);
    }
    let mut v = Vec::new();
    b.write(&mut v, data).unwrap();
    v
}

/// An Ethernet frame with one UDP datagram from the client's port `sp` to the server's `dp`.
pub fn udp(sp: u16, dp: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(CLI, SRV, 64)
        .udp(sp, dp)
        .write(&mut v, data)
        .unwrap();
    v
}

/// A whole conversation on `dp`: the handshake, each (client side?, bytes) in turn with
/// correct sequence and acknowledgment numbers, then a bare ACK of the last one.
pub fn conversation(sp: u16, dp: u16, turns: &[(bool, &[u8])]) -> Vec<Vec<u8>> {
    let (mut c, mut s) = (1000u32, 5000u32);
    let mut v = vec![
        seg(true, sp, dp, c, 0, true, b""),
        seg(false, sp, dp, s, c + 1, true, b""),
    ];
    c += 1;
    s += 1;
    v.push(seg(true, sp, dp, c, s, false, b""));
    let mut last_client = true;
    for &(client, data) in turns {
        if client {
            v.push(seg(true, sp, dp, c, s, false, data));
            c += data.len() as u32;
        } else {
            v.push(seg(false, sp, dp, s, c, false, data));
            s += data.len() as u32;
        }
        last_client = client;
    }
    if last_client {
        v.push(seg(false, sp, dp, s, c, false, b""));
    } else {
        v.push(seg(true, sp, dp, c, s, false, b""));
    }
    v
}

/// Replays `frames` with `rules` (inline when `ips`) and returns the alerts' sids, sorted.
pub fn replay_alerts(tag: &str, rules: &str, frames: &[Vec<u8>], ips: bool) -> Vec<u64> {
    let d = Dir::new(tag);
    let pcap = d.0.join("c.pcap");
    write_pcap(&pcap, frames);
    let r = d.file("t.rules", rules);
    let out = d.0.join("out");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"));
    cmd.arg("replay")
        .arg(&pcap)
        .arg("-r")
        .arg(&r)
        .arg("-o")
        .arg(&out);
    if ips {
        cmd.arg("--simulate-ips");
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut sids: Vec<u64> = std::fs::read_to_string(out.join("eve.json"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event_type"] == "alert")
        .map(|v| v["alert"]["signature_id"].as_u64().unwrap())
        .collect();
    sids.sort_unstable();
    sids
}

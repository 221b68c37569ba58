//! Acceptance: the http-evader captures (odd but browser-accepted responses carrying the
//! EICAR test file) must decode to the bytes a browser sees. For each case the GET
//! transaction's response body must contain both EICAR fragments and the file name must be
//! what Suricata's fileinfo reports (from the case's test.yaml).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use verdict_engine::app::http::{Dir, HttpConfig, HttpConn};

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/cases/evader/http-evader"
);

type Key = (std::net::IpAddr, u16, std::net::IpAddr, u16);

struct Half {
    syn_seq: Option<u32>,
    segs: Vec<(u32, Vec<u8>)>,
    client: bool,
}

/// Each direction's payload in sequence order (sorted, duplicates and overlaps dropped).
fn streams(pcap: &Path) -> (Vec<u8>, Vec<u8>) {
    let file = std::fs::File::open(pcap).unwrap();
    let mut reader = PcapReader::new(file).unwrap();
    let mut halves: HashMap<Key, Half> = HashMap::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        let Ok(s) = SlicedPacket::from_ethernet(&pkt.data) else {
            continue;
        };
        let (src, dst) = match &s.net {
            Some(NetSlice::Ipv4(v4)) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(v6)) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &s.transport else {
            continue;
        };
        let key = (src, tcp.source_port(), dst, tcp.destination_port());
        let h = halves.entry(key).or_insert(Half {
            syn_seq: None,
            segs: Vec::new(),
            client: false,
        });
        if tcp.syn() {
            h.syn_seq = Some(tcp.sequence_number());
            h.client |= !tcp.ack();
        }
        if !tcp.payload().is_empty() {
            h.segs.push((tcp.sequence_number(), tcp.payload().to_vec()));
        }
    }
    let mut client = Vec::new();
    let mut server = Vec::new();
    for (key, mut h) in halves {
        let base = match h.syn_seq {
            Some(s) => s.wrapping_add(1),
            None => h.segs.iter().map(|s| s.0).min().unwrap_or(0),
        };
        h.segs.sort_by_key(|(seq, _)| seq.wrapping_sub(base));
        let mut out: Vec<u8> = Vec::new();
        for (seq, data) in &h.segs {
            let off = seq.wrapping_sub(base) as usize;
            if off + data.len() <= out.len() || off > out.len() {
                continue; // duplicate, or a hole (none expected in these captures)
            }
            out.extend_from_slice(&data[out.len() - off..]);
        }
        if h.client || (h.syn_seq.is_none() && key.3 == 80) {
            client = out;
        } else {
            server = out;
        }
    }
    (client, server)
}

fn expected_filename(case: &Path) -> Option<String> {
    let yaml = std::fs::read_to_string(case.join("test.yaml")).ok()?;
    yaml.lines().find_map(|l| {
        l.trim()
            .strip_prefix("fileinfo.filename:")
            .map(|v| v.trim().to_string())
    })
}

fn check(case: &Path) -> Result<(), String> {
    let (req, resp) = streams(&case.join("input.pcap"));
    if req.is_empty() || resp.is_empty() {
        return Err("no payload".into());
    }
    let mut conn = HttpConn::new(&HttpConfig::default());
    conn.feed(Dir::ToServer, &req);
    conn.feed(Dir::ToClient, &resp);
    conn.close(Dir::ToServer);
    conn.close(Dir::ToClient);
    let tx = conn
        .txs()
        .find(|t| t.method() == Some(b"GET"))
        .ok_or("no GET transaction")?;
    let body = tx.file_data(Dir::ToClient).unwrap_or_default();
    for needle in [&b"X5O!P%@AP[4"[..], b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"] {
        if memchr::memmem::find(body, needle).is_none() {
            return Err(format!(
                "body lacks {:?}; body {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&body[..body.len().min(120)])
            ));
        }
    }
    let name = tx.filename().ok_or("no filename")?;
    if let Some(want) = expected_filename(case) {
        if name != want.as_bytes() {
            return Err(format!(
                "filename {:?}, want {want:?}",
                String::from_utf8_lossy(name)
            ));
        }
    }
    Ok(())
}

#[test]
fn http_evader_cases_decode_like_a_browser() {
    let dir = PathBuf::from(CASES);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("http-evader cases missing at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.pcap").exists())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no http-evader cases under {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = check(case) {
            failures.push(format!(
                "{}: {e}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let passed = cases.len() - failures.len();
    println!("http-evader: {passed}/{} cases pass", cases.len());
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(
        passed * 100 >= cases.len() * 95,
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

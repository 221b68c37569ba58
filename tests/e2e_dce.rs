//! DCE/RPC through the gateway: `verdict run` on gw with a drop rule on `dce_iface` and
//! `dce_opnum`; a client in cli binds the srvsvc interface on a server in srv (port 135)
//! over a real TCP connection and sends requests. The request for the listed operation is
//! dropped before the server reads it (the client gets no response), another operation on
//! the same interface passes, as does the same operation on another interface. Root only;
//! every wait is bounded.

mod common;
mod live;

use common::netns::{Topology, SRV4};
use live::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use verdict_engine::app::dcerpc::pdu::Enc;

const SRVSVC: &str = "4b324fc8-1670-01d3-1278-5a47bf6ee188";
const WINREG: &str = "338cd001-2244-31f1-aaaa-900038001003";
const LE: Enc = Enc { big: false };
const PORT: u16 = 135;

/// Reads one connection-oriented PDU (little-endian fragment length at 8..10).
fn read_pdu(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut pdu = vec![0u8; 16];
    s.read_exact(&mut pdu)?;
    let len = usize::from(u16::from_le_bytes([pdu[8], pdu[9]])).max(16);
    pdu.resize(len, 0);
    s.read_exact(&mut pdu[16..])?;
    Ok(pdu)
}

/// Serves `conns` connections, each on its own thread: answers a BIND with a BIND_ACK
/// that accepts every context, a REQUEST with a RESPONSE; returns the opnums of the
/// requests it read, in the order of the connections.
fn server(listener: TcpListener, conns: usize) -> Vec<u16> {
    let mut handlers = Vec::new();
    for _ in 0..conns {
        let Ok((mut s, _)) = listener.accept() else {
            break;
        };
        handlers.push(std::thread::spawn(move || {
            let mut seen = Vec::new();
            let _ = s.set_read_timeout(Some(Duration::from_secs(8)));
            while let Ok(pdu) = read_pdu(&mut s) {
                let call = u32::from_le_bytes([pdu[12], pdu[13], pdu[14], pdu[15]]);
                let reply = match pdu[2] {
                    11 => LE.bind_ack(call, &[true; 1]),
                    0 => {
                        seen.push(u16::from_le_bytes([pdu[22], pdu[23]]));
                        LE.co(2, 0x03, call, b"\x02\x00\x00\x00\x00\x00\x00\x00ok")
                    }
                    _ => continue,
                };
                if s.write_all(&reply).is_err() {
                    break;
                }
            }
            seen
        }));
    }
    handlers
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect()
}

/// One association from cli: bind `iface` as context 0, send a request for `opnum`;
/// whether the response came back.
fn call(t: &Topology, iface: &'static str, opnum: u16) -> bool {
    t.in_ns(&t.cli, move || {
        let Ok(mut s) = TcpStream::connect_timeout(
            &format!("{SRV4}:{PORT}").parse().unwrap(),
            Duration::from_secs(3),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        s.write_all(&LE.bind(1, &[(0, iface, 3)])).unwrap();
        if !read_pdu(&mut s).is_ok_and(|ack| ack[2] == 12) {
            return false;
        }
        s.write_all(&LE.request(2, 0x03, 0, opnum, b"\x00\x00\x02\x00\\\\host\0"))
            .unwrap();
        read_pdu(&mut s).is_ok_and(|r| r[2] == 2 && r.ends_with(b"ok"))
    })
    .join()
    .unwrap()
}

#[test]
fn a_listed_dce_operation_is_dropped_and_others_pass() {
    require_netns!();
    let t = Topology::with_prefix("hdce");
    let e = Engine::start(
        &t,
        "dce",
        &format!(
            "drop tcp any any -> any {PORT} (msg:\"srvsvc NetrShareEnum\"; \
             flow:established,to_server; dce_iface:{SRVSVC}; dce_opnum:15; \
             dce_stub_data; content:\"|5c 5c|\"; sid:1020301; rev:1;)\n"
        ),
        &[],
    );
    let listener = t
        .in_ns(&t.srv, || TcpListener::bind((SRV4, PORT)).unwrap())
        .join()
        .unwrap();
    let srv = std::thread::spawn(move || server(listener, 3));
    assert!(call(&t, SRVSVC, 16), "another srvsvc operation must pass");
    assert!(!call(&t, SRVSVC, 15), "NetrShareEnum got an answer");
    assert!(call(&t, WINREG, 15), "opnum 15 of winreg must pass");
    let seen = srv.join().unwrap();
    assert_eq!(seen, vec![16, 15], "the server read a dropped request");
    let alerts = e.alerts(1020301, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "dcerpc");
    assert_eq!(alerts[0]["dcerpc"]["req"]["opnum"], 15);
    assert_eq!(alerts[0]["dcerpc"]["interface"]["uuid"], SRVSVC);
}

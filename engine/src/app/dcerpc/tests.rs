use super::pdu::Enc;
use super::*;
use proptest::prelude::*;

const SRVSVC: &str = "4b324fc8-1670-01d3-1278-5a47bf6ee188";
const WINREG: &str = "338cd001-2244-31f1-aaaa-900038001003";
const LE: Enc = Enc { big: false };
const BE: Enc = Enc { big: true };

fn text_uuid(t: &str) -> [u8; 16] {
    verdict_compiler::keywords::dce::parse_uuid(t).unwrap()
}

/// Binds srvsvc (context 0, accepted) and winreg (context 1, rejected).
fn bound(e: Enc) -> DceConn {
    let mut c = DceConn::new();
    assert!(c
        .feed(true, &e.bind(1, &[(0, SRVSVC, 3), (1, WINREG, 1)]))
        .is_empty());
    assert!(c.feed(false, &e.bind_ack(1, &[true, false])).is_empty());
    c
}

#[test]
fn bind_then_request_names_the_interface() {
    for e in [LE, BE] {
        let mut c = bound(e);
        let ids = c.feed(true, &e.request(2, 0x03, 0, 15, b"\x01\x00\x00\x00stub"));
        let tx = c.tx(ids[0]).unwrap();
        assert_eq!(tx.iface(), Some((text_uuid(SRVSVC), 3)));
        assert_eq!(tx.opnum(), 15);
        assert_eq!(tx.stub(), b"\x01\x00\x00\x00stub");
        assert_eq!(tx.big_endian(), e.big);
        assert!(tx.first_frag() && tx.complete());
        // The rejected context names no interface.
        let ids = c.feed(true, &e.request(3, 0x03, 1, 24, b""));
        assert_eq!(c.tx(ids[0]).unwrap().iface(), None);
    }
}

#[test]
fn pdus_split_across_and_packed_within_segments() {
    let mut all = LE.bind(1, &[(0, SRVSVC, 3)]);
    let ack = LE.bind_ack(1, &[true]);
    let mut c = DceConn::new();
    // Byte by byte.
    for b in all.chunks(1) {
        c.feed(true, b);
    }
    c.feed(false, &ack);
    let req = LE.request(2, 0x03, 0, 15, b"abcdefgh");
    let mut ids = Vec::new();
    for b in req.chunks(5) {
        ids.extend(c.feed(true, b));
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(c.tx(ids[0]).unwrap().stub(), b"abcdefgh");
    // A bind and two requests in one segment.
    all.extend(LE.request(2, 0x03, 0, 15, b"one"));
    all.extend(LE.request(3, 0x03, 0, 16, b"two"));
    let mut c = DceConn::new();
    c.feed(false, &[]);
    let ids = c.feed(true, &all);
    assert_eq!(ids.len(), 2);
    assert_eq!(c.tx(ids[1]).unwrap().opnum(), 16);
}

#[test]
fn fragmented_request_reassembles_its_stub() {
    let mut c = bound(LE);
    let a = c.feed(true, &LE.request(9, 0x01, 0, 15, b"first-"));
    assert!(!c.tx(a[0]).unwrap().complete());
    let b = c.feed(true, &LE.request(9, 0x00, 0, 15, b"middle-"));
    let z = c.feed(true, &LE.request(9, 0x02, 0, 15, b"last"));
    assert_eq!(a, b);
    assert_eq!(a, z);
    let tx = c.tx(a[0]).unwrap();
    assert_eq!(tx.stub(), b"first-middle-last");
    assert!(tx.complete() && tx.first_frag());
    assert_eq!(tx.frags(), 3);
    assert_eq!(tx.iface(), Some((text_uuid(SRVSVC), 3)));
}

#[test]
fn responses_are_skipped_and_junk_stops_the_direction() {
    let mut c = bound(LE);
    // A RESPONSE (type 2) from the server, then another bind ack still parses.
    c.feed(false, &LE.co(2, 0x03, 2, &[0u8; 300]));
    c.feed(true, &LE.bind(4, &[(5, WINREG, 1)]));
    c.feed(false, &LE.bind_ack(4, &[true]));
    let ids = c.feed(true, &LE.request(5, 0x03, 5, 24, b""));
    assert_eq!(c.tx(ids[0]).unwrap().iface(), Some((text_uuid(WINREG), 1)));
    c.feed(true, b"GET / HTTP/1.1\r\n\r\n");
    assert!(c.feed(true, &LE.request(6, 0x03, 5, 24, b"")).is_empty());
}

#[test]
fn auth_trailer_and_object_uuid_are_not_stub() {
    let mut c = bound(LE);
    let mut body = Vec::new();
    body.extend_from_slice(&4u32.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&7u16.to_le_bytes());
    body.extend_from_slice(&[0xaa; 16]);
    body.extend_from_slice(b"STUB");
    body.extend_from_slice(&[0u8; 8]);
    body.extend_from_slice(b"SIGNATUR");
    let mut pdu = LE.co(0, 0x83, 3, &body);
    pdu[10] = 8; // auth_length
    let ids = c.feed(true, &pdu);
    let tx = c.tx(ids[0]).unwrap();
    assert_eq!((tx.opnum(), tx.stub()), (7, &b"STUB"[..]));
}

#[test]
fn connectionless_requests() {
    for e in [LE, BE] {
        let d = e.cl_request(SRVSVC, 1, 9, 0, true, b"body");
        let tx = parse_cl_request(&d).unwrap();
        assert_eq!(tx.iface(), Some((text_uuid(SRVSVC), 1)));
        assert_eq!((tx.opnum(), tx.stub()), (9, &b"body"[..]));
        assert!(tx.first_frag() && tx.complete() && tx.big_endian() == e.big);
        let later = parse_cl_request(&e.cl_request(SRVSVC, 1, 9, 2, true, b"x")).unwrap();
        assert!(!later.first_frag() && later.complete());
        let first = parse_cl_request(&e.cl_request(SRVSVC, 1, 9, 0, false, b"x")).unwrap();
        assert!(first.first_frag() && !first.complete());
    }
    // Truncated body, wrong version, a response type.
    let d = LE.cl_request(SRVSVC, 1, 9, 0, true, b"body");
    assert!(parse_cl_request(&d[..d.len() - 1]).is_none());
    let mut v = d.clone();
    v[0] = 5;
    assert!(parse_cl_request(&v).is_none());
    v[0] = 4;
    v[1] = 2;
    assert!(parse_cl_request(&v).is_none());
}

#[test]
fn probe_by_content() {
    let bind = LE.bind(1, &[(0, SRVSVC, 3)]);
    assert_eq!(probe_co(&bind, true), Some(true));
    assert_eq!(probe_co(&bind[..6], true), None);
    assert_eq!(probe_co(&bind, false), Some(false));
    assert_eq!(probe_co(&LE.bind_ack(1, &[true]), false), Some(true));
    assert_eq!(probe_co(b"GET / HTTP/1.1\r\n", true), Some(false));
    assert_eq!(probe_co(b"\x05\x07", true), Some(false));
}

#[test]
fn bounded_requests_and_stub() {
    let mut c = bound(LE);
    for call in 0..(MAX_TXS as u32 + 5) {
        c.feed(true, &LE.request(call, 0x03, 0, 1, b""));
    }
    assert_eq!(c.txs().count(), MAX_TXS);
    let chunk = vec![0x41u8; 60_000];
    let ids = c.feed(true, &LE.request(99, 0x01, 0, 1, &chunk));
    for _ in 0..6 {
        c.feed(true, &LE.request(99, 0x00, 0, 1, &chunk));
    }
    assert_eq!(c.tx(ids[0]).unwrap().stub().len(), MAX_STUB);
    // Calls in progress share the budget; a complete one's stub goes with the next bytes.
    let mut c = bound(LE);
    let a = c.feed(true, &LE.request(1, 0x01, 0, 1, &chunk));
    for _ in 0..3 {
        c.feed(true, &LE.request(1, 0x00, 0, 1, &chunk));
    }
    let b = c.feed(true, &LE.request(2, 0x01, 0, 1, &chunk));
    let used = |c: &DceConn| c.txs().map(|t| t.stub().len()).sum::<usize>();
    assert_eq!(used(&c), MAX_STUB);
    assert_eq!(c.tx(b[0]).unwrap().stub().len(), MAX_STUB - 240_000);
    c.feed(true, &LE.request(1, 0x02, 0, 1, b"end"));
    assert!(c.tx(a[0]).unwrap().complete());
    c.feed(true, &LE.request(2, 0x00, 0, 1, &chunk));
    assert_eq!(c.tx(a[0]).unwrap().stub().len(), 0);
    assert_eq!(
        c.tx(b[0]).unwrap().stub().len(),
        MAX_STUB - 240_000 + 60_000
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)), 0..20),
        prefix in any::<bool>(),
    ) {
        let mut c = DceConn::new();
        if prefix {
            c.feed(true, &LE.bind(1, &[(0, SRVSVC, 3)]));
            c.feed(false, &LE.bind_ack(1, &[true]));
        }
        for (to_server, bytes) in &chunks {
            // Make most chunks start like a PDU header so the parsers get exercised.
            let mut b = bytes.clone();
            if b.len() > 3 {
                b[0] = 5;
                b[1] = 0;
            }
            c.feed(*to_server, &b);
            let _ = parse_cl_request(bytes);
        }
        prop_assert!(c.txs().count() <= MAX_TXS);
        prop_assert!(c.txs().all(|t| t.stub().len() <= MAX_STUB));
    }
}

#[test]
fn alter_context_adds_an_interface() {
    let mut c = bound(LE);
    // ALTER_CONTEXT (14) and its response (15) carry a bind's and a bind_ack's body.
    let alter = LE.co(14, 0x03, 7, &LE.bind(7, &[(2, WINREG, 1)])[16..]);
    let resp = LE.co(15, 0x03, 7, &LE.bind_ack(7, &[true])[16..]);
    c.feed(true, &alter);
    // Before the server's answer the context names no interface.
    let early = c.feed(true, &LE.request(8, 0x03, 2, 24, b""));
    assert_eq!(c.tx(early[0]).unwrap().iface(), None);
    c.feed(false, &resp);
    let ids = c.feed(true, &LE.request(9, 0x03, 2, 24, b""));
    assert_eq!(c.tx(ids[0]).unwrap().iface(), Some((text_uuid(WINREG), 1)));
    // The contexts of the first bind are still there.
    let ids = c.feed(true, &LE.request(10, 0x03, 0, 15, b""));
    assert_eq!(c.tx(ids[0]).unwrap().iface(), Some((text_uuid(SRVSVC), 3)));
}

#[test]
fn bind_ack_results_follow_the_padded_secondary_address() {
    for e in [LE, BE] {
        // A secondary address of 6 bytes ("49155\0") ends at 32: no padding; one of 2
        // bytes ends at 28: none either; 3 bytes ends at 29: 3 bytes of padding.
        for port in [&b"49155\0"[..], b"9\0", b"99\0"] {
            let ok = |v: u16| {
                if e.big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let mut b = vec![0u8; 8];
            b.extend_from_slice(&ok(port.len() as u16));
            b.extend_from_slice(port);
            while !(16 + b.len()).is_multiple_of(4) {
                b.push(0);
            }
            b.extend_from_slice(&[2, 0, 0, 0]);
            for result in [2u16, 0] {
                b.extend_from_slice(&ok(result));
                b.extend_from_slice(&[0u8; 22]);
            }
            let mut c = DceConn::new();
            c.feed(true, &e.bind(1, &[(0, SRVSVC, 3), (1, WINREG, 1)]));
            c.feed(false, &e.co(12, 0x03, 1, &b));
            let a = c.feed(true, &e.request(2, 0x03, 0, 1, b""));
            let b = c.feed(true, &e.request(3, 0x03, 1, 1, b""));
            assert_eq!(c.tx(a[0]).unwrap().iface(), None, "{port:?}");
            assert_eq!(
                c.tx(b[0]).unwrap().iface(),
                Some((text_uuid(WINREG), 1)),
                "{port:?}"
            );
        }
    }
}

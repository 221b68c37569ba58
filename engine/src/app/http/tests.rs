//! Connection-level tests: buffers on literal messages, framing, decoding, splits.

use super::*;
use verdict_compiler::ir::AppBuffer as A;

fn conn() -> HttpConn {
    HttpConn::new(&HttpConfig::default())
}

fn exchange(req: &[u8], resp: &[u8]) -> HttpConn {
    let mut c = conn();
    c.feed(Dir::ToServer, req);
    c.feed(Dir::ToClient, resp);
    c
}

#[test]
fn smoke() {
    let c = exchange(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"hi"[..]));
    assert!(tx.response_complete());
}

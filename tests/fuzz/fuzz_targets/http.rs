//! One HTTP/1.x connection's two streams, cut and interleaved by the input, through the
//! incremental parser (requests, responses, chunked and compressed bodies, files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_engine::app::http::{Dir, HttpConfig, HttpConn};

fuzz_target!(|data: &[u8]| {
    let mut conn = HttpConn::new(&HttpConfig::default());
    for (to_server, piece) in verdict_fuzz::pieces(data) {
        let dir = if to_server {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        // An empty piece stands for a gap of one byte: loss in the middle of a message.
        if piece.is_empty() {
            let _ = conn.gap(dir, 1);
        } else {
            let _ = conn.feed(dir, piece);
        }
    }
    let _ = conn.close(Dir::ToServer);
    let _ = conn.close(Dir::ToClient);
});

//! DNS: the input as one UDP message, and as the two streams of a DNS-over-TCP connection
//! (length-prefixed messages cut anywhere).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_engine::app::dns::{parse, DnsTcp};

fuzz_target!(|data: &[u8]| {
    let _ = parse(data);
    let mut tcp = DnsTcp::new();
    for (to_server, piece) in verdict_fuzz::pieces(data) {
        let _ = tcp.feed(to_server, piece);
    }
});

//! One TLS connection's two streams, cut and interleaved by the input: records, handshake
//! messages across records, hellos, certificates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_engine::app::tls::{TlsConfig, TlsConn};

fuzz_target!(|data: &[u8]| {
    let mut conn = TlsConn::new(&TlsConfig::default());
    for (to_server, piece) in verdict_fuzz::pieces(data) {
        let _ = conn.feed(to_server, piece);
    }
});

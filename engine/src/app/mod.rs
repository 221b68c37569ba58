//! Application-layer parsers that run on reassembled, in-order stream bytes and fill the
//! per-transaction sticky buffers rules inspect (Suricata's `http.*`, `file.data`, ...).

pub mod dns;
pub mod ftp;
pub mod http;
pub mod smtp;
pub mod sources;
pub mod ssh;
pub mod tls;

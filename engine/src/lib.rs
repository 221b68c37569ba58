//! # verdict-engine
//!
//! The packet half of verdict. Every packet, live from NFQUEUE or from a pcap, goes through
//! the same [`detect::Worker::inspect`]: wire parse → flow table → multi-pattern prefilter →
//! bytecode VM → [`verdict::Verdict`]. Outputs (EVE JSON, fast.log, pcap evidence) are written
//! off the hot path through crossbeam channels.
//!
//! ```text
//! RuleSetImage ──Detector::new──▶ Arc<Detector> ──▶ Worker::inspect(&mut [u8], &PacketMeta) ─▶ Verdict
//!                                                        │ Event (alerts, drops)
//!                                                        ▼
//!                                   output::Writer (eve.json, fast.log, evidence.pcap)
//! ```
//!
//! The main types:
//! - [`detect::Detector`]: the compiled, immutable rule set (programs, pcre2 regexes with JIT
//!   and match limits, prefilter automata, port tables); share it with `Arc`.
//! - [`detect::Worker`]: one per thread; owns its flow table, scratch buffers, thresholds and
//!   [`detect::Counters`].
//! - [`output::Writer`]: the alert writer thread; [`replay::Replayer`] drives a worker from
//!   capture files.
//! - [`wire`]: zero-copy packet views, checksum rewriting, fragment reassembly, link layers.
//!
//! ## Example
//!
//! Rule text in, verdict out (the same path `verdict run` and `verdict replay` take):
//!
//! ```
//! use std::sync::Arc;
//! use verdict_compiler::check::{load_str, LoadOptions};
//! use verdict_compiler::codegen::{compile, CompileOptions};
//! use verdict_engine::detect::{DetectConfig, Detector, PacketMeta, Worker};
//! use verdict_engine::output::Event;
//! use verdict_engine::verdict::Verdict;
//!
//! let rules = r#"drop udp any any -> any 53 (msg:"bad query"; content:"evil"; sid:1; rev:1;)"#;
//! let (_, loaded) = load_str("example.rules", rules, &LoadOptions::default());
//! let image = compile(&loaded.rules, &CompileOptions { image_all: true, ..Default::default() }).image;
//! let det = Arc::new(Detector::new(&image, &DetectConfig { inline: true, ..Default::default() })?);
//! let (events, alerts) = crossbeam_channel::bounded(1024);
//! let mut worker = Worker::new(det, events);
//!
//! let mut pkt = Vec::new();
//! etherparse::PacketBuilder::ipv4([192, 0, 2, 2], [198, 51, 100, 2], 64)
//!     .udp(5000, 53)
//!     .write(&mut pkt, b"an evil query")?;
//! let v = worker.inspect(&mut pkt, &PacketMeta::at(std::time::SystemTime::now()));
//! assert_eq!(v.sid().map(|s| s.0), Some(1));
//! assert!(matches!(v, Verdict::Drop(_)));
//! assert!(matches!(alerts.try_recv(), Ok(Event::Alert(a)) if a.blocked));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod app;
pub mod bypass;
pub mod detect;
pub mod exception;
pub mod flow;
pub mod output;
pub mod prefilter;
pub mod replay;
pub mod session;
pub mod stream;
pub mod verdict;
pub mod vm;
pub mod wire;

pub mod active;
pub mod block;
pub mod control;
pub mod metrics;
pub mod nflog;
pub mod nfq;
pub mod ops;
pub mod respond;
pub mod run;
pub mod scan;

/// The tests' shared skip rules (one mount for every unit test module that needs them).
#[cfg(test)]
#[path = "../../tests/common/must_run.rs"]
pub(crate) mod must_run;

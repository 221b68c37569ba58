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

pub mod detect;
pub mod flow;
pub mod output;
pub mod prefilter;
pub mod replay;
pub mod verdict;
pub mod vm;
pub mod wire;

pub mod nflog;
pub mod nfq;
pub mod respond;
pub mod run;

//! # verdict-compiler
//!
//! The pure half of verdict: Snort 2.9 / Snort 3 / Suricata rule text in, typed rules and
//! compiled outputs out. Nothing here touches the kernel.
//!
//! Pipeline: [`parse`] (pest grammar in `grammar/rules.pest`, AST with spans) → [`lower`]
//! (typed [`ir::Rule`], variables resolved) → [`classify`] (kernel / queue / rejected) →
//! [`kernel`] plan for the nft back end and [`bytecode`] for the engine.

pub mod ast;
pub mod bytecode;
pub mod canon;
pub mod caps;
pub mod check;
pub mod classify;
pub mod codegen;
pub mod diag;
pub mod disasm;
pub mod dns_names;
pub mod fwsnort;
pub mod ir;
pub mod kernel;
pub mod keywords;
pub mod lower;
pub mod parse;
pub mod prefilter;
pub mod report;
pub mod steer;
pub mod vars;
pub mod xt;

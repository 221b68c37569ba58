//! # verdict-nft
//!
//! The nftables back end. [`render`] turns the compiler's kernel plan and queue steering into
//! verdict's own `table inet verdict` (readable nft text and nftables JSON); [`apply`] loads it
//! atomically (`nft -c` then one `nft -f` transaction), probes which queue mechanism the kernel
//! has, and removes only verdict's own table.
//! [`lists`] turns long address lists into named interval sets of that table.
//! [`block`] keeps the block sets (timed address blocks) in their own table, which outlives
//! the engine.

pub mod apply;
pub mod block;
pub mod lists;
pub mod prefilter;
pub mod render;
mod xt_string;

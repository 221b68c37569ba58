//! (render: owned by the compiler back-end work, issue 4)
//!
//! Placeholder on h-live until h-back lands: only the queue mechanism enum that
//! [`crate::apply::probe`] reports. The real module replaces this file on merge.

/// How packets are steered to NFQUEUE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueMechanism {
    /// nft's own `queue` statement (needs CONFIG_NFT_QUEUE).
    NftQueue,
    /// The xt NFQUEUE target through iptables-nft.
    XtNfqueue,
}

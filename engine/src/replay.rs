//! Offline replay (in progress).

//! (live path: owned by the NFQUEUE/live engine work, issue 5)

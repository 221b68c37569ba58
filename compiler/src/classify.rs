//! (back end: owned by the compiler back-end work, issue 4)

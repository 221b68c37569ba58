//! Helpers shared by the root package's integration tests.

pub mod must_run;
pub mod netns;

//! One module per subcommand: its clap `Args` and a `run` returning the exit code.

pub mod block;
pub mod check;
pub mod compile;
pub mod config_check;
pub mod explain;
pub mod explain_sid;
pub mod live;
pub mod ops;
pub mod replay;
pub mod run;
pub mod stats;
pub mod top;

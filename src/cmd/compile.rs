//! `verdict compile` (not implemented yet).

/// Arguments of `verdict compile`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `verdict compile`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("verdict compile is not implemented yet")
}

//! `verdict check` (not implemented yet).

/// Arguments of `verdict check`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `verdict check`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("verdict check is not implemented yet")
}

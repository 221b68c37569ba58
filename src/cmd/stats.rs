//! `verdict stats` (not implemented yet).

/// Arguments of `verdict stats`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `verdict stats`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("verdict stats is not implemented yet")
}

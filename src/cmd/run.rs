//! `verdict run` (not implemented yet).

/// Arguments of `verdict run`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `verdict run`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("verdict run is not implemented yet")
}

//! `verdict replay` (not implemented yet).

/// Arguments of `verdict replay`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `verdict replay`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("verdict replay is not implemented yet")
}

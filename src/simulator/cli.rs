//! `vppbridge sim`. (Skeleton.)

use std::process::ExitCode;

/// Arguments of `vppbridge sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {}

/// Runs the simulator until Ctrl-C.
///
/// # Errors
/// When it cannot start.
pub async fn run(_args: SimArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

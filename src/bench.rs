//! `vppbridge bench`. (Skeleton.)

use std::process::ExitCode;

/// Arguments of `vppbridge bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {}

/// `vppbridge bench`.
///
/// # Errors
/// When a benchmark cannot run.
pub async fn run(_args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

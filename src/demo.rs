//! `vppbridge demo`. (Skeleton.)

use std::path::Path;
use std::process::ExitCode;

/// Arguments of `vppbridge demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Leave everything running after the scenario.
    #[arg(long)]
    pub keep_running: bool,
}

/// `vppbridge demo`.
///
/// # Errors
/// When the demo cannot start.
pub async fn run(_config: Option<&Path>, _args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

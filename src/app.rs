//! The `serve` process: the receiver and the worker in one process, sharing one NATS
//! connection and one shutdown token. (Skeleton.)

use std::path::Path;
use std::process::ExitCode;

/// Arguments of `vppbridge serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Run only the receiver.
    #[arg(long, conflicts_with = "no_receiver")]
    pub no_worker: bool,
    /// Run only the worker.
    #[arg(long)]
    pub no_receiver: bool,
}

/// `vppbridge serve`.
///
/// # Errors
/// When start-up fails.
pub async fn serve_command(_config: Option<&Path>, _args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

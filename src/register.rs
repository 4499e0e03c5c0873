//! `vppbridge register`: Client Config registration. (Skeleton.)

use std::path::Path;
use std::process::ExitCode;

/// Arguments of `vppbridge register`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegisterArgs {
    /// The location to register.
    #[arg(long)]
    pub location: String,
    /// Take the location over from another MDM.
    #[arg(long)]
    pub take_over: bool,
}

/// `vppbridge register`.
///
/// # Errors
/// When registration fails.
pub async fn run(_config: Option<&Path>, _args: RegisterArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

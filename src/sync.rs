//! Full and incremental syncs against Apple. (Skeleton.)

use std::path::Path;
use std::process::ExitCode;

/// Arguments of `vppbridge sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// The location to sync.
    #[arg(long)]
    pub location: String,
    /// Read everything instead of the changes since the last sync.
    #[arg(long)]
    pub full: bool,
}

/// `vppbridge sync`.
///
/// # Errors
/// When the sync fails.
pub async fn run(_config: Option<&Path>, _args: SyncArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

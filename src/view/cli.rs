//! `vppbridge resume`, `assignments` and `status`. (Skeleton.)

use std::path::Path;
use std::process::ExitCode;

/// Arguments of `vppbridge resume`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// The location to resume.
    #[arg(long)]
    pub location: String,
}

/// Arguments of `vppbridge assignments`.
#[derive(Debug, Clone, clap::Args)]
pub struct AssignmentsArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// Only this asset.
    #[arg(long)]
    pub adam_id: Option<String>,
    /// Only this device.
    #[arg(long)]
    pub serial: Option<String>,
    /// Only this user.
    #[arg(long)]
    pub user: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `vppbridge status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `vppbridge resume`.
///
/// # Errors
/// When the state cannot be updated.
pub async fn resume(_config: Option<&Path>, _args: ResumeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

/// `vppbridge assignments`.
///
/// # Errors
/// When the view cannot be read.
pub async fn assignments(
    _config: Option<&Path>,
    _args: AssignmentsArgs,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

/// `vppbridge status`.
///
/// # Errors
/// When the state cannot be read.
pub async fn status(_config: Option<&Path>, _args: StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

//! JSON Schemas (2020-12) generated from the event types. (Skeleton.)

use std::path::Path;
use std::process::ExitCode;

/// `vppbridge schemas write DIR`.
///
/// # Errors
/// When a file cannot be written.
pub fn write_command(_dir: &Path) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

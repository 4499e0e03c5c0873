//! Notification secrets: the shared secret Apple sends back as `Authorization: Bearer`.
//! (Skeleton: the receiver issue fills it in.)

use std::path::Path;
use std::process::ExitCode;

/// `vppbridge secret new PATH`.
///
/// # Errors
/// When the file cannot be written.
pub fn new_command(_path: &Path, _force: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

//! NATS connection and JetStream set-up (streams and key-value buckets). (Skeleton.)

use std::path::Path;
use std::process::ExitCode;

/// `vppbridge nats setup`.
///
/// # Errors
/// When NATS cannot be reached or has no JetStream.
pub async fn setup_command(_config: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

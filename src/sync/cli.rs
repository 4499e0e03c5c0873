//! `vppbridge sync`: one sync of one location from the command line, with progress and a
//! summary.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{Progress, SyncKind, sync};
use crate::worker::location::Location;

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
/// When the configuration, NATS or the location cannot be loaded, or the sync fails.
pub async fn run(config: Option<&Path>, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    let Some(lc) = config.locations.iter().find(|l| l.id == args.location) else {
        anyhow::bail!(
            "location `{}` is not in the configuration (known: {})",
            args.location,
            config
                .locations
                .iter()
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let client = async_nats::connect(&config.nats.url)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", config.nats.url))?;
    let js = async_nats::jetstream::new(client);
    let metrics = crate::metrics::Metrics::new();
    let view = crate::view::View::open(&js).await?;
    let applier = crate::changes::Applier::new(
        view,
        crate::changes::Publisher::new(js.clone(), metrics.clone()),
    );
    let mdm_id = (!config.mdm.id.is_empty()).then(|| config.mdm.id.clone());
    let loc = Location::open(
        lc,
        &config.apple,
        mdm_id,
        applier,
        metrics,
        config.sync.users_active_only,
    )
    .await?;
    let kind = if args.full {
        SyncKind::Full
    } else {
        SyncKind::Incremental
    };
    let summary = sync(&loc, kind, &Progress::for_terminal()).await?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

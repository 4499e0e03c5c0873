//! `vppbridge sync`: one sync of one location from the command line, with progress and a
//! summary.

use std::path::Path;
use std::process::ExitCode;

use super::{Progress, SyncKind, sync};
use crate::location::Location;

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
    let js = async_nats::jetstream::new(crate::nats::connect(&config.nats).await?);
    let metrics = crate::metrics::Metrics::new();
    let view = crate::view::View::open(&js).await?;
    let applier = crate::changes::Applier::new(
        view,
        crate::changes::ChangePublisher::new(js.clone(), metrics.clone()),
    );
    let mdm_id = Some(crate::nats::state::mdm_id(&js, &config.mdm.id).await?);
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

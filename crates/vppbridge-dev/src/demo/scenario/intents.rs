//! How the demo acts as an MDM that says what it wants rather than calling Apple: `vppbridge
//! assign|unassign --location ID --file F` (the library function the command runs, on the
//! demo's configuration file) and `vppbridge intents` (the listing), polled with a deadline.

use std::path::PathBuf;

use anyhow::Context as _;
use tokio::time::Instant;

use super::{Ctx, INTENTS_DEADLINE, STATUS_POLL};
use crate::demo::report::StepProgress;
use vppbridge::events::intents::{Desired, IntentState};
use vppbridge::intents::cli::{DesireArgs, IntentRow, desire_command, list};
use vppbridge::intents::store::Store;

impl Ctx<'_> {
    /// Writes `lines` (intent-file JSON objects) to `<name>.jsonl` beside the configuration and
    /// runs `vppbridge assign` (or `unassign`) on it. Returns the file.
    pub(super) async fn desire(
        &self,
        name: &str,
        lines: &[serde_json::Value],
        desired: Desired,
    ) -> anyhow::Result<PathBuf> {
        let env = self.env;
        let dir = env
            .config_path
            .parent()
            .context("the demo's configuration has no folder")?;
        let file = dir.join(format!("{name}.jsonl"));
        let mut text = String::new();
        for l in lines {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
        let args = DesireArgs {
            location: env.location.clone(),
            file: Some(file.clone()),
            adam_id: None,
            pricing_param: "STDQ".to_owned(),
            serial: Vec::new(),
            user: Vec::new(),
            metadata: None,
        };
        desire_command(Some(&env.config_path), args, desired)
            .await
            .with_context(|| format!("vppbridge {} --file {}", desired.as_str(), file.display()))?;
        Ok(file)
    }

    /// Polls `vppbridge intents` until `done` holds for the rows `keep` selects, showing the
    /// applied count; returns those rows.
    ///
    /// # Errors
    /// When NATS fails, or `done` still does not hold after [`INTENTS_DEADLINE`].
    pub(super) async fn wait_intents(
        &self,
        progress: &StepProgress,
        keep: impl Fn(&IntentRow) -> bool,
        done: impl Fn(&[IntentRow]) -> bool,
    ) -> anyhow::Result<Vec<IntentRow>> {
        let store = Store::open(&self.env.js).await?;
        let until = Instant::now() + INTENTS_DEADLINE;
        loop {
            let rows: Vec<IntentRow> = list(&store, &self.env.location, None)
                .await?
                .into_iter()
                .filter(|r| keep(r))
                .collect();
            let applied = count(&rows, IntentState::Applied);
            progress.progress(applied, rows.len(), "intents applied");
            if done(&rows) {
                return Ok(rows);
            }
            anyhow::ensure!(
                Instant::now() < until,
                "the intents did not reach the expected states within {} s: {}",
                INTENTS_DEADLINE.as_secs(),
                states(&rows)
            );
            tokio::time::sleep(STATUS_POLL).await;
        }
    }
}

/// Rows in `state`.
pub(super) fn count(rows: &[IntentRow], state: IntentState) -> usize {
    rows.iter().filter(|r| r.state == state).count()
}

/// `N applied, M waiting...` for the states present.
pub(super) fn states(rows: &[IntentRow]) -> String {
    [
        IntentState::Pending,
        IntentState::Submitted,
        IntentState::Applied,
        IntentState::Waiting,
        IntentState::Failed,
    ]
    .into_iter()
    .filter_map(|s| {
        let n = count(rows, s);
        (n > 0).then(|| format!("{n} {}", s.as_str()))
    })
    .collect::<Vec<_>>()
    .join(", ")
}

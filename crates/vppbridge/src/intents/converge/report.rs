//! The converger's metrics: intents by state per location (set at each pass), intents that
//! became `failed` by error number, and the time from an intent's first request to `applied`.

use chrono::{DateTime, Utc};

use super::Converger;
use crate::events::intents::{IntentRecord, IntentState};
use crate::intents::plan::{self, Snapshot};
use crate::metrics::{LocError, LocState};

impl Converger {
    /// Sets `vppbridge_intents{location,state}` from a snapshot.
    pub(super) fn report_states(&self, snap: &Snapshot) {
        for (state, n) in plan::states(snap) {
            self.loc
                .metrics
                .intents
                .get_or_create(&LocState {
                    location: self.loc.id.clone(),
                    state: state.as_str().to_owned(),
                })
                .set(n);
        }
    }

    /// Counts a key that has just changed state to `rec.state`.
    pub(super) fn report_outcome(&self, rec: &IntentRecord, now: DateTime<Utc>) {
        let m = &self.loc.metrics;
        match rec.state {
            IntentState::Failed => {
                m.intents_failed
                    .get_or_create(&LocError {
                        location: self.loc.id.clone(),
                        error_number: rec.error_number.unwrap_or(0).to_string(),
                    })
                    .inc();
            }
            IntentState::Applied => {
                if let Some(at) = rec.submitted_at {
                    let secs = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
                    m.intent_apply_duration.observe(secs);
                }
            }
            _ => {}
        }
    }
}

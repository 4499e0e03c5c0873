//! Outcomes heard in ASSET_MANAGEMENT notifications, matched by `eventId`.
//!
//! A reader per location follows `vpp.notifications.<location>.asset_management` in
//! `VPP_NOTIFICATIONS` (an ordered consumer: nothing acknowledged, the worker's own durable
//! consumer is untouched) and gathers, per `eventId`, the outcome of every pair the pieces name
//! (Apple splits an event's notifications at 100 pairs, successes and each error apart): a
//! success is `applied`, a failure Apple's error. A request is settled by them once every pair
//! it carries has been named; until then Event Status answers, by Apple's timing.
//!
//! Nothing here needs to be durable: the reader starts at the oldest open request's creation
//! (the stream keeps the notifications), so a restart hears the same pieces again. A repeated
//! piece (Apple delivers up to three times) names the same pairs: the sum is a set per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::outcome::End;
use crate::events::notification::{AssetManagementData, Outcome};
use crate::intents::{Pair, Target};
use crate::nats::NOTIFICATIONS_STREAM;

/// How long the pieces of an event no open request asked about are kept (another client's
/// writes, or a request already settled otherwise).
const KEEP: Duration = Duration::from_secs(3600);

/// What the pieces of one event said so far.
#[derive(Debug, Default)]
struct Heard {
    /// When the last piece came.
    at: Option<Instant>,
    /// Each pair named, with its outcome.
    pairs: HashMap<Pair, End>,
}

/// The outcomes heard so far, by `eventId`.
#[derive(Debug, Clone, Default)]
pub(super) struct Notes {
    by_event: Arc<Mutex<HashMap<String, Heard>>>,
}

impl Notes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Heard>> {
        // A panic while holding the lock leaves a map that is still consistent (every change is
        // one insert): keep using it.
        self.by_event.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the reader of `location`'s ASSET_MANAGEMENT notifications from `since`.
    pub(super) fn spawn(
        js: jetstream::Context,
        location: String,
        since: DateTime<Utc>,
        shutdown: CancellationToken,
    ) -> Notes {
        let notes = Notes::default();
        tokio::spawn(read(js, location, since, notes.clone(), shutdown));
        notes
    }

    /// The outcome of every pair of `pairs` under `event_id`, once the pieces heard name them
    /// all.
    pub(super) fn outcome(&self, event_id: &str, pairs: &[Pair]) -> Option<Vec<End>> {
        let map = self.lock();
        let heard = map.get(event_id)?;
        pairs.iter().map(|p| heard.pairs.get(p).cloned()).collect()
    }

    /// Forgets an event once its request is settled, and the events nobody asked about for
    /// [`KEEP`].
    pub(super) fn forget(&self, event_id: &str) {
        let mut map = self.lock();
        map.remove(event_id);
        map.retain(|_, h| h.at.is_none_or(|at| at.elapsed() < KEEP));
    }

    /// Records one notification's pairs.
    fn hear(&self, data: AssetManagementData) {
        let end = match (data.result, data.error) {
            (Outcome::Success, _) => End::Applied,
            (Outcome::Failure, Some(e)) => End::Error(e.error_number, e.error_message),
            // A failure without Apple's error says nothing usable: Event Status will.
            (Outcome::Failure, None) => return,
        };
        let mut map = self.lock();
        let heard = map.entry(data.event_id).or_default();
        heard.at = Some(Instant::now());
        for a in data.assignments {
            let target = match (a.serial_number, a.client_user_id) {
                (Some(s), _) => Target::Serial(s),
                (None, Some(u)) => Target::User(u),
                (None, None) => continue,
            };
            let pair = Pair {
                adam_id: a.adam_id,
                pricing_param: a.pricing_param,
                target,
            };
            heard.pairs.insert(pair, end.clone());
        }
    }
}

/// Follows the location's ASSET_MANAGEMENT notifications until `shutdown`, starting again
/// after the last one heard when the consumer fails.
async fn read(
    js: jetstream::Context,
    location: String,
    mut since: DateTime<Utc>,
    notes: Notes,
    shutdown: CancellationToken,
) {
    let subject = crate::ingest::subject_for(&location, "asset_management");
    loop {
        match follow(&js, &subject, &mut since, &notes, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(location, error = %e, "intents: reading ASSET_MANAGEMENT notifications failed; starting again (Event Status answers meanwhile)");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One consumer's life: Ok on shutdown, the error otherwise.
async fn follow(
    js: &jetstream::Context,
    subject: &str,
    since: &mut DateTime<Utc>,
    notes: &Notes,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let stream = js.get_stream(NOTIFICATIONS_STREAM).await?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: *since },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let m = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            m = messages.next() => m,
        };
        let Some(m) = m else {
            anyhow::bail!("the consumer ended");
        };
        let m = m?;
        if let Ok(info) = m.info() {
            *since = info.published;
        }
        let data = serde_json::from_slice::<serde_json::Value>(&m.payload)
            .ok()
            .and_then(|mut v| serde_json::from_value(v["data"].take()).ok());
        if let Some(data) = data {
            notes.hear(data);
        }
    }
}

//! Notification bodies and the load client: Apple-like delivery, up to three tries each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use super::{SECRET, eventually};

/// One notification to deliver: its `notificationId` and Apple's envelope.
#[derive(Debug, Clone)]
pub struct Note {
    /// `notificationId`.
    pub id: String,
    /// The body.
    pub body: Vec<u8>,
}

/// An ASSET_MANAGEMENT associate-success notification for `adam_id` on `serials`, from the
/// associate call `event_id`.
pub fn associate_note(u_id: &str, adam_id: &str, serials: &[&str], event_id: &str) -> Note {
    let id = uuid::Uuid::new_v4().to_string();
    let assignments: Vec<Value> = serials
        .iter()
        .map(|s| json!({"adamId": adam_id, "pricingParam": "STDQ", "serialNumber": s}))
        .collect();
    let body = json!({
        "notificationId": id,
        "notificationType": "ASSET_MANAGEMENT",
        "uId": u_id,
        "notification": {
            "type": "ASSOCIATE",
            "result": "SUCCESS",
            "eventId": event_id,
            "assignments": assignments,
        },
    });
    Note {
        id,
        body: serde_json::to_vec(&body).expect("JSON serialises"),
    }
}

/// A TEST_NOTIFICATION.
pub fn test_note(u_id: &str) -> Note {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "notificationId": id,
        "notificationType": "TEST_NOTIFICATION",
        "uId": u_id,
        "notification": {},
    });
    Note {
        id,
        body: serde_json::to_vec(&body).expect("JSON serialises"),
    }
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Every `notificationId` posted.
    pub posted: BTreeSet<String>,
    /// The ones answered 200 (at some try).
    pub accepted: BTreeSet<String>,
    /// Answers by status (0: no answer: connection refused or reset).
    pub statuses: BTreeMap<u16, usize>,
}

/// How the load client behaves.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Tries per notification (Apple: 3).
    pub tries: u32,
    /// Wait between tries (Apple: minutes; here short).
    pub retry_delay: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            concurrency: 32,
            tries: 3,
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// Counters a running load updates as answers arrive.
#[derive(Debug, Default)]
pub struct Progress {
    accepted: AtomicUsize,
    failed: AtomicUsize,
}

/// A load running in the background (see [`Load::spawn`]).
pub struct Load {
    progress: Arc<Progress>,
    task: tokio::task::JoinHandle<LoadReport>,
}

impl Load {
    /// Posts every note to `url` with [`SECRET`], `concurrency` at a time, each up to `tries`
    /// times until a 2xx, like Apple: a 503, another non-2xx or no answer at all (connection
    /// refused or reset) counts as a failed try.
    pub fn spawn(url: &str, notes: Vec<Note>, opts: LoadOptions) -> Load {
        let progress = Arc::new(Progress::default());
        let task = tokio::spawn(run_load(url.to_owned(), notes, opts, progress.clone()));
        Load { progress, task }
    }

    /// Notifications answered 200 so far.
    pub fn accepted(&self) -> usize {
        self.progress.accepted.load(Ordering::Relaxed)
    }

    /// Failed tries so far.
    pub fn failed(&self) -> usize {
        self.progress.failed.load(Ordering::Relaxed)
    }

    /// Waits until `count` notifications were answered 200.
    pub async fn wait_accepted(&self, count: usize) {
        eventually(
            Duration::from_secs(60),
            "notifications accepted",
            || async { (self.accepted() >= count).then_some(()) },
        )
        .await;
    }

    /// Waits until `count` tries failed (the fault is visible to the senders).
    pub async fn wait_failed(&self, count: usize) {
        eventually(Duration::from_secs(60), "tries failing", || async {
            (self.failed() >= count).then_some(())
        })
        .await;
    }

    /// Waits for every notification's last try.
    pub async fn finish(self) -> LoadReport {
        self.task.await.expect("the load task does not panic")
    }
}

/// [`Load::spawn`] and [`Load::finish`] in one.
pub async fn deliver(url: &str, notes: Vec<Note>, opts: LoadOptions) -> LoadReport {
    Load::spawn(url, notes, opts).finish().await
}

async fn run_load(
    url: String,
    notes: Vec<Note>,
    opts: LoadOptions,
    progress: Arc<Progress>,
) -> LoadReport {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut report = LoadReport::default();
    let results = futures::stream::iter(notes)
        .map(|note| {
            let (http, url, progress) = (http.clone(), url.as_str(), progress.clone());
            async move {
                let mut statuses = Vec::new();
                for attempt in 1..=opts.tries {
                    let status = http
                        .post(url)
                        .bearer_auth(SECRET)
                        .header("content-type", "application/json")
                        .body(note.body.clone())
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    statuses.push(status);
                    if status == 200 {
                        progress.accepted.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    if attempt < opts.tries {
                        tokio::time::sleep(opts.retry_delay).await;
                    }
                }
                (note.id, statuses)
            }
        })
        .buffer_unordered(opts.concurrency)
        .collect::<Vec<_>>()
        .await;
    for (id, statuses) in results {
        if statuses.last() == Some(&200) {
            report.accepted.insert(id.clone());
        }
        for s in statuses {
            *report.statuses.entry(s).or_default() += 1;
        }
        report.posted.insert(id);
    }
    report
}

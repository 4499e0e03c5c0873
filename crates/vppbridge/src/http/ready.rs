//! [`Watched`]: the publisher as the handlers see it. Publishes pass through; a failed one is
//! remembered so that `/readyz` probes afresh instead of trusting a recent success.
//!
//! `/readyz` asks the publisher's own probe (for JetStream: connected, and every stream answers
//! its info request, which needs the stream's leader) with a deadline of [`PROBE_TIMEOUT`]. A
//! success is trusted for [`READY_CACHE`] unless a publish has failed since the probe began, so a
//! burst of probes costs one round of requests a second and a failing store is reported at the
//! next probe. A failure is never cached: the next probe asks again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::publish::{NotificationPublishError, NotificationPublisher, Published};

/// Longest wait for the publisher's readiness probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a successful probe is trusted while no publish fails.
pub const READY_CACHE: Duration = Duration::from_secs(1);

/// A publisher plus what recent publishes and probes said.
pub(super) struct Watched {
    inner: Arc<dyn NotificationPublisher>,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// When the last successful probe started.
    probe_ok: Option<Instant>,
    /// When the last publish failed.
    failed: Option<Instant>,
}

impl Watched {
    pub(super) fn new(inner: Arc<dyn NotificationPublisher>) -> Self {
        Watched {
            inner,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        // Only plain assignments happen under this lock; a poisoned one is still consistent.
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn publish_inner(
        &self,
        subject: String,
        msg_id: String,
        payload: Bytes,
    ) -> Result<Published, NotificationPublishError> {
        let result = self.inner.publish(subject, msg_id, payload).await;
        if result.is_err() {
            self.seen().failed = Some(Instant::now());
        }
        result
    }

    async fn ready_inner(&self) -> Result<(), String> {
        {
            let seen = self.seen();
            if let Some(ok) = seen.probe_ok
                && ok.elapsed() < READY_CACHE
                && seen.failed.is_none_or(|f| f < ok)
            {
                return Ok(());
            }
        }
        let started = Instant::now();
        let probe = tokio::time::timeout(PROBE_TIMEOUT, self.inner.ready())
            .await
            .unwrap_or_else(|_| Err(format!("the store did not answer within {PROBE_TIMEOUT:?}")));
        if probe.is_ok() {
            self.seen().probe_ok = Some(started);
        }
        probe
    }
}

impl NotificationPublisher for Watched {
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Bytes,
    ) -> BoxFuture<'_, Result<Published, NotificationPublishError>> {
        self.publish_inner(subject, msg_id, payload).boxed()
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        self.ready_inner().boxed()
    }
}

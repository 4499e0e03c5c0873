//! [`MemoryPublisher`]: stores messages in memory with the same de-duplication rule as a
//! stream (by message id, without a window), and can be switched to "unavailable". For router
//! tests only; production uses [`vppbridge::publish::JetStreamPublisher`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;

use vppbridge::publish::{NotificationPublishError, NotificationPublisher, Published};

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its subject.
    pub subject: String,
    /// Its `Nats-Msg-Id`.
    pub msg_id: String,
    /// Its payload.
    pub payload: Bytes,
}

#[derive(Debug, Default)]
struct Store {
    ids: HashSet<String>,
    messages: Vec<StoredMessage>,
}

/// An in-memory publisher; clones share one store.
#[derive(Debug, Clone, Default)]
pub struct MemoryPublisher {
    store: Arc<Mutex<Store>>,
    unavailable: Arc<AtomicBool>,
}

impl MemoryPublisher {
    /// An empty, available publisher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later publish fail as if NATS were down (`false`) or work again (`true`).
    pub fn set_available(&self, available: bool) {
        self.unavailable.store(!available, Ordering::SeqCst);
    }

    /// The messages stored so far, in order.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.lock().messages.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding this lock can only come from a test that already failed.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish_now(
        &self,
        subject: String,
        msg_id: String,
        payload: Bytes,
    ) -> Result<Published, NotificationPublishError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(NotificationPublishError::Disconnected(
                "memory publisher set unavailable".into(),
            ));
        }
        let mut store = self.lock();
        if !store.ids.insert(msg_id.clone()) {
            return Ok(Published { duplicate: true });
        }
        store.messages.push(StoredMessage {
            subject,
            msg_id,
            payload,
        });
        Ok(Published { duplicate: false })
    }
}

impl NotificationPublisher for MemoryPublisher {
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Bytes,
    ) -> BoxFuture<'_, Result<Published, NotificationPublishError>> {
        let result = self.publish_now(subject, msg_id, payload);
        async move { result }.boxed()
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        let result = if self.unavailable.load(Ordering::SeqCst) {
            Err("memory publisher set unavailable".to_owned())
        } else {
            Ok(())
        };
        async move { result }.boxed()
    }
}

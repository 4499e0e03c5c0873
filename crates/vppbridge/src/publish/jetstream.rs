//! [`JetStreamPublisher`]: publishes with `Nats-Msg-Id` and awaits the acknowledgement within a
//! timeout. A disconnected client fails at once instead of queueing, so Apple gets its 503
//! quickly; a publish that times out may still be stored later, which is harmless because
//! Apple's retry carries the same id and is de-duplicated.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{NotificationPublishError, NotificationPublisher, Published};

/// Publishes to JetStream on an existing client.
#[derive(Clone, Debug)]
pub struct JetStreamPublisher {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    timeout: Duration,
    required_streams: Vec<String>,
}

impl JetStreamPublisher {
    /// A publisher on `client` that waits at most `timeout` for each acknowledgement and
    /// reports ready only while every stream in `required_streams` exists.
    pub fn new(client: async_nats::Client, timeout: Duration, required_streams: &[&str]) -> Self {
        let mut js = async_nats::jetstream::new(client.clone());
        js.set_timeout(timeout);
        JetStreamPublisher {
            client,
            js,
            timeout,
            required_streams: required_streams.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    async fn publish_inner(
        &self,
        subject: String,
        msg_id: String,
        payload: Bytes,
    ) -> Result<Published, NotificationPublishError> {
        let state = self.client.connection_state();
        if state != State::Connected {
            return Err(NotificationPublishError::Disconnected(format!("{state}")));
        }
        let send = async {
            let message = PublishMessage::build().payload(payload).message_id(msg_id);
            self.js.send_publish(subject, message).await?.await
        };
        match tokio::time::timeout(self.timeout, send).await {
            Err(_) => Err(NotificationPublishError::Timeout(self.timeout)),
            Ok(Ok(ack)) => Ok(Published {
                duplicate: ack.duplicate,
            }),
            Ok(Err(e)) if e.kind() == PublishErrorKind::TimedOut => {
                Err(NotificationPublishError::Timeout(self.timeout))
            }
            Ok(Err(e)) => Err(NotificationPublishError::Failed(e.to_string())),
        }
    }

    async fn ready_inner(&self) -> Result<(), String> {
        let state = self.client.connection_state();
        if state != State::Connected {
            return Err(format!("NATS is not connected ({state})"));
        }
        for name in &self.required_streams {
            self.js
                .get_stream(name)
                .await
                .map_err(|e| format!("stream {name} is not available: {e}"))?;
        }
        Ok(())
    }
}

impl NotificationPublisher for JetStreamPublisher {
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

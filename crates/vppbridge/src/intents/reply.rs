//! The request/reply form of `vppbridge assign|unassign`: a NATS request on
//! `vppbridge.desired.<location>.assign` (or `.unassign`) whose payload is the CLI's intent file
//! (JSON lines, parsed by the same [`parse_lines`]) is answered with `{"written": [keys]}`, the
//! `vpp-desired` keys written (keys that already held the same value are not rewritten), or
//! `{"error": "...", "problems": ["line N: ..."]}` with nothing written.
//!
//! Served by every worker process with `[intents] enabled` in the queue group
//! [`QUEUE_GROUP`], so one of them answers each request.

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::cli::parse_lines;
use super::store::Store;
use crate::events::intents::Desired;

/// Subjects served: `vppbridge.desired.<location>.<assign|unassign>`.
pub const SUBJECTS: &str = "vppbridge.desired.*.*";
/// The queue group of the workers that answer.
pub const QUEUE_GROUP: &str = "vppbridge-desired";

/// Serves [`SUBJECTS`] for `locations` until `shutdown`.
pub async fn run(js: jetstream::Context, locations: Vec<String>, shutdown: CancellationToken) {
    let client = js.client();
    let (store, mut sub) = match (
        Store::open(&js).await,
        client
            .queue_subscribe(SUBJECTS, QUEUE_GROUP.to_owned())
            .await,
    ) {
        (Ok(s), Ok(sub)) => (s, sub),
        (Err(e), _) => {
            tracing::error!(error = %format!("{e:#}"), "intents: cannot open the buckets; {SUBJECTS} is not served");
            return;
        }
        (_, Err(e)) => {
            tracing::error!(error = %e, "intents: cannot subscribe to {SUBJECTS}; it is not served");
            return;
        }
    };
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = sub.next() => match m {
                Some(m) => m,
                None => break,
            },
        };
        let Some(reply) = msg.reply.clone() else {
            tracing::info!(subject = %msg.subject, "intents: a message without a reply subject on {SUBJECTS} is ignored; send it as a request");
            continue;
        };
        let answer = answer(&store, &locations, msg.subject.as_str(), &msg.payload).await;
        if let Err(e) = client.publish(reply, answer.to_string().into()).await {
            tracing::warn!(error = %e, "intents: cannot send the reply");
        }
    }
    let _ = sub.unsubscribe().await;
}

/// The reply to one request on `subject` with `payload`.
pub async fn answer(store: &Store, locations: &[String], subject: &str, payload: &[u8]) -> Value {
    let mut parts = subject.split('.').skip(2);
    let (Some(location), Some(verb)) = (parts.next(), parts.next()) else {
        return json!({"error": format!("subject {subject} is not vppbridge.desired.<location>.assign|unassign")});
    };
    if !locations.iter().any(|l| l == location) {
        return json!({"error": format!("location {location} is not configured in this vppbridge; use one of: {}", locations.join(", "))});
    }
    let desired = match verb {
        "assign" => Desired::Assigned,
        "unassign" => Desired::Unassigned,
        _ => {
            return json!({"error": format!("{verb} is not assign or unassign (subject {subject})")});
        }
    };
    let Ok(text) = std::str::from_utf8(payload) else {
        return json!({"error": "the payload is not UTF-8 text; send JSON lines like the intent file of `vppbridge assign --file`"});
    };
    let entries = match parse_lines(location, text, desired) {
        Ok(e) => e,
        Err(problems) => {
            return json!({
                "error": format!("{} invalid line(s); nothing was written", problems.len()),
                "problems": problems,
            });
        }
    };
    match store.write_desired(location, &entries).await {
        Ok(written) => json!({ "written": written }),
        Err(e) => {
            tracing::warn!(location, error = %format!("{e:#}"), "intents: a request on vppbridge.desired could not be written");
            json!({"error": format!("writing vpp-desired failed ({e}); send the request again")})
        }
    }
}

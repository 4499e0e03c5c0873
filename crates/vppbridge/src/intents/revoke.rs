//! `vppbridge revoke --location ID (--serial S | --user U)...`: `POST assets/revoke` for retired
//! devices or people, split into requests of at most `maxRevokeSerialNumbers` serials and
//! `maxRevokeClientUserIds` users (Service Config), printing Apple's eventIds.
//!
//! The command does not call Apple itself: it asks the worker on the NATS request/reply
//! subject `vpp.revoke.<location>` (queue group `vppbridge-revoke`, so one worker answers),
//! and the worker sends the requests through the location's one rate-limited
//! [`AppleClient`](apple_vpp::AppleClient), the budget it shares with sync, verification and
//! the convergers. The request is `{"serialNumbers": [...], "clientUserIds": [...]}` (Apple's
//! `RevokeAssetsRequest`); the answer [`RevokeReply`]. Revoking is idempotent at Apple (a
//! target already bare loses nothing), so a command that timed out can simply be run again.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use apple_vpp::Limits;
use apple_vpp::types::RevokeAssetsRequest;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::location::Location;

/// Queue group of the workers answering revoke requests.
pub const QUEUE_GROUP: &str = "vppbridge-revoke";

/// The request/reply subject of a location's revokes.
pub fn subject(location: &str) -> String {
    format!("vpp.revoke.{location}")
}

/// Arguments of `vppbridge revoke`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).multiple(true).args(["serial", "user"])))]
pub struct RevokeArgs {
    /// The location.
    #[arg(long)]
    pub location: String,
    /// Device serial numbers to revoke every revocable license from (repeatable).
    #[arg(long)]
    pub serial: Vec<String>,
    /// Client user ids to revoke every revocable license from (repeatable).
    #[arg(long)]
    pub user: Vec<String>,
    /// How long to wait for the worker's answer.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

/// The worker's answer to a revoke request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeReply {
    /// Apple's eventId of each request sent, in order.
    pub event_ids: Vec<String>,
    /// Why the rest was not sent (the targets of the requests after the last eventId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Splits targets into revoke requests within Apple's limits (each request carries up to the
/// limit of both kinds).
pub fn batch(req: &RevokeAssetsRequest, limits: &Limits) -> Vec<RevokeAssetsRequest> {
    let mut serials = req
        .serial_numbers
        .chunks(limits.max_revoke_serial_numbers().max(1));
    let mut users = req
        .client_user_ids
        .chunks(limits.max_revoke_client_user_ids().max(1));
    let mut out = Vec::new();
    loop {
        let (s, u) = (serials.next(), users.next());
        if s.is_none() && u.is_none() {
            return out;
        }
        out.push(RevokeAssetsRequest {
            serial_numbers: s.map(<[String]>::to_vec).unwrap_or_default(),
            client_user_ids: u.map(<[String]>::to_vec).unwrap_or_default(),
        });
    }
}

/// Sends a revoke through the location's client; what was sent is in the reply even when a
/// later request fails.
pub async fn revoke(loc: &Location, req: &RevokeAssetsRequest) -> RevokeReply {
    let mut reply = RevokeReply::default();
    let mut req = req.clone();
    req.serial_numbers.dedup();
    req.client_user_ids.dedup();
    if req.serial_numbers.is_empty() && req.client_user_ids.is_empty() {
        reply.error = Some("no target: give at least one serial number or clientUserId".into());
        return reply;
    }
    let client = loc.client();
    let limits = match client.refresh_limits().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(location = %loc.id, error = %e, "revoke: cannot read Apple's limits; using the last known");
            client.limits()
        }
    };
    for r in batch(&req, &limits) {
        if let Some(kind) = loc.paused() {
            reply.error = Some(format!(
                "location {} is paused ({kind:?}); fix it and run `vppbridge resume`, then revoke again",
                loc.id
            ));
            return reply;
        }
        match client.revoke(&r).await {
            Ok(resp) => {
                loc.note_common(&resp.common).await;
                tracing::info!(location = %loc.id, event_id = %resp.event_id, serial_numbers = r.serial_numbers.len(), client_user_ids = r.client_user_ids.len(), "revoke: request submitted");
                reply.event_ids.push(resp.event_id);
            }
            Err(e) => {
                loc.classify(&e).await;
                tracing::warn!(location = %loc.id, error = %e, "revoke: request refused");
                reply.error = Some(format!("Apple refused a revoke request: {e}"));
                return reply;
            }
        }
    }
    reply
}

/// Answers the location's revoke requests until `shutdown`.
pub async fn serve(loc: Arc<Location>, nats: async_nats::Client, shutdown: CancellationToken) {
    let mut sub = match nats
        .queue_subscribe(subject(&loc.id), QUEUE_GROUP.to_owned())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(location = %loc.id, error = %e, "revoke: cannot subscribe; `vppbridge revoke` gets no answer from this worker");
            return;
        }
    };
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = sub.next() => match m { Some(m) => m, None => return },
        };
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let reply = match serde_json::from_slice::<RevokeAssetsRequest>(&msg.payload) {
            Ok(req) => revoke(&loc, &req).await,
            Err(e) => RevokeReply {
                event_ids: Vec::new(),
                error: Some(format!(
                    "the request is not {{\"serialNumbers\": [...], \"clientUserIds\": [...]}}: {e}"
                )),
            },
        };
        let body = serde_json::to_vec(&reply).unwrap_or_default();
        if let Err(e) = nats.publish(reply_to, body.into()).await {
            tracing::warn!(location = %loc.id, error = %e, event_ids = ?reply.event_ids, "revoke: cannot answer; the requests listed were sent");
        }
    }
}

/// Asks the worker to revoke.
///
/// # Errors
/// When no worker answers within `timeout`, or NATS fails.
pub async fn request(
    nats: &async_nats::Client,
    location: &str,
    req: &RevokeAssetsRequest,
    timeout: Duration,
) -> anyhow::Result<RevokeReply> {
    let body = serde_json::to_vec(req)?;
    let msg = nats
        .send_request(
            subject(location),
            async_nats::Request::new()
                .payload(body.into())
                .timeout(Some(timeout)),
        )
        .await
        .with_context(|| {
            format!(
                "no answer on {} within {timeout:?}: is a worker (`vppbridge serve`) running for location {location}?",
                subject(location)
            )
        })?;
    serde_json::from_slice(&msg.payload)
        .with_context(|| format!("the worker's answer on {} is not JSON", subject(location)))
}

/// `vppbridge revoke`.
///
/// # Errors
/// When no worker answers, NATS fails, or Apple refused a request (the eventIds of those sent
/// are printed first).
pub async fn command(config: Option<&Path>, args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(config)?;
    super::cli::known_location(&config, &args.location)?;
    let nats = crate::nats::connect(&config.nats).await?;
    let req = RevokeAssetsRequest {
        serial_numbers: args.serial,
        client_user_ids: args.user,
    };
    let reply = request(
        &nats,
        &args.location,
        &req,
        Duration::from_secs(args.timeout_secs),
    )
    .await?;
    for id in &reply.event_ids {
        println!("{id}");
    }
    if let Some(e) = reply.error {
        anyhow::bail!("{e}");
    }
    eprintln!(
        "{} revoke request(s) sent for location {}",
        reply.event_ids.len(),
        args.location
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revokes_are_split_by_both_limits() {
        let req = RevokeAssetsRequest {
            serial_numbers: (0..250).map(|i| format!("S{i}")).collect(),
            client_user_ids: (0..30).map(|i| format!("U{i}")).collect(),
        };
        let b = batch(&req, &Limits::with_default_rate(15));
        let sizes: Vec<(usize, usize)> = b
            .iter()
            .map(|r| (r.serial_numbers.len(), r.client_user_ids.len()))
            .collect();
        assert_eq!(sizes, vec![(100, 30), (100, 0), (50, 0)]);
        assert_eq!(b[2].serial_numbers[0], "S200");
    }
}

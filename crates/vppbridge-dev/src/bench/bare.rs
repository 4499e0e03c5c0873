//! The bare pipe: the least an HTTP → JetStream receiver can do, as the ingestion benchmark's
//! baseline. `POST /notifications/{location}` reads the body, parses it as JSON, publishes it to
//! `VPP_NOTIFICATIONS` with `Nats-Msg-Id` = `bare:<notificationId>` and answers 200 once
//! JetStream acknowledged it. No authentication, no validation beyond JSON, no log line, no
//! metrics.
//!
//! It runs as its own process (`vppbridge-dev bare-pipe`, hidden), started by the benchmark
//! like the receiver, so the two are compared on equal terms: same runtime (tokio multi-thread,
//! one worker per core), same nats-server, their own CPU time read from `/proc`.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bytes::Bytes;

/// The subject the bare pipe publishes on (inside `VPP_NOTIFICATIONS`' subjects).
pub const SUBJECT: &str = "vpp.notifications.bare.asset_management";

/// Arguments of `vppbridge-dev bare-pipe`.
#[derive(Debug, Clone, clap::Args)]
pub struct BarePipeArgs {
    /// NATS server URL (the stream `VPP_NOTIFICATIONS` must exist).
    #[arg(long)]
    pub nats_url: String,
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,
}

/// Serves the bare pipe until the process is killed.
///
/// # Errors
/// When NATS cannot be reached or the address cannot be bound.
pub async fn serve(args: BarePipeArgs) -> anyhow::Result<ExitCode> {
    let client = async_nats::connect(&args.nats_url)
        .await
        .with_context(|| format!("the bare pipe cannot connect to NATS at {}", args.nats_url))?;
    let js = jetstream::new(client);
    let app = Router::new()
        .route("/readyz", get(|| async { StatusCode::OK }))
        .route("/notifications/{location}", post(publish))
        .with_state(js);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("the bare pipe cannot listen on {}", args.listen))?;
    axum::serve(listener, app)
        .await
        .context("the bare pipe's server failed")?;
    Ok(ExitCode::SUCCESS)
}

async fn publish(State(js): State<jetstream::Context>, body: Bytes) -> StatusCode {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(id) = value.get("notificationId").and_then(|v| v.as_str()) else {
        return StatusCode::BAD_REQUEST;
    };
    let message = PublishMessage::build()
        .payload(body.clone())
        .message_id(format!("bare:{id}"));
    match js.send_publish(SUBJECT, message).await {
        Ok(ack) => match ack.await {
            Ok(_) => StatusCode::OK,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        },
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

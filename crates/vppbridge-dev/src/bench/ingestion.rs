//! Ingestion: Apple-shaped notifications posted to `vppbridge serve --no-worker` (a child
//! process, as in production) at fixed concurrency, against the raw JetStream
//! publish-and-acknowledge rate of the very CloudEvents the receiver would publish, sent from a
//! minimal async-nats loop to the same nats-server.
//!
//! Per concurrency point: warm-up and measured run of the raw loop, then of the receiver; every
//! notification id is fresh, so neither side ever hits the duplicate window. At the end the
//! stream's message count must equal everything sent, so a fast run that lost messages cannot
//! pass for a good one.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use super::child::{VppChild, peak_rss_bytes, poll_until};
use super::load::run_fixed;
use super::setup::{BenchLocation, base_config, free_addr, write_config};
use super::stats::RunStats;
use vppbridge::ingest::{self, Outgoing};
use vppbridge_testkit::natsproc::NatsServer;

/// The location the notifications are posted for.
const LOCATION: &str = "bench";
/// The library id in every notification.
const UID: &str = "981060278089131045";
/// Assignments per notification: a typical batch of a few devices.
const ASSIGNMENTS_PER_NOTIFICATION: usize = 3;
/// The concurrency the goal is stated at.
pub const GOAL_CONCURRENCY: usize = 32;
/// The goal: receiver rate at [`GOAL_CONCURRENCY`] over the raw rate.
pub const GOAL_RATIO: f64 = 0.6;
/// The goal: receiver p99 at [`GOAL_CONCURRENCY`], in milliseconds.
pub const GOAL_P99_MS: f64 = 5.0;

/// How much load to send.
#[derive(Debug, Clone)]
pub struct IngestionOptions {
    /// Concurrency points.
    pub concurrency: Vec<usize>,
    /// Measured requests per point and side.
    pub requests: usize,
    /// Warm-up requests per point and side (not measured).
    pub warmup: usize,
}

/// One concurrency point.
#[derive(Debug, Clone, Serialize)]
pub struct IngestionPoint {
    /// Requests in flight.
    pub concurrency: usize,
    /// `POST /notifications/{location}` to the receiver, answered 200.
    pub receiver: RunStats,
    /// JetStream publish-and-ack of the same CloudEvents.
    pub raw: RunStats,
    /// `receiver.per_second / raw.per_second`.
    pub ratio: f64,
}

/// The ingestion results.
#[derive(Debug, Clone, Serialize)]
pub struct IngestionResults {
    /// How the parts ran.
    pub setup: String,
    /// Size of one notification body, in bytes.
    pub body_bytes: usize,
    /// Size of one published CloudEvent, in bytes.
    pub event_bytes: usize,
    /// Measured requests per point and side.
    pub requests_per_point: usize,
    /// Warm-up requests per point and side.
    pub warmup_per_point: usize,
    /// The points.
    pub points: Vec<IngestionPoint>,
    /// Messages in `VPP_NOTIFICATIONS` at the end.
    pub stored: u64,
    /// Messages that should be there (every request of both sides, warm-ups included).
    pub expected: u64,
    /// The receiver process's peak resident memory, in MiB.
    pub receiver_peak_rss_mib: Option<f64>,
    /// The goal at `GOAL_CONCURRENCY`: ratio ≥ `GOAL_RATIO` and p99 < `GOAL_P99_MS`.
    pub goal_met: Option<bool>,
}

/// An Apple-shaped `ASSET_MANAGEMENT` notification (`ASSOCIATE`, `SUCCESS`) with a fresh
/// `notificationId` and `eventId`.
pub fn notification_body(serial_base: usize) -> Bytes {
    let assignments: Vec<_> = (0..ASSIGNMENTS_PER_NOTIFICATION)
        .map(|k| {
            json!({
                "adamId": "409203825",
                "pricingParam": "STDQ",
                "serialNumber": format!("C02{:09}", serial_base * ASSIGNMENTS_PER_NOTIFICATION + k),
            })
        })
        .collect();
    let body = json!({
        "notification": {
            "assignments": assignments,
            "eventId": uuid::Uuid::new_v4().to_string(),
            "result": "SUCCESS",
            "type": "ASSOCIATE",
        },
        "notificationId": uuid::Uuid::new_v4().to_string(),
        "notificationType": "ASSET_MANAGEMENT",
        "uId": UID,
    });
    Bytes::from(body.to_string())
}

/// What the receiver would publish for `body` (subject, id, CloudEvent bytes).
///
/// # Errors
/// When the body is not a notification the receiver accepts.
pub fn outgoing_for(body: &[u8]) -> anyhow::Result<Outgoing> {
    let n = ingest::parse_notification(LOCATION, body)
        .map_err(|e| anyhow::anyhow!("the benchmark's notification is refused: {e}"))?;
    Ok(ingest::outgoing(&n, chrono::Utc::now())?)
}

/// Runs the ingestion benchmark.
///
/// # Errors
/// When nats-server or the receiver cannot start, or the stream count cannot be read.
pub async fn run(opts: &IngestionOptions) -> anyhow::Result<IngestionResults> {
    let nats = NatsServer::start().await?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let listen = free_addr()?;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let token_text = apple_vpp::token::ContentToken::encode(
        "Bench School",
        chrono::Utc::now() + chrono::Duration::days(365),
        &uuid::Uuid::new_v4().to_string(),
    );
    let location = BenchLocation {
        id: LOCATION.to_owned(),
        token_text,
        secret: secret.clone(),
    };
    let config_path = write_config(dir.path(), base_config(&nats.url(), listen), &[location])?;
    let config_arg = config_path.to_string_lossy().into_owned();
    let mut serve = VppChild::spawn(
        &["--config", &config_arg, "serve", "--no-worker"],
        &dir.path().join("serve.log"),
    )?;
    let base = format!("http://{listen}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .http1_only()
        .build()
        .context("cannot build the HTTP client")?;
    let ready_url = format!("{base}/readyz");
    poll_until(
        &mut serve,
        Duration::from_secs(30),
        Duration::from_millis(50),
        "readiness (/readyz 200)",
        || {
            let http = http.clone();
            let url = ready_url.clone();
            async move {
                let r = http.get(url).send().await.ok()?;
                (r.status() == 200).then_some(())
            }
        },
    )
    .await?;

    let client = async_nats::connect(nats.url())
        .await
        .context("the raw publisher cannot connect to NATS")?;
    let js = jetstream::new(client);
    let url = Arc::new(format!("{base}/notifications/{LOCATION}"));
    let secret = Arc::new(secret);

    let mut points = Vec::new();
    let mut expected = 0u64;
    let mut serial = 0usize;
    for &c in &opts.concurrency {
        let per_side = opts.warmup + opts.requests;
        let raw_events = Arc::new(make_events(&mut serial, per_side)?);
        let bodies: Arc<Vec<Bytes>> = Arc::new(
            (0..per_side)
                .map(|_| {
                    serial += 1;
                    notification_body(serial)
                })
                .collect(),
        );
        let raw_op = |offset: usize| {
            let js = js.clone();
            let events = Arc::clone(&raw_events);
            move |i: usize| {
                let js = js.clone();
                let out = events[offset + i].clone();
                async move { publish_raw(&js, out).await }
            }
        };
        let post_op = |offset: usize| {
            let http = http.clone();
            let bodies = Arc::clone(&bodies);
            let url = Arc::clone(&url);
            let secret = Arc::clone(&secret);
            move |i: usize| {
                let req = http
                    .post(url.as_str())
                    .bearer_auth(secret.as_str())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bodies[offset + i].clone());
                async move { post(req).await }
            }
        };
        tracing::info!(concurrency = c, "ingestion: raw JetStream publish");
        run_fixed(c, opts.warmup, raw_op(0)).await;
        let raw = run_fixed(c, opts.requests, raw_op(opts.warmup)).await;
        tracing::info!(concurrency = c, "ingestion: receiver");
        run_fixed(c, opts.warmup, post_op(0)).await;
        let receiver = run_fixed(c, opts.requests, post_op(opts.warmup)).await;
        expected += 2 * per_side as u64;
        let ratio = if raw.per_second > 0.0 {
            receiver.per_second / raw.per_second
        } else {
            0.0
        };
        points.push(IngestionPoint {
            concurrency: c,
            receiver,
            raw,
            ratio,
        });
    }

    if let Some(status) = serve.try_exit()? {
        return Err(serve.failure(&format!("exited ({status}) during the benchmark")));
    }
    let receiver_peak_rss_mib = serve
        .pid()
        .and_then(peak_rss_bytes)
        .map(|b| b as f64 / (1024.0 * 1024.0));
    serve.stop().await;
    let stored = js
        .get_stream(vppbridge::nats::NOTIFICATIONS_STREAM)
        .await
        .context("cannot read the notifications stream")?
        .info()
        .await
        .context("cannot read the notifications stream's state")?
        .state
        .messages;
    let sample = notification_body(0);
    let event_bytes = outgoing_for(&sample)?.payload.len();
    let goal_met = points
        .iter()
        .find(|p| p.concurrency == GOAL_CONCURRENCY)
        .map(|p| {
            p.ratio >= GOAL_RATIO && p.receiver.p99_ms < GOAL_P99_MS && p.receiver.errors == 0
        });
    Ok(IngestionResults {
        setup: "vppbridge serve --no-worker as a child process (release build, default [http] \
                settings, logging at info to a file); nats-server child with JetStream on a \
                temporary file store; load generator (reqwest, HTTP/1.1 keep-alive) and raw \
                async-nats loop in the bench process; all on the same machine"
            .to_owned(),
        body_bytes: sample.len(),
        event_bytes,
        requests_per_point: opts.requests,
        warmup_per_point: opts.warmup,
        points,
        stored,
        expected,
        receiver_peak_rss_mib,
        goal_met,
    })
}

fn make_events(serial: &mut usize, count: usize) -> anyhow::Result<Vec<Outgoing>> {
    (0..count)
        .map(|_| {
            *serial += 1;
            outgoing_for(&notification_body(*serial))
        })
        .collect()
}

async fn publish_raw(js: &jetstream::Context, out: Outgoing) -> anyhow::Result<()> {
    let message = PublishMessage::build()
        .payload(out.payload)
        .message_id(out.msg_id);
    let ack = js.send_publish(out.subject, message).await?.await?;
    anyhow::ensure!(!ack.duplicate, "the raw publish was taken for a duplicate");
    Ok(())
}

async fn post(req: reqwest::RequestBuilder) -> anyhow::Result<()> {
    let response = req.send().await?;
    let status = response.status();
    // Read the (empty) body so the connection goes back to the pool.
    let _ = response.bytes().await?;
    anyhow::ensure!(status == 200, "the receiver answered {status}");
    Ok(())
}

//! Ingestion: Apple-shaped notifications posted to `vppbridge serve --no-worker` (a child
//! process, as in production) at fixed concurrency, against two baselines on the same
//! nats-server:
//!
//! - the **bare pipe** ([`super::bare`], its own child process): an axum handler that parses the
//!   body as JSON and publishes it with `Nats-Msg-Id`, awaiting the ack. Receiver and bare pipe
//!   alternate (bare, receiver, bare, receiver, ...) for `rounds` rounds at each concurrency, so
//!   a burst of other load on the machine hits both; the ratio is the median of the rounds'
//!   ratios. CPU time per request of each comes from its process's `/proc/<pid>/stat`.
//! - the **raw** rate: the very CloudEvents the receiver would publish, sent from a minimal
//!   async-nats loop in the bench process (no HTTP at all), once per concurrency.
//!
//! Every notification id is fresh, so no side ever hits the duplicate window. At the end the
//! stream's message count must equal everything sent, so a fast run that lost messages cannot
//! pass for a good one.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use super::alternate;
use super::child::{VppChild, cpu_seconds, peak_rss_bytes, poll_until};
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
/// The goal: receiver rate at [`GOAL_CONCURRENCY`] over the bare pipe's (median of rounds).
pub const GOAL_RATIO: f64 = 0.9;
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
    /// Alternating rounds (bare pipe, then receiver) per point.
    pub rounds: usize,
}

/// One measured run of an HTTP server process: its latencies and its CPU time.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRun {
    /// Client-side figures.
    pub stats: RunStats,
    /// CPU time (user + system) the server process used per request, in microseconds.
    pub cpu_us_per_request: Option<f64>,
}

/// One round at one concurrency: the bare pipe, then the receiver.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The bare pipe's run.
    pub bare: ServerRun,
    /// The receiver's run.
    pub receiver: ServerRun,
    /// `receiver.per_second / bare.per_second`.
    pub ratio: f64,
}

/// One concurrency point.
#[derive(Debug, Clone, Serialize)]
pub struct IngestionPoint {
    /// Requests in flight.
    pub concurrency: usize,
    /// The alternating rounds, in order.
    pub rounds: Vec<Round>,
    /// `POST /notifications/{location}` to the receiver: the round with the median rate.
    pub receiver: RunStats,
    /// The bare pipe: the round with the median rate.
    pub bare: RunStats,
    /// Median over the rounds of the receiver's CPU time per request, in microseconds.
    pub receiver_cpu_us: Option<f64>,
    /// Median over the rounds of the bare pipe's CPU time per request, in microseconds.
    pub bare_cpu_us: Option<f64>,
    /// Median over the rounds of `receiver / bare` (requests per second).
    pub ratio_to_bare: f64,
    /// JetStream publish-and-ack of the same CloudEvents from the bench process.
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
    /// Alternating rounds per point.
    pub rounds_per_point: usize,
    /// The points.
    pub points: Vec<IngestionPoint>,
    /// Messages in `VPP_NOTIFICATIONS` at the end.
    pub stored: u64,
    /// Messages that should be there (every request of both sides, warm-ups included).
    pub expected: u64,
    /// The receiver process's peak resident memory, in MiB.
    pub receiver_peak_rss_mib: Option<f64>,
    /// The goal at `GOAL_CONCURRENCY`: ratio to the bare pipe ≥ `GOAL_RATIO` and p99 <
    /// `GOAL_P99_MS` (median round).
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
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .http1_only()
        .build()
        .context("cannot build the HTTP client")?;
    wait_ready(&mut serve, &http, listen).await?;
    // Started once the receiver has created the stream it publishes into.
    let bare_listen = free_addr()?;
    let me = std::env::current_exe().context("cannot find this executable")?;
    let mut bare = VppChild::spawn_exe(
        &me,
        &[
            "bare-pipe",
            "--nats-url",
            &nats.url(),
            "--listen",
            &bare_listen.to_string(),
        ],
        &dir.path().join("bare.log"),
    )?;
    wait_ready(&mut bare, &http, bare_listen).await?;

    let client = async_nats::connect(nats.url())
        .await
        .context("the raw publisher cannot connect to NATS")?;
    let js = jetstream::new(client);
    let receiver_side = Side {
        url: Arc::new(format!("http://{listen}/notifications/{LOCATION}")),
        secret: Arc::new(secret),
        pid: serve.pid(),
    };
    let bare_side = Side {
        url: Arc::new(format!("http://{bare_listen}/notifications/{LOCATION}")),
        secret: Arc::new(String::new()),
        pid: bare.pid(),
    };

    let mut points = Vec::new();
    let mut expected = 0u64;
    let mut serial = 0usize;
    for &c in &opts.concurrency {
        let per_side = opts.warmup + opts.requests;
        let raw_events = Arc::new(make_events(&mut serial, per_side)?);
        let raw_op = |offset: usize| {
            let js = js.clone();
            let events = Arc::clone(&raw_events);
            move |i: usize| {
                let js = js.clone();
                let out = events[offset + i].clone();
                async move { publish_raw(&js, out).await }
            }
        };
        tracing::info!(concurrency = c, "ingestion: raw JetStream publish");
        run_fixed(c, opts.warmup, raw_op(0)).await;
        let raw = run_fixed(c, opts.requests, raw_op(opts.warmup)).await;
        let mut rounds = Vec::new();
        for round in 0..opts.rounds.max(1) {
            tracing::info!(
                concurrency = c,
                round,
                "ingestion: bare pipe, then receiver"
            );
            let bare = bare_side.run(&http, c, opts, &mut serial).await;
            let receiver = receiver_side.run(&http, c, opts, &mut serial).await;
            rounds.push(Round {
                ratio: ratio(&receiver.stats, &bare.stats),
                bare,
                receiver,
            });
        }
        expected += (1 + 2 * rounds.len() as u64) * per_side as u64;
        points.push(alternate::point(c, rounds, raw));
    }

    for child in [&mut serve, &mut bare] {
        if let Some(status) = child.try_exit()? {
            return Err(child.failure(&format!("exited ({status}) during the benchmark")));
        }
    }
    let receiver_peak_rss_mib = serve
        .pid()
        .and_then(peak_rss_bytes)
        .map(|b| b as f64 / (1024.0 * 1024.0));
    serve.stop().await;
    bare.stop().await;
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
            p.ratio_to_bare >= GOAL_RATIO
                && p.receiver.p99_ms < GOAL_P99_MS
                && p.rounds.iter().all(|r| r.receiver.stats.errors == 0)
        });
    Ok(IngestionResults {
        setup: "vppbridge serve --no-worker as a child process (release build, default [http] \
                settings, logging at info to a file); the bare pipe (axum, parse, publish with \
                Nats-Msg-Id, await the ack) as another child process, alternating with the \
                receiver; nats-server child with JetStream on a temporary file store; load \
                generator (reqwest, HTTP/1.1 keep-alive) and raw async-nats loop in the bench \
                process; all on the same machine"
            .to_owned(),
        body_bytes: sample.len(),
        event_bytes,
        requests_per_point: opts.requests,
        warmup_per_point: opts.warmup,
        rounds_per_point: opts.rounds.max(1),
        points,
        stored,
        expected,
        receiver_peak_rss_mib,
        goal_met,
    })
}

/// One HTTP server under load: where to post, with which bearer, and its process for CPU time.
struct Side {
    url: Arc<String>,
    secret: Arc<String>,
    pid: Option<u32>,
}

impl Side {
    /// Warm-up, then the measured run with fresh notifications, with the server's CPU time.
    async fn run(
        &self,
        http: &reqwest::Client,
        concurrency: usize,
        opts: &IngestionOptions,
        serial: &mut usize,
    ) -> ServerRun {
        let bodies: Arc<Vec<Bytes>> = Arc::new(
            (0..opts.warmup + opts.requests)
                .map(|_| {
                    *serial += 1;
                    notification_body(*serial)
                })
                .collect(),
        );
        let op = |offset: usize| {
            let http = http.clone();
            let bodies = Arc::clone(&bodies);
            let url = Arc::clone(&self.url);
            let secret = Arc::clone(&self.secret);
            move |i: usize| {
                let req = http
                    .post(url.as_str())
                    .bearer_auth(secret.as_str())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bodies[offset + i].clone());
                async move { post(req).await }
            }
        };
        run_fixed(concurrency, opts.warmup, op(0)).await;
        let cpu_before = self.pid.and_then(cpu_seconds);
        let stats = run_fixed(concurrency, opts.requests, op(opts.warmup)).await;
        let cpu_after = self.pid.and_then(cpu_seconds);
        let cpu_us_per_request = match (cpu_before, cpu_after) {
            (Some(b), Some(a)) if stats.requests > 0 => Some((a - b) * 1e6 / stats.requests as f64),
            _ => None,
        };
        ServerRun {
            stats,
            cpu_us_per_request,
        }
    }
}

/// `a.per_second / b.per_second` (0 when `b` made none).
fn ratio(a: &RunStats, b: &RunStats) -> f64 {
    if b.per_second > 0.0 {
        a.per_second / b.per_second
    } else {
        0.0
    }
}

/// Polls `GET /readyz` on `listen` until it answers 200.
async fn wait_ready(
    child: &mut VppChild,
    http: &reqwest::Client,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let url = format!("http://{listen}/readyz");
    poll_until(
        child,
        Duration::from_secs(30),
        Duration::from_millis(50),
        "readiness (/readyz 200)",
        || {
            let http = http.clone();
            let url = url.clone();
            async move {
                let r = http.get(url).send().await.ok()?;
                (r.status() == 200).then_some(())
            }
        },
    )
    .await
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

//! Convergence: 100,000 desired pairs (100 Apps × 1,000 devices) declared at once with the
//! production `vppbridge assign --file` and converged by `vppbridge serve`'s converger (a child
//! process, production `[intents]` defaults) against the simulator at Apple's 15 requests/s;
//! the simulator posts the outcome notifications (pieces of 100 assignments) to the receiver.
//!
//! Measured: the associate requests sent against the minimum Apple's limits allow (⌈Apps /
//! maxAssets⌉ × ⌈devices / maxSerialNumbers⌉); the time from the `assign` command to the last
//! intent `applied` (polled on the `VPP_INTENTS` stream's message count, then on the intent
//! records, which are written once their events are stored) against the rate-limit floor, (Apple
//! calls made) / rate; the 9646 answers; serve's peak resident memory; and the time until the view
//! equals Apple's truth (polled every [`VIEW_POLL`]).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::child::{VppChild, peak_rss_bytes};
use super::scenario::{LOCATION, Scenario};
use super::world::{compare, rate_limited};
use apple_vpp::Limits;
use vppbridge::events::intents::IntentState;
use vppbridge::intents::store::Store;
use vppbridge_sim::SeedSpec;

/// Apps declared: every fifth seeded asset is a Book, so 125 seeded assets hold 100 Apps.
const SEEDED_ASSETS: usize = 125;
/// Apps every device should hold.
pub const APPS: usize = 100;
/// Devices.
pub const DEVICES: usize = 1000;
/// Apple's rate limit, in requests per second.
pub const RATE: u32 = 15;
/// How often the intent events are counted.
const POLL: Duration = Duration::from_millis(250);
/// How often the whole view is compared with Apple's truth once every intent is applied.
const VIEW_POLL: Duration = Duration::from_secs(1);
/// The longest the view may take to match Apple once every intent is applied.
const VIEW_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest the benchmark waits for every intent to be applied.
const TIMEOUT: Duration = Duration::from_secs(600);

/// The convergence results.
#[derive(Debug, Clone, Serialize)]
pub struct ConvergeResults {
    /// How the parts ran.
    pub setup: String,
    /// Desired pairs declared.
    pub pairs: usize,
    /// Seconds `vppbridge assign --file` took to write them to `vpp-desired`.
    pub assign_seconds: f64,
    /// From starting `assign` to the last intent applied, in seconds.
    pub seconds: f64,
    /// Associate requests sent.
    pub associate_requests: usize,
    /// The fewest associate requests Apple's limits allow for these pairs.
    pub minimum_requests: usize,
    /// Every Apple call vppbridge made from `assign` to the end (writes, reads, status polls).
    pub apple_calls: usize,
    /// `apple_calls / rate`, in seconds.
    pub floor_seconds: f64,
    /// 9646 answers received.
    pub rate_limited_9646: usize,
    /// Intents `applied` at the end.
    pub applied: usize,
    /// Intent events published (`VPP_INTENTS`).
    pub intent_events: u64,
    /// Whether Apple's truth and the view ended equal.
    pub exact: bool,
    /// How the view still differed from Apple's truth, when it never matched.
    pub difference: Option<String>,
    /// From starting `assign` to the view found equal to Apple's truth, in seconds.
    pub seconds_to_exact_view: Option<f64>,
    /// Peak resident memory of the serve process, in MiB.
    pub serve_peak_rss_mib: Option<f64>,
}

/// Runs the convergence benchmark.
///
/// # Errors
/// When a part cannot start, `assign` fails, or the intents are not applied within
/// [`TIMEOUT`].
pub async fn run() -> anyhow::Result<ConvergeResults> {
    let seed = SeedSpec {
        locations: 1,
        assets: SEEDED_ASSETS,
        devices: DEVICES,
        users: 10,
        assigned: 0.0,
        seed: 7,
        licenses_per_asset: None,
    };
    let Scenario {
        nats: _nats,
        world,
        mut serve,
        config,
        config_path,
        apple,
        js,
        dir,
        ..
    } = Scenario::start(seed, RATE).await?;
    let apps = world.apps(APPS).await?;
    let mut text = String::with_capacity(APPS * DEVICES * 90);
    for app in &apps {
        for i in 1..=DEVICES {
            let line = serde_json::json!({
                "adamId": app.adam_id.0,
                "pricingParam": app.pricing_param,
                "serialNumber": format!("SIM{i:09}"),
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
    }
    let file = dir.path().join("desired.jsonl");
    std::fs::write(&file, text).context("cannot write the intent file")?;
    let pairs = APPS * DEVICES;

    let started = Instant::now();
    let (config_arg, file_arg) = (config_path.to_string_lossy(), file.to_string_lossy());
    let assign = VppChild::spawn(
        &[
            "--config",
            &config_arg,
            "assign",
            "--location",
            LOCATION,
            "--file",
            &file_arg,
        ],
        &dir.path().join("assign.log"),
    )?;
    assign.succeed().await?;
    let assign_seconds = started.elapsed().as_secs_f64();

    let mut stream = js
        .get_stream(vppbridge::nats::INTENTS_STREAM)
        .await
        .context("the intents stream")?;
    let intent_events = loop {
        let n = stream
            .info()
            .await
            .context("the intents stream")?
            .state
            .messages;
        if n >= pairs as u64 {
            break n;
        }
        check_running(&mut serve)?;
        anyhow::ensure!(
            started.elapsed() < TIMEOUT,
            "{n} of {pairs} intent events within {TIMEOUT:?}"
        );
        tokio::time::sleep(POLL).await;
    };
    // Each intent's event is stored before its record: the records end the count.
    let store = Store::open(&js).await?;
    let applied = loop {
        let n = vppbridge::intents::cli::list(&store, LOCATION, Some(IntentState::Applied))
            .await?
            .len();
        if n >= pairs || started.elapsed() >= TIMEOUT {
            break n;
        }
        check_running(&mut serve)?;
        tokio::time::sleep(POLL).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let log = world.requests().await?;
    let associate_requests = log
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/assets/associate"))
        .count();
    let limits = apple
        .refresh_limits()
        .await
        .unwrap_or_else(|_| Limits::with_default_rate(RATE));
    let minimum_requests = APPS.div_ceil(limits.max_assets().max(1))
        * DEVICES.div_ceil(limits.max_serial_numbers().max(1));
    // The intents end from Apple's answers; the view follows from the same notifications'
    // verifications. Poll it (a whole read of 100,000 keys) until it matches Apple.
    let truth = world.truth().await?;
    let mut exact_after = None;
    let mut difference = String::new();
    let view_deadline = Instant::now() + VIEW_TIMEOUT;
    while Instant::now() < view_deadline {
        let comparison = compare(&js, LOCATION, &truth, config.sync.users_active_only).await?;
        if comparison.matches() {
            exact_after = Some(started.elapsed().as_secs_f64());
            break;
        }
        difference = comparison.to_string();
        check_running(&mut serve)?;
        tokio::time::sleep(VIEW_POLL).await;
    }
    if exact_after.is_none() {
        // Keep the logs of a run whose view never matched, for whoever reads the results.
        let kept = dir.keep();
        difference.push_str(&format!("; serve's log kept in {}", kept.display()));
    }
    let serve_peak_rss_mib = serve
        .pid()
        .and_then(peak_rss_bytes)
        .map(|b| b as f64 / 1048576.0);
    serve.stop().await;
    Ok(ConvergeResults {
        setup: "vppbridge serve (receiver + worker, production [intents] and [worker] settings) \
                as a child process; vppbridge assign --file (100,000 JSON lines) as a child \
                process; simulator in the bench process at 15 requests/s, notifications over \
                HTTP to the receiver; nats-server child"
            .to_owned(),
        pairs,
        assign_seconds,
        seconds,
        associate_requests,
        minimum_requests,
        apple_calls: log.len(),
        floor_seconds: log.len() as f64 / f64::from(RATE),
        rate_limited_9646: rate_limited(&log),
        applied,
        intent_events,
        exact: exact_after.is_some(),
        difference: exact_after.is_none().then_some(difference),
        seconds_to_exact_view: exact_after,
        serve_peak_rss_mib,
    })
}

fn check_running(serve: &mut VppChild) -> anyhow::Result<()> {
    match serve.try_exit()? {
        Some(status) => Err(serve.failure(&format!("exited ({status}) while converging"))),
        None => Ok(()),
    }
}

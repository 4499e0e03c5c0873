//! `vppbridge-sim`: runs the simulator on an address until Ctrl-C, prints where it listens and
//! its locations, and writes a `.vpptoken` file when asked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::{Faults, RateLimitMode, SeedSpec, SimConfig, Simulator, TokenMode};

/// Arguments of `vppbridge-sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: String,
    /// Number of locations.
    #[arg(long, default_value_t = 1)]
    pub locations: usize,
    /// Assets per location (adamIds 100000000+i; every 5th a Book).
    #[arg(long, default_value_t = 10)]
    pub assets: usize,
    /// Device serial numbers (SIM000000001...).
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Registered users (user-000001...).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Fraction of (App x device) pairs assigned at start.
    #[arg(long, default_value_t = 0.0)]
    pub assigned: f64,
    /// Licenses per asset (default: enough for every device and user).
    #[arg(long)]
    pub licenses: Option<i64>,
    /// Random seed of the ids and pre-assignments.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Records per page of the paginated reads.
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
    /// How long writes stay PENDING, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub event_delay_ms: u64,
    /// Accept http:// notification URLs (Apple requires HTTPS).
    #[arg(long)]
    pub allow_http_notifications: bool,
    /// Write the first location's .vpptoken to this file.
    #[arg(long)]
    pub write_token: Option<PathBuf>,
    /// Days until the tokens expire (small values exercise the expiry warning).
    #[arg(long, default_value_t = 365)]
    pub token_expires_in: i64,
    /// maxRequestPerSecond per token.
    #[arg(long, default_value_t = 15)]
    pub max_requests_per_second: u32,
    /// How requests over the rate limit are answered.
    #[arg(long, value_enum, default_value_t = RateLimitMode::Http429)]
    pub rate_limit_mode: RateLimitMode,
    /// Fraction of Apple calls answered 503 + 9729.
    #[arg(long, default_value_t = 0.0)]
    pub error503_rate: f64,
    /// Fraction of Apple calls answered 500 + 9603.
    #[arg(long, default_value_t = 0.0)]
    pub error500_rate: f64,
    /// Retry-After seconds on 5xx answers.
    #[arg(long, default_value_t = 120)]
    pub retry_after_secs: u64,
    /// Latency added to every Apple call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction of notifications sent twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_rate: f64,
    /// Fraction of notifications sent out of order.
    #[arg(long, default_value_t = 0.0)]
    pub reorder_rate: f64,
    /// Fraction of notifications never sent.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Delay before each notification, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub notification_delay_ms: u64,
    /// Extension, not Apple's behaviour: sinceVersionId reads of Get Assignments also list
    /// removed pairs in `removedAssignments` (Apple documents no such field).
    #[arg(long)]
    pub ext_removed_assignments: bool,
    /// Service Config's contentMetadataLookup URL (default: this simulator's /_sim/lookup,
    /// which answers minimal metadata for its assets).
    #[arg(long)]
    pub content_metadata_url: Option<String>,
    /// What the locations' tokens may do: `full`, `read-only` (writes answer 9637) or
    /// `no-purchase` (a content manager who can manage but not purchase).
    #[arg(long, value_enum, default_value_t = TokenMode::Full)]
    pub token_mode: TokenMode,
}

impl SimArgs {
    /// The simulator configuration these arguments describe.
    pub fn config(&self) -> SimConfig {
        SimConfig {
            page_size: self.page_size,
            allow_http_notifications: self.allow_http_notifications,
            event_delay: Duration::from_millis(self.event_delay_ms),
            max_requests_per_second: self.max_requests_per_second,
            token_lifetime: chrono::Duration::days(self.token_expires_in),
            ext_removed_assignments: self.ext_removed_assignments,
            content_metadata_url: self.content_metadata_url.clone(),
            token_mode: self.token_mode,
            faults: Faults {
                rate_limit_mode: self.rate_limit_mode,
                error503_rate: self.error503_rate,
                error500_rate: self.error500_rate,
                retry_after_secs: self.retry_after_secs,
                latency_ms: self.latency_ms,
                duplicate_rate: self.duplicate_rate,
                reorder_rate: self.reorder_rate,
                drop_rate: self.drop_rate,
                notification_delay_ms: self.notification_delay_ms,
                // A test tool set at run time (`PUT /_sim/faults`), not at start.
                write_answer_delay_ms: 0,
            },
            seed: SeedSpec {
                locations: self.locations,
                assets: self.assets,
                devices: self.devices,
                users: self.users,
                assigned: self.assigned,
                seed: self.seed,
                licenses_per_asset: self.licenses,
            },
            ..SimConfig::default()
        }
    }
}

/// Runs the simulator until Ctrl-C.
///
/// # Errors
/// When the address cannot be bound, the simulator cannot start or the token file cannot be
/// written.
pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    serve(args, async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot wait for Ctrl-C; stopping the simulator");
        }
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the simulator until `shutdown` completes.
///
/// # Errors
/// As [`run`].
pub async fn serve(args: SimArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is it in use? try --listen 127.0.0.1:0)",
                args.listen
            )
        })?;
    let sim = Simulator::start(args.config(), listener)
        .await
        .context("cannot start the simulator")?;
    println!("Apple base URL: {}", sim.base_url());
    println!("Admin API:      {}", sim.admin_url());
    let locations = sim.locations();
    for l in &locations {
        println!("location {} ({})", l.u_id, l.name);
    }
    if let Some(path) = &args.write_token {
        let first = locations
            .first()
            .context("the simulator has no location to write a token for")?;
        std::fs::write(path, &first.token_text)
            .with_context(|| format!("cannot write the token file {}", path.display()))?;
        println!("token of {} written to {}", first.u_id, path.display());
    }
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: SimArgs,
    }

    fn parse(argv: &[&str]) -> SimArgs {
        Wrap::try_parse_from(std::iter::once("sim").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn flags_become_the_simulator_config() {
        let c = parse(&[
            "--assets",
            "3",
            "--devices",
            "4",
            "--assigned",
            "0.5",
            "--seed",
            "9",
            "--page-size",
            "50",
            "--event-delay-ms",
            "5",
            "--allow-http-notifications",
            "--rate-limit-mode",
            "http200",
            "--error503-rate",
            "0.25",
            "--token-mode",
            "read-only",
        ])
        .config();
        assert_eq!((c.seed.assets, c.seed.devices, c.seed.seed), (3, 4, 9));
        assert_eq!(c.seed.assigned, 0.5);
        assert_eq!(c.page_size, 50);
        assert_eq!(c.event_delay, Duration::from_millis(5));
        assert!(c.allow_http_notifications);
        assert_eq!(c.faults.rate_limit_mode, RateLimitMode::Http200);
        assert_eq!(c.faults.error503_rate, 0.25);
        assert_eq!(c.token_mode, TokenMode::ReadOnly);
        assert!(Wrap::try_parse_from(["sim", "--rate-limit-mode", "sometimes"]).is_err());
    }

    #[tokio::test]
    async fn write_token_writes_a_token_expiring_in_the_given_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.vpptoken");
        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--token-expires-in",
            "3",
            "--write-token",
            path.to_str().unwrap(),
        ]);
        serve(args, async {}).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let json = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let exp = apple_vpp_types::parse_apple_date(v["expDate"].as_str().unwrap()).unwrap();
        let days = (exp - chrono::Utc::now()).num_hours() as f64 / 24.0;
        assert!((2.9..=3.0).contains(&days), "{days}");
    }
}

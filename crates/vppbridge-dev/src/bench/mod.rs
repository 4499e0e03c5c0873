//! `vppbridge-dev bench`: the benchmarks of the project's claims (ingestion, reconciliation, sync,
//! end-to-end latency, convergence of desired licenses), each printed as a table and all written as
//! one JSON document.
//!
//! The process under test always runs as its own child process (`vppbridge serve`, `vppbridge
//! sync`) of the production binary built beside this one, so its CPU and memory are its own; nats-server is a
//! child too ([`vppbridge_testkit::natsproc`]). Benchmarks measure; they do not assert: a missed goal is
//! reported as such in the table and the JSON, and the command still exits 0 (1 only when a
//! benchmark could not run at all). Must not be used by tests for timing.

mod alternate;
pub mod bare;
mod child;
mod converge;
mod ingestion;
mod latency;
mod load;
mod machine;
mod reconcile;
mod report;
mod scenario;
mod setup;
mod stages;
mod stats;
mod sync;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

pub use converge::ConvergeResults;
pub use ingestion::{IngestionOptions, IngestionPoint, IngestionResults};
pub use latency::LatencyResults;
pub use machine::Machine;
pub use reconcile::ReconcileResults;
pub use stages::StageResults;
pub use stats::RunStats;
pub use sync::SyncResults;

/// Which benchmark to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Notifications through the receiver against the bare pipe and raw JetStream publishing.
    Ingestion,
    /// The 25 × 1,000 scenario reconciled against the simulator.
    Reconcile,
    /// A full sync of 100,000 assignments.
    Sync,
    /// Notification posted → change event, at a steady rate, and the worker's ceiling.
    Latency,
    /// The receiver's pure stages (parse, normalise, serialise) timed in process.
    Stages,
    /// 100,000 desired pairs converged with Apple by the worker's converger.
    Converge,
}

/// Arguments of `vppbridge-dev bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Run only this benchmark.
    #[arg(long, value_enum)]
    pub only: Option<Which>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Ingestion: measured requests per concurrency point (and as many raw publishes).
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Ingestion: warm-up requests per concurrency point, not measured.
    #[arg(long, default_value_t = 2_000)]
    pub warmup: usize,
    /// Ingestion: the concurrency points.
    #[arg(long, value_delimiter = ',', default_value = "8,32,128")]
    pub concurrency: Vec<usize>,
    /// Ingestion: alternating rounds (bare pipe, then receiver) per concurrency point.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// Everything one `vppbridge-dev bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// vppbridge's version.
    pub version: String,
    /// Whether this executable was built with optimisations.
    pub release_build: bool,
    /// Where it ran.
    pub machine: Machine,
    /// The ingestion benchmark, when run.
    pub ingestion: Option<IngestionResults>,
    /// The reconciliation benchmark, when run.
    pub reconcile: Option<ReconcileResults>,
    /// The sync benchmark, when run.
    pub sync: Option<SyncResults>,
    /// The end-to-end latency benchmark, when run.
    pub latency: Option<LatencyResults>,
    /// The stage timings, when run.
    pub stages: Option<StageResults>,
    /// The declarative-licensing convergence benchmark, when run.
    pub converge: Option<ConvergeResults>,
}

/// `vppbridge-dev bench`.
///
/// # Errors
/// When a benchmark cannot run (nats-server missing, a child process failing to start) or the
/// JSON cannot be written.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let release_build = !cfg!(debug_assertions);
    if !release_build {
        eprintln!(
            "warning: this is a debug build; figures are meaningless. Use `scripts/bench` or `cargo run --release --bin vppbridge-dev -- bench`."
        );
    }
    let wants = |w: Which| args.only.is_none_or(|o| o == w);
    let mut results = BenchResults {
        started_at: chrono::Utc::now().to_rfc3339(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        release_build,
        machine: Machine::current(),
        ingestion: None,
        reconcile: None,
        sync: None,
        latency: None,
        stages: None,
        converge: None,
    };
    println!("{}", report::machine_line(&results.machine));
    if wants(Which::Stages) {
        let r = stages::run().context("the stage timings")?;
        println!("{}", report::stages_table(&r));
        results.stages = Some(r);
    }
    if wants(Which::Ingestion) {
        let opts = IngestionOptions {
            concurrency: args.concurrency.clone(),
            requests: args.requests,
            warmup: args.warmup,
            rounds: args.rounds,
        };
        let r = ingestion::run(&opts)
            .await
            .context("the ingestion benchmark")?;
        println!("{}", report::ingestion_table(&r));
        results.ingestion = Some(r);
    }
    if wants(Which::Reconcile) {
        let r = reconcile::run()
            .await
            .context("the reconciliation benchmark")?;
        println!("{}", report::reconcile_table(&r));
        results.reconcile = Some(r);
    }
    if wants(Which::Sync) {
        let r = sync::run().await.context("the sync benchmark")?;
        println!("{}", report::sync_table(&r));
        results.sync = Some(r);
    }
    if wants(Which::Latency) {
        let r = latency::run()
            .await
            .context("the end-to-end latency benchmark")?;
        println!("{}", report::latency_table(&r));
        results.latency = Some(r);
    }
    if wants(Which::Converge) {
        let r = converge::run().await.context("the convergence benchmark")?;
        println!("{}", report::converge_table(&r));
        results.converge = Some(r);
    }
    if let Some(path) = &args.json {
        let text =
            serde_json::to_string_pretty(&results).context("cannot serialise the results")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write the results to {}", path.display()))?;
        println!("results written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

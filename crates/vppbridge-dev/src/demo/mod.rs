//! `vppbridge-dev demo`: the whole system on one machine with nothing configured, playing a
//! scenario a person can follow and checking the result against Apple's truth.
//!
//! - [`env`](mod@env): NATS (the configured one when it answers, else a nats-server child), the simulator
//!   in-process (one location, 25 assets, 1,000 devices, 50 users, Apple's 15 requests/s limit),
//!   a temporary configuration, and `serve` in-process.
//! - [`scenario`]: the steps (import, register, associate through `vppbridge assign`, buy
//!   licenses, retire a user, drop notifications and sync, a license shortage).
//! - [`measure`]: what each step counts and how it waits (polling with a deadline).
//! - The view is checked against the simulator's truth with [`vppbridge_testkit::truth`], the
//!   comparison the benchmark and the fault suite use too.
//! - [`report`]: progress bars (plain lines when standard output is not a terminal) and the
//!   final table.
//!
//! Exits 0 only when every step ended with the view equal to Apple's truth. Children stop on
//! exit and on Ctrl-C/SIGTERM. Must not be used by `serve`: it is a show, not a mode.

pub mod env;
pub mod measure;
pub mod report;
pub mod scenario;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use env::{DemoEnv, Scale};
use report::Output;

/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// Longest wait for `serve` to drain on exit before the rest is stopped anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `vppbridge-dev demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Leave everything running after the scenario and print the addresses, until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
}

/// Completes on Ctrl-C or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `vppbridge-dev demo`.
///
/// # Errors
/// When the demo cannot start (no nats-server, no free port) or cannot go on (a part stopped
/// answering). A step whose view does not match is not an error: it shows in the table and
/// makes the exit code 1.
pub async fn run(config: Option<&Path>, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let out = Output::detect();
    out.line("vppbridge-dev demo: NATS JetStream, Apple's service (simulated) and vppbridge, on this machine");
    let mut env = DemoEnv::start(config, Scale::FULL).await?;
    let nats_kind = if env.nats_child.is_some() {
        "nats-server child process, temporary store"
    } else {
        "configured server"
    };
    out.line(&format!("  NATS       {} ({nats_kind})", env.nats.url));
    out.line(&format!("  simulator  {} (rate limit 15/s)", env.sim_url));
    out.line(&format!("  receiver   {}", env.receiver_url));
    out.line("");

    let mut serve = env.take_serve();
    let played = tokio::select! {
        r = scenario::play(&env, &out, Scale::FULL) => Some(r),
        joined = &mut serve => {
            let e = match joined {
                Ok(Ok(())) => anyhow::anyhow!("vppbridge serve stopped during the demo"),
                Ok(Err(e)) => e.context("vppbridge serve stopped during the demo"),
                Err(e) => anyhow::anyhow!("vppbridge serve panicked during the demo: {e}"),
            };
            Some(Err(e))
        }
        () = interrupted() => None,
    };
    let code = match played {
        None => {
            out.line("interrupted: stopping vppbridge, the simulator and NATS");
            ExitCode::from(INTERRUPTED)
        }
        Some(Err(e)) => {
            stop(env, serve).await;
            return Err(e);
        }
        Some(Ok(results)) => {
            out.line("");
            out.line(&report::table(&results));
            let all = results.iter().all(|r| r.matched);
            if args.keep_running && !serve.is_finished() {
                print_addresses(&env, &out);
                tokio::select! {
                    () = interrupted() => {}
                    _ = &mut serve => out.line("vppbridge serve stopped"),
                }
            }
            if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    };
    stop(env, serve).await;
    Ok(code)
}

/// Stops `serve` (with a drain limit), then the simulator and NATS.
async fn stop(env: DemoEnv, serve: tokio::task::JoinHandle<anyhow::Result<()>>) {
    env.shutdown.cancel();
    if !serve.is_finished() {
        let abort = serve.abort_handle();
        if tokio::time::timeout(STOP_TIMEOUT, serve).await.is_err() {
            abort.abort();
        }
    }
    env.stop().await;
}

fn print_addresses(env: &DemoEnv, out: &Output) {
    let config = env.config_path.display();
    let loc = &env.location;
    out.line("Everything is still running (Ctrl-C stops it):");
    out.line(&format!(
        "  receiver      {}/notifications/{loc}",
        env.receiver_url
    ));
    out.line(&format!("  NATS          {}", env.nats.url));
    out.line(&format!(
        "  simulator     {}  (admin API: {})",
        env.sim_url, env.admin_url
    ));
    out.line(&format!("  configuration {config}"));
    out.line("Try:");
    out.line(&format!(
        "  export NATS_URL={}   # for the README's consumer examples",
        env.nats.url
    ));
    out.line(&format!("  nats --server {} sub 'vpp.>'", env.nats.url));
    out.line(&format!(
        "  vppbridge --config {config} assignments --location {loc}"
    ));
    out.line(&format!("  vppbridge --config {config} status"));
    out.line(&format!(
        "  curl -s -X POST {}locations/{}/purchase -H 'content-type: application/json' -d '{{\"adamId\":\"{}\",\"count\":5}}'",
        env.admin_url,
        env.u_id,
        vppbridge_sim::seed::adam_id(0)
    ));
}

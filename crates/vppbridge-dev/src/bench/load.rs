//! The load generator: a fixed number of operations at a fixed concurrency, each timed.
//!
//! `concurrency` tasks take operation numbers from one shared counter until `count` are taken,
//! so every operation runs exactly once and the concurrency stays constant until the tail.
//! Must not know what an operation is: the caller passes it as a closure.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::stats::RunStats;

/// Runs `op(i)` for every `i` in `0..count` with `concurrency` in flight, and reports the
/// latency of each successful one. A failed operation is counted, and the first few failures
/// are logged, so a broken set-up does not pass for a fast one.
pub async fn run_fixed<F, Fut, E>(concurrency: usize, count: usize, op: F) -> RunStats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let op = Arc::clone(&op);
        let next = Arc::clone(&next);
        let errors = Arc::clone(&errors);
        tasks.spawn(async move {
            let mut latencies: Vec<Duration> = Vec::with_capacity(count / concurrency.max(1) + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t0 = Instant::now();
                match op(i).await {
                    Ok(()) => latencies.push(t0.elapsed()),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            tracing::warn!(error = %e, "benchmark operation failed");
                        }
                    }
                }
            }
            latencies
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(l) => all.extend(l),
            Err(e) => tracing::warn!(error = %e, "a load task panicked"),
        }
    }
    let elapsed = started.elapsed();
    RunStats::from_latencies(all, errors.load(Ordering::Relaxed), elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn every_operation_runs_once_and_failures_are_counted() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        let stats = run_fixed(4, 100, move |i| {
            let seen = Arc::clone(&seen2);
            async move {
                seen.lock().map_err(|e| e.to_string())?.push(i);
                if i % 10 == 0 {
                    Err(format!("op {i} fails"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert_eq!(stats.requests, 100);
        assert_eq!(stats.errors, 10);
    }
}

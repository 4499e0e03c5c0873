//! Latency and throughput of one measured run: what every benchmark point reports.

use std::time::Duration;

use serde::Serialize;

/// One measured run at a fixed concurrency: throughput and latency percentiles.
#[derive(Debug, Clone, Serialize)]
pub struct RunStats {
    /// Requests sent in the measured part (the warm-up excluded).
    pub requests: usize,
    /// Requests that did not succeed (non-200 answer, publish error).
    pub errors: usize,
    /// Wall time of the measured part, in seconds.
    pub seconds: f64,
    /// Successful requests per second.
    pub per_second: f64,
    /// Median latency, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, in milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile latency, in milliseconds.
    pub p999_ms: f64,
    /// Slowest request, in milliseconds.
    pub max_ms: f64,
}

impl RunStats {
    /// Summarises `latencies` (one per successful request, any order) measured over `elapsed`.
    pub fn from_latencies(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        let seconds = elapsed.as_secs_f64();
        let ok = latencies.len();
        RunStats {
            requests: ok + errors,
            errors,
            seconds,
            per_second: if seconds > 0.0 {
                ok as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            p999_ms: percentile_ms(&latencies, 0.999),
            max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        }
    }
}

/// The nearest-rank percentile `q` (0..=1) of sorted `latencies`, in milliseconds; 0 when empty.
pub fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=1000).map(ms).collect();
        assert_eq!(percentile_ms(&sorted, 0.50), 500.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 990.0);
        assert_eq!(percentile_ms(&sorted, 0.999), 999.0);
        assert_eq!(percentile_ms(&sorted, 1.0), 1000.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn a_run_counts_errors_apart_from_the_rate() {
        let stats = RunStats::from_latencies(vec![ms(3), ms(1), ms(2)], 1, Duration::from_secs(1));
        assert_eq!(stats.requests, 4);
        assert_eq!(stats.errors, 1);
        assert_eq!(stats.per_second, 3.0);
        assert_eq!(stats.p50_ms, 2.0);
        assert_eq!(stats.max_ms, 3.0);
    }
}

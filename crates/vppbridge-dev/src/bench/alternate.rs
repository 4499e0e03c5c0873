//! Summaries of alternating rounds (bare pipe, receiver, bare pipe, receiver, ...): medians, so
//! that one round disturbed by other load on the machine does not decide the figure.

use super::ingestion::{IngestionPoint, Round};
use super::stats::RunStats;

/// The point at `concurrency` from its rounds and its raw run.
pub fn point(concurrency: usize, rounds: Vec<Round>, raw: RunStats) -> IngestionPoint {
    let receiver = median_run(rounds.iter().map(|r| &r.receiver.stats));
    let bare = median_run(rounds.iter().map(|r| &r.bare.stats));
    let ratio_to_bare = median(rounds.iter().map(|r| r.ratio)).unwrap_or(0.0);
    let receiver_cpu_us = median(rounds.iter().filter_map(|r| r.receiver.cpu_us_per_request));
    let bare_cpu_us = median(rounds.iter().filter_map(|r| r.bare.cpu_us_per_request));
    let ratio = if raw.per_second > 0.0 {
        receiver.per_second / raw.per_second
    } else {
        0.0
    };
    IngestionPoint {
        concurrency,
        rounds,
        receiver,
        bare,
        receiver_cpu_us,
        bare_cpu_us,
        ratio_to_bare,
        raw,
        ratio,
    }
}

/// The median of `values` (the lower middle one for an even count); None when empty.
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// The run with the median rate (its latencies go with it), or an empty run.
fn median_run<'a>(runs: impl Iterator<Item = &'a RunStats>) -> RunStats {
    let mut v: Vec<&RunStats> = runs.collect();
    v.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    v.get(v.len().saturating_sub(1) / 2)
        .map(|r| (*r).clone())
        .unwrap_or_else(|| RunStats::from_latencies(Vec::new(), 0, std::time::Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value_or_the_lower_middle_one() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median(std::iter::empty()), None);
    }
}

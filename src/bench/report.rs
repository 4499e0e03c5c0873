//! The printed tables: one per benchmark, plain text aligned for a terminal and for pasting
//! into Markdown (`docs/benchmarks.md`).

use std::fmt::Write as _;

use super::ingestion::{GOAL_CONCURRENCY, GOAL_P99_MS, GOAL_RATIO, IngestionResults};
use super::machine::Machine;

/// One line naming the machine.
pub fn machine_line(m: &Machine) -> String {
    format!(
        "machine: {} cores, {:.0} GiB, {} ({})",
        m.cores, m.memory_gib, m.cpu, m.os
    )
}

/// The ingestion table (Markdown).
pub fn ingestion_table(r: &IngestionResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nIngestion ({} requests per point after {} warm-up; body {} B, event {} B)\n",
        r.requests_per_point, r.warmup_per_point, r.body_bytes, r.event_bytes
    );
    let _ = writeln!(
        out,
        "| concurrency | receiver req/s | p50 ms | p99 ms | p99.9 ms | errors | raw JetStream msg/s | raw p50 ms | raw p99 ms | receiver / raw |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in &r.points {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {:.0}% |",
            p.concurrency,
            p.receiver.per_second,
            p.receiver.p50_ms,
            p.receiver.p99_ms,
            p.receiver.p999_ms,
            p.receiver.errors + p.raw.errors,
            p.raw.per_second,
            p.raw.p50_ms,
            p.raw.p99_ms,
            p.ratio * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\nstored in VPP_NOTIFICATIONS: {} of {} sent{}",
        r.stored,
        r.expected,
        if r.stored == r.expected {
            ""
        } else {
            "  <-- MISMATCH"
        }
    );
    if let Some(mib) = r.receiver_peak_rss_mib {
        let _ = writeln!(out, "receiver peak RSS: {mib:.1} MiB");
    }
    let goal = match r.goal_met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured (no point at that concurrency)",
    };
    let _ = writeln!(
        out,
        "goal (receiver at {GOAL_CONCURRENCY} ≥ {:.0}% of raw, p99 < {GOAL_P99_MS} ms): {goal}",
        GOAL_RATIO * 100.0
    );
    out
}

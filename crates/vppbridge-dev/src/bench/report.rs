//! The printed tables: one per benchmark, plain text aligned for a terminal and for pasting
//! into Markdown (`docs/benchmarks.md`).

use std::fmt::Write as _;

use super::ingestion::{GOAL_CONCURRENCY, GOAL_P99_MS, GOAL_RATIO, IngestionResults};
use super::machine::Machine;
use super::reconcile::ReconcileResults;
use super::sync::{GOAL_FACTOR, GOAL_RSS_MIB, SyncResults};

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

/// The reconciliation table (Markdown).
pub fn reconcile_table(r: &ReconcileResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nReconciliation ({} assets × {} devices, {} notifications, Apple at 15 requests/s)\n",
        r.assets, r.devices, r.notifications
    );
    let _ = writeln!(out, "| measure | value | goal |");
    let _ = writeln!(out, "|---|---:|---|");
    let _ = writeln!(
        out,
        "| associate → last notification delivered | {:.2} s | |",
        r.delivery_seconds
    );
    let _ = writeln!(
        out,
        "| last notification → view exact | {:.2} s | |",
        r.seconds_to_exact_view
    );
    let _ = writeln!(
        out,
        "| associate → view exact | {:.2} s | |",
        r.seconds_from_associate
    );
    let _ = writeln!(
        out,
        "| view equals Apple's truth | {} | yes |",
        yes_no(r.exact)
    );
    let _ = writeln!(
        out,
        "| Apple calls for the scenario | {} | minimum {} |",
        r.apple_calls, r.minimum_calls
    );
    let _ = writeln!(
        out,
        "| of which verification reads | {} | |",
        r.verification_reads
    );
    let _ = writeln!(
        out,
        "| 9646 answers (first sync + scenario) | {} | 0 |",
        r.rate_limited_9646
    );
    let _ = writeln!(
        out,
        "| calls before the scenario (registration, start-up, first sync) | {} | |",
        r.calls_before_scenario
    );
    if let Some(mib) = r.serve_peak_rss_mib {
        let _ = writeln!(out, "| serve peak RSS | {mib:.1} MiB | |");
    }
    out
}

/// The sync table (Markdown).
pub fn sync_table(r: &SyncResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nSync (full, {} assignments, page size {}, Apple at {} requests/s)\n",
        r.assignments, r.page_size, r.rate
    );
    let _ = writeln!(out, "| measure | value | goal |");
    let _ = writeln!(out, "|---|---:|---|");
    let _ = writeln!(out, "| Apple calls | {} | |", r.apple_calls);
    let _ = writeln!(out, "| floor (calls / rate) | {:.2} s | |", r.floor_seconds);
    let _ = writeln!(out, "| process start → exit | {:.2} s | |", r.seconds);
    let _ = writeln!(
        out,
        "| first → last Apple call | {:.2} s | |",
        r.apple_span_seconds
    );
    let _ = writeln!(
        out,
        "| time / floor | {:.2}× | ≤ {GOAL_FACTOR}× |",
        r.factor
    );
    let _ = writeln!(
        out,
        "| peak RSS (VmHWM) | {:.1} MiB | < {GOAL_RSS_MIB} MiB |",
        r.peak_rss_mib
    );
    let _ = writeln!(out, "| 9646 answers | {} | 0 |", r.rate_limited_9646);
    let _ = writeln!(
        out,
        "| view equals Apple's truth | {} | yes |",
        yes_no(r.exact)
    );
    let _ = writeln!(out, "| exit status 0 | {} | yes |", yes_no(r.exit_ok));
    let _ = writeln!(
        out,
        "\ngoal (≤ {GOAL_FACTOR}× the floor, < {GOAL_RSS_MIB} MiB): {}",
        if r.goal_met { "met" } else { "NOT met" }
    );
    out
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

//! The printed tables: one per benchmark, plain text aligned for a terminal and for pasting
//! into Markdown (`docs/benchmarks.md`).

use std::fmt::Write as _;

use super::converge::ConvergeResults;
use super::ingestion::{GOAL_CONCURRENCY, GOAL_P99_MS, GOAL_RATIO, IngestionResults};
use super::latency::LatencyResults;
use super::machine::Machine;
use super::reconcile::ReconcileResults;
use super::stages::StageResults;
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
        "| concurrency | receiver req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | bare pipe req/s | bare p50 ms | bare p99 ms | bare CPU µs/req | receiver / bare | errors | raw JetStream msg/s | raw p99 ms | receiver / raw |"
    );
    let _ = writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let cpu = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
    for p in &r.points {
        let errors: usize = p
            .rounds
            .iter()
            .map(|r| r.receiver.stats.errors + r.bare.stats.errors)
            .sum::<usize>()
            + p.raw.errors;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {} | {:.0} | {:.2} | {:.0}% |",
            p.concurrency,
            p.receiver.per_second,
            p.receiver.p50_ms,
            p.receiver.p99_ms,
            p.receiver.p999_ms,
            cpu(p.receiver_cpu_us),
            p.bare.per_second,
            p.bare.p50_ms,
            p.bare.p99_ms,
            cpu(p.bare_cpu_us),
            p.ratio_to_bare,
            errors,
            p.raw.per_second,
            p.raw.p99_ms,
            p.ratio * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\nrounds (bare pipe req/s → receiver req/s, ratio), in the order run:"
    );
    for p in &r.points {
        let rounds: Vec<String> = p
            .rounds
            .iter()
            .map(|r| {
                format!(
                    "{:.0} → {:.0} ({:.2})",
                    r.bare.stats.per_second, r.receiver.stats.per_second, r.ratio
                )
            })
            .collect();
        let _ = writeln!(out, "  at {}: {}", p.concurrency, rounds.join(", "));
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
        "goal (receiver at {GOAL_CONCURRENCY} ≥ {GOAL_RATIO}× the bare pipe, median of {} rounds, p99 < {GOAL_P99_MS} ms): {goal}",
        r.rounds_per_point
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
    let _ = writeln!(
        out,
        "\nThen {} assignments removed with no notification: the incremental sync repairing them \
         made {} Apple calls (the full sync: {}); view equals Apple's truth: {}",
        r.repair_removed,
        r.repair_apple_calls,
        r.apple_calls,
        yes_no(r.repair_exact)
    );
    out
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The end-to-end latency table (Markdown).
pub fn latency_table(r: &LatencyResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nEnd-to-end latency (notification posted → assignment.added on vpp.changes; {} notifications/s for {} s over {} Apps; ceiling: {} notifications posted at once)\n",
        r.rate, r.seconds, r.assets, r.ceiling_notifications
    );
    let _ = writeln!(
        out,
        "| coalescing window | notifications | events received | p50 ms | p99 ms | p99.9 ms | max ms | worker ceiling notifications/s |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in &r.runs {
        let _ = writeln!(
            out,
            "| {} ms | {}{} | {} of {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            run.coalesce_window_ms,
            run.notifications,
            if run.post_errors > 0 {
                format!(" ({} failed)", run.post_errors)
            } else {
                String::new()
            },
            run.received_events,
            run.expected_events,
            run.p50_ms,
            run.p99_ms,
            run.p999_ms,
            run.max_ms,
            run.ceiling_per_second
        );
    }
    out
}

/// The stage timings (Markdown).
pub fn stages_table(r: &StageResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nReceiver stages in process (ns per body, median of passes over {} bodies)\n",
        r.bodies
    );
    let _ = writeln!(
        out,
        "| parse_envelope | normalise | outgoing | total |\n|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {:.0} | {:.0} | {:.0} | {:.0} |",
        r.parse_envelope_ns, r.normalise_ns, r.outgoing_ns, r.total_ns
    );
    out
}

/// The convergence table.
pub fn converge_table(r: &ConvergeResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nConvergence ({} desired pairs declared with `vppbridge assign`, \
         Apple at 15 requests/s)\n",
        r.pairs
    );
    let _ = writeln!(out, "| measure | value | goal |");
    let _ = writeln!(out, "|---|---:|---|");
    let rows = [
        (
            "associate requests".to_owned(),
            r.associate_requests.to_string(),
            format!("minimum {}", r.minimum_requests),
        ),
        (
            "`vppbridge assign` (write vpp-desired)".to_owned(),
            format!("{:.2} s", r.assign_seconds),
            String::new(),
        ),
        (
            "assign → every intent applied".to_owned(),
            format!("{:.2} s", r.seconds),
            format!(
                "floor {:.2} s ({} Apple calls)",
                r.floor_seconds, r.apple_calls
            ),
        ),
        (
            "intents applied".to_owned(),
            r.applied.to_string(),
            r.pairs.to_string(),
        ),
        (
            "intent events published".to_owned(),
            r.intent_events.to_string(),
            r.pairs.to_string(),
        ),
        (
            "assign → view equals Apple's truth".to_owned(),
            r.seconds_to_exact_view
                .map(|s| format!("{s:.2} s"))
                .unwrap_or_else(|| "never".into()),
            "yes".to_owned(),
        ),
        (
            "9646 answers".to_owned(),
            r.rate_limited_9646.to_string(),
            "0".to_owned(),
        ),
        (
            "serve peak RSS".to_owned(),
            r.serve_peak_rss_mib
                .map(|m| format!("{m:.0} MiB"))
                .unwrap_or_else(|| "-".into()),
            String::new(),
        ),
    ];
    for (what, value, goal) in rows {
        let _ = writeln!(out, "| {what} | {value} | {goal} |");
    }
    out
}

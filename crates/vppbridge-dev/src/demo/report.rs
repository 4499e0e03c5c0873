//! What the demo shows: a progress bar per step on a terminal (plain lines otherwise), and the
//! final table. Must not measure anything itself: it prints what it is given.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// The outcome of one step, one row of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepResult {
    /// What the step did.
    pub name: String,
    /// Messages added to `VPP_NOTIFICATIONS` during the step.
    pub notifications: u64,
    /// Notifications the receiver answered as duplicates (`outcome="duplicate"`).
    pub duplicates: u64,
    /// Apple calls made by the demo's driver (the MDM's own writes and status polls).
    pub driver_calls: u64,
    /// Apple calls made by vppbridge (registration, verifications, syncs).
    pub bridge_calls: u64,
    /// Apple calls answered 9646 (rate limited), whoever made them.
    pub rate_limited: u64,
    /// Whether the view equalled Apple's truth at the end of the step.
    pub matched: bool,
    /// One line: what happened, or why it did not match.
    pub detail: String,
    /// How long the step took.
    pub elapsed: Duration,
    /// A line printed under the table (what the step measured besides its row).
    pub footnote: Option<String>,
}

/// Where progress goes.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    terminal: bool,
}

impl Output {
    /// Bars when standard output is a terminal, plain lines otherwise.
    pub fn detect() -> Self {
        Output {
            terminal: std::io::stdout().is_terminal(),
        }
    }

    /// Prints a line.
    pub fn line(&self, text: &str) {
        println!("{text}");
    }

    /// Starts showing step `n` of `total`.
    pub fn step(&self, n: usize, total: usize, name: &str) -> StepProgress {
        let title = format!("[{n}/{total}] {name}");
        let bar = if self.terminal {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner:.cyan} {prefix} [{elapsed}] {wide_bar:.cyan/blue} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(title.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            println!("{title}");
            None
        };
        StepProgress {
            bar,
            started: Instant::now(),
            title,
        }
    }
}

/// One step on screen.
#[derive(Debug)]
pub struct StepProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    title: String,
}

impl StepProgress {
    /// Shows how far the view is: `pos` of `len` (assignments, users...) and what is awaited.
    pub fn progress(&self, pos: usize, len: usize, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.set_length(len as u64);
            bar.set_position(pos.min(len) as u64);
            bar.set_message(msg.to_owned());
        }
    }

    /// A line worth keeping (what was sent, what was dropped).
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("      {text}")),
            None => println!("      {text}"),
        }
    }

    /// How long the step has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends the step with its verdict.
    pub fn finish(&self, result: &StepResult) {
        let mark = if result.matched { "ok" } else { "FAILED" };
        let line = format!(
            "{} {mark} in {:.1} s: {}",
            self.title,
            result.elapsed.as_secs_f64(),
            result.detail
        );
        match &self.bar {
            Some(bar) => {
                bar.finish_and_clear();
                println!("{line}");
            }
            None => println!(
                "      {mark} in {:.1} s: {}",
                result.elapsed.as_secs_f64(),
                result.detail
            ),
        }
    }
}

/// The final table, one row per step, and the verdict line.
pub fn table(results: &[StepResult]) -> String {
    let name_width = results
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<name_width$}  {:>13}  {:>10}  {:>26}  {:>12}\n",
        "Step", "Notifications", "Duplicates", "Apple calls (demo + vppb.)", "View = Apple"
    );
    out.push_str(&"-".repeat(name_width + 2 + 13 + 2 + 10 + 2 + 26 + 2 + 12));
    out.push('\n');
    for r in results {
        let calls = format!(
            "{} ({} + {})",
            r.driver_calls + r.bridge_calls,
            r.driver_calls,
            r.bridge_calls
        );
        out.push_str(&format!(
            "{:<name_width$}  {:>13}  {:>10}  {:>26}  {:>12}\n",
            r.name,
            r.notifications,
            r.duplicates,
            calls,
            if r.matched { "yes" } else { "no" }
        ));
    }
    let notes: Vec<String> = results
        .iter()
        .filter_map(|r| Some(format!("* {}: {}\n", r.name, r.footnote.as_deref()?)))
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        out.extend(notes);
    }
    let limited: u64 = results.iter().map(|r| r.rate_limited).sum();
    let failed = results.iter().filter(|r| !r.matched).count();
    if limited > 0 {
        out.push_str(&format!(
            "{limited} Apple call(s) were answered 9646 (rate limited) and retried\n"
        ));
    }
    if failed == 0 {
        out.push_str(&format!(
            "every step matched: the view equals Apple's truth after all {} steps\n",
            results.len()
        ));
    } else {
        out.push_str(&format!("{failed} step(s) did NOT match\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, matched: bool) -> StepResult {
        StepResult {
            name: name.into(),
            notifications: 205,
            duplicates: 3,
            driver_calls: 4,
            bridge_calls: 27,
            matched,
            ..StepResult::default()
        }
    }

    #[test]
    fn the_table_has_a_row_per_step_and_says_every_step_matched() {
        let t = table(&[row("register", true), row("associate", true)]);
        assert_eq!(t.lines().count(), 5, "{t}");
        let assoc = t.lines().find(|l| l.starts_with("associate")).unwrap();
        assert!(
            assoc.contains("205") && assoc.contains("31 (4 + 27)") && assoc.ends_with("yes"),
            "{assoc}"
        );
        assert!(
            t.ends_with("every step matched: the view equals Apple's truth after all 2 steps\n"),
            "{t}"
        );
    }

    #[test]
    fn a_steps_footnote_is_printed_under_the_rows() {
        let mut drop = row("drop", true);
        drop.footnote = Some("incremental sync: 3 Apple calls; full sync: 30".into());
        let t = table(&[row("register", true), drop]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[4], "", "{t}");
        assert_eq!(
            lines[5], "* drop: incremental sync: 3 Apple calls; full sync: 30",
            "{t}"
        );
        assert!(t.ends_with("after all 2 steps\n"), "{t}");
    }

    #[test]
    fn the_table_counts_the_steps_that_did_not_match() {
        let t = table(&[row("register", true), row("associate", false)]);
        assert!(
            t.lines()
                .any(|l| l.starts_with("associate") && l.ends_with("no")),
            "{t}"
        );
        assert!(t.ends_with("1 step(s) did NOT match\n"), "{t}");
        assert!(!t.contains("every step matched"), "{t}");
    }
}

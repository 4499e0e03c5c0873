//! Sync progress: an indicatif bar on a terminal, a log line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use apple_vpp::types::PageInfo;

/// Where progress goes: a bar on a terminal, a log line every few seconds otherwise.
#[derive(Debug)]
pub enum Progress {
    /// Nothing (the schedule inside `serve` logs only the summary).
    Silent,
    /// Periodic log lines.
    Log {
        /// When the last line was written.
        last: Mutex<Instant>,
    },
    /// An indicatif bar.
    Bar(indicatif::ProgressBar),
}

impl Progress {
    /// A bar when standard error is a terminal, log lines otherwise.
    pub fn for_terminal() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{elapsed_precise}] {pos} records ({per_sec})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress::Bar(bar)
        } else {
            Progress::Log {
                last: Mutex::new(Instant::now()),
            }
        }
    }

    pub(super) fn page(&self, location: &str, what: &str, page: &PageInfo, total_read: u64) {
        match self {
            Progress::Silent => {}
            Progress::Bar(b) => {
                b.set_message(format!(
                    "{location} {what}: page {}/{}",
                    page.current_page_index + 1,
                    page.total_pages.max(1)
                ));
                b.inc(u64::from(page.size));
            }
            Progress::Log { last } => {
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    tracing::info!(
                        location,
                        what,
                        page = page.current_page_index + 1,
                        total_pages = page.total_pages,
                        records = total_read,
                        "sync progress"
                    );
                }
            }
        }
    }

    pub(super) fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

//! [`LogLimiter`]: at most N log lines per second for events an outsider can cause at will
//! (unauthenticated requests, refused connections, accept errors). The metrics count every
//! event exactly; the log only samples them.
//!
//! A fixed one-second window behind a short lock: a token-bucket library would not tell how many
//! lines were left out, which the next line written reports as `suppressed`.

use std::sync::Mutex;
use std::time::Instant;

/// Lets through at most `per_second` lines in each one-second window.
#[derive(Debug)]
pub struct LogLimiter {
    per_second: u64,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u64,
    suppressed: u64,
}

impl LogLimiter {
    /// At most `per_second` lines a second (0: none).
    pub fn new(per_second: u64) -> Self {
        LogLimiter {
            per_second,
            window: Mutex::new(Window {
                started: Instant::now(),
                written: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were left out since the last
    /// line written; `None` when this one must be left out.
    pub fn allow(&self) -> Option<u64> {
        // Never held across an await; a poisoned lock only means another thread panicked
        // while counting, and the counts stay usable.
        let mut w = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.started.elapsed().as_secs() >= 1 {
            w.started = Instant::now();
            w.written = 0;
        }
        if w.written < self.per_second {
            w.written += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_through_the_allowance_then_counts_what_it_leaves_out() {
        let l = LogLimiter::new(3);
        let got: Vec<Option<u64>> = (0..10).map(|_| l.allow()).collect();
        assert_eq!(&got[..3], &[Some(0), Some(0), Some(0)]);
        assert!(got[3..].iter().all(Option::is_none));
        assert_eq!(l.window.lock().unwrap().suppressed, 7);
        assert_eq!(LogLimiter::new(0).allow(), None);
    }
}

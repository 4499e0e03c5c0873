//! Retry policy of the Apple client: which delays to wait between attempts.
//!
//! Owns the arithmetic only (exponential backoff with jitter from `backon`, `Retry-After`
//! parsing and clamping); the bounded loop that sends and waits lives in
//! [`super::client`]. Must not sleep or send anything itself.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

use super::error::AppleError;
use crate::settings::ClientSettings;

/// The retry settings of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// First backoff delay.
    pub base_delay: Duration,
    /// Longest single delay; a larger `Retry-After` is clamped to it.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The policy the settings describe.
    pub fn from_settings(settings: &ClientSettings) -> Self {
        RetryPolicy {
            max_attempts: settings.max_attempts.max(1),
            base_delay: settings.retry_base_delay,
            max_delay: settings.retry_max_delay,
        }
    }

    /// The backoff sequence for one call (a fresh one per call, so calls don't share jitter
    /// state). The loop bounds the attempts itself, so the sequence is unbounded here.
    pub fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_jitter()
            .with_factor(2.0)
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .without_max_times()
            .build()
    }

    /// How long to wait before the next attempt after `error`, or `None` when the error must
    /// not be retried. Apple's `Retry-After` wins over the backoff when it was given, clamped to
    /// `max_delay` so an absurd value cannot park the caller for hours.
    pub fn delay_after(
        &self,
        error: &AppleError,
        backoff: &mut ExponentialBackoff,
    ) -> Option<Duration> {
        let retry_after = match error {
            AppleError::RateLimited { retry_after } => *retry_after,
            AppleError::Transient { retry_after, .. } => *retry_after,
            _ => return None,
        };
        // The backoff advances on every retry, so a later attempt without `Retry-After` does
        // not fall back to the base delay.
        let computed = backoff.next().unwrap_or(self.max_delay);
        Some(retry_after.unwrap_or(computed).min(self.max_delay))
    }
}

/// Parses a `Retry-After` header: delta-seconds or an HTTP date (a date in the past means
/// "now"). Unparseable values are ignored (`None`), so the backoff applies.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn an_absurd_retry_after_is_clamped_to_the_maximum_delay() {
        let p = policy();
        let e = AppleError::RateLimited {
            retry_after: Some(Duration::from_secs(86_400 * 365)),
        };
        assert_eq!(
            p.delay_after(&e, &mut p.backoff()),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_under_the_cap() {
        let p = policy();
        let mut b = p.backoff();
        let e = AppleError::Transient {
            detail: "HTTP 500".into(),
            retry_after: None,
        };
        let delays: Vec<Duration> = (0..8).map(|_| p.delay_after(&e, &mut b).unwrap()).collect();
        // Jitter adds up to 100% of the nominal delay: 100..200 ms, then 200..400 ms, ...
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200));
        assert!(delays[2] >= Duration::from_millis(400));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(10)));
        assert_eq!(delays[7], Duration::from_secs(10));
    }

    #[test]
    fn auth_permission_and_validation_errors_are_never_retried() {
        let p = policy();
        for e in [
            AppleError::TokenRevoked,
            AppleError::TokenExpired,
            AppleError::Permission {
                error_number: Some(9637),
                message: String::new(),
            },
            AppleError::Validation {
                error_number: 9702,
                message: String::new(),
                error_info: None,
            },
        ] {
            assert_eq!(p.delay_after(&e, &mut p.backoff()), None, "{e}");
        }
    }
}

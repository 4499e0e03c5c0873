//! Fault settings and the per-token rate limiter.
//!
//! Owns what can go wrong on purpose: the [`Faults`] switchboard (changed at run time through
//! `PUT /_sim/faults`) and the trailing one-second window that enforces `maxRequestPerSecond`.
//! Must not know about HTTP routing or location state.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How the simulator answers a request over the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitMode {
    /// No rate limit.
    #[value(name = "off")]
    Off,
    /// HTTP 429 with error 9646 (Apple's documented behaviour).
    #[default]
    #[value(name = "http429")]
    Http429,
    /// Error 9646 inside an HTTP 200 body (what some clients report seeing).
    #[value(name = "http200")]
    Http200,
}

/// Faults injected into Apple calls and notification deliveries. Rates are fractions in `0..=1`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// How requests over `maxRequestPerSecond` are answered.
    pub rate_limit_mode: RateLimitMode,
    /// Fraction of Apple calls answered 503 + 9729 with `Retry-After`.
    pub error503_rate: f64,
    /// Fraction of Apple calls answered 500 + 9603.
    pub error500_rate: f64,
    /// `Retry-After` seconds on 5xx answers (0 leaves the header out).
    pub retry_after_secs: u64,
    /// Latency added to every Apple call.
    pub latency_ms: u64,
    /// Fraction of notifications delivered a second time with the same `notificationId`.
    pub duplicate_rate: f64,
    /// Fraction of notifications held back and sent after the next one of their location.
    pub reorder_rate: f64,
    /// Fraction of notifications never sent.
    pub drop_rate: f64,
    /// Delay before every notification delivery.
    pub notification_delay_ms: u64,
    /// Milliseconds a write's answer (a POST under `/mdm/v2/`) is held back after the write
    /// was carried out and logged: the client has lost nothing yet but does not know the
    /// `eventId`, as when a connection drops after Apple accepted a request.
    pub write_answer_delay_ms: u64,
}

/// Draws `true` with probability `rate` (clamped to `0..=1`).
pub(crate) fn chance(rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    rand::random_bool(rate.min(1.0))
}

/// Counts requests per token in a trailing one-second window.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    /// Records a request for `key` at `now` and says whether it stays within `max` per second.
    /// Rejected requests are not counted, so a client that slows down is served again at once.
    pub(crate) fn admit(&mut self, key: &str, max: u32, now: Instant) -> bool {
        let window = self.windows.entry(key.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= max as usize {
            return false;
        }
        window.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_admits_max_requests_per_trailing_second_and_then_refuses() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        for i in 0..3 {
            assert!(limiter.admit("t", 3, start), "request {i} is admitted");
        }
        assert!(!limiter.admit("t", 3, start + Duration::from_millis(999)));
        assert!(limiter.admit("other", 3, start), "tokens are counted apart");
        assert!(limiter.admit("t", 3, start + Duration::from_secs(1)));
    }

    #[test]
    fn faults_json_uses_camel_case_and_lowercase_modes() {
        let f: Faults =
            serde_json::from_str(r#"{"rateLimitMode":"http200","dropRate":0.5}"#).unwrap();
        assert_eq!(f.rate_limit_mode, RateLimitMode::Http200);
        assert_eq!(f.drop_rate, 0.5);
        assert_eq!(Faults::default().rate_limit_mode, RateLimitMode::Http429);
        let v = serde_json::to_value(Faults::default()).unwrap();
        assert_eq!(v["rateLimitMode"], "http429");
        assert_eq!(v["error503Rate"], 0.0);
    }
}

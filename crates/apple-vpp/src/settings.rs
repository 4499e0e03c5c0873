//! [`ClientSettings`]: what an [`crate::AppleClient`] needs to know, in the client's own terms.
//! The caller maps its configuration file onto it; this crate reads no file.

use std::time::Duration;

/// Apple's production base URL of the App and Book Management API (v2).
pub const APPLE_BASE_URL: &str = "https://vpp.itunes.apple.com/mdm/v2/";

/// The settings of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Base URL of the API (v2); a missing trailing `/` is added.
    pub base_url: String,
    /// Timeout of one HTTP request (at least one second is used).
    pub request_timeout: Duration,
    /// Attempts per call for rate-limited and transient errors, the first included (at least 1).
    pub max_attempts: u32,
    /// First retry delay (doubles each attempt, with jitter).
    pub retry_base_delay: Duration,
    /// Longest single retry delay; a larger `Retry-After` is clamped to it.
    pub retry_max_delay: Duration,
    /// Requests per second per location until Service Config says otherwise.
    pub max_requests_per_second: u32,
    /// Largest response body read; a larger one is an error, not a memory spike. Apple's
    /// largest pages (1,000 assignments) are a few hundred kilobytes.
    pub max_response_bytes: usize,
}

/// The default of [`ClientSettings::max_response_bytes`]: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

impl Default for ClientSettings {
    /// Apple's production URL and documented rate (15 requests per second per location).
    fn default() -> Self {
        ClientSettings {
            base_url: APPLE_BASE_URL.to_owned(),
            request_timeout: Duration::from_secs(30),
            max_attempts: 5,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(120),
            max_requests_per_second: 15,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

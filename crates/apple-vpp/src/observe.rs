//! [`Observer`]: how a caller counts the client's attempts (metrics) without this crate knowing
//! which metrics library it uses.

/// Told about every attempt an [`crate::AppleClient`] makes.
pub trait Observer: Send + Sync {
    /// One attempt at `endpoint` (e.g. `assets`) for `location` ended with `outcome` (`ok`,
    /// `rate_limited`, `transient`, `auth`, `permission`, `validation`, `ownership_conflict`,
    /// `unexpected`); `retry` is true when the attempt was not the call's first.
    fn attempt(&self, location: &str, endpoint: &str, outcome: &str, retry: bool);
}

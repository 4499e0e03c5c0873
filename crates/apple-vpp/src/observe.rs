//! [`Observer`]: how a caller counts the client's attempts (metrics) without this crate knowing
//! which metrics library it uses.

/// Told about every attempt an [`crate::AppleClient`] makes.
pub trait Observer: Send + Sync {
    /// One attempt at `endpoint` (e.g. `assets`) for `location` ended with `outcome` (`ok`,
    /// `rate_limited`, `transient`, `auth`, `permission`, `validation`, `ownership_conflict`,
    /// `unexpected`); `retry` is true when the attempt was not the call's first.
    fn attempt(&self, location: &str, endpoint: &str, outcome: &str, retry: bool);
}

/// Every `endpoint` an [`Observer`] is told about (the API paths below the base URL).
pub const ENDPOINTS: [&str; 12] = [
    "service/config",
    "client/config",
    "assets",
    "assignments",
    "users",
    "status",
    "assets/associate",
    "assets/disassociate",
    "assets/revoke",
    "users/create",
    "users/update",
    "users/retire",
];

/// Every `outcome` an [`Observer`] is told about.
pub const OUTCOMES: [&str; 8] = [
    "ok",
    "rate_limited",
    "transient",
    "auth",
    "permission",
    "validation",
    "ownership_conflict",
    "unexpected",
];

#[cfg(test)]
mod tests {
    use super::ENDPOINTS;

    /// Every path the client sends to, as its source names it, is listed.
    #[test]
    fn every_endpoint_the_client_calls_is_listed() {
        let source = include_str!("client/mod.rs");
        let mut found = 0;
        for call in [
            "self.get(\"",
            "self.post(\"",
            "self.post_with_secret(\"",
            "Call::get(\"",
        ] {
            for (i, _) in source.match_indices(call) {
                let rest = &source[i + call.len()..];
                let endpoint = &rest[..rest.find('"').unwrap()];
                assert!(
                    ENDPOINTS.contains(&endpoint),
                    "{endpoint} is not in ENDPOINTS"
                );
                found += 1;
            }
        }
        assert!(found >= ENDPOINTS.len(), "only {found} calls found");
    }
}

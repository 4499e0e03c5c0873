//! Apple's request limits (Service Config's `limits`), with Apple's documented example values
//! as defaults until Service Config has been read. Callers chunk their writes with these.

use std::collections::BTreeMap;

/// The limits a location's client works with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    values: BTreeMap<String, i64>,
    default_rate: u32,
}

impl Limits {
    /// Defaults only, with `max_requests_per_second` from `[apple]`.
    pub fn with_default_rate(default_rate: u32) -> Self {
        Limits {
            values: BTreeMap::new(),
            default_rate,
        }
    }

    /// The same defaults, overridden by Service Config's `limits`.
    pub fn with_values(&self, values: BTreeMap<String, i64>) -> Self {
        Limits {
            values,
            default_rate: self.default_rate,
        }
    }

    /// Any limit by Apple's key (`maxAssets`, ...), when Service Config gave it.
    pub fn get(&self, key: &str) -> Option<i64> {
        self.values.get(key).copied()
    }

    fn positive(&self, key: &str, default: i64) -> usize {
        let v = self.get(key).filter(|v| *v > 0).unwrap_or(default);
        usize::try_from(v).unwrap_or(usize::MAX)
    }

    /// `maxRequestPerSecond` (default: `[apple] max_requests_per_second`).
    pub fn max_requests_per_second(&self) -> u32 {
        self.get("maxRequestPerSecond")
            .filter(|v| *v > 0)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(self.default_rate)
    }

    /// `maxAssets`: assets per associate/disassociate (default 25).
    pub fn max_assets(&self) -> usize {
        self.positive("maxAssets", 25)
    }

    /// `maxClientUserIds`: users per associate/disassociate (default 1000).
    pub fn max_client_user_ids(&self) -> usize {
        self.positive("maxClientUserIds", 1000)
    }

    /// `maxSerialNumbers`: serial numbers per associate/disassociate (default 1000).
    pub fn max_serial_numbers(&self) -> usize {
        self.positive("maxSerialNumbers", 1000)
    }

    /// `maxRevokeClientUserIds`: users per revoke (default 100).
    pub fn max_revoke_client_user_ids(&self) -> usize {
        self.positive("maxRevokeClientUserIds", 100)
    }

    /// `maxRevokeSerialNumbers`: serial numbers per revoke (default 100).
    pub fn max_revoke_serial_numbers(&self) -> usize {
        self.positive("maxRevokeSerialNumbers", 100)
    }

    /// `maxUsers`: users per create/update/retire (default 100).
    pub fn max_users(&self) -> usize {
        self.positive("maxUsers", 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_config_values_override_the_defaults() {
        let l = Limits::with_default_rate(15);
        assert_eq!((l.max_assets(), l.max_requests_per_second()), (25, 15));
        let l = l.with_values(BTreeMap::from([
            ("maxAssets".to_owned(), 10),
            ("maxRequestPerSecond".to_owned(), 5),
            ("maxUsers".to_owned(), 0),
        ]));
        assert_eq!((l.max_assets(), l.max_requests_per_second()), (10, 5));
        assert_eq!(l.max_users(), 100, "a zero limit is ignored");
    }
}

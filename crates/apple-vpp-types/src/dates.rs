//! Apple's date format (`tokenExpirationDate`, the content token's `expDate`).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// The date format Apple uses for `tokenExpirationDate` and the content token's `expDate`
/// (`2030-11-08T22:33:22+0000`: offset without a colon).
pub const APPLE_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%z";

/// Parses an Apple date (`2030-11-08T22:33:22+0000`); also accepts RFC 3339 (`+00:00`, `Z`) and a
/// date without an offset (read as UTC), since Apple's examples are not uniform.
pub fn parse_apple_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_str(s, APPLE_DATE_FORMAT) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

/// Formats a date the way Apple does (`2030-11-08T22:33:22+0000`).
pub fn format_apple_date(d: DateTime<Utc>) -> String {
    d.format(APPLE_DATE_FORMAT).to_string()
}

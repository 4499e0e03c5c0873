//! The keys the configuration file may hold, and the walk that finds every unknown one (serde's
//! `deny_unknown_fields` stops at the first). A test keeps this table equal to [`super::Config`].

use super::validate::Problem;

/// Keys of each table section.
pub(super) const SECTIONS: &[(&str, &[&str])] = &[
    (
        "http",
        &[
            "listen",
            "public_url",
            "max_body_bytes",
            "max_concurrent_requests",
            "publish_timeout_secs",
            "retry_after_secs",
            "header_read_timeout_secs",
            "body_timeout_secs",
            "max_connections",
            "unauthorized_log_lines_per_sec",
        ],
    ),
    (
        "nats",
        &[
            "url",
            "credentials_file",
            "token_file",
            "tls_required",
            "tls_ca_file",
            "replicas",
            "max_age_days",
            "duplicate_window_secs",
        ],
    ),
    (
        "apple",
        &[
            "base_url",
            "request_timeout_secs",
            "max_attempts",
            "retry_base_delay_ms",
            "retry_max_delay_secs",
            "max_requests_per_second",
        ],
    ),
    ("mdm", &["id", "name"]),
    (
        "worker",
        &[
            "durable_name",
            "ack_wait_secs",
            "max_deliver",
            "backoff_secs",
            "coalesce_window_ms",
            "batch_size",
            "hold_delay_ms",
            "max_processing_secs",
            "nats_deadline_secs",
            "token_check_interval_ms",
        ],
    ),
    (
        "sync",
        &[
            "incremental_interval_secs",
            "full_interval_secs",
            "users_active_only",
        ],
    ),
    (
        "intents",
        &[
            "enabled",
            "interval_ms",
            "status_poll_after_secs",
            "status_poll_interval_secs",
            "resend_after_secs",
            "max_attempts",
            "retry_base_delay_secs",
            "retry_max_delay_secs",
        ],
    ),
    ("cluster", &["lease_ttl_secs", "heartbeat_secs"]),
];

/// Keys of each `[[locations]]` entry.
pub(super) const LOCATION_KEYS: &[&str] = &[
    "id",
    "token_file",
    "notification_secret_file",
    "previous_notification_secret_file",
    "notification_types",
];

/// Every key of `root` that the configuration does not know, as an error each.
pub(super) fn unknown_keys(root: &toml::Table) -> Vec<Problem> {
    let mut problems = Vec::new();
    let top: Vec<&str> = SECTIONS
        .iter()
        .map(|(s, _)| *s)
        .chain(["locations"])
        .collect();
    for (key, value) in root {
        if key == "locations" {
            match value.as_array() {
                Some(entries) => {
                    for (i, entry) in entries.iter().enumerate() {
                        let Some(t) = entry.as_table() else { continue };
                        check_table(&format!("locations[{i}]"), t, LOCATION_KEYS, &mut problems);
                    }
                }
                None => continue,
            }
        } else if let Some((_, keys)) = SECTIONS.iter().find(|(s, _)| s == key) {
            if let Some(t) = value.as_table() {
                check_table(key, t, keys, &mut problems);
            }
        } else {
            problems.push(unknown(key, key, &top, "a top-level section"));
        }
    }
    problems
}

/// Removes every unknown key, so the typed parse can report the remaining problems.
pub(super) fn strip_unknown(root: &mut toml::Table) {
    root.retain(|k, _| k == "locations" || SECTIONS.iter().any(|(s, _)| *s == k));
    for (key, value) in root.iter_mut() {
        if key == "locations" {
            if let Some(entries) = value.as_array_mut() {
                for t in entries.iter_mut().filter_map(toml::Value::as_table_mut) {
                    t.retain(|k, _| LOCATION_KEYS.contains(&k));
                }
            }
        } else if let (Some((_, keys)), Some(t)) = (
            SECTIONS.iter().find(|(s, _)| s == key),
            value.as_table_mut(),
        ) {
            t.retain(|k, _| keys.contains(&k));
        }
    }
}

fn check_table(path: &str, table: &toml::Table, known: &[&str], problems: &mut Vec<Problem>) {
    for key in table.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(unknown(
                &format!("{path}.{key}"),
                key,
                known,
                &format!("[{path}]"),
            ));
        }
    }
}

fn unknown(full: &str, key: &str, known: &[&str], place: &str) -> Problem {
    let fix = match closest(key, known) {
        Some(k) => format!("did you mean `{k}`? Known keys: {}", known.join(", ")),
        None => format!("remove it; known keys: {}", known.join(", ")),
    };
    Problem::error(full, format!("unknown key in {place}; {fix}"))
}

/// The known key nearest to a typo, when it is near enough to be a typo.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::super::{Config, LocationConfig};
    use super::*;

    #[test]
    fn the_key_table_lists_exactly_the_fields_of_config() {
        let mut c = Config::default();
        c.nats.credentials_file = Some(PathBuf::from("a"));
        c.nats.token_file = Some(PathBuf::from("a"));
        c.nats.tls_ca_file = Some(PathBuf::from("a"));
        c.locations.push(LocationConfig {
            id: "a".into(),
            token_file: "t".into(),
            notification_secret_file: "s".into(),
            previous_notification_secret_file: Some("p".into()),
            notification_types: Some(vec![]),
        });
        let value = toml::Table::try_from(&c).unwrap();
        let mut serialised = BTreeSet::new();
        for (section, v) in &value {
            match v {
                toml::Value::Table(t) => {
                    serialised.extend(t.keys().map(|k| format!("{section}.{k}")));
                }
                toml::Value::Array(a) => {
                    let t = a[0].as_table().unwrap();
                    serialised.extend(t.keys().map(|k| format!("{section}.{k}")));
                }
                _ => panic!("unexpected top-level value {section}"),
            }
        }
        let mut table: BTreeSet<String> = SECTIONS
            .iter()
            .flat_map(|(s, keys)| keys.iter().map(move |k| format!("{s}.{k}")))
            .collect();
        table.extend(LOCATION_KEYS.iter().map(|k| format!("locations.{k}")));
        assert_eq!(serialised, table);
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_suggestion() {
        let t: toml::Table = toml::from_str(
            "colour = 1\n[http]\nlisten = '0.0.0.0:1'\nlistn = 2\n[apple]\nmax_atempts = 3\n\
             [[locations]]\nid = 'a'\ntokn_file = 'x'\n",
        )
        .unwrap();
        let p: Vec<String> = unknown_keys(&t).iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 4, "{p:#?}");
        let all = p.join("\n");
        for needle in [
            "colour",
            "http.listn",
            "`listen`",
            "apple.max_atempts",
            "`max_attempts`",
            "locations[0].tokn_file",
            "`token_file`",
        ] {
            assert!(all.contains(needle), "{needle} missing in {all}");
        }
    }
}

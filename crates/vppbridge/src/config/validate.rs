//! Validation: every problem of a loaded [`Config`] at once, each naming the key and the fix,
//! and `vppbridge config check`. Reads the files the configuration names (to check they are
//! usable) but never prints their contents.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use reqwest::Url;

use super::Config;
use apple_vpp::token::{ContentToken, TokenStatus};
use apple_vpp::types::notification_type::SUBSCRIBABLE;

/// Smallest accepted `nats.duplicate_window_secs`: Apple repeats a notification within 1–5
/// minutes, and redeliveries after our own outage come later.
pub const MIN_DUPLICATE_WINDOW_SECS: u64 = 1200;

/// Largest accepted `nats.max_age_days` (100 years): JetStream keeps a stream's max age in
/// nanoseconds as a signed 64-bit number (at most about 292 years).
pub const MAX_AGE_DAYS: u64 = 36_500;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Works, but probably not as intended.
    Warning,
    /// Cannot work.
    Error,
}

/// One problem: the key it concerns, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The key (`locations[0].token_file`), or the file or variable concerned.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    /// An error.
    pub fn error(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Error,
            key: key.into(),
            message: message.into(),
        }
    }

    /// A warning.
    pub fn warning(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.key, self.message)
    }
}

/// Every problem of `config`: URLs, numbers, location ids, and the files it names (readable,
/// a real content token, secrets not world-readable).
pub fn validate(config: &Config) -> Vec<Problem> {
    let mut p = Vec::new();
    check_https_url(&mut p, "http.public_url", &config.http.public_url);
    check_https_url(&mut p, "apple.base_url", &config.apple.base_url);
    check_nats(&mut p, config);
    check_numbers(&mut p, config);
    check_mdm(&mut p, config);
    check_locations(&mut p, config);
    p
}

fn is_local(url: &Url) -> bool {
    matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    )
}

fn check_https_url(p: &mut Vec<Problem>, key: &str, value: &str) {
    match Url::parse(value) {
        Err(e) => p.push(Problem::error(
            key,
            format!("{value:?} is not a URL ({e}); write it like https://host/path"),
        )),
        Ok(u) if u.scheme() == "https" => {}
        Ok(u) if u.scheme() == "http" && is_local(&u) => {}
        Ok(u) => p.push(Problem::error(
            key,
            format!(
                "{value:?} uses {}: only https is accepted (http only for localhost/127.0.0.1)",
                u.scheme()
            ),
        )),
    }
}

fn check_nats(p: &mut Vec<Problem>, config: &Config) {
    let n = &config.nats;
    for part in n.url.split(',').map(str::trim) {
        let with_scheme = if part.contains("://") {
            part.to_owned()
        } else {
            format!("nats://{part}")
        };
        let ok = Url::parse(&with_scheme).is_ok_and(|u| {
            matches!(u.scheme(), "nats" | "tls" | "ws" | "wss") && u.host_str().is_some()
        });
        if !ok {
            p.push(Problem::error(
                "nats.url",
                format!(
                    "{:?} is not a NATS server URL; write it like nats://127.0.0.1:4222 (several: comma-separated), or set VPPBRIDGE_NATS_URL",
                    crate::files::redact_url(part)
                ),
            ));
        }
    }
    for (key, file) in [
        ("nats.credentials_file", &n.credentials_file),
        ("nats.token_file", &n.token_file),
        ("nats.tls_ca_file", &n.tls_ca_file),
    ] {
        if let Some(path) = file {
            check_readable(p, key, path);
        }
    }
    for (key, file) in [
        ("nats.credentials_file", &n.credentials_file),
        ("nats.token_file", &n.token_file),
    ] {
        if let Some(path) = file {
            check_private(p, key, path);
        }
    }
    if n.duplicate_window_secs < MIN_DUPLICATE_WINDOW_SECS {
        p.push(Problem::error(
            "nats.duplicate_window_secs",
            format!(
                "{} is too short to catch Apple's repeated deliveries; use at least {MIN_DUPLICATE_WINDOW_SECS}",
                n.duplicate_window_secs
            ),
        ));
    }
    if !(1..=5).contains(&n.replicas) {
        p.push(Problem::error(
            "nats.replicas",
            format!(
                "{} replicas: use 1 on a single server, 3 (or 5) on a cluster",
                n.replicas
            ),
        ));
    }
}

fn check_numbers(p: &mut Vec<Problem>, config: &Config) {
    let positive: &[(&str, u64)] = &[
        ("apple.max_attempts", u64::from(config.apple.max_attempts)),
        (
            "apple.max_requests_per_second",
            u64::from(config.apple.max_requests_per_second),
        ),
        (
            "apple.request_timeout_secs",
            config.apple.request_timeout_secs,
        ),
        ("http.max_body_bytes", config.http.max_body_bytes as u64),
        (
            "http.max_concurrent_requests",
            config.http.max_concurrent_requests as u64,
        ),
        (
            "http.header_read_timeout_secs",
            config.http.header_read_timeout_secs,
        ),
        ("http.body_timeout_secs", config.http.body_timeout_secs),
        ("http.max_connections", config.http.max_connections as u64),
        ("worker.batch_size", config.worker.batch_size as u64),
        (
            "worker.max_processing_secs",
            config.worker.max_processing_secs,
        ),
        (
            "worker.nats_deadline_secs",
            config.worker.nats_deadline_secs,
        ),
    ];
    for &(key, v) in positive {
        if v == 0 {
            p.push(Problem::error(key, "0 cannot work; use at least 1"));
        }
    }
    if config.nats.max_age_days > MAX_AGE_DAYS {
        p.push(Problem::error(
            "nats.max_age_days",
            format!(
                "{} days is beyond what JetStream can store as a max age; use at most {MAX_AGE_DAYS} (0 keeps events until the stream's size limits)",
                config.nats.max_age_days
            ),
        ));
    }
    let i = &config.intents;
    if i.retry_base_delay_secs == 0 || i.retry_max_delay_secs < i.retry_base_delay_secs {
        p.push(Problem::error(
            "intents.retry_base_delay_secs",
            format!(
                "{} s (max {} s): use at least 1 and no more than intents.retry_max_delay_secs, or every pass resends a failing request",
                i.retry_base_delay_secs, i.retry_max_delay_secs
            ),
        ));
    }
    check_cluster(p, config);
    if config.worker.max_deliver < 1 {
        p.push(Problem::error(
            "worker.max_deliver",
            "must be at least 1 (deliveries before dead-lettering)",
        ));
    }
    if !config.worker.backoff_secs.is_empty()
        && config.worker.max_deliver <= config.worker.backoff_secs.len() as i64
    {
        p.push(Problem::error(
            "worker.max_deliver",
            "must be greater than the number of worker.backoff_secs steps (JetStream refuses the consumer otherwise)",
        ));
    }
}

fn check_cluster(p: &mut Vec<Problem>, config: &Config) {
    let c = &config.cluster;
    if c.heartbeat_secs == 0 {
        p.push(Problem::error(
            "cluster.heartbeat_secs",
            "0 cannot work; use at least 1 (seconds between lease renewals)",
        ));
    }
    if c.lease_ttl_secs < c.heartbeat_secs.max(1) * 2 {
        p.push(Problem::error(
            "cluster.lease_ttl_secs",
            format!(
                "{} s would let a live worker's lease expire between two renewals; use at least twice cluster.heartbeat_secs ({} s)",
                c.lease_ttl_secs,
                c.heartbeat_secs.max(1) * 2
            ),
        ));
    }
}

fn check_mdm(p: &mut Vec<Problem>, config: &Config) {
    let id = config.mdm.id.trim();
    if id.is_empty() {
        p.push(Problem::warning(
            "mdm.id",
            "empty: set it once to a UUID (e.g. the output of `uuidgen`) and keep it; without it vppbridge cannot tell when another MDM takes a location over",
        ));
    } else if id.chars().count() > 100 {
        p.push(Problem::error(
            "mdm.id",
            "longer than Apple's 100 characters (maxMdmIdLength); use a UUID",
        ));
    }
    let name = config.mdm.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        p.push(Problem::error(
            "mdm.name",
            "must be 1 to 100 characters (Apple's maxMdmNameLength)",
        ));
    }
}

fn is_slug(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_locations(p: &mut Vec<Problem>, config: &Config) {
    if config.locations.is_empty() {
        p.push(Problem::warning(
            "locations",
            "no [[locations]]: vppbridge has nothing to do; add one per content token",
        ));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, l) in config.locations.iter().enumerate() {
        let key = |k: &str| format!("locations[{i}].{k}");
        if !is_slug(&l.id) {
            p.push(Problem::error(
                key("id"),
                format!(
                    "{:?} is not a slug: use 1 to 64 of a-z, 0-9, _ and - (it appears in URLs, subjects and keys)",
                    l.id
                ),
            ));
        }
        if let Some(first) = seen.insert(&l.id, i) {
            p.push(Problem::error(
                key("id"),
                format!(
                    "{:?} is already the id of locations[{first}]; give each location its own id",
                    l.id
                ),
            ));
        }
        check_token(p, &key("token_file"), &l.token_file);
        check_secret(
            p,
            &key("notification_secret_file"),
            &l.notification_secret_file,
        );
        if let Some(prev) = &l.previous_notification_secret_file {
            check_secret(p, &key("previous_notification_secret_file"), prev);
        }
        for t in l.notification_types.iter().flatten() {
            if !SUBSCRIBABLE.contains(&t.as_str()) {
                p.push(Problem::error(
                    key("notification_types"),
                    format!(
                        "{t:?} is not a notification type; use some of {}",
                        SUBSCRIBABLE.join(", ")
                    ),
                ));
            }
        }
    }
}

fn check_token(p: &mut Vec<Problem>, key: &str, path: &Path) {
    let bytes = match crate::files::read_bounded(path) {
        Ok(b) => b,
        Err(e) => {
            p.push(Problem::error(
                key,
                format!(
                    "cannot read the content token file {}: {e}; download the .vpptoken from Apple School/Business Manager (Settings → Apps and Books)",
                    path.display()
                ),
            ));
            return;
        }
    };
    match ContentToken::parse_bytes(&bytes) {
        Err(e) => p.push(Problem::error(
            key,
            format!("the content token file {}: {e}", path.display()),
        )),
        Ok(t) => {
            let days = t.days_left(Utc::now());
            match t.status(Utc::now()) {
                TokenStatus::Valid => {}
                TokenStatus::ExpiresSoon => p.push(Problem::warning(
                    key,
                    format!(
                        "the content token of {} expires in {days} day(s); download a new .vpptoken (Settings → Apps and Books) and replace {}",
                        t.org_name,
                        path.display()
                    ),
                )),
                TokenStatus::Expired => p.push(Problem::error(
                    key,
                    format!(
                        "the content token of {} has expired; download a new .vpptoken (Settings → Apps and Books) and replace {}",
                        t.org_name,
                        path.display()
                    ),
                )),
            }
            check_private(p, key, path);
        }
    }
}

/// The same read as `serve` does ([`crate::secret::read_secret_file`]), so what passes here
/// starts there.
fn check_secret(p: &mut Vec<Problem>, key: &str, path: &Path) {
    match crate::secret::read_secret_file(path) {
        Err(e) => p.push(Problem::error(key, e.to_string())),
        Ok(_) => check_private(p, key, path),
    }
}

fn check_readable(p: &mut Vec<Problem>, key: &str, path: &Path) {
    if let Err(e) = crate::files::read_bounded(path) {
        p.push(Problem::error(
            key,
            format!(
                "cannot read {}: {e}; check the path and its permissions",
                path.display()
            ),
        ));
    }
}

/// A secret file that anyone on the machine can read is a warning.
fn check_private(p: &mut Vec<Problem>, key: &str, path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o004 != 0 {
                p.push(Problem::warning(
                    key,
                    format!(
                        "{} is readable by every user of this machine; run `chmod 600 {}`",
                        path.display(),
                        path.display()
                    ),
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (p, key, path);
}

/// `vppbridge config check`: loads and validates, prints every problem, and exits 0 when there
/// are only warnings (or none), 1 when there is an error.
///
/// # Errors
/// Never in practice: problems are printed, not returned; the `Result` fits the command table.
pub fn check_command(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (config, mut problems) = super::load_report(path);
    if let Some(c) = &config {
        problems.extend(validate(c));
    }
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    for problem in &problems {
        println!("{problem}");
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    let name = path.map_or_else(
        || "the default configuration".to_owned(),
        |p| p.display().to_string(),
    );
    if errors > 0 {
        println!("{name}: {errors} error(s), {warnings} warning(s)");
        Ok(ExitCode::FAILURE)
    } else {
        let locations = config.map_or(0, |c| c.locations.len());
        println!("{name}: OK ({locations} location(s), {warnings} warning(s))");
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests;

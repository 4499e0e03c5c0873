//! Files the configuration names that other users can read (a warning at start, an error in
//! `config check`).

use std::path::Path;

use super::Config;
use super::validate::{Problem, Severity};

/// The files of `config` that hold secrets and that every user of the machine can read, as
/// warnings (`serve` logs them; `config check` prints them).
pub fn world_readable(config: &Config) -> Vec<Problem> {
    let mut files: Vec<(String, &Path)> = Vec::new();
    for (i, l) in config.locations.iter().enumerate() {
        files.push((format!("locations[{i}].token_file"), &l.token_file));
        files.push((
            format!("locations[{i}].notification_secret_file"),
            &l.notification_secret_file,
        ));
        if let Some(p) = &l.previous_notification_secret_file {
            files.push((
                format!("locations[{i}].previous_notification_secret_file"),
                p,
            ));
        }
    }
    for (key, file) in [
        ("nats.credentials_file", &config.nats.credentials_file),
        ("nats.token_file", &config.nats.token_file),
    ] {
        if let Some(p) = file {
            files.push((key.to_owned(), p));
        }
    }
    let mut problems = Vec::new();
    for (key, path) in files {
        if is_world_readable(path) {
            problems.push(Problem::warning(
                key,
                format!(
                    "{} is readable by every user of this machine; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    problems
}

/// Logs [`world_readable`]'s warnings: for `serve`, which uses the files.
pub fn warn_world_readable(config: &Config) {
    for p in world_readable(config) {
        debug_assert_eq!(p.severity, Severity::Warning);
        tracing::warn!(key = %p.key, "configuration: {}", p.message);
    }
}

fn is_world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn world_readable_secret_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t.vpptoken");
        let secret = dir.path().join("s");
        std::fs::write(&token, "x").unwrap();
        std::fs::write(&secret, "x").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut config = Config::default();
        config.locations = vec![crate::config::LocationConfig {
            id: "a".into(),
            token_file: token,
            notification_secret_file: secret,
            previous_notification_secret_file: None,
            notification_types: None,
        }];
        let problems = world_readable(&config);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "locations[0].token_file");
        assert!(problems[0].message.contains("chmod 600"));
    }
}

//! Loading: defaults, then the TOML file, then the environment (`VPPBRIDGE_NATS_URL`,
//! `VPPBRIDGE_LISTEN`). Relative paths in the file are resolved against the file's folder, so a
//! configuration works from any working directory.

use std::path::{Path, PathBuf};

use super::Config;
use super::keys::{strip_unknown, unknown_keys};
use super::validate::{Problem, Severity, validate};

/// Environment variable overriding `nats.url`.
pub const ENV_NATS_URL: &str = "VPPBRIDGE_NATS_URL";
/// Environment variable overriding `http.listen`.
pub const ENV_LISTEN: &str = "VPPBRIDGE_LISTEN";

/// Loads the configuration: defaults, then the file (when given), then the environment.
/// Does not look at the files the configuration names (see [`load_checked`]).
///
/// # Errors
/// When the file cannot be read or parsed, holds unknown keys (all are listed), or an
/// environment override is malformed.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    let (config, problems) = load_report(path);
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    match config {
        Some(c) if errors.is_empty() => Ok(c),
        _ => anyhow::bail!(
            "the configuration{} cannot be used:\n{}",
            path.map(|p| format!(" {}", p.display()))
                .unwrap_or_default(),
            errors.join("\n")
        ),
    }
}

/// [`load`], then [`validate()`]: warnings are logged, errors (all of them) fail the load. For
/// commands that are about to use the configuration.
///
/// # Errors
/// Every error [`load`] or [`validate()`] finds, in one message.
pub fn load_checked(path: Option<&Path>) -> anyhow::Result<Config> {
    let config = load(path)?;
    let problems = validate(&config);
    let mut errors = Vec::new();
    for p in &problems {
        match p.severity {
            Severity::Warning => tracing::warn!(key = %p.key, "configuration: {}", p.message),
            Severity::Error => errors.push(p.to_string()),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!(
            "the configuration has {} error(s) (run `vppbridge config check`):\n{}",
            errors.len(),
            errors.join("\n")
        );
    }
    Ok(config)
}

/// Loads as far as possible and reports every problem of the file itself (syntax, unknown keys,
/// wrong types, environment). `None` when no configuration could be built.
pub fn load_report(path: Option<&Path>) -> (Option<Config>, Vec<Problem>) {
    let mut problems = Vec::new();
    let config = match path {
        None => Some(Config::default()),
        Some(p) => parse_file(p, &mut problems),
    };
    let Some(mut config) = config else {
        return (None, problems);
    };
    if let Some(dir) = path.and_then(Path::parent) {
        resolve_paths(&mut config, dir);
    }
    apply_env(&mut config, &mut problems);
    (Some(config), problems)
}

fn parse_file(p: &Path, problems: &mut Vec<Problem>) -> Option<Config> {
    let text = match crate::files::read_text(p) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem::error(
                "--config",
                format!(
                    "cannot read {}: {e}; check the path given with --config or VPPBRIDGE_CONFIG",
                    p.display()
                ),
            ));
            return None;
        }
    };
    let mut table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem::error(
                p.display().to_string(),
                format!("not valid TOML: {e}"),
            ));
            return None;
        }
    };
    let unknown = unknown_keys(&table);
    let parsed = if unknown.is_empty() {
        // From the text, so type errors carry line and column.
        toml::from_str::<Config>(&text)
    } else {
        strip_unknown(&mut table);
        toml::Value::Table(table).try_into::<Config>()
    };
    problems.extend(unknown);
    match parsed {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(Problem::error(
                p.display().to_string(),
                format!(
                    "{}; see deploy/vppbridge.example.toml for each key's type",
                    e.to_string().trim_end()
                ),
            ));
            None
        }
    }
}

fn resolve_paths(config: &mut Config, dir: &Path) {
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = dir.join(&*p);
        }
    };
    for l in &mut config.locations {
        resolve(&mut l.token_file);
        resolve(&mut l.notification_secret_file);
        if let Some(p) = &mut l.previous_notification_secret_file {
            resolve(p);
        }
    }
    for p in [
        &mut config.nats.credentials_file,
        &mut config.nats.token_file,
        &mut config.nats.tls_ca_file,
    ]
    .into_iter()
    .flatten()
    {
        resolve(p);
    }
}

fn apply_env(config: &mut Config, problems: &mut Vec<Problem>) {
    if let Ok(url) = std::env::var(ENV_NATS_URL) {
        config.nats.url = url;
    }
    if let Ok(listen) = std::env::var(ENV_LISTEN) {
        match listen.parse() {
            Ok(addr) => config.http.listen = addr,
            Err(e) => problems.push(Problem::error(
                ENV_LISTEN,
                format!("{listen:?} is not an address like 0.0.0.0:8080: {e}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("vppbridge.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_file_with_typos_and_a_type_error_reports_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "[nats]\nurll = 'x'\n[apple]\nmax_attempts = 'many'\n[mdm]\nnmae = 'x'\n",
        );
        let (config, problems) = load_report(Some(&p));
        assert!(config.is_none());
        let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(all.len(), 3, "{all:#?}");
        assert!(all[2].contains("max_attempts"), "{all:#?}");
        let err = load(Some(&p)).unwrap_err().to_string();
        assert!(
            err.contains("nats.urll") && err.contains("mdm.nmae"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_are_read_from_the_configuration_folder() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "[[locations]]\nid = 'a'\ntoken_file = 't.vpptoken'\nnotification_secret_file = '/abs/s'\n",
        );
        let c = load(Some(&p)).unwrap();
        assert_eq!(c.locations[0].token_file, dir.path().join("t.vpptoken"));
        assert_eq!(c.locations[0].notification_secret_file, Path::new("/abs/s"));
    }

    #[test]
    fn no_file_gives_the_defaults() {
        let c = load_report(None).0.unwrap();
        assert_eq!(c.apple.base_url, "https://vpp.itunes.apple.com/mdm/v2/");
    }
}

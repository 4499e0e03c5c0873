//! `deploy/` and `docs/` name only metrics and configuration keys that exist in the code.
//!
//! Alert rules, the dashboard, the Kubernetes ConfigMap and the operator's guide are read by
//! people and machines that cannot compile them; this is where a renamed metric or key turns
//! them red instead of silently breaking an alert or a deployment.

mod consumers;
mod scrape;
mod tools;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use vppbridge::config::Config;
use vppbridge::metrics::{
    Loc, LocEndpointOutcome, LocKind, LocKindOutcome, LocReason, LocTypeOutcome, Metrics,
};

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every text file under `dir`, recursively, with its path.
pub(crate) fn text_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(text_files(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path, text));
        }
    }
    out.sort();
    out
}

/// A registry with one sample in every labelled family: the exposition leaves empty families
/// out, and a family nobody has touched yet is still a series the alerts may use.
fn populated_metrics() -> Metrics {
    let m = Metrics::new();
    let lto = LocTypeOutcome {
        location: "l".into(),
        r#type: "t".into(),
        outcome: "o".into(),
    };
    let leo = LocEndpointOutcome {
        location: "l".into(),
        endpoint: "e".into(),
        outcome: "o".into(),
    };
    let lk = LocKind {
        location: "l".into(),
        kind: "k".into(),
    };
    let loc = Loc {
        location: "l".into(),
    };
    m.notifications.get_or_create(&lto).inc();
    m.reconciliations.get_or_create(&lto).inc();
    m.apple_requests.get_or_create(&leo).inc();
    m.apple_retries.get_or_create(&leo).inc();
    m.view_changes.get_or_create(&lk).inc();
    m.alerts.get_or_create(&lk).inc();
    m.dlq_messages.get_or_create(&loc).inc();
    m.token_expiry_seconds.get_or_create(&loc).set(1);
    m.sync_differences.get_or_create(&loc).inc();
    m.intents
        .get_or_create(&vppbridge::metrics::LocState {
            location: "l".into(),
            state: "s".into(),
        })
        .set(1);
    m.intents_failed
        .get_or_create(&vppbridge::metrics::LocError {
            location: "l".into(),
            error_number: "1".into(),
        })
        .inc();
    m.location_paused
        .get_or_create(&LocReason {
            location: "l".into(),
            reason: "r".into(),
        })
        .set(1);
    m.sync_runs
        .get_or_create(&LocKindOutcome {
            location: "l".into(),
            kind: "k".into(),
            outcome: "o".into(),
        })
        .inc();
    m.ownership_changes
        .get_or_create(&vppbridge::metrics::OwnershipChange { change: "c".into() })
        .inc();
    m
}

/// The series names a Prometheus query can use, from the `# TYPE` lines of the exposition:
/// counters as `_total`, histograms as `_bucket`, `_sum` and `_count`, gauges as they are.
fn exported_series() -> BTreeSet<String> {
    let text = populated_metrics().encode();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#") || words.next() != Some("TYPE") {
            continue;
        }
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    // A family added to Metrics but not to populated_metrics() would be missing here, and an
    // alert on it reported as unknown: say so plainly instead.
    let source = std::fs::read_to_string(repo().join("crates/vppbridge/src/metrics/mod.rs"))
        .expect("src/metrics/mod.rs");
    let registered = source.matches("r.register(").count();
    let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(
        registered, types,
        "src/metrics/mod.rs registers {registered} series but only {types} were exported: give the \
         new family a sample in populated_metrics() (tests/it/deploy.rs)"
    );
    names
}

/// Every `vppbridge_<name>` word in `text` (a word boundary on the left, at least one name
/// character after the underscore, so prose such as `vppbridge_*` is not a metric).
pub(crate) fn metric_names_in(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "vppbridge_";
    let is_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices(PREFIX) {
        if text[..at].chars().next_back().is_some_and(is_name) {
            continue;
        }
        let rest = &text[at + PREFIX.len()..];
        let len = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        if len > 0 {
            names.insert(format!("{PREFIX}{}", &rest[..len]));
        }
    }
    names
}

/// The names in `text` that are not exported series.
fn unknown_metrics(text: &str, exported: &BTreeSet<String>) -> Vec<String> {
    metric_names_in(text)
        .into_iter()
        .filter(|name| !exported.contains(name))
        .collect()
}

/// Checks one configuration text: it must parse as [`Config`] (types, and unknown keys refused
/// by `deny_unknown_fields`), and every key path in it must survive a round trip through
/// `Config` (so a key serde would ignore is caught even without `deny_unknown_fields`).
fn check_config(text: &str) -> Result<(), String> {
    let written: toml::Value = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
    let config: Config =
        toml::from_str(text).map_err(|e| format!("not a vppbridge configuration: {e}"))?;
    let known = toml::Value::try_from(&config).map_err(|e| format!("cannot serialize: {e}"))?;
    let mut missing = Vec::new();
    missing_keys(&written, &known, "", &mut missing);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "keys that are not in Config: {}",
            missing.join(", ")
        ))
    }
}

fn missing_keys(written: &toml::Value, known: &toml::Value, at: &str, out: &mut Vec<String>) {
    match (written, known) {
        (toml::Value::Table(w), toml::Value::Table(k)) => {
            for (key, value) in w {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match k.get(key) {
                    Some(known_value) => missing_keys(value, known_value, &path, out),
                    None => out.push(path),
                }
            }
        }
        (toml::Value::Array(w), toml::Value::Array(k)) => {
            for (i, (value, known_value)) in w.iter().zip(k).enumerate() {
                missing_keys(value, known_value, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The TOML documents that `deploy/` and `docs/` hand to vppbridge: `*.toml` files, the
/// ConfigMap's embedded `vppbridge.toml`, and the `toml` code blocks of the Markdown guides.
fn config_documents() -> Vec<(String, String)> {
    let mut docs = Vec::new();
    for (path, text) in text_files(&repo().join("deploy")) {
        let name = path.display().to_string();
        if name.ends_with(".toml") {
            docs.push((name, text));
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            if let Some(embedded) = yaml_block(&text, "vppbridge.toml") {
                docs.push((format!("{name} (vppbridge.toml)"), embedded));
            }
        }
    }
    for (path, text) in text_files(&repo().join("docs")) {
        if path.extension().is_some_and(|e| e == "md") {
            for (i, block) in fenced_blocks(&text, "toml").into_iter().enumerate() {
                docs.push((format!("{} (toml block {})", path.display(), i + 1), block));
            }
        }
    }
    docs
}

/// The literal block scalar `key: |` of a YAML document, dedented (enough YAML for a
/// ConfigMap; the project has no YAML parser and needs none).
fn yaml_block(text: &str, key: &str) -> Option<String> {
    let mut lines = text.lines();
    let header = format!("{key}: |");
    lines.by_ref().find(|l| l.trim() == header)?;
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.starts_with("    "))
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()?;
    Some(
        body.iter()
            .map(|l| l.get(indent..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The contents of the fenced code blocks tagged `lang`.
pub(crate) fn fenced_blocks(text: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match current.as_mut() {
            None if trimmed.strip_prefix("```") == Some(lang) => current = Some(Vec::new()),
            Some(_) if trimmed.starts_with("```") => {
                blocks.push(current.take().unwrap_or_default().join("\n"));
            }
            Some(body) => body.push(line),
            None => {}
        }
    }
    blocks
}

#[test]
fn every_metric_named_in_deploy_and_docs_is_exported() {
    let exported = exported_series();
    assert!(
        exported.contains("vppbridge_notifications_total")
            && exported.contains("vppbridge_publish_duration_seconds_bucket"),
        "the exposition parser found {exported:?}"
    );
    let mut files = text_files(&repo().join("deploy"));
    files.extend(text_files(&repo().join("docs")));
    let mut named = BTreeSet::new();
    let mut problems = Vec::new();
    for (path, text) in &files {
        named.extend(metric_names_in(text));
        for name in unknown_metrics(text, &exported) {
            problems.push(format!("{}: {name}", path.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "metrics that src/metrics/mod.rs does not export (known: {exported:?}):\n{}",
        problems.join("\n")
    );
    // The alert rules and the dashboard must actually be there and name series.
    for must in [
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/vppbridge-dashboard.json",
    ] {
        let text = std::fs::read_to_string(repo().join(must)).expect(must);
        assert!(!metric_names_in(&text).is_empty(), "{must} names no metric");
    }
    assert!(named.len() >= 10, "only {named:?} found in deploy/");
}

#[test]
fn a_made_up_metric_name_is_reported() {
    let exported = exported_series();
    let rule = r#"expr: sum(rate(vppbridge_notifications_total[5m])) / vppbridge_no_such_series > 1
      description: "every vppbridge_* series" # not a name"#;
    assert_eq!(
        unknown_metrics(rule, &exported),
        vec!["vppbridge_no_such_series".to_owned()]
    );
    // A histogram is queried through its suffixes, a counter through _total.
    assert_eq!(
        unknown_metrics(
            "vppbridge_publish_duration_seconds vppbridge_notifications",
            &exported
        ),
        vec![
            "vppbridge_notifications".to_owned(),
            "vppbridge_publish_duration_seconds".to_owned()
        ]
    );
}

#[test]
fn every_configuration_key_in_deploy_and_docs_exists() {
    let docs = config_documents();
    assert!(
        docs.iter().any(|(name, _)| name.contains("configmap")),
        "the Kubernetes ConfigMap's vppbridge.toml was not found among {:?}",
        docs.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    if !repo().join("deploy/vppbridge.example.toml").exists() {
        eprintln!("deploy/vppbridge.example.toml does not exist yet: not checked");
    }
    let problems: Vec<String> = docs
        .iter()
        .filter_map(|(name, text)| check_config(text).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_misspelt_or_unknown_configuration_key_is_reported() {
    let cases = [
        ("a misspelt key", "[http]\nlistne = \"0.0.0.0:8080\"\n"),
        ("an unknown section", "[natz]\nurl = \"nats://x:4222\"\n"),
        (
            "an unknown location field",
            "[[locations]]\nid = \"a\"\ntoken_file = \"t\"\nnotification_secret_file = \"s\"\nsecret = \"x\"\n",
        ),
        ("a wrong type", "[nats]\nreplicas = \"three\"\n"),
    ];
    for (what, text) in cases {
        assert!(check_config(text).is_err(), "{what} was accepted: {text}");
    }
    let good = "[nats]\nreplicas = 3\n[[locations]]\nid = \"a\"\ntoken_file = \"t\"\n\
                notification_secret_file = \"s\"\nprevious_notification_secret_file = \"p\"\n";
    assert_eq!(check_config(good), Ok(()));
}

#[test]
fn the_configmap_block_is_read_as_the_file_vppbridge_gets() {
    let yaml = "data:\n  vppbridge.toml: |\n    [nats]\n    replicas = 3\n\n    [http]\n    listen = \"0.0.0.0:8080\"\nother: 1\n";
    assert_eq!(
        yaml_block(yaml, "vppbridge.toml").as_deref(),
        Some("[nats]\nreplicas = 3\n\n[http]\nlisten = \"0.0.0.0:8080\"")
    );
}

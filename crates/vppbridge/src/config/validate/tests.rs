use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::LocationConfig;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/tokens")
        .join(name)
}

fn secret(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn location(id: &str, token: PathBuf, secret: PathBuf) -> LocationConfig {
    LocationConfig {
        id: id.into(),
        token_file: token,
        notification_secret_file: secret,
        previous_notification_secret_file: None,
        notification_types: None,
    }
}

fn good(dir: &Path) -> Config {
    let mut c = Config::default();
    c.mdm.id = "522d5c43-44ca-4f7e-ba7a-53570cf60765".into();
    c.locations.push(location(
        "main-school",
        fixture("valid.vpptoken"),
        secret(dir, "main.secret", "s3cret", 0o600),
    ));
    c
}

#[test]
fn a_good_configuration_has_no_problems() {
    let dir = tempfile::tempdir().unwrap();
    let token = secret(
        dir.path(),
        "t.vpptoken",
        &std::fs::read_to_string(fixture("valid.vpptoken")).unwrap(),
        0o600,
    );
    let mut c = good(dir.path());
    c.locations[0].token_file = token;
    assert_eq!(validate(&c), []);
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = good(dir.path());
    c.http.public_url = "http://vppbridge.example.com".into();
    c.apple.base_url = "not a url".into();
    c.nats.url = "nats://ok:4222, http://wrong".into();
    c.nats.duplicate_window_secs = 120;
    c.mdm.id = String::new();
    c.apple.max_attempts = 0;
    let world = secret(dir.path(), "world.secret", "s", 0o644);
    let empty = secret(dir.path(), "empty.secret", "\n", 0o600);
    c.locations
        .push(location("Bad Id!", fixture("expired.vpptoken"), world));
    c.locations.push(location(
        "main-school",
        dir.path().join("missing.vpptoken"),
        empty,
    ));
    let mut l = location(
        "x",
        fixture("ade_server_token_smime.p7m"),
        dir.path().join("nope"),
    );
    l.notification_types = Some(vec!["ASSET_COUNT".into(), "ASSETS".into()]);
    c.locations.push(l);

    let problems = validate(&c);
    let expect = [
        (Severity::Error, "http.public_url", "https"),
        (Severity::Error, "apple.base_url", "not a URL"),
        (Severity::Error, "nats.url", "http://wrong"),
        (Severity::Error, "nats.duplicate_window_secs", "1200"),
        (Severity::Warning, "mdm.id", "uuidgen"),
        (Severity::Error, "apple.max_attempts", "at least 1"),
        (Severity::Error, "locations[1].id", "slug"),
        (Severity::Error, "locations[1].token_file", "expired"),
        (
            Severity::Warning,
            "locations[1].notification_secret_file",
            "chmod 600",
        ),
        (Severity::Error, "locations[2].id", "locations[0]"),
        (Severity::Error, "locations[2].token_file", "cannot read"),
        (
            Severity::Error,
            "locations[2].notification_secret_file",
            "empty",
        ),
        (
            Severity::Error,
            "locations[3].token_file",
            "Device Enrollment",
        ),
        (
            Severity::Error,
            "locations[3].notification_secret_file",
            "secret new",
        ),
        (
            Severity::Error,
            "locations[3].notification_types",
            "\"ASSETS\"",
        ),
    ];
    for (severity, key, says) in expect {
        assert!(
            problems
                .iter()
                .any(|p| p.severity == severity && p.key == key && p.message.contains(says)),
            "expected {severity:?} on {key} saying {says:?} in {problems:#?}"
        );
    }
    // The fixture token in the repository is world-readable: one warning each, nothing else.
    let unexpected: Vec<&Problem> = problems
        .iter()
        .filter(|p| {
            !expect
                .iter()
                .any(|(s, k, _)| p.severity == *s && p.key == *k)
        })
        .filter(|p| !(p.severity == Severity::Warning && p.message.contains("chmod 600")))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}

#[test]
fn plain_http_is_accepted_for_localhost_only() {
    let mut p = Vec::new();
    check_https_url(&mut p, "k", "http://127.0.0.1:8080/");
    check_https_url(&mut p, "k", "http://localhost/mdm/v2/");
    assert_eq!(p, []);
    check_https_url(&mut p, "k", "http://10.0.0.1/");
    assert_eq!(p.len(), 1);
}

#[test]
fn the_example_file_documents_every_key_and_validates_with_real_files() {
    let example_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/vppbridge.example.toml");
    let example = std::fs::read_to_string(&example_path).unwrap();
    let keys = crate::config::keys::SECTIONS
        .iter()
        .flat_map(|(_, keys)| keys.iter())
        .chain(crate::config::keys::LOCATION_KEYS);
    for key in keys {
        let documented = example.lines().any(|l| {
            let l = l.trim_start_matches('#').trim_start();
            l.starts_with(&format!("{key} ="))
        });
        assert!(documented, "deploy/vppbridge.example.toml lacks {key}");
    }

    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("vppbridge.toml");
    std::fs::write(&config_path, &example).unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let token = std::fs::read_to_string(fixture("valid.vpptoken")).unwrap();
    secret(dir.path(), "secrets/main-school.vpptoken", &token, 0o600);
    secret(dir.path(), "secrets/main-school.secret", "s3cret", 0o600);
    let (config, problems) = crate::config::load_report(Some(&config_path));
    assert_eq!(problems, []);
    let config = config.unwrap();
    assert_eq!(validate(&config), []);
    assert_eq!(config.http.public_url, "https://vppbridge.example.com");
}

#[test]
fn config_check_refuses_what_serve_could_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = good(dir.path());
    // A secret that is not UTF-8: `serve` cannot read it, so `config check` must not pass it.
    c.locations[0].notification_secret_file = dir.path().join("binary.secret");
    std::fs::write(&c.locations[0].notification_secret_file, [0xff, 0xfe, 0x41]).unwrap();
    // Special files are refused without being read (a FIFO would hang, /dev/zero fill memory).
    c.locations[0].token_file = "/dev/zero".into();
    c.locations[0].previous_notification_secret_file = Some("/dev/zero".into());
    c.nats.max_age_days = u64::MAX;
    c.nats.url = "nats://admin:hunter2@nats:4222,nats://ok:4222,http://tok3n@x".into();
    let problems = validate(&c);
    let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let find = |key: &str, what: &str| {
        assert!(
            problems
                .iter()
                .any(|p| p.severity == Severity::Error && p.key == key && p.message.contains(what)),
            "no error on {key} saying {what:?} in {all:#?}"
        );
    };
    find("locations[0].notification_secret_file", "UTF-8");
    find("locations[0].token_file", "not a regular file");
    find(
        "locations[0].previous_notification_secret_file",
        "not a regular file",
    );
    find("nats.max_age_days", "36500");
    find("nats.url", "***@x");
    let text = all.join("\n");
    assert!(
        !text.contains("hunter2") && !text.contains("tok3n"),
        "{text}"
    );
    let mut fine = good(dir.path());
    fine.nats.max_age_days = MAX_AGE_DAYS;
    assert!(
        !validate(&fine).iter().any(|p| p.key == "nats.max_age_days"),
        "the largest accepted max age is refused"
    );
}

#[test]
fn config_check_does_not_hang_on_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut c = good(dir.path());
    c.locations[0].token_file = fifo.clone();
    c.locations[0].notification_secret_file = fifo.clone();
    c.nats.credentials_file = Some(fifo);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(validate(&c)));
    let problems = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("validate blocked on a FIFO");
    let regular = problems
        .iter()
        .filter(|p| p.message.contains("not a regular file"))
        .count();
    assert_eq!(regular, 3, "{problems:#?}");
}

#[test]
fn intent_retry_delays_must_be_positive_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    for (base, max, bad) in [
        (30, 900, false),
        (0, 900, true),
        (60, 30, true),
        (5, 5, false),
    ] {
        let mut c = good(dir.path());
        c.intents.retry_base_delay_secs = base;
        c.intents.retry_max_delay_secs = max;
        let flagged = validate(&c)
            .iter()
            .any(|p| p.to_string().contains("intents.retry_base_delay_secs"));
        assert_eq!(flagged, bad, "base {base} s, max {max} s");
    }
}

#[test]
fn a_lease_ttl_shorter_than_two_heartbeats_or_a_zero_heartbeat_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (ttl, heartbeat, keys, why) in [
        (10, 2, vec![], "the defaults"),
        (
            3,
            2,
            vec!["cluster.lease_ttl_secs"],
            "a lease would expire between renewals",
        ),
        (10, 0, vec!["cluster.heartbeat_secs"], "no heartbeat"),
        (
            1,
            0,
            vec!["cluster.heartbeat_secs", "cluster.lease_ttl_secs"],
            "both",
        ),
    ] {
        let mut c = good(dir.path());
        c.cluster.lease_ttl_secs = ttl;
        c.cluster.heartbeat_secs = heartbeat;
        let found: Vec<String> = validate(&c)
            .into_iter()
            .filter(|p| p.key.starts_with("cluster."))
            .map(|p| p.key)
            .collect();
        assert_eq!(found, keys, "{why}");
    }
}

//! `vppbridge token inspect` and `vppbridge config check`, run as the built binary.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use apple_vpp::token::ContentToken;
use chrono::{Duration, Utc};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/tokens")
        .join(name)
}

fn vppbridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vppbridge"))
        .args(args)
        .env_remove("VPPBRIDGE_CONFIG")
        .env_remove("VPPBRIDGE_NATS_URL")
        .env_remove("VPPBRIDGE_LISTEN")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn inspect(path: &Path) -> Output {
    vppbridge(&["token", "inspect", path.to_str().unwrap()])
}

fn write(path: &Path, content: &str, mode: u32) {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn token_inspect_prints_organisation_and_expiry_and_exits_0_for_a_valid_token() {
    let o = inspect(&fixture("valid.vpptoken"));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("Fixture School") && out.contains("2099-11-08T22:33:22+0000"),
        "{out}"
    );
    assert!(out.contains("days left"), "{out}");
    let bearer = std::fs::read_to_string(fixture("valid.vpptoken")).unwrap();
    assert!(
        !out.contains(bearer.trim()) && !out.contains("VFdwQmVV"),
        "secret shown: {out}"
    );
}

#[test]
fn token_inspect_exits_3_within_30_days_of_expiry_and_4_once_expired() {
    let dir = tempfile::tempdir().unwrap();
    let soon = dir.path().join("soon.vpptoken");
    write(
        &soon,
        &ContentToken::encode("Soon Org", Utc::now() + Duration::days(10), "inner"),
        0o600,
    );
    let o = inspect(&soon);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("Soon Org"));
    let o = inspect(&fixture("expired.vpptoken"));
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("EXPIRED"));
}

#[test]
fn token_inspect_exits_2_for_every_file_that_is_not_a_content_token() {
    let cases = [
        ("empty.vpptoken", "empty"),
        ("ade_server_token_smime.p7m", "Automated Device Enrollment"),
        (
            "ade_server_token_der_smime.p7m",
            "Automated Device Enrollment",
        ),
        ("ade_server_token.pem.p7m", "Automated Device Enrollment"),
        ("certificate.pem", "certificate"),
        ("private_key.pem", "private key"),
        ("not_base64.vpptoken", "not Base64"),
        ("base64_not_json.vpptoken", "JSON"),
        ("missing_fields.vpptoken", "expDate"),
        ("bad_date.vpptoken", "expDate"),
        ("decoded_json.vpptoken", "as downloaded"),
    ];
    for (file, says) in cases {
        let o = inspect(&fixture(file));
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {out}");
        assert!(out.contains(says) && out.contains(file), "{file}: {out}");
        assert!(
            out.contains(".vpptoken"),
            "{file} should name the right file: {out}"
        );
    }
    let o = inspect(Path::new("/nonexistent/x.vpptoken"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// A working configuration folder: the example's shape with real files.
fn config_dir(mdm_id: &str, secret_mode: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let token = std::fs::read_to_string(fixture("valid.vpptoken")).unwrap();
    write(&dir.path().join("a.vpptoken"), &token, 0o600);
    write(&dir.path().join("a.secret"), "s3cret", secret_mode);
    let path = dir.path().join("vppbridge.toml");
    let config = format!(
        "[mdm]\nid = \"{mdm_id}\"\n\n[[locations]]\nid = \"a\"\ntoken_file = \"a.vpptoken\"\nnotification_secret_file = \"a.secret\"\n"
    );
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

#[test]
fn config_check_exits_0_on_a_good_configuration() {
    let (_dir, path) = config_dir("522d5c43-44ca-4f7e-ba7a-53570cf60765", 0o600);
    let o = vppbridge(&["--config", path.to_str().unwrap(), "config", "check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("OK (1 location(s), 0 warning(s))"), "{out}");
}

#[test]
fn config_check_exits_0_with_warnings_only_and_prints_them() {
    let (_dir, path) = config_dir("", 0o644);
    let o = vppbridge(&["--config", path.to_str().unwrap(), "config", "check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("warning: mdm.id"), "{out}");
    assert!(
        out.contains("warning: locations[0].notification_secret_file") && out.contains("chmod 600"),
        "{out}"
    );
}

#[test]
fn config_check_exits_1_and_lists_every_error() {
    let (dir, path) = config_dir("id", 0o600);
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(
        "\n[[locations]]\nid = \"a\"\ntoken_file = \"missing.vpptoken\"\nnotification_secret_file = \"a.secret\"\nnotifcation_types = []\n\n[nats]\nduplicate_window_secs = 60\n",
    );
    std::fs::write(&path, config).unwrap();
    let o = vppbridge(&["--config", path.to_str().unwrap(), "config", "check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for needle in [
        "error: locations[1].notifcation_types",
        "`notification_types`",
        "error: locations[1].id",
        "error: locations[1].token_file",
        "error: nats.duplicate_window_secs",
        "4 error(s)",
    ] {
        assert!(out.contains(needle), "{needle} missing: {out}");
    }
    drop(dir);
}

#[test]
fn the_production_binary_has_no_simulator_demo_or_bench() {
    let o = vppbridge(&["--help"]);
    assert!(o.status.success(), "{}", text(&o));
    let help = text(&o);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(commands.contains(&"serve"), "{help}");
    for dev_only in ["sim", "demo", "bench"] {
        assert!(!commands.contains(&dev_only), "{dev_only} in:\n{help}");
    }
}

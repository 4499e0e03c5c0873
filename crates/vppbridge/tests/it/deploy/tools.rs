//! The external tools some deploy tests run (promtool, hadolint, Python with nats-py), as
//! `scripts/install-test-tools` installs them into `.tools/`.
//!
//! A missing tool skips the test with a message, unless `VPPBRIDGE_REQUIRE_TOOLS` is set
//! (`scripts/test` sets it), where it fails.

use std::path::PathBuf;
use std::process::Command;

use super::repo;

/// The first of `candidates` that runs with `args`, or `None` after saying why the test is
/// skipped (or a panic when tools are required).
fn find(what: &str, candidates: Vec<PathBuf>, args: &[&str]) -> Option<PathBuf> {
    let found = candidates.into_iter().find(|c| {
        Command::new(c)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let message = format!("{what} not found: run scripts/install-test-tools");
        assert!(
            std::env::var_os("VPPBRIDGE_REQUIRE_TOOLS").is_none(),
            "{message} (VPPBRIDGE_REQUIRE_TOOLS is set)"
        );
        eprintln!("SKIPPED: {message}");
    }
    found
}

/// promtool: `PROMTOOL`, `.tools/prometheus/bin/promtool`, or the `PATH`.
pub fn promtool() -> Option<PathBuf> {
    let mut c: Vec<PathBuf> = std::env::var_os("PROMTOOL")
        .map(Into::into)
        .into_iter()
        .collect();
    c.push(repo().join(".tools/prometheus/bin/promtool"));
    c.push("promtool".into());
    find("promtool", c, &["--version"])
}

/// hadolint: `.tools/py/bin/hadolint` or the `PATH`.
pub fn hadolint() -> Option<PathBuf> {
    find(
        "hadolint",
        vec![repo().join(".tools/py/bin/hadolint"), "hadolint".into()],
        &["--version"],
    )
}

/// A Python that can `import nats`: `.tools/py/bin/python`.
pub fn python_with_nats() -> Option<PathBuf> {
    find(
        "Python with nats-py",
        vec![repo().join(".tools/py/bin/python")],
        &["-c", "import nats"],
    )
}

/// Runs `tool args`, returning (success, stdout + stderr).
pub fn run(tool: &PathBuf, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(tool)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("wait for the tool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    let Some(promtool) = promtool() else { return };
    let (ok, out) = run(
        &promtool,
        &["check", "rules", "deploy/prometheus/alerts.yml"],
        None,
    );
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = run(
        &promtool,
        &["test", "rules", "deploy/prometheus/alerts.test.yml"],
        None,
    );
    assert!(ok, "promtool test rules:\n{out}");
}

#[test]
fn hadolint_finds_nothing_in_the_dockerfile() {
    let Some(hadolint) = hadolint() else { return };
    // Every rule, down to style: an empty report.
    let (ok, out) = run(
        &hadolint,
        &["--failure-threshold", "style", "deploy/Dockerfile"],
        None,
    );
    assert!(
        ok && out.trim().is_empty(),
        "hadolint deploy/Dockerfile:\n{out}"
    );
}

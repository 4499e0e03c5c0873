//! `vppbridge-dev demo` end to end: the real binary, its own nats-server child, the simulator and
//! `serve` in-process, the full 25 × 1,000 scenario.

use std::process::Stdio;
use std::time::Duration;

/// The demo takes a minute or two in a debug build; this only stops a hung run.
const LIMIT: Duration = Duration::from_secs(900);

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_plays_every_step_and_the_view_matches_apple_after_each() {
    let nats = vppbridge_testkit::natsproc::find_binary()
        .expect("nats-server (scripts/install-nats-server)");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vppbridge-dev"))
        .arg("demo")
        .env("VPPBRIDGE_NATS_SERVER", nats)
        .env_remove("VPPBRIDGE_CONFIG")
        .env_remove("VPPBRIDGE_NATS_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the vppbridge-dev binary starts");
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("the demo finishes")
        .expect("the demo's output is readable");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        output.status.success(),
        "exit {:?}\n{context}",
        output.status
    );

    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Step "))
        .skip(2)
        .take_while(|l| {
            !l.is_empty() && !l.starts_with("every step") && !l.contains("Apple call(s)")
        })
        .collect();
    assert_eq!(table.len(), 7, "one row per step\n{context}");
    for row in &table {
        assert!(
            row.trim_end().ends_with("yes"),
            "row {row:?} matched\n{context}"
        );
    }
    assert!(
        stdout.contains("every step matched: the view equals Apple's truth after all 7 steps"),
        "{context}"
    );
    // 20 Apps × 1,000 devices: Apple reports at most 100 assignments per notification.
    let associate = table
        .iter()
        .find(|r| r.starts_with("associate 25 assets to 1,000 devices"))
        .unwrap_or_else(|| panic!("an associate row\n{context}"));
    let received: u64 = associate
        .split_whitespace()
        .nth(6)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a notification count in {associate:?}"));
    assert!(
        received >= 200,
        "{received} notifications for 20,000 assignments\n{context}"
    );
    // The drop step's repair is measured against a full sync, under the table.
    assert!(
        stdout.contains("* drop notifications, sync repairs: the repairing incremental sync made"),
        "{context}"
    );
    assert!(
        !stderr.contains("ERROR"),
        "no part of the demo logged an error\n{context}"
    );
}

//! The `vppbridge-sim` binary as a user starts it: its flags, and Apple's Service Config served
//! once it says where it listens.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const SIM: &str = env!("CARGO_BIN_EXE_vppbridge-sim");

#[test]
fn help_lists_the_simulator_flags() {
    let out = std::process::Command::new(SIM)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--locations",
        "--assets",
        "--devices",
        "--users",
        "--assigned",
        "--rate-limit-mode",
        "--write-token",
        "--log-format",
        "--token-mode",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[tokio::test]
async fn started_it_answers_service_config() {
    let mut child = Command::new(SIM)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Apple base URL:") {
                return url.trim().to_owned();
            }
        }
        panic!("the simulator exited without printing its base URL");
    })
    .await
    .expect("the simulator prints its base URL");
    let config: serde_json::Value = reqwest::get(format!("{base}service/config"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        config["limits"]["maxAssets"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{config}"
    );
    assert!(
        config["errorCodes"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
}

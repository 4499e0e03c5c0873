//! The README's Python consumer, extracted from README.md as users copy it, against a live
//! NATS with vppbridge's streams: it prints a change event, survives an idle stream longer than
//! its fetch timeout, and prints the next one.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};
use tokio::time::Instant;
use vppbridge::changes::ChangePublisher as Publisher;
use vppbridge::events::changes::{Cause, ChangeData, ChangeKind};
use vppbridge::metrics::Metrics;

use super::{fenced_blocks, repo, tools};

/// The README's one Python block.
fn readme_python() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let blocks = fenced_blocks(&readme, "python");
    assert_eq!(blocks.len(), 1, "README.md should have one Python example");
    blocks.into_iter().next().unwrap_or_default()
}

async fn publish_added(publisher: &Publisher, serial: &str) {
    let data = ChangeData {
        location: "school".to_owned(),
        key: format!("school.408709785.STDQ.d.{serial}"),
        old: None,
        new: Some(json!({"adamId": "408709785", "pricingParam": "STDQ", "serialNumber": serial})),
        cause: Cause {
            notification_id: Some(format!("n-{serial}")),
            sync_run_id: None,
        },
    };
    publisher
        .change(
            "school",
            ChangeKind::AssignmentAdded,
            &format!("c-{serial}"),
            None,
            data,
        )
        .await
        .expect("publish the change event");
}

/// The next line the consumer prints, within `secs`.
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, secs: u64) -> String {
    tokio::time::timeout(Duration::from_secs(secs), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("the Python consumer printed nothing in {secs} s"))
        .expect("read its output")
        .expect("the Python consumer exited")
}

#[tokio::test]
async fn the_readme_python_consumer_prints_changes_and_survives_an_idle_stream() {
    let Some(python) = tools::python_with_nats() else {
        return;
    };
    let nats = crate::support::nats().await;
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    vppbridge::nats::setup(&js, &Default::default())
        .await
        .expect("vppbridge nats setup");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let script = dir.path().join("consumer.py");
    std::fs::write(&script, readme_python()).expect("write the example");
    let fetch_timeout = 1;
    let mut child = Command::new(python)
        .arg(&script)
        .env("NATS_URL", nats.url())
        .env("FETCH_TIMEOUT", fetch_timeout.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Python consumer");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let publisher = Publisher::new(js.clone(), Metrics::new());
    publish_added(&publisher, "C02FIRST").await;
    assert_eq!(
        next_line(&mut lines, 30).await,
        "install 408709785 on C02FIRST"
    );

    // Idle for three fetch timeouts: the old example died here with TimeoutError.
    let idle_until = Instant::now() + Duration::from_secs(3 * fetch_timeout);
    while Instant::now() < idle_until {
        if let Some(status) = child.try_wait().expect("poll the consumer") {
            let out = child.wait_with_output().await.expect("output");
            panic!(
                "the Python consumer exited ({status}) on an idle stream:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    publish_added(&publisher, "C02SECOND").await;
    assert_eq!(
        next_line(&mut lines, 30).await,
        "install 408709785 on C02SECOND"
    );
}

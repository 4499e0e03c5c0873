//! The worker SIGKILLed with intents in flight: once after Apple accepted a write and before
//! the worker learnt its `eventId`, once while it polled Event Status. The worker runs as a
//! child process of the built binary (`serve --no-receiver`); the harness's receiver, in this
//! process, publishes what the simulator posts. Every notification is dropped, so only the
//! converger's own checks can settle the intents.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use vppbridge::events::intents::IntentState;
use vppbridge::intents::store::Store;
use vppbridge_testkit::natsproc::free_port;

use super::*;

/// `vppbridge serve --no-receiver` as a child process.
struct WorkerProcess {
    /// Where its operations endpoints listen.
    listen: std::net::SocketAddr,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl WorkerProcess {
    fn start(h: &Harness) -> WorkerProcess {
        let mut config = h.config.clone();
        config.http.listen = ([127, 0, 0, 1], free_port().unwrap()).into();
        let path = h.dir.path().join("worker.toml");
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let mut w = WorkerProcess {
            listen: config.http.listen,
            config: path,
            log: h.dir.path().join("worker.log"),
            child: None,
        };
        w.spawn();
        w
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .arg("--config")
            .arg(&self.config)
            .args(["serve", "--no-receiver"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start vppbridge");
        self.child = Some(child);
    }

    /// SIGKILL, then waits until the process is gone.
    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Index of the first line of `log` after `from` that matches `f`.
fn first_after(log: &[Logged], from: usize, f: impl Fn(&Logged) -> bool) -> Option<usize> {
    log.iter()
        .enumerate()
        .skip(from)
        .find(|(_, r)| f(r))
        .map(|(i, _)| i)
}

#[tokio::test]
async fn a_worker_killed_between_sending_and_recording_and_while_polling_loses_and_doubles_nothing()
{
    // Writes stay PENDING for 3 s, so the worker can be caught polling.
    let h = intents_harness_with(
        seed(5, 50, None),
        |s| s.event_delay = Duration::from_secs(3),
        |_| {},
    )
    .await;
    let apps = h.apps().await;
    let store = Store::open(&h.env.js).await.unwrap();
    let mut worker = WorkerProcess::start(&h);
    h.synced().await;

    // 1. Apple carries the write out but holds its answer back: killed before the eventId.
    h.faults(serde_json::json!({"dropRate": 1.0, "writeAnswerDelayMs": 60_000}))
        .await;
    h.clear_requests().await;
    let file = intent_file(&h, "first.jsonl", &apps[..1], 1..51);
    desire(&h, "assign", &file).await;
    eventually(30, "the associate reached Apple", || async {
        posts(&h.requests().await, "associate") == 1
    })
    .await;
    worker.kill().await;
    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    h.assignments_become(50).await;
    let requests = store.requests("school").await.unwrap();
    assert_eq!(
        requests.len(),
        1,
        "the request was recorded before its POST"
    );
    assert!(requests[0].event_id.is_none(), "killed before the eventId");
    worker.spawn();
    eventually(60, "the first 50 intents applied", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&50)
    })
    .await;
    let log = h.requests().await;
    assert_eq!(
        posts(&log, "associate"),
        1,
        "Apple had done it: not sent again\n{}",
        worker.log()
    );
    let post = first_after(&log, 0, |r| r.method == "POST").unwrap();
    assert!(
        first_after(&log, post + 1, |r| r.path.ends_with("/assignments")).is_some(),
        "Apple's assignments were read after the restart"
    );

    // 2. Killed while polling Event Status.
    h.clear_requests().await;
    let file = intent_file(&h, "second.jsonl", &apps[1..2], 1..51);
    desire(&h, "assign", &file).await;
    eventually(30, "the worker polling Event Status", || async {
        let log = h.requests().await;
        first_after(&log, 0, |r| r.method == "POST")
            .and_then(|p| first_after(&log, p, |r| r.path.ends_with("/status")))
            .is_some()
    })
    .await;
    worker.kill().await;
    worker.spawn();
    eventually(60, "all 100 intents applied", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&100)
    })
    .await;
    let log = h.requests().await;
    assert_eq!(
        posts(&log, "associate"),
        1,
        "the polled request was not sent again\n{}",
        worker.log()
    );
    assert_eq!(h.truth().await.assignments.len(), 100);
    eventually(30, "no request left open", || async {
        store.requests("school").await.unwrap().is_empty()
    })
    .await;
    h.converged(30).await;
    // The worker's metrics: every intent applied, each one's time to applied observed.
    let metrics = format!("http://{}/metrics", worker.listen);
    eventually(30, "the intents gauge at 100 applied", || async {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        text.contains(r#"vppbridge_intents{location="school",state="applied"} 100"#)
            && text.contains(r#"vppbridge_intents{location="school",state="pending"} 0"#)
            && text.contains("vppbridge_intent_apply_duration_seconds_count")
    })
    .await;
    worker.kill().await;
}

//! `vppbridge serve --no-worker` as a child process of the built binary, its log in a file, for
//! the hardening tests: attacks need the server's own descriptor table and log output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;
use vppbridge::config::Config;
use vppbridge_testkit::natsproc::free_port;

use super::config_for;
use crate::support::{NatsServer, nats};

/// A receiver process on its own nats-server.
pub struct Receiver {
    /// Kept so that the server lives as long as the receiver.
    _nats: NatsServer,
    pub base: String,
    pub http: reqwest::Client,
    pub addr: std::net::SocketAddr,
    child: Child,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    /// Starts a receiver for location `school` with `change` applied to its configuration,
    /// logging with `log_format` (`text` or `json`), and waits for `/readyz`.
    pub async fn start(log_format: &str, change: impl FnOnce(&mut Config)) -> Receiver {
        let nats = nats().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_for(&nats.url(), dir.path());
        std::fs::write(dir.path().join("school.vpptoken"), "").unwrap();
        config.http.listen = ([127, 0, 0, 1], free_port().unwrap()).into();
        change(&mut config);
        let config_path = dir.path().join("vppbridge.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        let log_path = dir.path().join("vppbridge.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .arg("--config")
            .arg(&config_path)
            .args(["--log-format", log_format, "serve", "--no-worker"])
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start vppbridge");
        let r = Receiver {
            _nats: nats,
            base: format!("http://{}", config.http.listen),
            http: reqwest::Client::new(),
            addr: config.http.listen,
            child,
            log_path,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = r.http.get(format!("{}/readyz", r.base)).send().await
                && resp.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", r.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        r
    }

    /// What the process has logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log_bytes()).into_owned()
    }

    /// The log as bytes (escape characters included).
    pub fn log_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.log_path).unwrap_or_default()
    }

    /// The resident set size of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The value of the series whose line starts with `series` in `/metrics` (0 if absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Posts `body` to `school` with `secret`: the status and how long the answer took.
    pub async fn post(&self, secret: &str, body: Vec<u8>) -> (u16, Duration) {
        let started = Instant::now();
        let r = self
            .http
            .post(format!("{}/notifications/school", self.base))
            .bearer_auth(secret)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), started.elapsed())
    }
}

/// The soft limit on open files of this test process.
pub fn own_descriptor_limit() -> usize {
    vppbridge::http::descriptor_limit().unwrap_or(1024)
}

//! `vppbridge serve` as a child process of the built binary, with its configuration file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;
use vppbridge::config::{Config, LocationConfig};
use vppbridge_testkit::natsproc::free_port;

use super::{LOCATION, SECRET};

/// A configuration for one location [`LOCATION`] on `nats_url`, its files in `dir`, listening on
/// a free port; short timeouts so that the suite stays quick.
pub fn bridge_config(nats_url: &str, dir: &Path) -> Config {
    let secret = dir.join("school.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("write the secret file");
    let token = dir.join("school.vpptoken");
    if !token.exists() {
        std::fs::write(&token, "").expect("write the token file");
    }
    let mut config = Config::default();
    config.http.listen = ([127, 0, 0, 1], free_port().expect("a free port")).into();
    config.http.publish_timeout_secs = 1;
    config.http.retry_after_secs = 1;
    config.http.max_concurrent_requests = 512;
    config.nats.url = nats_url.to_owned();
    config.locations = vec![LocationConfig {
        id: LOCATION.into(),
        token_file: token,
        notification_secret_file: secret,
        previous_notification_secret_file: None,
        notification_types: None,
    }];
    config
}

/// `vppbridge serve` running as a child process of the built binary.
pub struct Bridge {
    child: Option<Child>,
    config_path: PathBuf,
    log_path: PathBuf,
    args: Vec<String>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Bridge {
    /// Writes `config` to `dir/vppbridge.toml`, starts `vppbridge serve` with `args` and waits
    /// until `/readyz` answers 200.
    pub async fn start(config: &Config, dir: &Path, args: &[&str]) -> Bridge {
        let config_path = dir.join("vppbridge.toml");
        let text = toml::to_string(config).expect("the configuration serialises");
        std::fs::write(&config_path, text).expect("write the configuration");
        let mut bridge = Bridge {
            child: None,
            config_path,
            log_path: dir.join("vppbridge.log"),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            base: format!("http://{}", config.http.listen),
        };
        bridge.spawn().await;
        bridge
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start vppbridge");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("vppbridge exited at start with {status}:\n{}", self.log());
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "vppbridge not ready after 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the process wrote so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The notification URL of [`LOCATION`].
    pub fn notification_url(&self) -> String {
        format!("{}/notifications/{LOCATION}", self.base)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM (a graceful stop), and waits for the process to exit.
    pub async fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let sent = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await
                    .expect("run kill");
                assert!(sent.success(), "kill -TERM {pid}");
            }
            let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
                .await
                .expect("vppbridge exits after SIGTERM")
                .expect("wait for vppbridge");
            assert!(
                status.success(),
                "vppbridge stopped with {status}:\n{}",
                self.log()
            );
        }
    }

    /// Starts the process again with the same configuration and waits until it is ready.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    /// Runs another vppbridge command (`register ...`) on the same configuration file.
    pub async fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run vppbridge")
    }

    /// Kills the process and starts it again with other `serve` arguments.
    pub async fn restart_with(&mut self, args: &[&str]) {
        self.kill().await;
        self.args = args.iter().map(|a| (*a).to_owned()).collect();
        self.spawn().await;
    }

    /// Asserts that the process is still running and answers `/healthz` with 200.
    pub async fn assert_serving(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let exited = child.try_wait().expect("query the child");
            assert!(
                exited.is_none(),
                "vppbridge exited: {exited:?}\n{}",
                self.log()
            );
        }
        let r = reqwest::get(format!("{}/healthz", self.base))
            .await
            .expect("healthz answers");
        assert_eq!(r.status(), 200, "healthz");
    }
}

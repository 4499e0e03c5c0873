//! `GET /metrics` of a running `vppbridge serve`, scraped as Prometheus and promtool do: every
//! series `deploy/` names is there from the start, labelled counters at zero for the configured
//! location, in the format the scraper asked for. And `deploy/nats/single.conf` starts.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;
use vppbridge::config::{Config, LocationConfig};
use vppbridge_testkit::natsproc::{find_binary, free_port};

use super::{metric_names_in, repo, text_files, tools};

/// The sample names in a Prometheus text exposition.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// `vppbridge serve` for one location `school`, killed on drop.
struct Serve {
    child: tokio::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Serve {
    async fn start(nats_url: &str) -> Serve {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let secret = dir.path().join("school.secret");
        std::fs::write(&secret, "s3cret\n").expect("write the secret");
        let token = dir.path().join("school.vpptoken");
        std::fs::copy(repo().join("fixtures/tokens/valid.vpptoken"), &token)
            .expect("copy the token fixture");
        let mut config = Config::default();
        config.http.listen = ([127, 0, 0, 1], free_port().expect("a free port")).into();
        config.nats.url = nats_url.to_owned();
        // Nothing listens there: the worker's calls fail, which changes nothing at start.
        config.apple.base_url = "http://127.0.0.1:9/".into();
        config.locations = vec![LocationConfig {
            id: "school".into(),
            token_file: token,
            notification_secret_file: secret,
            previous_notification_secret_file: None,
            notification_types: None,
        }];
        let path = dir.path().join("vppbridge.toml");
        std::fs::write(&path, toml::to_string(&config).expect("serialise")).expect("write");
        let child = Command::new(env!("CARGO_BIN_EXE_vppbridge"))
            .arg("--config")
            .arg(&path)
            .arg("serve")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start vppbridge serve");
        Serve {
            child,
            base: format!("http://{}", config.http.listen),
            _dir: dir,
        }
    }

    /// `GET /metrics` with `accept` (None: no header) once the server answers:
    /// (content type, body).
    async fn scrape(&mut self, accept: Option<&str>) -> (String, String) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut req = http.get(format!("{}/metrics", self.base));
            if let Some(a) = accept {
                req = req.header("accept", a);
            }
            if let Ok(resp) = req.send().await {
                let ct = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                return (ct, resp.text().await.expect("the body"));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("vppbridge serve exited with {status}");
            }
            assert!(Instant::now() < deadline, "/metrics did not answer in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn every_series_deploy_names_is_scraped_from_the_start_in_prometheus_text() {
    let nats = crate::support::nats().await;
    let mut serve = Serve::start(&nats.url()).await;
    let (ct, text) = serve.scrape(Some("text/plain;version=0.0.4")).await;
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "{text}");
    let mut named = BTreeSet::new();
    for dir in ["deploy/prometheus", "deploy/grafana"] {
        for (_, t) in text_files(&repo().join(dir)) {
            named.extend(metric_names_in(&t));
        }
    }
    // The worker sets the token's expiry once it has read the token: poll for it only.
    let expiry = "vppbridge_token_expiry_seconds";
    let present = sample_names(&text);
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !present.contains(*n) && n.as_str() != expiry)
        .collect();
    assert!(
        missing.is_empty(),
        "not scraped at start: {missing:?}\n{text}"
    );
    for zero in [
        r#"vppbridge_dlq_messages_total{location="school"} 0"#,
        r#"vppbridge_notifications_total{location="school",type="asset_management",outcome="uid_mismatch"} 0"#,
        r#"vppbridge_alerts_total{location="school",kind="token_revoked"} 0"#,
        r#"vppbridge_location_paused{location="school",reason="ownership_conflict"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == zero), "no `{zero}` in\n{text}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let (_, text) = serve.scrape(None).await;
        if sample_names(&text).contains(expiry) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "{expiry} never appeared:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if let Some(promtool) = tools::promtool() {
        let (ok, out) = tools::run(&promtool, &["check", "metrics"], Some(&text));
        assert!(ok, "promtool check metrics:\n{out}\n{text}");
    }
    // Prometheus itself asks for OpenMetrics first, and gets it.
    let (ct, om) = serve
        .scrape(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        ))
        .await;
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(om.ends_with("# EOF\n"), "{om}");
}

#[tokio::test]
async fn single_conf_starts_as_written_with_only_its_folder_and_ports_changed() {
    let conf =
        std::fs::read_to_string(repo().join("deploy/nats/single.conf")).expect("single.conf");
    assert!(
        !conf.contains("-sd /"),
        "single.conf must not tell operators to pass -sd: nats-server refuses it with store_dir"
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (client, monitor) = (free_port().expect("port"), free_port().expect("port"));
    let adapted = conf
        .replace(
            "\"/var/lib/nats\"",
            &format!("{:?}", dir.path().join("store")),
        )
        .replace("0.0.0.0:4222", &format!("127.0.0.1:{client}"))
        .replace("127.0.0.1:8222", &format!("127.0.0.1:{monitor}"));
    assert_ne!(
        adapted, conf,
        "single.conf no longer has the expected store_dir and ports"
    );
    let path = dir.path().join("single.conf");
    std::fs::write(&path, adapted).expect("write");
    let mut child = Command::new(find_binary().expect("nats-server (scripts/install-nats-server)"))
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start nats-server");
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        if let Ok(c) = async_nats::connect(format!("nats://127.0.0.1:{client}")).await {
            break c;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.expect("output");
            panic!(
                "nats-server -c single.conf exited with {status}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "single.conf's nats-server never accepted a client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let js = async_nats::jetstream::new(client);
    vppbridge::nats::setup(&js, &Default::default())
        .await
        .expect("vppbridge's streams on single.conf's JetStream");
}

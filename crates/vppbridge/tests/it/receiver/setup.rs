//! `nats::setup`: idempotent, complete, clear without JetStream, replicated on a cluster.

use std::time::Duration;

use async_nats::jetstream;
use vppbridge::config::Config;
use vppbridge::nats::{self as vnats, NOTIFICATIONS_STREAM};

use crate::support::{NatsServer, nats};

#[tokio::test]
async fn setup_is_idempotent_and_creates_every_stream_and_bucket() {
    let server = nats().await;
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let mut cfg = Config::default().nats;
    cfg.duplicate_window_secs = 60; // below the floor: raised to 20 min
    vnats::setup(&js, &cfg).await.unwrap();
    vnats::setup(&js, &cfg).await.unwrap();
    for name in vnats::STREAMS {
        let info = js
            .get_stream(name)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone();
        assert!(
            info.config.duplicate_window >= vnats::MIN_DUPLICATE_WINDOW,
            "{name}"
        );
        assert_eq!(info.config.num_replicas, 1, "{name}");
    }
    let info = js
        .get_stream(NOTIFICATIONS_STREAM)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.subjects, ["vpp.notifications.>"]);
    assert_eq!(info.config.max_age, Duration::from_secs(7 * 24 * 3600));
    for name in vnats::BUCKETS {
        js.get_key_value(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn setup_reports_a_server_without_jetstream_clearly() {
    let binary = vppbridge_testkit::natsproc::find_binary().unwrap();
    let port = vppbridge_testkit::natsproc::free_port().unwrap();
    let _child = tokio::process::Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let client = loop {
        if let Ok(c) = async_nats::connect(&url).await {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "plain nats-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let err = vnats::setup(&jetstream::new(client), &Config::default().nats)
        .await
        .unwrap_err();
    assert!(matches!(err, vnats::SetupError::NoJetStream(_)), "{err}");
    assert!(err.to_string().contains("-js"), "{err}");
}

/// Slow (about 10 s: a JetStream cluster elects its meta leader before it answers).
#[tokio::test]
async fn setup_creates_three_replica_streams_and_buckets_on_a_three_node_cluster() {
    use vppbridge_testkit::natsproc::{NatsOptions, free_port};
    let cluster_ports: Vec<u16> = (0..3).map(|_| free_port().unwrap()).collect();
    let routes = cluster_ports
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let node = |i: usize| NatsOptions {
        extra_args: vec![
            "--server_name".into(),
            format!("n{i}"),
            "--cluster_name".into(),
            "vpp".into(),
            "--cluster".into(),
            format!("nats://127.0.0.1:{}", cluster_ports[i]),
            "--routes".into(),
            routes.clone(),
        ],
        ..Default::default()
    };
    let (a, b, c) = tokio::join!(
        NatsServer::start_with(node(0)),
        NatsServer::start_with(node(1)),
        NatsServer::start_with(node(2))
    );
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let js = jetstream::new(async_nats::connect(a.url()).await.unwrap());
    let mut cfg = Config::default().nats;
    cfg.replicas = 3;
    // The meta leader may still be settling right after start-up: retry within a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match vnats::setup(&js, &cfg).await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "setup on the cluster: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    vnats::setup(&js, &cfg).await.unwrap();
    for name in vnats::STREAMS {
        let info = js
            .get_stream(name)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone();
        assert_eq!(info.config.num_replicas, 3, "{name}");
    }
    let kv = js.get_key_value(vnats::STATE_BUCKET).await.unwrap();
    let info = kv.status().await.unwrap();
    assert_eq!(info.info.config.num_replicas, 3);
}

//! A 3-node JetStream cluster (`deploy/nats/cluster-node{1,2,3}.conf`, replicas 3): the node
//! leading `VPP_NOTIFICATIONS` is killed with SIGKILL during a 5,000-notification load and
//! brought back; whatever was answered 200 is stored exactly once, the node catches up, and the
//! worker (its consumer and buckets replicated too) brings the view to Apple's truth.
//!
//! The deploy files fix the ports (14222-14224, routes 16222-16224, monitoring 18222-18224), so
//! only this test may run a cluster at a time.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use vppbridge::config::Config;
use vppbridge::nats::{self as vnats, NOTIFICATIONS_STREAM};
use vppbridge_sim::Faults;
use vppbridge_testkit::natsproc::{NatsOptions, NatsServer};

use super::support::{
    Bridge, Load, LoadOptions, apple, assert_stored_exactly_once, assert_view_matches_truth,
    bridge_config, eventually,
};

const PORTS: [u16; 3] = [14222, 14223, 14224];

/// Starts the three nodes together (a lone node waits for the others before JetStream answers).
async fn cluster() -> Vec<NatsServer> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats");
    let node = |i: usize| NatsOptions {
        port: PORTS[i],
        extra_args: vec![
            "-c".into(),
            deploy
                .join(format!("cluster-node{}.conf", i + 1))
                .display()
                .to_string(),
        ],
        ..NatsOptions::default()
    };
    let (a, b, c) = tokio::join!(
        NatsServer::start_with(node(0)),
        NatsServer::start_with(node(1)),
        NatsServer::start_with(node(2))
    );
    vec![
        a.expect("node 1 starts"),
        b.expect("node 2 starts"),
        c.expect("node 3 starts"),
    ]
}

fn urls() -> String {
    PORTS
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn connect() -> jetstream::Context {
    let addrs: Vec<async_nats::ServerAddr> = PORTS
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}").parse().unwrap())
        .collect();
    jetstream::new(async_nats::connect(addrs).await.unwrap())
}

/// The notification stream's cluster info.
async fn stream_cluster(js: &jetstream::Context) -> Option<jetstream::stream::ClusterInfo> {
    let mut stream = js.get_stream(NOTIFICATIONS_STREAM).await.ok()?;
    stream.info().await.ok()?.cluster.clone()
}

#[tokio::test]
async fn a_cluster_node_killed_mid_load_and_brought_back_loses_and_doubles_nothing_answered_200() {
    let mut nodes = cluster().await;
    let apple = apple(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(&urls(), dir.path());
    config.nats.replicas = 3;
    apple.configure(&mut config);
    let js = connect().await;
    // vppbridge sets up at start and exits if that fails: wait until the cluster has elected
    // its meta leader and the replicated streams exist.
    let nats_config: Config = config.clone();
    eventually(
        Duration::from_secs(30),
        "JetStream set-up on the cluster",
        || {
            let (js, cfg) = (js.clone(), nats_config.nats.clone());
            async move { vnats::setup(&js, &cfg).await.ok() }
        },
    )
    .await;
    let bridge = Bridge::start(&config, dir.path(), &[]).await;
    assert_view_matches_truth(&js, &apple, Duration::from_secs(30)).await;

    let leader = eventually(Duration::from_secs(20), "a stream leader", || async {
        stream_cluster(&js).await?.leader
    })
    .await;
    let victim = (1..=3)
        .position(|i| leader == format!("vppbridge-n{i}"))
        .unwrap_or_else(|| panic!("leader {leader:?} is not one of the three nodes"));

    let notes = apple.associate_everything(5000).await;
    let load = Load::spawn(&bridge.notification_url(), notes, LoadOptions::default());
    load.wait_accepted(1500).await;
    nodes[victim].kill().await;
    let at_kill = load.accepted();
    // The two remaining nodes keep the quorum: the load goes on without the killed leader.
    load.wait_accepted(at_kill + 500).await;
    nodes[victim].restart().await.expect("the node comes back");
    let report = load.finish().await;

    let info = eventually(
        Duration::from_secs(30),
        "every replica current again",
        || async {
            let info = stream_cluster(&js).await?;
            let back =
                info.replicas.len() == 2 && info.replicas.iter().all(|r| r.current && !r.offline);
            back.then_some(info)
        },
    )
    .await;
    assert_ne!(
        info.leader.as_deref(),
        None,
        "the stream has a leader: {info:?}"
    );
    assert_stored_exactly_once(&js, &report).await;
    assert_view_matches_truth(&js, &apple, Duration::from_secs(60)).await;
    drop(bridge);
}

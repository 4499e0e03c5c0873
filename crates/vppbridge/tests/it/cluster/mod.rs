//! Location ownership across worker processes: `vppbridge serve --no-receiver` processes of the
//! built binary sharing one NATS server and one simulated location (the worker harness's
//! simulator, which delivers real notifications to an in-process receiver). Ownership is read
//! where an operator would: the `vpp-leases` bucket and each process's `/metrics`.

mod budget;
mod handover;
mod leases;

use std::time::Duration;

use async_nats::jetstream;
use vppbridge::config::Config;
use vppbridge_testkit::natsproc::free_port;

use crate::faults::support::{Bridge, eventually};
use crate::worker::harness::Harness;

/// Worker processes and the folders holding their configuration files and logs.
pub struct Workers {
    pub procs: Vec<Bridge>,
    _dirs: Vec<tempfile::TempDir>,
}

/// A lease TTL and heartbeat short enough that a crashed owner is replaced within 10 s
/// (at most TTL + one heartbeat).
pub fn short_leases(c: &mut Config) {
    c.cluster.lease_ttl_secs = 6;
    c.cluster.heartbeat_secs = 1;
}

/// Starts `n` worker processes (`serve --no-receiver`) on the harness's configuration.
pub async fn workers(h: &Harness, n: usize) -> Workers {
    let mut procs = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().expect("a folder for the worker");
        let mut config = h.config.clone();
        config.http.listen = ([127, 0, 0, 1], free_port().expect("a free port")).into();
        procs.push(Bridge::start(&config, dir.path(), &["--no-receiver"]).await);
        dirs.push(dir);
    }
    Workers { procs, _dirs: dirs }
}

/// `vppbridge_owned_locations` of a running process.
pub async fn owned(bridge: &Bridge) -> Option<i64> {
    let text = reqwest::get(format!("{}/metrics", bridge.base))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("vppbridge_owned_locations "))
        .and_then(|v| v.trim().parse().ok())
}

/// The worker id holding the lease of `school`.
pub async fn lease_owner(js: &jetstream::Context) -> Option<String> {
    vppbridge::ownership::lease::read_leases(js, Duration::from_secs(5))
        .await
        .ok()?
        .remove("school")
        .map(|v| v.owner)
}

/// Waits until exactly one of `alive` processes owns the location (by its metrics, and a lease
/// in `vpp-leases`): that process's index in `procs`, and the lease's worker id.
pub async fn sole_owner(
    js: &jetstream::Context,
    procs: &[Bridge],
    alive: &[usize],
    limit: Duration,
) -> (usize, String) {
    eventually(
        limit,
        "exactly one live worker owns the location",
        || async {
            let mut owners = Vec::new();
            for &i in alive {
                match owned(&procs[i]).await? {
                    0 => {}
                    1 => owners.push(i),
                    n => panic!("one process owns {n} of one location"),
                }
            }
            let id = lease_owner(js).await?;
            (owners.len() == 1).then(|| (owners[0], id))
        },
    )
    .await
}

/// The errors of the dead letters in `VPP_DLQ`, with their delivery counts.
pub async fn dead_letters(js: &jetstream::Context) -> Vec<String> {
    if js.get_stream(vppbridge::nats::DLQ_STREAM).await.is_err() {
        return Vec::new();
    }
    crate::worker::support::stream_json(js, vppbridge::nats::DLQ_STREAM)
        .await
        .iter()
        .map(|l| format!("{} (deliveries {})", l["error"], l["deliveries"]))
        .collect()
}

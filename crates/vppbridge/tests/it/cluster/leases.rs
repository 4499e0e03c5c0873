//! The `vpp-leases` bucket itself: its max age is the configured lease TTL, a held lease cannot
//! be created twice, and a lease nobody renews disappears by itself.

use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use vppbridge::config::NatsConfig;
use vppbridge::nats::{self as vnats, LEASES_BUCKET};
use vppbridge::ownership::lease::{LeaseValue, Leases};

use crate::faults::support::eventually;
use crate::support::nats;

#[tokio::test]
async fn setup_gives_the_lease_bucket_the_lease_ttl_as_max_age_and_updates_it() {
    let server = nats().await;
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let cfg = NatsConfig::default();
    for ttl in [7, 9] {
        vnats::setup_with_leases(&js, &cfg, Duration::from_secs(ttl))
            .await
            .unwrap();
        let info = js
            .get_stream(format!("KV_{LEASES_BUCKET}"))
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone();
        assert_eq!(info.config.max_age, Duration::from_secs(ttl));
        assert_eq!(info.config.max_messages_per_subject, 1, "history 1");
    }
}

#[tokio::test]
async fn a_held_lease_is_not_created_twice_and_an_unrenewed_one_expires_by_itself() {
    let server = nats().await;
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    vnats::setup_with_leases(&js, &NatsConfig::default(), Duration::from_secs(2))
        .await
        .unwrap();
    let leases = Leases::open(&js, Duration::from_secs(5)).await.unwrap();
    let value = |owner: &str| LeaseValue {
        owner: owner.into(),
        since: Utc::now(),
    };
    let rev = leases.create("school", &value("a")).await.unwrap();
    assert!(rev.is_some(), "a free lease is created");
    assert_eq!(
        leases.create("school", &value("b")).await.unwrap(),
        None,
        "a held lease is refused to another worker"
    );
    assert!(
        leases.renew("school", &value("b"), 0).await.is_err(),
        "a renewal at another revision fails"
    );
    assert_eq!(leases.snapshot().await.unwrap().leases["school"].owner, "a");
    eventually(
        Duration::from_secs(10),
        "the unrenewed lease gone",
        || async {
            leases
                .snapshot()
                .await
                .ok()
                .filter(|s| !s.leases.contains_key("school"))
        },
    )
    .await;
    assert!(
        leases
            .create("school", &value("b"))
            .await
            .unwrap()
            .is_some(),
        "an expired lease is free for another worker"
    );
}

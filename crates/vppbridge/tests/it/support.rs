//! Shared helpers for the integration tests.

#![allow(dead_code)]

pub use vppbridge_testkit::natsproc::NatsServer;

/// Starts a fresh nats-server with JetStream on a random port and a temporary store.
pub async fn nats() -> NatsServer {
    NatsServer::start()
        .await
        .expect("nats-server starts (run scripts/install-nats-server)")
}

#[tokio::test]
async fn nats_server_comes_back_on_the_same_port_with_its_store() {
    let mut server = nats().await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "SMOKE".into(),
        subjects: vec!["smoke.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    js.publish("smoke.a", "x".into())
        .await
        .unwrap()
        .await
        .unwrap();
    server.restart().await.unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("SMOKE").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

//! Shared helpers for the integration tests.

#![allow(dead_code)]

pub use vppbridge::natsproc::NatsServer;

/// Starts a fresh nats-server with JetStream on a random port and a temporary store.
pub async fn nats() -> NatsServer {
    NatsServer::start().await.expect("nats-server starts (run scripts/install-nats-server)")
}

//! vppbridge connects Apple's Apps and Books (volume purchase) licensing to event-driven MDM
//! backends over NATS JetStream.
//!
//! # Layout
//!
//! A notification walks the modules in this order:
//!
//! - [`http`]: the axum receiver (`POST /notifications/{location}`, health, readiness, metrics).
//!   Authenticates, limits, and hands the body to `ingest`; talks to a publisher trait, not NATS.
//! - [`ingest`]: pure: raw bytes → Apple's envelope → a normalised [`events::notification`].
//! - [`publish`]: JetStream publication with `Nats-Msg-Id` de-duplication; the only place the
//!   receiver's events meet NATS.
//! - [`worker`]: the durable pull consumer; turns each message into a verdict (ack, retry,
//!   dead-letter) in one place.
//! - [`reconcile`]: pure decisions: what a notification or a sync changes in the view, which
//!   Apple reads verify it.
//! - [`apple`]: the App and Book Management client (retries, rate limit, pagination, ownership
//!   check) and the wire types it shares with the [`simulator`].
//! - [`view`]: the key-value state (assets, assignments, users, per-location state).
//! - [`changes`]: change and alert events out (`vpp.changes.>`, `vpp.alerts.>`).
//! - [`sync`]: full and incremental syncs against Apple.
//!
//! Beside them: [`config`] (the TOML file), [`token`] (content tokens), [`secret`] (notification
//! secrets), [`nats`] (connection and stream/bucket set-up), [`natsproc`] (a nats-server child
//! process for tests and the demo), [`register`] (Client Config registration), [`metrics`],
//! [`events`] (the public event contract), [`app`] (the `serve` process), [`simulator`] (Apple's service, for tests, demo and
//! benchmarks), [`demo`] and [`bench`], and [`cli`], which wires them together.

pub mod app;
pub mod changes;
pub mod cli;
pub mod config;
pub mod events;
pub mod http;
pub mod ingest;
pub mod location;
pub mod metrics;
pub mod nats;
pub mod publish;
pub mod reconcile;
pub mod register;
pub mod secret;
pub mod sync;
pub mod token;
pub mod view;
pub mod worker;

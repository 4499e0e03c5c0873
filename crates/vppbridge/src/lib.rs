//! vppbridge connects Apple's Apps and Books (volume purchase) licensing to event-driven MDM
//! backends over NATS JetStream.
//!
//! # Layout
//!
//! A notification walks the modules in this order:
//!
//! - [`http`]: the axum receiver (`POST /notifications/{location}`, health, readiness, metrics).
//!   Authenticates, limits, and hands the body to `ingest`; talks to the
//!   [`publish::NotificationPublisher`] trait, not NATS.
//! - [`ingest`]: pure: raw bytes → Apple's envelope → a normalised [`events::notification`].
//! - [`publish`]: JetStream publication with `Nats-Msg-Id` de-duplication; the only place the
//!   receiver's events meet NATS.
//! - [`worker`]: the durable pull consumer; turns each message into a verdict (ack, retry,
//!   dead-letter) in one place, and starts each owned location's verifier, sync schedule and
//!   convergers.
//! - [`verify`]: the per-location verifier: coalesced reads of Apple's truth into the view,
//!   used by the worker's handlers and by the intents' status checks.
//! - [`reconcile`]: pure decisions: what a notification or a sync changes in the view, which
//!   Apple reads verify it.
//! - [`location`]: one location's runtime state, shared by the worker and the sync: its Apple
//!   client (the `apple-vpp` crate), content token, guard (pause, resume, alerts), page sizes.
//! - [`view`]: the key-value state (assets, assignments, users, per-location state).
//! - [`changes`]: the one place a view write meets its change event, and the
//!   [`changes::ChangePublisher`] of change, alert and dead-letter events (`vpp.changes.>`,
//!   `vpp.alerts.>`, `vpp.dlq.>`).
//! - [`ownership`]: which worker process owns which location (leases in `vpp-leases`), so that
//!   only the owner calls Apple for it.
//! - [`sync`]: full and incremental syncs against Apple.
//! - [`intents`]: declarative licensing: `vpp-desired` (the MDM's wishes) converged with Apple
//!   per location, in batches under the location's rate limiter, each write tracked to its end.
//!
//! Beside them: [`config`] (the TOML file), [`token`] (content tokens), [`secret`] (notification
//! secrets), [`nats`] (connection and stream/bucket set-up), [`register`] (Client Config
//! registration), [`metrics`], [`events`] (the public event contract), [`status`] (`vppbridge
//! status`), [`app`] (the `serve` process), and [`cli`], which wires them together. Apple's client
//! and wire types are the `apple-vpp` and `apple-vpp-types` crates; the simulator, the demo and the
//! benchmarks live in `vppbridge-sim` and `vppbridge-dev`.
//!
//! Dependencies between modules go one way (no cycles): `worker` → `intents` → `verify` →
//! `location`; `status` → `intents`, `ownership`, `view`;
//! `worker` → `sync` → `location` → `changes` → `view` → `nats` → `config` (`changes` also uses
//! the pure `reconcile` for count deltas); `events` depends on no other module, `reconcile` and
//! `ingest` only on `events`; `http` never reaches `worker`, `sync` or `view`.

pub mod app;
pub mod changes;
pub mod cli;
pub mod config;
pub mod events;
pub mod files;
pub mod http;
pub mod ingest;
pub mod intents;
pub mod location;
pub mod metrics;
pub mod nats;
pub mod ownership;
pub mod publish;
pub mod reconcile;
pub mod register;
pub mod secret;
pub mod status;
pub mod sync;
pub mod token;
pub mod verify;
pub mod view;
pub mod worker;

//! Apple's App and Book Management API (v2): the client and the wire types.
//!
//! - [`types`]: request/response models, shared with the simulator.
//! - [`error`]: the typed error the caller acts on (retry, pause, skip, report).
//! - [`client`]: [`AppleClient`], one per location: bounded retries with backoff and
//!   `Retry-After`, a per-location rate limit, pagination, and the `mdmInfo` ownership check.
//! - [`response`]: one HTTP answer → JSON body or [`AppleError`] (pure).
//! - [`retry`]: backoff and `Retry-After` arithmetic (pure).
//! - [`ratelimit`]: the per-location request spacer.
//! - [`paginate`]: reading every page of `assets`, `assignments`, `users`.
//! - [`limits`]: Service Config's limits with Apple's defaults.
//!
//! Must not know about NATS, the view or the receiver.

pub mod client;
pub mod error;
pub mod limits;
pub mod paginate;
pub mod ratelimit;
pub mod response;
pub mod retry;
pub mod types;

pub use client::{AppleClient, Paged};
pub use error::AppleError;
pub use limits::Limits;

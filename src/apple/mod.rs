//! Apple's App and Book Management API (v2): the client and the wire types.
//!
//! - [`types`]: request/response models, shared with the simulator.
//! - [`error`]: the typed error the caller acts on (retry, pause, skip, report).
//! - [`client`]: [`AppleClient`], one per location: bounded retries with backoff and
//!   `Retry-After`, a per-location rate limit, pagination, and the `mdmInfo` ownership check.
//!
//! Must not know about NATS, the view or the receiver.

pub mod client;
pub mod error;
pub mod types;

pub use client::{AppleClient, Paged};
pub use error::AppleError;

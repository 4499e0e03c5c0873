//! Test support for vppbridge, shared by its integration tests, the demo and the benchmarks. A
//! dev-dependency only: the production binary links none of it.
//!
//! # Layout
//!
//! - [`natsproc`]: a pinned nats-server as a child process, on a free port with a temporary
//!   store (single node or a three-node cluster).
//! - [`memory`]: [`MemoryPublisher`], an in-memory stand-in for JetStream behind the receiver's
//!   publisher trait, for router tests.
//! - [`uids`]: [`StaticUids`], a fixed table of known `uId`s, for router tests.
//! - [`truth`]: the one comparison of a location's view with Apple's records (the simulator's
//!   state), used by the demo, the benchmark and the fault suite.

pub mod memory;
pub mod natsproc;
pub mod truth;
pub mod uids;

pub use memory::{MemoryPublisher, StoredMessage};
pub use uids::StaticUids;

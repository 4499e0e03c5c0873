//! Apple's App and Book Management (v2) wire types, shared by the client (`apple-vpp`) and the
//! simulator (`vppbridge-sim`) so the two cannot drift apart.
//!
//! Written from `shared/apple-api.md`. Every response type tolerates unknown fields; `adamId` is
//! accepted as a string or a number and always normalised to a string ([`AdamId`]). Types that
//! carry a secret (`notificationAuthToken`) redact it in `Debug`.
//!
//! # Layout
//!
//! Every type is re-exported here (`apple_vpp_types::X`); the files follow the endpoints:
//!
//! - `dates`: Apple's date format ([`parse_apple_date`], [`format_apple_date`]).
//! - `common`: what every endpoint shares: [`AdamId`], [`Asset`], [`MdmInfo`], [`Common`],
//!   [`PageInfo`], [`ErrorResponse`].
//! - `config`: `service/config` and `client/config`.
//! - `assets`, `assignments`, `users`: the paginated reads, each with its query and records.
//! - `writes`: associate, disassociate, revoke, the user writes, and `GET status` of the events
//!   they start.
//! - `notifications`: what Apple posts, and [`notification_type`].
//!
//! Dependencies point one way: every file may use `common`; `notifications` also uses the
//! records of `assignments` and `users` and the [`EventType`] of `writes`; nothing uses
//! `notifications`.

mod assets;
mod assignments;
mod common;
mod config;
mod dates;
mod notifications;
mod users;
mod writes;

#[cfg(test)]
mod tests;

pub use assets::*;
pub use assignments::*;
pub use common::*;
pub use config::*;
pub use dates::*;
pub use notifications::*;
pub use users::*;
pub use writes::*;

//! An async client for Apple's App and Book Management API (v2), the API behind Apps and Books
//! (volume purchase) licensing in Apple School Manager and Apple Business.
//!
//! # Layout
//!
//! - [`types`]: the wire types (the `apple-vpp-types` crate, re-exported), shared with the
//!   simulator, which depends on them and never on this client.
//! - [`token`]: content tokens (`.vpptoken`): parsing, and recognising the files people confuse
//!   with them. The secret never leaves [`token::ContentToken::bearer`].
//! - [`client`]: [`AppleClient`], one per location: bounded retries with backoff and
//!   `Retry-After`, a per-location rate limit, pagination, and the `mdmInfo` ownership check.
//! - [`settings`]: [`ClientSettings`], the client's own settings (base URL, timeouts, retries).
//! - [`observe`]: [`Observer`], how a caller counts attempts (for its metrics).
//! - [`error`]: the typed error the caller acts on (retry, pause, skip, report).
//! - [`response`]: one HTTP answer → JSON body or [`AppleError`] (pure).
//! - [`retry`]: backoff and `Retry-After` arithmetic (pure).
//! - [`ratelimit`]: the per-location request spacer.
//! - [`paginate`]: the one pagination engine: every page of `assets`, `assignments`, `users`,
//!   with the `versionId` restart rule, as a stream of pages ([`paginate::Pages`], for callers
//!   that act on each page as it arrives) or collected ([`Paged`]). It takes a page fetcher and
//!   knows nothing of the client, which depends on it.
//! - [`limits`]: Service Config's limits with Apple's defaults.
//!
//! Must not know about NATS, configuration files, or what the caller does with the answers.

pub mod client;
pub mod error;
pub mod limits;
pub mod observe;
pub mod paginate;
pub mod ratelimit;
pub mod response;
pub mod retry;
pub mod settings;
pub mod token;

pub use apple_vpp_types as types;

pub use client::AppleClient;
pub use error::AppleError;
pub use limits::Limits;
pub use observe::Observer;
pub use paginate::Paged;
pub use settings::ClientSettings;

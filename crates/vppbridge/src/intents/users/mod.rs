//! Declarative managed users: the MDM says which users should exist at Apple (with which email
//! and Managed Apple Account) and which should be retired (`vpp-desired-users`), and each
//! location's users converger makes Apple agree with `users/create|update|retire`.
//!
//! # Buckets
//!
//! - `vpp-desired-users`: owned by the MDM (or `vppbridge users apply`); the keys of `vpp-users`
//!   (`<location>.<base64url clientUserId>`, [`crate::view::keys::user_key`]); values
//!   [`DesiredUserValue`](crate::events::user_intents::DesiredUserValue).
//! - `vpp-user-intents`: owned by vppbridge; one
//!   [`UserIntentRecord`](crate::events::user_intents::UserIntentRecord) per managed user, same
//!   key. A bucket of its own rather than a prefix in `vpp-intents`, so neither converger's
//!   listing of a location reads the other's records. While a request carries the user, the
//!   record names it (`requestId`, written before the POST, then Apple's `eventId`): the
//!   request itself needs no record of its own, since a user write carries each user once.
//!
//! # Modules
//!
//! - [`plan`]: pure: desired vs the view's users → users to record `applied` and users to send,
//!   batched by `maxUsers`.
//! - [`store`]: reads and writes of the two buckets and the view's users.
//! - [`converge`]: the per-location loop the worker spawns beside the asset converger.
//! - `outcome`: resolving requests (view, Event Status), records and events.
//! - [`cli`]: `vppbridge users apply|list`.
//!
//! Outcomes: `applied` when the view shows the user as desired or Event Status reports the
//! request done without a failure for it; `failed` with Apple's number and message for
//! asynchronous failures (9716 the user exists, 9635 the Apple Account cannot be associated,
//! 9641 the Apple Account belongs to another user) and synchronous refusals; transient errors
//! (9603, 9610, 9644, 9646) are sent again up to `[intents] max_attempts`.

pub mod cli;
pub mod converge;
mod outcome;
pub mod plan;
pub mod store;

pub use outcome::failed_users;

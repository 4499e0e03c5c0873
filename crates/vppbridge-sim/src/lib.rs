//! A stateful stand-in for Apple's App and Book Management service (v2), written from
//! `shared/apple-api.md`: what the project's tests, demo and benchmarks run against, and what
//! users point a staging environment at (`vppbridge-sim`).
//!
//! It serves Apple's paths under `/mdm/v2/` and an admin API under `/_sim/`, keeps all state in
//! memory, and shares every request/response type with the client (the `apple-vpp-types` crate).
//! It must not depend on the client or on the project's token parser.
//!
//! # Behaviour, and where it departs from Apple
//!
//! - **Locations and seeding.** Each location has a content token, an 18-digit `uId`, a name,
//!   country `US`, assets, assignments and users, seeded deterministically from [`SeedSpec`]:
//!   adamIds `100000000+i` (`STDQ`; every 5th asset a Book: not device-assignable, not revocable),
//!   serials `SIM000000001`..., users `user-000001`... (Registered, `@example.com`), a fraction of
//!   (App × device) pairs pre-assigned. Licenses per asset default to devices + users.
//! - **Tokens.** Minted as standard Base64 of `{"token","expDate","orgName"}`; the bearer is the
//!   whole Base64 text. Missing/malformed `Authorization` → 9722 (401); unknown → 9601 (401);
//!   expired → 9621 (401); revoked through the admin API → 9625 (401). Service Config needs none.
//! - **Common fields.** Every authenticated success carries `uId`, `mdmInfo` once set, and
//!   `tokenExpirationDate` *always* (Apple's text says only within 15 days of expiry; its
//!   examples and the conformance capture show it always: the simulator follows the capture).
//! - **Rate limit.** More than `maxRequestPerSecond` requests per token in any trailing second →
//!   HTTP 429 + 9646 (mode `http429`), or 9646 inside HTTP 200 (mode `http200`), or none (`off`).
//!   Only admitted requests count, so a client that slows down is served at once. No
//!   `Retry-After` on 429 (Apple does not document one).
//! - **Faults.** A fraction of Apple calls answer 503 + 9729 or 500 + 9603 (with `Retry-After`
//!   when `retryAfterSecs` > 0), after any added latency; they apply to Service Config too.
//! - **Service Config** serves Apple's documented limits (with `maxRequestPerSecond` from the
//!   config), every notification type Apple lists, `urls` pointing at this simulator and the
//!   error table.
//! - **Client Config.** `mdmInfo` needs all three fields (9723) within 100/100/255 characters
//!   (9724/9725/9713); URL and secret go together (9710), at most 512 characters (9711); the
//!   URL must be absolute HTTPS with a host (9712; HTTP too with `allow_http_notifications`);
//!   unknown notification types → 9602. A URL triggers one synchronous `TEST_NOTIFICATION`
//!   attempt (no faults applied); anything but 2xx → 9728 and nothing is stored. Fields left
//!   out keep their old values; `notificationTypes` replaces the set (an empty list is how to
//!   stop notifications: Apple leaves unsubscribing open). The response echoes the secret, as
//!   Apple's reference example does.
//! - **Reads.** Every documented filter; page size from the config; `totalPages` is at least 1,
//!   so page 0 of an empty result is valid; `pageIndex` ≥ `totalPages` or not a number → 9650.
//!   Each endpoint has its own `versionId` (Get Assets, Get Assignments, Get Users), moved at
//!   most once per completed event or admin action, and only when a record behind that
//!   endpoint changed (an assignment change moves the assets' too: their counts changed); a
//!   write that changes nothing moves none. `sinceVersionId` on assignments returns the
//!   touched pairs still assigned (Apple lists only active assignments); with the
//!   `ext_removed_assignments` extension (off by default) the pairs no longer assigned come in
//!   `removedAssignments`, both paginated over one sorted list. On users it returns every
//!   record changed since (retired ones with status `Retired`). The last 10,000 versions and
//!   250,000 assignment changes are
//!   kept; an older or unknown id → 9721. Get Assets has no `sinceVersionId`, as at Apple.
//! - **Writes.** Synchronous validation (415/9727 content type, 405/9726 method, 9602 bad JSON,
//!   9718, 9719, 9700–9705, 9707, 9720, 9714, 9715, 9717) then an `eventId` at once; the work
//!   completes after `event_delay`. Associate assigns while licenses last; the rest fail with
//!   9709 (an asset the location does not own fails with 9709 too: Apple has no "unknown asset"
//!   number), users that are not registered with 9609. Re-associating an assigned pair and
//!   disassociating an unassigned one succeed as no-ops (Apple leaves idempotency open).
//!   Revoke removes every revocable asset from each target (`numRequested` = targets).
//!   Users: create (9716 when an active user has the id; `managedAppleId` → Associated),
//!   update and retire (9609 when unknown); retiring keeps the user's assignments.
//!   `GET status` answers PENDING, then COMPLETE, or FAILED with `failures[]` (one per asset and
//!   error number, with `errorInfo`) — FAILED may be partial; unknown `eventId` → 9708.
//! - **Notifications** go to the configured URL with `Authorization: Bearer <secret>` and
//!   `Content-Type: application/json`, in Apple's envelope, for subscribed types only.
//!   ASSET_MANAGEMENT: one asset per notification, at most 100 assignments, successes and each
//!   failure number apart (a failure carries one `error`, without `errorInfo`). USER_MANAGEMENT:
//!   at most 100 users. ASSET_COUNT on admin purchase/refund/transfer; USER_ASSOCIATED on an
//!   admin-accepted invitation. Each is delivered with up to `1 + delivery_retry_delays.len()`
//!   attempts (default 3 over 2.5 minutes), each bounded by `notification_timeout`; non-2xx or
//!   an error fails an attempt; after the last one the notification is given up. A location's
//!   notifications leave in order; retries do not hold up the next ones.
//! - **Delivery faults.** `dropRate`: never sent (logged `dropped`); `duplicateRate`: delivered
//!   again with the same `notificationId`; `reorderRate`: held until the next notification has
//!   gone out (at most 1 s); `notificationDelayMs`: waits before each one. The faults in force
//!   when an event completes (or an admin action happens) apply to all its notifications.
//! - **Admin API** (`/_sim/`): locations, the full state, faults, purchase/refund/transfer,
//!   accepting invitations, revoking, expiring or renewing a token (renewing keeps the token
//!   text), a foreign `mdmInfo`, removing an assignment behind the MDM's back (no
//!   notification), the request log (every Apple call with `atMs`, status, `errorNumber`, `uId`;
//!   the last 100,000) and the delivery log (every attempt, TEST_NOTIFICATION included). Admin
//!   calls change state at once, each with a new version. Purchases of an unknown adamId create it as an App; a refund or transfer below the
//!   available count is refused (409).
//!   Not modelled: subscriptions, unlimited assets, read-only and facilitator tokens,
//!   `contentMetadataLookup` (the URL points at Apple's), permission errors (9637/9647),
//!   maintenance (9644). Event records are kept for the simulator's lifetime.

pub mod cli;
mod errors;
pub mod faults;
mod lookup;
mod notify;
mod reads;
mod routes;
pub mod seed;
mod server;
mod state;
mod users;
mod versions;
mod writes;

mod admin;

use std::time::Duration;

pub use faults::{Faults, RateLimitMode};
pub use server::{SimHandle, SimLocation, Simulator};

/// How a simulator behaves. `Default` is realistic; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Records per page of the paginated reads.
    pub page_size: usize,
    /// Accept `http://` notification URLs (Apple requires HTTPS).
    pub allow_http_notifications: bool,
    /// How long a write stays PENDING before it completes.
    pub event_delay: Duration,
    /// Waits before the second, third... delivery attempt of a notification.
    pub delivery_retry_delays: Vec<Duration>,
    /// Time limit of one delivery attempt.
    pub notification_timeout: Duration,
    /// `maxRequestPerSecond`, served in Service Config and enforced per token.
    pub max_requests_per_second: u32,
    /// Faults at start (changeable at run time through `PUT /_sim/faults`).
    pub faults: Faults,
    /// What the locations are seeded with.
    pub seed: SeedSpec,
    /// How long from start until the seeded tokens expire.
    pub token_lifetime: chrono::Duration,
    /// Extension (Apple documents no such field): `sinceVersionId` reads of Get Assignments
    /// also list the pairs removed since, in `removedAssignments`. Off by default, and off in
    /// the demo, the tests and the benchmarks: production code must not depend on it.
    pub ext_removed_assignments: bool,
    /// `urls.contentMetadataLookup` in Service Config; `None`: the simulator's own
    /// `/_sim/lookup`, which answers minimal metadata for its assets.
    pub content_metadata_url: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            page_size: 1000,
            allow_http_notifications: false,
            event_delay: Duration::from_secs(2),
            delivery_retry_delays: vec![Duration::from_secs(30), Duration::from_secs(120)],
            notification_timeout: Duration::from_secs(10),
            max_requests_per_second: 15,
            faults: Faults::default(),
            seed: SeedSpec::default(),
            token_lifetime: chrono::Duration::days(365),
            ext_removed_assignments: false,
            content_metadata_url: None,
        }
    }
}

/// What each seeded location holds.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    /// Number of locations.
    pub locations: usize,
    /// Assets per location.
    pub assets: usize,
    /// Device serial numbers (`SIM000000001`...).
    pub devices: usize,
    /// Registered users (`user-000001`...).
    pub users: usize,
    /// Fraction of (App × device) pairs assigned at start.
    pub assigned: f64,
    /// Random seed: the same seed gives the same ids and assignments.
    pub seed: u64,
    /// Licenses per asset; default enough for every device and user.
    pub licenses_per_asset: Option<i64>,
}

impl Default for SeedSpec {
    fn default() -> Self {
        SeedSpec {
            locations: 1,
            assets: 10,
            devices: 100,
            users: 10,
            assigned: 0.0,
            seed: 1,
            licenses_per_asset: None,
        }
    }
}

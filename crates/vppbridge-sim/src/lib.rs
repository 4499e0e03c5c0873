//! A stateful stand-in for Apple's App and Book Management service (v2), written from
//! `shared/apple-api.md`: what the project's tests, demo and benchmarks run against, and what
//! users point a staging environment at (`vppbridge-sim`).
//!
//! # Layout
//!
//! - this file: [`SimConfig`], [`SeedSpec`]. `server`: [`Simulator`], [`SimHandle`], the shared
//!   state and the request log. `routes`: Apple's paths, authentication, rate limit, faults,
//!   Service Config and Client Config. `reads`: Get Assets / Assignments / Users. `writes`,
//!   `users`: the asynchronous writes and Event Status. `state`, `versions`: a location's truth
//!   and its per-endpoint versions. `notify`: deliveries. `admin`: `/_sim/`. `lookup`: the
//!   content-metadata lookup. `invite`: the invitation link. `seed`, `errors`, [`faults`], [`cli`].
//!
//! It serves Apple's paths under `/mdm/v2/` and an admin API under `/_sim/`, keeps all state in
//! memory, and shares every request/response type with the client (the `apple-vpp-types` crate).
//! It must not depend on the client or on the project's token parser.
//!
//! # Behaviour table
//!
//! Each behaviour is marked *documented* (with the apple-api.md section it follows) or *chosen*
//! (Apple is silent; the reason follows). Extensions (behaviour Apple does not have) are off by
//! default and named as such.
//!
//! - **Locations and seeding** — *chosen* (test data, not Apple behaviour): each location has a
//!   content token, an 18-digit `uId`, a name, country `US`, assets, assignments and users,
//!   seeded deterministically from [`SeedSpec`]: adamIds `100000000+i` (`STDQ`; every 5th asset
//!   a Book: not device-assignable, not revocable — *documented* §6.1), serials
//!   `SIM000000001`..., users `user-000001`... (Registered, `@example.com`), a fraction of
//!   (App × device) pairs pre-assigned. Licenses per asset default to devices + users.
//! - **Tokens** — *documented* §2: standard Base64 of `{"token","expDate","orgName"}`, the whole
//!   text is the bearer. Missing/malformed `Authorization` → 9722 (401); unknown → 9601 (401);
//!   expired → 9621 (401); revoked through the admin API → 9625 (401) (§10.2). Service Config
//!   needs none (§3).
//! - **Common fields** — *documented* §2, §4.3: every authenticated success carries `uId` and
//!   `mdmInfo` once set. `tokenExpirationDate` *always* — *chosen*: Apple's text says only within
//!   15 days of expiry, its examples and the conformance capture show it always (§2, §13 q3).
//! - **Errors** — *documented* §10.1/§10.2: an `ErrorResponse` body with the HTTP status of the
//!   table. Errors inside HTTP 200 (§13 q4) are produced only by the `http200` rate-limit mode.
//! - **Rate limit** — *documented* §10.5 (`maxRequestPerSecond` per token): more than that in
//!   any trailing second → HTTP 429 + 9646 (mode `http429`), or 9646 inside HTTP 200
//!   (`http200`), or none (`off`). *Chosen*: only admitted requests count (a client that slows
//!   down is served at once); no `Retry-After` on 429 (Apple documents none, §13 q5).
//! - **Faults** — *chosen* (test tool): a fraction of Apple calls answer 503 + 9729 or 500 +
//!   9603 (with `Retry-After` when `retryAfterSecs` > 0, *documented* §10.5), after any added
//!   latency; they apply to Service Config too.
//! - **Service Config** — *documented* §3: Apple's limits (with `maxRequestPerSecond` from the
//!   config), every notification type Apple lists, the error table; `urls` point at this
//!   simulator. `contentMetadataLookup` — *chosen* (so a client that follows it stays on the
//!   test machine): [`SimConfig::content_metadata_url`], by default the simulator's
//!   `/_sim/lookup`, which answers `{"results": {"<adamId>": {id, name, kind, artistName,
//!   bundleId}}}` for the adamIds it holds (Apple documents the URL and query, not the answer).
//!   `invitationEmail` — *documented* template (§3: `%25inviteCode%25` replaced by the user's
//!   `inviteCode`); the page behind it *chosen* (Apple's is a web page for the user, not
//!   documented): `/_sim/invite?inviteCode=...`, which accepts the invitation when opened
//!   (Associated, `idHash`, USER_ASSOCIATED), plain text, 404 for a code with no open
//!   invitation.
//! - **Client Config** — *documented* §4.2: `mdmInfo` needs all three fields (9723) within
//!   100/100/255 characters (9724/9725/9713); URL and secret go together (9710), at most 512
//!   characters (9711); the URL must be absolute HTTPS with a host (9712; HTTP too with
//!   `allow_http_notifications`, *chosen* for local receivers); unknown notification types →
//!   9602; a URL triggers one synchronous `TEST_NOTIFICATION` attempt, anything but 2xx → 9728
//!   and nothing is stored. *Chosen*: no faults on the test attempt (it would only fail the
//!   set-up); fields left out keep their old values and `notificationTypes` replaces the set,
//!   an empty list stops notifications (§13 q10); the response echoes the secret, as Apple's
//!   reference example does (§4.2).
//! - **Reads** — *documented* §6, §7: every documented filter; `pageIndex` ≥ `totalPages` or not
//!   a number → 9650; `nextPageIndex` only while more pages remain. *Chosen*: the page size is
//!   the config's (Apple's is server-chosen, §7); `totalPages` is at least 1, so page 0 of an
//!   empty result is valid (Apple's examples of empty results do so).
//! - **Versions** — *documented* §7 (`versionId` belongs to the dataset behind each endpoint):
//!   Get Assets, Get Assignments and Get Users each have their own `versionId`, moved at most
//!   once per completed event or admin action and only when a record behind that endpoint
//!   changed (an assignment change moves the assets' too: their `assignedCount` changed; a
//!   users/create moves only the users'); a write that changes nothing (disassociating an
//!   unassigned pair, an associate that fails entirely, an update to the same values) moves
//!   none. A `versionId` of one endpoint is unknown (9721) to another.
//! - **`sinceVersionId`** — *documented* §6.2, §7: on assignments the pairs touched since that
//!   are still assigned (Apple lists only active assignments); on users every record changed
//!   since (retired ones with status `Retired`, §13 q6). *Chosen*: the last 10,000 versions and
//!   250,000 assignment changes are kept; an older or unknown id → 9721 (Apple does not say how
//!   long an id stays valid, §13 q6). Get Assets has none, as at Apple (§6.1).
//! - **Extension `removedAssignments`** — not Apple's (§13 q6): with
//!   [`SimConfig::ext_removed_assignments`] (`--ext-removed-assignments`; off by default, in the
//!   demo, the tests and the benchmarks) a `sinceVersionId` read of assignments also lists the
//!   pairs no longer assigned in `removedAssignments`, paginated with the others. The field
//!   is serialised from the simulator's own answer type, not from `apple-vpp-types`, so the
//!   client drops it unread and production cannot depend on it.
//! - **Write validation** — *documented* §8, §10.2: 415/9727 content type, 405/9726 method,
//!   9602 bad JSON, 9718, 9719, 9700–9705, 9707, 9720, 9714, 9715, 9717, then an `eventId` at
//!   once. *Chosen*: a JSON `null` member counts as missing at any depth (`"serialNumbers":
//!   null` → 9719 like no `serialNumbers`): Go clients send `null` for empty slices and Apple
//!   does not say; an empty id (`adamId`, serial, `clientUserId`), a `pricingParam` other than
//!   `STDQ`/`PLUS` (§6.1) or a body that is not a JSON object → 9602 (Apple's "invalid
//!   argument").
//! - **Write outcomes** — *documented* §8.1–§8.3, §9: the work completes after `event_delay`
//!   (*chosen*: Apple's delay is unspecified); `numRequested` is the cross product; associate
//!   assigns while licenses last, the rest fail with 9709; users that are not registered fail
//!   with 9609; revoke removes every revocable asset from each target; users create (9716 when
//!   an active user has the id; `managedAppleId` → Associated), update and retire (9609 when
//!   unknown). `GET status` answers PENDING, then COMPLETE, or FAILED with `failures[]` (one
//!   per asset and error number, with `errorInfo`), FAILED possibly partial; unknown `eventId`
//!   → 9708. *Chosen*: an asset the location does not own fails with 9709 (Apple has no
//!   "unknown asset" number, §6.1); re-associating an assigned pair and disassociating an
//!   unassigned one succeed as no-ops (§13 q15); revoke's `numRequested` = targets; retiring
//!   keeps the user's assignments (Apple is silent).
//! - **Notifications** — *documented* §5: POSTed to the configured URL with `Authorization:
//!   Bearer <secret>`, in Apple's envelope, for subscribed types only; ASSET_MANAGEMENT with at
//!   most 100 assignments and one `error` per failure notification; USER_MANAGEMENT at most 100
//!   users; ASSET_COUNT on admin purchase/refund/transfer; USER_ASSOCIATED on an admin-accepted
//!   invitation; up to three attempts (default 3 over 2.5 minutes). *Chosen*: `Content-Type:
//!   application/json` (§13 q2); one asset per ASSET_MANAGEMENT notification, successes and
//!   each failure number apart, failures without `errorInfo` (§13 q9, as the forum capture
//!   shows per-app notifications); a failed USER_MANAGEMENT names each user as the request did
//!   (`clientUserId`, `email`) without a `status` (§5.6 shows no failure; the user may have no
//!   record, and an empty status is none of §6.3's); each attempt bounded by
//!   `notification_timeout`; after the last attempt the notification is given up (§13 q2); a
//!   location's notifications leave in order, retries do not hold up the next ones (ordering
//!   is undocumented, §5.2).
//!   `https://` URLs are verified against the built-in roots plus the PEM file
//!   [`SimConfig::extra_root_certs`] (default `$SSL_CERT_FILE`) — *chosen*, so a local receiver
//!   with a local CA can be registered (Apple trusts public CAs only).
//! - **Delivery faults** — *chosen* (test tool, modelling §5.2's "best effort" and duplicates):
//!   `dropRate`: never sent (logged `dropped`); `duplicateRate`: delivered again with the same
//!   `notificationId`; `reorderRate`: held until the next notification has gone out (at most
//!   1 s); `notificationDelayMs`: waits before each one. The faults in force when an event
//!   completes (or an admin action happens) apply to all its notifications.
//! - **Held write answers** — *chosen* (test tool; Apple is silent on what a client that lost the
//!   answer of a write sees): `writeAnswerDelayMs` carries out a POST, logs it, then holds its
//!   answer back that long, so a client can be killed after Apple accepted a write and before
//!   it learnt the `eventId`. A write held PENDING is [`SimConfig::event_delay`].
//! - **Admin API** (`/_sim/`) — *chosen* (test tool, off Apple's paths): locations, the full
//!   state (with each endpoint's `versionId`), faults, purchase/refund/transfer (an unknown
//!   adamId is created as an App; below the available count → 409), accepting invitations,
//!   revoking, expiring or renewing a token (renewing keeps the token text), a foreign
//!   `mdmInfo`, removing an assignment behind the MDM's back (no notification: §13 q13), the
//!   request log (every Apple call with `atMs`, status, `errorNumber`, `uId`; the last 100,000),
//!   the delivery log (every attempt, TEST_NOTIFICATION included), the metadata lookup. Admin
//!   calls change state at once, moving the versions of what they change.
//! - **Token privileges** — *documented* §2: a read-only content manager's token may make the
//!   reads only (Get Assets / Assignments / Users; *chosen*: Client Config's GET and Event
//!   Status too, they change nothing); every POST answers 9637 (403) — *chosen*: Apple
//!   documents the privilege, not the number for a read-only token, and 9637 is its one
//!   "operation not allowed" (403). A content manager who can manage but not purchase may make
//!   every call: the API has no purchase call (purchases happen in the portal: the admin
//!   API's purchase here). [`TokenMode`]: `--token-mode`, [`SimConfig::token_mode`] and
//!   `POST /_sim/locations/{uId}/token-mode` (`{"mode": "read-only"}`).
//! - **Not modelled**: subscriptions and unlimited assets (§5.8, §6.1), facilitator and legacy
//!   tokens (9637/9647 for those, §2), maintenance (9644). Event
//!   records are kept for the simulator's lifetime (*chosen*: Apple is silent).

pub mod cli;
mod errors;
pub mod faults;
mod invite;
mod lookup;
mod modes;
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
pub use modes::TokenMode;
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
    /// A PEM file of extra root certificates trusted, besides the built-in ones, when
    /// delivering notifications to `https://` URLs (a local CA for a local receiver). Defaults
    /// to `$SSL_CERT_FILE`.
    pub extra_root_certs: Option<std::path::PathBuf>,
    /// What the seeded locations' tokens may do (the admin API changes it per location).
    pub token_mode: TokenMode,
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
            extra_root_certs: std::env::var_os("SSL_CERT_FILE").map(Into::into),
            token_mode: TokenMode::default(),
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

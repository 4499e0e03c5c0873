//! The view against Apple's truth: reads a location's key-value view (`vpp-assets`,
//! `vpp-assignments`, `vpp-users`) and the simulator's `GET /_sim/locations/{uId}/state`, and
//! says whether they hold the same assets (with their counts), the same assignments and the same
//! users (with their status), each value under the key the documented layout gives it.
//!
//! The one such comparison: the demo, the benchmarks and the fault suite all use it. It is
//! deliberately independent of the worker's code: it reads the view's JSON values as the event
//! contract documents them (`adamId`, `pricingParam`, the counts, `serialNumber`/`clientUserId`,
//! `status`) and checks their keys against the README's layout, rather than calling the worker's
//! own key or normalisation functions, so a bug there cannot hide itself. Must not write anything.
//!
//! - [`apple`](mod@apple): Apple's side, [`SimState`] as the simulator reports it, and what the view should
//!   hold of it.
//! - [`view`](mod@view): the view's side, read from the buckets in one pass each.
//! - [`compare`](mod@compare): the comparable [`Snapshot`], the [`Difference`]s and the [`Comparison`].

pub mod apple;
pub mod compare;
pub mod view;

pub use apple::{SimState, fetch_truth};
pub use compare::{AssetId, Comparison, Counts, Difference, Snapshot, Target, compare};
pub use view::read_view;

use async_nats::jetstream;

/// The view's asset bucket.
pub const ASSETS_BUCKET: &str = "vpp-assets";
/// The view's assignment bucket.
pub const ASSIGNMENTS_BUCKET: &str = "vpp-assignments";
/// The view's user bucket.
pub const USERS_BUCKET: &str = "vpp-users";

/// Reading the view or the truth failed.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// The simulator's admin API did not answer with a location's state.
    #[error("cannot read Apple's truth from the simulator at {url}: {detail}")]
    Simulator {
        /// The admin URL asked.
        url: String,
        /// What happened.
        detail: String,
    },
    /// A view bucket could not be read.
    #[error(
        "cannot read the view's bucket {bucket} for location {location}: {detail} (run `vppbridge nats setup`?)"
    )]
    View {
        /// The bucket.
        bucket: &'static str,
        /// The location.
        location: String,
        /// What NATS said.
        detail: String,
    },
}

/// Reads `location`'s view and the simulator's truth about `u_id` and compares them.
/// `users_active_only` is the configuration's `sync.users_active_only`.
///
/// # Errors
/// When the view or the truth cannot be read.
pub async fn compare_view(
    js: &jetstream::Context,
    http: &reqwest::Client,
    admin_url: &str,
    location: &str,
    u_id: &str,
    users_active_only: bool,
) -> Result<Comparison, TruthError> {
    let truth = fetch_truth(http, admin_url, u_id).await?;
    let view = read_view(js, location).await?;
    Ok(compare(&view, &truth.snapshot(users_active_only)))
}

#[cfg(test)]
mod tests;

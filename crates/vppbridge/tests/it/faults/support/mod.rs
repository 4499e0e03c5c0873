//! What every fault scenario shares: vppbridge as a child process of the built binary (so a test
//! can SIGKILL it), the simulator, Apple-shaped notification bodies, a load client that retries
//! 503s the way Apple does, and the two closing checks ([`checks`]): every notification answered
//! 200 is in `VPP_NOTIFICATIONS` exactly once, and the view equals the simulator's truth.

mod apple;
mod bridge;
pub mod checks;
mod load;

pub use apple::{Apple, apple};
pub use bridge::{Bridge, bridge_config};
pub use checks::{assert_stored_exactly_once, assert_view_matches_truth, stored_ids};
pub use load::{Load, LoadOptions, LoadReport, Note, associate_note, deliver, test_note};

use std::time::Duration;

use tokio::time::Instant;

/// The notification secret of the one location every scenario configures.
pub const SECRET: &str = "fault-suite-secret-0123456789abcdef";
/// That location's id.
pub const LOCATION: &str = "school";

/// Polls `check` every 20 ms until it returns `Some`, or panics naming `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! [`SyncError`]: why a sync stopped.

use apple_vpp::AppleError;

use crate::changes::ApplyError;
use crate::view::ViewError;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Apple refused or failed (the location may now be paused).
    #[error("location {location}: {source}")]
    Apple {
        /// The location.
        location: String,
        /// Apple's error.
        #[source]
        source: Box<AppleError>,
    },
    /// The location is paused.
    #[error(
        "location {location} is paused ({reason}); replace its token file or run `vppbridge resume --location {location}`"
    )]
    Paused {
        /// The location.
        location: String,
        /// Why.
        reason: &'static str,
    },
    /// Writing the view failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Reading the view failed.
    #[error(transparent)]
    View(#[from] ViewError),
    /// A key could not be built.
    #[error(transparent)]
    Key(#[from] crate::view::keys::KeyError),
}

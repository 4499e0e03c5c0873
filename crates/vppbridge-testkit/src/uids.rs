//! [`StaticUids`]: a fixed table of known `uId`s, for router tests without a key-value bucket.

use std::collections::HashMap;

use futures::FutureExt;
use futures::future::BoxFuture;
use vppbridge::nats::state::KnownUids;

/// Fixed `uId`s, for router tests (production reads `vpp-state`).
#[derive(Debug, Default, Clone)]
pub struct StaticUids(pub HashMap<String, String>);

impl KnownUids for StaticUids {
    fn known_uid<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Option<String>> {
        let v = self.0.get(location).cloned();
        async move { v }.boxed()
    }
}

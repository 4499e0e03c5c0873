//! The user buckets (`vpp-desired-users`, `vpp-user-intents`) and the view's users, read as a
//! [`UserSnapshot`]. Listings use the asset store's one-pass scan; writes go out concurrently
//! (bounded).

use std::collections::BTreeMap;

use async_nats::jetstream::{self, kv};
use futures::{StreamExt, TryStreamExt};

use super::plan::{DesiredUser, UserSnapshot};
use crate::events::notification::UserRef;
use crate::events::user_intents::{DesiredUserValue, UserIntentRecord};
use crate::intents::store::Store;
use crate::nats::{DESIRED_USERS_BUCKET, USER_INTENTS_BUCKET};
use crate::view::keys::{decode_id, user_key};
use crate::view::{Bucket, View};

/// Writes in flight at once.
const CONCURRENT_WRITES: usize = 128;

/// Handles on the user buckets and the view.
#[derive(Debug, Clone)]
pub struct UserStore {
    desired: kv::Store,
    records: kv::Store,
    assets: Store,
    view: View,
}

fn nats_err(bucket: &str, what: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("key-value bucket {bucket}: {what} failed: {e}")
}

/// The clientUserId of a `<location>.<base64url id>` key (`None`: not a user key).
pub fn client_user_id(location: &str, key: &str) -> Option<String> {
    let id = key.strip_prefix(location)?.strip_prefix('.')?;
    if id.contains('.') {
        return None;
    }
    decode_id(id)
}

impl UserStore {
    /// Opens the buckets (created by `vppbridge nats setup`).
    ///
    /// # Errors
    /// When one is missing.
    pub async fn open(js: &jetstream::Context) -> anyhow::Result<Self> {
        let open = |bucket: &'static str| async move {
            js.get_key_value(bucket).await.map_err(|e| {
                anyhow::anyhow!(
                    "key-value bucket {bucket} is missing or unreadable ({e}); run `vppbridge nats setup`"
                )
            })
        };
        Ok(UserStore {
            desired: open(DESIRED_USERS_BUCKET).await?,
            records: open(USER_INTENTS_BUCKET).await?,
            assets: Store::open(js).await?,
            view: View::open(js).await?,
        })
    }

    /// Whether `vpp-desired-users` holds any key at all (of any location): one stream-info
    /// request, so an idle converger costs no listing per pass.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn any_desired(&self) -> anyhow::Result<bool> {
        // A fresh stream info: `kv::Store::status` answers the info cached when it was opened.
        let mut stream = self.desired.stream.clone();
        let info = stream
            .info()
            .await
            .map_err(|e| nats_err(DESIRED_USERS_BUCKET, "stream info", e))?;
        Ok(info.state.messages > 0)
    }

    /// The managed users of a location (bad keys or values are skipped with a warning: the MDM
    /// wrote them wrong).
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn desired(&self, location: &str) -> anyhow::Result<BTreeMap<String, DesiredUser>> {
        let mut out = BTreeMap::new();
        for (key, (value, revision)) in self.assets.scan(&self.desired, location).await? {
            let id = client_user_id(location, &key);
            match (id, serde_json::from_slice::<DesiredUserValue>(&value)) {
                (Some(client_user_id), Ok(value)) => {
                    out.insert(
                        key,
                        DesiredUser {
                            client_user_id,
                            value,
                            revision,
                        },
                    );
                }
                (None, _) => tracing::warn!(
                    location,
                    key,
                    "vpp-desired-users key is not <location>.<base64url clientUserId>: ignored"
                ),
                (_, Err(e)) => {
                    tracing::warn!(location, key, error = %e, "vpp-desired-users value is not {{\"desired\": \"active\"|\"retired\", ...}}: ignored")
                }
            }
        }
        Ok(out)
    }

    /// The tracking records of a location.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn records(
        &self,
        location: &str,
    ) -> anyhow::Result<BTreeMap<String, UserIntentRecord>> {
        Ok(self
            .assets
            .scan(&self.records, location)
            .await?
            .into_iter()
            .filter_map(|(k, (v, _))| serde_json::from_slice(&v).ok().map(|r| (k, r)))
            .collect())
    }

    /// Everything a pass decides on.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn snapshot(&self, location: &str) -> anyhow::Result<UserSnapshot> {
        let actual = self
            .view
            .live(Bucket::Users, location)
            .await?
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_slice::<UserRef>(&v).ok().map(|u| (k, u)))
            .collect();
        Ok(UserSnapshot {
            desired: self.desired(location).await?,
            records: self.records(location).await?,
            actual,
        })
    }

    /// Writes tracking records (one writer per location: the users converger).
    ///
    /// # Errors
    /// The first write NATS refused.
    pub async fn put_records(
        &self,
        records: Vec<(String, UserIntentRecord)>,
    ) -> anyhow::Result<()> {
        futures::stream::iter(records.into_iter().map(|(key, r)| {
            let store = self.records.clone();
            async move {
                let bytes = serde_json::to_vec(&r).unwrap_or_default();
                store
                    .put(&key, bytes.into())
                    .await
                    .map_err(|e| nats_err(USER_INTENTS_BUCKET, &format!("write of {key}"), e))
            }
        }))
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(())
    }

    /// Writes desired values for users of `location`, skipping keys that already hold the same
    /// value (applying the same file again changes nothing). Returns the keys written.
    ///
    /// # Errors
    /// When an id cannot be a key, or a write fails.
    pub async fn write_desired(
        &self,
        location: &str,
        entries: &[(String, DesiredUserValue)],
    ) -> anyhow::Result<Vec<String>> {
        let existing = self.desired(location).await?;
        let mut todo = Vec::new();
        for (id, value) in entries {
            let key = user_key(location, id)?;
            if existing.get(&key).is_some_and(|e| e.value == *value) {
                continue;
            }
            todo.push((key, value.clone()));
        }
        futures::stream::iter(todo.iter().map(|(key, value)| {
            let store = self.desired.clone();
            async move {
                let bytes = serde_json::to_vec(value).unwrap_or_default();
                store
                    .put(key, bytes.into())
                    .await
                    .map_err(|e| nats_err(DESIRED_USERS_BUCKET, &format!("write of {key}"), e))
            }
        }))
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(todo.into_iter().map(|(k, _)| k).collect())
    }

    /// A watch on a location's desired users (changes only), to wake the converger.
    ///
    /// # Errors
    /// When NATS fails.
    pub async fn watch_desired(&self, location: &str) -> anyhow::Result<kv::Watch> {
        self.desired
            .watch(format!("{location}.>"))
            .await
            .map_err(|e| nats_err(DESIRED_USERS_BUCKET, "watch", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_key_gives_back_its_id_and_other_keys_none() {
        let key = user_key("school", "user.with>dots").unwrap();
        assert_eq!(
            client_user_id("school", &key).as_deref(),
            Some("user.with>dots")
        );
        assert_eq!(client_user_id("other", &key), None);
        assert_eq!(client_user_id("school", "school.1.STDQ.u.QQ"), None);
    }
}

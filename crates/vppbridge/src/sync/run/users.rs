//! The users traversal: every user (active only by default) or those changed since a version,
//! then written to the view.

use std::collections::BTreeMap;

use apple_vpp::paginate::Event;
use apple_vpp::types::{GetUsersResponse, UsersQuery};

use super::Run;
use crate::events::notification::UserRef;
use crate::reconcile::user_value;
use crate::sync::error::SyncError;
use crate::view::Bucket;
use crate::view::keys::user_key;

impl Run<'_> {
    /// Reads users (all, or since `since`); returns the first page's version.
    pub(in crate::sync) async fn users(
        &mut self,
        since: Option<String>,
    ) -> Result<Option<String>, SyncError> {
        let client = self.loc.client();
        let location = self.loc.id.clone();
        let incremental = since.is_some();
        let active_only = self.loc.users_active_only;
        let mut truth: BTreeMap<String, Option<UserRef>> = BTreeMap::new();
        let mut version = None;
        let fetch = |page_index| {
            let (client, since) = (&client, since.clone());
            async move {
                client
                    .users_page(&UsersQuery {
                        page_index,
                        active_only: (active_only && !incremental).then_some(true),
                        since_version_id: since,
                        ..Default::default()
                    })
                    .await
            }
        };
        self.traverse("users", fetch, |event: Event<GetUsersResponse>| {
            let r = match event {
                Event::Page(r) => r,
                // What was listed belongs to a version that is gone.
                Event::Restart { .. } => {
                    truth.clear();
                    version = None;
                    return Ok(());
                }
            };
            if version.is_none() {
                version = r.page.version_id.clone();
            }
            for u in &r.users {
                let u = UserRef {
                    client_user_id: u.client_user_id.clone(),
                    email: u.email.clone(),
                    id_hash: u.id_hash.clone(),
                    invite_code: u.invite_code.clone(),
                    status: u.status.clone(),
                };
                let key = user_key(&location, &u.client_user_id)?;
                let v = user_value(&u, active_only);
                // Apple may list a retired entry beside the active one: the active one wins.
                if v.is_some() || !truth.contains_key(&key) {
                    truth.insert(key, v);
                }
            }
            Ok(())
        })
        .await?;
        if incremental {
            self.apply(Bucket::Users, truth.into_iter().collect())
                .await?;
        } else {
            let truth = truth
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            self.replace(Bucket::Users, truth).await?;
        }
        Ok(version)
    }
}

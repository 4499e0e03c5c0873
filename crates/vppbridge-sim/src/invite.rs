//! The invitation link Service Config's `urls.invitationEmail` points at (`/_sim/invite?
//! inviteCode=...`): opening it is the user accepting the invitation, as at Apple's page.
//!
//! Apple documents the template and its `%25inviteCode%25` placeholder (apple-api.md §3, §8.3),
//! not the page behind it: the simulator answers plain text. Off Apple's paths (no
//! authentication, no rate limit, no faults, not in the request log).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::server::{Shared, lock};

/// Query of the link.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InviteQuery {
    #[serde(default)]
    invite_code: String,
}

/// `GET /_sim/invite?inviteCode=<code>`: the Registered user holding `code` becomes
/// Associated (USER_ASSOCIATED is sent); an unknown or already used code → 404.
pub(crate) async fn invite(
    State(sim): State<Arc<Shared>>,
    Query(q): Query<InviteQuery>,
) -> (StatusCode, String) {
    let holder = {
        let world = lock(&sim.world);
        world.locations.values().find_map(|loc| {
            loc.users
                .values()
                .find(|r| {
                    r.user.status == "Registered"
                        && !q.invite_code.is_empty()
                        && r.user.invite_code.as_deref() == Some(q.invite_code.as_str())
                })
                .map(|r| (loc.u_id.clone(), r.user.client_user_id.clone()))
        })
    };
    let Some((u_id, client_user_id)) = holder else {
        return (
            StatusCode::NOT_FOUND,
            "no open invitation has this inviteCode; it may have been accepted already".into(),
        );
    };
    match super::admin::accept(&sim, &u_id, &client_user_id) {
        Ok(_) => (
            StatusCode::OK,
            format!("Invitation accepted: {client_user_id} is now associated."),
        ),
        Err(refused) => refused,
    }
}

//! The admin API under `/_sim/`: the truth per location, fault switches, the actions Apple's
//! users take outside the MDM (purchases, refunds, transfers, accepted invitations, token
//! revocation, another MDM, assignment changes in the portal), and the request and delivery logs.
//!
//! Off Apple's paths: no authentication, no rate limit, no faults, not in the request log.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::faults::Faults;
use super::modes::TokenMode;
use super::notify::{self, Outgoing};
use super::seed;
use super::server::{Shared, lock};
use super::state::{Location, Target};
use apple_vpp_types::{
    AdamId, Asset, AssetCountNotification, Assignment, MdmInfo, ResponseAsset, ResponseUser,
    UserAssociatedNotification, default_pricing_param, notification_type,
};

type Sim = State<Arc<Shared>>;

/// An admin call that could not be done: HTTP status and a message naming the problem.
struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn no_location(u_id: &str) -> AdminError {
    AdminError(
        StatusCode::NOT_FOUND,
        format!("no location with uId {u_id}; GET /_sim/locations lists them"),
    )
}

/// The admin router.
pub(crate) fn router(sim: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sim/locations", get(locations))
        .route("/_sim/locations/{u_id}/state", get(state))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/locations/{u_id}/purchase", post(purchase))
        .route("/_sim/locations/{u_id}/refund", post(refund))
        .route("/_sim/locations/{u_id}/transfer", post(transfer))
        .route(
            "/_sim/locations/{u_id}/invitations/accept",
            post(accept_invitation),
        )
        .route("/_sim/locations/{u_id}/revoke-token", post(revoke_token))
        .route("/_sim/locations/{u_id}/expire-token", post(expire_token))
        .route("/_sim/locations/{u_id}/renew-token", post(renew_token))
        .route("/_sim/locations/{u_id}/mdm-info", post(set_mdm_info))
        .route("/_sim/locations/{u_id}/token-mode", post(set_token_mode))
        .route(
            "/_sim/locations/{u_id}/assignments/remove",
            post(remove_assignment),
        )
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/notifications", get(notifications))
        .route("/_sim/lookup", get(super::lookup::lookup))
        .route("/_sim/invite", get(super::invite::invite))
        .with_state(sim)
}

async fn locations(State(sim): Sim) -> Json<serde_json::Value> {
    let world = lock(&sim.world);
    let list: Vec<_> = world
        .locations
        .values()
        .map(|l| json!({"uId": l.u_id, "locationName": l.name, "token": l.token_text}))
        .collect();
    Json(json!(list))
}

/// The whole truth of one location.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateView {
    u_id: String,
    location_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mdm_info: Option<MdmInfo>,
    assets: Vec<ResponseAsset>,
    assignments: Vec<Assignment>,
    users: Vec<ResponseUser>,
    /// Get Assignments' `versionId`.
    version_id: String,
    /// Get Assets' `versionId`.
    assets_version_id: String,
    /// Get Users' `versionId`.
    users_version_id: String,
}

async fn state(State(sim): Sim, Path(u_id): Path<String>) -> Result<Json<StateView>, AdminError> {
    let world = lock(&sim.world);
    let loc = world
        .locations
        .get(&u_id)
        .ok_or_else(|| no_location(&u_id))?;
    Ok(Json(StateView {
        u_id: loc.u_id.clone(),
        location_name: loc.name.clone(),
        mdm_info: loc.mdm_info.clone(),
        assets: loc.assets.iter().map(|(a, s)| s.response(a)).collect(),
        assignments: loc.all_assignments(),
        users: loc
            .all_users()
            .into_iter()
            .map(|r| r.user.clone())
            .collect(),
        version_id: loc.versions.current_id(),
        assets_version_id: loc.asset_versions.current_id(),
        users_version_id: loc.user_versions.current_id(),
    }))
}

async fn get_faults(State(sim): Sim) -> Json<Faults> {
    Json(sim.faults())
}

async fn put_faults(State(sim): Sim, Json(faults): Json<Faults>) -> Json<Faults> {
    *sim.faults
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = faults.clone();
    Json(faults)
}

/// Body of purchase, refund and transfer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountChange {
    adam_id: AdamId,
    #[serde(default = "default_pricing_param")]
    pricing_param: String,
    count: i64,
}

/// Applies `delta` to an asset's total and sends ASSET_COUNT.
fn change_count(
    sim: &Arc<Shared>,
    u_id: &str,
    body: CountChange,
    delta: i64,
) -> Result<Json<ResponseAsset>, AdminError> {
    let mut world = lock(&sim.world);
    let loc = world
        .locations
        .get_mut(u_id)
        .ok_or_else(|| no_location(u_id))?;
    let state = loc.asset_or_new(body.adam_id.as_str(), &body.pricing_param);
    if state.available() + delta < 0 {
        return Err(AdminError(
            StatusCode::CONFLICT,
            format!(
                "asset {} has {} licenses available; cannot take away {}",
                body.adam_id,
                state.available(),
                -delta
            ),
        ));
    }
    state.total += delta;
    let asset = Asset {
        adam_id: body.adam_id.clone(),
        pricing_param: body.pricing_param.clone(),
    };
    let response = state.response(&asset);
    loc.begin();
    loc.asset_versions.mark();
    let out = Outgoing {
        notification_type: notification_type::ASSET_COUNT,
        payload: serde_json::to_value(AssetCountNotification {
            adam_id: body.adam_id,
            count_delta: delta,
            pricing_param: body.pricing_param,
        })
        .unwrap_or_default(),
    };
    notify::dispatch_one(sim, loc, out);
    Ok(Json(response))
}

async fn purchase(
    State(sim): Sim,
    Path(u_id): Path<String>,
    Json(b): Json<CountChange>,
) -> Result<Json<ResponseAsset>, AdminError> {
    let delta = b.count.abs();
    change_count(&sim, &u_id, b, delta)
}

async fn refund(
    State(sim): Sim,
    Path(u_id): Path<String>,
    Json(b): Json<CountChange>,
) -> Result<Json<ResponseAsset>, AdminError> {
    let delta = -b.count.abs();
    change_count(&sim, &u_id, b, delta)
}

async fn transfer(
    State(sim): Sim,
    Path(u_id): Path<String>,
    Json(b): Json<CountChange>,
) -> Result<Json<ResponseAsset>, AdminError> {
    let delta = b.count;
    change_count(&sim, &u_id, b, delta)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invitation {
    client_user_id: String,
}

async fn accept_invitation(
    State(sim): Sim,
    Path(u_id): Path<String>,
    Json(b): Json<Invitation>,
) -> Result<Json<ResponseUser>, AdminError> {
    accept(&sim, &u_id, &b.client_user_id)
        .map(Json)
        .map_err(|(status, message)| AdminError(status, message))
}

/// The user `client_user_id` of location `u_id` accepts its invitation: Associated, with an
/// `idHash`, and USER_ASSOCIATED sent. Also behind the `invitationEmail` link (`invite`).
pub(crate) fn accept(
    sim: &Arc<Shared>,
    u_id: &str,
    client_user_id: &str,
) -> Result<ResponseUser, (StatusCode, String)> {
    let mut world = lock(&sim.world);
    let loc = world.locations.get_mut(u_id).ok_or_else(|| {
        let AdminError(status, message) = no_location(u_id);
        (status, message)
    })?;
    loc.begin();
    let version = loc.user_versions.current() + 1;
    let rec = loc.users.get_mut(client_user_id).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("no active user {client_user_id}"),
        )
    })?;
    if rec.user.status != "Registered" {
        return Err((
            StatusCode::CONFLICT,
            format!(
                "user {client_user_id} is {}, not Registered",
                rec.user.status
            ),
        ));
    }
    rec.user.status = "Associated".into();
    rec.user.id_hash = Some(seed::id_hash());
    rec.changed = version;
    let user = rec.user.clone();
    loc.user_versions.mark();
    let out = Outgoing {
        notification_type: notification_type::USER_ASSOCIATED,
        payload: serde_json::to_value(UserAssociatedNotification {
            associated_users: vec![user.clone()],
        })
        .unwrap_or_default(),
    };
    notify::dispatch_one(sim, loc, out);
    Ok(user)
}

fn with_location(
    sim: &Shared,
    u_id: &str,
    f: impl FnOnce(&mut Location),
) -> Result<StatusCode, AdminError> {
    let mut world = lock(&sim.world);
    let loc = world
        .locations
        .get_mut(u_id)
        .ok_or_else(|| no_location(u_id))?;
    f(loc);
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_token(State(sim): Sim, Path(u_id): Path<String>) -> Result<StatusCode, AdminError> {
    with_location(&sim, &u_id, |l| l.revoked = true)
}

async fn expire_token(State(sim): Sim, Path(u_id): Path<String>) -> Result<StatusCode, AdminError> {
    with_location(&sim, &u_id, |l| {
        l.token_expires = chrono::Utc::now() - chrono::Duration::seconds(1);
    })
}

/// Makes the location's token valid again (not revoked, expiring one token lifetime from now),
/// as if a new token had been downloaded; the token text stays the same.
async fn renew_token(State(sim): Sim, Path(u_id): Path<String>) -> Result<StatusCode, AdminError> {
    let lifetime = sim.config.token_lifetime;
    with_location(&sim, &u_id, |l| {
        l.revoked = false;
        l.token_expires = chrono::Utc::now() + lifetime;
    })
}

async fn set_mdm_info(
    State(sim): Sim,
    Path(u_id): Path<String>,
    Json(info): Json<MdmInfo>,
) -> Result<StatusCode, AdminError> {
    with_location(&sim, &u_id, |l| l.mdm_info = Some(info))
}

/// The body of `POST /_sim/locations/{uId}/token-mode`.
#[derive(Deserialize)]
struct SetTokenMode {
    mode: TokenMode,
}

/// Gives the location's token other privileges (`full`, `read-only`, `no-purchase`), as if a
/// content manager with those had downloaded it; the token text stays the same.
async fn set_token_mode(
    State(sim): Sim,
    Path(u_id): Path<String>,
    Json(b): Json<SetTokenMode>,
) -> Result<StatusCode, AdminError> {
    with_location(&sim, &u_id, |l| l.token_mode = b.mode)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveAssignment {
    adam_id: AdamId,
    #[serde(default = "default_pricing_param")]
    pricing_param: String,
    serial_number: Option<String>,
    client_user_id: Option<String>,
}

async fn remove_assignment(
    State(sim): Sim,
    Path(u_id): Path<String>,
    Json(b): Json<RemoveAssignment>,
) -> Result<StatusCode, AdminError> {
    let target = match (b.serial_number, b.client_user_id) {
        (Some(s), None) => Target::Serial(s),
        (None, Some(u)) => Target::User(u),
        _ => {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                "give exactly one of serialNumber and clientUserId".into(),
            ));
        }
    };
    let asset = Asset {
        adam_id: b.adam_id,
        pricing_param: b.pricing_param,
    };
    let mut world = lock(&sim.world);
    let loc = world
        .locations
        .get_mut(&u_id)
        .ok_or_else(|| no_location(&u_id))?;
    if !loc.is_assigned(&asset, &target) {
        return Err(AdminError(
            StatusCode::NOT_FOUND,
            format!("asset {} is not assigned to {target:?}", asset.adam_id),
        ));
    }
    loc.begin();
    loc.unassign(&asset, &target);
    Ok(StatusCode::NO_CONTENT)
}

async fn requests(State(sim): Sim) -> Json<serde_json::Value> {
    Json(json!(lock(&sim.requests).iter().collect::<Vec<_>>()))
}

async fn clear_requests(State(sim): Sim) -> StatusCode {
    lock(&sim.requests).clear();
    StatusCode::NO_CONTENT
}

async fn notifications(State(sim): Sim) -> Json<serde_json::Value> {
    Json(json!(*lock(&sim.deliveries)))
}

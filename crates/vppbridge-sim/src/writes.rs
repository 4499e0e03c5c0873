//! The asynchronous asset writes (users are in `users`) and the event machinery both share:
//! synchronous validation, the `eventId`, completion after `event_delay` (licenses enforced,
//! state changed, one new version), Event Status, and the notifications each completion
//! produces.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::errors::{ApiError, error_body};
use super::notify::{self, Outgoing};
use super::routes::{Authed, Sim, limit};
use super::server::{EventRec, Shared, common, lock};
use super::state::{Location, Target};
use apple_vpp_types::{
    Asset, AssetManagementNotification, EventResponse, EventStatus, EventType, ManageAssetsRequest,
    NotificationResult, ResponseErrorInfo, RevokeAssetsRequest, StatusResponse, notification_type,
};

/// Elements per notification (Apple's documented maximum).
pub(crate) const PER_NOTIFICATION: usize = 100;

/// Parses a JSON body: 9727 for another content type, 9602 when it does not parse. A member
/// whose value is `null` counts as missing (Go clients send `null` for empty slices), at any
/// depth: `"serialNumbers": null` is answered like no `serialNumbers`.
pub(crate) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(9727));
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|_| ApiError::new(9602))?;
    // Every documented body is an object; serde would also fill a struct from an array.
    if !value.is_object() {
        return Err(ApiError::new(9602));
    }
    drop_nulls(&mut value);
    serde_json::from_value(value).map_err(|_| ApiError::new(9602))
}

/// Removes every object member whose value is `null`, at any depth.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Whether any item appears twice.
pub(crate) fn has_duplicates<T: Eq + Hash>(items: &[T]) -> bool {
    let mut seen = HashSet::with_capacity(items.len());
    !items.iter().all(|i| seen.insert(i))
}

/// A JSON value of a notification payload.
pub(crate) fn payload(value: &impl Serialize) -> Value {
    // Plain structs with string keys always serialise; Null would only hide a programming error.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Registers a PENDING event and completes it in the background with `work`.
pub(crate) fn start_event(
    sim: &Arc<Shared>,
    u_id: &str,
    kind: EventType,
    num_requested: i64,
    work: impl FnOnce(&mut Location, &str) -> Completion + Send + 'static,
) -> Result<Json<EventResponse>, ApiError> {
    let event_id = uuid::Uuid::new_v4().to_string();
    let common = {
        let mut world = lock(&sim.world);
        let loc = world
            .locations
            .get(u_id)
            .ok_or_else(|| ApiError::new(9601))?;
        let common = common(loc);
        world.events.insert(
            event_id.clone(),
            EventRec {
                u_id: u_id.to_owned(),
                kind,
                status: EventStatus::Pending,
                num_requested,
                num_completed: 0,
                failures: Vec::new(),
            },
        );
        common
    };
    let (task_sim, id, uid) = (sim.clone(), event_id.clone(), u_id.to_owned());
    sim.spawn(async move {
        tokio::time::sleep(task_sim.config.event_delay).await;
        complete(&task_sim, &uid, &id, work);
    });
    Ok(Json(EventResponse { event_id, common }))
}

/// What a completed event did.
pub(crate) struct Completion {
    pub num_completed: i64,
    pub failures: Vec<apple_vpp_types::ErrorResponse>,
    pub notifications: Vec<Outgoing>,
}

fn complete(
    sim: &Arc<Shared>,
    u_id: &str,
    event_id: &str,
    work: impl FnOnce(&mut Location, &str) -> Completion,
) {
    let (done, destination) = {
        let mut world = lock(&sim.world);
        let Some(loc) = world.locations.get_mut(u_id) else {
            return;
        };
        loc.begin();
        let done = work(loc, event_id);
        let destination = notify::destination(loc);
        if let Some(ev) = world.events.get_mut(event_id) {
            ev.num_completed = done.num_completed;
            ev.status = if done.failures.is_empty() {
                EventStatus::Complete
            } else {
                EventStatus::Failed
            };
            ev.failures = done.failures.clone();
        }
        (done, destination)
    };
    if let Some(dest) = destination {
        notify::dispatch(sim, dest, done.notifications);
    }
}

/// Validates a Manage Assets body against Apple's synchronous rules.
fn validate_manage(loc: &Location, req: &ManageAssetsRequest) -> Result<(), ApiError> {
    if req.assets.is_empty() {
        return Err(ApiError::new(9718));
    }
    if req.client_user_ids.is_empty() && req.serial_numbers.is_empty() {
        return Err(ApiError::new(9719));
    }
    let checks = [
        (has_invalid(req), 9602),
        (req.assets.len() > limit("maxAssets"), 9700),
        (req.client_user_ids.len() > limit("maxClientUserIds"), 9701),
        (req.serial_numbers.len() > limit("maxSerialNumbers"), 9702),
        (has_duplicates(&req.assets), 9703),
        (has_duplicates(&req.client_user_ids), 9704),
        (has_duplicates(&req.serial_numbers), 9705),
    ];
    if let Some((_, n)) = checks.iter().find(|(bad, _)| *bad) {
        return Err(ApiError::new(*n));
    }
    let not_device_assignable = req
        .assets
        .iter()
        .any(|a| loc.assets.get(a).is_some_and(|s| !s.device_assignable));
    if !req.serial_numbers.is_empty() && not_device_assignable {
        return Err(ApiError::new(9707));
    }
    Ok(())
}

/// An empty id, or a `pricingParam` other than Apple's `STDQ` / `PLUS` (§6.1, §8.1).
fn has_invalid(req: &ManageAssetsRequest) -> bool {
    req.assets.iter().any(|a| {
        a.adam_id.as_str().is_empty() || !["STDQ", "PLUS"].contains(&a.pricing_param.as_str())
    }) || has_empty_id(&req.client_user_ids, &req.serial_numbers)
}

/// Whether a target id is the empty string.
fn has_empty_id(client_user_ids: &[String], serial_numbers: &[String]) -> bool {
    client_user_ids
        .iter()
        .chain(serial_numbers)
        .any(String::is_empty)
}

fn targets(req: &ManageAssetsRequest) -> Vec<Target> {
    let serials = req.serial_numbers.iter().map(|s| Target::Serial(s.clone()));
    serials
        .chain(req.client_user_ids.iter().map(|u| Target::User(u.clone())))
        .collect()
}

/// The ASSET_MANAGEMENT notifications and status failures of one asset.
fn asset_outcome(
    asset: &Asset,
    kind: EventType,
    event_id: &str,
    ok: &[Target],
    failed: BTreeMap<i32, Vec<Target>>,
    done: &mut Completion,
) {
    done.num_completed += ok.len() as i64;
    let note = |chunk: &[Target], result, error| Outgoing {
        notification_type: notification_type::ASSET_MANAGEMENT,
        payload: payload(&AssetManagementNotification {
            assignments: chunk.iter().map(|t| t.assignment(asset)).collect(),
            error,
            event_id: event_id.to_owned(),
            result,
            kind,
        }),
    };
    for chunk in ok.chunks(PER_NOTIFICATION) {
        done.notifications
            .push(note(chunk, NotificationResult::Success, None));
    }
    for (number, targets) in failed {
        for chunk in targets.chunks(PER_NOTIFICATION) {
            let error = Some(error_body(number, None));
            done.notifications
                .push(note(chunk, NotificationResult::Failure, error));
        }
        let mut info = ResponseErrorInfo {
            assets: vec![asset.clone()],
            ..ResponseErrorInfo::default()
        };
        for t in targets {
            match t {
                Target::Serial(s) => info.serial_numbers.push(s),
                Target::User(u) => info.client_user_ids.push(u),
            }
        }
        done.failures.push(error_body(number, Some(info)));
    }
}

/// A completion that did nothing yet.
pub(crate) fn empty_completion() -> Completion {
    Completion {
        num_completed: 0,
        failures: Vec::new(),
        notifications: Vec::new(),
    }
}

async fn manage_assets(
    sim: Arc<Shared>,
    auth: &Authed,
    headers: &HeaderMap,
    body: &Bytes,
    kind: EventType,
) -> Result<Json<EventResponse>, ApiError> {
    let req: ManageAssetsRequest = json_body(headers, body)?;
    {
        let world = lock(&sim.world);
        let loc = world
            .locations
            .get(&auth.u_id)
            .ok_or_else(|| ApiError::new(9601))?;
        validate_manage(loc, &req)?;
    }
    let targets = targets(&req);
    let requested = (req.assets.len() * targets.len()) as i64;
    start_event(&sim, &auth.u_id, kind, requested, move |loc, event_id| {
        let mut done = empty_completion();
        for asset in &req.assets {
            let mut ok = Vec::new();
            let mut failed: BTreeMap<i32, Vec<Target>> = BTreeMap::new();
            for t in &targets {
                let result = match (kind, t) {
                    (EventType::Associate, Target::User(u)) if !loc.users.contains_key(u) => {
                        Err(9609)
                    }
                    (EventType::Associate, _) => loc.assign(asset, t).map(|_| ()),
                    _ => {
                        loc.unassign(asset, t);
                        Ok(())
                    }
                };
                match result {
                    Ok(()) => ok.push(t.clone()),
                    Err(n) => failed.entry(n).or_default().push(t.clone()),
                }
            }
            asset_outcome(asset, kind, event_id, &ok, failed, &mut done);
        }
        done
    })
}

/// `POST assets/associate`.
pub(crate) async fn associate(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventResponse>, ApiError> {
    manage_assets(sim, &auth, &headers, &body, EventType::Associate).await
}

/// `POST assets/disassociate`.
pub(crate) async fn disassociate(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventResponse>, ApiError> {
    manage_assets(sim, &auth, &headers, &body, EventType::Disassociate).await
}

/// `POST assets/revoke`.
pub(crate) async fn revoke(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventResponse>, ApiError> {
    let req: RevokeAssetsRequest = json_body(&headers, &body)?;
    let checks = [
        (
            req.client_user_ids.is_empty() && req.serial_numbers.is_empty(),
            9719,
        ),
        (
            has_empty_id(&req.client_user_ids, &req.serial_numbers),
            9602,
        ),
        (
            req.client_user_ids.len() > limit("maxRevokeClientUserIds"),
            9701,
        ),
        (
            req.serial_numbers.len() > limit("maxRevokeSerialNumbers"),
            9702,
        ),
        (has_duplicates(&req.client_user_ids), 9704),
        (has_duplicates(&req.serial_numbers), 9705),
    ];
    if let Some((_, n)) = checks.iter().find(|(bad, _)| *bad) {
        return Err(ApiError::new(*n));
    }
    let targets: Vec<Target> = req
        .serial_numbers
        .iter()
        .map(|s| Target::Serial(s.clone()))
        .chain(req.client_user_ids.iter().map(|u| Target::User(u.clone())))
        .collect();
    let requested = targets.len() as i64;
    start_event(
        &sim,
        &auth.u_id,
        EventType::Revoke,
        requested,
        move |loc, event_id| {
            let mut by_asset: BTreeMap<Asset, Vec<Target>> = BTreeMap::new();
            for t in &targets {
                for asset in loc.assets_of(t) {
                    if loc.assets.get(&asset).is_some_and(|s| s.revocable)
                        && loc.unassign(&asset, t)
                    {
                        by_asset.entry(asset).or_default().push(t.clone());
                    }
                }
            }
            let mut done = empty_completion();
            for (asset, revoked) in by_asset {
                asset_outcome(
                    &asset,
                    EventType::Revoke,
                    event_id,
                    &revoked,
                    BTreeMap::new(),
                    &mut done,
                );
            }
            done.num_completed = requested;
            done
        },
    )
}

/// Query of `GET status`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusQuery {
    #[serde(default)]
    event_id: Option<String>,
}

/// `GET status?eventId=`.
pub(crate) async fn status(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    q: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let event_id = q.ok().and_then(|Query(q)| q.event_id).unwrap_or_default();
    let world = lock(&sim.world);
    let ev = world
        .events
        .get(&event_id)
        .filter(|e| e.u_id == auth.u_id)
        .ok_or_else(|| ApiError::new(9708))?;
    let loc = world
        .locations
        .get(&auth.u_id)
        .ok_or_else(|| ApiError::new(9601))?;
    Ok(Json(StatusResponse {
        event_status: ev.status,
        event_type: ev.kind,
        num_requested: ev.num_requested,
        num_completed: ev.num_completed,
        failures: ev.failures.clone(),
        common: common(loc),
    }))
}

//! The asynchronous writes: synchronous validation, the `eventId`, completion after
//! `event_delay` (licenses enforced, state changed, one new version), Event Status, and the
//! notifications each completion produces.

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
use super::seed;
use super::server::{EventRec, Shared, common, lock};
use super::state::{Location, Target, UserRec};
use crate::apple::types::{
    Asset, AssetManagementNotification, EventResponse, EventStatus, EventType, ManageAssetsRequest,
    ManageUsersRequest, NotificationResult, RequestUser, ResponseErrorInfo, ResponseUser,
    RevokeAssetsRequest, StatusResponse, UserManagementNotification, notification_type,
};

/// Elements per notification (Apple's documented maximum).
const PER_NOTIFICATION: usize = 100;

/// Parses a JSON body: 9727 for another content type, 9602 when it does not parse.
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
    serde_json::from_slice(body).map_err(|_| ApiError::new(9602))
}

fn has_duplicates<T: Eq + Hash>(items: &[T]) -> bool {
    let mut seen = HashSet::with_capacity(items.len());
    !items.iter().all(|i| seen.insert(i))
}

/// A JSON value of a notification payload.
fn payload(value: &impl Serialize) -> Value {
    // Plain structs with string keys always serialise; Null would only hide a programming error.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Registers a PENDING event and completes it in the background with `work`.
fn start_event(
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
    num_completed: i64,
    failures: Vec<crate::apple::types::ErrorResponse>,
    notifications: Vec<Outgoing>,
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
        loc.versions.bump();
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

fn empty_completion() -> Completion {
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

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|p| !p.is_empty())
        && !email.chars().any(char::is_whitespace)
}

fn validate_users(req: &ManageUsersRequest) -> Result<(), ApiError> {
    if req.users.is_empty() {
        return Err(ApiError::new(9720));
    }
    if req.users.len() > limit("maxUsers") {
        return Err(ApiError::new(9714));
    }
    let ids: Vec<&str> = req
        .users
        .iter()
        .map(|u| u.client_user_id.as_str())
        .collect();
    if has_duplicates(&ids) {
        return Err(ApiError::new(9715));
    }
    if ids.iter().any(|id| id.is_empty()) {
        return Err(ApiError::new(9602));
    }
    if req
        .users
        .iter()
        .any(|u| u.email.as_deref().is_some_and(|e| !valid_email(e)))
    {
        return Err(ApiError::new(9717));
    }
    Ok(())
}

/// Applies one user change; `Err` is the asynchronous error number.
fn apply_user(loc: &mut Location, kind: EventType, req: &RequestUser) -> Result<ResponseUser, i32> {
    let version = loc.versions.current();
    let id = &req.client_user_id;
    match kind {
        EventType::Create => {
            if loc.users.contains_key(id) {
                return Err(9716);
            }
            let mut user = ResponseUser {
                client_user_id: id.clone(),
                email: req.email.clone(),
                id_hash: None,
                invite_code: Some(seed::invite_code()),
                status: "Registered".into(),
            };
            if req.managed_apple_id.is_some() {
                user.status = "Associated".into();
                user.invite_code = None;
                user.id_hash = Some(seed::id_hash());
            }
            loc.users.insert(
                id.clone(),
                UserRec {
                    user: user.clone(),
                    changed: version,
                },
            );
            Ok(user)
        }
        EventType::Update => {
            let rec = loc.users.get_mut(id).ok_or(9609)?;
            if req.email.is_some() {
                rec.user.email = req.email.clone();
            }
            if req.managed_apple_id.is_some() && rec.user.status != "Associated" {
                rec.user.status = "Associated".into();
                rec.user.invite_code = None;
                rec.user.id_hash = Some(seed::id_hash());
            }
            rec.changed = version;
            Ok(rec.user.clone())
        }
        _ => {
            let mut rec = loc.users.remove(id).ok_or(9609)?;
            rec.user.status = "Retired".into();
            rec.user.invite_code = None;
            rec.changed = version;
            loc.retired_users.push(rec.clone());
            Ok(rec.user)
        }
    }
}

async fn manage_users(
    sim: Arc<Shared>,
    auth: &Authed,
    headers: &HeaderMap,
    body: &Bytes,
    kind: EventType,
) -> Result<Json<EventResponse>, ApiError> {
    let req: ManageUsersRequest = json_body(headers, body)?;
    validate_users(&req)?;
    let requested = req.users.len() as i64;
    start_event(&sim, &auth.u_id, kind, requested, move |loc, event_id| {
        let mut done = empty_completion();
        let mut ok = Vec::new();
        let mut failed: BTreeMap<i32, Vec<ResponseUser>> = BTreeMap::new();
        for user in &req.users {
            match apply_user(loc, kind, user) {
                Ok(u) => ok.push(u),
                Err(n) => failed.entry(n).or_default().push(ResponseUser {
                    client_user_id: user.client_user_id.clone(),
                    email: user.email.clone(),
                    ..ResponseUser::default()
                }),
            }
        }
        done.num_completed = ok.len() as i64;
        let note = |users: &[ResponseUser], result, error| Outgoing {
            notification_type: notification_type::USER_MANAGEMENT,
            payload: payload(&UserManagementNotification {
                event_id: event_id.to_owned(),
                error,
                result,
                kind,
                users: users.to_vec(),
            }),
        };
        for chunk in ok.chunks(PER_NOTIFICATION) {
            done.notifications
                .push(note(chunk, NotificationResult::Success, None));
        }
        for (number, users) in failed {
            for chunk in users.chunks(PER_NOTIFICATION) {
                let error = Some(error_body(number, None));
                done.notifications
                    .push(note(chunk, NotificationResult::Failure, error));
            }
            let info = ResponseErrorInfo {
                client_user_ids: users.into_iter().map(|u| u.client_user_id).collect(),
                ..ResponseErrorInfo::default()
            };
            done.failures.push(error_body(number, Some(info)));
        }
        done
    })
}

/// `POST users/create`.
pub(crate) async fn create_users(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventResponse>, ApiError> {
    manage_users(sim, &auth, &headers, &body, EventType::Create).await
}

/// `POST users/update`.
pub(crate) async fn update_users(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventResponse>, ApiError> {
    manage_users(sim, &auth, &headers, &body, EventType::Update).await
}

/// `POST users/retire`.
pub(crate) async fn retire_users(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventResponse>, ApiError> {
    manage_users(sim, &auth, &headers, &body, EventType::Retire).await
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

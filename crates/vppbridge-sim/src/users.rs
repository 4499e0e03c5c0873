//! The user writes (create, update, retire): Apple's synchronous checks, the change applied at
//! completion, and the USER_MANAGEMENT notifications.
//!
//! Built on the event machinery of `writes`; must not touch assets or assignments.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use bytes::Bytes;

use super::errors::{ApiError, error_body};
use super::notify::Outgoing;
use super::routes::{Authed, Sim, limit};
use super::seed;
use super::server::Shared;
use super::state::{Location, UserRec};
use super::writes::{
    PER_NOTIFICATION, empty_completion, has_duplicates, json_body, payload, start_event,
};
use apple_vpp_types::{
    EventResponse, EventType, ManageUsersRequest, NotificationResult, RequestUser,
    ResponseErrorInfo, ResponseUser, UserManagementNotification, notification_type,
};

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

/// Applies one user change; `Err` is the asynchronous error number. Only a change moves the
/// users' version (an update that changes nothing does not).
fn apply_user(loc: &mut Location, kind: EventType, req: &RequestUser) -> Result<ResponseUser, i32> {
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
            let changed = loc.user_versions.mark();
            loc.users.insert(
                id.clone(),
                UserRec {
                    user: user.clone(),
                    changed,
                },
            );
            Ok(user)
        }
        EventType::Update => {
            let rec = loc.users.get_mut(id).ok_or(9609)?;
            let before = rec.user.clone();
            if req.email.is_some() {
                rec.user.email = req.email.clone();
            }
            if req.managed_apple_id.is_some() && rec.user.status != "Associated" {
                rec.user.status = "Associated".into();
                rec.user.invite_code = None;
                rec.user.id_hash = Some(seed::id_hash());
            }
            let user = rec.user.clone();
            if user != before {
                let changed = loc.user_versions.mark();
                if let Some(rec) = loc.users.get_mut(id) {
                    rec.changed = changed;
                }
            }
            Ok(user)
        }
        _ => {
            let mut rec = loc.users.remove(id).ok_or(9609)?;
            rec.user.status = "Retired".into();
            rec.user.invite_code = None;
            rec.changed = loc.user_versions.mark();
            loc.retired_users.push(rec.clone());
            Ok(rec.user)
        }
    }
}

/// Leaves `status` out of the users a failure names as requested: they may have no record to
/// take a status from, and `""` is not one of Apple's statuses (§6.3).
fn without_empty_status(payload: &mut serde_json::Value) {
    let users = payload
        .get_mut("users")
        .and_then(serde_json::Value::as_array_mut);
    for user in users.into_iter().flatten() {
        if let Some(user) = user.as_object_mut() {
            if user.get("status").is_some_and(|s| s == "") {
                user.remove("status");
            }
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
        let note = |users: &[ResponseUser], result, error| {
            let mut payload = payload(&UserManagementNotification {
                event_id: event_id.to_owned(),
                error,
                result,
                kind,
                users: users.to_vec(),
            });
            without_empty_status(&mut payload);
            Outgoing {
                notification_type: notification_type::USER_MANAGEMENT,
                payload,
            }
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

//! Get Assets, Get Assignments and Get Users: filters, server-side pages, `versionId` and
//! `sinceVersionId`.
//!
//! Read-only: never changes a location.

use std::ops::Range;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, RawQuery, State};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::errors::ApiError;
use super::routes::{Authed, Sim};
use super::server::{common, lock};
use super::state::{Location, Target};
use apple_vpp_types::{
    Asset, AssetsQuery, Assignment, AssignmentsQuery, GetAssetsResponse, GetAssignmentsResponse,
    GetUsersResponse, PageInfo, UsersQuery,
};

/// The query, or 9650 when `pageIndex` is not a page number and 9602 for anything else.
fn query<T: DeserializeOwned>(
    q: Result<Query<T>, QueryRejection>,
    raw: Option<&str>,
) -> Result<T, ApiError> {
    match q {
        Ok(Query(q)) => Ok(q),
        Err(_) => {
            let bad_page = raw.unwrap_or_default().split('&').any(|kv| {
                kv.strip_prefix("pageIndex=")
                    .is_some_and(|v| v.parse::<u32>().is_err())
            });
            Err(ApiError::new(if bad_page { 9650 } else { 9602 }))
        }
    }
}

/// The page `index` of `total` records: its fields and the record range, or 9650.
fn page(
    total: usize,
    size: usize,
    index: Option<u32>,
) -> Result<(PageInfo, Range<usize>), ApiError> {
    let size = size.max(1);
    let total_pages = total.div_ceil(size).max(1);
    let index = index.unwrap_or(0) as usize;
    if index >= total_pages {
        return Err(ApiError::new(9650));
    }
    let start = index * size;
    let end = total.min(start + size);
    let info = PageInfo {
        current_page_index: index as u32,
        next_page_index: (index + 1 < total_pages).then_some(index as u32 + 1),
        size: (end - start) as u32,
        total_pages: total_pages as u32,
        version_id: None,
    };
    Ok((info, start..end))
}

fn location<'a>(world: &'a super::server::World, auth: &Authed) -> Result<&'a Location, ApiError> {
    world
        .locations
        .get(&auth.u_id)
        .ok_or_else(|| ApiError::new(9601))
}

/// `GET assets`.
pub(crate) async fn assets(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    RawQuery(raw): RawQuery,
    q: Result<Query<AssetsQuery>, QueryRejection>,
) -> Result<Json<GetAssetsResponse>, ApiError> {
    let q = query(q, raw.as_deref())?;
    let world = lock(&sim.world);
    let loc = location(&world, &auth)?;
    let matching: Vec<_> = loc
        .assets
        .iter()
        .map(|(asset, state)| state.response(asset))
        .filter(|a| q.adam_id.as_ref().is_none_or(|x| a.adam_id.as_str() == x))
        .filter(|a| q.product_type.as_ref().is_none_or(|x| &a.product_type == x))
        .filter(|a| {
            q.pricing_param
                .as_ref()
                .is_none_or(|x| &a.pricing_param == x)
        })
        .filter(|a| q.revocable.is_none_or(|x| a.revocable == x))
        .filter(|a| q.device_assignable.is_none_or(|x| a.device_assignable == x))
        .filter(|a| q.min_available_count.is_none_or(|x| a.available_count >= x))
        .filter(|a| q.max_available_count.is_none_or(|x| a.available_count <= x))
        .filter(|a| q.min_assigned_count.is_none_or(|x| a.assigned_count >= x))
        .filter(|a| q.max_assigned_count.is_none_or(|x| a.assigned_count <= x))
        .collect();
    let (mut info, range) = page(matching.len(), sim.config.page_size, q.page_index)?;
    info.version_id = Some(loc.asset_versions.current_id());
    Ok(Json(GetAssetsResponse {
        assets: matching[range].to_vec(),
        page: info,
        common: common(loc),
    }))
}

/// Whether `a` passes the target and asset filters of `q`.
fn assignment_matches(q: &AssignmentsQuery, a: &Assignment) -> bool {
    q.adam_id.as_ref().is_none_or(|x| a.adam_id.as_str() == x)
        && q.pricing_param
            .as_ref()
            .is_none_or(|x| &a.pricing_param == x)
        && q.serial_number
            .as_ref()
            .is_none_or(|x| a.serial_number.as_ref() == Some(x))
        && q.client_user_id
            .as_ref()
            .is_none_or(|x| a.client_user_id.as_ref() == Some(x))
}

/// The user status of an assignment's user (`None` for devices).
fn user_status(loc: &Location, a: &Assignment) -> Option<(String, Option<String>)> {
    let id = a.client_user_id.as_ref()?;
    Some(match loc.users.get(id) {
        Some(rec) => (rec.user.status.clone(), rec.user.id_hash.clone()),
        None => ("Retired".to_owned(), None),
    })
}

/// A Get Assignments answer: Apple's documented response, plus the `removedAssignments`
/// extension (not Apple's; only with `--ext-removed-assignments`). The extension lives here,
/// not in `apple-vpp-types`, so the client cannot parse it and production cannot depend on it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignmentsAnswer {
    #[serde(flatten)]
    documented: GetAssignmentsResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    removed_assignments: Option<Vec<Assignment>>,
}

/// `GET assignments`.
pub(crate) async fn assignments(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    RawQuery(raw): RawQuery,
    q: Result<Query<AssignmentsQuery>, QueryRejection>,
) -> Result<Json<AssignmentsAnswer>, ApiError> {
    let q = query(q, raw.as_deref())?;
    let world = lock(&sim.world);
    let loc = location(&world, &auth)?;
    let exclude_inactive = q.exclude_inactive_users.unwrap_or(false);
    let active = |a: &Assignment| {
        !exclude_inactive
            || a.client_user_id
                .as_ref()
                .is_none_or(|u| loc.users.get(u).is_some_and(|r| r.user.status != "Retired"))
    };
    let extension = sim.config.ext_removed_assignments;
    // (assignment, removed) in one sorted list, so both kinds page together (removed ones only
    // with the `removedAssignments` extension on).
    let (rows, range, mut info): (Vec<(Assignment, bool)>, Range<usize>, PageInfo);
    if let Some(since) = &q.since_version_id {
        let version = loc
            .versions
            .resolve(since)
            .ok_or_else(|| ApiError::new(9721))?;
        let list: Vec<(Assignment, bool)> = loc
            .versions
            .touched_since(version)
            .into_iter()
            .filter(|a| assignment_matches(&q, a) && active(a))
            .map(|a| {
                let present = loc.is_assigned(&asset_of(&a), &target_of(&a));
                (a, !present)
            })
            .filter(|(_, gone)| extension || !gone)
            .collect();
        (info, range) = page(list.len(), sim.config.page_size, q.page_index)?;
        rows = list[range.clone()].to_vec();
    } else if q.serial_number.is_some() || q.client_user_id.is_some() || exclude_inactive {
        let list: Vec<Assignment> = targeted(loc, &q)
            .into_iter()
            .filter(|a| assignment_matches(&q, a) && active(a))
            .collect();
        (info, range) = page(list.len(), sim.config.page_size, q.page_index)?;
        rows = list[range.clone()]
            .iter()
            .map(|a| (a.clone(), false))
            .collect();
    } else {
        // Whole assets are skipped by their size, so any page of 100,000 is cheap.
        let selected: Vec<_> = loc
            .assets
            .iter()
            .filter(|(a, _)| q.adam_id.as_ref().is_none_or(|x| a.adam_id.as_str() == x))
            .filter(|(a, _)| {
                q.pricing_param
                    .as_ref()
                    .is_none_or(|x| &a.pricing_param == x)
            })
            .collect();
        let total = selected.iter().map(|(_, s)| s.assigned() as usize).sum();
        (info, range) = page(total, sim.config.page_size, q.page_index)?;
        let mut skip = range.start;
        let mut out = Vec::with_capacity(range.len());
        for (asset, state) in selected {
            let n = state.assigned() as usize;
            if skip >= n {
                skip -= n;
                continue;
            }
            let targets = state
                .serials
                .iter()
                .map(|s| Target::Serial(s.clone()))
                .chain(state.users.iter().map(|u| Target::User(u.clone())));
            for t in targets.skip(skip).take(range.len() - out.len()) {
                out.push((t.assignment(asset), false));
            }
            skip = 0;
            if out.len() == range.len() {
                break;
            }
        }
        rows = out;
    }
    let include_state = q.include_user_state.unwrap_or(false);
    let mut assignments = Vec::new();
    let mut removed = Vec::new();
    for (mut a, gone) in rows {
        if include_state {
            if let Some((status, hash)) = user_status(loc, &a) {
                a.user_status = Some(status);
                a.id_hash = hash;
            }
        }
        if gone {
            removed.push(a)
        } else {
            assignments.push(a)
        }
    }
    info.version_id = Some(loc.versions.current_id());
    Ok(Json(AssignmentsAnswer {
        documented: GetAssignmentsResponse {
            assignments,
            page: info,
            common: common(loc),
        },
        removed_assignments: (extension && q.since_version_id.is_some()).then_some(removed),
    }))
}

fn asset_of(a: &Assignment) -> Asset {
    Asset {
        adam_id: a.adam_id.clone(),
        pricing_param: a.pricing_param.clone(),
    }
}

fn target_of(a: &Assignment) -> Target {
    match (&a.serial_number, &a.client_user_id) {
        (Some(s), _) => Target::Serial(s.clone()),
        (None, u) => Target::User(u.clone().unwrap_or_default()),
    }
}

/// The assignments of the serial or user `q` names (or all of them), through the indexes.
fn targeted(loc: &Location, q: &AssignmentsQuery) -> Vec<Assignment> {
    let target = match (&q.serial_number, &q.client_user_id) {
        (Some(s), _) => Target::Serial(s.clone()),
        (None, Some(u)) => Target::User(u.clone()),
        (None, None) => return loc.all_assignments(),
    };
    loc.assets_of(&target)
        .iter()
        .map(|asset| target.assignment(asset))
        .collect()
}

/// `GET users`.
pub(crate) async fn users(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    RawQuery(raw): RawQuery,
    q: Result<Query<UsersQuery>, QueryRejection>,
) -> Result<Json<GetUsersResponse>, ApiError> {
    let q = query(q, raw.as_deref())?;
    let world = lock(&sim.world);
    let loc = location(&world, &auth)?;
    let since = match &q.since_version_id {
        Some(id) => Some(
            loc.user_versions
                .resolve(id)
                .ok_or_else(|| ApiError::new(9721))?,
        ),
        None => None,
    };
    let list: Vec<_> = loc
        .all_users()
        .into_iter()
        .filter(|r| since.is_none_or(|v| r.changed > v))
        .filter(|r| !q.active_only.unwrap_or(false) || r.user.status != "Retired")
        .filter(|r| !q.retired_only.unwrap_or(false) || r.user.status == "Retired")
        .filter(|r| {
            q.client_user_id
                .as_ref()
                .is_none_or(|x| &r.user.client_user_id == x)
        })
        .map(|r| r.user.clone())
        .collect();
    let (mut info, range) = page(list.len(), sim.config.page_size, q.page_index)?;
    info.version_id = Some(loc.user_versions.current_id());
    Ok(Json(GetUsersResponse {
        users: list[range].to_vec(),
        page: info,
        common: common(loc),
    }))
}

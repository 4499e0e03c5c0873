//! Apple's paths under `/mdm/v2/`: the router, the gate every call passes (authentication, rate
//! limit, faults, request log), Service Config and Client Config.
//!
//! Reads live in `reads`, writes and event completion in `writes`. Must not send notifications
//! except the synchronous `TEST_NOTIFICATION` (through `notify`).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;

use super::errors::{ApiError, ERROR_CODES, ErrorNumber, error_body};
use super::faults::{RateLimitMode, chance};
use super::modes::TokenMode;
use super::server::{RequestRecord, Shared, common, lock};
use super::{notify, reads, users, writes};
use apple_vpp_types::{
    ClientConfigRequest, ClientConfigResponse, ServiceConfigResponse, notification_type,
};

/// The simulator's shared state, as handlers receive it.
pub(crate) type Sim = State<Arc<Shared>>;

/// The authenticated caller of an Apple call.
#[derive(Debug, Clone)]
pub(crate) struct Authed {
    pub u_id: String,
}

/// Apple's documented limits (`maxRequestPerSecond` from the config).
fn limits(max_rps: u32) -> Vec<(&'static str, i64)> {
    vec![
        ("maxAssets", 25),
        ("maxClientUserIds", 1000),
        ("maxSerialNumbers", 1000),
        ("maxRevokeClientUserIds", 100),
        ("maxRevokeSerialNumbers", 100),
        ("maxUsers", 100),
        ("maxNotificationLength", 512),
        ("maxMdmIdLength", 100),
        ("maxMdmNameLength", 100),
        ("maxMdmMetadataLength", 255),
        ("maxRequestPerSecond", i64::from(max_rps)),
    ]
}

/// The limit `key` (Apple's example values).
pub(crate) fn limit(key: &str) -> usize {
    limits(0)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map_or(0, |(_, v)| v as usize)
}

/// The router of Apple's paths.
pub(crate) fn router(sim: Arc<Shared>) -> Router {
    Router::new()
        .route("/mdm/v2/service/config", get(service_config))
        .route(
            "/mdm/v2/client/config",
            get(get_client_config).post(post_client_config),
        )
        .route("/mdm/v2/assets", get(reads::assets))
        .route("/mdm/v2/assignments", get(reads::assignments))
        .route("/mdm/v2/users", get(reads::users))
        .route("/mdm/v2/assets/associate", post(writes::associate))
        .route("/mdm/v2/assets/disassociate", post(writes::disassociate))
        .route("/mdm/v2/assets/revoke", post(writes::revoke))
        .route("/mdm/v2/users/create", post(users::create_users))
        .route("/mdm/v2/users/update", post(users::update_users))
        .route("/mdm/v2/users/retire", post(users::retire_users))
        .route("/mdm/v2/status", get(writes::status))
        .method_not_allowed_fallback(|| async { ApiError::new(9726) })
        .fallback(|| async { ApiError::with_status(9602, StatusCode::NOT_FOUND) })
        .layer(middleware::from_fn_with_state(sim.clone(), gate))
        .with_state(sim)
}

/// Authenticates, rate-limits and injects faults, then logs the outcome.
async fn gate(State(sim): Sim, mut req: Request, next: Next) -> Response {
    let at_ms = sim.elapsed_ms();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let mut u_id = None;
    let response = match admit(&sim, &mut req, &path, &mut u_id).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let is_write = method == "POST";
    sim.log_request(RequestRecord {
        at_ms,
        method,
        path,
        query,
        status: response.status().as_u16(),
        error_number: response.extensions().get::<ErrorNumber>().map(|e| e.0),
        u_id,
    });
    // Logged first: a client that gives up while the answer is held back still sees, in the
    // log, that its write was carried out.
    let hold = sim.faults().write_answer_delay_ms;
    if is_write && hold > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(hold)).await;
    }
    response
}

async fn admit(
    sim: &Shared,
    req: &mut Request,
    path: &str,
    u_id: &mut Option<String>,
) -> Result<(), ApiError> {
    let faults = sim.faults();
    if path != "/mdm/v2/service/config" {
        let (id, token, mode) = authenticate(sim, req.headers())?;
        *u_id = Some(id.clone());
        let max = sim.config.max_requests_per_second;
        if faults.rate_limit_mode != RateLimitMode::Off
            && !lock(&sim.limiter).admit(&token, max, Instant::now())
        {
            return Err(match faults.rate_limit_mode {
                RateLimitMode::Http200 => ApiError::with_status(9646, StatusCode::OK),
                _ => ApiError::new(9646),
            });
        }
        if !mode.allows(req.method(), path) {
            return Err(ApiError::new(9637));
        }
        req.extensions_mut().insert(Authed { u_id: id });
    }
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    if chance(faults.error503_rate) {
        return Err(ApiError::new(9729).retry_after(faults.retry_after_secs));
    }
    if chance(faults.error500_rate) {
        return Err(ApiError::new(9603).retry_after(faults.retry_after_secs));
    }
    Ok(())
}

/// Checks `Authorization: Bearer <token>`; returns the location's uId, the token and what it
/// may do.
fn authenticate(
    sim: &Shared,
    headers: &HeaderMap,
) -> Result<(String, String, TokenMode), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.contains(' '))
        .ok_or_else(|| ApiError::new(9722))?;
    let world = lock(&sim.world);
    let loc = world
        .by_token
        .get(token)
        .and_then(|u| world.locations.get(u))
        .ok_or_else(|| ApiError::new(9601))?;
    if loc.revoked {
        return Err(ApiError::new(9625));
    }
    if loc.token_expires <= chrono::Utc::now() {
        return Err(ApiError::new(9621));
    }
    Ok((loc.u_id.clone(), token.to_owned(), loc.token_mode))
}

async fn service_config(State(sim): Sim) -> Json<ServiceConfigResponse> {
    let base = &sim.base_url;
    let urls = [
        ("clientConfig", "client/config"),
        ("getAssets", "assets"),
        ("getAssignments", "assignments"),
        ("getUsers", "users"),
        ("associateAssets", "assets/associate"),
        ("disassociateAssets", "assets/disassociate"),
        ("revokeAssets", "assets/revoke"),
        ("createUsers", "users/create"),
        ("updateUsers", "users/update"),
        ("retireUsers", "users/retire"),
        ("eventStatus", "status"),
    ]
    .into_iter()
    .map(|(k, p)| (k.to_owned(), format!("{base}{p}")))
    .chain([
        (
            "invitationEmail".to_owned(),
            format!("{}invite?inviteCode=%25inviteCode%25", sim.admin_url),
        ),
        (
            "contentMetadataLookup".to_owned(),
            sim.config
                .content_metadata_url
                .clone()
                .unwrap_or_else(|| format!("{}lookup", sim.admin_url)),
        ),
    ])
    .collect();
    Json(ServiceConfigResponse {
        error_codes: ERROR_CODES
            .iter()
            .map(|(n, _, _)| error_body(*n, None))
            .collect(),
        limits: limits(sim.config.max_requests_per_second)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        notification_types: notification_type::SUBSCRIBABLE
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        urls,
    })
}

fn client_config_response(sim: &Shared, u_id: &str) -> Result<ClientConfigResponse, ApiError> {
    let world = lock(&sim.world);
    let loc = world
        .locations
        .get(u_id)
        .ok_or_else(|| ApiError::new(9601))?;
    Ok(ClientConfigResponse {
        country_iso2a_code: loc.country.clone(),
        default_platform: "volumestore".into(),
        location_name: loc.name.clone(),
        notification_auth_token: loc.notification_auth_token.clone(),
        notification_url: loc.notification_url.clone(),
        subscribed_notification_types: loc.subscribed.clone(),
        website_url: "https://business.apple.com".into(),
        common: common(loc),
    })
}

async fn get_client_config(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
) -> Result<Json<ClientConfigResponse>, ApiError> {
    client_config_response(&sim, &auth.u_id).map(Json)
}

async fn post_client_config(
    State(sim): Sim,
    Extension(auth): Extension<Authed>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ClientConfigResponse>, ApiError> {
    let req: ClientConfigRequest = writes::json_body(&headers, &body)?;
    validate_client_config(&req, sim.config.allow_http_notifications)?;
    if let (Some(url), Some(token)) = (&req.notification_url, &req.notification_auth_token) {
        if !notify::test_notification(&sim, &auth.u_id, url, token).await {
            return Err(ApiError::new(9728));
        }
    }
    {
        let mut world = lock(&sim.world);
        let loc = world
            .locations
            .get_mut(&auth.u_id)
            .ok_or_else(|| ApiError::new(9601))?;
        if let Some(info) = req.mdm_info {
            loc.mdm_info = Some(info);
        }
        if req.notification_url.is_some() {
            loc.notification_url = req.notification_url;
            loc.notification_auth_token = req.notification_auth_token;
        }
        if let Some(types) = req.notification_types {
            loc.subscribed = types;
        }
    }
    client_config_response(&sim, &auth.u_id).map(Json)
}

/// Apple's synchronous checks of a Client Config body.
fn validate_client_config(req: &ClientConfigRequest, allow_http: bool) -> Result<(), ApiError> {
    if let Some(info) = &req.mdm_info {
        if info.id.is_empty() || info.name.is_empty() || info.metadata.is_empty() {
            return Err(ApiError::new(9723));
        }
        let too_long = |s: &str, key| s.chars().count() > limit(key);
        if too_long(&info.id, "maxMdmIdLength") {
            return Err(ApiError::new(9724));
        }
        if too_long(&info.name, "maxMdmNameLength") {
            return Err(ApiError::new(9725));
        }
        if too_long(&info.metadata, "maxMdmMetadataLength") {
            return Err(ApiError::new(9713));
        }
    }
    match (&req.notification_url, &req.notification_auth_token) {
        (None, None) => {}
        (Some(url), Some(token)) => {
            let max = limit("maxNotificationLength");
            if url.chars().count() > max || token.chars().count() > max {
                return Err(ApiError::new(9711));
            }
            let parsed = reqwest::Url::parse(url).map_err(|_| ApiError::new(9712))?;
            let scheme_ok = parsed.scheme() == "https" || (allow_http && parsed.scheme() == "http");
            if !scheme_ok || parsed.host_str().is_none_or(str::is_empty) || token.is_empty() {
                return Err(ApiError::new(9712));
            }
        }
        _ => return Err(ApiError::new(9710)),
    }
    if let Some(types) = &req.notification_types {
        if types
            .iter()
            .any(|t| !notification_type::SUBSCRIBABLE.contains(&t.as_str()))
        {
            return Err(ApiError::new(9602));
        }
    }
    Ok(())
}

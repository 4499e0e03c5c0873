//! [`AppleClient`]: one per location. Sends every call through the rate limiter and a bounded
//! retry loop, checks every body for Apple's `errorNumber`, and checks `mdmInfo` ownership.
//!
//! Must not log or return the content token or a notification secret: requests and bodies are
//! never logged, and error excerpts are redacted ([`super::response::excerpt`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde::Deserialize as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::error::AppleError;
use super::limits::Limits;
use super::paginate;
use super::ratelimit::RateLimiter;
use super::response::{classify, excerpt};
use super::retry::{RetryPolicy, parse_retry_after};
use super::types::*;
use crate::config::AppleConfig;
use crate::metrics::{LocEndpointOutcome, Metrics};
use crate::token::ContentToken;

/// How often Service Config's limits are read again at most (Apple: every 5 minutes).
pub const LIMITS_REFRESH: Duration = Duration::from_secs(5 * 60);

/// Every page of a paginated read, with the `versionId` of the first page.
#[derive(Debug, Clone, Default)]
pub struct Paged<T> {
    /// All records, in page order.
    pub items: Vec<T>,
    /// Records reported removed (the simulator's `removedAssignments` on a `sinceVersionId`
    /// read of assignments; empty otherwise).
    pub removed: Vec<T>,
    /// The first page's `versionId` (for a later `sinceVersionId`).
    pub version_id: Option<String>,
    /// Pages read (restarts included).
    pub pages: u32,
    /// The last page's common fields (`uId`, `mdmInfo`, `tokenExpirationDate`).
    pub common: Common,
}

/// A client for one location: clones share the rate limiter, the limits and the counters.
#[derive(Clone)]
pub struct AppleClient {
    inner: Arc<Inner>,
    metrics: Option<Metrics>,
    location: Arc<str>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    token: ContentToken,
    mdm_id: Option<String>,
    policy: RetryPolicy,
    limiter: RateLimiter,
    limits: Mutex<(Limits, Option<Instant>)>,
    sent: AtomicU64,
    token_expiration: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for AppleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppleClient")
            .field("location", &self.location)
            .field("base", &self.inner.base.as_str())
            .field("org", &self.inner.token.org_name)
            .finish_non_exhaustive()
    }
}

/// A request body serialised afresh for every attempt.
type BodyFn<'a> = &'a (dyn Fn() -> Result<Vec<u8>, serde_json::Error> + Sync);

/// One call, as every attempt sends it.
struct Call<'a> {
    endpoint: &'static str,
    method: Method,
    url: Url,
    body: Option<BodyFn<'a>>,
    /// Whether to send the content token (Service Config does not need it).
    auth: bool,
    /// A secret inside the body, scrubbed from errors.
    secret: Option<&'a str>,
}

impl Call<'_> {
    fn get(endpoint: &'static str, url: Url, auth: bool) -> Self {
        Call {
            endpoint,
            method: Method::GET,
            url,
            body: None,
            auth,
            secret: None,
        }
    }
}

impl AppleClient {
    /// A client for the location whose token this is. With `mdm_id`, every response's
    /// `mdmInfo` is checked against it ([`AppleError::OwnershipConflict`]).
    ///
    /// # Errors
    /// When the HTTP client cannot be built or the base URL is invalid.
    pub fn new(
        config: &AppleConfig,
        token: ContentToken,
        mdm_id: Option<String>,
    ) -> Result<Self, AppleError> {
        let mut base = config.base_url.trim().to_owned();
        if !base.ends_with('/') {
            // Without it `Url::join` would replace the last path segment (`v2`).
            base.push('/');
        }
        let base = Url::parse(&base).map_err(|e| AppleError::Unexpected {
            status: 0,
            body_excerpt: format!(
                "apple.base_url {:?} is not a URL ({e}); use e.g. https://vpp.itunes.apple.com/mdm/v2/",
                config.base_url
            ),
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_secs.max(1)))
            .user_agent(concat!("vppbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot build the HTTP client: {e}"),
            })?;
        let limits = Limits::with_default_rate(config.max_requests_per_second);
        Ok(AppleClient {
            inner: Arc::new(Inner {
                http,
                base,
                token,
                mdm_id: mdm_id.filter(|id| !id.is_empty()),
                policy: RetryPolicy::from_config(config),
                limiter: RateLimiter::new(limits.max_requests_per_second()),
                limits: Mutex::new((limits, None)),
                sent: AtomicU64::new(0),
                token_expiration: Mutex::new(None),
            }),
            metrics: None,
            location: Arc::from("unknown"),
        })
    }

    /// Counts every attempt in `metrics.apple_requests` (by endpoint and outcome) and every
    /// retry in `metrics.apple_retries`, labelled with `location`, which also names the location
    /// in log lines.
    pub fn with_metrics(mut self, metrics: Metrics, location: &str) -> Self {
        self.metrics = Some(metrics);
        self.location = Arc::from(location);
        self
    }

    /// Names the location in log lines (without metrics).
    pub fn with_location(mut self, location: &str) -> Self {
        self.location = Arc::from(location);
        self
    }

    /// Requests sent so far by this client and its clones (every attempt counts).
    pub fn requests_sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// The limits in force (Apple's defaults until Service Config has been read).
    pub fn limits(&self) -> Limits {
        lock(&self.inner.limits).0.clone()
    }

    /// The last `tokenExpirationDate` Apple reported, if any response carried one.
    pub fn token_expiration(&self) -> Option<DateTime<Utc>> {
        *lock(&self.inner.token_expiration)
    }

    /// The content token's organisation and expiry (never the secret).
    pub fn token(&self) -> &ContentToken {
        &self.inner.token
    }

    /// Reads Service Config when its limits are older than [`LIMITS_REFRESH`] (or were never
    /// read), and returns the limits in force. Call it before chunking writes or periodically.
    ///
    /// # Errors
    /// See [`AppleError`]; the old limits stay in force.
    pub async fn refresh_limits(&self) -> Result<Limits, AppleError> {
        let fresh = lock(&self.inner.limits)
            .1
            .is_some_and(|at| at.elapsed() < LIMITS_REFRESH);
        if !fresh {
            self.service_config().await?;
        }
        Ok(self.limits())
    }

    /// `GET service/config` (no token needed; sent without one). Updates [`Self::limits`] and
    /// the rate limiter from the answer.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn service_config(&self) -> Result<ServiceConfigResponse, AppleError> {
        let url = self.url("service/config", None::<&()>)?;
        let r: ServiceConfigResponse = self.send(Call::get("service/config", url, false)).await?;
        let limits = {
            let mut guard = lock(&self.inner.limits);
            guard.0 = guard.0.with_values(r.limits.clone());
            guard.1 = Some(Instant::now());
            guard.0.clone()
        };
        self.inner
            .limiter
            .set_rate(limits.max_requests_per_second());
        Ok(r)
    }

    /// `GET client/config`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn client_config(&self) -> Result<ClientConfigResponse, AppleError> {
        self.get("client/config", None::<&()>).await
    }

    /// `POST client/config`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn set_client_config(
        &self,
        req: &ClientConfigRequest,
    ) -> Result<ClientConfigResponse, AppleError> {
        // The secret we send must not come back in an error if Apple echoes it.
        let secret = req.notification_auth_token.as_deref();
        self.post_with_secret("client/config", req, secret).await
    }

    /// One page of `GET assets`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn assets_page(&self, q: &AssetsQuery) -> Result<GetAssetsResponse, AppleError> {
        self.get("assets", Some(q)).await
    }

    /// One page of `GET assignments`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn assignments_page(
        &self,
        q: &AssignmentsQuery,
    ) -> Result<GetAssignmentsResponse, AppleError> {
        self.get("assignments", Some(q)).await
    }

    /// One page of `GET users`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn users_page(&self, q: &UsersQuery) -> Result<GetUsersResponse, AppleError> {
        self.get("users", Some(q)).await
    }

    /// Every page of `GET assets` (see [`super::paginate`] for the rules).
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn all_assets(&self, q: AssetsQuery) -> Result<Paged<ResponseAsset>, AppleError> {
        paginate::collect("assets", |page_index| {
            let q = AssetsQuery {
                page_index,
                ..q.clone()
            };
            async move { self.assets_page(&q).await }
        })
        .await
    }

    /// Every page of `GET assignments`; on a `sinceVersionId` read the simulator's
    /// `removedAssignments` end up in [`Paged::removed`].
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn all_assignments(
        &self,
        q: AssignmentsQuery,
    ) -> Result<Paged<Assignment>, AppleError> {
        paginate::collect("assignments", |page_index| {
            let q = AssignmentsQuery {
                page_index,
                ..q.clone()
            };
            async move { self.assignments_page(&q).await }
        })
        .await
    }

    /// Every page of `GET users`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn all_users(&self, q: UsersQuery) -> Result<Paged<ResponseUser>, AppleError> {
        paginate::collect("users", |page_index| {
            let q = UsersQuery {
                page_index,
                ..q.clone()
            };
            async move { self.users_page(&q).await }
        })
        .await
    }

    /// `POST assets/associate`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn associate(&self, req: &ManageAssetsRequest) -> Result<EventResponse, AppleError> {
        self.post("assets/associate", req).await
    }

    /// `POST assets/disassociate`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn disassociate(
        &self,
        req: &ManageAssetsRequest,
    ) -> Result<EventResponse, AppleError> {
        self.post("assets/disassociate", req).await
    }

    /// `POST assets/revoke`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn revoke(&self, req: &RevokeAssetsRequest) -> Result<EventResponse, AppleError> {
        self.post("assets/revoke", req).await
    }

    /// `POST users/create`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn create_users(
        &self,
        req: &ManageUsersRequest,
    ) -> Result<EventResponse, AppleError> {
        self.post("users/create", req).await
    }

    /// `POST users/update`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn update_users(
        &self,
        req: &ManageUsersRequest,
    ) -> Result<EventResponse, AppleError> {
        self.post("users/update", req).await
    }

    /// `POST users/retire`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn retire_users(
        &self,
        req: &ManageUsersRequest,
    ) -> Result<EventResponse, AppleError> {
        self.post("users/retire", req).await
    }

    /// `GET status?eventId=`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn event_status(&self, event_id: &str) -> Result<StatusResponse, AppleError> {
        self.get("status", Some(&[("eventId", event_id)])).await
    }

    fn url<Q: Serialize + ?Sized>(&self, path: &str, query: Option<&Q>) -> Result<Url, AppleError> {
        let url = self
            .inner
            .base
            .join(path)
            .map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot build the URL of {path}: {e}"),
            })?;
        let Some(q) = query else { return Ok(url) };
        // reqwest's own query encoder (serde_urlencoded); building does not send anything.
        self.inner
            .http
            .get(url)
            .query(q)
            .build()
            .map(|r| r.url().clone())
            .map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot encode the query of {path}: {e}"),
            })
    }

    async fn get<Q: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        query: Option<&Q>,
    ) -> Result<T, AppleError> {
        let url = self.url(endpoint, query)?;
        self.send(Call::get(endpoint, url, true)).await
    }

    async fn post<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &B,
    ) -> Result<T, AppleError> {
        self.post_with_secret(endpoint, body, None).await
    }

    async fn post_with_secret<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &B,
        secret: Option<&str>,
    ) -> Result<T, AppleError> {
        let url = self.url(endpoint, None::<&()>)?;
        let body_fn = || serde_json::to_vec(body);
        let call = Call {
            endpoint,
            method: Method::POST,
            url,
            body: Some(&body_fn),
            auth: true,
            secret,
        };
        self.send(call).await
    }

    /// The bounded retry loop: one rate-limited attempt per turn, at most `max_attempts`.
    async fn send<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, AppleError> {
        let endpoint = call.endpoint;
        let policy = self.inner.policy;
        let mut backoff = policy.backoff();
        let mut attempt = 1;
        loop {
            let result = self.attempt::<T>(&call, attempt).await;
            let outcome = outcome_label(&result);
            self.count(endpoint, outcome, attempt > 1);
            let error = match result {
                Ok(v) if attempt > 1 => {
                    tracing::info!(location = %self.location, endpoint, attempt, "apple call succeeded after retries");
                    return Ok(v);
                }
                Ok(v) => {
                    tracing::debug!(location = %self.location, endpoint, attempt, "apple call succeeded");
                    return Ok(v);
                }
                Err(e) => e,
            };
            let delay = if attempt < policy.max_attempts {
                policy.delay_after(&error, &mut backoff)
            } else {
                None
            };
            let Some(delay) = delay else {
                tracing::warn!(
                    location = %self.location,
                    endpoint,
                    attempt,
                    error_number = error.error_number(),
                    outcome,
                    error = %error,
                    "apple call failed"
                );
                return Err(error);
            };
            tracing::info!(
                location = %self.location,
                endpoint,
                attempt,
                error_number = error.error_number(),
                outcome,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "apple call will be retried"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One attempt: wait for the limiter, send, classify, check ownership, decode.
    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        attempt: u32,
    ) -> Result<T, AppleError> {
        let endpoint = call.endpoint;
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone());
        if call.auth {
            req = req.bearer_auth(self.inner.token.bearer());
        }
        if let Some(body_fn) = call.body {
            let bytes = body_fn().map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot serialise the {endpoint} request: {e}"),
            })?;
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        self.inner.limiter.acquire().await;
        self.inner.sent.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(location = %self.location, endpoint, attempt, "sending apple request");
        let response = req.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = response.bytes().await.map_err(transport_error)?;
        let secrets = [self.inner.token.bearer(), call.secret.unwrap_or_default()];
        let value = classify(status, retry_after, &bytes, &secrets)?;
        let common = Common::deserialize(&value).unwrap_or_default();
        self.check_common(&common)?;
        T::deserialize(value).map_err(|e| AppleError::Unexpected {
            status,
            body_excerpt: format!(
                "cannot read the {endpoint} response ({e}): {}",
                excerpt(&bytes, &secrets)
            ),
        })
    }

    fn check_common(&self, common: &Common) -> Result<(), AppleError> {
        if let Some(exp) = common
            .token_expiration_date
            .as_deref()
            .and_then(parse_apple_date)
        {
            *lock(&self.inner.token_expiration) = Some(exp);
        }
        if let (Some(ours), Some(theirs)) = (&self.inner.mdm_id, &common.mdm_info) {
            if !theirs.id.is_empty() && theirs.id != *ours {
                return Err(AppleError::OwnershipConflict {
                    ours: ours.clone(),
                    theirs: theirs.clone(),
                });
            }
        }
        Ok(())
    }

    fn count(&self, endpoint: &str, outcome: &str, retry: bool) {
        let Some(m) = &self.metrics else { return };
        let labels = LocEndpointOutcome {
            location: self.location.to_string(),
            endpoint: endpoint.to_owned(),
            outcome: outcome.to_owned(),
        };
        if retry {
            m.apple_retries.get_or_create(&labels).inc();
        }
        m.apple_requests.get_or_create(&labels).inc();
    }
}

/// Timeouts and connection failures are transient: the same call may succeed later.
fn transport_error(e: reqwest::Error) -> AppleError {
    let detail = if e.is_timeout() {
        "the request timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    // The chain names the cause (reset, refused, ...); it never holds the headers.
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    AppleError::Transient {
        detail: format!("{detail}{chain}"),
        retry_after: None,
    }
}

/// The metrics/log label of an attempt's outcome.
fn outcome_label<T>(r: &Result<T, AppleError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(AppleError::RateLimited { .. }) => "rate_limited",
        Err(AppleError::Transient { .. }) => "transient",
        Err(
            AppleError::TokenExpired | AppleError::TokenRevoked | AppleError::TokenInvalid { .. },
        ) => "auth",
        Err(AppleError::Permission { .. }) => "permission",
        Err(AppleError::Validation { .. }) => "validation",
        Err(AppleError::OwnershipConflict { .. }) => "ownership_conflict",
        Err(AppleError::Unexpected { .. }) => "unexpected",
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked (plain values, no invariants).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

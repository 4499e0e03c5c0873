//! [`AppleClient`]: one per location. Sends every call through the rate limiter and a bounded
//! retry loop, checks every body for Apple's `errorNumber`, and checks `mdmInfo` ownership.
//!
//! Must not log or return the content token or a notification secret: requests and bodies are
//! never logged, and error excerpts are redacted ([`super::response::excerpt`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use tokio::time::Instant;

mod send;

use send::Call;

use super::error::AppleError;
use super::limits::Limits;
use super::ratelimit::RateLimiter;
use super::retry::RetryPolicy;
use super::types::*;
use crate::observe::Observer;
use crate::paginate;
use crate::settings::ClientSettings;
use crate::token::ContentToken;

/// The collected answer of the `all_*` reads (defined by the pagination engine).
pub use crate::paginate::Paged;

/// How often Service Config's limits are read again at most (Apple: every 5 minutes).
pub const LIMITS_REFRESH: Duration = Duration::from_secs(5 * 60);

/// A client for one location: clones (and clients made by [`AppleClient::with_token`]) share
/// the rate limiter, the limits and the request counter. Build one per location and clone it.
#[derive(Clone)]
pub struct AppleClient {
    inner: Arc<Inner>,
    observer: Option<Arc<dyn Observer>>,
    location: Arc<str>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    token: ContentToken,
    mdm_id: Option<String>,
    policy: RetryPolicy,
    max_response_bytes: usize,
    shared: Arc<Shared>,
    token_expiration: Mutex<Option<DateTime<Utc>>>,
}

/// What every client of one location shares, whatever its token.
struct Shared {
    limiter: RateLimiter,
    /// The limits in force and when Service Config last gave them.
    limits: Mutex<(Limits, Option<Instant>)>,
    sent: AtomicU64,
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

impl AppleClient {
    /// A client for the location whose token this is. With `mdm_id`, every response's
    /// `mdmInfo` is checked against it ([`AppleError::OwnershipConflict`]).
    ///
    /// # Errors
    /// When the HTTP client cannot be built or the base URL is invalid.
    pub fn new(
        settings: &ClientSettings,
        token: ContentToken,
        mdm_id: Option<String>,
    ) -> Result<Self, AppleError> {
        let mut base = settings.base_url.trim().to_owned();
        if !base.ends_with('/') {
            // Without it `Url::join` would replace the last path segment (`v2`).
            base.push('/');
        }
        let base = Url::parse(&base).map_err(|e| AppleError::Unexpected {
            status: 0,
            body_excerpt: format!(
                "the base URL {:?} is not a URL ({e}); use e.g. {}",
                settings.base_url,
                crate::settings::APPLE_BASE_URL
            ),
        })?;
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout.max(Duration::from_secs(1)))
            .user_agent(concat!("apple-vpp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AppleError::Unexpected {
                status: 0,
                body_excerpt: format!("cannot build the HTTP client: {e}"),
            })?;
        let limits = Limits::with_default_rate(settings.max_requests_per_second);
        Ok(AppleClient {
            inner: Arc::new(Inner {
                http,
                base,
                token,
                mdm_id: mdm_id.filter(|id| !id.is_empty()),
                policy: RetryPolicy::from_settings(settings),
                max_response_bytes: settings.max_response_bytes,
                shared: Arc::new(Shared {
                    limiter: RateLimiter::new(limits.max_requests_per_second()),
                    limits: Mutex::new((limits, None)),
                    sent: AtomicU64::new(0),
                }),
                token_expiration: Mutex::new(None),
            }),
            observer: None,
            location: Arc::from("unknown"),
        })
    }

    /// Tells `observer` of every attempt (by endpoint and outcome) for `location`, which also
    /// names the location in log lines.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>, location: &str) -> Self {
        self.observer = Some(observer);
        self.location = Arc::from(location);
        self
    }

    /// The same client with another content token (the token file was replaced): it keeps the
    /// rate limiter, the limits, the counter, the observer and the `mdmInfo` id, so replacing a
    /// token never lets a burst through.
    pub fn with_token(&self, token: ContentToken) -> Self {
        AppleClient {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                base: self.inner.base.clone(),
                token,
                mdm_id: self.inner.mdm_id.clone(),
                policy: self.inner.policy,
                max_response_bytes: self.inner.max_response_bytes,
                shared: self.inner.shared.clone(),
                token_expiration: Mutex::new(None),
            }),
            observer: self.observer.clone(),
            location: self.location.clone(),
        }
    }

    /// Names the location in log lines (without an observer).
    pub fn with_location(mut self, location: &str) -> Self {
        self.location = Arc::from(location);
        self
    }

    /// Requests sent so far by this client and its clones (every attempt counts).
    pub fn requests_sent(&self) -> u64 {
        self.inner.shared.sent.load(Ordering::Relaxed)
    }

    /// The limits in force (Apple's defaults until Service Config has been read).
    pub fn limits(&self) -> Limits {
        lock(&self.inner.shared.limits).0.clone()
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
        let fresh = lock(&self.inner.shared.limits)
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
            let mut guard = lock(&self.inner.shared.limits);
            guard.0 = guard.0.with_values(r.limits.clone());
            guard.1 = Some(Instant::now());
            guard.0.clone()
        };
        self.inner
            .shared
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

    /// Every page of `GET assets` (see [`crate::paginate`] for the rules).
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

    /// Every page of `GET assignments`: on a `sinceVersionId` read, the assignments added or
    /// changed since (Apple documents nothing about removals, apple-api.md §13 q6).
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
}

/// Locks a mutex whose data stays valid even if a holder panicked (plain values, no invariants).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

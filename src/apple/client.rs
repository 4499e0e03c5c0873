//! [`AppleClient`]: one per location. (Skeleton: the foundation issue fills in the bodies.)

use std::sync::Arc;

use super::error::AppleError;
use super::types::*;
use crate::config::AppleConfig;
use crate::token::ContentToken;

/// Every page of a paginated read, with the `versionId` of the first page.
#[derive(Debug, Clone, Default)]
pub struct Paged<T> {
    /// All records, in page order.
    pub items: Vec<T>,
    /// The first page's `versionId` (for a later `sinceVersionId`).
    pub version_id: Option<String>,
    /// Pages read (restarts included).
    pub pages: u32,
    /// The last page's common fields (`uId`, `mdmInfo`, `tokenExpirationDate`).
    pub common: Common,
}

/// A client for one location: shares its rate limiter across clones.
#[derive(Clone)]
pub struct AppleClient {
    inner: Arc<Inner>,
}

struct Inner {
    _config: AppleConfig,
    _token: ContentToken,
    _mdm_id: Option<String>,
}

impl std::fmt::Debug for AppleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppleClient").finish_non_exhaustive()
    }
}

fn todo_err() -> AppleError {
    AppleError::Unexpected {
        status: 0,
        body_excerpt: "not implemented yet".into(),
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
        Ok(AppleClient {
            inner: Arc::new(Inner {
                _config: config.clone(),
                _token: token,
                _mdm_id: mdm_id,
            }),
        })
    }

    /// Requests sent so far (every attempt counts).
    pub fn requests_sent(&self) -> u64 {
        0
    }

    /// `GET service/config`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn service_config(&self) -> Result<ServiceConfigResponse, AppleError> {
        Err(todo_err())
    }

    /// `GET client/config`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn client_config(&self) -> Result<ClientConfigResponse, AppleError> {
        Err(todo_err())
    }

    /// `POST client/config`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn set_client_config(
        &self,
        _req: &ClientConfigRequest,
    ) -> Result<ClientConfigResponse, AppleError> {
        Err(todo_err())
    }

    /// One page of `GET assets`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn assets_page(&self, _q: &AssetsQuery) -> Result<GetAssetsResponse, AppleError> {
        Err(todo_err())
    }

    /// One page of `GET assignments`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn assignments_page(
        &self,
        _q: &AssignmentsQuery,
    ) -> Result<GetAssignmentsResponse, AppleError> {
        Err(todo_err())
    }

    /// One page of `GET users`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn users_page(&self, _q: &UsersQuery) -> Result<GetUsersResponse, AppleError> {
        Err(todo_err())
    }

    /// Every page of `GET assets`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn all_assets(&self, _q: AssetsQuery) -> Result<Paged<ResponseAsset>, AppleError> {
        Err(todo_err())
    }

    /// Every page of `GET assignments` (with `removedAssignments` folded in when the simulator
    /// reports them on a `sinceVersionId` read: see [`GetAssignmentsResponse`]).
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn all_assignments(
        &self,
        _q: AssignmentsQuery,
    ) -> Result<Paged<Assignment>, AppleError> {
        Err(todo_err())
    }

    /// Every page of `GET users`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn all_users(&self, _q: UsersQuery) -> Result<Paged<ResponseUser>, AppleError> {
        Err(todo_err())
    }

    /// `POST assets/associate`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn associate(&self, _req: &ManageAssetsRequest) -> Result<EventResponse, AppleError> {
        Err(todo_err())
    }

    /// `POST assets/disassociate`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn disassociate(
        &self,
        _req: &ManageAssetsRequest,
    ) -> Result<EventResponse, AppleError> {
        Err(todo_err())
    }

    /// `POST assets/revoke`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn revoke(&self, _req: &RevokeAssetsRequest) -> Result<EventResponse, AppleError> {
        Err(todo_err())
    }

    /// `POST users/create`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn create_users(
        &self,
        _req: &ManageUsersRequest,
    ) -> Result<EventResponse, AppleError> {
        Err(todo_err())
    }

    /// `POST users/update`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn update_users(
        &self,
        _req: &ManageUsersRequest,
    ) -> Result<EventResponse, AppleError> {
        Err(todo_err())
    }

    /// `POST users/retire`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn retire_users(
        &self,
        _req: &ManageUsersRequest,
    ) -> Result<EventResponse, AppleError> {
        Err(todo_err())
    }

    /// `GET status?eventId=`.
    ///
    /// # Errors
    /// See [`AppleError`].
    pub async fn event_status(&self, _event_id: &str) -> Result<StatusResponse, AppleError> {
        Err(todo_err())
    }
}

//! Apple's error numbers as the simulator answers them: the message table (also served in
//! Service Config's `errorCodes`) and [`ApiError`], the response of a refused call.
//!
//! Must not decide when an error happens; the routes do.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use apple_vpp_types::{ErrorResponse, ResponseErrorInfo};

/// Every error number the simulator knows, with Apple's message and documented HTTP status.
pub(crate) const ERROR_CODES: &[(i32, u16, &str)] = &[
    (9601, 401, "Login required"),
    (9602, 400, "Invalid argument"),
    (9603, 500, "Internal error"),
    (9609, 400, "Registered user not found"),
    (
        9621,
        401,
        "Token expired. Generate a new token in Apple Business Manager.",
    ),
    (9625, 401, "The sToken has been revoked by the server."),
    (
        9635,
        400,
        "Unable to associate the Apple Account with the user",
    ),
    (
        9641,
        400,
        "The Apple Account is already associated with another user",
    ),
    (9637, 403, "Operation not allowed for facilitator accounts"),
    (9644, 503, "Service is in maintenance mode; try again later"),
    (9646, 429, "Too many requests for the organization"),
    (
        9650,
        400,
        "Bad page index. The page index must be greater than 0 and less than the total number of pages.",
    ),
    (9700, 400, "Too many assets"),
    (9701, 400, "Too many clientUserIds"),
    (9702, 400, "Too many serialNumbers"),
    (9703, 400, "Duplicate assets"),
    (9704, 400, "Duplicate clientUserIds"),
    (9705, 400, "Duplicate serialNumbers"),
    (9706, 400, "Asset is not revocable"),
    (9707, 400, "Asset is not device-assignable"),
    (9708, 400, "Event ID not found"),
    (
        9709,
        400,
        "There aren't enough assets available to complete this association.",
    ),
    (
        9710,
        400,
        "Both the notification URL and the authentication token are required",
    ),
    (
        9711,
        400,
        "The notification URL or authentication token is too long",
    ),
    (
        9712,
        400,
        "The notification URL is invalid; it must be an HTTPS URL",
    ),
    (9713, 400, "mdmInfo metadata is too long"),
    (9714, 400, "Too many users"),
    (9715, 400, "Duplicate users"),
    (
        9716,
        400,
        "A registered user already exists for the clientUserId",
    ),
    (9717, 400, "Invalid email"),
    (9718, 400, "Assets are required"),
    (9719, 400, "clientUserIds or serialNumbers are required"),
    (9720, 400, "Users are required"),
    (9721, 400, "Invalid versionId"),
    (
        9722,
        401,
        "Invalid Authorization header. The format must be Bearer {sToken}.",
    ),
    (9723, 400, "mdmInfo requires name, id and metadata"),
    (9724, 400, "mdmInfo id is too long"),
    (9725, 400, "mdmInfo name is too long"),
    (9726, 405, "Unsupported HTTP method"),
    (9727, 415, "Unsupported Content-Type"),
    (9728, 400, "The notification URL is unreachable"),
    (9729, 503, "Service temporarily unavailable"),
];

/// Apple's message for `number`.
pub(crate) fn message(number: i32) -> &'static str {
    ERROR_CODES
        .iter()
        .find(|(n, _, _)| *n == number)
        .map_or("Unknown error", |(_, _, m)| m)
}

/// Apple's documented HTTP status for `number`.
fn status_of(number: i32) -> StatusCode {
    ERROR_CODES
        .iter()
        .find(|(n, _, _)| *n == number)
        .and_then(|(_, s, _)| StatusCode::from_u16(*s).ok())
        .unwrap_or(StatusCode::BAD_REQUEST)
}

/// An [`ErrorResponse`] for `number`, optionally naming the entities concerned.
pub(crate) fn error_body(number: i32, info: Option<ResponseErrorInfo>) -> ErrorResponse {
    ErrorResponse {
        error_number: number,
        error_message: message(number).to_owned(),
        error_info: info,
    }
}

/// The error number a response carried, kept as a response extension for the request log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorNumber(pub i32);

/// A refused Apple call: an [`ErrorResponse`] body with the documented (or a chosen) status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    number: i32,
    retry_after: Option<u64>,
}

impl ApiError {
    /// The error with Apple's documented status.
    pub(crate) fn new(number: i32) -> Self {
        ApiError {
            status: status_of(number),
            number,
            retry_after: None,
        }
    }

    /// The error answered with another HTTP status (9646 inside HTTP 200).
    pub(crate) fn with_status(number: i32, status: StatusCode) -> Self {
        ApiError {
            status,
            number,
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header (seconds).
    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = (secs > 0).then_some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(error_body(self.number, None))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorNumber(self.number));
        response
    }
}

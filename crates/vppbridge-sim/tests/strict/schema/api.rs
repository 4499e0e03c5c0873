//! The documented answers of the endpoints (apple-api.md §3–§10).

use super::{Field, Kind, Shape, opt, req};

pub(super) const PRICING: Kind = Kind::OneOf(&["STDQ", "PLUS"]);
/// Notification types of §3 / §4.2 (2026 list, `TEST_NOTIFICATION` included in one version).
pub const NOTIFICATION_TYPES: &[&str] = &[
    "ASSET_MANAGEMENT",
    "USER_MANAGEMENT",
    "USER_ASSOCIATED",
    "ASSET_COUNT",
    "SUBSCRIPTION_MANAGEMENT",
    "SUBSCRIPTION_COUNT",
    "UNLIMITED_ASSET",
    "TEST_NOTIFICATION",
];

/// Common fields (§2): `uId` and `tokenExpirationDate` on every answer (zentral fails without
/// the date; the simulator chose to send it always), `mdmInfo` once set (§4.3).
pub(super) static COMMON: &[Field] = &[
    req("uId", Kind::NonEmpty),
    req("tokenExpirationDate", Kind::Date),
    opt("mdmInfo", Kind::Obj(&MDM_INFO)),
];

/// Page fields (§6, §7).
pub(super) static PAGE: &[Field] = &[
    req("currentPageIndex", Kind::Int),
    opt("nextPageIndex", Kind::Int),
    req("size", Kind::Int),
    req("totalPages", Kind::Int),
    req("versionId", Kind::NonEmpty),
];

/// `MdmInfo` (§4.2).
pub static MDM_INFO: Shape = Shape {
    name: "MdmInfo",
    fields: &[
        req("id", Kind::Str),
        req("name", Kind::Str),
        req("metadata", Kind::Str),
    ],
    common: false,
    paged: false,
};

/// `ResponseErrorCode` (§3).
static ERROR_CODE: Shape = Shape {
    name: "ResponseErrorCode",
    fields: &[
        req("errorNumber", Kind::Int),
        req("errorMessage", Kind::NonEmpty),
    ],
    common: false,
    paged: false,
};

/// `ServiceConfigResponse` (§3): no token, so no common fields.
pub static SERVICE_CONFIG: Shape = Shape {
    name: "ServiceConfigResponse",
    fields: &[
        req("errorCodes", Kind::List(&Kind::Obj(&ERROR_CODE))),
        req("limits", Kind::Map(&Kind::Int)),
        req(
            "notificationTypes",
            Kind::List(&Kind::OneOf(NOTIFICATION_TYPES)),
        ),
        req("urls", Kind::Map(&Kind::NonEmpty)),
    ],
    common: false,
    paged: false,
};

/// `ClientConfigResponse` (§4.1).
pub static CLIENT_CONFIG: Shape = Shape {
    name: "ClientConfigResponse",
    fields: &[
        req("countryISO2ACode", Kind::NonEmpty),
        req(
            "defaultPlatform",
            Kind::OneOf(&["volumestore", "enterprisestore"]),
        ),
        req("locationName", Kind::NonEmpty),
        opt("notificationAuthToken", Kind::Str),
        opt("notificationUrl", Kind::Str),
        opt(
            "subscribedNotificationTypes",
            Kind::List(&Kind::OneOf(NOTIFICATION_TYPES)),
        ),
        req(
            "websiteURL",
            Kind::OneOf(&["https://school.apple.com", "https://business.apple.com"]),
        ),
    ],
    common: true,
    paged: false,
};

/// `Asset` (§8.1).
static ASSET: Shape = Shape {
    name: "Asset",
    fields: &[req("adamId", Kind::NonEmpty), req("pricingParam", PRICING)],
    common: false,
    paged: false,
};

/// `ResponseAsset` (§6.1).
pub static RESPONSE_ASSET: Shape = Shape {
    name: "ResponseAsset",
    fields: &[
        req("adamId", Kind::NonEmpty),
        req("pricingParam", PRICING),
        req("productType", Kind::OneOf(&["App", "Book"])),
        req("assignedCount", Kind::Int),
        req("availableCount", Kind::Int),
        req("retiredCount", Kind::Int),
        req("totalCount", Kind::Int),
        req("deviceAssignable", Kind::Bool),
        req("revocable", Kind::Bool),
        opt(
            "supportedPlatforms",
            Kind::List(&Kind::OneOf(&[
                "iOS", "macOS", "tvOS", "watchOS", "visionOS",
            ])),
        ),
    ],
    common: false,
    paged: false,
};

/// `GetAssetsResponse` (§6.1); `unlimitedAssets` only with `unlimited=true`, never sent here.
pub static GET_ASSETS: Shape = Shape {
    name: "GetAssetsResponse",
    fields: &[req("assets", Kind::List(&Kind::Obj(&RESPONSE_ASSET)))],
    common: true,
    paged: true,
};

pub(super) const USER_STATUS: Kind =
    Kind::OneOf(&["Registered", "Associated", "Retired", "Deleted"]);

/// `Assignment` (§6.2); exactly one of `serialNumber` / `clientUserId` is checked apart.
pub static ASSIGNMENT: Shape = Shape {
    name: "Assignment",
    fields: &[
        req("adamId", Kind::NonEmpty),
        req("pricingParam", PRICING),
        opt("serialNumber", Kind::NonEmpty),
        opt("clientUserId", Kind::NonEmpty),
        opt("idHash", Kind::Str),
        opt("userStatus", USER_STATUS),
    ],
    common: false,
    paged: false,
};

/// `GetAssignmentsResponse` (§6.2).
pub static GET_ASSIGNMENTS: Shape = Shape {
    name: "GetAssignmentsResponse",
    fields: &[req("assignments", Kind::List(&Kind::Obj(&ASSIGNMENT)))],
    common: true,
    paged: true,
};

/// `ResponseUser` (§6.3).
pub static RESPONSE_USER: Shape = Shape {
    name: "ResponseUser",
    fields: &[
        req("clientUserId", Kind::NonEmpty),
        opt("email", Kind::Str),
        opt("idHash", Kind::Str),
        opt("inviteCode", Kind::Str),
        req("status", USER_STATUS),
    ],
    common: false,
    paged: false,
};

/// `GetUsersResponse` (§6.3).
pub static GET_USERS: Shape = Shape {
    name: "GetUsersResponse",
    fields: &[req("users", Kind::List(&Kind::Obj(&RESPONSE_USER)))],
    common: true,
    paged: true,
};

/// `EventResponse` (§8).
pub static EVENT_RESPONSE: Shape = Shape {
    name: "EventResponse",
    fields: &[req("eventId", Kind::NonEmpty)],
    common: true,
    paged: false,
};

/// `ResponseErrorInfo` (§10.1).
static ERROR_INFO: Shape = Shape {
    name: "ResponseErrorInfo",
    fields: &[
        opt("assets", Kind::List(&Kind::Obj(&ASSET))),
        opt("clientUserIds", Kind::List(&Kind::NonEmpty)),
        opt("serialNumbers", Kind::List(&Kind::NonEmpty)),
    ],
    common: false,
    paged: false,
};

/// `ErrorResponse` (§10.1): the whole body of a refused call, a `failures` entry, a
/// notification's `error`.
pub static ERROR_RESPONSE: Shape = Shape {
    name: "ErrorResponse",
    fields: &[
        req("errorNumber", Kind::Int),
        req("errorMessage", Kind::NonEmpty),
        opt("errorInfo", Kind::Obj(&ERROR_INFO)),
    ],
    common: false,
    paged: false,
};

/// `StatusResponse` (§9).
pub static STATUS: Shape = Shape {
    name: "StatusResponse",
    fields: &[
        req(
            "eventStatus",
            Kind::OneOf(&["PENDING", "COMPLETE", "FAILED"]),
        ),
        req(
            "eventType",
            Kind::OneOf(&[
                "ASSOCIATE",
                "DISASSOCIATE",
                "REVOKE",
                "CREATE",
                "UPDATE",
                "RETIRE",
            ]),
        ),
        req("numRequested", Kind::Int),
        req("numCompleted", Kind::Int),
        opt("failures", Kind::List(&Kind::Obj(&ERROR_RESPONSE))),
    ],
    common: true,
    paged: false,
};

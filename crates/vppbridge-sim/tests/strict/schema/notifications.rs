//! The notification envelope and payloads (apple-api.md §5).

use super::api::{
    ASSIGNMENT, ERROR_RESPONSE, NOTIFICATION_TYPES, PRICING, RESPONSE_USER, USER_STATUS,
};
use super::{Kind, Shape, opt, req};

/// The notification envelope (§5.3).
pub static ENVELOPE: Shape = Shape {
    name: "notification envelope",
    fields: &[
        req("notification", Kind::AnyObj),
        req("notificationId", Kind::NonEmpty),
        req("notificationType", Kind::OneOf(NOTIFICATION_TYPES)),
        req("uId", Kind::NonEmpty),
    ],
    common: false,
    paged: false,
};

const RESULT: Kind = Kind::OneOf(&["SUCCESS", "FAILURE"]);

/// `ASSET_MANAGEMENT` payload (§5.4).
pub static ASSET_MANAGEMENT: Shape = Shape {
    name: "ASSET_MANAGEMENT notification",
    fields: &[
        req("assignments", Kind::List(&Kind::Obj(&ASSIGNMENT))),
        req("eventId", Kind::NonEmpty),
        req("result", RESULT),
        req(
            "type",
            Kind::OneOf(&["ASSOCIATE", "DISASSOCIATE", "REVOKE"]),
        ),
        opt("error", Kind::Obj(&ERROR_RESPONSE)),
    ],
    common: false,
    paged: false,
};

/// `USER_MANAGEMENT` payload (§5.6; the failure's `error` assumed as in §5.4).
pub static USER_MANAGEMENT: Shape = Shape {
    name: "USER_MANAGEMENT notification",
    fields: &[
        req("eventId", Kind::NonEmpty),
        req("result", RESULT),
        req("type", Kind::OneOf(&["CREATE", "UPDATE", "RETIRE"])),
        req("users", Kind::List(&Kind::Obj(&RESPONSE_USER))),
        opt("error", Kind::Obj(&ERROR_RESPONSE)),
    ],
    common: false,
    paged: false,
};

/// A user in a failed `USER_MANAGEMENT` notification: §5.6 does not document the failure
/// shape, so a user that may not exist (9609) is allowed without a `status`; any `status` sent
/// must still be one of §6.3's.
static FAILED_USER: Shape = Shape {
    name: "ResponseUser (failure)",
    fields: &[
        req("clientUserId", Kind::NonEmpty),
        opt("email", Kind::Str),
        opt("idHash", Kind::Str),
        opt("inviteCode", Kind::Str),
        opt("status", USER_STATUS),
    ],
    common: false,
    paged: false,
};

/// `USER_MANAGEMENT` failure payload (§5.6 with §5.4's `error`, required on a failure).
pub static USER_MANAGEMENT_FAILURE: Shape = Shape {
    name: "USER_MANAGEMENT failure notification",
    fields: &[
        req("eventId", Kind::NonEmpty),
        req("result", Kind::OneOf(&["FAILURE"])),
        req("type", Kind::OneOf(&["CREATE", "UPDATE", "RETIRE"])),
        req("users", Kind::List(&Kind::Obj(&FAILED_USER))),
        req("error", Kind::Obj(&ERROR_RESPONSE)),
    ],
    common: false,
    paged: false,
};

/// `ASSET_COUNT` payload (§5.5): `adamId` a string here, no `eventId`.
pub static ASSET_COUNT: Shape = Shape {
    name: "ASSET_COUNT notification",
    fields: &[
        req("adamId", Kind::NonEmpty),
        req("countDelta", Kind::Int),
        req("pricingParam", PRICING),
    ],
    common: false,
    paged: false,
};

/// `USER_ASSOCIATED` payload (§5.7).
pub static USER_ASSOCIATED: Shape = Shape {
    name: "USER_ASSOCIATED notification",
    fields: &[req(
        "associatedUsers",
        Kind::List(&Kind::Obj(&RESPONSE_USER)),
    )],
    common: false,
    paged: false,
};

/// `TEST_NOTIFICATION` payload (§5.3): an empty object.
pub static TEST_NOTIFICATION: Shape = Shape {
    name: "TEST_NOTIFICATION notification",
    fields: &[],
    common: false,
    paged: false,
};

//! Apple's envelope → the normalised [`Notification`] of its type (issue 4 §3): lower-case
//! `action` and `result`, `adamId` always a string, assignments as [`AssignmentRef`], users as
//! [`UserRef`], `error` as `{errorNumber, errorMessage}`, and `raw` = Apple's `notification`
//! object unchanged. Unknown types become [`Notification::Unknown`] with the object kept whole.
//!
//! Every value the worker makes a view key of is checked here with the worker's own key
//! functions ([`crate::view::keys`]), so that a notification answered 200 can always be applied:
//! `adamId` and `pricingParam` must be plain tokens, serial numbers and user ids non-empty.
//! `countDelta` must lie within ±[`MAX_COUNT_DELTA`].

use serde_json::Value;

use super::IngestError;
use super::fields::Obj;
use crate::events::notification::{
    Action, AssetCountData, AssetManagementData, AssignmentRef, EventError, Notification,
    NotificationMeta, Outcome, PlainData, SubscriptionAssignment, SubscriptionCountData,
    SubscriptionManagementData, UserAssociatedData, UserManagementData, UserRef,
};
use crate::view::keys::{KeyError, asset_key, assignment_key, user_key};
use apple_vpp::types::{NotificationEnvelope, notification_type as nt};

const ROOT: &str = "notification";

/// The largest `countDelta` accepted either way: no purchase or refund moves a billion licences,
/// and the worker adds the delta to stored counts.
pub const MAX_COUNT_DELTA: i64 = 1_000_000_000;

/// Normalises an envelope received for `location`.
///
/// # Errors
/// [`IngestError`] naming the first missing or ill-typed field of a known type's payload.
pub fn normalise(location: &str, env: NotificationEnvelope) -> Result<Notification, IngestError> {
    let meta = NotificationMeta {
        location: location.to_owned(),
        u_id: env.u_id,
        notification_id: env.notification_id,
        notification_type: env.notification_type,
    };
    let raw = env.notification;
    let o = Obj::new(&raw, ROOT)?;
    let loc = location;
    Ok(match meta.notification_type.as_str() {
        nt::ASSET_MANAGEMENT => {
            let (action, result, event_id, error) = management(
                &o,
                &[Action::Associate, Action::Disassociate, Action::Revoke],
            )?;
            let assignments = o
                .array("assignments")?
                .into_iter()
                .map(|(path, v)| assignment(loc, &Obj::new(v, path)?))
                .collect::<Result<_, _>>()?;
            Notification::AssetManagement(AssetManagementData {
                meta,
                event_id,
                action,
                result,
                assignments,
                error,
                raw,
            })
        }
        nt::ASSET_COUNT => {
            let adam_id = o.adam_id("adamId")?;
            let pricing_param = pricing_param(&o)?;
            keyed(&o, asset_key(loc, &adam_id, &pricing_param))?;
            Notification::AssetCount(AssetCountData {
                adam_id,
                pricing_param,
                count_delta: count_delta(&o)?,
                meta,
                raw,
            })
        }
        nt::USER_MANAGEMENT => {
            let (action, result, event_id, error) =
                management(&o, &[Action::Create, Action::Update, Action::Retire])?;
            let users = users(loc, &o, "users")?;
            Notification::UserManagement(UserManagementData {
                meta,
                event_id,
                action,
                result,
                users,
                error,
                raw,
            })
        }
        nt::USER_ASSOCIATED => Notification::UserAssociated(UserAssociatedData {
            users: users(loc, &o, "associatedUsers")?,
            meta,
            raw,
        }),
        nt::TEST_NOTIFICATION => Notification::Test(PlainData { meta, raw }),
        nt::SUBSCRIPTION_MANAGEMENT => {
            let assignments = o
                .array("assignments")?
                .into_iter()
                .map(|(path, v)| {
                    let a = Obj::new(v, path)?;
                    Ok(SubscriptionAssignment {
                        adam_id: product(loc, &a, "adamId")?,
                        client_user_id: a.string("clientUserId")?,
                        renewing: a.opt_bool("renewing")?,
                    })
                })
                .collect::<Result<_, IngestError>>()?;
            Notification::SubscriptionManagement(SubscriptionManagementData {
                event_id: o.opt_string("eventId")?,
                action: o.opt_string("type")?.map(|t| t.to_lowercase()),
                result: o
                    .opt_string("result")?
                    .map(|r| outcome(&o, &r))
                    .transpose()?,
                assignments,
                error: error(&o)?,
                meta,
                raw,
            })
        }
        nt::SUBSCRIPTION_COUNT => {
            let counts = match o.value("counts") {
                Some(v @ Value::Object(_)) => v.clone(),
                Some(_) => {
                    return Err(IngestError::field(o.path_of("counts"), "must be an object"));
                }
                None => return Err(IngestError::field(o.path_of("counts"), "is missing")),
            };
            Notification::SubscriptionCount(SubscriptionCountData {
                adam_id: product(loc, &o, "adamId")?,
                parent_adam_id: match o.opt_adam_id("parentAdamId")? {
                    Some(_) => Some(product(loc, &o, "parentAdamId")?),
                    None => None,
                },
                counts,
                meta,
                raw,
            })
        }
        _ => Notification::Unknown(PlainData { meta, raw }),
    })
}

/// `type`, `result`, `eventId` and `error` of a management notification; `type` must be one of
/// `allowed`.
fn management(
    o: &Obj<'_>,
    allowed: &[Action],
) -> Result<(Action, Outcome, String, Option<EventError>), IngestError> {
    let kind = o.string("type")?;
    let action = allowed
        .iter()
        .copied()
        .find(|a| action_name(*a).eq_ignore_ascii_case(&kind))
        .ok_or_else(|| {
            let names: Vec<String> = allowed
                .iter()
                .map(|a| action_name(*a).to_uppercase())
                .collect();
            IngestError::field(
                o.path_of("type"),
                format!("`{kind}` is not one of {}", names.join(", ")),
            )
        })?;
    let result = outcome(o, &o.string("result")?)?;
    Ok((action, result, o.string("eventId")?, error(o)?))
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Associate => "associate",
        Action::Disassociate => "disassociate",
        Action::Revoke => "revoke",
        Action::Create => "create",
        Action::Update => "update",
        Action::Retire => "retire",
    }
}

fn outcome(o: &Obj<'_>, r: &str) -> Result<Outcome, IngestError> {
    if r.eq_ignore_ascii_case("success") {
        Ok(Outcome::Success)
    } else if r.eq_ignore_ascii_case("failure") {
        Ok(Outcome::Failure)
    } else {
        Err(IngestError::field(
            o.path_of("result"),
            format!("`{r}` is not SUCCESS or FAILURE"),
        ))
    }
}

/// `error` {errorNumber, errorMessage}, or absent.
fn error(o: &Obj<'_>) -> Result<Option<EventError>, IngestError> {
    let Some(v) = o.value("error") else {
        return Ok(None);
    };
    let e = Obj::new(v, o.path_of("error"))?;
    Ok(Some(EventError {
        error_number: e.i32("errorNumber")?,
        error_message: e.opt_string("errorMessage")?.unwrap_or_default(),
    }))
}

/// `pricingParam`, Apple's default `STDQ` when left out.
fn pricing_param(o: &Obj<'_>) -> Result<String, IngestError> {
    Ok(o.opt_string("pricingParam")?
        .unwrap_or_else(apple_vpp::types::default_pricing_param))
}

/// `countDelta`: an integer within ±[`MAX_COUNT_DELTA`].
fn count_delta(o: &Obj<'_>) -> Result<i64, IngestError> {
    let delta = o.i64("countDelta")?;
    if delta.checked_abs().is_none_or(|d| d > MAX_COUNT_DELTA) {
        return Err(IngestError::field(
            o.path_of("countDelta"),
            format!(
                "{delta} is not a plausible change of a licence count (at most ±{MAX_COUNT_DELTA})"
            ),
        ));
    }
    Ok(delta)
}

/// A product id (`adamId`, `parentAdamId`) that can be a view key part.
fn product(location: &str, o: &Obj<'_>, name: &str) -> Result<String, IngestError> {
    let id = o.adam_id(name)?;
    asset_key(location, &id, &apple_vpp::types::default_pricing_param())
        .map_err(|e| IngestError::field(o.path_of(name), e.to_string()))?;
    Ok(id)
}

/// Turns the worker's key error into one naming the field of `o` it came from.
fn keyed(o: &Obj<'_>, key: Result<String, KeyError>) -> Result<(), IngestError> {
    key.map(drop).map_err(|e| {
        let field = match e.what {
            "adamId" => o.path_of("adamId"),
            "pricingParam" => o.path_of("pricingParam"),
            "clientUserId" => o.path_of("clientUserId"),
            "location" => return IngestError::body(e.to_string()),
            _ => o.path_of("serialNumber"),
        };
        let detail = match e.what {
            "adamId" | "pricingParam" | "location" => e.to_string(),
            _ => "must not be empty".to_owned(),
        };
        IngestError::field(field, detail)
    })
}

/// One asset assignment: exactly one of `serialNumber` and `clientUserId`.
fn assignment(location: &str, a: &Obj<'_>) -> Result<AssignmentRef, IngestError> {
    let serial_number = a.opt_string("serialNumber")?;
    let client_user_id = a.opt_string("clientUserId")?;
    if serial_number.is_some() == client_user_id.is_some() {
        return Err(IngestError::field(
            a.path_of("serialNumber"),
            "exactly one of `serialNumber` and `clientUserId` must be set",
        ));
    }
    let r = AssignmentRef {
        adam_id: a.adam_id("adamId")?,
        pricing_param: pricing_param(a)?,
        serial_number,
        client_user_id,
    };
    keyed(a, assignment_key(location, &r))?;
    Ok(r)
}

fn users(location: &str, o: &Obj<'_>, name: &str) -> Result<Vec<UserRef>, IngestError> {
    o.array(name)?
        .into_iter()
        .map(|(path, v)| {
            let u = Obj::new(v, path)?;
            keyed(&u, user_key(location, &u.string("clientUserId")?))?;
            Ok(UserRef {
                client_user_id: u.string("clientUserId")?,
                email: u.opt_string("email")?,
                id_hash: u.opt_string("idHash")?,
                invite_code: u.opt_string("inviteCode")?,
                status: u.opt_string("status")?.unwrap_or_default(),
            })
        })
        .collect()
}

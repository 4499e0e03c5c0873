//! Apple's envelope → the normalised [`Notification`] of its type (issue 4 §3): lower-case
//! `action` and `result`, `adamId` always a string, assignments as [`AssignmentRef`], users as
//! [`UserRef`], `error` as `{errorNumber, errorMessage}`, and `raw` = Apple's `notification`
//! object unchanged. Unknown types become [`Notification::Unknown`] with the object kept whole.

use serde_json::Value;

use super::IngestError;
use super::fields::Obj;
use crate::events::notification::{
    Action, AssetCountData, AssetManagementData, AssignmentRef, EventError, Notification,
    NotificationMeta, Outcome, PlainData, SubscriptionAssignment, SubscriptionCountData,
    SubscriptionManagementData, UserAssociatedData, UserManagementData, UserRef,
};
use apple_vpp::types::{NotificationEnvelope, notification_type as nt};

const ROOT: &str = "notification";

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
    Ok(match meta.notification_type.as_str() {
        nt::ASSET_MANAGEMENT => {
            let (action, result, event_id, error) = management(
                &o,
                &[Action::Associate, Action::Disassociate, Action::Revoke],
            )?;
            let assignments = o
                .array("assignments")?
                .into_iter()
                .map(|(path, v)| assignment(&Obj::new(v, path)?))
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
        nt::ASSET_COUNT => Notification::AssetCount(AssetCountData {
            adam_id: o.adam_id("adamId")?,
            pricing_param: pricing_param(&o)?,
            count_delta: o.i64("countDelta")?,
            meta,
            raw,
        }),
        nt::USER_MANAGEMENT => {
            let (action, result, event_id, error) =
                management(&o, &[Action::Create, Action::Update, Action::Retire])?;
            let users = users(&o, "users")?;
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
            users: users(&o, "associatedUsers")?,
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
                        adam_id: a.adam_id("adamId")?,
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
                adam_id: o.adam_id("adamId")?,
                parent_adam_id: o.opt_adam_id("parentAdamId")?,
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

/// One asset assignment: exactly one of `serialNumber` and `clientUserId`.
fn assignment(a: &Obj<'_>) -> Result<AssignmentRef, IngestError> {
    let serial_number = a.opt_string("serialNumber")?;
    let client_user_id = a.opt_string("clientUserId")?;
    if serial_number.is_some() == client_user_id.is_some() {
        return Err(IngestError::field(
            a.path_of("serialNumber"),
            "exactly one of `serialNumber` and `clientUserId` must be set",
        ));
    }
    Ok(AssignmentRef {
        adam_id: a.adam_id("adamId")?,
        pricing_param: pricing_param(a)?,
        serial_number,
        client_user_id,
    })
}

fn users(o: &Obj<'_>, name: &str) -> Result<Vec<UserRef>, IngestError> {
    o.array(name)?
        .into_iter()
        .map(|(path, v)| {
            let u = Obj::new(v, path)?;
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

//! Apple's documented objects as field lists, written from `shared/apple-api.md` alone (the
//! section is named on each shape), and the check that refuses anything else: an unknown
//! field, a missing required one, a wrong type or a value outside the documented set.
//!
//! - `api`: the answers of the endpoints (§3–§10).
//! - `notifications`: the notification envelope and payloads (§5).

mod api;
mod notifications;

use serde_json::Value;

pub use api::*;
pub use notifications::*;

/// What a field's value must be.
pub enum Kind {
    /// A string.
    Str,
    /// A string that is not empty.
    NonEmpty,
    /// An int32 (apple-api.md writes `int32` for every count and index).
    Int,
    /// A boolean.
    Bool,
    /// An ISO-8601 date with a `+0000`-style offset (§2: `%Y-%m-%dT%H:%M:%S%z`).
    Date,
    /// One of the documented strings.
    OneOf(&'static [&'static str]),
    /// A list of values of one kind.
    List(&'static Kind),
    /// A documented object.
    Obj(&'static Shape),
    /// An object with any keys, values of one kind (`limits`, `urls`: §3).
    Map(&'static Kind),
    /// Any JSON object (a notification payload, checked by its type's own shape).
    AnyObj,
}

/// One documented field.
pub struct Field {
    /// The field's wire name.
    pub name: &'static str,
    /// Its value.
    pub kind: Kind,
    /// Whether every answer must carry it.
    pub required: bool,
}

/// One documented object: its fields, plus the common and page fields where Apple lists them.
pub struct Shape {
    /// Apple's name of the object.
    pub name: &'static str,
    /// Its own fields.
    pub fields: &'static [Field],
    /// `uId`, `tokenExpirationDate`, `mdmInfo` (§2, §4.3).
    pub common: bool,
    /// `currentPageIndex`, `nextPageIndex`, `size`, `totalPages`, `versionId` (§6, §7).
    pub paged: bool,
}

pub(crate) const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

pub(crate) const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

/// Every way `value` departs from `shape`, each naming the field by its path.
pub fn violations(value: &Value, shape: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    check_obj(value, shape, shape.name, &mut out);
    out
}

fn check_obj(value: &Value, shape: &Shape, path: &str, out: &mut Vec<String>) {
    let Some(map) = value.as_object() else {
        out.push(format!(
            "{path}: expected a {} object, got {value}",
            shape.name
        ));
        return;
    };
    let groups = [
        Some(shape.fields),
        shape.common.then_some(api::COMMON),
        shape.paged.then_some(api::PAGE),
    ];
    let fields: Vec<&Field> = groups.into_iter().flatten().flatten().collect();
    for key in map.keys() {
        if !fields.iter().any(|f| f.name == key) {
            out.push(format!(
                "{path}.{key}: not a documented field of {}",
                shape.name
            ));
        }
    }
    for field in fields {
        let at = format!("{path}.{}", field.name);
        match map.get(field.name) {
            None if field.required => out.push(format!("{at}: required, missing")),
            None => {}
            Some(v) => check_kind(v, &field.kind, &at, out),
        }
    }
}

fn check_kind(value: &Value, kind: &Kind, path: &str, out: &mut Vec<String>) {
    let ok = match kind {
        Kind::Str => value.is_string(),
        Kind::NonEmpty => value.as_str().is_some_and(|s| !s.is_empty()),
        Kind::Int => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Kind::Bool => value.is_boolean(),
        Kind::Date => value.as_str().is_some_and(apple_date),
        Kind::OneOf(allowed) => value.as_str().is_some_and(|s| allowed.contains(&s)),
        Kind::AnyObj => value.is_object(),
        Kind::Obj(shape) => {
            check_obj(value, shape, path, out);
            true
        }
        Kind::List(item) => match value.as_array() {
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    check_kind(v, item, &format!("{path}[{i}]"), out);
                }
                true
            }
            None => false,
        },
        Kind::Map(item) => match value.as_object() {
            Some(map) => {
                for (k, v) in map {
                    check_kind(v, item, &format!("{path}.{k}"), out);
                }
                true
            }
            None => false,
        },
    };
    if !ok {
        out.push(format!("{path}: {value} is not {}", describe(kind)));
    }
}

/// `2030-11-08T22:33:22+0000`: parses with `%z` and the offset has no colon (§2).
fn apple_date(s: &str) -> bool {
    let offset = s.get(s.len().saturating_sub(5)..).unwrap_or_default();
    let sign_then_digits = offset.starts_with(['+', '-'])
        && offset.len() == 5
        && offset[1..].chars().all(|c| c.is_ascii_digit());
    sign_then_digits && chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z").is_ok()
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Str => "a string".into(),
        Kind::NonEmpty => "a non-empty string".into(),
        Kind::Int => "an int32".into(),
        Kind::Bool => "a boolean".into(),
        Kind::Date => "a date like 2030-11-08T22:33:22+0000".into(),
        Kind::OneOf(allowed) => format!("one of {allowed:?}"),
        Kind::List(_) => "a list".into(),
        Kind::Map(_) | Kind::AnyObj | Kind::Obj(_) => "an object".into(),
    }
}

//! Typed reads of one JSON object's fields, each failure naming the field's full path.

use serde_json::{Map, Value};

use super::IngestError;

/// `a string`, `a number`, ... for messages.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One JSON object and its path (`notification`, `notification.assignments[2]`).
pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// Reads `v` as an object at `path`.
    pub(super) fn new(v: &'a Value, path: impl Into<String>) -> Result<Self, IngestError> {
        let path = path.into();
        match v {
            Value::Object(map) => Ok(Obj { map, path }),
            other => Err(IngestError::field(
                path,
                format!("must be an object, not {}", type_name(other)),
            )),
        }
    }

    pub(super) fn path_of(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    /// The field, treating `null` as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn wrong(&self, name: &str, expected: &str, got: &Value) -> IngestError {
        IngestError::field(
            self.path_of(name),
            format!("must be {expected}, not {}", type_name(got)),
        )
    }

    fn missing(&self, name: &str) -> IngestError {
        IngestError::field(self.path_of(name), "is missing")
    }

    /// A required string.
    pub(super) fn string(&self, name: &str) -> Result<String, IngestError> {
        self.opt_string(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional string.
    pub(super) fn opt_string(&self, name: &str) -> Result<Option<String>, IngestError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    /// An optional boolean.
    pub(super) fn opt_bool(&self, name: &str) -> Result<Option<bool>, IngestError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(name, "a boolean", other)),
        }
    }

    /// A required integer that fits an i64.
    pub(super) fn i64(&self, name: &str) -> Result<i64, IngestError> {
        match self.get(name) {
            None => Err(self.missing(name)),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                IngestError::field(
                    self.path_of(name),
                    format!("must be an integer between {} and {}", i64::MIN, i64::MAX),
                )
            }),
            Some(other) => Err(self.wrong(name, "an integer", other)),
        }
    }

    /// A required integer that fits an i32.
    pub(super) fn i32(&self, name: &str) -> Result<i32, IngestError> {
        let n = self.i64(name)?;
        i32::try_from(n).map_err(|_| {
            IngestError::field(
                self.path_of(name),
                format!("must be an integer between {} and {}", i32::MIN, i32::MAX),
            )
        })
    }

    /// A product id: a non-empty string or a non-negative integer, returned as a string.
    pub(super) fn adam_id(&self, name: &str) -> Result<String, IngestError> {
        self.opt_adam_id(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional product id (see [`Obj::adam_id`]).
    pub(super) fn opt_adam_id(&self, name: &str) -> Result<Option<String>, IngestError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(Value::String(_)) => {
                Err(IngestError::field(self.path_of(name), "must not be empty"))
            }
            Some(Value::Number(n)) => n.as_u64().map(|n| Some(n.to_string())).ok_or_else(|| {
                IngestError::field(
                    self.path_of(name),
                    "must be a string or a non-negative integer below 2^64",
                )
            }),
            Some(other) => Err(self.wrong(name, "a string or an integer", other)),
        }
    }

    /// An optional array (absent: empty), each element with its path.
    pub(super) fn array(&self, name: &str) -> Result<Vec<(String, &'a Value)>, IngestError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", self.path_of(name)), v))
                .collect()),
            Some(other) => Err(self.wrong(name, "an array", other)),
        }
    }

    /// An optional value of any JSON type.
    pub(super) fn value(&self, name: &str) -> Option<&'a Value> {
        self.get(name)
    }
}

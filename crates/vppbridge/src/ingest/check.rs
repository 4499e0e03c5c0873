//! Structural checks on the raw body before it is read as Apple's envelope: UTF-8, nesting depth,
//! duplicate keys. serde_json alone would keep the last of two equal keys silently and only stop
//! at a recursion depth of 128; both would let a crafted body mean something else to a consumer
//! than to vppbridge.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::IngestError;

/// The deepest JSON nesting accepted. Apple's notifications nest four levels
/// (`notification.assignments[i].adamId`); 32 leaves room for unknown types.
pub const MAX_DEPTH: usize = 32;

/// Checks that `bytes` are UTF-8 JSON with no object nested deeper than [`MAX_DEPTH`] and no
/// duplicate key in any object. Returns the text.
pub(super) fn check(bytes: &[u8]) -> Result<&str, IngestError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        IngestError::body(format!(
            "the body is not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    // Our own depth limit is lower than serde_json's, which is then never reached.
    Walk {
        depth: 0,
        path: String::new(),
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| IngestError::body(format!("the body is not acceptable JSON: {e}")))?;
    Ok(text)
}

/// Walks every value, tracking depth and the JSON path for messages.
struct Walk {
    depth: usize,
    path: String,
}

impl Walk {
    fn child(&self, segment: &str) -> Result<Walk, String> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(format!(
                "nesting deeper than {MAX_DEPTH} levels at `{}`",
                self.shown()
            ));
        }
        Ok(Walk {
            depth,
            path: format!("{}{segment}", self.path),
        })
    }

    fn shown(&self) -> &str {
        if self.path.is_empty() {
            "(top level)"
        } else {
            &self.path
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let child = self.child(&format!("[{i}]")).map_err(de::Error::custom)?;
            if seq.next_element_seed(child)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let sep = if self.path.is_empty() { "" } else { "." };
            let child = self
                .child(&format!("{sep}{key}"))
                .map_err(de::Error::custom)?;
            if !seen.insert(key) {
                return Err(de::Error::custom(format!("duplicate key `{}`", child.path)));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

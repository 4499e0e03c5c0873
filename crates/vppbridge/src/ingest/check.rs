//! Structural checks on the raw body before it is read as Apple's envelope: UTF-8, nesting depth,
//! duplicate keys. serde_json alone would keep the last of two equal keys silently and only stop
//! at a recursion depth of 128; both would let a crafted body mean something else to a consumer
//! than to vppbridge.
//!
//! Every body is walked once by [`Fast`], which keeps no JSON path and borrows object keys from
//! the body; only a body it refuses is walked again by [`Walk`], which tracks the path of every
//! value, to say where the problem is. Both refuse exactly the same bodies.

use std::borrow::Cow;
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
    let fast = Fast { depth: 0 }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match fast {
        Ok(()) => Ok(text),
        Err(fast) => Err(explain(text).unwrap_or(fast)),
    }
    .map_err(|e| IngestError::body(format!("the body is not acceptable JSON: {e}")))?;
    Ok(text)
}

/// The error of a body [`Fast`] refused, with the JSON path where it can (None if [`Walk`]
/// accepts it, which would be a bug: both apply the same rules).
fn explain(text: &str) -> Option<serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    Walk {
        depth: 0,
        path: String::new(),
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .err()
}

/// Walks every value, tracking only the depth; object keys are borrowed from the body unless
/// they hold escapes.
struct Fast {
    depth: usize,
}

impl Fast {
    fn child(&self) -> Result<Fast, &'static str> {
        if self.depth + 1 > MAX_DEPTH {
            return Err("nesting too deep");
        }
        Ok(Fast {
            depth: self.depth + 1,
        })
    }
}

/// Objects with up to this many keys are checked for duplicates by comparing with each earlier
/// key (Apple's have fewer than ten); larger ones use a hash set.
const LINEAR_KEYS: usize = 16;

impl<'de> DeserializeSeed<'de> for Fast {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fast {
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
        // As in `Walk`: the depth is checked before looking for the first element.
        let child = self.child().map_err(de::Error::custom)?;
        while seq
            .next_element_seed(Fast { depth: child.depth })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let child = self.child().map_err(de::Error::custom)?;
            let duplicate = if keys.len() < LINEAR_KEYS {
                let d = keys.contains(&key);
                keys.push(key);
                d
            } else {
                if many.is_empty() {
                    many.extend(keys.iter().cloned());
                }
                !many.insert(key)
            };
            if duplicate {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the body when it holds no escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Walks every value, tracking depth and the JSON path for messages (only for refused bodies).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether [`Walk`] alone (the walk every body went through before [`Fast`]) accepts `text`.
    fn walk_accepts(text: &str) -> bool {
        explain(text).is_none()
    }

    #[test]
    fn the_fast_walk_refuses_exactly_what_the_explaining_walk_refuses() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let deep_empty = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deep_obj = |n: usize| format!("{}{}", r#"{"k":"#.repeat(n), "}".repeat(n));
        let many: String = (0..40).map(|i| format!(r#""k{i}":{i},"#)).collect();
        let cases = [
            r#"{"a":1,"b":[1,2,{"c":null}]}"#.to_owned(),
            r#"{"a":1,"a":2}"#.to_owned(),
            r#"{"ab":1,"a\u0062":2}"#.to_owned(),
            r#"{"x":{"a":1,"b":2,"a":3}}"#.to_owned(),
            format!("{{{many}\"k39\":0}}"),
            format!("{{{many}\"k40\":0}}"),
            deep(MAX_DEPTH),
            deep(MAX_DEPTH + 1),
            deep_empty(MAX_DEPTH),
            deep_empty(MAX_DEPTH + 1),
            deep_obj(MAX_DEPTH),
            deep_obj(MAX_DEPTH + 1),
            r#"{"a":1} x"#.to_owned(),
            r#"{"a":"#.to_owned(),
            "[1,2,]".to_owned(),
            "\"text\"".to_owned(),
        ];
        for text in &cases {
            let fast = check(text.as_bytes()).is_ok();
            assert_eq!(fast, walk_accepts(text), "{text}");
        }
        let e = check(br#"{"x":{"a":1,"a":2}}"#).unwrap_err();
        assert!(e.detail.contains("duplicate key `x.a`"), "{e}");
    }
}

//! What a view write records beside the value, in the headers of the key's message (the value's
//! JSON is untouched, so consumers reading the buckets see what they always saw):
//!
//! - `Vpp-Cause`: the cause label of the write (`notification:<id>` or `sync:<id>`);
//! - `Vpp-Prev-Revision`: the revision the write replaced (0: the key did not exist);
//! - `Vpp-Old`: the value it replaced (Base64 of its JSON; absent when there was none);
//! - `Vpp-Written-At`: when it was written (Unix seconds);
//! - `Vpp-Applied`: the notifications whose count deltas this asset value already holds (the
//!   last [`MAX_APPLIED`], comma separated), carried forward by every later write of the key.
//!
//! With these, a write is self-describing: a worker that crashed after the write and before
//! publishing its change event finds, on redelivery, the value written *by this cause* and can
//! publish the very same event again (same deterministic id); and a count delta is recognised as
//! already applied. All of it is written in the same compare-and-set as the value.

use async_nats::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

/// Header: the cause label of the write.
pub const CAUSE: &str = "Vpp-Cause";
/// Header: the revision the write replaced.
pub const PREV_REVISION: &str = "Vpp-Prev-Revision";
/// Header: the value the write replaced (Base64).
pub const OLD: &str = "Vpp-Old";
/// Header: when the write was made (Unix seconds).
pub const WRITTEN_AT: &str = "Vpp-Written-At";
/// Header: notification ids whose count deltas the value holds.
pub const APPLIED: &str = "Vpp-Applied";
/// How many applied notification ids an asset keeps. A redelivery of a notification whose id
/// fell off (more than this many deltas on the same asset in between) would apply it again;
/// redeliveries come within minutes, far fewer deltas than that.
pub const MAX_APPLIED: usize = 64;

/// What a write recorded about itself (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteMeta {
    /// The cause label of the write (`None`: written by an older vppbridge or by hand).
    pub cause: Option<String>,
    /// The revision it replaced.
    pub prev_revision: u64,
    /// The value it replaced.
    pub old: Option<Bytes>,
    /// Notification ids whose count deltas the value holds, oldest first.
    pub applied: Vec<String>,
    /// When the write was made (Unix seconds; 0: unknown).
    pub written_at: i64,
}

impl WriteMeta {
    /// Reads the meta of a stored message (absent headers read as empty).
    pub fn from_headers(h: Option<&HeaderMap>) -> Self {
        let Some(h) = h else {
            return WriteMeta::default();
        };
        let get = |name: &str| h.get(name).map(|v| v.as_str().to_owned());
        WriteMeta {
            cause: get(CAUSE),
            prev_revision: get(PREV_REVISION).and_then(|s| s.parse().ok()).unwrap_or(0),
            old: get(OLD)
                .and_then(|s| STANDARD.decode(s).ok())
                .map(Bytes::from),
            applied: get(APPLIED)
                .map(|s| {
                    s.split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            written_at: get(WRITTEN_AT).and_then(|s| s.parse().ok()).unwrap_or(0),
        }
    }

    /// Adds the meta headers to `h`.
    pub fn to_headers(&self, h: &mut HeaderMap) {
        if let Some(c) = &self.cause {
            h.insert(CAUSE, header_safe(c).as_str());
        }
        h.insert(PREV_REVISION, self.prev_revision.to_string().as_str());
        if let Some(old) = &self.old {
            h.insert(OLD, STANDARD.encode(old).as_str());
        }
        if !self.applied.is_empty() {
            h.insert(APPLIED, self.applied.join(",").as_str());
        }
        if self.written_at > 0 {
            h.insert(WRITTEN_AT, self.written_at.to_string().as_str());
        }
    }

    /// Whether the write was made less than `window` ago (so an event published again now
    /// would still be recognised as a duplicate by a stream with that duplicate window).
    pub fn written_within(&self, window: std::time::Duration) -> bool {
        let age = chrono::Utc::now().timestamp() - self.written_at;
        self.written_at > 0 && age < i64::try_from(window.as_secs()).unwrap_or(i64::MAX)
    }

    /// Whether the count delta of notification `id` is already in the value.
    pub fn has_applied(&self, id: &str) -> bool {
        self.applied.iter().any(|a| a == id)
    }

    /// The applied list with `id` added (the oldest dropped beyond [`MAX_APPLIED`]). Ids with a
    /// comma or a line break cannot be recorded and are left out.
    pub fn applied_with(&self, id: &str) -> Vec<String> {
        let mut v = self.applied.clone();
        if !id.contains([',', '\r', '\n']) && !self.has_applied(id) {
            v.push(id.to_owned());
        }
        let extra = v.len().saturating_sub(MAX_APPLIED);
        v.drain(..extra);
        v
    }
}

/// A header value without line breaks (a cause label is an id from Apple or a run id).
fn header_safe(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_survives_its_headers() {
        let m = WriteMeta {
            cause: Some("notification:n-1".into()),
            prev_revision: 42,
            old: Some(Bytes::from_static(b"{\"a\":\"\xc3\xa9\"}")),
            applied: vec!["n-0".into(), "n-1".into()],
            written_at: chrono::Utc::now().timestamp(),
        };
        let mut h = HeaderMap::new();
        m.to_headers(&mut h);
        assert_eq!(WriteMeta::from_headers(Some(&h)), m);
        assert_eq!(WriteMeta::from_headers(None), WriteMeta::default());
        assert!(m.written_within(std::time::Duration::from_secs(60)));
        assert!(!WriteMeta::default().written_within(std::time::Duration::from_secs(60)));
    }

    #[test]
    fn the_applied_list_keeps_the_last_ids_and_no_duplicates() {
        let mut m = WriteMeta::default();
        for i in 0..MAX_APPLIED + 5 {
            m.applied = m.applied_with(&format!("n-{i}"));
        }
        assert_eq!(m.applied.len(), MAX_APPLIED);
        assert!(!m.has_applied("n-4") && m.has_applied("n-5"));
        assert_eq!(m.applied_with("n-5"), m.applied);
        assert_eq!(m.applied_with("a,b"), m.applied);
    }
}

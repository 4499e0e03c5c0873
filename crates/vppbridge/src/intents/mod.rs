//! Declarative licensing: the MDM says which devices and users should hold which licenses (the
//! `vpp-desired` bucket), and each location's converger makes Apple agree.
//!
//! # Buckets
//!
//! - `vpp-desired`: owned by the MDM (or `vppbridge assign|unassign`); the same keys as
//!   `vpp-assignments` ([`crate::view::keys::assignment_key`]); values
//!   [`DesiredValue`](crate::events::intents::DesiredValue). vppbridge never writes it, so the
//!   MDM's compare-and-set writes never race vppbridge's bookkeeping.
//! - `vpp-intents`: owned by vppbridge; one [`IntentRecord`](crate::events::intents::IntentRecord)
//!   per managed key, naming the desired revision it is about (a newer desired value makes the
//!   key `pending` again: the later intent wins).
//! - `vpp-intent-requests`: one [`track::RequestRecord`] per Apple write in flight
//!   (`<location>.<request id>`): the assets and targets it carries, `submitting` before the
//!   POST, then Apple's `eventId`. A key it covers is never planned again until it is resolved.
//!
//! # Modules
//!
//! - this file: [`Pair`], [`Target`], [`Action`], key ↔ pair.
//! - [`plan`]: pure: desired vs the view → outcomes to record and pairs to send;
//!   [`plan::batch`] groups pairs into as few requests as Apple's limits allow.
//! - [`store`]: reads and writes of the three buckets.
//! - [`track`]: the request records and how an outcome is read (view, Event Status).
//! - [`converge`]: the per-location loop the worker spawns, and the reader of the location's
//!   ASSET_MANAGEMENT notifications whose pieces settle requests by `eventId`.
//! - [`cli`]: `vppbridge assign|unassign|intents|plan`.
//! - [`lines`]: the JSON-lines files of `assign|unassign` and `users apply`.
//! - [`users`]: declarative managed users (`vpp-desired-users`), with their own converger.
//! - [`revoke`]: `vppbridge revoke`, answered by the worker through the location's client.
//! - [`reply`]: the same writes as a NATS request on `vppbridge.desired.<location>.<verb>`.
//!
//! Depends on `location`, `view` (read only), `events`, `config`, `nats`, and the worker's
//! verifier (Apple's truth read into the view when Event Status cannot say); nothing depends on
//! it but `worker` (one spawn) and `cli`.

pub mod cli;
pub mod converge;
pub mod lines;
pub mod plan;
pub mod reply;
pub mod revoke;
pub mod store;
pub mod track;
pub mod users;

use serde::{Deserialize, Serialize};

use crate::events::notification::AssignmentRef;
use crate::view::keys::{KeyError, assignment_key, decode_id};

/// A license target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A device serial number.
    Serial(String),
    /// A client user id.
    User(String),
}

/// One (asset, target) pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pair {
    /// Product id.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
    /// The device or user.
    pub target: Target,
}

impl Pair {
    /// The view's form of the pair.
    pub fn assignment(&self) -> AssignmentRef {
        let (serial_number, client_user_id) = match &self.target {
            Target::Serial(s) => (Some(s.clone()), None),
            Target::User(u) => (None, Some(u.clone())),
        };
        AssignmentRef {
            adam_id: self.adam_id.clone(),
            pricing_param: self.pricing_param.clone(),
            serial_number,
            client_user_id,
        }
    }

    /// The key in `vpp-desired`, `vpp-intents` and `vpp-assignments`.
    ///
    /// # Errors
    /// When a part cannot be a key token.
    pub fn key(&self, location: &str) -> Result<String, KeyError> {
        assignment_key(location, &self.assignment())
    }

    /// Parses a key of `location` back into its pair (`None`: not an assignment key).
    pub fn from_key(location: &str, key: &str) -> Option<Pair> {
        let rest = key.strip_prefix(location)?.strip_prefix('.')?;
        let mut parts = rest.splitn(4, '.');
        let (adam_id, pricing_param, kind, id) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let id = decode_id(id)?;
        let target = match kind {
            "d" => Target::Serial(id),
            "u" => Target::User(id),
            _ => return None,
        };
        Some(Pair {
            adam_id: adam_id.to_owned(),
            pricing_param: pricing_param.to_owned(),
            target,
        })
    }
}

/// Which Apple write a pair needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `POST assets/associate`.
    Associate,
    /// `POST assets/disassociate`.
    Disassociate,
}

impl Action {
    /// `associate` or `disassociate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Associate => "associate",
            Action::Disassociate => "disassociate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_survives_its_key() {
        for target in [
            Target::Serial("C02.X Y".into()),
            Target::User("user>*1".into()),
        ] {
            let p = Pair {
                adam_id: "408709785".into(),
                pricing_param: "STDQ".into(),
                target,
            };
            let key = p.key("school").unwrap();
            assert_eq!(Pair::from_key("school", &key), Some(p));
            assert_eq!(Pair::from_key("other", &key), None);
        }
        assert_eq!(Pair::from_key("school", "school.1.STDQ.x.QQ"), None);
    }
}

//! The Apple calls a sync made, read from the simulator's request log and sorted by what they
//! read: Get Assets pages, assignment pages (all, or since a version), the re-reads of single
//! assets (the incremental sync's recount), Get Users pages.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

use super::get_json;
use crate::demo::env::DemoEnv;

/// One line of the simulator's request log, as far as the demo reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppleCall {
    /// HTTP method.
    pub method: String,
    /// Path (`/mdm/v2/assets`...).
    pub path: String,
    /// Query string, when there was one.
    #[serde(default)]
    pub query: Option<String>,
}

/// Every Apple call in the simulator's request log, oldest first.
///
/// # Errors
/// When the admin API does not answer.
pub async fn apple_calls(env: &DemoEnv) -> anyhow::Result<Vec<AppleCall>> {
    get_json(&env.http, &format!("{}requests", env.admin_url)).await
}

/// The Apple calls of one sync, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCalls {
    /// Get Assets pages.
    pub asset_pages: u64,
    /// Get Assignments pages of the whole location (full, or since a version).
    pub assignment_pages: u64,
    /// Get Assignments pages filtered to one asset (the recount's re-reads).
    pub reread_pages: u64,
    /// Distinct assets re-read.
    pub reread_assets: u64,
    /// Get Users pages.
    pub user_pages: u64,
    /// Anything else.
    pub other: u64,
}

impl SyncCalls {
    /// Sorts `calls` (one sync's).
    pub fn classify(calls: &[AppleCall]) -> Self {
        let mut out = SyncCalls::default();
        let mut reread = BTreeSet::new();
        for c in calls {
            let query = c.query.as_deref().unwrap_or("");
            let asset = query.split('&').find_map(|kv| kv.strip_prefix("adamId="));
            match (c.method.as_str(), c.path.as_str(), asset) {
                ("GET", "/mdm/v2/assets", _) => out.asset_pages += 1,
                ("GET", "/mdm/v2/assignments", Some(adam)) => {
                    out.reread_pages += 1;
                    reread.insert(adam.to_owned());
                }
                ("GET", "/mdm/v2/assignments", None) => out.assignment_pages += 1,
                ("GET", "/mdm/v2/users", _) => out.user_pages += 1,
                _ => out.other += 1,
            }
        }
        out.reread_assets = reread.len() as u64;
        out
    }

    /// Every call.
    pub fn total(&self) -> u64 {
        self.asset_pages + self.assignment_pages + self.reread_pages + self.user_pages + self.other
    }
}

impl fmt::Display for SyncCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} Apple calls: {} Get Assets page(s), {} assignment page(s), {} re-read page(s) of {} asset(s), {} user page(s)",
            self.total(),
            self.asset_pages,
            self.assignment_pages,
            self.reread_pages,
            self.reread_assets,
            self.user_pages
        )?;
        if self.other > 0 {
            write!(f, ", {} other", self.other)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, path: &str, query: Option<&str>) -> AppleCall {
        AppleCall {
            method: method.into(),
            path: path.into(),
            query: query.map(Into::into),
        }
    }

    #[test]
    fn a_syncs_calls_are_sorted_by_what_they_read() {
        let calls = [
            call("GET", "/mdm/v2/assets", None),
            call("GET", "/mdm/v2/assets", Some("pageIndex=1")),
            call("GET", "/mdm/v2/assignments", Some("sinceVersionId=v9")),
            call(
                "GET",
                "/mdm/v2/assignments",
                Some("adamId=100000001&pageIndex=0"),
            ),
            call(
                "GET",
                "/mdm/v2/assignments",
                Some("pageIndex=1&adamId=100000001"),
            ),
            call("GET", "/mdm/v2/assignments", Some("adamId=100000002")),
            call("GET", "/mdm/v2/users", Some("sinceVersionId=u3")),
            call("GET", "/mdm/v2/client/config", None),
        ];
        let c = SyncCalls::classify(&calls);
        assert_eq!(
            c,
            SyncCalls {
                asset_pages: 2,
                assignment_pages: 1,
                reread_pages: 3,
                reread_assets: 2,
                user_pages: 1,
                other: 1,
            }
        );
        assert_eq!(c.total(), 8);
        assert!(
            c.to_string()
                .starts_with("8 Apple calls: 2 Get Assets page(s)"),
            "{c}"
        );
    }
}

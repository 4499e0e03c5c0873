use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;

use super::*;
use crate::types::{GetUsersResponse, PageInfo, ResponseUser};

fn page(index: u32, total: u32, version: &str, users: &[&str]) -> GetUsersResponse {
    GetUsersResponse {
        users: users
            .iter()
            .map(|u| ResponseUser {
                client_user_id: (*u).into(),
                ..Default::default()
            })
            .collect(),
        page: PageInfo {
            current_page_index: index,
            next_page_index: (index + 1 < total).then_some(index + 1),
            size: users.len() as u32,
            total_pages: total,
            version_id: Some(version.into()),
        },
        common: Common::default(),
    }
}

/// What a stream of events looked like: `p<index>` for a page, `restart<n>` for a restart.
async fn events<F, Fut>(pages: Pages<F, Fut, GetUsersResponse>) -> Vec<String>
where
    F: Fn(Option<u32>) -> Fut,
    Fut: Future<Output = Result<GetUsersResponse, AppleError>>,
{
    pages
        .map(|e| match e {
            Ok(Event::Page(p)) => format!("p{}", p.page.current_page_index),
            Ok(Event::Restart { restart, .. }) => format!("restart{restart}"),
            Err(e) => format!("error: {e}"),
        })
        .collect()
        .await
}

#[tokio::test]
async fn pages_are_read_in_order_with_at_most_five_in_flight() {
    let in_flight = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let got = collect("users", |i: Option<u32>| {
        let (in_flight, peak) = (&in_flight, &peak);
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let i = i.unwrap_or(0);
            Ok(page(i, 12, "v1", &[&format!("u{i}")]))
        }
    })
    .await
    .unwrap();
    let ids: Vec<String> = got.items.iter().map(|u| u.client_user_id.clone()).collect();
    assert_eq!(ids, (0..12).map(|i| format!("u{i}")).collect::<Vec<_>>());
    assert_eq!(got.pages, 12);
    assert!(peak.load(Ordering::SeqCst) <= MAX_IN_FLIGHT);
}

#[tokio::test]
async fn a_dataset_that_keeps_changing_is_read_after_bounded_restarts() {
    let calls = Mutex::new(0u32);
    let got = collect("users", |i: Option<u32>| {
        let n = {
            let mut c = calls.lock().unwrap();
            *c += 1;
            *c
        };
        async move {
            let i = i.unwrap_or(0);
            // Every read sees a new version: the data never holds still.
            Ok(page(i, 2, &format!("v{n}"), &["x"]))
        }
    })
    .await
    .unwrap();
    // Three restarts of two pages each, then one last traversal of two pages.
    assert_eq!(got.pages, 8);
    assert_eq!(got.items.len(), 2);
    assert_eq!(got.version_id.as_deref(), Some("v7"));
}

#[tokio::test]
async fn a_growing_dataset_is_followed_past_the_first_total() {
    let got = collect("users", |i: Option<u32>| async move {
        let i = i.unwrap_or(0);
        // The first page says 2 pages; later pages say 4.
        let total = if i == 0 { 2 } else { 4 };
        Ok(page(i, total, "v", &["x"]))
    })
    .await
    .unwrap();
    assert_eq!(got.pages, 4);
}

#[tokio::test]
async fn a_version_change_midway_is_announced_and_the_stream_starts_again_from_page_zero() {
    let asked = Mutex::new(Vec::new());
    let stream = Pages::new("users", |i: Option<u32>| {
        let first_traversal = {
            let mut asked = asked.lock().unwrap();
            asked.push(i);
            asked.iter().filter(|i| i.is_none()).count() == 1
        };
        async move {
            let i = i.unwrap_or(0);
            // Page 2 of the first traversal already sees the next version.
            let version = if first_traversal && i < 2 { "v1" } else { "v2" };
            Ok(page(i, 4, version, &["x"]))
        }
    })
    .in_flight(1);
    assert_eq!(
        events(stream).await,
        ["p0", "p1", "restart1", "p0", "p1", "p2", "p3"]
    );
    let asked = asked.into_inner().unwrap();
    assert_eq!(
        asked,
        [None, Some(1), Some(2), None, Some(1), Some(2), Some(3)],
        "one request per event, the restart from the first page"
    );
}

#[tokio::test]
async fn a_restart_drops_what_the_abandoned_traversal_gathered() {
    let first_reads = AtomicUsize::new(0);
    let got = collect("users", |i: Option<u32>| {
        let traversal = if i.is_none() {
            first_reads.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            first_reads.load(Ordering::SeqCst)
        };
        async move {
            let i = i.unwrap_or(0);
            // The first traversal lists a user that is gone by the time page 1 is read.
            let (version, user) = match (traversal, i) {
                (1, 0) => ("v1", "ghost"),
                (1, _) => ("v2", "u1"),
                _ => ("v2", if i == 0 { "u0" } else { "u1" }),
            };
            Ok(page(i, 2, version, &[user]))
        }
    })
    .await
    .unwrap();
    let ids: Vec<&str> = got
        .items
        .iter()
        .map(|u| u.client_user_id.as_str())
        .collect();
    assert_eq!(ids, ["u0", "u1"]);
    assert_eq!(got.version_id.as_deref(), Some("v2"));
    assert_eq!(got.pages, 4, "the abandoned traversal's two requests count");
}

#[tokio::test]
async fn next_page_index_that_does_not_move_forward_ends_the_stream_with_an_error() {
    let stream = Pages::new("users", |i: Option<u32>| async move {
        let i = i.unwrap_or(0);
        let mut p = page(i, 1, "v", &["x"]);
        // Past the announced total, page 1 points back at itself.
        p.page.next_page_index = Some(1);
        Ok(p)
    });
    let got = events(stream).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[..2], ["p0", "p1"]);
    assert!(
        got[2].contains("nextPageIndex 1 does not move past page 1"),
        "{got:?}"
    );
}

#[tokio::test]
async fn in_flight_is_never_more_than_five_and_can_be_fewer() {
    for (asked, expected) in [(9, MAX_IN_FLIGHT), (2, 2), (0, 1)] {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let stream = Pages::new("users", |i: Option<u32>| {
            let (in_flight, peak) = (&in_flight, &peak);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok(page(i.unwrap_or(0), 20, "v", &["x"]))
            }
        })
        .in_flight(asked);
        assert_eq!(events(stream).await.len(), 20);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            expected,
            "in_flight({asked}) allows {expected} requests at once"
        );
    }
}

#[tokio::test]
async fn the_first_error_ends_the_stream() {
    let stream = Pages::new("users", |i: Option<u32>| async move {
        match i {
            Some(2) => Err(AppleError::Unexpected {
                status: 500,
                body_excerpt: "boom".into(),
            }),
            _ => Ok(page(i.unwrap_or(0), 5, "v", &["x"])),
        }
    })
    .in_flight(1);
    let got = events(stream).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[..2], ["p0", "p1"]);
    assert!(got[2].starts_with("error"), "{got:?}");
}

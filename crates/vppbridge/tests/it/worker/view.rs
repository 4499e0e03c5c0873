//! The view and the applier: idempotent writes, deterministic change ids, competing writers.

use super::support::*;
use async_nats::jetstream;
use vppbridge::events::changes::Cause;
use vppbridge::events::notification::AssignmentRef;
use vppbridge::view::{Bucket, keys};

#[tokio::test]
async fn applying_the_same_assignment_twice_writes_and_publishes_once() {
    let e = env().await;
    let a = applier(&e.js).await;
    let value = device("1", "S.1 *");
    let key = keys::assignment_key("school", &value).unwrap();
    let cause = Cause::notification("n-1");
    assert!(
        a.apply("school", Bucket::Assignments, &key, Some(&value), &cause)
            .await
            .unwrap()
    );
    assert!(
        !a.apply("school", Bucket::Assignments, &key, Some(&value), &cause)
            .await
            .unwrap()
    );
    let events = stream_json(&e.js, "VPP_CHANGES").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "vppbridge.assignment.added.v1");
    assert_eq!(events[0]["data"]["key"], key.as_str());
    assert_eq!(events[0]["data"]["old"], serde_json::Value::Null);
    assert_eq!(events[0]["data"]["new"]["serialNumber"], "S.1 *");
    assert_eq!(events[0]["data"]["cause"]["notificationId"], "n-1");

    assert!(
        a.apply::<AssignmentRef>("school", Bucket::Assignments, &key, None, &cause)
            .await
            .unwrap()
    );
    assert!(
        !a.apply::<AssignmentRef>("school", Bucket::Assignments, &key, None, &cause)
            .await
            .unwrap()
    );
    let events = stream_json(&e.js, "VPP_CHANGES").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["type"], "vppbridge.assignment.removed.v1");
    assert!(
        a.view()
            .live(Bucket::Assignments, "school")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn re_adding_a_removed_assignment_is_a_new_change_not_a_duplicate() {
    let e = env().await;
    let a = applier(&e.js).await;
    let value = device("1", "S1");
    let key = keys::assignment_key("school", &value).unwrap();
    let c = Cause::sync("run");
    a.apply("school", Bucket::Assignments, &key, Some(&value), &c)
        .await
        .unwrap();
    a.apply::<AssignmentRef>("school", Bucket::Assignments, &key, None, &c)
        .await
        .unwrap();
    a.apply("school", Bucket::Assignments, &key, Some(&value), &c)
        .await
        .unwrap();
    let types: Vec<String> = stream_json(&e.js, "VPP_CHANGES")
        .await
        .iter()
        .map(|v| v["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "vppbridge.assignment.added.v1",
            "vppbridge.assignment.removed.v1",
            "vppbridge.assignment.added.v1"
        ]
    );
}

#[tokio::test]
async fn a_crash_after_publishing_and_before_writing_is_redone_without_a_second_event() {
    let e = env().await;
    let a = applier(&e.js).await;
    let value = device("1", "S1");
    let key = keys::assignment_key("school", &value).unwrap();
    // What the first attempt published before it died: the same deterministic id.
    let id = vppbridge::changes::stable_id(&[
        "school",
        "vpp-assignments",
        &key,
        "0",
        &serde_json::to_string(&value).unwrap(),
    ]);
    a.publisher()
        .change(
            "school",
            vppbridge::events::changes::ChangeKind::AssignmentAdded,
            &id,
            None,
            serde_json::json!({"first": "attempt"}),
        )
        .await
        .unwrap();
    // The redelivery redoes it.
    assert!(
        a.apply(
            "school",
            Bucket::Assignments,
            &key,
            Some(&value),
            &Cause::notification("n")
        )
        .await
        .unwrap()
    );
    assert_eq!(stream_json(&e.js, "VPP_CHANGES").await.len(), 1);
    assert_eq!(
        a.view()
            .live(Bucket::Assignments, "school")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn two_appliers_racing_on_the_same_keys_write_each_once_and_publish_each_once() {
    let e = env().await;
    let c2 = async_nats::connect(e.server.url()).await.unwrap();
    let a1 = applier(&e.js).await;
    let a2 = applier(&jetstream::new(c2)).await;
    let items: Vec<(String, Option<AssignmentRef>)> = (0..200)
        .map(|i| {
            let v = device("7", &format!("S{i}"));
            (keys::assignment_key("school", &v).unwrap(), Some(v))
        })
        .collect();
    let (ca, cb) = (Cause::notification("a"), Cause::notification("b"));
    let (r1, r2) = tokio::join!(
        a1.apply_many("school", Bucket::Assignments, items.clone(), &ca),
        a2.apply_many("school", Bucket::Assignments, items.clone(), &cb),
    );
    let (n1, n2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(n1 + n2, 200, "each key written by exactly one of them");
    assert_eq!(stream_json(&e.js, "VPP_CHANGES").await.len(), 200);
    assert_eq!(
        a1.view()
            .live(Bucket::Assignments, "school.7")
            .await
            .unwrap()
            .len(),
        200
    );
}

#[tokio::test]
async fn a_slice_holds_only_the_live_keys_under_its_prefix() {
    let e = env().await;
    let a = applier(&e.js).await;
    let c = Cause::sync("r");
    for (adam, s) in [("1", "A"), ("1", "B"), ("12", "C"), ("2", "D")] {
        let v = device(adam, s);
        let k = keys::assignment_key("school", &v).unwrap();
        a.apply("school", Bucket::Assignments, &k, Some(&v), &c)
            .await
            .unwrap();
    }
    let gone = keys::assignment_key("school", &device("1", "B")).unwrap();
    a.apply::<AssignmentRef>("school", Bucket::Assignments, &gone, None, &c)
        .await
        .unwrap();
    let one = a
        .view()
        .live(Bucket::Assignments, "school.1.STDQ")
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(
        a.view()
            .live(Bucket::Assignments, "school")
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        a.view()
            .live(Bucket::Assignments, "other")
            .await
            .unwrap()
            .is_empty()
    );
    let listed = vppbridge::view::cli::list_assignments(
        a.view(),
        "school",
        &vppbridge::view::cli::AssignmentFilter {
            serial: Some("D".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed, vec![device("2", "D")]);
}

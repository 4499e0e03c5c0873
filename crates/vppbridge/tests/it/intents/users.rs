//! Declarative managed users and revocation end to end: a real nats-server, the simulator, the
//! worker with its convergers, and the `vppbridge users apply|assign|revoke` binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use apple_vpp::types::{Asset, ManageUsersRequest, RequestUser};
use vppbridge::events::intents::IntentState;
use vppbridge::intents::users::cli::{UserRow, list as list_users};
use vppbridge::intents::users::store::UserStore;

use super::{by_state, config_file, intents_harness, rows, seed, vppbridge};
use crate::worker::harness::*;
use crate::worker::support::*;

fn user(i: usize) -> String {
    format!("mdm-user-{i:03}")
}

/// Runs `vppbridge <args> --location school` with the harness's configuration.
async fn run(h: &Harness, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--config".to_owned(), config_file(h).display().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(["--location".to_owned(), "school".to_owned()]);
    vppbridge(all).await
}

/// Writes JSON lines to a file of the harness's directory.
fn lines_file(h: &Harness, name: &str, lines: &[serde_json::Value]) -> PathBuf {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let path = h.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn apply_users(h: &Harness, file: &std::path::Path) -> String {
    let (ok, out, err) = run(
        h,
        &["users", "apply", "--file", &file.display().to_string()],
    )
    .await;
    assert!(ok, "vppbridge users apply failed: {out}{err}");
    out
}

async fn user_rows(store: &UserStore) -> BTreeMap<String, UserRow> {
    list_users(store, "school")
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.client_user_id.clone(), r))
        .collect()
}

/// POSTs to `<path>` in the simulator's log.
fn posts_to(log: &[Logged], path: &str) -> usize {
    log.iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(path))
        .count()
}

/// The user intent events: (type, key).
async fn user_events(h: &Harness) -> Vec<(String, String)> {
    stream_json(&h.env.js, "VPP_INTENTS")
        .await
        .iter()
        .filter(|v| {
            v["type"]
                .as_str()
                .unwrap()
                .starts_with("vppbridge.user-intent.")
        })
        .map(|v| {
            (
                v["type"].as_str().unwrap().to_owned(),
                v["data"]["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The simulator's active users (not retired) by id, with their email.
async fn active_users(h: &Harness) -> BTreeMap<String, Option<String>> {
    h.truth()
        .await
        .users
        .into_iter()
        .filter(|u| u.status != "Retired")
        .map(|u| (u.client_user_id, u.email))
        .collect()
}

#[tokio::test]
async fn fifty_users_created_in_one_request_then_five_books_each_in_one_associate() {
    let h = intents_harness(seed(25, 10, Some(100))).await;
    let books: Vec<Asset> = h
        .truth()
        .await
        .assets
        .into_iter()
        .filter(|a| a.product_type == "Book")
        .map(|a| Asset {
            adam_id: a.adam_id,
            pricing_param: a.pricing_param,
        })
        .collect();
    assert_eq!(books.len(), 5, "the seed has 5 Books among 25 assets");
    let worker = h.worker().await;
    h.synced().await;
    h.clear_requests().await;
    let users = UserStore::open(&h.env.js).await.unwrap();

    let lines: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            let mut l = serde_json::json!({
                "clientUserId": user(i), "email": format!("{}@school.example", user(i)),
                "metadata": {"requestId": "users-1"}
            });
            if i % 10 == 0 {
                l["managedAppleId"] = format!("{}@managed.example", user(i)).into();
            }
            l
        })
        .collect();
    let file = lines_file(&h, "users.jsonl", &lines);
    let out = apply_users(&h, &file).await;
    assert!(out.contains("50 key(s) written"), "{out}");
    eventually(60, "every user applied", || async {
        let r = user_rows(&users).await;
        r.len() == 50 && r.values().all(|u| u.state == IntentState::Applied)
    })
    .await;
    let truth = active_users(&h).await;
    for i in 0..50 {
        assert_eq!(
            truth.get(&user(i)),
            Some(&Some(format!("{}@school.example", user(i)))),
            "{} at Apple",
            user(i)
        );
    }
    let associated: BTreeSet<String> = h
        .truth()
        .await
        .users
        .into_iter()
        .filter(|u| u.status == "Associated")
        .map(|u| u.client_user_id)
        .collect();
    assert!(
        (0..50).step_by(10).all(|i| associated.contains(&user(i))),
        "users with a managedAppleId are associated: {associated:?}"
    );
    let log = h.requests().await;
    assert_eq!(posts_to(&log, "users/create"), 1, "50 users ≤ maxUsers");
    assert_eq!(posts_to(&log, "users/update"), 0);
    let events = user_events(&h).await;
    assert_eq!(events.len(), 50, "one applied event per user: {events:?}");
    assert!(
        events
            .iter()
            .all(|(t, _)| t == "vppbridge.user-intent.applied.v1")
    );
    assert_eq!(
        events.iter().map(|(_, k)| k).collect::<BTreeSet<_>>().len(),
        50
    );

    // The same file again: nothing written, nothing sent.
    let out = apply_users(&h, &file).await;
    assert!(out.contains("0 key(s) written"), "{out}");

    // 5 Books × 50 users through `vppbridge assign`.
    h.clear_requests().await;
    let pairs: Vec<serde_json::Value> = books
        .iter()
        .flat_map(|b| {
            (0..50).map(move |i| {
                serde_json::json!({"adamId": b.adam_id.0, "pricingParam": b.pricing_param, "clientUserId": user(i)})
            })
        })
        .collect();
    let file = lines_file(&h, "books.jsonl", &pairs);
    let (ok, out, err) = run(&h, &["assign", "--file", &file.display().to_string()]).await;
    assert!(ok && out.contains("250 key(s) written"), "{out}{err}");
    let store = vppbridge::intents::store::Store::open(&h.env.js)
        .await
        .unwrap();
    eventually(60, "every Book intent applied", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&250)
    })
    .await;
    let truth: BTreeSet<(String, String)> = h
        .truth()
        .await
        .assignments
        .into_iter()
        .filter_map(|a| Some((a.adam_id.0, a.client_user_id?)))
        .collect();
    let desired: BTreeSet<(String, String)> = books
        .iter()
        .flat_map(|b| (0..50).map(move |i| (b.adam_id.0.clone(), user(i))))
        .collect();
    assert_eq!(truth, desired, "Apple's truth equals the desired state");
    let log = h.requests().await;
    let associates = posts_to(&log, "assets/associate");
    assert!(
        (1..=2).contains(&associates),
        "{associates} associate requests"
    );
    assert!(
        log.iter().all(|r| r.error_number != Some(9646)),
        "rate limited"
    );
    eprintln!("50 users: 1 users/create; 5 Books × 50 users: {associates} associate request(s)");
    worker.stop().await;
}

#[tokio::test]
async fn a_retire_and_an_email_change_through_users_apply_send_one_retire_and_one_update() {
    let h = intents_harness(seed(5, 5, None)).await;
    let worker = h.worker().await;
    h.synced().await;
    let users = UserStore::open(&h.env.js).await.unwrap();
    let first: Vec<serde_json::Value> = (0..3)
        .map(|i| serde_json::json!({"clientUserId": user(i), "email": format!("{}@a.example", user(i))}))
        .collect();
    apply_users(&h, &lines_file(&h, "first.jsonl", &first)).await;
    eventually(30, "three users applied", || async {
        let r = user_rows(&users).await;
        r.len() == 3 && r.values().all(|u| u.state == IntentState::Applied)
    })
    .await;
    h.clear_requests().await;

    let second = vec![
        serde_json::json!({"clientUserId": user(0), "retired": true}),
        serde_json::json!({"clientUserId": user(1), "email": "moved@b.example"}),
        serde_json::json!({"clientUserId": user(2), "email": format!("{}@a.example", user(2))}),
    ];
    let out = apply_users(&h, &lines_file(&h, "second.jsonl", &second)).await;
    assert!(out.contains("2 key(s) written"), "{out}");
    eventually(30, "the retire and the update applied", || async {
        let r = user_rows(&users).await;
        r.values().all(|u| u.state == IntentState::Applied)
            && r[&user(0)].desired.as_str() == "retired"
    })
    .await;
    let truth = active_users(&h).await;
    assert!(!truth.contains_key(&user(0)), "{} still active", user(0));
    assert_eq!(truth[&user(1)].as_deref(), Some("moved@b.example"));
    assert_eq!(truth[&user(2)], Some(format!("{}@a.example", user(2))));
    let log = h.requests().await;
    assert_eq!(posts_to(&log, "users/retire"), 1);
    assert_eq!(posts_to(&log, "users/update"), 1);
    assert_eq!(posts_to(&log, "users/create"), 0);
    let retired_events = user_events(&h)
        .await
        .into_iter()
        .filter(|(t, k)| {
            t == "vppbridge.user-intent.applied.v1"
                && k.ends_with(&vppbridge::view::keys::encode_id(&user(0)))
        })
        .count();
    assert_eq!(
        retired_events, 2,
        "one applied event for the creation, one for the retire"
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_user_apple_already_has_but_the_view_does_not_fails_with_9716_and_apples_message() {
    let h = intents_harness(seed(5, 5, None)).await;
    let worker = h.worker().await;
    h.synced().await;
    let users = UserStore::open(&h.env.js).await.unwrap();
    // Another client creates the user while notifications are lost: the view does not know it.
    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    let event = h
        .apple
        .create_users(&ManageUsersRequest {
            users: vec![RequestUser {
                client_user_id: "taken".into(),
                ..RequestUser::default()
            }],
        })
        .await
        .unwrap()
        .event_id;
    h.completed(&event).await;
    h.clear_requests().await;
    let file = lines_file(
        &h,
        "taken.jsonl",
        &[serde_json::json!({"clientUserId": "taken"})],
    );
    apply_users(&h, &file).await;
    eventually(30, "the user failed through Event Status", || async {
        user_rows(&users).await["taken"].state == IntentState::Failed
    })
    .await;
    let row = &user_rows(&users).await["taken"];
    assert_eq!(row.error_number, Some(9716));
    assert!(
        row.error_message
            .as_deref()
            .is_some_and(|m| m.contains("already exists")),
        "{row:?}"
    );
    assert!(row.event_id.is_some());
    let events = user_events(&h).await;
    assert_eq!(
        events,
        vec![(
            "vppbridge.user-intent.failed.v1".to_owned(),
            row.key.clone()
        )]
    );
    assert_eq!(posts_to(&h.requests().await, "users/create"), 1);

    // Failed stays failed until its desired value changes: a later pass creates another user
    // and sends nothing for this one.
    let file = lines_file(
        &h,
        "more.jsonl",
        &[
            serde_json::json!({"clientUserId": "taken"}),
            serde_json::json!({"clientUserId": "fresh"}),
        ],
    );
    apply_users(&h, &file).await;
    eventually(30, "the other user applied", || async {
        user_rows(&users).await["fresh"].state == IntentState::Applied
    })
    .await;
    assert_eq!(user_rows(&users).await["taken"].state, IntentState::Failed);
    assert_eq!(posts_to(&h.requests().await, "users/create"), 2);
    worker.stop().await;
}

#[tokio::test]
async fn revoking_a_serial_empties_its_assignments_and_prints_the_event_id() {
    let h = intents_harness(seed(5, 5, None)).await;
    let apps = h.apps().await;
    let worker = h.worker().await;
    h.synced().await;
    let event = h.associate(&apps, 3).await;
    h.completed(&event).await;
    let n = apps.len() * 3;
    h.assignments_become(n).await;
    h.clear_requests().await;

    let (ok, out, err) = run(&h, &["revoke", "--serial", "SIM000000001"]).await;
    assert!(ok, "vppbridge revoke failed: {out}{err}");
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 1, "{out}");
    h.completed(ids[0]).await;
    let left = h.truth().await.assignments;
    assert!(
        left.iter()
            .all(|a| a.serial_number.as_deref() != Some("SIM000000001")),
        "{left:?}"
    );
    assert_eq!(left.len(), n - apps.len(), "the other devices keep theirs");
    assert_eq!(posts_to(&h.requests().await, "assets/revoke"), 1);
    worker.stop().await;
}

#[tokio::test]
async fn an_invalid_users_line_is_reported_by_number_and_nothing_is_written() {
    let h = intents_harness(seed(5, 5, None)).await;
    let path = h.dir.path().join("bad-users.jsonl");
    std::fs::write(
        &path,
        "{\"clientUserId\": \"ok\"}\n{\"clientUserId\": \"x\", \"mail\": \"x@y.z\"}\n\n{\"clientUserId\": \"y\", \"email\": \"nope\"}\n",
    )
    .unwrap();
    let (ok, _, err) = run(
        &h,
        &["users", "apply", "--file", &path.display().to_string()],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("line 2:") && err.contains("line 4:"), "{err}");
    assert!(
        !err.contains("line 1:") && !err.contains("line 3:"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    let users = UserStore::open(&h.env.js).await.unwrap();
    assert!(users.desired("school").await.unwrap().is_empty());
}

#[tokio::test]
async fn with_every_notification_lost_a_created_users_later_changes_are_an_update_and_a_retire() {
    let h = intents_harness(seed(5, 5, None)).await;
    let worker = h.worker().await;
    h.synced().await;
    let users = UserStore::open(&h.env.js).await.unwrap();
    h.faults(serde_json::json!({"dropRate": 1.0})).await;
    h.clear_requests().await;
    let step = |name: &'static str, line: serde_json::Value| {
        let file = lines_file(&h, name, &[line]);
        let users = users.clone();
        let h = &h;
        async move {
            apply_users(h, &file).await;
            eventually(30, name, || async {
                user_rows(&users).await["lost"].state == IntentState::Applied
            })
            .await;
        }
    };
    step(
        "create.jsonl",
        serde_json::json!({"clientUserId": "lost", "email": "a@x.example"}),
    )
    .await;
    assert!(
        !h.view
            .live(vppbridge::view::Bucket::Users, "school")
            .await
            .unwrap()
            .contains_key(&vppbridge::view::keys::user_key("school", "lost").unwrap()),
        "the view heard of the user although every notification is dropped"
    );
    step(
        "email.jsonl",
        serde_json::json!({"clientUserId": "lost", "email": "b@x.example"}),
    )
    .await;
    assert_eq!(
        active_users(&h).await["lost"].as_deref(),
        Some("b@x.example")
    );
    step(
        "retire.jsonl",
        serde_json::json!({"clientUserId": "lost", "retired": true}),
    )
    .await;
    assert!(!active_users(&h).await.contains_key("lost"));
    let log = h.requests().await;
    let sent: Vec<usize> = ["users/create", "users/update", "users/retire"]
        .iter()
        .map(|p| posts_to(&log, p))
        .collect();
    assert_eq!(sent, vec![1, 1, 1], "create, update, retire");
    assert!(
        user_events(&h)
            .await
            .iter()
            .all(|(t, _)| t == "vppbridge.user-intent.applied.v1")
    );
    worker.stop().await;
}

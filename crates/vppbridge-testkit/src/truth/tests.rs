use super::compare::MAX_EXAMPLES;
use super::*;
use apple_vpp_types::{AdamId, Assignment, ResponseAsset, ResponseUser};

fn asset(id: &str, assigned: i64, total: i64) -> ResponseAsset {
    ResponseAsset {
        adam_id: AdamId(id.into()),
        pricing_param: "STDQ".into(),
        assigned_count: assigned,
        available_count: total - assigned,
        total_count: total,
        ..Default::default()
    }
}

fn device(id: &str, serial: &str) -> Assignment {
    Assignment {
        adam_id: AdamId(id.into()),
        pricing_param: "STDQ".into(),
        serial_number: Some(serial.into()),
        client_user_id: None,
        id_hash: None,
        user_status: None,
    }
}

fn user(id: &str, status: &str) -> ResponseUser {
    ResponseUser {
        client_user_id: id.into(),
        status: status.into(),
        ..Default::default()
    }
}

fn truth() -> SimState {
    SimState {
        u_id: "1".into(),
        assets: vec![asset("1", 2, 10), asset("2", 0, 5)],
        assignments: vec![device("1", "A"), device("1", "B")],
        users: vec![user("u1", "Registered"), user("u2", "Retired")],
        version_id: "v".into(),
    }
}

#[test]
fn a_view_holding_exactly_the_truth_matches() {
    let t = truth().snapshot(true);
    let c = compare(&t, &t);
    assert!(c.matches(), "{c}");
    assert_eq!(c.truth_sizes, (2, 2, 1));
    assert!(c.to_string().starts_with("the view equals"), "{c}");
}

#[test]
fn retired_users_are_expected_only_when_the_view_keeps_inactive_users() {
    assert!(!truth().snapshot(true).users.contains_key("u2"));
    assert_eq!(truth().snapshot(false).users["u2"], "Retired");
}

#[test]
fn an_active_user_wins_over_a_retired_record_with_the_same_id() {
    let mut t = truth();
    t.users = vec![user("u1", "Retired"), user("u1", "Associated")];
    assert_eq!(t.snapshot(false).users["u1"], "Associated");
    t.users.reverse();
    assert_eq!(t.snapshot(false).users["u1"], "Associated");
}

#[test]
fn every_kind_of_difference_is_counted_and_named() {
    let t = truth().snapshot(true);
    let mut v = t.clone();
    v.assets.insert(
        ("1".into(), "STDQ".into()),
        Counts::from(&asset("1", 1, 10)),
    );
    v.assets.remove(&("2".into(), "STDQ".into()));
    v.assets
        .insert(("3".into(), "STDQ".into()), Counts::from(&asset("3", 0, 1)));
    v.assignments
        .remove(&(("1".into(), "STDQ".into()), Target::Device("A".into())));
    v.assignments
        .insert((("1".into(), "STDQ".into()), Target::User("u1".into())));
    v.users.insert("u1".into(), "Associated".into());
    v.users.insert("u9".into(), "Registered".into());
    v.problems
        .push(Difference::Unreadable("vpp-users/x.y".into()));
    let c = compare(&v, &t);
    assert_eq!(c.differences, 8, "{c:?}");
    assert_eq!(c.examples.len(), MAX_EXAMPLES);
    let text = c.to_string();
    assert!(
        text.contains("differs from Apple's truth in 8 place(s)"),
        "{text}"
    );
    assert!(
        text.contains("vpp-users/x.y is not vppbridge's JSON"),
        "{text}"
    );
    assert!(
        text.contains("asset 1/STDQ: view assigned/available/total 1/9/10, Apple 2/8/10"),
        "{text}"
    );
}

#[test]
fn the_simulators_state_json_parses_into_the_truth() {
    let json = serde_json::json!({
        "uId": "42", "locationName": "x", "versionId": "7",
        "assets": [{"adamId": "1", "pricingParam": "STDQ", "productType": "App",
                    "assignedCount": 1, "availableCount": 0, "retiredCount": 0, "totalCount": 1,
                    "deviceAssignable": true, "revocable": true, "supportedPlatforms": []}],
        "assignments": [{"adamId": "1", "pricingParam": "STDQ", "serialNumber": "S"}],
        "users": [{"clientUserId": "u", "status": "Registered"}]
    });
    let s: SimState = serde_json::from_value(json).unwrap();
    let snap = s.snapshot(true);
    assert_eq!(snap.assets.len(), 1);
    assert!(
        snap.assignments
            .contains(&(("1".into(), "STDQ".into()), Target::Device("S".into())))
    );
    assert_eq!(snap.users["u"], "Registered");
}

#[test]
fn an_assignment_apple_lists_without_a_target_is_a_difference() {
    let mut t = truth();
    let mut untargeted = device("2", "");
    untargeted.serial_number = None;
    t.assignments.push(untargeted);
    let apple = t.snapshot(true);
    let view = truth().snapshot(true);
    assert_eq!(apple.assignments, view.assignments);
    let c = compare(&view, &apple);
    assert_eq!(c.differences, 1, "{c:?}");
    assert!(
        c.to_string().contains(
            "Apple lists an assignment of 2/STDQ with neither serialNumber nor clientUserId"
        ),
        "{c}"
    );
}

#[test]
fn a_misfiled_view_value_is_a_difference() {
    let t = truth().snapshot(true);
    let mut v = t.clone();
    v.problems.push(Difference::Misfiled {
        key: "vpp-assets/school.1.PLUS".into(),
        expected: "school.1.STDQ".into(),
    });
    let c = compare(&v, &t);
    assert_eq!(c.differences, 1, "{c:?}");
    assert!(
        c.to_string()
            .contains("vpp-assets/school.1.PLUS holds the value that belongs under school.1.STDQ"),
        "{c}"
    );
}

/// The view as a real nats-server holds it: a value under its own key, a value under another
/// key, a value that is not vppbridge's JSON, a deleted key and another location's key.
#[tokio::test]
async fn the_view_is_read_from_real_buckets_with_each_key_checked() {
    let nats = crate::natsproc::NatsServer::start()
        .await
        .expect("a nats-server (set VPPBRIDGE_NATS_SERVER)");
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut stores = Vec::new();
    for bucket in [ASSETS_BUCKET, ASSIGNMENTS_BUCKET, USERS_BUCKET] {
        let store = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: bucket.to_owned(),
                ..Default::default()
            })
            .await
            .expect("create the bucket");
        stores.push(store);
    }
    let asset = serde_json::json!({"adamId": "1", "pricingParam": "STDQ", "assignedCount": 2,
        "availableCount": 8, "retiredCount": 0, "totalCount": 10});
    let put = |i: usize, key: &str, value: &serde_json::Value| {
        let store = stores[i].clone();
        let (key, value) = (key.to_owned(), serde_json::to_vec(value).unwrap());
        async move { store.put(key, value.into()).await.expect("put") }
    };
    put(0, "school.1.STDQ", &asset).await;
    put(0, "other.1.STDQ", &asset).await;
    put(0, "school.2.STDQ", &asset).await; // the value of school.1.STDQ under another key
    let device = serde_json::json!({"adamId": "1", "pricingParam": "STDQ", "serialNumber": "A"});
    put(1, "school.1.STDQ.d.QQ", &device).await;
    put(1, "school.1.STDQ.d.Qg", &serde_json::json!({"adamId": "1"})).await;
    put(1, "school.1.STDQ.d.Qw", &device).await;
    stores[1]
        .delete("school.1.STDQ.d.Qw")
        .await
        .expect("delete");
    let user = serde_json::json!({"clientUserId": "u1", "status": "Registered"});
    put(2, "school.dTE", &user).await;

    let view = read_view(&js, "school").await.expect("the view reads");
    assert_eq!(view.assets.len(), 1, "{view:?}");
    assert_eq!(
        view.assignments.iter().collect::<Vec<_>>(),
        vec![&(("1".into(), "STDQ".into()), Target::Device("A".into()))]
    );
    assert_eq!(view.users["u1"], "Registered");
    assert_eq!(
        view.problems,
        vec![
            Difference::Misfiled {
                key: "vpp-assets/school.2.STDQ".into(),
                expected: "school.1.STDQ".into()
            },
            Difference::Unreadable("vpp-assignments/school.1.STDQ.d.Qg".into()),
        ]
    );
}

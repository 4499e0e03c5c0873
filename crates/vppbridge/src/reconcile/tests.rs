use super::*;
use crate::events::notification::{
    AssetCountData, AssetManagementData, NotificationMeta, PlainData,
};

fn meta() -> NotificationMeta {
    NotificationMeta {
        location: "school".into(),
        u_id: "1".into(),
        notification_id: "n-1".into(),
        notification_type: "ASSET_MANAGEMENT".into(),
    }
}

fn dev(adam: &str, serial: &str) -> AssignmentRef {
    AssignmentRef {
        adam_id: adam.into(),
        pricing_param: "STDQ".into(),
        serial_number: Some(serial.into()),
        client_user_id: None,
    }
}

fn management(action: Action, result: Outcome, assignments: Vec<AssignmentRef>) -> Notification {
    Notification::AssetManagement(AssetManagementData {
        meta: meta(),
        event_id: "e-1".into(),
        action,
        result,
        assignments,
        error: (result == Outcome::Failure).then(|| EventError {
            error_number: 9709,
            error_message: "not enough".into(),
        }),
        raw: serde_json::json!({}),
    })
}

#[test]
fn a_successful_associate_sets_each_pair_and_verifies_each_asset_once() {
    let p = plan(&management(
        Action::Associate,
        Outcome::Success,
        vec![dev("1", "A"), dev("1", "B"), dev("2", "A")],
    ));
    assert_eq!(p.assignments.len(), 3);
    assert!(p.assignments.iter().all(|(_, present)| *present));
    assert_eq!(p.verify.len(), 2);
    let one = &p.verify[&AssetId {
        adam_id: "1".into(),
        pricing_param: "STDQ".into(),
    }];
    assert!(one.assignments && one.counts);
    assert_eq!(one.targets.len(), 2);
    assert!(p.failures.is_empty());
}

#[test]
fn a_successful_disassociate_or_revoke_removes_the_pairs() {
    for action in [Action::Disassociate, Action::Revoke] {
        let p = plan(&management(action, Outcome::Success, vec![dev("1", "A")]));
        assert_eq!(p.assignments, vec![(dev("1", "A"), false)], "{action:?}");
    }
}

#[test]
fn a_failure_changes_nothing_at_once_but_reports_and_verifies() {
    let p = plan(&management(
        Action::Associate,
        Outcome::Failure,
        vec![dev("1", "A")],
    ));
    assert!(p.assignments.is_empty());
    assert_eq!(p.failures.len(), 1);
    assert_eq!(p.failures[0].error.error_number, 9709);
    assert_eq!(p.verify.len(), 1);
}

#[test]
fn an_asset_count_applies_the_delta_and_verifies_only_the_counts() {
    let p = plan(&Notification::AssetCount(AssetCountData {
        meta: meta(),
        adam_id: "7".into(),
        pricing_param: "PLUS".into(),
        count_delta: -12,
        raw: serde_json::json!({}),
    }));
    let asset = AssetId {
        adam_id: "7".into(),
        pricing_param: "PLUS".into(),
    };
    assert_eq!(p.count_delta, Some((asset.clone(), -12)));
    assert!(p.verify[&asset].counts && !p.verify[&asset].assignments);
}

#[test]
fn test_and_unknown_notifications_are_only_logged() {
    let plain = PlainData {
        meta: meta(),
        raw: serde_json::json!({}),
    };
    assert!(plan(&Notification::Test(plain.clone())).ignored.is_some());
    let p = plan(&Notification::Unknown(plain));
    assert!(p.ignored.is_some() && p.verify.is_empty() && p.assignments.is_empty());
}

#[test]
fn count_delta_moves_total_and_available_together() {
    let v = AssetValue {
        adam_id: "1".into(),
        pricing_param: "STDQ".into(),
        product_type: "App".into(),
        assigned_count: 5,
        available_count: 10,
        retired_count: 0,
        total_count: 15,
        device_assignable: true,
        revocable: true,
        supported_platforms: vec![],
    };
    let w = apply_count_delta(&v, -3).unwrap();
    assert_eq!(
        (w.total_count, w.available_count, w.assigned_count),
        (12, 7, 5)
    );
}

#[test]
fn a_count_delta_out_of_range_is_refused_not_wrapped() {
    let v = AssetValue {
        adam_id: "1".into(),
        pricing_param: "STDQ".into(),
        product_type: "App".into(),
        assigned_count: 5,
        available_count: 10,
        retired_count: 0,
        total_count: 15,
        device_assignable: true,
        revocable: true,
        supported_platforms: vec![],
    };
    assert_eq!(apply_count_delta(&v, i64::MAX), None, "overflow");
    assert_eq!(apply_count_delta(&v, i64::MIN), None, "underflow");
    assert_eq!(apply_count_delta(&v, -11), None, "available below zero");
    assert_eq!(apply_count_delta(&v, -10).unwrap().available_count, 0);
}

#[test]
fn retired_users_leave_the_view_only_when_it_keeps_active_users() {
    let u = UserRef {
        client_user_id: "u".into(),
        email: None,
        id_hash: None,
        invite_code: None,
        status: "Retired".into(),
    };
    assert_eq!(user_value(&u, true), None);
    assert_eq!(user_value(&u, false), Some(u.clone()));
}

#[test]
fn diff_sets_what_differs_removes_what_is_gone_and_is_empty_when_equal() {
    let cur: BTreeMap<String, i32> = [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)].into();
    let truth: BTreeMap<String, i32> = [("a".into(), 1), ("b".into(), 20), ("d".into(), 4)].into();
    let mut d = diff(&cur, &truth);
    d.sort();
    assert_eq!(
        d,
        vec![
            ("b".into(), Some(20)),
            ("c".into(), None),
            ("d".into(), Some(4))
        ]
    );
    assert!(diff(&truth, &truth).is_empty());
}

use super::*;

fn value(desired: UserDesired, email: Option<&str>, apple_id: Option<&str>) -> DesiredUserValue {
    DesiredUserValue {
        desired,
        email: email.map(str::to_owned),
        managed_apple_id: apple_id.map(str::to_owned),
        metadata: None,
    }
}

fn user(id: &str, email: Option<&str>, status: &str) -> UserRef {
    UserRef {
        client_user_id: id.into(),
        email: email.map(str::to_owned),
        id_hash: None,
        invite_code: None,
        status: status.into(),
    }
}

fn record(revision: u64, state: IntentState, apple_id: Option<&str>) -> UserIntentRecord {
    UserIntentRecord {
        desired_revision: revision,
        desired: UserDesired::Active,
        state,
        op: None,
        request_id: None,
        event_id: None,
        error_number: None,
        error_message: None,
        attempts: 0,
        managed_apple_id: apple_id.map(str::to_owned),
        apple_active: None,
        created_at: None,
        submitted_at: None,
        polled_at: None,
        updated_at: chrono::Utc::now(),
    }
}

/// (what, desired, the view's user, the last record, the write needed)
type Case<'a> = (
    &'a str,
    DesiredUserValue,
    Option<&'a UserRef>,
    Option<&'a UserIntentRecord>,
    Option<UserOp>,
);

#[test]
fn each_difference_needs_its_write_and_agreement_needs_none() {
    use UserDesired::{Active, Retired};
    let reg = user("u", Some("a@x.org"), "Registered");
    let assoc = user("u", Some("a@x.org"), "Associated");
    let retired = user("u", Some("a@x.org"), "Retired");
    let accepted = record(1, IntentState::Applied, Some("u@school.edu"));
    let cases: Vec<Case> = vec![
        (
            "unknown user, active",
            value(Active, None, None),
            None,
            None,
            Some(UserOp::Create),
        ),
        (
            "retired user, active again",
            value(Active, None, None),
            Some(&retired),
            None,
            Some(UserOp::Create),
        ),
        (
            "same email",
            value(Active, Some("a@x.org"), None),
            Some(&reg),
            None,
            None,
        ),
        (
            "email not managed",
            value(Active, None, None),
            Some(&reg),
            None,
            None,
        ),
        (
            "new email",
            value(Active, Some("b@x.org"), None),
            Some(&reg),
            None,
            Some(UserOp::Update),
        ),
        (
            "apple id, not associated",
            value(Active, None, Some("u@school.edu")),
            Some(&reg),
            None,
            Some(UserOp::Update),
        ),
        (
            "apple id Apple accepted",
            value(Active, None, Some("u@school.edu")),
            Some(&assoc),
            Some(&accepted),
            None,
        ),
        (
            "another apple id",
            value(Active, None, Some("v@school.edu")),
            Some(&assoc),
            Some(&accepted),
            Some(UserOp::Update),
        ),
        (
            "retire an active user",
            value(Retired, None, None),
            Some(&reg),
            None,
            Some(UserOp::Retire),
        ),
        (
            "retire a retired user",
            value(Retired, None, None),
            Some(&retired),
            None,
            None,
        ),
        (
            "retire a user Apple does not list",
            value(Retired, None, None),
            None,
            None,
            None,
        ),
    ];
    let created = UserIntentRecord {
        apple_active: Some(true),
        ..record(1, IntentState::Applied, None)
    };
    let more: Vec<Case> = vec![
        (
            "created, view not told, retire",
            value(Retired, None, None),
            None,
            Some(&created),
            Some(UserOp::Retire),
        ),
        (
            "created, view not told, new email",
            value(Active, Some("b@x.org"), None),
            None,
            Some(&created),
            Some(UserOp::Update),
        ),
        (
            "created, view not told, nothing managed",
            value(Active, None, None),
            None,
            Some(&created),
            None,
        ),
        (
            "created, then retired elsewhere",
            value(Active, None, None),
            Some(&retired),
            Some(&created),
            Some(UserOp::Create),
        ),
    ];
    for (what, d, actual, rec, want) in cases.into_iter().chain(more) {
        assert_eq!(need(&d, actual, rec), want, "{what}");
    }
}

#[test]
fn submitted_failed_and_applied_keys_are_left_alone_and_a_new_revision_is_planned() {
    let mut snap = UserSnapshot::default();
    for (i, state) in [
        None,
        Some(IntentState::Submitted),
        Some(IntentState::Failed),
        Some(IntentState::Applied),
        Some(IntentState::Pending),
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("school.k{i}");
        snap.desired.insert(
            key.clone(),
            DesiredUser {
                client_user_id: format!("u{i}"),
                value: value(UserDesired::Active, None, None),
                revision: 5,
            },
        );
        if let Some(s) = state {
            snap.records.insert(key, record(5, s, None));
        }
    }
    // A failed record about an older revision does not hold the new one back.
    snap.desired.insert(
        "school.k9".into(),
        DesiredUser {
            client_user_id: "u9".into(),
            value: value(UserDesired::Retired, None, None),
            revision: 7,
        },
    );
    snap.records
        .insert("school.k9".into(), record(6, IntentState::Failed, None));
    snap.actual
        .insert("school.k9".into(), user("u9", None, "Registered"));
    let d = decide(&snap);
    let creates: Vec<&str> = d.send[&UserOp::Create]
        .iter()
        .map(|(_, u)| u.client_user_id.as_str())
        .collect();
    assert_eq!(creates, vec!["u0", "u4"]);
    assert_eq!(d.send[&UserOp::Retire].len(), 1);
    assert_eq!(d.send[&UserOp::Retire][0].1.email, None);
    assert!(d.settle.is_empty());
}

#[test]
fn batches_hold_at_most_max_users() {
    let users: Vec<(String, RequestUser)> = (0..250)
        .map(|i| {
            (
                format!("k{i}"),
                RequestUser {
                    client_user_id: format!("u{i}"),
                    ..RequestUser::default()
                },
            )
        })
        .collect();
    let b = batch(users, 100);
    assert_eq!(
        b.iter()
            .map(|(k, r)| (k.len(), r.users.len()))
            .collect::<Vec<_>>(),
        vec![(100, 100), (100, 100), (50, 50)]
    );
    assert_eq!(b[2].1.users[0].client_user_id, "u200");
    assert!(batch(Vec::new(), 100).is_empty());
}

#[test]
fn a_key_whose_older_value_is_in_flight_waits_for_that_request() {
    let mut snap = UserSnapshot::default();
    snap.desired.insert(
        "school.k".into(),
        DesiredUser {
            client_user_id: "u".into(),
            value: value(UserDesired::Active, Some("new@x.org"), None),
            revision: 9,
        },
    );
    let mut rec = record(8, IntentState::Submitted, None);
    rec.op = Some(UserOp::Create);
    snap.records.insert("school.k".into(), rec);
    assert_eq!(decide(&snap), UserDecision::default());
    // The create shows in the view: done; a retire is done once the user is gone.
    let u = user("u", None, "Registered");
    assert!(carried_done(Some(UserOp::Create), Some(&u)));
    assert!(!carried_done(Some(UserOp::Create), None));
    assert!(carried_done(Some(UserOp::Retire), None));
    assert!(!carried_done(Some(UserOp::Update), Some(&u)));
}

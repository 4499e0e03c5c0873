use std::collections::BTreeMap;

use super::*;

fn pair(adam: usize, target: Target) -> Pair {
    Pair {
        adam_id: format!("{}", 100_000_000 + adam),
        pricing_param: "STDQ".into(),
        target,
    }
}

fn serial(i: usize) -> Target {
    Target::Serial(format!("SIM{i:09}"))
}

fn apps(assets: usize, devices: usize) -> Vec<Pair> {
    (0..assets)
        .flat_map(|a| (0..devices).map(move |d| pair(a, serial(d))))
        .collect()
}

/// Every pair the requests would touch (the cross product of each).
fn touched(reqs: &[ManageAssetsRequest]) -> BTreeSet<Pair> {
    let mut out = BTreeSet::new();
    for r in reqs {
        for a in &r.assets {
            let targets = r
                .serial_numbers
                .iter()
                .map(|s| Target::Serial(s.clone()))
                .chain(r.client_user_ids.iter().map(|u| Target::User(u.clone())));
            for t in targets {
                out.insert(Pair {
                    adam_id: a.adam_id.0.clone(),
                    pricing_param: a.pricing_param.clone(),
                    target: t,
                });
            }
        }
    }
    out
}

fn limits(values: &[(&str, i64)]) -> Limits {
    Limits::with_default_rate(15).with_values(
        values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect::<BTreeMap<_, _>>(),
    )
}

#[test]
fn twenty_apps_on_a_thousand_devices_is_one_request_at_apples_documented_limits() {
    let pairs = apps(20, 1000);
    let reqs = batch(&pairs, &limits(&[]));
    assert_eq!(
        reqs.len(),
        1,
        "20 assets ≤ maxAssets 25, 1000 serials ≤ 1000"
    );
    assert_eq!(touched(&reqs), pairs.iter().cloned().collect());
}

#[test]
fn the_minimal_number_of_requests_for_smaller_limits() {
    let pairs = apps(20, 1000);
    let reqs = batch(
        &pairs,
        &limits(&[("maxAssets", 10), ("maxSerialNumbers", 300)]),
    );
    // ceil(20 / 10) × ceil(1000 / 300) = 2 × 4.
    assert_eq!(reqs.len(), 8);
    assert!(reqs.iter().all(|r| r.assets.len() <= 10));
    assert!(reqs.iter().all(|r| r.serial_numbers.len() <= 300));
    assert_eq!(touched(&reqs), pairs.iter().cloned().collect());
}

#[test]
fn no_request_carries_a_pair_nobody_asked_for() {
    // App 0 on devices 0-9, app 1 on devices 5-14, app 2 on device 3 and a user.
    let mut pairs: Vec<Pair> = (0..10).map(|d| pair(0, serial(d))).collect();
    pairs.extend((5..15).map(|d| pair(1, serial(d))));
    pairs.push(pair(2, serial(3)));
    pairs.push(pair(2, Target::User("u1".into())));
    let reqs = batch(&pairs, &limits(&[]));
    assert_eq!(touched(&reqs), pairs.iter().cloned().collect());
    assert!(
        reqs.iter()
            .all(|r| r.serial_numbers.is_empty() || r.client_user_ids.is_empty()),
        "devices and users never share a request"
    );
    // Devices grouped by asset set would take 4 requests ({0}: 0-2,4 · {0,2}: 3 · {0,1}: 5-9 ·
    // {1}: 10-14); assets grouped by device set take 3 (one per app), plus 1 for the user.
    assert_eq!(reqs.len(), 4);
}

#[test]
fn assets_with_the_same_targets_share_a_request_even_when_targets_differ_per_asset() {
    // Apps 0-4 on devices 0-99, apps 5-9 on devices 100-199: two rectangles.
    let mut pairs: Vec<Pair> = (0..5)
        .flat_map(|a| (0..100).map(move |d| pair(a, serial(d))))
        .collect();
    pairs.extend((5..10).flat_map(|a| (100..200).map(move |d| pair(a, serial(d)))));
    let reqs = batch(&pairs, &limits(&[]));
    assert_eq!(reqs.len(), 2);
    assert_eq!(touched(&reqs), pairs.iter().cloned().collect());
}

fn entry(p: &Pair, desired: Desired, revision: u64) -> (String, DesiredEntry) {
    (
        p.key("school").unwrap(),
        DesiredEntry {
            pair: p.clone(),
            value: DesiredValue {
                desired,
                metadata: None,
            },
            revision,
        },
    )
}

fn record(state: IntentState, desired: Desired, revision: u64) -> IntentRecord {
    IntentRecord {
        desired_revision: revision,
        desired,
        state,
        request_id: None,
        event_id: None,
        error_number: None,
        error_message: None,
        attempts: 1,
        submitted_at: None,
        asset_revision: None,
        updated_at: Utc::now(),
    }
}

fn app_facts(available: i64) -> AssetFacts {
    AssetFacts {
        device_assignable: true,
        available_count: available,
        revision: 1,
    }
}

#[test]
fn re_applying_what_apple_already_holds_sends_nothing() {
    let pairs = apps(20, 50);
    let mut snap = Snapshot::default();
    for (i, p) in pairs.iter().enumerate() {
        let (k, e) = entry(p, Desired::Assigned, i as u64 + 1);
        snap.actual.insert(k.clone());
        snap.records.insert(
            k.clone(),
            record(IntentState::Applied, Desired::Assigned, e.revision),
        );
        snap.desired.insert(k, e);
    }
    assert_eq!(decide(&snap), Decision::default());
    // The MDM rewrites the same values (new revisions): still nothing, no second `applied`.
    for e in snap.desired.values_mut() {
        e.revision += 10_000;
    }
    assert_eq!(decide(&snap), Decision::default());
}

#[test]
fn held_pairs_are_applied_without_a_request_and_the_rest_are_sent_once() {
    let pairs = apps(2, 3);
    let mut snap = Snapshot::default();
    for p in &pairs {
        let (k, e) = entry(p, Desired::Assigned, 1);
        snap.desired.insert(k, e);
    }
    let held = pairs[0].key("school").unwrap();
    let flying = pairs[1].key("school").unwrap();
    snap.actual.insert(held.clone());
    snap.in_flight.insert(flying.clone());
    let d = decide(&snap);
    assert_eq!(
        d.settle,
        vec![Settle {
            key: held.clone(),
            outcome: IntentOutcome::Applied,
            error: None
        }]
    );
    let sent: Vec<&String> = d.send[&Action::Associate].iter().map(|(k, _)| k).collect();
    assert_eq!(sent.len(), 4);
    assert!(!sent.contains(&&held) && !sent.contains(&&flying));
}

#[test]
fn a_book_is_never_sent_to_a_serial_number() {
    let p = pair(4, serial(1));
    let mut snap = Snapshot::default();
    let (k, e) = entry(&p, Desired::Assigned, 1);
    snap.desired.insert(k.clone(), e);
    snap.assets.insert(
        (p.adam_id.clone(), p.pricing_param.clone()),
        AssetFacts {
            device_assignable: false,
            available_count: 10,
            revision: 1,
        },
    );
    let d = decide(&snap);
    assert!(d.send.is_empty());
    assert_eq!(d.settle[0].outcome, IntentOutcome::Failed);
    assert_eq!(d.settle[0].error.as_ref().unwrap().0, BOOK_TO_DEVICE);
    // A user may have it.
    let u = pair(4, Target::User("u1".into()));
    let (k, e) = entry(&u, Desired::Assigned, 2);
    snap.desired.insert(k, e);
    assert_eq!(decide(&snap).send[&Action::Associate].len(), 1);
}

#[test]
fn waiting_pairs_go_again_oldest_first_never_more_than_the_licenses() {
    let mut snap = Snapshot::default();
    let start = Utc::now();
    for d in 0..5 {
        let p = pair(0, serial(d));
        let (k, e) = entry(&p, Desired::Assigned, 1);
        let mut r = record(IntentState::Waiting, Desired::Assigned, 1);
        // Device 4 waits longest, device 0 least.
        r.updated_at = start - chrono::TimeDelta::seconds(d as i64);
        snap.records.insert(k.clone(), r);
        snap.desired.insert(k, e);
    }
    let facts = ("100000000".to_owned(), "STDQ".to_owned());
    snap.assets.insert(facts.clone(), app_facts(0));
    assert!(decide(&snap).send.is_empty(), "no license: nothing sent");
    snap.assets.insert(facts, app_facts(2));
    let sent: Vec<Pair> = decide(&snap).send[&Action::Associate]
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(sent, vec![pair(0, serial(4)), pair(0, serial(3))]);
}

#[test]
fn a_waiting_pair_goes_again_only_once_the_asset_changed_after_its_9709() {
    let p = pair(0, serial(1));
    let mut snap = Snapshot::default();
    let (k, e) = entry(&p, Desired::Assigned, 1);
    let mut r = record(IntentState::Waiting, Desired::Assigned, 1);
    r.asset_revision = Some(7);
    snap.records.insert(k.clone(), r);
    snap.desired.insert(k, e);
    let asset = (p.adam_id.clone(), p.pricing_param.clone());
    // The view still shows the licenses the request that found none was counted against.
    let mut facts = app_facts(900);
    facts.revision = 7;
    snap.assets.insert(asset.clone(), facts.clone());
    assert!(decide(&snap).send.is_empty(), "stale counts: nothing sent");
    facts.revision = 8;
    snap.assets.insert(asset, facts);
    assert_eq!(decide(&snap).send[&Action::Associate].len(), 1);
}

#[test]
fn a_changed_desired_value_wins_over_the_old_record() {
    let p = pair(0, serial(1));
    let mut snap = Snapshot::default();
    let (k, e) = entry(&p, Desired::Unassigned, 7);
    snap.actual.insert(k.clone());
    snap.records.insert(
        k.clone(),
        record(IntentState::Applied, Desired::Assigned, 3),
    );
    snap.desired.insert(k.clone(), e);
    let d = decide(&snap);
    assert_eq!(d.send[&Action::Disassociate][0].0, k);
    // While that request flies, nothing else is sent for the key.
    snap.in_flight.insert(k);
    assert_eq!(decide(&snap), Decision::default());
}

#[test]
fn a_transient_failure_is_sent_again_only_after_its_doubling_capped_delay() {
    let retry = RetryDelay {
        base: std::time::Duration::from_secs(30),
        max: std::time::Duration::from_secs(100),
    };
    assert_eq!(retry.after(1).as_secs(), 30);
    assert_eq!(retry.after(2).as_secs(), 60);
    assert_eq!(retry.after(3).as_secs(), 100, "capped");
    assert_eq!(retry.after(u32::MAX).as_secs(), 100, "no overflow");

    let p = pair(0, serial(1));
    let (k, e) = entry(&p, Desired::Assigned, 1);
    let now = Utc::now();
    let mut snap = Snapshot {
        now,
        retry,
        ..Snapshot::default()
    };
    snap.desired.insert(k.clone(), e);
    let mut rec = record(IntentState::Pending, Desired::Assigned, 1);
    rec.error_number = Some(9603);
    rec.attempts = 2;
    let sent = |snap: &Snapshot| decide(snap).send.contains_key(&Action::Associate);
    for (ago, expected) in [(59, false), (60, true)] {
        rec.updated_at = now - chrono::TimeDelta::seconds(ago);
        snap.records.insert(k.clone(), rec.clone());
        assert_eq!(sent(&snap), expected, "two attempts, failed {ago} s ago");
    }
    // A pending pair that never failed is sent at once.
    rec.error_number = None;
    rec.updated_at = now;
    snap.records.insert(k.clone(), rec);
    assert!(sent(&snap));
}

#[test]
fn states_count_each_managed_key_once_and_a_key_without_a_current_record_as_pending() {
    let pairs = apps(1, 5);
    let mut snap = Snapshot::default();
    // (state, revision of the record; the desired value is at revision 2)
    let records = [
        (IntentState::Applied, 2),
        (IntentState::Failed, 2),
        (IntentState::Waiting, 2),
        // About an older desired value: pending again...
        (IntentState::Waiting, 1),
        // ...unless it was applied with the same value (a rewrite of it changes nothing).
        (IntentState::Applied, 1),
    ];
    for (p, (state, revision)) in pairs.iter().zip(records) {
        let (k, e) = entry(p, Desired::Assigned, 2);
        snap.records
            .insert(k.clone(), record(state, Desired::Assigned, revision));
        snap.desired.insert(k, e);
    }
    let s = states(&snap);
    assert_eq!(s.len(), 5, "every state present");
    assert_eq!(s[&IntentState::Applied], 2);
    assert_eq!(s[&IntentState::Failed], 1);
    assert_eq!(s[&IntentState::Waiting], 1);
    assert_eq!(s[&IntentState::Pending], 1);
    assert_eq!(s[&IntentState::Submitted], 0);
}

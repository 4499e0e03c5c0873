//! The reads through the strict client: Service Config, Client Config, and every page of Get
//! Assets, Get Assignments and Get Users, whole, filtered and incremental.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use vppbridge_sim::seed;

use super::client::Refusal;
use super::{PAGE_SIZE, schema, start};

/// §3's documented limit and url keys.
const LIMITS: &[&str] = &[
    "maxAssets",
    "maxClientUserIds",
    "maxSerialNumbers",
    "maxRevokeClientUserIds",
    "maxRevokeSerialNumbers",
    "maxUsers",
    "maxNotificationLength",
    "maxMdmIdLength",
    "maxMdmNameLength",
    "maxMdmMetadataLength",
    "maxRequestPerSecond",
];
const URLS: &[&str] = &[
    "invitationEmail",
    "clientConfig",
    "createUsers",
    "updateUsers",
    "retireUsers",
    "getUsers",
    "getAssets",
    "getAssignments",
    "associateAssets",
    "disassociateAssets",
    "revokeAssets",
    "eventStatus",
    "contentMetadataLookup",
];

#[tokio::test]
async fn service_config_lists_every_documented_limit_url_and_notification_type() {
    let env = start().await;
    let strict = &env.strict;
    for key in LIMITS {
        assert!(strict.limit(key) > 0, "limit {key}");
    }
    for key in URLS {
        let url = strict.url(key);
        assert!(url.starts_with("http"), "url {key}: {url}");
    }
    assert!(
        strict.url("invitationEmail").contains("%25inviteCode%25"),
        "§3: the invitation template holds %25inviteCode%25"
    );
    let lookup = strict.url("contentMetadataLookup");
    assert!(
        !lookup.contains("apple.com"),
        "a client following contentMetadataLookup must stay on the test machine: {lookup}"
    );
    // Every number §10.2 documents with a status is known to Service Config.
    for n in [
        9601, 9602, 9603, 9650, 9700, 9708, 9719, 9721, 9722, 9726, 9727, 9728,
    ] {
        assert!(strict.codes.contains_key(&n), "errorCodes lacks {n}");
    }
}

#[tokio::test]
async fn client_config_get_answers_the_documented_fields_with_this_locations_uid() {
    let env = start().await;
    let config = env
        .strict
        .get("clientConfig", &[], &schema::CLIENT_CONFIG)
        .await
        .unwrap();
    assert_eq!(config["uId"], env.u_id.as_str());
    assert!(
        config.get("mdmInfo").is_none(),
        "mdmInfo only once an MDM set it (§4.1): {config}"
    );
}

/// Records of a traversal grouped by `key`, each key seen once.
fn unique(records: &[Value], key: impl Fn(&Value) -> String) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for r in records {
        assert!(seen.insert(key(r)), "listed twice across pages: {r}");
    }
    seen
}

fn assignment_key(a: &Value) -> String {
    let target = a
        .get("serialNumber")
        .or_else(|| a.get("clientUserId"))
        .unwrap();
    format!("{}/{}/{}", a["adamId"], a["pricingParam"], target)
}

#[tokio::test]
async fn every_page_of_assets_assignments_and_users_passes_the_strict_traversal() {
    let env = start().await;
    let truth = env.truth().await;
    let strict = &env.strict;

    let assets = strict.all("getAssets", &[]).await.unwrap();
    let assignments = strict.all("getAssignments", &[]).await.unwrap();
    let users = strict.all("getUsers", &[]).await.unwrap();
    for (name, t, want) in [
        ("assets", &assets, &truth["assets"]),
        ("assignments", &assignments, &truth["assignments"]),
        ("users", &users, &truth["users"]),
    ] {
        let want = want.as_array().unwrap().len();
        assert_eq!(t.records.len(), want, "{name}: every record once");
        assert_eq!(
            t.pages as usize,
            want.div_ceil(PAGE_SIZE),
            "{name}: several pages"
        );
        assert!(t.pages > 1, "{name}: the location must page");
    }
    unique(&assets.records, |a| {
        format!("{}/{}", a["adamId"], a["pricingParam"])
    });
    unique(&users.records, |u| u["clientUserId"].to_string());
    let listed = unique(&assignments.records, assignment_key);
    let truth_keys: BTreeSet<String> = truth["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(assignment_key)
        .collect();
    assert_eq!(listed, truth_keys);

    // assignedCount is the number of assignments listed for the asset (zentral's invariant).
    let mut per_asset: BTreeMap<String, i64> = BTreeMap::new();
    for a in &assignments.records {
        *per_asset.entry(a["adamId"].to_string()).or_default() += 1;
    }
    for asset in &assets.records {
        let listed = per_asset.get(&asset["adamId"].to_string()).copied();
        assert_eq!(
            asset["assignedCount"].as_i64().unwrap(),
            listed.unwrap_or(0),
            "{asset}"
        );
    }

    // Each endpoint has its own versionId (§7).
    let ids: BTreeSet<_> = [&assets, &assignments, &users]
        .iter()
        .map(|t| t.version_id.clone())
        .collect();
    assert_eq!(ids.len(), 3, "one versionId per endpoint");
}

#[tokio::test]
async fn filtered_reads_pass_the_strict_traversal_and_keep_to_their_filter() {
    let env = start().await;
    let strict = &env.strict;
    let q = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    };
    let books = strict
        .all("getAssets", &q(&[("productType", "Book")]))
        .await
        .unwrap();
    assert!(!books.records.is_empty());
    assert!(books.records.iter().all(|a| a["productType"] == "Book"
        && a["deviceAssignable"] == false
        && a["revocable"] == false));
    let unknown = strict
        .all("getAssets", &q(&[("adamId", "999999999")]))
        .await
        .unwrap();
    assert!(
        unknown.records.is_empty(),
        "§6.1: an unknown adamId lists nothing"
    );

    let serial = seed::serial(0);
    let of_device = strict
        .all("getAssignments", &q(&[("serialNumber", &serial)]))
        .await
        .unwrap();
    assert!(
        of_device
            .records
            .iter()
            .all(|a| a["serialNumber"] == serial.as_str())
    );
    let app = seed::adam_id(0);
    let of_app = strict
        .all(
            "getAssignments",
            &q(&[("adamId", &app), ("includeUserState", "true")]),
        )
        .await
        .unwrap();
    assert!(of_app.records.iter().all(|a| a["adamId"] == app.as_str()));

    let status = env
        .write(
            "retireUsers",
            json!({"users": [{"clientUserId": seed::user_id(0)}]}),
        )
        .await;
    assert_eq!(status["eventStatus"], "COMPLETE", "{status}");
    let retired = strict
        .all("getUsers", &q(&[("retiredOnly", "true")]))
        .await
        .unwrap();
    let active = strict
        .all("getUsers", &q(&[("activeOnly", "true")]))
        .await
        .unwrap();
    assert_eq!(retired.records.len(), 1);
    assert_eq!(retired.records[0]["status"], "Retired");
    assert!(active.records.iter().all(|u| u["status"] != "Retired"));
}

#[tokio::test]
async fn since_version_reads_list_the_changes_and_carry_a_new_version() {
    let env = start().await;
    let strict = &env.strict;
    let before = strict.all("getAssignments", &[]).await.unwrap();
    let users_before = strict.all("getUsers", &[]).await.unwrap();
    let serial = seed::serial(39);
    let asset = json!({"adamId": seed::adam_id(1), "pricingParam": "STDQ"});
    env.write(
        "disassociateAssets",
        json!({"assets": [asset], "serialNumbers": [serial]}),
    )
    .await;
    let done = env
        .write(
            "associateAssets",
            json!({"assets": [asset], "serialNumbers": [serial]}),
        )
        .await;
    assert_eq!(done["eventStatus"], "COMPLETE", "{done}");
    let since = |v: &str| vec![("sinceVersionId", v.to_owned())];
    let delta = strict
        .all("getAssignments", &since(&before.version_id))
        .await
        .unwrap();
    assert_eq!(delta.records.len(), 1, "{:?}", delta.records);
    assert_eq!(delta.records[0]["serialNumber"], serial.as_str());
    assert_ne!(delta.version_id, before.version_id);
    let none = strict
        .all("getUsers", &since(&users_before.version_id))
        .await
        .unwrap();
    assert!(
        none.records.is_empty(),
        "§7: zero records is a normal answer"
    );
    assert_eq!(
        none.version_id, users_before.version_id,
        "an assignment change is not a users change"
    );
}

#[tokio::test]
async fn a_users_create_during_an_asset_traversal_does_not_abort_it() {
    let env = start().await;
    let mut assets = env.strict.traverse("getAssets", &[]).await.unwrap();
    let mut users = env.strict.traverse("getUsers", &[]).await.unwrap();
    let done = env
        .write(
            "createUsers",
            json!({"users": [{"clientUserId": "strict-new-1", "email": "new-1@example.com"}]}),
        )
        .await;
    assert_eq!(done["eventStatus"], "COMPLETE", "{done}");
    while assets.next_page().await.unwrap() {}
    assert!(assets.finish().pages > 1);
    // The users' own traversal does see the change: the strict client aborts it.
    let aborted = loop {
        match users.next_page().await {
            Ok(true) => {}
            Ok(false) => panic!("users traversal ended across a users/create"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(aborted, Refusal::DataUpdated { page: 1, .. }),
        "{aborted:?}"
    );
}

#[tokio::test]
async fn an_assignment_change_during_a_traversal_makes_the_strict_client_abort() {
    let env = start().await;
    let mut pager = env.strict.traverse("getAssignments", &[]).await.unwrap();
    let asset = json!({"adamId": seed::adam_id(2), "pricingParam": "STDQ"});
    let done = env
        .write(
            "associateAssets",
            json!({"assets": [asset], "clientUserIds": [seed::user_id(3)]}),
        )
        .await;
    assert_eq!(done["eventStatus"], "COMPLETE", "{done}");
    let refused = pager.next_page().await.unwrap_err();
    assert!(
        matches!(refused, Refusal::DataUpdated { page: 1, .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_second_locations_token_sees_its_own_uid_and_not_the_firsts_events() {
    let mut config = super::config();
    config.seed.locations = 2;
    let env = super::start_with(config).await;
    let other = env.sim.locations().remove(1);
    let base = env.sim.base_url();
    let second =
        super::client::Strict::connect(&format!("{base}service/config"), &other.token_text).await;
    let config = second
        .get("clientConfig", &[], &schema::CLIENT_CONFIG)
        .await
        .unwrap();
    assert_eq!(config["uId"], other.u_id.as_str());
    assert_ne!(other.u_id, env.u_id, "§2: uId tells the libraries apart");
    second.all("getAssets", &[]).await.unwrap();
    let accepted = env
        .strict
        .post(
            "retireUsers",
            &json!({"users": [{"clientUserId": seed::user_id(5)}]}),
            &schema::EVENT_RESPONSE,
        )
        .await
        .unwrap();
    let id = accepted["eventId"].as_str().unwrap().to_owned();
    let got = second
        .get("eventStatus", &[("eventId", id)], &schema::STATUS)
        .await;
    assert!(
        matches!(got, Err(Refusal::Apple { number: 9708, .. })),
        "another location's event is unknown: {got:?}"
    );
}

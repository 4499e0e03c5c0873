//! What happens outside the MDM, seen through the strict client and the notification receiver
//! (an invitation accepted through Service Config's `invitationEmail` link, a purchase), and
//! the content-metadata lookup a client follows from Service Config.

use serde_json::json;
use vppbridge_sim::seed;

use super::writes::{check_notifications, register};
use super::{Receiver, schema, start};

#[tokio::test]
async fn following_the_invitation_link_associates_the_user_and_notifies_user_associated() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    register(&env, &url).await;
    let user = seed::user_id(4);
    let before = env
        .strict
        .all("getUsers", &[("clientUserId", user.clone())])
        .await
        .unwrap();
    let code = before.records[0]["inviteCode"].as_str().unwrap().to_owned();
    // §3: the template's %25inviteCode%25 is replaced by the user's inviteCode.
    let link = env
        .strict
        .url("invitationEmail")
        .replace("%25inviteCode%25", &code);
    let opened = reqwest::get(&link).await.unwrap();
    assert!(opened.status().is_success(), "{link}: {}", opened.status());
    let bodies = receiver
        .until("USER_ASSOCIATED", |b| {
            b["notificationType"] == "USER_ASSOCIATED"
        })
        .await;
    check_notifications(&env, &bodies);
    let note = bodies
        .iter()
        .find(|b| b["notificationType"] == "USER_ASSOCIATED")
        .unwrap();
    assert_eq!(
        note["notification"]["associatedUsers"][0]["clientUserId"],
        user.as_str()
    );
    let after = env
        .strict
        .all("getUsers", &[("clientUserId", user.clone())])
        .await
        .unwrap();
    assert_eq!(after.records[0]["status"], "Associated");
    assert!(after.records[0].get("idHash").is_some(), "§6.3: {after:?}");
    let again = reqwest::get(&link).await.unwrap();
    assert!(
        again.status().is_client_error(),
        "an accepted invitation cannot be accepted again: {}",
        again.status()
    );
}

#[tokio::test]
async fn a_purchase_notifies_asset_count_and_moves_the_counts() {
    let env = start().await;
    let (receiver, url) = Receiver::start().await;
    register(&env, &url).await;
    let adam = seed::adam_id(0);
    let q = [("adamId", adam.clone())];
    let before = env.strict.all("getAssets", &q).await.unwrap();
    env.admin_post("purchase", json!({"adamId": adam, "count": 5}))
        .await;
    let bodies = receiver
        .until("ASSET_COUNT", |b| b["notificationType"] == "ASSET_COUNT")
        .await;
    check_notifications(&env, &bodies);
    let note = &bodies
        .iter()
        .find(|b| b["notificationType"] == "ASSET_COUNT")
        .unwrap()["notification"];
    assert_eq!(note["adamId"], adam.as_str());
    assert_eq!(note["countDelta"], 5);
    let after = env.strict.all("getAssets", &q).await.unwrap();
    let total = |t: &super::client::Traversal| t.records[0]["totalCount"].as_i64().unwrap();
    assert_eq!(total(&after), total(&before) + 5);
    assert_ne!(
        after.version_id, before.version_id,
        "the asset's counts changed"
    );
}

#[tokio::test]
async fn the_content_metadata_lookup_answers_zentrals_query_for_an_asset() {
    let env = start().await;
    let config = env
        .strict
        .get("clientConfig", &[], &schema::CLIENT_CONFIG)
        .await
        .unwrap();
    let adam = seed::adam_id(0);
    // §3: the query zentral sends.
    let query = [
        ("version", "2"),
        ("p", "mdm-lockup"),
        ("caller", "MDM"),
        ("platform", config["defaultPlatform"].as_str().unwrap()),
        ("cc", config["countryISO2ACode"].as_str().unwrap()),
        ("l", "en"),
        ("id", adam.as_str()),
    ];
    let answer = reqwest::Client::new()
        .get(env.strict.url("contentMetadataLookup"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        body["results"][adam.as_str()]["id"],
        adam.as_str(),
        "{body}"
    );
}

//! Service Config's `contentMetadataLookup`: the simulator itself by default, configurable.

use serde_json::Value;

use super::{adam, fast_config, start};

async fn lookup_url(api: &super::Api) -> String {
    let config: Value = api
        .http
        .get(format!("{}service/config", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    config["urls"]["contentMetadataLookup"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_content_metadata_lookup_is_the_simulator_itself_and_answers_for_its_assets() {
    let api = start(fast_config()).await;
    let url = lookup_url(&api).await;
    assert_eq!(url, format!("{}lookup", api.admin));
    // As zentral calls it.
    let r = api
        .http
        .get(&url)
        .query(&[
            ("version", "2"),
            ("p", "mdm-lockup"),
            ("caller", "MDM"),
            ("platform", "volumestore"),
            ("cc", "US"),
            ("l", "en"),
            ("id", &format!("{},{},999", adam(0), adam(4))),
        ])
        .header("Cookie", format!("itvt={}", api.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let results = body["results"].as_object().unwrap();
    assert_eq!(results.len(), 2, "the unknown adamId is left out: {body}");
    assert_eq!(results[&adam(0)]["id"], adam(0).as_str());
    assert_eq!(results[&adam(0)]["kind"], "software");
    assert_eq!(
        results[&adam(4)]["kind"],
        "ebook",
        "every 5th asset is a Book"
    );
    assert!(
        results[&adam(0)]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
}

#[tokio::test]
async fn the_content_metadata_lookup_url_can_be_configured() {
    let mut config = fast_config();
    config.content_metadata_url = Some("https://lookup.example.test/wa/lookup".into());
    let api = start(config).await;
    assert_eq!(
        lookup_url(&api).await,
        "https://lookup.example.test/wa/lookup"
    );
}

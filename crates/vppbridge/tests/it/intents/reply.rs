//! `vppbridge.desired.<location>.assign|unassign`: the CLI's intent file as a NATS request,
//! answered by the worker.

use std::time::Duration;

use vppbridge::events::intents::{Desired, IntentState};
use vppbridge::intents::store::Store;

use super::*;

async fn request(client: &async_nats::Client, subject: &str, body: String) -> serde_json::Value {
    let m = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(subject.to_owned(), body.into()),
    )
    .await
    .expect("an answer within 10 s")
    .expect("the request is answered");
    serde_json::from_slice(&m.payload).unwrap()
}

#[tokio::test]
async fn a_request_writes_the_desired_keys_and_answers_them_and_a_bad_line_writes_nothing() {
    let h = intents_harness(seed(5, 10, None)).await;
    let app = h.apps().await.remove(0);
    let worker = h.worker().await;
    h.synced().await;
    let store = Store::open(&h.env.js).await.unwrap();
    let client = async_nats::connect(h.env.server.url()).await.unwrap();
    let line = |i: usize| {
        serde_json::json!({"adamId": app.adam_id.0, "pricingParam": app.pricing_param, "serialNumber": serial(i), "metadata": {"requestId": "r1"}})
            .to_string()
    };

    // A bad line among good ones: the error names it, nothing is written.
    let bad = format!("{}\n{{\"adamId\": \"1\"}}\n{}\n", line(1), line(2));
    let answer = request(&client, "vppbridge.desired.school.assign", bad).await;
    assert!(answer["written"].is_null(), "{answer}");
    let problems = answer["problems"].as_array().expect("problems listed");
    assert_eq!(problems.len(), 1, "{answer}");
    assert!(
        problems[0].as_str().unwrap().starts_with("line 2:"),
        "{answer}"
    );
    assert!(store.desired("school").await.unwrap().is_empty());

    // Unknown location and verb are refused by name.
    let answer = request(&client, "vppbridge.desired.elsewhere.assign", line(1)).await;
    assert!(
        answer["error"].as_str().unwrap().contains("elsewhere"),
        "{answer}"
    );
    let answer = request(&client, "vppbridge.desired.school.grant", line(1)).await;
    assert!(
        answer["error"].as_str().unwrap().contains("grant"),
        "{answer}"
    );
    assert!(store.desired("school").await.unwrap().is_empty());

    // Three good lines: three keys, and the converger applies them.
    let good = (1..=3).map(line).collect::<Vec<_>>().join("\n");
    let answer = request(&client, "vppbridge.desired.school.assign", good.clone()).await;
    let written: Vec<String> = serde_json::from_value(answer["written"].clone()).unwrap();
    let desired = store.desired("school").await.unwrap();
    assert_eq!(
        written.iter().collect::<BTreeSet<_>>(),
        desired.keys().collect::<BTreeSet<_>>()
    );
    assert_eq!(written.len(), 3);
    assert!(
        desired
            .values()
            .all(|d| d.value.desired == Desired::Assigned
                && d.value.metadata == Some(serde_json::json!({"requestId": "r1"})))
    );
    eventually(60, "the three intents applied", || async {
        by_state(&rows(&store).await).get(&IntentState::Applied) == Some(&3)
    })
    .await;

    // `vppbridge status` counts them by state.
    let view = vppbridge::view::View::open(&h.env.js).await.unwrap();
    let status = vppbridge::status::read_status(&h.env.js, &view, &h.config)
        .await
        .unwrap();
    assert_eq!(
        status.locations[0].intents,
        BTreeMap::from([("applied".to_owned(), 3)])
    );

    // The same again writes nothing; unassign writes one.
    let answer = request(&client, "vppbridge.desired.school.assign", good).await;
    assert_eq!(answer["written"], serde_json::json!([]), "{answer}");
    let answer = request(&client, "vppbridge.desired.school.unassign", line(1)).await;
    assert_eq!(answer["written"].as_array().unwrap().len(), 1, "{answer}");
    worker.stop().await;
}

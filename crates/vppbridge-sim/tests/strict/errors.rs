//! Every documented error of every endpoint, through the strict client (which checks each
//! `ErrorResponse` against §10.1's shape and §10.2's HTTP status): authentication, pages and
//! versions, and the validation errors of each write. A refused write changes nothing.

use reqwest::Method;
use serde_json::{Value, json};
use vppbridge_sim::seed;

use super::client::Refusal;
use super::{Env, schema, start};

/// Expects `got` to be Apple's error `number` (shape and status already checked).
#[track_caller]
pub fn expect(what: &str, got: Result<Value, Refusal>, number: i64) {
    match got {
        Err(Refusal::Apple { number: n, .. }) if n == number => {}
        other => panic!("{what}: expected error {number}, got {other:?}"),
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn asset(i: usize) -> Value {
    json!({"adamId": seed::adam_id(i), "pricingParam": "STDQ"})
}

#[tokio::test]
async fn authentication_errors_have_the_documented_shape_and_status() {
    let env = start().await;
    let url = env.strict.url("getAssets");
    let http = reqwest::Client::new();
    let cases: [(&str, Option<&str>, i64); 4] = [
        ("no Authorization header", None, 9722),
        ("not Bearer", Some("Basic abc"), 9722),
        ("empty bearer", Some("Bearer "), 9722),
        ("unknown token", Some("Bearer bm9wZQ=="), 9601),
    ];
    for (what, header, number) in cases {
        let mut request = http.get(&url);
        if let Some(h) = header {
            request = request.header("Authorization", h);
        }
        let response = request.send().await.unwrap();
        let got = env.strict.answer(what, response, &schema::GET_ASSETS).await;
        expect(what, got, number);
    }
}

#[tokio::test]
async fn read_errors_have_the_documented_shape_and_status() {
    let env = start().await;
    let strict = &env.strict;
    let assets = strict.all("getAssets", &[]).await.unwrap();
    let users = strict.all("getUsers", &[]).await.unwrap();
    for key in ["getAssets", "getAssignments", "getUsers"] {
        for bad in ["999", "-1", "x"] {
            let got = strict
                .get(key, &[("pageIndex", bad.into())], &schema::GET_ASSETS)
                .await;
            expect(&format!("{key} pageIndex={bad}"), got, 9650);
        }
    }
    for (what, key, since) in [
        ("unknown id", "getAssignments", "not-a-version".to_owned()),
        ("unknown id", "getUsers", "not-a-version".to_owned()),
        (
            "the assets' id",
            "getAssignments",
            assets.version_id.clone(),
        ),
        ("the users' id", "getAssignments", users.version_id.clone()),
    ] {
        let got = strict
            .get(key, &[("sinceVersionId", since)], &schema::GET_ASSIGNMENTS)
            .await;
        expect(&format!("{key} sinceVersionId = {what}"), got, 9721);
    }
    let got = strict
        .get(
            "eventStatus",
            &[("eventId", "no-such-event".into())],
            &schema::STATUS,
        )
        .await;
    expect("status of an unknown event", got, 9708);
}

/// One write that must be refused.
struct Case {
    what: &'static str,
    key: &'static str,
    body: Value,
    number: i64,
}

fn case(what: &'static str, key: &'static str, body: Value, number: i64) -> Case {
    Case {
        what,
        key,
        body,
        number,
    }
}

/// §8.1–§8.3's synchronous errors of each write, sized by Service Config's limits.
fn write_cases(env: &Env) -> Vec<Case> {
    let s = &env.strict;
    let (max_assets, max_users, max_serials) = (
        s.limit("maxAssets"),
        s.limit("maxClientUserIds"),
        s.limit("maxSerialNumbers"),
    );
    let (max_revoke_users, max_revoke_serials, max_manage_users) = (
        s.limit("maxRevokeClientUserIds"),
        s.limit("maxRevokeSerialNumbers"),
        s.limit("maxUsers"),
    );
    let book = asset(4);
    let mut cases = Vec::new();
    for key in ["associateAssets", "disassociateAssets"] {
        cases.extend([
            case("no assets", key, json!({"serialNumbers": ["S1"]}), 9718),
            case(
                "empty assets",
                key,
                json!({"assets": [], "serialNumbers": ["S1"]}),
                9718,
            ),
            case("no targets", key, json!({"assets": [asset(0)]}), 9719),
            case(
                "null targets (a Go client's empty slices)",
                key,
                json!({"assets": [asset(0)], "serialNumbers": null, "clientUserIds": null}),
                9719,
            ),
            case(
                "over maxAssets",
                key,
                json!({
                    "assets": (0..=max_assets).map(asset).collect::<Vec<_>>(),
                    "serialNumbers": ["S1"],
                }),
                9700,
            ),
            case(
                "over maxClientUserIds",
                key,
                json!({"assets": [asset(0)], "clientUserIds": ids("u", max_users + 1)}),
                9701,
            ),
            case(
                "over maxSerialNumbers",
                key,
                json!({"assets": [asset(0)], "serialNumbers": ids("S", max_serials + 1)}),
                9702,
            ),
            case(
                "duplicate assets",
                key,
                json!({"assets": [asset(0), asset(0)], "serialNumbers": ["S1"]}),
                9703,
            ),
            case(
                "duplicate clientUserIds",
                key,
                json!({"assets": [asset(0)], "clientUserIds": ["u1", "u1"]}),
                9704,
            ),
            case(
                "duplicate serialNumbers",
                key,
                json!({"assets": [asset(0)], "serialNumbers": ["S1", "S1"]}),
                9705,
            ),
            case(
                "a book to a device",
                key,
                json!({"assets": [book], "serialNumbers": ["S1"]}),
                9707,
            ),
            case(
                "an array for a body (serde would fill the fields in order)",
                key,
                json!([[asset(0)], [], ["S1"]]),
                9602,
            ),
            case(
                "a pricingParam other than STDQ or PLUS",
                key,
                json!({
                    "assets": [{"adamId": seed::adam_id(0), "pricingParam": "GOLD"}],
                    "serialNumbers": ["S1"],
                }),
                9602,
            ),
            case(
                "an empty adamId",
                key,
                json!({
                    "assets": [{"adamId": "", "pricingParam": "STDQ"}],
                    "serialNumbers": ["S1"],
                }),
                9602,
            ),
            case(
                "an empty serial number",
                key,
                json!({"assets": [asset(0)], "serialNumbers": [""]}),
                9602,
            ),
            case(
                "an empty clientUserId",
                key,
                json!({"assets": [asset(0)], "clientUserIds": [""]}),
                9602,
            ),
        ]);
    }
    let revoke = "revokeAssets";
    cases.extend([
        case("no targets", revoke, json!({}), 9719),
        case(
            "null targets",
            revoke,
            json!({"clientUserIds": null, "serialNumbers": null}),
            9719,
        ),
        case(
            "over maxRevokeClientUserIds",
            revoke,
            json!({"clientUserIds": ids("u", max_revoke_users + 1)}),
            9701,
        ),
        case(
            "over maxRevokeSerialNumbers",
            revoke,
            json!({"serialNumbers": ids("S", max_revoke_serials + 1)}),
            9702,
        ),
        case(
            "an empty serial number",
            revoke,
            json!({"serialNumbers": [""]}),
            9602,
        ),
        case("an array for a body", revoke, json!([["u1"], []]), 9602),
        case(
            "duplicate clientUserIds",
            revoke,
            json!({"clientUserIds": ["u1", "u1"]}),
            9704,
        ),
        case(
            "duplicate serialNumbers",
            revoke,
            json!({"serialNumbers": ["S1", "S1"]}),
            9705,
        ),
    ]);
    let too_many: Vec<Value> = ids("u", max_manage_users + 1)
        .into_iter()
        .map(|id| json!({"clientUserId": id}))
        .collect();
    for key in ["createUsers", "updateUsers", "retireUsers"] {
        cases.extend([
            case("no users", key, json!({}), 9720),
            case("null users", key, json!({"users": null}), 9720),
            case("empty users", key, json!({"users": []}), 9720),
            case(
                "an array for a body",
                key,
                json!([[{"clientUserId": "u1"}]]),
                9602,
            ),
            case(
                "an empty clientUserId",
                key,
                json!({"users": [{"clientUserId": ""}]}),
                9602,
            ),
            case("over maxUsers", key, json!({"users": too_many}), 9714),
            case(
                "duplicate users",
                key,
                json!({"users": [{"clientUserId": "u1"}, {"clientUserId": "u1"}]}),
                9715,
            ),
        ]);
    }
    for key in ["createUsers", "updateUsers"] {
        cases.push(case(
            "invalid email",
            key,
            json!({"users": [{"clientUserId": "u1", "email": "not-an-email"}]}),
            9717,
        ));
    }
    cases
}

#[tokio::test]
async fn each_write_answers_its_documented_validation_errors_and_changes_nothing() {
    let env = start().await;
    let before = env.versions().await;
    let cases = write_cases(&env);
    for c in &cases {
        let got = env
            .strict
            .post(c.key, &c.body, &schema::EVENT_RESPONSE)
            .await;
        expect(&format!("{} {}", c.key, c.what), got, c.number);
    }
    for key in [
        "associateAssets",
        "disassociateAssets",
        "revokeAssets",
        "createUsers",
        "updateUsers",
        "retireUsers",
        "clientConfig",
    ] {
        let text = env
            .strict
            .raw(Method::POST, key)
            .header("Content-Type", "text/plain")
            .body("{}");
        let got = env.strict.send(key, text, &schema::EVENT_RESPONSE).await;
        expect(&format!("{key} as text/plain"), got, 9727);
        let broken = env
            .strict
            .raw(Method::POST, key)
            .header("Content-Type", "application/json")
            .body("{not json");
        let got = env.strict.send(key, broken, &schema::EVENT_RESPONSE).await;
        expect(&format!("{key} with a body that is not JSON"), got, 9602);
        let wrong = env.strict.raw(Method::PUT, key).json(&json!({}));
        let got = env.strict.send(key, wrong, &schema::EVENT_RESPONSE).await;
        expect(&format!("PUT {key}"), got, 9726);
    }
    assert_eq!(
        env.versions().await,
        before,
        "a refused write queues nothing (§8)"
    );
    let truth = env.truth().await;
    assert!(
        truth.get("mdmInfo").is_none(),
        "no refused call set mdmInfo"
    );
}

#[tokio::test]
async fn token_errors_have_the_documented_shape_and_status() {
    let env = start().await;
    env.strict.all("getAssets", &[]).await.unwrap();
    env.admin_post("expire-token", json!({})).await;
    let got = env.strict.get("getAssets", &[], &schema::GET_ASSETS).await;
    expect("expired token", got, 9621);
    env.admin_post("revoke-token", json!({})).await;
    let got = env.strict.get("getAssets", &[], &schema::GET_ASSETS).await;
    expect("revoked token", got, 9625);
}

#[tokio::test]
async fn reads_refuse_another_method_with_9726() {
    let env = start().await;
    for key in ["getAssets", "getAssignments", "getUsers", "eventStatus"] {
        let post = env.strict.raw(Method::POST, key).json(&json!({}));
        let got = env.strict.send(key, post, &schema::GET_ASSETS).await;
        expect(&format!("POST {key}"), got, 9726);
    }
    for key in ["associateAssets", "createUsers"] {
        let get = env.strict.raw(Method::GET, key);
        let got = env.strict.send(key, get, &schema::EVENT_RESPONSE).await;
        expect(&format!("GET {key}"), got, 9726);
    }
}

#[tokio::test]
async fn server_errors_and_the_rate_limit_have_the_documented_shape_status_and_retry_after() {
    let env = start().await;
    let off = json!({"rateLimitMode": "off"});
    env.set_faults(json!({"rateLimitMode": "off", "error503Rate": 1.0, "retryAfterSecs": 120}))
        .await;
    let token = env.sim.locations()[0].token_text.clone();
    let response = env
        .strict
        .raw(Method::GET, "getAssets")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    // §10.5: a 5xx carries Retry-After in seconds.
    let retry_after = response.headers().get("Retry-After").cloned();
    assert_eq!(
        retry_after.as_ref().map(|v| v.to_str().unwrap()),
        Some("120")
    );
    let got = env
        .strict
        .answer("503", response, &schema::GET_ASSETS)
        .await;
    expect("a 503 fault", got, 9729);

    env.set_faults(json!({"rateLimitMode": "off", "error500Rate": 1.0}))
        .await;
    let got = env.strict.get("getAssets", &[], &schema::GET_ASSETS).await;
    expect("a 500 fault", got, 9603);

    env.set_faults(json!({"rateLimitMode": "http429"})).await;
    let max = env.strict.limit("maxRequestPerSecond");
    // One more than the limit, all at once, so a slow machine still sends them within a second.
    let mut sent = tokio::task::JoinSet::new();
    for _ in 0..=max {
        let request = env.strict.raw(Method::GET, "getAssets").bearer_auth(&token);
        sent.spawn(async move { request.send().await.unwrap() });
    }
    let mut refused = Vec::new();
    while let Some(response) = sent.join_next().await {
        let got = env
            .strict
            .answer("rate limit", response.unwrap(), &schema::GET_ASSETS)
            .await;
        refused.extend(got.err());
    }
    env.set_faults(off).await;
    assert!(
        !refused.is_empty(),
        "over maxRequestPerSecond ({max}) within a second"
    );
    let limited = Refusal::Apple {
        status: 429,
        number: 9646,
    };
    assert!(refused.iter().all(|r| *r == limited), "{refused:?}");
}

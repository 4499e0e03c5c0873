//! `vppbridge register` against a fake Client Config endpoint (an axum app on port 0) that,
//! like Apple, posts a `TEST_NOTIFICATION` to the notification URL while handling the POST and
//! answers 9728 when that delivery fails.

use std::sync::{Arc, Mutex};

use apple_vpp::types::{ClientConfigRequest, MdmInfo};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use vppbridge::config::Config;
use vppbridge::register::RegisterArgs;

use super::{TestApp, spawn_app};

const UID: &str = "2049025000431439";
const TYPES: [&str; 4] = [
    "ASSET_MANAGEMENT",
    "USER_MANAGEMENT",
    "USER_ASSOCIATED",
    "ASSET_COUNT",
];

#[derive(Default)]
struct Fake {
    /// Apple's side of the network cannot reach the URL (a private address, a firewall).
    cannot_reach: bool,
    mdm_info: Option<MdmInfo>,
    posts: Vec<ClientConfigRequest>,
    test_deliveries: Vec<u16>,
}

type Shared = Arc<Mutex<Fake>>;

async fn service_config() -> Json<Value> {
    Json(
        json!({"notificationTypes": TYPES, "limits": {"maxRequestPerSecond": 100}, "urls": {}, "errorCodes": []}),
    )
}

fn config_body(f: &Fake) -> Value {
    let last = f.posts.last();
    json!({
        "countryISO2ACode": "US", "defaultPlatform": "volumestore", "locationName": "Test School",
        "mdmInfo": f.mdm_info, "uId": UID, "websiteURL": "https://school.apple.com",
        "tokenExpirationDate": "2030-11-08T22:33:22+0000",
        "notificationUrl": last.and_then(|p| p.notification_url.clone()),
        "subscribedNotificationTypes": last.and_then(|p| p.notification_types.clone()).unwrap_or_default(),
    })
}

async fn get_config(State(s): State<Shared>) -> Json<Value> {
    Json(config_body(&s.lock().unwrap()))
}

async fn post_config(
    State(s): State<Shared>,
    Json(req): Json<ClientConfigRequest>,
) -> (StatusCode, Json<Value>) {
    let url = req.notification_url.clone().unwrap_or_default();
    let secret = req.notification_auth_token.clone().unwrap_or_default();
    let test = json!({"notification": {}, "notificationId": uuid::Uuid::new_v4().to_string(),
        "notificationType": "TEST_NOTIFICATION", "uId": UID});
    let cannot_reach = s.lock().unwrap().cannot_reach;
    let target = if cannot_reach {
        "http://127.0.0.1:9/".to_owned()
    } else {
        url
    };
    let status = reqwest::Client::new()
        .post(&target)
        .bearer_auth(secret)
        .json(&test)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let mut f = s.lock().unwrap();
    f.test_deliveries.push(status);
    if !(200..300).contains(&status) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errorNumber": 9728, "errorMessage": "Notification URL unreachable"})),
        );
    }
    f.mdm_info = req.mdm_info.clone();
    f.posts.push(req);
    (StatusCode::OK, Json(config_body(&f)))
}

async fn fake_apple(mdm_info: Option<MdmInfo>) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Fake {
        mdm_info,
        ..Default::default()
    }));
    let app = Router::new()
        .route("/mdm/v2/service/config", get(service_config))
        .route("/mdm/v2/client/config", get(get_config).post(post_config))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/mdm/v2/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, shared)
}

/// Writes the register command's configuration: the receiver's, pointed at the fake Apple,
/// with a content token and (optionally) another secret file than the receiver's.
fn register_config(
    app: &TestApp,
    apple: &str,
    secret_override: Option<&str>,
) -> std::path::PathBuf {
    let mut config: Config = app.config.clone();
    config.apple.base_url = apple.to_owned();
    config.apple.max_attempts = 1;
    config.http.public_url = app.base.clone();
    config.mdm.id = "vppbridge-test-instance".into();
    let token = apple_vpp::token::ContentToken::encode(
        "ORG1",
        chrono::Utc::now() + chrono::Duration::days(200),
        "inner-token",
    );
    std::fs::write(&config.locations[0].token_file, token).unwrap();
    if let Some(s) = secret_override {
        let path = app.dir.path().join("other.secret");
        std::fs::write(&path, s).unwrap();
        config.locations[0].notification_secret_file = path;
    }
    let path = app.dir.path().join("register.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

fn args(take_over: bool) -> RegisterArgs {
    RegisterArgs {
        location: "school".into(),
        take_over,
    }
}

#[tokio::test]
async fn register_posts_mdm_info_url_secret_and_types_and_records_the_uid() {
    let app = spawn_app().await;
    let (apple, fake) = fake_apple(None).await;
    let path = register_config(&app, &apple, None);
    vppbridge::register::run(Some(&path), args(false))
        .await
        .unwrap();

    {
        let f = fake.lock().unwrap();
        assert_eq!(f.posts.len(), 1);
        let post = &f.posts[0];
        let mdm = post.mdm_info.as_ref().unwrap();
        assert_eq!(mdm.id, "vppbridge-test-instance");
        assert_eq!(mdm.name, "vppbridge");
        assert!(mdm.metadata.starts_with("vppbridge "), "{}", mdm.metadata);
        assert_eq!(
            post.notification_url.as_deref(),
            Some(format!("{}/notifications/school", app.base).as_str())
        );
        assert_eq!(post.notification_auth_token.as_deref(), Some(super::SECRET));
        assert_eq!(post.notification_types.as_deref().unwrap(), TYPES);
        assert_eq!(f.test_deliveries, [200]);
    }

    let uid = vppbridge::nats::state::read_uid(&app.js, "school")
        .await
        .unwrap();
    assert_eq!(uid.as_deref(), Some(UID));
    let messages = app.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].subject.as_str(),
        "vpp.notifications.school.test_notification"
    );
    super::assert_schema_valid(&messages[0].payload);
    app.stop().await;
}

#[tokio::test]
async fn register_refuses_a_location_another_mdm_holds_unless_take_over() {
    let app = spawn_app().await;
    let theirs = MdmInfo {
        id: "29dd58b6-93fe-4791-a660-96d7339c9f54".into(),
        name: "Zentral".into(),
        metadata: "zentral.example.com".into(),
    };
    let (apple, fake) = fake_apple(Some(theirs)).await;
    let path = register_config(&app, &apple, None);

    let err = vppbridge::register::run(Some(&path), args(false))
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("29dd58b6-93fe-4791-a660-96d7339c9f54") && text.contains("Zentral"),
        "{text}"
    );
    assert!(text.contains("--take-over"), "{text}");
    assert!(
        fake.lock().unwrap().posts.is_empty(),
        "nothing posted without --take-over"
    );

    vppbridge::register::run(Some(&path), args(true))
        .await
        .unwrap();
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.posts.len(), 1);
        assert_eq!(f.mdm_info.as_ref().unwrap().id, "vppbridge-test-instance");
    }
    app.stop().await;
}

#[tokio::test]
async fn register_explains_9728_when_apple_cannot_deliver_its_test_notification() {
    let app = spawn_app().await;
    let (apple, fake) = fake_apple(None).await;
    fake.lock().unwrap().cannot_reach = true;
    let path = register_config(&app, &apple, None);
    let err = vppbridge::register::run(Some(&path), args(false))
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("9728") && text.contains("HTTPS") && text.contains("secret"),
        "{text}"
    );
    assert_eq!(fake.lock().unwrap().test_deliveries, [0]);
    assert_eq!(
        vppbridge::nats::state::read_uid(&app.js, "school")
            .await
            .unwrap(),
        None
    );
    app.stop().await;
}

#[tokio::test]
async fn register_stops_before_apple_when_the_receiver_does_not_hold_the_secret() {
    let app = spawn_app().await;
    let (apple, fake) = fake_apple(None).await;
    let path = register_config(&app, &apple, Some("a-secret-the-receiver-does-not-know"));
    let err = vppbridge::register::run(Some(&path), args(false))
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("does not accept this location's secret"),
        "{text}"
    );
    assert!(fake.lock().unwrap().posts.is_empty());
    assert!(fake.lock().unwrap().test_deliveries.is_empty());
    assert_eq!(app.message_count().await, 0, "the probe publishes nothing");
    app.stop().await;
}

#[tokio::test]
async fn register_stops_before_apple_when_the_receiver_is_not_running() {
    let app = spawn_app().await;
    let (apple, fake) = fake_apple(None).await;
    let path = register_config(&app, &apple, None);
    let mut config: Config = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config.http.public_url = format!(
        "http://127.0.0.1:{}",
        vppbridge_testkit::natsproc::free_port().unwrap()
    );
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let err = vppbridge::register::run(Some(&path), args(false))
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("does not answer") && text.contains("vppbridge serve"),
        "{text}"
    );
    assert!(fake.lock().unwrap().posts.is_empty());
    app.stop().await;
}

/// Against the project's simulator: a first registration, then another MDM taking the location,
/// then `--take-over`; the simulator's delivery log shows its test notifications answered 2xx.
#[tokio::test]
async fn register_against_the_simulator_refuses_a_foreign_mdm_and_takes_over_when_asked() {
    use vppbridge_sim::{SimConfig, Simulator};
    let app = spawn_app().await;
    let config = SimConfig {
        allow_http_notifications: true,
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(config, listener).await.unwrap();
    let location = sim.locations().remove(0);
    let path = register_config(&app, &sim.base_url(), None);
    let mut config: Config = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::write(&config.locations[0].token_file, &location.token_text).unwrap();
    config.apple.max_attempts = 3;
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();

    vppbridge::register::run(Some(&path), args(false))
        .await
        .unwrap();
    let uid = vppbridge::nats::state::read_uid(&app.js, "school")
        .await
        .unwrap();
    assert_eq!(uid.as_deref(), Some(location.u_id.as_str()));
    let tests: Vec<_> = app
        .messages()
        .await
        .into_iter()
        .filter(|m| m.subject.as_str() == "vpp.notifications.school.test_notification")
        .collect();
    assert_eq!(
        tests.len(),
        1,
        "the simulator's test notification was stored"
    );
    super::assert_schema_valid(&tests[0].payload);

    let foreign = json!({"id": "another-mdm", "name": "Other MDM", "metadata": "elsewhere"});
    let r = reqwest::Client::new()
        .post(format!(
            "{}locations/{}/mdm-info",
            sim.admin_url(),
            location.u_id
        ))
        .json(&foreign)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let err = vppbridge::register::run(Some(&path), args(false))
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("another-mdm") && text.contains("--take-over"),
        "{text}"
    );

    vppbridge::register::run(Some(&path), args(true))
        .await
        .unwrap();
    let held: Value = reqwest::Client::new()
        .get(format!("{}client/config", sim.base_url()))
        .bearer_auth(&location.token_text)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held["mdmInfo"]["id"], "vppbridge-test-instance", "{held}");
    sim.shutdown().await;
    app.stop().await;
}

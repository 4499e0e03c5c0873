//! Notification delivery to a local HTTPS receiver whose certificate is signed by a CA the
//! simulator is given in `SSL_CERT_FILE`, as a user starts the `vppbridge-sim` binary.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

const SIM: &str = env!("CARGO_BIN_EXE_vppbridge-sim");

/// A test CA (PEM) and a server configuration for 127.0.0.1 signed by it.
fn ca_and_server() -> (String, ServerConfig) {
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "vppbridge-sim test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (ca.pem(), config)
}

/// A TCP listener that hands axum only connections whose TLS handshake succeeded.
struct TlsListener {
    tcp: TcpListener,
    tls: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses our certificate ends its handshake: wait for the next one.
            if let Ok(tls) = self.tls.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `POST /notify` over HTTPS; every body arrives on the channel with its
/// `Authorization` header.
async fn https_receiver(
    config: ServerConfig,
) -> (String, mpsc::UnboundedReceiver<(String, serde_json::Value)>) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/notify", tcp.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/notify",
        post(
            move |headers: HeaderMap, body: axum::Json<serde_json::Value>| {
                let tx = tx.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send((auth, body.0));
                    "ok"
                }
            },
        ),
    );
    let listener = TlsListener {
        tcp,
        tls: TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

/// Starts the simulator binary with `SSL_CERT_FILE` set to `ca_file` (or unset); returns it
/// with Apple's base URL and the first location's token.
async fn start_sim(ca_file: Option<&Path>) -> (Child, String, String) {
    let mut cmd = Command::new(SIM);
    cmd.args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    match ca_file {
        Some(path) => cmd.env("SSL_CERT_FILE", path),
        None => cmd.env_remove("SSL_CERT_FILE"),
    };
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (base, admin) = tokio::time::timeout(Duration::from_secs(30), async {
        let mut base = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Apple base URL:") {
                base = Some(url.trim().to_owned());
            }
            if let Some(url) = line.strip_prefix("Admin API:") {
                return (base.expect("base URL first"), url.trim().to_owned());
            }
        }
        panic!("the simulator exited without printing its URLs");
    })
    .await
    .expect("the simulator prints its URLs");
    let locations: serde_json::Value = reqwest::get(format!("{admin}locations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = locations[0]["token"].as_str().unwrap().to_owned();
    (child, base, token)
}

/// Registers `url` through Client Config; returns the HTTP status and the body.
async fn register(base: &str, token: &str, url: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}client/config"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "notificationUrl": url,
            "notificationAuthToken": "receiver-secret",
            "notificationTypes": ["ASSET_MANAGEMENT"],
        }))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn an_https_receiver_signed_by_a_ca_in_ssl_cert_file_receives_the_test_notification() {
    let (ca_pem, server) = ca_and_server();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let (url, mut received) = https_receiver(server).await;
    let (_sim, base, token) = start_sim(Some(&ca_file)).await;

    let (status, body) = register(&base, &token, &url).await;

    assert_eq!(status, 200, "registration answered {body}");
    let (auth, envelope) = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the receiver got a notification")
        .unwrap();
    assert_eq!(auth, "Bearer receiver-secret");
    assert_eq!(envelope["notificationType"], "TEST_NOTIFICATION");
}

#[tokio::test]
async fn without_the_ca_the_https_receiver_is_unreachable_9728() {
    let (_ca_pem, server) = ca_and_server();
    let (url, mut received) = https_receiver(server).await;
    let (_sim, base, token) = start_sim(None).await;

    let (status, body) = register(&base, &token, &url).await;

    assert_eq!(
        (status, &body["errorNumber"]),
        (400, &serde_json::json!(9728)),
        "{body}"
    );
    assert!(received.try_recv().is_err(), "nothing reached the receiver");
}

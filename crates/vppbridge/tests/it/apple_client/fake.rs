//! A fake Apple for client tests: axum on port 0 that records every request (time, method,
//! path, query, `Authorization`, body) and answers from a script closure; plus a TCP proxy that
//! drops its first connection without answering.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub method: Method,
    pub path: String,
    pub query: String,
    pub auth: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Recorded {
    /// A query parameter's value.
    pub fn param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.to_owned())
        })
    }
}

/// An answer: status, headers, JSON body text.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn ok(body: serde_json::Value) -> Self {
        Self::json(200, body)
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// `script(request, n)`: the answer to the `n`th (0-based) request on this path.
type Script = dyn Fn(&Recorded, usize) -> Answer + Send + Sync;

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Script>,
}

/// The running fake.
pub struct Fake {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Fake {
    pub async fn start(
        script: impl Fn(&Recorded, usize) -> Answer + Send + Sync + 'static,
    ) -> Fake {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            log: log.clone(),
            script: Arc::new(script),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake { addr, log }
    }

    /// The base URL (`http://127.0.0.1:port/mdm/v2/`).
    pub fn base_url(&self) -> String {
        format!("http://{}/mdm/v2/", self.addr)
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

async fn handle(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let rec = Recorded {
        at: Instant::now(),
        method,
        path: uri.path().trim_start_matches("/mdm/v2/").to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        auth: header("authorization"),
        content_type: header("content-type"),
        body,
    };
    let n = {
        let mut log = s.log.lock().unwrap();
        let n = log.iter().filter(|r| r.path == rec.path).count();
        log.push(rec.clone());
        n
    };
    let answer = (s.script)(&rec, n);
    let mut resp = (
        StatusCode::from_u16(answer.status).unwrap(),
        [("content-type", "application/json")],
        answer.body,
    )
        .into_response();
    for (k, v) in answer.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

/// A proxy to `target` that reads the first connection's request and closes it unanswered.
/// Returns its address and the number of connections it accepted.
pub async fn reset_first_connection(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                let mut buf = [0u8; 64];
                let _ = inbound.read(&mut buf).await;
                drop(inbound);
                continue;
            }
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (addr, accepted)
}

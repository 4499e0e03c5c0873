//! Shared helpers for the integration tests.

#![allow(dead_code)]

pub use vppbridge_testkit::natsproc::NatsServer;

/// Starts a fresh nats-server with JetStream on a random port and a temporary store.
pub async fn nats() -> NatsServer {
    NatsServer::start()
        .await
        .expect("nats-server starts (run scripts/install-nats-server)")
}

#[tokio::test]
async fn nats_server_comes_back_on_the_same_port_with_its_store() {
    let mut server = nats().await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "SMOKE".into(),
        subjects: vec!["smoke.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    js.publish("smoke.a", "x".into())
        .await
        .unwrap()
        .await
        .unwrap();
    server.restart().await.unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("SMOKE").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

/// Log lines captured for one test: a subscriber set as the default of the test's thread only
/// (the tests' runtimes are single-threaded, so every task of the test logs into it), never a
/// global one, which would format every other test's logs too.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Starts capturing every level on this thread until the guard is dropped.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(capture.clone())
            .with_ansi(false)
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Whether any captured line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}

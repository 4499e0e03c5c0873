//! A nats-server child process with JetStream in a temporary store: the demo's embedded
//! default and the integration tests' real broker. Killed when dropped.
//!
//! The binary is looked up in this order: `VPPBRIDGE_NATS_SERVER`, the project-local
//! `.tools/nats/bin/nats-server` (installed by `scripts/install-nats-server`), then `PATH`.
//! Versions older than 2.10 are refused with a message saying how to install a newer one.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The oldest nats-server vppbridge's tests and demo accept.
pub const MIN_VERSION: (u32, u32) = (2, 10);

/// What can go wrong starting a server.
#[derive(Debug, thiserror::Error)]
pub enum NatsProcError {
    /// No usable binary.
    #[error("no nats-server {}.{} or newer found (looked at $VPPBRIDGE_NATS_SERVER, .tools/nats/bin/nats-server and PATH{found}); run `scripts/install-nats-server` to install a pinned one into .tools/", MIN_VERSION.0, MIN_VERSION.1)]
    NotFound {
        /// What was found instead, if anything.
        found: String,
    },
    /// Spawning or waiting failed.
    #[error("nats-server at {binary}: {detail}")]
    Start {
        /// The binary used.
        binary: String,
        /// What happened.
        detail: String,
    },
}

/// The repository's root (where `.tools/`, `deploy/`, `schemas/` and `fixtures/` are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Finds a nats-server binary of at least [`MIN_VERSION`].
///
/// # Errors
/// [`NatsProcError::NotFound`] when none qualifies.
pub fn find_binary() -> Result<PathBuf, NatsProcError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("VPPBRIDGE_NATS_SERVER") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(workspace_root().join(".tools/nats/bin/nats-server"));
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join(".tools/nats/bin/nats-server"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("nats-server")));
    }
    let mut found = String::new();
    for c in candidates {
        if !c.is_file() {
            continue;
        }
        match version_of(&c) {
            Some(v) if v >= MIN_VERSION => return Ok(c),
            Some((maj, min)) => found.push_str(&format!("; {} is {maj}.{min}", c.display())),
            None => found.push_str(&format!("; {} did not report a version", c.display())),
        }
    }
    Err(NatsProcError::NotFound { found })
}

fn version_of(binary: &Path) -> Option<(u32, u32)> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "nats-server: v2.12.8"
    let v = text.split_whitespace().last()?.trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Picks a free TCP port on 127.0.0.1.
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Options for [`NatsServer::start_with`].
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// Client port (0: pick a free one).
    pub port: u16,
    /// Store directory (default: a new temporary one, removed on drop).
    pub store_dir: Option<PathBuf>,
    /// Extra arguments (cluster settings, server name, ...).
    pub extra_args: Vec<String>,
}

/// A running nats-server child process.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    store_dir: PathBuf,
    extra_args: Vec<String>,
    _temp: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// Starts a server with JetStream on a free port and a temporary store.
    ///
    /// # Errors
    /// When no binary is found or the server does not come up.
    pub async fn start() -> Result<Self, NatsProcError> {
        Self::start_with(NatsOptions::default()).await
    }

    /// Starts a server with the given options.
    ///
    /// # Errors
    /// When no binary is found or the server does not come up.
    pub async fn start_with(opts: NatsOptions) -> Result<Self, NatsProcError> {
        let binary = find_binary()?;
        let start_err = |detail: String| NatsProcError::Start {
            binary: binary.display().to_string(),
            detail,
        };
        let (store_dir, temp) = match opts.store_dir {
            Some(d) => (d, None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("vppbridge-nats-")
                    .tempdir()
                    .map_err(|e| start_err(format!("cannot create a temporary store: {e}")))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let port = if opts.port == 0 {
            free_port().map_err(|e| start_err(format!("no free port: {e}")))?
        } else {
            opts.port
        };
        let mut server = NatsServer {
            child: None,
            binary: binary.clone(),
            port,
            store_dir,
            extra_args: opts.extra_args,
            _temp: temp,
        };
        server.spawn().await?;
        Ok(server)
    }

    async fn spawn(&mut self) -> Result<(), NatsProcError> {
        let start_err = |detail: String| NatsProcError::Start {
            binary: self.binary.display().to_string(),
            detail,
        };
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store_dir)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| start_err(format!("cannot start: {e}")))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Waits until the server answers the NATS protocol and JetStream is enabled.
    async fn wait_ready(&mut self) -> Result<(), NatsProcError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut last = String::from("never answered");
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(NatsProcError::Start {
                    binary: self.binary.display().to_string(),
                    detail: format!("exited at start with {status} (port {} taken?)", self.port),
                });
            }
            match async_nats::connect(self.url()).await {
                Ok(client) => {
                    let js = async_nats::jetstream::new(client);
                    match js.query_account().await {
                        Ok(_) => return Ok(()),
                        Err(e) => last = format!("JetStream not ready: {e}"),
                    }
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(NatsProcError::Start {
            binary: self.binary.display().to_string(),
            detail: format!("not ready after 20 s on port {}: {last}", self.port),
        })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store directory.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// Kills the server with SIGKILL and waits for it to exit (the store stays).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port and store after [`kill`](Self::kill).
    ///
    /// # Errors
    /// When it does not come back.
    pub async fn restart(&mut self) -> Result<(), NatsProcError> {
        self.kill().await;
        self.spawn().await
    }
}

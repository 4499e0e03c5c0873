//! What every benchmark sets up the same way: a configuration file for the vppbridge child
//! process in a temporary folder, with each location's token and notification secret in files
//! (mode 0600, as an operator would keep them).

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use vppbridge::config::{Config, LocationConfig};

/// One location for the child's configuration.
#[derive(Debug, Clone)]
pub struct BenchLocation {
    /// The location id (URL path and subject token).
    pub id: String,
    /// The content token's text (`.vpptoken` contents).
    pub token_text: String,
    /// The notification secret Apple (here: the load generator) sends as bearer.
    pub secret: String,
}

/// Writes `config` with `locations` into `dir` (secrets and tokens beside it) and returns the
/// configuration file's path.
///
/// # Errors
/// When a file cannot be written or the configuration cannot be serialised.
pub fn write_config(
    dir: &Path,
    mut config: Config,
    locations: &[BenchLocation],
) -> anyhow::Result<PathBuf> {
    config.locations.clear();
    for loc in locations {
        let token_file = dir.join(format!("{}.vpptoken", loc.id));
        let secret_file = dir.join(format!("{}.secret", loc.id));
        write_private(&token_file, &loc.token_text)?;
        write_private(&secret_file, &format!("{}\n", loc.secret))?;
        config.locations.push(LocationConfig {
            id: loc.id.clone(),
            token_file,
            notification_secret_file: secret_file,
            previous_notification_secret_file: None,
            notification_types: None,
        });
    }
    let text = toml::to_string(&config).context("cannot serialise the benchmark configuration")?;
    let path = dir.join("vppbridge.toml");
    write_private(&path, &text)?;
    Ok(path)
}

/// The defaults with `nats_url`, `listen` and a fresh `mdm.id`: the production settings apart
/// from where things are.
pub fn base_config(nats_url: &str, listen: SocketAddr) -> Config {
    let mut config = Config::default();
    config.nats.url = nats_url.to_owned();
    config.http.listen = listen;
    config.mdm.id = uuid::Uuid::new_v4().to_string();
    config
}

/// A free address on 127.0.0.1.
///
/// # Errors
/// When no port can be bound.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let port = vppbridge_testkit::natsproc::free_port().context("cannot find a free port")?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

//! The command line: clap definitions and dispatch. Each command's work lives in the module that
//! owns it; this module only parses, sets up logging and the runtime, and maps results to exit
//! codes (errors print their whole cause chain and exit 1).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// vppbridge: Apple Apps and Books notifications → NATS JetStream, reconciled.
#[derive(Debug, Parser)]
#[command(name = "vppbridge", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, env = "VPPBRIDGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configuration file commands.
    Config {
        /// The configuration command.
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Content token (`.vpptoken`) commands.
    Token {
        /// The token command.
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Notification secret commands.
    Secret {
        /// The secret command.
        #[command(subcommand)]
        cmd: SecretCmd,
    },
    /// Run the receiver and the worker.
    Serve(crate::app::ServeArgs),
    /// NATS commands.
    Nats {
        /// The NATS command.
        #[command(subcommand)]
        cmd: NatsCmd,
    },
    /// Register a location's notifications with Apple (Client Config).
    Register(crate::register::RegisterArgs),
    /// Sync a location's view with Apple.
    Sync(crate::sync::SyncArgs),
    /// Resume a paused location.
    Resume(crate::view::cli::ResumeArgs),
    /// Print the view of assignments.
    Assignments(crate::view::cli::AssignmentsArgs),
    /// Print each location's health.
    Status(crate::status::StatusArgs),
    /// Desire licenses: write `assigned` keys to `vpp-desired` (the worker makes Apple agree).
    Assign(crate::intents::cli::DesireArgs),
    /// Desire no licenses: write `unassigned` keys to `vpp-desired`.
    Unassign(crate::intents::cli::DesireArgs),
    /// Print the managed keys of a location and where each stands.
    Intents(crate::intents::cli::IntentsArgs),
    /// Print the Apple requests the converger would send now (sends nothing).
    Plan(crate::intents::cli::PlanArgs),
    /// Declarative managed users (`vpp-desired-users`).
    Users {
        /// The users command.
        #[command(subcommand)]
        cmd: crate::intents::users::cli::UsersCmd,
    },
    /// Revoke every revocable license from devices or users (`assets/revoke`, sent by the worker).
    Revoke(crate::intents::revoke::RevokeArgs),
    /// The event contract's JSON Schemas.
    Schemas {
        /// The schemas command.
        #[command(subcommand)]
        cmd: SchemasCmd,
    },
}

/// `vppbridge config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Load and validate the configuration; report every problem.
    Check,
}

/// `vppbridge token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Print a content token's organisation and expiry (never the secret).
    Inspect {
        /// The `.vpptoken` file.
        file: PathBuf,
    },
}

/// `vppbridge secret ...`
#[derive(Debug, Subcommand)]
pub enum SecretCmd {
    /// Write a new random notification secret (256 bits, mode 0600).
    New {
        /// Where to write it.
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// `vppbridge nats ...`
#[derive(Debug, Subcommand)]
pub enum NatsCmd {
    /// Create or update the streams and key-value buckets (idempotent).
    Setup,
}

/// `vppbridge schemas ...`
#[derive(Debug, Subcommand)]
pub enum SchemasCmd {
    /// Write the JSON Schemas generated from the event types.
    Write {
        /// Target folder.
        #[arg(default_value = "schemas")]
        dir: PathBuf,
    },
}

/// Parses the command line, runs the command, and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one parsed command.
///
/// # Errors
/// Whatever the command reports; the caller prints the chain and exits 1.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_path = cli.config.as_deref();
    match cli.command {
        Command::Config {
            cmd: ConfigCmd::Check,
        } => crate::config::check_command(config_path),
        Command::Token {
            cmd: TokenCmd::Inspect { file },
        } => Ok(crate::token::inspect_command(&file)),
        Command::Secret {
            cmd: SecretCmd::New { path, force },
        } => crate::secret::new_command(&path, force),
        Command::Serve(args) => crate::app::serve_command(config_path, args).await,
        Command::Nats {
            cmd: NatsCmd::Setup,
        } => crate::nats::setup_command(config_path).await,
        Command::Register(args) => crate::register::run(config_path, args).await,
        Command::Sync(args) => crate::sync::run(config_path, args).await,
        Command::Resume(args) => crate::view::cli::resume(config_path, args).await,
        Command::Assignments(args) => crate::view::cli::assignments(config_path, args).await,
        Command::Status(args) => crate::status::status(config_path, args).await,
        Command::Assign(args) => {
            crate::intents::cli::desire_command(
                config_path,
                args,
                crate::events::intents::Desired::Assigned,
            )
            .await
        }
        Command::Unassign(args) => {
            crate::intents::cli::desire_command(
                config_path,
                args,
                crate::events::intents::Desired::Unassigned,
            )
            .await
        }
        Command::Intents(args) => crate::intents::cli::intents_command(config_path, args).await,
        Command::Plan(args) => crate::intents::cli::plan_command(config_path, args).await,
        Command::Users { cmd } => crate::intents::users::cli::command(config_path, cmd).await,
        Command::Revoke(args) => crate::intents::revoke::command(config_path, args).await,
        Command::Schemas {
            cmd: SchemasCmd::Write { dir },
        } => crate::events::schemas::write_command(&dir),
    }
}

/// Installs the global tracing subscriber: `RUST_LOG` filter (default `info`), text or JSON,
/// on standard error.
pub fn init_logging(format: LogFormat) {
    init_logging_with(format, "info");
}

/// [`init_logging`] with another filter when `RUST_LOG` is unset.
pub fn init_logging_with(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

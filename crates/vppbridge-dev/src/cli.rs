//! The `vppbridge-dev` command line: parses, sets up logging and the runtime, and maps results
//! to exit codes (errors print their whole cause chain and exit 1).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vppbridge::cli::{LogFormat, init_logging_with};

/// vppbridge-dev: the demo and the benchmarks of vppbridge, against the simulator.
#[derive(Debug, Parser)]
#[command(name = "vppbridge-dev", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML); the demo uses its NATS URL when one answers.
    #[arg(long, env = "VPPBRIDGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole system against the simulator and show it working.
    Demo(crate::demo::DemoArgs),
    /// Run the benchmarks.
    Bench(crate::bench::BenchArgs),
    /// The ingestion benchmark's bare pipe (started by `bench`, not by hand).
    #[command(hide = true)]
    BarePipe(crate::bench::bare::BarePipeArgs),
}

/// Parses the command line, runs the command, and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo talks to a person on standard output; its parts' info lines would drown it.
    let default_filter = match cli.command {
        Command::Demo(_) => "warn",
        Command::Bench(_) => "info",
        Command::BarePipe(_) => "warn",
    };
    init_logging_with(cli.log_format, default_filter);
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => crate::demo::run(cli.config.as_deref(), args).await,
            Command::Bench(args) => crate::bench::run(args).await,
            Command::BarePipe(args) => crate::bench::bare::serve(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, Command};

    #[test]
    fn bench_help_parses() {
        let err = Cli::try_parse_from(["vppbridge-dev", "bench", "--help"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(err.to_string().contains("--only"), "{err}");
    }

    #[test]
    fn bench_arguments_parse_with_their_defaults() {
        let cli = Cli::try_parse_from(["vppbridge-dev", "bench", "--only", "ingestion"]).unwrap();
        let Command::Bench(args) = cli.command else {
            panic!("not the bench command");
        };
        assert_eq!(args.only, Some(crate::bench::Which::Ingestion));
        assert_eq!(args.concurrency, vec![8, 32, 128]);
        assert_eq!(args.requests, 20_000);
    }
}

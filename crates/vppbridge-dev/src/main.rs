//! The `vppbridge-dev` binary: a shim over [`vppbridge_dev::cli`].

fn main() -> std::process::ExitCode {
    vppbridge_dev::cli::main()
}

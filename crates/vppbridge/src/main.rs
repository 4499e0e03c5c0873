//! The `vppbridge` binary: a shim over [`vppbridge::cli`].

fn main() -> std::process::ExitCode {
    vppbridge::cli::main()
}

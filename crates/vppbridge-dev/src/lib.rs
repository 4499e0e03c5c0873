//! vppbridge's developer tools: the demo and the benchmarks, run against the simulator. Not part
//! of the production binary.
//!
//! # Layout
//!
//! - [`cli`]: the `vppbridge-dev` command line (`demo`, `bench`).
//! - [`demo`]: the whole system on one machine, playing a scenario a person can follow, checked
//!   against Apple's truth after every step.
//! - [`bench`](mod@bench): the benchmarks of the project's claims (ingestion, reconciliation, sync), run
//!   against the production `vppbridge` binary as a child process.

pub mod bench;
pub mod cli;
pub mod demo;

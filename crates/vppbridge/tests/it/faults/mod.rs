//! The fault-injection suite (issue 6 §2): real nats-server processes, vppbridge as a child
//! process of the built binary, the simulator; each scenario ends with the checks of
//! [`support`].

mod bad_input;
mod bridge_kill;
mod cluster;
mod nats_kill;
mod sim_faults;
pub(crate) mod support;

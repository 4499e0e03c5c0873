//! The reconciling worker, the view and the change events against a real nats-server (and the
//! simulator).

mod consumer;
mod drift;
mod guard;
pub(crate) mod harness;
mod once;
mod permission;
mod sim;
pub(crate) mod support;
mod sync_restart;
mod view;

//! The reconciling worker, the view and the change events against a real nats-server (and the
//! simulator).

mod consumer;
mod drift;
mod guard;
mod harness;
mod once;
mod sim;
mod support;
mod sync_restart;
mod view;

//! Integration tests: one test binary, real nats-server processes on random ports, the project's
//! simulator on port 0.

mod apple_client;
mod cluster;
mod deploy;
mod faults;
mod intents;
mod receiver;
mod simulator;
mod support;
mod token_config;
mod worker;

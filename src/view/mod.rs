//! The view: assets, assignments, users and per-location state in JetStream key-value buckets.
//! (Skeleton.)

pub mod cli;

//! A stateful stand-in for Apple's App and Book Management service. (Skeleton.)

pub mod cli;

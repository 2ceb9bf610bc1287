//! The bridge's long-running parts. Each has a `poll` that does one round of work and returns;
//! [`run`](crate::services::run) drives them all on one loop.

pub mod batcher;
pub mod deposits;
pub mod proposer;
pub mod relayer;
pub mod run;

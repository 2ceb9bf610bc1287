//! Integration tests of the bridge on a real devnet: anvil as L1 with the L1 contracts deployed
//! by their forge script, `ol-sequencer` as L2, the bridge's services (in-process, or the
//! `ol-bridge` binary for the kill test), and replay.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod bad_input;
mod common;
mod flow;
mod kill;

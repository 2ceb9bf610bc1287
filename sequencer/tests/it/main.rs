//! Integration tests of `ol-sequencer`: real nodes (in-process through `ol_sequencer::spawn`,
//! or the binary as a subprocess), real clients (alloy, cast, forge), real peers (anvil).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod anvil_diff;
mod bad_input;
mod binary;
mod common;
mod crash;
mod deposits;
mod foundry;
mod provider;
mod reexecute;
mod rpc_server;
mod withdrawal;

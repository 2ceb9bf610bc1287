//! Integration tests, in one binary (one link step): the engine, the payment layer and ledger
//! (`payment/`, against anvil), and the HTTP API end to end (`api/`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod api;
mod bad_input;
mod common;
mod correctness;
mod engine;
mod payment;

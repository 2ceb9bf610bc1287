//! Integration tests of the engine, in one binary (one link step).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod bad_input;
mod common;
mod correctness;
mod engine;

//! Integration tests: one binary (see STYLE.md R1.8).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod audit;
mod chain;
mod common;
mod datanet_api;
mod pipeline;
mod receipts;
mod scale;
mod store;

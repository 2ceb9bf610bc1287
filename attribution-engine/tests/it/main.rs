//! Integration tests: one binary (see STYLE.md R1.8).

mod common;
mod pipeline;
mod receipts;
mod scale;

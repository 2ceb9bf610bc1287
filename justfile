# Short names for everything. On a new machine run scripts/devnet or scripts/test first: they
# install the toolchain (scripts/bootstrap) that these recipes use from .tools/bin.

set shell := ["bash", "-euo", "pipefail", "-c"]

export PATH := justfile_directory() / ".tools/bin" + ":" + env_var("PATH")

# List the recipes
default:
    @just --list

# Install the toolchain into .tools/ (idempotent)
bootstrap:
    scripts/bootstrap

# Start the whole devnet in the foreground (Ctrl-C stops it); e.g. `just devnet --l2-port 9000`
devnet *ARGS:
    scripts/devnet {{ ARGS }}

# Every check CI runs
test: fmt-check clippy test-rust test-contracts test-scripts

# rustfmt and forge fmt, checking only
fmt-check:
    cargo fmt --all --check
    forge fmt --check

# Format Rust and Solidity
fmt:
    cargo fmt --all
    forge fmt

# Clippy on every crate, target and feature, warnings as errors
clippy:
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Rust tests: default features, then all features (openlora-server's `cuda` path)
test-rust:
    cargo test --workspace
    cargo test --workspace --all-features

# Contract tests (forge, offline through the npm solc wrapper), and the committed gas snapshot
test-contracts:
    forge test
    forge snapshot --check --no-match-test "testFuzz|invariant"

# Tests of the scripts themselves: bootstrap's errors and repairs, devnet start, a paid
# inference's attribution receipt on chain, and Ctrl-C
test-scripts:
    scripts/tests/run

# Regenerate contracts/artifacts/ (the ABIs and predeploy code Rust binds to) after changing a contract
sync-artifacts:
    scripts/sync-artifacts

# Throughput of ol-sequencer against anvil and the in-process pipeline (BENCHMARKS.md)
bench-sequencer *ARGS:
    cargo bench -p ol-sequencer --bench throughput -- {{ ARGS }}

# Release build of every binary
build:
    cargo build --workspace --release

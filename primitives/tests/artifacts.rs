//! The committed artifacts the bindings are generated from must match the Solidity sources.
#![allow(clippy::unwrap_used)]

use alloy_sol_types::SolCall;
use std::{path::Path, process::Command};

#[test]
fn artifacts_match_forge() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new(root.join("scripts/sync-artifacts")).arg("--check").output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn predeploy_code_is_the_runtime_code() {
    // Runtime code never starts with a constructor's CODECOPY preamble and is not empty.
    for (address, code) in ol_primitives::predeploys::predeploys() {
        assert!(code.len() > 100, "{address}: {} bytes", code.len());
    }
    let selector = ol_primitives::contracts::l2_to_l1_message_passer::IL2ToL1MessagePasser::initiateWithdrawalCall::SELECTOR;
    assert_eq!(
        selector,
        alloy_primitives::keccak256("initiateWithdrawal(address,uint256,bytes)")[..4]
    );
}

//! The L1 contracts' addresses and roles, as `contracts/script/DeployL1.s.sol` writes them to
//! `deployments/<network>/l1.json`.

use crate::error::BridgeError;
use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `deployments/<network>/l1.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Deployment {
    /// L1 chain id.
    pub chain_id: u64,
    /// The L1 head before the contracts were deployed: nothing of the rollup is older.
    pub start_block: u64,
    /// Seconds between an output's proposal (or a withdrawal's proof) and finalization.
    pub finalization_period_seconds: u64,
    /// The contracts.
    pub contracts: L1Contracts,
    /// The roles.
    pub roles: L1Roles,
}

/// L1 contract addresses.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct L1Contracts {
    /// OPEN on L1.
    pub open_token: Address,
    /// Roles and the finalization period.
    pub system_config: Address,
    /// Output roots.
    pub output_oracle: Address,
    /// Batches.
    pub batch_inbox: Address,
    /// Deposits and withdrawals.
    pub open_portal: Address,
}

/// Role holders at deployment.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Roles {
    /// Posts batches.
    pub batcher: Address,
    /// Posts output roots.
    pub proposer: Address,
    /// Deletes wrong output roots.
    pub guardian: Address,
}

impl L1Deployment {
    /// Reads `l1.json`.
    pub fn load(path: &Path) -> Result<Self, BridgeError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BridgeError::Config(format!(
                "cannot read the L1 deployment {}: {e} (deploy with contracts/script/DeployL1.s.sol)",
                path.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            BridgeError::Config(format!("invalid L1 deployment {}: {e}", path.display()))
        })
    }
}

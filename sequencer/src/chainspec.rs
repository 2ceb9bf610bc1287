//! What defines the chain: its id, its genesis, the one hardfork it executes at and its
//! EIP-1559 fee rules.
//!
//! The chain runs one pinned fork from genesis on: OP's **Isthmus**, whose EVM is Ethereum's
//! **Prague** (EIP-7702 set-code transactions, EIP-2537 BLS precompiles, EIP-7623 calldata
//! floor), which is the `evm_version` that `foundry.toml` compiles for. Every OP fork up to
//! Isthmus is active at timestamp 0 and nothing later is scheduled, so `spec_id()` never
//! changes and a replay of any block runs the same rules.

use crate::genesis::{GenesisError, genesis_header};
use alloy_consensus::Header;
use alloy_eips::eip1559::BaseFeeParams;
use alloy_genesis::Genesis;
use alloy_op_hardforks::{ForkCondition, OpChainHardforks, OpHardfork};
use alloy_primitives::Sealed;
use op_revm::OpSpecId;
use revm::primitives::hardfork::SpecId;

/// The revm spec every block executes at.
pub const PINNED_SPEC: OpSpecId = OpSpecId::ISTHMUS;

/// The base fee of the first block when the genesis names none: 1 gwei, as on Ethereum.
pub const DEFAULT_INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// The lowest base fee the chain goes down to when blocks are emptier than the target, so
/// that spam never costs nothing: 0.001 gwei.
pub const DEFAULT_MIN_BASE_FEE: u64 = 1_000_000;

/// The chain's defining parameters.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The genesis as read (allocations, gas limit, timestamp, extra data).
    pub genesis: Genesis,
    /// OP hardfork activations (all through Isthmus at 0).
    pub hardforks: OpChainHardforks,
    /// EIP-1559 elasticity and change denominator.
    pub base_fee_params: BaseFeeParams,
    /// The floor under the base fee.
    pub min_base_fee: u64,
}

impl ChainSpec {
    /// A chain spec for `genesis`, whose `config.chainId` names the chain.
    pub fn new(genesis: Genesis) -> Result<Self, GenesisError> {
        let chain_id = genesis.config.chain_id;
        if chain_id == 0 {
            return Err(GenesisError::Invalid("config.chainId must be set and non-zero".into()));
        }
        Ok(Self {
            chain_id,
            genesis,
            hardforks: pinned_hardforks(),
            base_fee_params: BaseFeeParams::ethereum(),
            min_base_fee: DEFAULT_MIN_BASE_FEE,
        })
    }

    /// The revm spec of every block.
    pub const fn spec_id(&self) -> OpSpecId {
        PINNED_SPEC
    }

    /// The Ethereum spec the pinned OP spec executes (Prague).
    pub fn eth_spec_id(&self) -> SpecId {
        PINNED_SPEC.into_eth_spec()
    }

    /// The genesis block's header.
    pub fn genesis_header(&self) -> Result<Sealed<Header>, GenesisError> {
        genesis_header(&self.genesis)
    }

    /// The base fee of the block after `parent` (EIP-1559), never below the floor.
    pub fn next_base_fee(&self, parent: &Header) -> u64 {
        let base_fee = parent.base_fee_per_gas.unwrap_or(DEFAULT_INITIAL_BASE_FEE);
        self.base_fee_params
            .next_block_base_fee(parent.gas_used, parent.gas_limit, base_fee)
            .max(self.min_base_fee)
    }
}

/// Every OP fork through Isthmus active from the first block; nothing after it.
fn pinned_hardforks() -> OpChainHardforks {
    OpChainHardforks::new([
        (OpHardfork::Bedrock, ForkCondition::Block(0)),
        (OpHardfork::Regolith, ForkCondition::Timestamp(0)),
        (OpHardfork::Canyon, ForkCondition::Timestamp(0)),
        (OpHardfork::Ecotone, ForkCondition::Timestamp(0)),
        (OpHardfork::Fjord, ForkCondition::Timestamp(0)),
        (OpHardfork::Granite, ForkCondition::Timestamp(0)),
        (OpHardfork::Holocene, ForkCondition::Timestamp(0)),
        (OpHardfork::Isthmus, ForkCondition::Timestamp(0)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_op_evm::spec_by_timestamp_after_bedrock;

    #[test]
    fn every_block_runs_isthmus_which_is_prague() {
        let hardforks = pinned_hardforks();
        for timestamp in [0, 1, 1_700_000_000, u64::MAX] {
            assert_eq!(spec_by_timestamp_after_bedrock(&hardforks, timestamp), OpSpecId::ISTHMUS);
        }
        assert_eq!(PINNED_SPEC.into_eth_spec(), SpecId::PRAGUE);
    }

    #[test]
    fn base_fee_follows_eip1559_with_a_floor() {
        let spec = ChainSpec::new(Genesis {
            config: alloy_genesis::ChainConfig { chain_id: 7, ..Default::default() },
            ..Default::default()
        })
        .unwrap();
        let parent = |used, fee| Header {
            gas_limit: 30_000_000,
            gas_used: used,
            base_fee_per_gas: Some(fee),
            ..Default::default()
        };
        // At the target (half full) the fee stays; full raises it 12.5 %; empty lowers 12.5 %.
        assert_eq!(spec.next_base_fee(&parent(15_000_000, 1_000_000_000)), 1_000_000_000);
        assert_eq!(spec.next_base_fee(&parent(30_000_000, 1_000_000_000)), 1_125_000_000);
        assert_eq!(spec.next_base_fee(&parent(0, 1_000_000_000)), 875_000_000);
        assert_eq!(spec.next_base_fee(&parent(0, DEFAULT_MIN_BASE_FEE)), DEFAULT_MIN_BASE_FEE);
    }
}

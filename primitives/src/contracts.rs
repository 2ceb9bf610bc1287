//! Bindings of the contracts' interfaces (calls, events, errors, structs), from the ABIs that
//! forge compiled out of `contracts/src/interfaces/`. Each interface gets its own module,
//! because interfaces that share a library's structs (`Types`) would otherwise define them twice.

/// `IAttributionReceipts` (`contracts/src/interfaces/IAttributionReceipts.sol`).
pub mod attribution_receipts {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IAttributionReceipts,
        "../contracts/artifacts/IAttributionReceipts.json"
    );
}

/// `IBatchInbox` (`contracts/src/interfaces/IBatchInbox.sol`).
pub mod batch_inbox {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IBatchInbox,
        "../contracts/artifacts/IBatchInbox.json"
    );
}

/// `IDatanets` (`contracts/src/interfaces/IDatanets.sol`).
pub mod datanets {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IDatanets,
        "../contracts/artifacts/IDatanets.json"
    );
}

/// `IInferenceEscrow` (`contracts/src/interfaces/IInferenceEscrow.sol`).
pub mod inference_escrow {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IInferenceEscrow,
        "../contracts/artifacts/IInferenceEscrow.json"
    );
}

/// `IL1Block` (`contracts/src/interfaces/IL1Block.sol`).
pub mod l1_block {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IL1Block,
        "../contracts/artifacts/IL1Block.json"
    );
}

/// `IL2ToL1MessagePasser` (`contracts/src/interfaces/IL2ToL1MessagePasser.sol`).
pub mod l2_to_l1_message_passer {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IL2ToL1MessagePasser,
        "../contracts/artifacts/IL2ToL1MessagePasser.json"
    );
}

/// `IModelRegistry` (`contracts/src/interfaces/IModelRegistry.sol`).
pub mod model_registry {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IModelRegistry,
        "../contracts/artifacts/IModelRegistry.json"
    );
}

/// `IOpenPortal` (`contracts/src/interfaces/IOpenPortal.sol`).
pub mod open_portal {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IOpenPortal,
        "../contracts/artifacts/IOpenPortal.json"
    );
}

/// `IOutputOracle` (`contracts/src/interfaces/IOutputOracle.sol`).
pub mod output_oracle {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IOutputOracle,
        "../contracts/artifacts/IOutputOracle.json"
    );
}

/// `IRewards` (`contracts/src/interfaces/IRewards.sol`).
pub mod rewards {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IRewards,
        "../contracts/artifacts/IRewards.json"
    );
}

/// `IStaking` (`contracts/src/interfaces/IStaking.sol`).
pub mod staking {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IStaking,
        "../contracts/artifacts/IStaking.json"
    );
}

/// `ISystemConfig` (`contracts/src/interfaces/ISystemConfig.sol`).
pub mod system_config {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        ISystemConfig,
        "../contracts/artifacts/ISystemConfig.json"
    );
}

/// `IWrappedOpen` (`contracts/src/interfaces/IWrappedOpen.sol`).
pub mod wrapped_open {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        IWrappedOpen,
        "../contracts/artifacts/IWrappedOpen.json"
    );
}

//! # ol-bridge
//!
//! The rollup's link to L1, and the auditor's tool to check it:
//!
//! ```text
//!   L1 portal events ──deposits──▶ sequencer (ol_advanceL1Origin: L1 origin + deposits)
//!   L2 blocks ──batcher──▶ channels (zstd) ──frames──▶ BatchInbox.submitBatch (calldata)
//!   L2 headers ──proposer──▶ OutputOracle.proposeL2Output(keccak(0, stateRoot, withdrawalsRoot, hash))
//!   L2 MessagePassed ──prove (eth_getProof) / finalize──▶ OpenPortal ──▶ L1 OPEN released
//!   L1 alone ──replay──▶ every L2 block re-executed with the sequencer's own function, every root checked
//! ```
//!
//! - [`deposits`]: portal events → `0x7E` deposits (shared by the watcher and replay);
//! - [`codec`]: blocks → channels → frames and back (shared by the batcher and replay);
//! - [`output_root`]: the commitment the proposer posts and withdrawals prove against;
//! - [`withdraw`]: proving and finalizing withdrawals;
//! - [`services`]: the long-running parts (deposit watcher, batcher, proposer, relayer);
//! - [`replay`]: re-derivation and re-execution from L1 data;
//! - [`store`]: the progress store; [`rpc`]: providers and contract calls;
//!   [`deployments`]: the L1 addresses.

pub mod blocks;
pub mod codec;
pub mod deployments;
pub mod deposits;
pub mod error;
pub mod output_root;
pub mod replay;
pub mod rpc;
pub mod services;
pub mod store;
pub mod withdraw;

pub use error::{BridgeError, BridgeResult};
pub use output_root::{OUTPUT_VERSION_V0, OutputRoot};

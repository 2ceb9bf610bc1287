//! `ol-bridge`: the OpenLedger L1 link.

use alloy_primitives::B256;
use clap::{Parser, Subcommand};
use ol_bridge::OutputRoot;

/// The OpenLedger L1 link: deposits, batches, output roots, withdrawals and replay.
#[derive(Debug, Parser)]
#[command(name = "ol-bridge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Computes a v0 output root from its parts (what the proposer posts to L1).
    OutputRoot {
        /// State root of the L2 block (0x-prefixed, 32 bytes).
        #[arg(long)]
        state_root: B256,
        /// Storage root of the L2 message passer.
        #[arg(long)]
        message_passer_storage_root: B256,
        /// Hash of the L2 block.
        #[arg(long)]
        block_hash: B256,
    },
}

fn main() {
    // clap reports malformed hashes itself, naming the flag and exiting with status 2.
    match Cli::parse().command {
        Command::OutputRoot { state_root, message_passer_storage_root, block_hash } => {
            println!(
                "{}",
                OutputRoot::v0(state_root, message_passer_storage_root, block_hash).hash()
            );
        }
    }
}

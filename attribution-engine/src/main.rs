//! `attribution-engine`: attribution of inferences to training data, and receipts on chain.

use attribution_engine::Manifest;
use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};

/// OpenLedger's attribution engine.
#[derive(Debug, Parser)]
#[command(name = "attribution-engine", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the Merkle root of a training manifest (`example_hash,contributor` per line).
    ManifestRoot {
        /// The manifest file.
        manifest: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("attribution-engine: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::ManifestRoot { manifest } => {
            let text = std::fs::read_to_string(&manifest)
                .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
            let manifest =
                Manifest::parse_csv(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
            println!("{}", manifest.root());
            Ok(())
        }
    }
}

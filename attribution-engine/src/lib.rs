//! # attribution-engine
//!
//! Computes, for each paid inference, the gradient influence of an adapter's training examples
//! on the output, aggregates it per contributor and per Datanet, and posts signed receipts on
//! chain that split the inference fee. This crate is grown issue by issue; today it holds the
//! [`manifest`]: the Merkle commitment of which contributor supplied which training example,
//! the root that goes into the model registry and against which contributors claim.

pub mod manifest;

pub use manifest::{Manifest, ManifestEntry, ManifestError};

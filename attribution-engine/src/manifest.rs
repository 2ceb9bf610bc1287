//! The training manifest: every training example's content hash and its contributor, committed
//! as a Merkle root.
//!
//! The tree is the one OpenZeppelin's `MerkleProof.verify` checks: leaves are
//! `keccak256(keccak256(abi.encode(exampleHash, contributor)))` (hashed twice, so a leaf can
//! never be mistaken for an inner node), inner nodes hash their two children in sorted order,
//! and a node without a sibling moves up unchanged.

use alloy_primitives::{Address, B256, keccak256};

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// A line is not `0x<32-byte example hash>,0x<20-byte contributor>`.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The same example appears twice (an example is paid for once).
    #[error("line {line}: example {example_hash} is already listed on line {first}")]
    Duplicate {
        /// The repeated line.
        line: usize,
        /// Where it was first listed.
        first: usize,
        /// The example's content hash.
        example_hash: B256,
    },
    /// No entries.
    #[error("the manifest has no entries")]
    Empty,
}

/// One training example and who contributed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ManifestEntry {
    /// keccak256 of the example's content.
    pub example_hash: B256,
    /// The contributor's address.
    pub contributor: Address,
}

impl ManifestEntry {
    /// The Merkle leaf: `keccak256(keccak256(abi.encode(exampleHash, contributor)))`.
    pub fn leaf(&self) -> B256 {
        let mut encoded = [0u8; 64];
        encoded[..32].copy_from_slice(self.example_hash.as_slice());
        encoded[44..].copy_from_slice(self.contributor.as_slice());
        keccak256(keccak256(encoded))
    }
}

fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// A manifest with its Merkle tree (all levels kept, so proofs are cheap).
#[derive(Debug, Clone)]
pub struct Manifest {
    entries: Vec<ManifestEntry>,
    /// `levels[0]` are the leaves, the last level is `[root]`.
    levels: Vec<Vec<B256>>,
}

impl Manifest {
    /// Builds the tree; refuses an empty list and duplicate examples.
    pub fn new(entries: Vec<ManifestEntry>) -> Result<Self, ManifestError> {
        if entries.is_empty() {
            return Err(ManifestError::Empty);
        }
        let mut seen = std::collections::HashMap::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            if let Some(first) = seen.insert(entry.example_hash, i) {
                return Err(ManifestError::Duplicate {
                    line: i + 1,
                    first: first + 1,
                    example_hash: entry.example_hash,
                });
            }
        }
        let mut levels = vec![entries.iter().map(ManifestEntry::leaf).collect::<Vec<_>>()];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let above = below
                .chunks(2)
                .map(|pair| if let [a, b] = pair { hash_pair(*a, *b) } else { pair[0] })
                .collect();
            levels.push(above);
        }
        Ok(Self { entries, levels })
    }

    /// Parses `example_hash,contributor` lines (blank lines and `#` comments skipped).
    pub fn parse_csv(text: &str) -> Result<Self, ManifestError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |reason: String| ManifestError::Malformed { line: i + 1, reason };
            let (hash, contributor) = line
                .split_once(',')
                .ok_or_else(|| malformed("expected `example_hash,contributor`".into()))?;
            let example_hash = hash
                .trim()
                .parse::<B256>()
                .map_err(|e| malformed(format!("example hash {:?}: {e}", hash.trim())))?;
            let contributor = contributor
                .trim()
                .parse::<Address>()
                .map_err(|e| malformed(format!("contributor {:?}: {e}", contributor.trim())))?;
            entries.push(ManifestEntry { example_hash, contributor });
        }
        Self::new(entries)
    }

    /// The root committed on chain.
    pub fn root(&self) -> B256 {
        self.levels.last().and_then(|level| level.first()).copied().unwrap_or_default()
    }

    /// The entries, in manifest order.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// The sibling path of entry `index`, or `None` past the end.
    pub fn proof(&self, index: usize) -> Option<Vec<B256>> {
        if index >= self.entries.len() {
            return None;
        }
        let mut proof = Vec::new();
        let mut position = index;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(position ^ 1) {
                proof.push(*sibling);
            }
            position /= 2;
        }
        Some(proof)
    }

    /// Checks a proof as OpenZeppelin's `MerkleProof.verify` does.
    pub fn verify(proof: &[B256], root: B256, leaf: B256) -> bool {
        proof.iter().fold(leaf, |node, sibling| hash_pair(node, *sibling)) == root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};

    fn entry(i: u8) -> ManifestEntry {
        ManifestEntry { example_hash: keccak256([i]), contributor: Address::repeat_byte(i % 3 + 1) }
    }

    /// Leaf and two-leaf root, computed independently with foundry's `cast`:
    /// leaf = `cast keccak $(cast keccak $(cast abi-encode "f(bytes32,address)" H A))`,
    /// root = `cast keccak $(cast concat-hex LO HI)`.
    #[test]
    fn leaf_and_root_match_cast() {
        let a = ManifestEntry {
            example_hash: B256::repeat_byte(0xab),
            contributor: address!("0x00000000000000000000000000000000000000c0"),
        };
        let b = ManifestEntry {
            example_hash: B256::repeat_byte(0xcd),
            contributor: address!("0x00000000000000000000000000000000000000c1"),
        };
        assert_eq!(
            a.leaf(),
            b256!("0x3255e8f945cac441114d48724a7b8ab68720667805cce0038020572c906febfc")
        );
        let manifest = Manifest::new(vec![a, b]).unwrap();
        assert_eq!(
            manifest.root(),
            b256!("0xee41382e74711be1a28b0626a12ca04b10487f0143592296622c57e14e90a9a7")
        );
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        for n in [1usize, 2, 3, 5, 8, 13] {
            let manifest = Manifest::new((0..n as u8).map(entry).collect()).unwrap();
            for (i, e) in manifest.entries().iter().enumerate() {
                let proof = manifest.proof(i).unwrap();
                assert!(Manifest::verify(&proof, manifest.root(), e.leaf()), "n={n} i={i}");
                let forged = ManifestEntry { contributor: Address::repeat_byte(0xee), ..*e };
                assert!(!Manifest::verify(&proof, manifest.root(), forged.leaf()), "n={n} i={i}");
            }
            assert!(manifest.proof(n).is_none());
        }
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_line() {
        let h = format!("{}", B256::repeat_byte(1));
        let a = format!("{}", Address::repeat_byte(2));
        let table: Vec<(String, &str)> = vec![
            (String::new(), "no entries"),
            ("# only a comment\n".into(), "no entries"),
            (h.clone(), "line 1: expected `example_hash,contributor`"),
            (format!("0x12,{a}"), "line 1: example hash"),
            (format!("\n{h},0xzz"), "line 2: contributor"),
            (format!("{h},{a}\n{h},{a}"), "line 2: example 0x0101"),
        ];
        for (text, expected) in table {
            let err = Manifest::parse_csv(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err:?} lacks {expected:?}");
        }
        let ok = Manifest::parse_csv(&format!("# manifest\n{h}, {a}\n")).unwrap();
        assert_eq!(ok.entries().len(), 1);
    }
}

//! The Merkle tree OpenZeppelin's `MerkleProof.verify` checks, over leaves given as hashes:
//! inner nodes hash their two children in sorted order, and a node without a sibling moves up
//! unchanged. The leaves are already double-hashed by their makers
//! ([`receipt_leaf`](super::receipt_leaf), [`reward_leaf`](super::reward_leaf)).

use alloy_primitives::{B256, keccak256};

/// keccak256 of the two nodes, smaller first.
fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// A tree with every level kept (proofs are cheap). Leaves keep their order.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves, the last level is `[root]`.
    levels: Vec<Vec<B256>>,
}

impl MerkleTree {
    /// The tree of `leaves`; `None` without leaves.
    pub fn new(leaves: Vec<B256>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let above = below
                .chunks(2)
                .map(|pair| if let [a, b] = pair { hash_pair(*a, *b) } else { pair[0] })
                .collect();
            levels.push(above);
        }
        Some(Self { levels })
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.levels.last().and_then(|l| l.first()).copied().unwrap_or_default()
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Whether there are no leaves (never true for a built tree).
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The proof of leaf `i` (siblings from the bottom up), `None` past the end.
    pub fn proof(&self, mut i: usize) -> Option<Vec<B256>> {
        if i >= self.len() {
            return None;
        }
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            i /= 2;
        }
        Some(proof)
    }

    /// What `MerkleProof.verify(proof, root, leaf)` answers.
    pub fn verify(proof: &[B256], root: B256, leaf: B256) -> bool {
        proof.iter().fold(leaf, |node, sibling| hash_pair(node, *sibling)) == root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_proves_for_every_size() {
        for n in 1..=9usize {
            let leaves: Vec<B256> = (0..n).map(|i| keccak256([i as u8])).collect();
            let tree = MerkleTree::new(leaves.clone()).unwrap();
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = tree.proof(i).unwrap();
                assert!(MerkleTree::verify(&proof, tree.root(), *leaf), "n {n} leaf {i}");
                assert!(!MerkleTree::verify(&proof, tree.root(), keccak256([0xff])));
            }
            assert!(tree.proof(n).is_none());
        }
        assert!(MerkleTree::new(vec![]).is_none());
        let one = MerkleTree::new(vec![B256::repeat_byte(1)]).unwrap();
        assert_eq!(one.root(), B256::repeat_byte(1));
    }
}

//! The paged KV cache: one pool of fixed-size blocks per layer, and a block table per sequence
//! (vLLM's PagedAttention layout). A token at position `p` of a sequence lives in cache slot
//! `table[p / block_size] * block_size + p % block_size`; new keys and values are written with
//! one `index_copy_` per layer, and attention gathers a sequence's slots with `index_select`.

use tch::{Device, Kind, Tensor};

/// Keys and values of every layer, and the free list of blocks.
#[derive(Debug)]
pub struct KvCache {
    /// Per layer, `[num_blocks * block_size, kv_heads, head_dim]`.
    pub k: Vec<Tensor>,
    /// Per layer, same shape as `k`.
    pub v: Vec<Tensor>,
    block_size: usize,
    num_blocks: usize,
    free: Vec<u32>,
}

/// The blocks one sequence holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlockTable {
    blocks: Vec<u32>,
}

impl BlockTable {
    /// How many blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

impl KvCache {
    /// Allocates `num_blocks` blocks of `block_size` tokens for `layers` layers.
    pub fn new(
        layers: usize,
        num_blocks: usize,
        block_size: usize,
        kv_heads: usize,
        head_dim: usize,
        kind: Kind,
        device: Device,
    ) -> Self {
        let slots = (num_blocks * block_size) as i64;
        let shape = [slots, kv_heads as i64, head_dim as i64];
        Self {
            k: (0..layers).map(|_| Tensor::zeros(shape, (kind, device))).collect(),
            v: (0..layers).map(|_| Tensor::zeros(shape, (kind, device))).collect(),
            block_size,
            num_blocks,
            free: (0..num_blocks as u32).rev().collect(),
        }
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks not held by any sequence.
    pub fn free_blocks(&self) -> usize {
        self.free.len()
    }

    /// All blocks.
    pub fn total_blocks(&self) -> usize {
        self.num_blocks
    }

    /// Blocks needed for `tokens` tokens.
    pub fn blocks_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.block_size)
    }

    /// Reserves room for `tokens` tokens, or `None` when the pool is short.
    pub fn allocate(&mut self, tokens: usize) -> Option<BlockTable> {
        let need = self.blocks_for(tokens);
        if need > self.free.len() {
            return None;
        }
        let at = self.free.len() - need;
        Some(BlockTable { blocks: self.free.split_off(at) })
    }

    /// Returns a sequence's blocks to the pool.
    pub fn release(&mut self, table: BlockTable) {
        self.free.extend(table.blocks);
    }

    /// The cache slot of position `pos` in a sequence with `table`, if it fits.
    pub fn slot(&self, table: &BlockTable, pos: usize) -> Option<i64> {
        let block = *table.blocks.get(pos / self.block_size)?;
        Some((block as usize * self.block_size + pos % self.block_size) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reserved_and_returned() {
        let mut kv = KvCache::new(1, 4, 8, 1, 2, Kind::Float, Device::Cpu);
        let a = kv.allocate(9).unwrap();
        assert_eq!(a.len(), 2);
        assert!(kv.allocate(17).is_none());
        let b = kv.allocate(16).unwrap();
        assert_eq!(kv.free_blocks(), 0);
        let slots: std::collections::HashSet<i64> = (0..16)
            .map(|p| kv.slot(&a, p).unwrap())
            .chain((0..16).map(|p| kv.slot(&b, p).unwrap()))
            .collect();
        assert_eq!(slots.len(), 32, "no two positions share a slot");
        assert!(kv.slot(&a, 16).is_none());
        kv.release(a);
        kv.release(b);
        assert_eq!(kv.free_blocks(), 4);
    }
}

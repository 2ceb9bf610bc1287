//! Tests of the codec: round trips, the table of bad inputs, property tests.

mod bad_inputs;
mod props;
mod roundtrip;
mod units;

use alloy_primitives::{Address, B256, Bytes};

use super::{BlockEntry, ChannelBank, ChannelId, ChannelOut, Frame, Ignored, ReadyChannel};

/// SplitMix64: a small deterministic generator, so test data needs no extra crate.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(super) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    pub(super) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.fill(&mut v);
        v
    }

    pub(super) fn b256(&mut self) -> B256 {
        let mut b = B256::ZERO;
        self.fill(b.as_mut_slice());
        b
    }

    pub(super) fn address(&mut self) -> Address {
        let mut a = Address::ZERO;
        self.fill(a.as_mut_slice());
        a
    }

    pub(super) fn channel_id(&mut self) -> ChannelId {
        let mut id = ChannelId::ZERO;
        self.fill(id.as_mut_slice());
        id
    }

    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A block following `parent` (or block 1 if none) with `txs` random transactions of
/// `tx_len` bytes each (the first byte a type byte).
pub(super) fn block_after(
    rng: &mut Rng,
    parent: Option<&BlockEntry>,
    txs: usize,
    tx_len: std::ops::Range<usize>,
) -> BlockEntry {
    let (number, parent_hash, timestamp) = match parent {
        Some(p) => (p.number + 1, p.block_hash, p.timestamp + 2),
        None => (1, rng.b256(), 1_700_000_000),
    };
    let transactions = (0..txs)
        .map(|_| {
            let len = tx_len.start + rng.below(tx_len.end.saturating_sub(tx_len.start).max(1));
            let mut tx = rng.bytes(len);
            if let Some(first) = tx.first_mut() {
                *first = [0x02, 0x7e, 0x01][rng.below(3)];
            }
            Bytes::from(tx)
        })
        .collect();
    let extra_len = rng.below(33);
    BlockEntry {
        number,
        parent_hash,
        timestamp,
        beneficiary: rng.address(),
        gas_limit: 30_000_000,
        prev_randao: rng.b256(),
        parent_beacon_block_root: rng.b256(),
        extra_data: Bytes::from(rng.bytes(extra_len)),
        transactions,
        block_hash: rng.b256(),
        state_root: rng.b256(),
    }
}

/// `n` consecutive blocks with 0..=`max_txs` transactions of 1..`max_tx_len` bytes each.
pub(super) fn chain(rng: &mut Rng, n: usize, max_txs: usize, max_tx_len: usize) -> Vec<BlockEntry> {
    let mut blocks: Vec<BlockEntry> = Vec::with_capacity(n);
    for _ in 0..n {
        let txs = rng.below(max_txs + 1);
        let block = block_after(rng, blocks.last(), txs, 1..max_tx_len);
        blocks.push(block);
    }
    blocks
}

/// Encodes `blocks` as channel `id` and cuts it at `max_frame_data`.
pub(super) fn frames_of(blocks: &[BlockEntry], id: ChannelId, max_frame_data: usize) -> Vec<Frame> {
    let mut channel = ChannelOut::new(id).with_level(3).unwrap();
    for block in blocks {
        channel.add_block(block).unwrap();
    }
    channel.close().unwrap();
    channel.frames(max_frame_data).unwrap()
}

/// Raw channel bytes framed as channel `id`, in one frame.
pub(super) fn raw_channel_frame(id: ChannelId, data: &[u8]) -> Frame {
    Frame::new(id, 0, data.to_vec(), true).unwrap()
}

/// A payload of these frames, encoded by hand (so tests can mix in bad bytes).
pub(super) fn payload_of(frames: &[&Frame]) -> Vec<u8> {
    let mut out = vec![0x00];
    for frame in frames {
        frame.encode_to(&mut out);
    }
    out
}

/// Feeds every payload to a fresh bank (L1 block = index + 1); returns ready channels and all
/// ignored items.
pub(super) fn feed(
    bank: &mut ChannelBank,
    payloads: &[Vec<u8>],
) -> (Vec<ReadyChannel>, Vec<Ignored>) {
    let mut ignored = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        ignored.extend(bank.ingest(i as u64 + 1, payload));
    }
    (bank.take_ready(), ignored)
}

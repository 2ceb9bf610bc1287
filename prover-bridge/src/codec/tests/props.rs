//! Property tests: arbitrary payloads never panic the bank nor take it past its limits;
//! arbitrary blocks in any frame order decode back exactly.

use alloy_primitives::{Address, B256, Bytes};
use proptest::prelude::*;

use super::{Rng, payload_of};
use crate::codec::{
    BlockEntry, ChannelBank, ChannelBankConfig, ChannelId, ChannelOut, Frame, Ignored, compress,
};

fn small_config() -> ChannelBankConfig {
    ChannelBankConfig {
        channel_timeout: 4,
        max_decompressed: 2000,
        max_pending_channels: 3,
        max_pending_bytes: 600,
        max_finished: 5,
    }
}

/// A payload: raw bytes, or well-formed frames of a few channel ids (so frames really collide,
/// close, time out and get evicted), some holding real zstd, with optional garbage after.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..200);
    let data = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..60),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|d| compress::compress(&d, 1).unwrap()),
        Just(compress::compress(&[0xC0], 1).unwrap()),
    ];
    let frame = (0u8..4, 0u16..5, data, prop::bool::weighted(0.3))
        .prop_map(|(id, n, d, last)| Frame::new(ChannelId::repeat_byte(id), n, d, last).unwrap());
    let framed =
        (prop::collection::vec(frame, 0..6), prop::collection::vec(any::<u8>(), 0..30), 0u8..8)
            .prop_map(|(frames, tail, version)| {
                let mut p = payload_of(&frames.iter().collect::<Vec<_>>());
                if version == 7 {
                    p[0] = 1;
                }
                if tail.len() > 20 {
                    p.extend_from_slice(&tail);
                }
                p
            });
    prop_oneof![1 => raw, 3 => framed]
}

fn block() -> impl Strategy<Value = BlockEntry> {
    (
        (any::<u64>(), any::<[u8; 32]>(), any::<u64>(), any::<[u8; 20]>(), any::<u64>()),
        (any::<[u8; 32]>(), any::<[u8; 32]>(), prop::collection::vec(any::<u8>(), 0..40)),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..8),
        (any::<[u8; 32]>(), any::<[u8; 32]>()),
    )
        .prop_map(
            |(
                (number, parent, timestamp, beneficiary, gas_limit),
                (randao, beacon, extra),
                txs,
                (hash, root),
            )| {
                BlockEntry {
                    number,
                    parent_hash: B256::from(parent),
                    timestamp,
                    beneficiary: Address::from(beneficiary),
                    gas_limit,
                    prev_randao: B256::from(randao),
                    parent_beacon_block_root: B256::from(beacon),
                    extra_data: Bytes::from(extra),
                    transactions: txs.into_iter().map(Bytes::from).collect(),
                    block_hash: B256::from(hash),
                    state_root: B256::from(root),
                }
            },
        )
}

proptest! {
    // 512 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn ingest_never_panics_and_stays_bounded(
        steps in prop::collection::vec((0u64..3, payload()), 1..25)
    ) {
        let config = small_config();
        let mut bank = ChannelBank::new(config);
        let mut l1 = 0;
        for (delta, payload) in &steps {
            l1 += delta;
            let _ignored = bank.ingest(l1, payload);
            bank.assert_invariants();
            prop_assert!(bank.pending_bytes() <= config.max_pending_bytes);
            prop_assert!(bank.pending_channels() <= config.max_pending_channels);
            for ready in bank.take_ready() {
                prop_assert!(!ready.blocks.is_empty());
            }
        }
    }

    #[test]
    fn default_bank_never_panics(payload in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut bank = ChannelBank::default();
        let _ignored = bank.ingest(1, &payload);
        bank.assert_invariants();
    }

    #[test]
    fn any_frame_order_round_trips(
        blocks in prop::collection::vec(block(), 1..6),
        max_frame_data in 1usize..400,
        seed in any::<u64>(),
        duplicate in any::<bool>(),
    ) {
        let mut rng = Rng::new(seed);
        let id = rng.channel_id();
        let mut channel = ChannelOut::new(id).with_level(1 + rng.below(19) as i32).unwrap();
        for b in &blocks {
            channel.add_block(b).unwrap();
        }
        channel.close().unwrap();
        let frames = channel.frames(max_frame_data).unwrap();
        let mut order: Vec<&Frame> = frames.iter().collect();
        if duplicate {
            order.extend(frames.iter().filter(|_| rng.below(2) == 0));
        }
        rng.shuffle(&mut order);

        let mut bank = ChannelBank::default();
        let mut ignored = Vec::new();
        let mut rest = order.as_slice();
        let mut l1 = 100;
        while !rest.is_empty() {
            let take = 1 + rng.below(rest.len().min(4));
            ignored.extend(bank.ingest(l1, &payload_of(&rest[..take])));
            rest = &rest[take..];
            // L1 moves on, but never past the channel timeout (opened at 100).
            l1 = (l1 + rng.below(2) as u64).min(400);
        }
        let ready = bank.take_ready();
        prop_assert_eq!(ready.len(), 1);
        prop_assert_eq!(&ready[0].blocks, &blocks);
        prop_assert_eq!(ready[0].channel_id, id);
        for item in &ignored {
            prop_assert!(
                matches!(item, Ignored::DuplicateFrame { .. } | Ignored::FinishedChannel { .. }),
                "{:?}", item
            );
        }
        prop_assert_eq!(bank.pending_bytes(), 0);
    }
}

//! Blocks → channel → frames → payloads (shuffled, duplicated, interleaved) → bank → blocks.

use super::{Rng, block_after, chain, feed, frames_of, payload_of};
use crate::codec::{
    BlockEntry, ChannelBank, ChannelOut, DEFAULT_MAX_FRAME_DATA, Frame, Ignored, MAX_BATCH_PAYLOAD,
    check_consecutive, pack_payloads,
};

/// Straight through, with the default sizes: one channel, payloads in order.
fn straight(blocks: &[BlockEntry]) {
    let mut rng = Rng::new(blocks.len() as u64);
    let frames = frames_of(blocks, rng.channel_id(), DEFAULT_MAX_FRAME_DATA);
    let payloads: Vec<Vec<u8>> = pack_payloads(&frames, MAX_BATCH_PAYLOAD)
        .unwrap()
        .into_iter()
        .map(|p| p.to_vec())
        .collect();
    let mut bank = ChannelBank::default();
    let (ready, ignored) = feed(&mut bank, &payloads);
    assert_eq!(ignored, vec![]);
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].blocks, blocks);
    assert_eq!(ready[0].opened_at, 1);
    assert_eq!(ready[0].completed_at, payloads.len() as u64);
    assert_eq!(bank.pending_channels(), 0);
    assert_eq!(bank.pending_bytes(), 0);
}

#[test]
fn one_block() {
    let mut rng = Rng::new(10);
    straight(&chain(&mut rng, 1, 5, 200));
}

#[test]
fn empty_block() {
    let block = BlockEntry { number: 7, ..Default::default() };
    straight(&[block]);
}

#[test]
fn big_block() {
    let mut rng = Rng::new(11);
    let mut block = block_after(&mut rng, None, 3000, 100..300);
    // And a 300 KB contract creation.
    block.transactions.push(rng.bytes(300_000).into());
    let frames = frames_of(std::slice::from_ref(&block), rng.channel_id(), DEFAULT_MAX_FRAME_DATA);
    assert!(frames.len() >= 8, "{} frames", frames.len());
    straight(&[block]);
}

#[test]
fn ten_thousand_blocks() {
    let mut rng = Rng::new(12);
    let blocks = chain(&mut rng, 10_000, 4, 200);
    assert_eq!(check_consecutive(&blocks), Ok(()));
    straight(&blocks);
}

/// Two channels cut into small frames, every frame sent twice, shuffled together and spread
/// over many payloads: both come out whole, each exactly once.
#[test]
fn shuffled_duplicated_interleaved() {
    let mut rng = Rng::new(13);
    let a = chain(&mut rng, 300, 6, 250);
    let b = chain(&mut rng, 50, 3, 120);
    let (id_a, id_b) = (rng.channel_id(), rng.channel_id());
    let frames_a = frames_of(&a, id_a, 2000);
    let frames_b = frames_of(&b, id_b, 700);
    assert!(frames_a.len() > 20 && frames_b.len() > 5);

    let mut all: Vec<&Frame> = frames_a.iter().chain(&frames_b).collect();
    all.extend(all.clone()); // every frame twice
    rng.shuffle(&mut all);
    let mut payloads = Vec::new();
    let mut rest = all.as_slice();
    while !rest.is_empty() {
        let take = 1 + rng.below(5.min(rest.len()));
        payloads.push(payload_of(&rest[..take]));
        rest = &rest[take..];
    }

    let mut bank = ChannelBank::default();
    let (ready, ignored) = feed(&mut bank, &payloads);
    assert_eq!(ready.len(), 2);
    let (got_a, got_b) =
        if ready[0].channel_id == id_a { (&ready[0], &ready[1]) } else { (&ready[1], &ready[0]) };
    assert_eq!(got_a.channel_id, id_a);
    assert_eq!(got_b.channel_id, id_b);
    assert_eq!(got_a.blocks, a);
    assert_eq!(got_b.blocks, b);
    // Every ignored item is the second copy of a frame: a duplicate while pending, or a frame
    // of a channel already delivered.
    assert_eq!(ignored.len(), frames_a.len() + frames_b.len());
    for item in &ignored {
        assert!(
            matches!(item, Ignored::DuplicateFrame { .. } | Ignored::FinishedChannel { .. }),
            "{item:?}"
        );
    }
    assert_eq!(bank.pending_channels(), 0);
}

/// Several channels one after another, each in order: they come out in completion order.
#[test]
fn channels_in_completion_order() {
    let mut rng = Rng::new(14);
    let blocks = chain(&mut rng, 90, 5, 150);
    let mut payloads = Vec::new();
    let mut ids = Vec::new();
    for part in blocks.chunks(30) {
        let mut channel = ChannelOut::random();
        for block in part {
            channel.add_block(block).unwrap();
        }
        channel.close().unwrap();
        ids.push(channel.id());
        let frames = channel.frames(1500).unwrap();
        payloads.extend(pack_payloads(&frames, 4000).unwrap().into_iter().map(|p| p.to_vec()));
    }
    let mut bank = ChannelBank::default();
    let (ready, ignored) = feed(&mut bank, &payloads);
    assert_eq!(ignored, vec![]);
    assert_eq!(ready.iter().map(|r| r.channel_id).collect::<Vec<_>>(), ids);
    let joined: Vec<BlockEntry> = ready.into_iter().flat_map(|r| r.blocks).collect();
    assert_eq!(joined, blocks);
    assert_eq!(check_consecutive(&joined), Ok(()));
}

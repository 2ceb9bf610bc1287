//! Unit tests of the pieces: frames, payload packing, the encoder's errors, zstd, continuity.

use alloy_primitives::Bytes;

use super::{Rng, block_after, chain, frames_of};
use crate::codec::{
    BlockEntry, ChannelId, ChannelOut, CodecError, ContinuityError, DEFAULT_MAX_FRAME_DATA,
    DecompressError, FRAME_OVERHEAD, Frame, FrameError, MAX_BATCH_PAYLOAD, PayloadError,
    batch_payload, check_consecutive, compress, pack_payloads, parse_payload,
};

#[test]
fn frame_layout_is_exact() {
    let id = ChannelId::repeat_byte(0xAB);
    let frame = Frame::new(id, 0x0102, vec![9, 8, 7], true).unwrap();
    let bytes = frame.encode();
    let mut expected = vec![0xAB; 16];
    expected.extend_from_slice(&[0x01, 0x02, 0, 0, 0, 3, 9, 8, 7, 1]);
    assert_eq!(bytes, expected);
    assert_eq!(frame.encoded_len(), FRAME_OVERHEAD + 3);
    assert_eq!(Frame::decode(&bytes).unwrap(), (frame, bytes.len()));
}

#[test]
fn frame_decode_errors() {
    let frame = Frame::new(ChannelId::ZERO, 1, vec![1, 2, 3], false).unwrap().encode();
    assert!(matches!(
        Frame::decode(&frame[..10]),
        Err(FrameError::Truncated { field: "channel_id", needed: 16, available: 10 })
    ));
    assert!(matches!(
        Frame::decode(&frame[..17]),
        Err(FrameError::Truncated { field: "frame_number", .. })
    ));
    assert!(matches!(
        Frame::decode(&frame[..20]),
        Err(FrameError::Truncated { field: "data_len", .. })
    ));
    // Data present but the is_last byte missing.
    assert!(matches!(
        Frame::decode(&frame[..frame.len() - 1]),
        Err(FrameError::DataPastEnd { data_len: 3, available: 3 })
    ));
    let mut bad = frame.clone();
    *bad.last_mut().unwrap() = 2;
    assert_eq!(Frame::decode(&bad), Err(FrameError::BadIsLast(2)));
    let mut huge = frame;
    huge[18..22].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Frame::decode(&huge),
        Err(FrameError::DataPastEnd { data_len: u32::MAX, .. })
    ));
}

#[test]
fn parse_payload_keeps_frames_before_a_bad_one() {
    let a = Frame::new(ChannelId::repeat_byte(1), 0, vec![1; 5], false).unwrap();
    let b = Frame::new(ChannelId::repeat_byte(2), 3, Vec::new(), true).unwrap();
    let mut payload = batch_payload(&[a.clone(), b.clone()]).to_vec();
    assert_eq!(parse_payload(&payload), (vec![a.clone(), b.clone()], None));
    let good_len = payload.len();
    payload.extend_from_slice(&[0xFF; 5]);
    let (frames, error) = parse_payload(&payload);
    assert_eq!(frames, vec![a, b]);
    assert!(matches!(
        error,
        Some(PayloadError::BadFrame { offset, index: 2, error: FrameError::Truncated { .. } })
            if offset == good_len
    ));
    assert_eq!(parse_payload(&[]), (vec![], Some(PayloadError::Empty)));
    assert_eq!(parse_payload(&[0]), (vec![], Some(PayloadError::NoFrames)));
    assert_eq!(parse_payload(&[7, 0, 0]), (vec![], Some(PayloadError::UnknownVersion(7))));
}

#[test]
fn frames_cover_the_channel_exactly() {
    let mut rng = Rng::new(1);
    let blocks = chain(&mut rng, 20, 10, 400);
    let mut channel = ChannelOut::new(rng.channel_id());
    for block in &blocks {
        channel.add_block(block).unwrap();
    }
    channel.close().unwrap();
    let compressed = channel.compressed().unwrap().clone();
    for max in [1, 7, 100, compressed.len() - 1, compressed.len(), compressed.len() + 1] {
        let frames = channel.frames(max).unwrap();
        assert_eq!(frames.len(), compressed.len().div_ceil(max));
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.data().to_vec()).collect();
        assert_eq!(joined, compressed.to_vec());
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(usize::from(frame.number()), i);
            assert_eq!(frame.is_last(), i + 1 == frames.len());
            assert!(frame.data().len() <= max);
        }
    }
    let ratio = channel.ratio().unwrap();
    assert!(ratio > 0.5, "{ratio}");
    assert_eq!(channel.compressed_len(), Some(compressed.len()));
}

#[test]
fn encoder_errors() {
    let block = BlockEntry::default();
    let mut channel = ChannelOut::new(ChannelId::ZERO);
    assert!(matches!(channel.frames(100), Err(CodecError::ChannelOpen)));
    assert!(matches!(channel.close(), Err(CodecError::EmptyChannel)));
    channel.add_block(&block).unwrap();
    channel.close().unwrap();
    assert!(matches!(channel.add_block(&block), Err(CodecError::ChannelClosed)));
    assert!(matches!(channel.close(), Err(CodecError::ChannelClosed)));
    assert!(matches!(channel.frames(0), Err(CodecError::ZeroFrameData)));
    assert_eq!(channel.block_count(), 1);
    assert!(matches!(ChannelOut::random().with_level(20), Err(CodecError::BadLevel(20))));
    assert!(matches!(ChannelOut::random().with_level(0), Err(CodecError::BadLevel(0))));

    // The RLP limit: the block that does not fit is refused and the channel stays usable.
    let limit = block.rlp_len() * 2 + 3;
    let mut small = ChannelOut::random().with_max_rlp(limit);
    small.add_block(&block).unwrap();
    small.add_block(&block).unwrap();
    let before = small.rlp_len();
    assert!(
        matches!(small.add_block(&block), Err(CodecError::ChannelFull { limit: l, .. }) if l == limit)
    );
    assert_eq!(small.rlp_len(), before);
    assert_eq!(small.block_count(), 2);
    small.close().unwrap();

    // More than 65536 frames.
    let mut rng = Rng::new(2);
    let mut big = ChannelOut::random().with_level(1).unwrap();
    big.add_block(&block_after(&mut rng, None, 1, 70_000..70_001)).unwrap();
    big.close().unwrap();
    assert!(matches!(big.frames(1), Err(CodecError::TooManyFrames { .. })));
}

#[test]
fn pack_payloads_respects_the_limit() {
    let mut rng = Rng::new(3);
    let blocks = chain(&mut rng, 200, 40, 300);
    let frames = frames_of(&blocks, rng.channel_id(), DEFAULT_MAX_FRAME_DATA);
    assert!(frames.len() > 1, "want several full frames, got {}", frames.len());
    let payloads = pack_payloads(&frames, MAX_BATCH_PAYLOAD).unwrap();
    assert_eq!(payloads.len(), frames.len(), "a full frame fills a payload");
    for p in &payloads {
        assert!(p.len() <= MAX_BATCH_PAYLOAD);
    }
    assert_eq!(payloads[0].len(), MAX_BATCH_PAYLOAD);

    // Small frames share payloads, greedily, never past the limit.
    let small = frames_of(&blocks, rng.channel_id(), 1000);
    let payloads = pack_payloads(&small, 5000).unwrap();
    assert_eq!(payloads.len(), small.len().div_ceil(4));
    let mut back = Vec::new();
    for p in &payloads {
        assert!(p.len() <= 5000);
        let (frames, error) = parse_payload(p);
        assert_eq!(error, None);
        back.extend(frames);
    }
    assert_eq!(back, small);
    assert!(matches!(pack_payloads(&small, 1000), Err(CodecError::FrameTooLarge { .. })));
    assert_eq!(pack_payloads(&[], 1000).unwrap(), Vec::<Bytes>::new());
    assert_eq!(
        batch_payload(&small).len(),
        1 + small.iter().map(Frame::encoded_len).sum::<usize>()
    );
}

#[test]
fn zstd_is_pinned_down() {
    let data = b"some channel bytes, some channel bytes, some channel bytes".repeat(10);
    let z = compress::compress(&data, 3).unwrap();
    assert!(z.starts_with(&compress::ZSTD_MAGIC));
    assert_eq!(compress::decompress_limited(&z, data.len()).unwrap(), data);
    assert_eq!(
        compress::decompress_limited(&z, data.len() - 1),
        Err(DecompressError::TooLarge { limit: data.len() - 1 })
    );
    let mut trailing = z.clone();
    trailing.extend_from_slice(&z);
    assert_eq!(
        compress::decompress_limited(&trailing, usize::MAX),
        Err(DecompressError::TrailingBytes(z.len()))
    );
    assert_eq!(
        compress::decompress_limited(&z[..z.len() - 1], usize::MAX),
        Err(DecompressError::Truncated)
    );
    assert_eq!(compress::decompress_limited(&z[..4], usize::MAX), Err(DecompressError::Truncated));
    assert_eq!(compress::decompress_limited(&[], usize::MAX), Err(DecompressError::BadMagic));
    // A skippable frame (magic 0x184D2A50) is refused even though zstd would skip it.
    let skippable = [0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0];
    assert_eq!(
        compress::decompress_limited(&skippable, usize::MAX),
        Err(DecompressError::BadMagic)
    );
    // Output of exactly the chunk size and multiples of it.
    for len in [0, 1, 128 * 1024, 256 * 1024, 256 * 1024 + 1] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let z = compress::compress(&data, 1).unwrap();
        assert_eq!(compress::decompress_limited(&z, len).unwrap(), data, "len {len}");
    }
    // A window past 2^24 is refused: level 22 on 40 MiB asks for 2^27.
    let big = vec![0u8; 40 << 20];
    let mut c = zstd::bulk::Compressor::new(1).unwrap();
    c.set_parameter(zstd::stream::raw::CParameter::WindowLog(27)).unwrap();
    let wide = c.compress(&big).unwrap();
    assert!(matches!(
        compress::decompress_limited(&wide, usize::MAX),
        Err(DecompressError::Zstd(_))
    ));
}

#[test]
fn continuity_helper() {
    let mut rng = Rng::new(4);
    let blocks = chain(&mut rng, 5, 2, 50);
    assert_eq!(check_consecutive(&blocks), Ok(()));
    assert_eq!(check_consecutive(&blocks[..1]), Ok(()));
    assert_eq!(check_consecutive(&[]), Ok(()));

    let mut gap = blocks.clone();
    gap[3].number += 1;
    assert!(matches!(check_consecutive(&gap), Err(ContinuityError::Number { index: 3, .. })));
    let mut fork = blocks.clone();
    fork[2].parent_hash = rng.b256();
    assert!(matches!(check_consecutive(&fork), Err(ContinuityError::ParentHash { index: 2, .. })));
    let mut time = blocks.clone();
    time[4].timestamp = time[3].timestamp;
    assert!(matches!(check_consecutive(&time), Err(ContinuityError::Timestamp { index: 4, .. })));
    let mut overflow = blocks;
    overflow[0].number = u64::MAX;
    assert!(matches!(
        check_consecutive(&overflow[..2]),
        Err(ContinuityError::Number { index: 1, .. })
    ));
}

#[test]
fn block_entry_rlp_field_order() {
    // The field order is the format: a hand-built encoding must match the derived one.
    use alloy_rlp::Encodable;
    let mut rng = Rng::new(5);
    let b = block_after(&mut rng, None, 2, 10..20);
    let mut fields = Vec::new();
    b.number.encode(&mut fields);
    b.parent_hash.encode(&mut fields);
    b.timestamp.encode(&mut fields);
    b.beneficiary.encode(&mut fields);
    b.gas_limit.encode(&mut fields);
    b.prev_randao.encode(&mut fields);
    b.parent_beacon_block_root.encode(&mut fields);
    b.extra_data.encode(&mut fields);
    b.transactions.encode(&mut fields);
    b.block_hash.encode(&mut fields);
    b.state_root.encode(&mut fields);
    let mut expected = Vec::new();
    alloy_rlp::Header { list: true, payload_length: fields.len() }.encode(&mut expected);
    expected.extend_from_slice(&fields);
    assert_eq!(alloy_rlp::encode(&b), expected);
    assert_eq!(b.rlp_len(), expected.len());
}

#[test]
fn accepts_the_zstd_cli_output() {
    // `zstd -9` (CLI v1.5.4, checksum on) of the RLP list holding one all-zero BlockEntry: any
    // conforming zstd encoder's single frame is accepted, not only this crate's.
    let z = alloy_primitives::hex!(
        "28b52ffd0460d5000050f8c1f8bf80a0008094c005003f42122e38b0d508727eb80146f47aa982"
    );
    let blocks = crate::codec::decode_channel(&z, 1 << 20).unwrap();
    assert_eq!(blocks, vec![BlockEntry::default()]);
}

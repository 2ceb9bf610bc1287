//! The table of bad inputs: each row a sequence of `(L1 block, payload)` and its documented
//! outcome (what is reported as ignored, which channels come out).

use alloy_rlp::Encodable;

use super::{Rng, chain, frames_of, payload_of, raw_channel_frame};
use crate::codec::{
    BlockEntry, ChannelBank, ChannelBankConfig, ChannelId, DecompressError, DropReason, EvictCause,
    Frame, FrameError, Ignored, PayloadError, compress,
};

/// What one `Ignored` must look like.
type Check = fn(&Ignored) -> bool;

struct Case {
    name: &'static str,
    config: ChannelBankConfig,
    /// `(l1_block, payload)`; a `None` payload is `advance(l1_block)`.
    steps: Vec<(u64, Option<Vec<u8>>)>,
    /// Every ignored item, in order.
    ignored: Vec<Check>,
    /// Channels delivered, in order.
    ready: Vec<Vec<BlockEntry>>,
    /// Pending channels left at the end.
    pending: usize,
}

fn dropped(item: &Ignored, check: fn(&DropReason) -> bool) -> bool {
    matches!(item, Ignored::ChannelDropped { reason, .. } if check(reason))
}

fn frames_n(blocks: &[BlockEntry], id: ChannelId, n: usize) -> Vec<Frame> {
    // Cut so that there are exactly n frames (blocks must be big enough).
    let mut channel = crate::codec::ChannelOut::new(id).with_level(3).unwrap();
    for b in blocks {
        channel.add_block(b).unwrap();
    }
    channel.close().unwrap();
    let len = channel.compressed_len().unwrap();
    let frames = channel.frames(len.div_ceil(n)).unwrap();
    assert_eq!(frames.len(), n);
    frames
}

fn rlp_list<T: Encodable>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    alloy_rlp::encode_list(items, &mut out);
    out
}

fn cases() -> Vec<Case> {
    let mut rng = Rng::new(99);
    let blocks = chain(&mut rng, 40, 8, 300);
    let (a, b, c, d) = (rng.channel_id(), rng.channel_id(), rng.channel_id(), rng.channel_id());
    let one = frames_of(&blocks, a, 1 << 20); // one frame holding the whole channel
    let three = frames_n(&blocks, a, 3);
    let p = |frames: &[&Frame]| Some(payload_of(frames));
    let default = ChannelBankConfig::default();

    let corrupt = {
        let mut z = one[0].data().to_vec();
        let mid = z.len() / 2;
        z[mid] ^= 0x55;
        z
    };
    let bomb = compress::compress(&vec![0u8; (64 << 20) + 1], 19).unwrap();
    assert!(bomb.len() < 64 * 1024, "bomb is {} bytes", bomb.len());
    let single_entry = alloy_rlp::encode(&blocks[0]); // a BlockEntry, not a list of them
    let strings = rlp_list(&[alloy_primitives::Bytes::from_static(b"abc")]);
    let extra_field = {
        // A list of one "BlockEntry" with a twelfth field.
        let entry = alloy_rlp::encode(&blocks[0]);
        let mut fields = entry.as_slice();
        alloy_rlp::Header::decode(&mut fields).unwrap();
        let mut payload = fields.to_vec();
        7u64.encode(&mut payload);
        let mut entry = Vec::new();
        alloy_rlp::Header { list: true, payload_length: payload.len() }.encode(&mut entry);
        entry.extend_from_slice(&payload);
        let mut list = Vec::new();
        alloy_rlp::Header { list: true, payload_length: entry.len() }.encode(&mut list);
        list.extend_from_slice(&entry);
        list
    };
    let trailing = {
        let mut v = rlp_list(&blocks[..1]);
        v.push(0x80);
        v
    };
    let z = |data: &[u8]| compress::compress(data, 3).unwrap();

    vec![
        Case {
            name: "empty payload",
            config: default,
            steps: vec![(1, Some(vec![]))],
            ignored: vec![|i| *i == Ignored::Payload(PayloadError::Empty)],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "unknown version: whole payload ignored, good frames included",
            config: default,
            steps: vec![(
                1,
                Some({
                    let mut v = payload_of(&[&one[0]]);
                    v[0] = 0x01;
                    v
                }),
            )],
            ignored: vec![|i| *i == Ignored::Payload(PayloadError::UnknownVersion(1))],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "version byte alone",
            config: default,
            steps: vec![(1, Some(vec![0]))],
            ignored: vec![|i| *i == Ignored::Payload(PayloadError::NoFrames)],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "truncated header after a good frame: the good frame is kept",
            config: default,
            steps: vec![(
                1,
                Some({
                    let mut v = payload_of(&[&one[0]]);
                    v.extend_from_slice(&[0xAA; 19]);
                    v
                }),
            )],
            ignored: vec![|i| {
                matches!(
                    i,
                    Ignored::Payload(PayloadError::BadFrame {
                        index: 1,
                        error: FrameError::Truncated { field: "data_len", needed: 4, available: 1 },
                        ..
                    })
                )
            }],
            ready: vec![blocks.clone()],
            pending: 0,
        },
        Case {
            name: "data_len past the end",
            config: default,
            steps: vec![(
                1,
                Some({
                    let mut v = payload_of(&[&one[0]]);
                    let len = v.len();
                    v.truncate(len - 10);
                    v
                }),
            )],
            ignored: vec![|i| {
                matches!(
                    i,
                    Ignored::Payload(PayloadError::BadFrame {
                        index: 0,
                        offset: 1,
                        error: FrameError::DataPastEnd { .. },
                    })
                )
            }],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "bad is_last after a good frame; the channel completes from later payloads",
            config: default,
            steps: vec![
                (
                    1,
                    Some({
                        let mut v = payload_of(&[&three[0], &three[1]]);
                        *v.last_mut().unwrap() = 2; // frame 1's is_last byte
                        v
                    }),
                ),
                (2, p(&[&three[2], &three[1]])),
            ],
            ignored: vec![|i| {
                matches!(
                    i,
                    Ignored::Payload(PayloadError::BadFrame {
                        index: 1,
                        error: FrameError::BadIsLast(2),
                        ..
                    })
                )
            }],
            ready: vec![blocks.clone()],
            pending: 0,
        },
        Case {
            name: "frame after the closing frame",
            config: default,
            steps: vec![
                (1, p(&[&three[1], &three[2]])),
                (2, p(&[&Frame::new(a, 3, vec![1, 2, 3], false).unwrap()])),
                (3, p(&[&three[0]])),
            ],
            ignored: vec![|i| {
                matches!(i, Ignored::FrameAfterClose { frame_number: 3, last_frame: 2, .. })
            }],
            ready: vec![blocks.clone()],
            pending: 0,
        },
        Case {
            name: "frames held past a closing frame that arrives later are removed",
            config: default,
            steps: vec![
                (1, p(&[&Frame::new(a, 4, vec![1, 2, 3], false).unwrap(), &three[0]])),
                (2, p(&[&three[2]])),
                (3, p(&[&three[1]])),
            ],
            ignored: vec![|i| {
                matches!(i, Ignored::FrameAfterClose { frame_number: 4, last_frame: 2, .. })
            }],
            ready: vec![blocks.clone()],
            pending: 0,
        },
        Case {
            name: "duplicate frame: the first one wins",
            config: default,
            steps: vec![
                (1, p(&[&three[0], &Frame::new(a, 0, vec![0xEE; 50], false).unwrap()])),
                (2, p(&[&three[2], &three[1]])),
            ],
            ignored: vec![|i| matches!(i, Ignored::DuplicateFrame { frame_number: 0, .. })],
            ready: vec![blocks.clone()],
            pending: 0,
        },
        Case {
            name: "missing frame until the timeout, then its frames are ignored",
            config: default,
            steps: vec![
                (10, p(&[&three[0], &three[2]])),
                (310, None), // still alive at opened_at + 300
                (311, None),
                (312, p(&[&three[1]])),
            ],
            ignored: vec![
                |i| {
                    matches!(
                        i,
                        Ignored::ChannelDropped {
                            reason: DropReason::TimedOut { opened_at: 10, l1_block: 311 },
                            ..
                        }
                    )
                },
                |i| matches!(i, Ignored::FinishedChannel { frame_number: 1, .. }),
            ],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "completes on the timeout's last block",
            config: default,
            steps: vec![(10, p(&[&three[0], &three[2]])), (310, p(&[&three[1]]))],
            ignored: vec![],
            ready: vec![blocks.clone()],
            pending: 0,
        },
        Case {
            name: "corrupt zstd",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &corrupt)]))],
            ignored: vec![|i| {
                dropped(i, |r| matches!(r, DropReason::Decompress(DecompressError::Zstd(_))))
            }],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "not zstd at all",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, b"hello, not zstd")]))],
            ignored: vec![|i| {
                dropped(i, |r| *r == DropReason::Decompress(DecompressError::BadMagic))
            }],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "zstd cut short",
            config: default,
            steps: vec![(
                1,
                p(&[&raw_channel_frame(b, &one[0].data()[..one[0].data().len() - 20])]),
            )],
            ignored: vec![|i| {
                dropped(i, |r| *r == DropReason::Decompress(DecompressError::Truncated))
            }],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "valid zstd of non-RLP",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &z(b"\xff\xff\xff not rlp"))]))],
            ignored: vec![|i| dropped(i, |r| matches!(r, DropReason::Decode(_)))],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "RLP of the wrong shape: one entry, not a list of entries",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &z(&single_entry))]))],
            ignored: vec![|i| dropped(i, |r| matches!(r, DropReason::Decode(_)))],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "RLP of the wrong shape: a list of strings",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &z(&strings))]))],
            ignored: vec![|i| {
                dropped(i, |r| *r == DropReason::Decode(alloy_rlp::Error::UnexpectedString))
            }],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "RLP of the wrong shape: an entry with a twelfth field",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &z(&extra_field))]))],
            ignored: vec![|i| {
                dropped(i, |r| {
                    matches!(r, DropReason::Decode(alloy_rlp::Error::ListLengthMismatch { .. }))
                })
            }],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "bytes after the RLP list",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &z(&trailing))]))],
            ignored: vec![|i| dropped(i, |r| *r == DropReason::TrailingRlp(1))],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "an empty list of blocks",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &z(&[0xC0]))]))],
            ignored: vec![|i| dropped(i, |r| *r == DropReason::Empty)],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "zip bomb: 64 MiB + 1 of zeros in a few KB",
            config: default,
            steps: vec![(1, p(&[&raw_channel_frame(b, &bomb)]))],
            ignored: vec![|i| {
                dropped(i, |r| {
                    *r == DropReason::Decompress(DecompressError::TooLarge { limit: 64 << 20 })
                })
            }],
            ready: vec![],
            pending: 0,
        },
        Case {
            name: "too many pending channels: the oldest is evicted, its frames then ignored",
            config: ChannelBankConfig { max_pending_channels: 3, ..default },
            steps: vec![
                (1, p(&[&three[0]])), // channel a
                (2, p(&[&Frame::new(b, 0, vec![1], false).unwrap()])),
                (3, p(&[&Frame::new(c, 0, vec![1], false).unwrap()])),
                (4, p(&[&Frame::new(d, 0, vec![1], false).unwrap()])), // evicts a
                (5, p(&[&three[1], &three[2]])),
            ],
            ignored: vec![
                |i| dropped(i, |r| *r == DropReason::Evicted(EvictCause::TooManyChannels)),
                |i| matches!(i, Ignored::FinishedChannel { frame_number: 1, .. }),
                |i| matches!(i, Ignored::FinishedChannel { frame_number: 2, .. }),
            ],
            ready: vec![],
            pending: 3,
        },
        Case {
            name: "too many pending bytes: oldest channels evicted; a frame bigger than the bank ignored",
            config: ChannelBankConfig { max_pending_bytes: 1000, ..default },
            steps: vec![
                (1, p(&[&Frame::new(b, 0, vec![1; 400], false).unwrap()])),
                (2, p(&[&Frame::new(c, 0, vec![1; 400], false).unwrap()])),
                (3, p(&[&Frame::new(d, 0, vec![1; 400], false).unwrap()])), // evicts b
                (4, p(&[&Frame::new(a, 0, vec![1; 2000], false).unwrap()])),
            ],
            ignored: vec![
                |i| dropped(i, |r| *r == DropReason::Evicted(EvictCause::TooManyBytes)),
                |i| matches!(i, Ignored::FrameTooLarge { size: 2000, .. }),
            ],
            ready: vec![],
            pending: 2,
        },
        Case {
            name: "a second, lower closing frame is ignored",
            config: default,
            steps: vec![
                (1, p(&[&three[2], &Frame::new(a, 1, vec![0; 10], true).unwrap()])),
                (2, p(&[&three[1], &three[0]])),
            ],
            ignored: vec![|i| {
                matches!(i, Ignored::ExtraClose { frame_number: 1, last_frame: 2, .. })
            }],
            ready: vec![blocks.clone()],
            pending: 0,
        },
        Case {
            name: "L1 numbers going down count as the highest seen",
            config: default,
            // Channel b, seen at "L1 block 5", counts as opened at 400: alive at 306 (5 + 300
            // would have passed), dropped at 701 with a.
            steps: vec![
                (400, p(&[&three[0]])),
                (5, p(&[&Frame::new(b, 0, vec![1], false).unwrap()])),
                (306, None),
                (701, None),
            ],
            ignored: vec![
                |i| {
                    matches!(
                        i,
                        Ignored::ChannelDropped {
                            reason: DropReason::TimedOut { opened_at: 400, l1_block: 701 },
                            ..
                        }
                    )
                },
                |i| {
                    matches!(
                        i,
                        Ignored::ChannelDropped {
                            reason: DropReason::TimedOut { opened_at: 400, l1_block: 701 },
                            ..
                        }
                    )
                },
            ],
            ready: vec![],
            pending: 0,
        },
    ]
}

#[test]
fn bad_inputs_table() {
    for case in cases() {
        let mut bank = ChannelBank::new(case.config);
        let mut ignored = Vec::new();
        for (l1, payload) in &case.steps {
            match payload {
                Some(payload) => ignored.extend(bank.ingest(*l1, payload)),
                None => ignored.extend(bank.advance(*l1)),
            }
            assert!(bank.pending_bytes() <= case.config.max_pending_bytes, "{}", case.name);
            assert!(bank.pending_channels() <= case.config.max_pending_channels, "{}", case.name);
        }
        assert_eq!(ignored.len(), case.ignored.len(), "{}: ignored {ignored:#?}", case.name);
        for (item, check) in ignored.iter().zip(&case.ignored) {
            assert!(check(item), "{}: unexpected {item:?} in {ignored:#?}", case.name);
        }
        let ready: Vec<Vec<BlockEntry>> = bank.take_ready().into_iter().map(|r| r.blocks).collect();
        assert_eq!(ready, case.ready, "{}", case.name);
        assert_eq!(bank.pending_channels(), case.pending, "{}", case.name);
    }
}
